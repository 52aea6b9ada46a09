-- GrowFit's catalogue and class budgets (the SQLite migration of the same name explains
-- each change). Model names and providers compare byte by byte (the `C` collation), as
-- SQLite compares text, so that `GET /models` is ordered alike on both engines.

ALTER TABLE models ADD COLUMN modality TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE models ADD CONSTRAINT models_modality
    CHECK (modality IN ('chat', 'embedding', 'stt', 'image', 'tts', 'rerank'));
ALTER TABLE models ADD COLUMN supports_parallel BOOLEAN NOT NULL DEFAULT false;
-- JSON, not JSONB: the object's keys keep their order, as SQLite's text keeps it.
ALTER TABLE models ADD COLUMN default_pricing JSON;
ALTER TABLE models ADD CONSTRAINT models_pricing
    CHECK (default_pricing IS NULL OR json_typeof(default_pricing) = 'object');
ALTER TABLE models ADD COLUMN is_active BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE models ADD COLUMN updated_at TIMESTAMPTZ;
UPDATE models SET updated_at = created_at;
ALTER TABLE models ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE models ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE models ALTER COLUMN provider TYPE TEXT COLLATE "C";
UPDATE models SET name = name || ' (' || id || ')'
    WHERE id NOT IN (SELECT MIN(id) FROM models GROUP BY provider, name);
CREATE UNIQUE INDEX models_provider_name ON models(provider, name);

ALTER TABLE courses ADD COLUMN course_key TEXT;
UPDATE courses SET course_key = 'course-' || id;
ALTER TABLE courses ALTER COLUMN course_key SET NOT NULL;
ALTER TABLE courses ADD COLUMN status TEXT NOT NULL DEFAULT 'draft';
ALTER TABLE courses ADD CONSTRAINT courses_status CHECK (status IN ('draft', 'active', 'archived'));
ALTER TABLE courses ADD COLUMN start_date TEXT;
ALTER TABLE courses ADD COLUMN end_date TEXT;
ALTER TABLE courses ADD COLUMN description TEXT;
ALTER TABLE courses ADD COLUMN updated_at TIMESTAMPTZ;
UPDATE courses SET updated_at = created_at;
ALTER TABLE courses ALTER COLUMN updated_at SET NOT NULL;
CREATE UNIQUE INDEX courses_partner_key ON courses(partner_id, course_key);
DROP INDEX courses_partner;
CREATE INDEX courses_partner_recent ON courses(partner_id, created_at DESC, id DESC);
CREATE INDEX courses_recent ON courses(created_at DESC, id DESC);

ALTER TABLE classes ADD COLUMN budget_cents BIGINT CHECK (budget_cents >= 0);
CREATE INDEX classes_course ON classes(course_id) WHERE course_id IS NOT NULL;
