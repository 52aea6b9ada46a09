-- CloudShare: projects and their catalogs, project members with sealed API keys, lab
-- settings of classes, student state, sponsored links, and the email outbox.

ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;
ALTER TABLE memberships ADD COLUMN invited_at INTEGER;
ALTER TABLE memberships ADD COLUMN logged_in_at INTEGER;

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    is_active  INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE policies (
    id                         INTEGER PRIMARY KEY,
    project_id                 INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                       TEXT    NOT NULL,
    default_duration_minutes   INTEGER NOT NULL,
    allow_environment_creation INTEGER NOT NULL DEFAULT 1,
    created_at                 INTEGER NOT NULL
);
CREATE INDEX policies_project ON policies(project_id);

CREATE TABLE blueprints (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT,
    token       TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX blueprints_project ON blueprints(project_id);

CREATE TABLE custom_fields (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    is_required   INTEGER NOT NULL,
    regex         TEXT,
    default_value TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX custom_fields_project ON custom_fields(project_id);

CREATE TABLE project_members (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    can_instruct INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members(user_id);

CREATE TABLE api_credentials (
    api_id     TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_key BLOB    NOT NULL,          -- the API key, sealed with the server key
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

CREATE TABLE labs (
    class_id                     INTEGER PRIMARY KEY REFERENCES classes(id) ON DELETE CASCADE,
    project_id                   INTEGER NOT NULL REFERENCES projects(id),
    blueprint_id                 INTEGER NOT NULL REFERENCES blueprints(id),
    policy_id                    INTEGER NOT NULL REFERENCES policies(id),
    short_id                     TEXT    NOT NULL UNIQUE,
    windows_zone                 TEXT    NOT NULL,
    passphrase                   TEXT    NOT NULL,
    limit_early_access           INTEGER NOT NULL,
    use_custom_invitation_email  INTEGER NOT NULL,
    custom_invitation_subject    TEXT,
    custom_invitation_body       TEXT,
    permit_non_registered        INTEGER NOT NULL,
    address                      TEXT,                    -- JSON object
    field_values                 TEXT    NOT NULL,        -- JSON array
    self_paced                   INTEGER NOT NULL,
    allow_multiple_student_login INTEGER NOT NULL
);
CREATE INDEX labs_project ON labs(project_id);

CREATE TABLE sponsored_links (
    token_hash  BLOB    PRIMARY KEY,
    class_id    INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
) WITHOUT ROWID;
CREATE INDEX sponsored_links_class ON sponsored_links(class_id, email);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- a sender working on the message; another may take it after this instant
    claimed_until   INTEGER,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL;
