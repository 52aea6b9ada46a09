-- classhub schema for SQLite. Instants are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    email       TEXT,
    -- classes owned, kept in the transactions that create and delete them so that list
    -- totals do not count the table
    class_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,         -- SHA-256 of the bearer token
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    provider   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE courses (
    id         INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX courses_partner ON courses(partner_id);

CREATE TABLE classes (
    id                INTEGER PRIMARY KEY,
    owner_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    status            TEXT    CHECK (status IN ('planned', 'active', 'ended')),
    description       TEXT,
    start_at          INTEGER,
    end_at            INTEGER,
    capacity          INTEGER CHECK (capacity >= 1),
    timezone          TEXT,
    location          TEXT,
    online_url        TEXT,
    invite_only       INTEGER,
    primary_model_id  INTEGER REFERENCES models(id),
    allowed_model_ids TEXT    NOT NULL DEFAULT '[]',   -- JSON array of model ids, in order
    course_id         INTEGER REFERENCES courses(id) ON DELETE SET NULL,
    member_count      INTEGER NOT NULL DEFAULT 0,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- the last line of defence for seats; the guarded UPDATE never lets it fire
    CHECK (capacity IS NULL OR member_count <= capacity)
);
CREATE INDEX classes_owner_recent ON classes(owner_id, created_at DESC, id DESC);

CREATE TABLE invite_codes (
    id          INTEGER PRIMARY KEY,
    class_id    INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    code        TEXT    NOT NULL UNIQUE,
    target_role TEXT    NOT NULL,
    used_count  INTEGER NOT NULL DEFAULT 0,
    max_uses    INTEGER,
    expires_at  INTEGER,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX invite_codes_class ON invite_codes(class_id, created_at DESC, id DESC);

CREATE TABLE memberships (
    id             INTEGER PRIMARY KEY,
    class_id       INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role           TEXT    NOT NULL,
    position       INTEGER NOT NULL DEFAULT 0,
    joined_at      INTEGER NOT NULL,
    invite_code_id INTEGER REFERENCES invite_codes(id) ON DELETE SET NULL,
    UNIQUE (class_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id, joined_at DESC, id DESC);
CREATE INDEX memberships_class ON memberships(class_id, joined_at DESC, id DESC);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   INTEGER,
    action     TEXT    NOT NULL,
    class_id   INTEGER,
    entity_id  INTEGER NOT NULL,
    before     TEXT,
    after      TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_class ON audit_events(class_id, id DESC) WHERE class_id IS NOT NULL;
