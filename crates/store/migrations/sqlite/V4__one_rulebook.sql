-- One rulebook, held by the database.
--
-- * Ids are never reused (AUTOINCREMENT): without it SQLite gives a new row the id of the
--   newest deleted one, so a new class showed a deleted class's history, and a deleted
--   user's token or a removed student's id could name a newer row. PostgreSQL identities
--   never reuse ids; now neither engine does.
-- * `classes.kind` says which dialect's kind of class a row is, so that "a group's name is
--   unique per owner" is a unique index.
-- * `memberships.email` holds a lab student's email, so that "one student per email in a
--   class" is a unique index.
-- * Deleting a user no longer deletes their memberships behind the statement's back: a
--   class's seat count moves only with a membership a statement really deleted.
-- * Counters are recounted; names that break the new unique indexes are made distinct.
--
-- SQLite cannot change a table's key or foreign keys in place: each table is rebuilt (the
-- documented 12-step procedure). The engine runs migrations with foreign keys off and
-- checks them afterwards.

CREATE TABLE new_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    email          TEXT,
    -- classes owned, kept in the transactions that create and delete them so that list
    -- totals do not count the table
    class_count    INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    first_name     TEXT,
    last_name      TEXT,
    username       TEXT,
    password_hash  TEXT,                    -- Argon2id, PHC string
    institution_id INTEGER REFERENCES institutions(id) ON DELETE SET NULL,
    profile        TEXT                     -- JSON: the kind's own attributes
);
INSERT INTO new_users (id, kind, name, email, class_count, created_at, first_name, last_name, username,
                       password_hash, institution_id, profile)
    SELECT id, kind, name, email, class_count, created_at, first_name, last_name, username, password_hash,
           institution_id, profile FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
CREATE UNIQUE INDEX users_username ON users(username) WHERE username IS NOT NULL;

CREATE TABLE new_models (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    provider   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO new_models SELECT id, name, provider, created_at FROM models;
DROP TABLE models;
ALTER TABLE new_models RENAME TO models;

CREATE TABLE new_courses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO new_courses SELECT id, partner_id, title, created_at FROM courses;
DROP TABLE courses;
ALTER TABLE new_courses RENAME TO courses;
CREATE INDEX courses_partner ON courses(partner_id);

CREATE TABLE new_classes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('class', 'lab', 'group')),
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
    school_class      TEXT,
    -- the last line of defence for seats; the guarded UPDATE never lets it fire
    CHECK (capacity IS NULL OR member_count <= capacity)
);
-- A class oversold before this migration keeps its members; its capacity becomes its roster.
WITH roster AS (
    SELECT c.id AS class_id,
           (SELECT COUNT(*) FROM memberships m WHERE m.class_id = c.id AND m.role = 'student') AS students
    FROM classes c
)
INSERT INTO new_classes (id, owner_id, kind, name, status, description, start_at, end_at, capacity, timezone,
                         location, online_url, invite_only, primary_model_id, allowed_model_ids, course_id,
                         member_count, version, created_at, updated_at, school_class)
    SELECT c.id, c.owner_id,
           CASE WHEN EXISTS (SELECT 1 FROM labs l WHERE l.class_id = c.id) THEN 'lab'
                WHEN (SELECT u.kind FROM users u WHERE u.id = c.owner_id) IN ('educator', 'health_professional')
                    THEN 'group'
                ELSE 'class' END,
           c.name, c.status, c.description, c.start_at, c.end_at,
           CASE WHEN c.capacity < r.students THEN r.students ELSE c.capacity END,
           c.timezone, c.location, c.online_url, c.invite_only, c.primary_model_id, c.allowed_model_ids,
           c.course_id, r.students, c.version, c.created_at, c.updated_at, c.school_class
    FROM classes c JOIN roster r ON r.class_id = c.id;
-- Groups of one owner that share a name (possible before the unique index) get their id added.
UPDATE new_classes SET name = name || ' (' || id || ')'
    WHERE kind = 'group'
      AND id NOT IN (SELECT MIN(id) FROM new_classes WHERE kind = 'group' GROUP BY owner_id, name);
DROP TABLE classes;
ALTER TABLE new_classes RENAME TO classes;
CREATE INDEX classes_owner_recent ON classes(owner_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX classes_group_name ON classes(owner_id, name) WHERE kind = 'group';

CREATE TABLE new_invite_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id    INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    code        TEXT    NOT NULL UNIQUE,
    target_role TEXT    NOT NULL,
    used_count  INTEGER NOT NULL DEFAULT 0,
    max_uses    INTEGER,
    expires_at  INTEGER,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    CHECK (max_uses IS NULL OR used_count <= max_uses)
);
INSERT INTO new_invite_codes (id, class_id, code, target_role, used_count, max_uses, expires_at, disabled,
                              created_by, created_at)
    SELECT id, class_id, code, target_role, used_count,
           CASE WHEN max_uses < used_count THEN used_count ELSE max_uses END,
           expires_at, disabled, created_by, created_at FROM invite_codes;
DROP TABLE invite_codes;
ALTER TABLE new_invite_codes RENAME TO invite_codes;
CREATE INDEX invite_codes_class ON invite_codes(class_id, created_at DESC, id DESC);

CREATE TABLE new_memberships (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id       INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    -- no cascade: a user's memberships are removed by the statements that free their seats
    user_id        INTEGER NOT NULL REFERENCES users(id),
    role           TEXT    NOT NULL CHECK (role IN ('student', 'instructor')),
    position       INTEGER NOT NULL DEFAULT 0,
    joined_at      INTEGER NOT NULL,
    invite_code_id INTEGER REFERENCES invite_codes(id) ON DELETE SET NULL,
    invited_at     INTEGER,
    logged_in_at   INTEGER,
    -- a lab student's email, lower-cased: one student per email in a class
    email          TEXT,
    UNIQUE (class_id, user_id)
);
INSERT INTO new_memberships (id, class_id, user_id, role, position, joined_at, invite_code_id, invited_at,
                             logged_in_at, email)
    SELECT m.id, m.class_id, m.user_id, m.role, m.position, m.joined_at, m.invite_code_id, m.invited_at,
           m.logged_in_at,
           CASE WHEN m.role = 'student' AND EXISTS (SELECT 1 FROM labs l WHERE l.class_id = m.class_id)
                THEN (SELECT lower(u.email) FROM users u WHERE u.id = m.user_id) END
    FROM memberships m;
-- Students of one class sharing an email (possible before the unique index): the first keeps it.
UPDATE new_memberships SET email = NULL
    WHERE email IS NOT NULL
      AND id NOT IN (SELECT MIN(id) FROM new_memberships WHERE email IS NOT NULL GROUP BY class_id, email);
DROP TABLE memberships;
ALTER TABLE new_memberships RENAME TO memberships;
CREATE INDEX memberships_user ON memberships(user_id, joined_at DESC, id DESC);
CREATE INDEX memberships_class ON memberships(class_id, joined_at DESC, id DESC);
CREATE UNIQUE INDEX memberships_class_email ON memberships(class_id, email) WHERE email IS NOT NULL;

CREATE TABLE new_audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   INTEGER,
    action     TEXT    NOT NULL,
    class_id   INTEGER,
    entity_id  INTEGER NOT NULL,
    before     TEXT,
    after      TEXT,
    request_id TEXT
);
INSERT INTO new_audit_events SELECT id, at, actor_id, action, class_id, entity_id, before, after, request_id
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE new_audit_events RENAME TO audit_events;
CREATE INDEX audit_events_class ON audit_events(class_id, id DESC) WHERE class_id IS NOT NULL;

CREATE TABLE new_projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    is_active  INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
INSERT INTO new_projects SELECT id, name, is_active, created_at FROM projects;
DROP TABLE projects;
ALTER TABLE new_projects RENAME TO projects;

CREATE TABLE new_policies (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id                 INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                       TEXT    NOT NULL,
    default_duration_minutes   INTEGER NOT NULL,
    allow_environment_creation INTEGER NOT NULL DEFAULT 1,
    created_at                 INTEGER NOT NULL
);
INSERT INTO new_policies SELECT id, project_id, name, default_duration_minutes, allow_environment_creation,
    created_at FROM policies;
DROP TABLE policies;
ALTER TABLE new_policies RENAME TO policies;
CREATE INDEX policies_project ON policies(project_id);

CREATE TABLE new_blueprints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT,
    token       TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
INSERT INTO new_blueprints SELECT id, project_id, name, description, token, created_at FROM blueprints;
DROP TABLE blueprints;
ALTER TABLE new_blueprints RENAME TO blueprints;
CREATE INDEX blueprints_project ON blueprints(project_id);

CREATE TABLE new_custom_fields (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    is_required   INTEGER NOT NULL,
    regex         TEXT,
    default_value TEXT,
    created_at    INTEGER NOT NULL
);
INSERT INTO new_custom_fields SELECT id, project_id, name, position, kind, is_required, regex, default_value,
    created_at FROM custom_fields;
DROP TABLE custom_fields;
ALTER TABLE new_custom_fields RENAME TO custom_fields;
CREATE INDEX custom_fields_project ON custom_fields(project_id);

CREATE TABLE new_project_members (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    can_instruct INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (project_id, user_id)
);
INSERT INTO new_project_members SELECT id, project_id, user_id, can_instruct, created_at FROM project_members;
DROP TABLE project_members;
ALTER TABLE new_project_members RENAME TO project_members;
CREATE INDEX project_members_user ON project_members(user_id);

CREATE TABLE new_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_outbox SELECT id, recipient, subject, body, created_at, attempts, next_attempt_at, claimed_until,
    sent_at, last_error FROM outbox;
DROP TABLE outbox;
ALTER TABLE new_outbox RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL;

CREATE TABLE new_institutions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    address    TEXT,
    latitude   TEXT,
    longitude  TEXT,
    created_at INTEGER NOT NULL
);
INSERT INTO new_institutions SELECT id, type, name, address, latitude, longitude, created_at FROM institutions;
DROP TABLE institutions;
ALTER TABLE new_institutions RENAME TO institutions;
CREATE UNIQUE INDEX institutions_name ON institutions(name);

UPDATE users SET class_count = (SELECT COUNT(*) FROM classes c WHERE c.owner_id = users.id);
