-- OCARIoT: institutions, users who log in with a username and password, the attributes
-- a user kind carries, groups' school class, and server settings (the JWT key).

CREATE TABLE institutions (
    id         INTEGER PRIMARY KEY,
    type       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    address    TEXT,
    latitude   TEXT,
    longitude  TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX institutions_name ON institutions(name);

ALTER TABLE users ADD COLUMN username TEXT;
ALTER TABLE users ADD COLUMN password_hash TEXT;          -- Argon2id, PHC string
ALTER TABLE users ADD COLUMN institution_id INTEGER REFERENCES institutions(id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN profile TEXT;                -- JSON: the kind's own attributes
CREATE UNIQUE INDEX users_username ON users(username) WHERE username IS NOT NULL;

ALTER TABLE classes ADD COLUMN school_class TEXT;
CREATE INDEX classes_owner_name ON classes(owner_id, name);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
