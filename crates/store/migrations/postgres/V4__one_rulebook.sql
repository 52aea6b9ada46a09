-- One rulebook, held by the database (the SQLite migration of the same name explains each
-- change; PostgreSQL identities already never reuse ids).

ALTER TABLE classes ADD COLUMN kind TEXT;
UPDATE classes SET kind = CASE
    WHEN EXISTS (SELECT 1 FROM labs l WHERE l.class_id = classes.id) THEN 'lab'
    WHEN (SELECT u.kind FROM users u WHERE u.id = classes.owner_id) IN ('educator', 'health_professional') THEN 'group'
    ELSE 'class' END;
ALTER TABLE classes ALTER COLUMN kind SET NOT NULL;
ALTER TABLE classes ADD CONSTRAINT classes_kind CHECK (kind IN ('class', 'lab', 'group'));

UPDATE classes SET name = name || ' (' || id || ')'
    WHERE kind = 'group'
      AND id NOT IN (SELECT MIN(id) FROM classes WHERE kind = 'group' GROUP BY owner_id, name);
DROP INDEX classes_owner_name;
CREATE UNIQUE INDEX classes_group_name ON classes(owner_id, name) WHERE kind = 'group';

ALTER TABLE memberships ADD COLUMN email TEXT;
UPDATE memberships SET email = (SELECT lower(u.email) FROM users u WHERE u.id = memberships.user_id)
    WHERE role = 'student' AND EXISTS (SELECT 1 FROM labs l WHERE l.class_id = memberships.class_id);
UPDATE memberships SET email = NULL
    WHERE email IS NOT NULL
      AND id NOT IN (SELECT MIN(id) FROM memberships WHERE email IS NOT NULL GROUP BY class_id, email);
CREATE UNIQUE INDEX memberships_class_email ON memberships(class_id, email) WHERE email IS NOT NULL;
ALTER TABLE memberships ADD CONSTRAINT memberships_role CHECK (role IN ('student', 'instructor'));

-- No cascade: a user's memberships are removed by the statements that free their seats.
ALTER TABLE memberships DROP CONSTRAINT memberships_user_id_fkey;
ALTER TABLE memberships ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);

-- Counters recounted; a class oversold before this migration keeps its members and its
-- capacity becomes its roster; a code used beyond its limit gets the limit it reached.
ALTER TABLE classes DROP CONSTRAINT classes_check;
UPDATE classes SET member_count = (SELECT COUNT(*) FROM memberships m WHERE m.class_id = classes.id AND m.role = 'student');
UPDATE classes SET capacity = member_count WHERE capacity < member_count;
ALTER TABLE classes ADD CONSTRAINT classes_seats CHECK (capacity IS NULL OR member_count <= capacity);
UPDATE invite_codes SET max_uses = used_count WHERE max_uses < used_count;
ALTER TABLE invite_codes ADD CONSTRAINT invite_codes_uses CHECK (max_uses IS NULL OR used_count <= max_uses);
UPDATE users SET class_count = (SELECT COUNT(*) FROM classes c WHERE c.owner_id = users.id);
