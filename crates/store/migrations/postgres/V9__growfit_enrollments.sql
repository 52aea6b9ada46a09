-- Enrollments (GrowFit): a partner-class student's membership is an enrollment with a
-- status and a completion time; a partner keeps a record of each user who joined one of
-- its classes (GrowFit's students), one per partner and user.
--
-- Every status but 'dropped' holds a seat: `classes.member_count` counts student
-- memberships that are not dropped (none is, before this migration).

ALTER TABLE memberships ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'inactive', 'completed', 'dropped'));
ALTER TABLE memberships ADD COLUMN completed_at TIMESTAMPTZ;

-- A partner's student. Created on the user's first enrollment in one of the partner's
-- classes; deleted with the user or the partner (or by the partner, with their enrollments).
CREATE TABLE partner_students (
    partner_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    full_name       TEXT    NOT NULL,
    email           TEXT,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'archived')),
    joined_at       TIMESTAMPTZ NOT NULL,
    primary_contact TEXT,
    notes           TEXT,
    PRIMARY KEY (partner_id, user_id)
);
CREATE INDEX partner_students_recent ON partner_students(partner_id, joined_at DESC, user_id DESC);
CREATE INDEX partner_students_user ON partner_students(user_id);

-- Every student already in a partner's class becomes that partner's student, joined when
-- they first joined one of its classes.
INSERT INTO partner_students (partner_id, user_id, full_name, email, joined_at)
    SELECT c.owner_id, m.user_id, u.name, u.email, MIN(m.joined_at)
    FROM memberships m JOIN classes c ON c.id = m.class_id JOIN users u ON u.id = m.user_id
    WHERE c.kind = 'class' AND m.role = 'student'
    GROUP BY c.owner_id, m.user_id, u.name, u.email;

-- A typed code of a length no code has cannot be a code: answered without a lookup of
-- every code.
CREATE INDEX invite_codes_length ON invite_codes(length(code));
