-- An administrator may disable a user: their tokens, API keys and passwords stop working
-- until they are enabled again; nothing of theirs is deleted.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
