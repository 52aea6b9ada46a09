-- GrowFit's catalogue (its `model_catalog` and `courses`) and class budgets.
--
-- * Models get GrowFit's fields: a modality, whether they answer in parallel, a pricing
--   object (the cost estimate reads `daily_fee_per_student` in it), whether they are
--   offered, and when they last changed. At most one model per provider and name (a unique
--   index); older duplicates get " (id)" appended to their name.
-- * Courses get a key (unique per partner; older courses get `course-<id>`), a status, dates
--   (`YYYY-MM-DD` text on both engines), a description and when they last changed.
-- * Classes get a budget, in hundredths (GrowFit's NUMERIC(14, 2); NULL is unlimited).
-- * Deleting a course leaves its classes without one: the statement that deletes it first
--   changes each of them (a new version and an event), so `ON DELETE SET NULL` never finds
--   one left.

ALTER TABLE models ADD COLUMN modality TEXT NOT NULL DEFAULT 'chat'
    CHECK (modality IN ('chat', 'embedding', 'stt', 'image', 'tts', 'rerank'));
ALTER TABLE models ADD COLUMN supports_parallel INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN default_pricing TEXT
    CHECK (default_pricing IS NULL OR json_type(default_pricing) = 'object');
ALTER TABLE models ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE models ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE models SET updated_at = created_at;
UPDATE models SET name = name || ' (' || id || ')'
    WHERE id NOT IN (SELECT MIN(id) FROM models GROUP BY provider, name);
CREATE UNIQUE INDEX models_provider_name ON models(provider, name);

ALTER TABLE courses ADD COLUMN course_key TEXT NOT NULL DEFAULT '';
ALTER TABLE courses ADD COLUMN status TEXT NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'active', 'archived'));
ALTER TABLE courses ADD COLUMN start_date TEXT;
ALTER TABLE courses ADD COLUMN end_date TEXT;
ALTER TABLE courses ADD COLUMN description TEXT;
ALTER TABLE courses ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE courses SET course_key = 'course-' || id, updated_at = created_at;
CREATE UNIQUE INDEX courses_partner_key ON courses(partner_id, course_key);
DROP INDEX courses_partner;
CREATE INDEX courses_partner_recent ON courses(partner_id, created_at DESC, id DESC);
CREATE INDEX courses_recent ON courses(created_at DESC, id DESC);

ALTER TABLE classes ADD COLUMN budget_cents INTEGER CHECK (budget_cents >= 0);
CREATE INDEX classes_course ON classes(course_id) WHERE course_id IS NOT NULL;
