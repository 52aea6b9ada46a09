-- Sign-in sessions expire (see the SQLite migration of the same name).

ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session'));
ALTER TABLE tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE tokens ADD CONSTRAINT tokens_session_expires CHECK (kind = 'api' OR expires_at IS NOT NULL);
CREATE INDEX tokens_expiry ON tokens(expires_at) WHERE expires_at IS NOT NULL;

-- The sessions made before end as the default `--session-ttl` (8 hours) would have ended them.
UPDATE tokens SET kind = 'session', expires_at = created_at + interval '8 hours'
    WHERE hash IN (SELECT access_hash FROM refresh_tokens);

-- Refresh tokens made before: the default `--refresh-ttl` (7 days) from issue.
ALTER TABLE refresh_tokens ADD COLUMN expires_at TIMESTAMPTZ;
UPDATE refresh_tokens SET expires_at = created_at + interval '7 days';
ALTER TABLE refresh_tokens ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
