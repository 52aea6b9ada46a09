-- Idempotency-Key records (the IETF httpapi draft): every process sees a key claimed by
-- any other, and a key's change and its state commit together.

CREATE TABLE idempotency_keys (
    key         BLOB    PRIMARY KEY,       -- SHA-256 of the client and the key it sent
    fingerprint BLOB    NOT NULL,          -- SHA-256 of the request: method, target, body
    holder      BLOB    NOT NULL,          -- the request that holds it (random)
    state       TEXT    NOT NULL CHECK (state IN ('running', 'applied', 'done')),
    lease_until INTEGER,                   -- running: when a repeat may take it over
    status      INTEGER,                   -- done: the answer
    headers     TEXT,
    body        BLOB,
    created_at  INTEGER NOT NULL           -- kept for a day from here
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
