-- Security state every process shares (see the SQLite migration of the same name).

CREATE TABLE throttles (
    key           BYTEA       PRIMARY KEY,
    failures      INTEGER     NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    strikes       INTEGER     NOT NULL,
    blocked_until TIMESTAMPTZ,
    touched_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX throttles_touched ON throttles(touched_at);

CREATE TABLE nonces (
    key        BYTEA       PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX nonces_expiry ON nonces(expires_at);
