-- Security state every process shares: throttle counters (failed sign-ins, redemptions,
-- signatures) and the cs_sha1 nonces already accepted.

CREATE TABLE throttles (
    key           BLOB    PRIMARY KEY,      -- SHA-256 of the policy, identity and address
    failures      INTEGER NOT NULL,         -- in the window, attempts in flight included
    window_start  INTEGER NOT NULL,
    strikes       INTEGER NOT NULL,         -- exhaustions since the last success
    blocked_until INTEGER,
    touched_at    INTEGER NOT NULL          -- for pruning idle keys
) WITHOUT ROWID;
CREATE INDEX throttles_touched ON throttles(touched_at);

CREATE TABLE nonces (
    key        BLOB    PRIMARY KEY,         -- SHA-256 of the API id, timestamp and token
    expires_at INTEGER NOT NULL             -- after it the timestamp is stale anyway
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces(expires_at);
