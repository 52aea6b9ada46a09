-- What the official CloudShare clients need beyond V2: project managers (who may create
-- policies), the leases a policy is created with, an instructor's environment-creation
-- switch, and invitation emails with an HTML part.

ALTER TABLE project_members ADD COLUMN can_manage INTEGER NOT NULL DEFAULT 0;

ALTER TABLE policies ADD COLUMN storage_lease_minutes INTEGER;
ALTER TABLE policies ADD COLUMN inactivity_handling TEXT;
ALTER TABLE policies ADD COLUMN inactivity_threshold_minutes INTEGER;

ALTER TABLE memberships ADD COLUMN env_creation_disabled INTEGER NOT NULL DEFAULT 0;

ALTER TABLE outbox ADD COLUMN html TEXT;
