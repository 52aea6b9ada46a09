-- Idempotency-Key records (see the SQLite migration of the same name).

CREATE TABLE idempotency_keys (
    key         BYTEA       PRIMARY KEY,
    fingerprint BYTEA       NOT NULL,
    holder      BYTEA       NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('running', 'applied', 'done')),
    lease_until TIMESTAMPTZ,
    status      INTEGER,
    headers     JSON,
    body        BYTEA,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
