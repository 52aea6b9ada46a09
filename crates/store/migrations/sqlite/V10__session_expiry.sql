-- Sign-in sessions expire. A bearer token is an API credential an administrator issued
-- ('api': good until revoked) or a sign-in session from `POST /user/login` or a refresh
-- ('session': good until revoked or `expires_at`, and ended by a new password). Refresh
-- tokens expire too.

ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session'));
-- SQLite adds no table constraint to a table: the column's constraint reads `kind`.
ALTER TABLE tokens ADD COLUMN expires_at INTEGER CHECK (kind = 'api' OR expires_at IS NOT NULL);
CREATE INDEX tokens_expiry ON tokens(expires_at) WHERE expires_at IS NOT NULL;

-- The sessions made before: every live one has its refresh token's row (a refresh token
-- is forgotten only a day after its access token was revoked). They end as the default
-- `--session-ttl` (8 hours) would have ended them.
UPDATE tokens SET kind = 'session', expires_at = created_at + 28800000000
    WHERE hash IN (SELECT access_hash FROM refresh_tokens);

-- Every insert names the end; 0 (long past) only stands in until the backfill below: the
-- default `--refresh-ttl` (7 days) from issue.
ALTER TABLE refresh_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET expires_at = created_at + 604800000000;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
