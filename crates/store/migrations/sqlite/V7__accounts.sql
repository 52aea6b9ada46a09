-- Accounts (GrowFit): partners and students who sign in with an email and a password,
-- the emailed codes that prove an address before sign-up, and refresh tokens.

-- One account per user (the key) and per email (lower-cased, unique).
CREATE TABLE accounts (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    email         TEXT    NOT NULL UNIQUE,   -- lower-cased
    password_hash TEXT    NOT NULL,          -- Argon2id, PHC string
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- A code sent to an email. Only hashes are kept: the token's (SHA-256), and the code's keyed
-- with the token, which only the client holds.
CREATE TABLE email_codes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    BLOB    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,          -- lower-cased
    code_hash     BLOB    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    verified_at   INTEGER,
    verified_hash BLOB    UNIQUE,            -- SHA-256 of the email_verified_token
    consumed_at   INTEGER,                   -- when a sign-up or an email change used it
    CHECK (consumed_at IS NULL OR verified_at IS NOT NULL)
);
CREATE INDEX email_codes_verified ON email_codes(email, verified_at DESC, id DESC) WHERE verified_at IS NOT NULL;
CREATE INDEX email_codes_created ON email_codes(created_at);

-- A refresh token: exchanged once, with the access token it was issued with, for a new pair.
CREATE TABLE refresh_tokens (
    hash        BLOB    PRIMARY KEY,         -- SHA-256 of the refresh token
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_hash BLOB    NOT NULL REFERENCES tokens(hash) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX refresh_tokens_access ON refresh_tokens(access_hash);
