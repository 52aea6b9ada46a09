-- What the official CloudShare clients need (see the SQLite migration of the same name).

ALTER TABLE project_members ADD COLUMN can_manage BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE policies ADD COLUMN storage_lease_minutes INTEGER;
ALTER TABLE policies ADD COLUMN inactivity_handling TEXT;
ALTER TABLE policies ADD COLUMN inactivity_threshold_minutes INTEGER;

ALTER TABLE memberships ADD COLUMN env_creation_disabled BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE outbox ADD COLUMN html TEXT;
