//! Invite codes and enrollment: who may join a class, and the order in which a redemption
//! is refused.

use jiff::Timestamp;
use rand::Rng;
use serde::Serialize;

use crate::class::Class;
use crate::error::{DomainError, Problem, Violation};
use crate::ids::{ClassId, InviteCodeId, MembershipId, UserId};
use crate::patch::Patch;
use crate::time::{WhenInput, ZoneName};

/// Letters and digits that cannot be mistaken for each other (no I, O, 0, 1).
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// GrowFit's length: its students type codes into six boxes.
pub const CODE_LEN_DEFAULT: usize = 6;
pub const CODE_LEN_MIN: usize = 6;
pub const CODE_LEN_MAX: usize = 16;
pub const MAX_USES_MAX: i64 = 1_000_000;

/// A fresh code of `len` characters from [`CODE_ALPHABET`], drawn from `rng` (the caller
/// passes a CSPRNG).
pub fn generate_code(rng: &mut impl Rng, len: usize) -> String {
    (0..len).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// How codes are compared: trimmed, upper-cased, without spaces and dashes. Only ASCII
/// letters change case: codes are ASCII, and Unicode upper-casing would let other letters
/// stand for a code's (`ſ` for `S`, `ß` for `SS`).
pub fn normalize_code(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect()
}

/// The value a typed code is looked up by: normalised, and only if it could be a code at
/// all (6..=16 characters of the alphabet). Anything else names no code, and is not looked
/// up.
pub fn lookup_key(input: &str) -> Option<String> {
    if input.len() > 4 * CODE_LEN_MAX + 64 {
        return None;
    }
    let key = normalize_code(input);
    let shaped = (CODE_LEN_MIN..=CODE_LEN_MAX).contains(&key.len()) && key.bytes().all(|b| CODE_ALPHABET.contains(&b));
    shaped.then_some(key)
}

/// Why a typed code that could be one names no code: its length is possible (codes are
/// made with it now, or were made with it before) and no code has that value, or it is not,
/// and so what was typed cannot be a code at all.
pub fn unknown_code(possible_length: bool) -> DomainError {
    if possible_length { DomainError::NotFound(crate::error::Entity::InviteCode) } else { malformed() }
}

/// The refusal of input that cannot be a code.
pub fn malformed() -> DomainError {
    DomainError::CodeUnavailable(CodeUnavailable::Malformed)
}

/// Roles a member can have in a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Student,
    Instructor,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Student => "student",
            MemberRole::Instructor => "instructor",
        }
    }

    pub fn parse(s: &str) -> Option<MemberRole> {
        [MemberRole::Student, MemberRole::Instructor].into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InviteCode {
    pub id: InviteCodeId,
    pub class_id: ClassId,
    /// Owner of the class, shown as `partner_id`.
    pub owner_id: UserId,
    pub code: String,
    pub target_role: MemberRole,
    pub used_count: u32,
    pub max_uses: Option<u32>,
    pub expires_at: Option<Timestamp>,
    pub disabled: bool,
    pub created_by: UserId,
    pub created_at: Timestamp,
}

/// What a code reads as. A code past its expiry reads `expired` whether or not anything
/// has rewritten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeStatus {
    Active,
    Expired,
    Disabled,
}

impl CodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeStatus::Active => "active",
            CodeStatus::Expired => "expired",
            CodeStatus::Disabled => "disabled",
        }
    }
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeUnavailable {
    #[error("invite code is disabled")]
    Disabled,
    #[error("invite code has expired")]
    Expired,
    #[error("invite code has been used up")]
    UsedUp,
    /// What was typed cannot be a code: not 6..=16 characters of [`CODE_ALPHABET`] once
    /// normalised, or of a length no code is made with now or was made with before.
    #[error("not a possible invite code")]
    Malformed,
}

impl InviteCode {
    pub fn status(&self, now: Timestamp) -> CodeStatus {
        if self.disabled {
            CodeStatus::Disabled
        } else if self.expires_at.is_some_and(|e| e <= now) {
            CodeStatus::Expired
        } else {
            CodeStatus::Active
        }
    }

    pub fn is_used_up(&self) -> bool {
        self.max_uses.is_some_and(|m| self.used_count >= m)
    }

    pub(crate) fn check_usable(&self, now: Timestamp) -> Result<(), CodeUnavailable> {
        match self.status(now) {
            CodeStatus::Disabled => Err(CodeUnavailable::Disabled),
            CodeStatus::Expired => Err(CodeUnavailable::Expired),
            CodeStatus::Active if self.is_used_up() => Err(CodeUnavailable::UsedUp),
            CodeStatus::Active => Ok(()),
        }
    }
}

/// Where a student's enrollment stands. Every status but `dropped` holds a seat: an
/// inactive student may come back, and a completed one keeps the class in their list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentStatus {
    Active,
    Inactive,
    Completed,
    Dropped,
}

impl EnrollmentStatus {
    pub const ALL: [EnrollmentStatus; 4] =
        [EnrollmentStatus::Active, EnrollmentStatus::Inactive, EnrollmentStatus::Completed, EnrollmentStatus::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentStatus::Active => "active",
            EnrollmentStatus::Inactive => "inactive",
            EnrollmentStatus::Completed => "completed",
            EnrollmentStatus::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<EnrollmentStatus> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether an enrollment in this status takes one of the class's seats.
    pub fn holds_seat(self) -> bool {
        self != EnrollmentStatus::Dropped
    }
}

/// A user's place in a class (for a student of a partner's class, their enrollment).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Membership {
    pub id: MembershipId,
    pub class_id: ClassId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub joined_at: Timestamp,
    pub invite_code_id: Option<InviteCodeId>,
    /// When an invitation was queued for this member (lab classes).
    pub invited_at: Option<Timestamp>,
    /// When this member first signed in (lab classes).
    pub logged_in_at: Option<Timestamp>,
    /// An instructor who may not create environments for the class (lab classes).
    pub env_creation_disabled: bool,
    /// A student's enrollment status (`active` for every other member).
    pub status: EnrollmentStatus,
    /// When the enrollment was completed, if it was.
    pub completed_at: Option<Timestamp>,
}

impl Membership {
    /// Whether this member takes a seat: a student whose enrollment holds one.
    pub fn holds_seat(&self) -> bool {
        self.role == MemberRole::Student && self.status.holds_seat()
    }
}

/// What a redemption does once every check has passed.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption {
    /// Already a member: answer with the existing enrollment and consume nothing.
    AlreadyMember(Membership),
    /// Enroll, taking a seat and one use of the code.
    Enroll,
}

/// Decides a redemption. The order is the contract: code unusable, class ended (409),
/// already enrolled — in any status, a dropped student included: the partner dropped them,
/// and their code does not undo it — (no use consumed), class full (409), else enroll.
pub fn decide_redemption(
    code: &InviteCode,
    class: &Class,
    existing: Option<Membership>,
    now: Timestamp,
) -> Result<Redemption, DomainError> {
    code.check_usable(now).map_err(DomainError::CodeUnavailable)?;
    if class.has_ended() {
        return Err(DomainError::ClassEnded);
    }
    if let Some(m) = existing {
        return Ok(Redemption::AlreadyMember(m));
    }
    if class.is_full() {
        return Err(DomainError::ClassFull);
    }
    Ok(Redemption::Enroll)
}

/// Whether a code may be used, as its owner sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSwitch {
    Active,
    Disabled,
}

/// A new code or a change to one, as the client asked for it. Expiry times may be
/// wall-clock times, read in the class's zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeRequest {
    /// New codes only: the role it grants (`student` unless given).
    pub target_role: Option<String>,
    /// Changes only: enable or disable.
    pub switch: Option<CodeSwitch>,
    pub expires_at: Patch<WhenInput>,
    pub max_uses: Patch<i64>,
}

/// What a new code is made with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCodeSettings {
    pub target_role: MemberRole,
    pub max_uses: Option<u32>,
    pub expires_at: Option<Timestamp>,
}

/// Checks a request's expiry and use limit: `max_uses` in 1..=1,000,000; an expiry must
/// lie in the future.
fn resolve_limits(
    req: &CodeRequest,
    zone: Option<&ZoneName>,
    now: Timestamp,
    errors: &mut Vec<Violation>,
) -> (Patch<Timestamp>, Patch<u32>) {
    let expires_at = match req.expires_at {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(when) => match when.resolve(zone) {
            Ok(ts) if ts > now => Patch::Set(ts),
            Ok(_) => {
                errors.push(Violation::new("expires_at", Problem::NotInFuture));
                Patch::Keep
            }
            Err(p) => {
                errors.push(Violation::new("expires_at", p));
                Patch::Keep
            }
        },
    };
    let max_uses = match req.max_uses {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(m) if m < 1 => {
            errors.push(Violation::new("max_uses", Problem::BelowMin { min: 1 }));
            Patch::Keep
        }
        Patch::Set(m) if m > MAX_USES_MAX => {
            errors.push(Violation::new("max_uses", Problem::AboveMax { max: MAX_USES_MAX }));
            Patch::Keep
        }
        Patch::Set(m) => Patch::Set(m as u32),
    };
    (expires_at, max_uses)
}

/// The settings of a new code: only student codes can be made for now.
pub fn new_code(req: &CodeRequest, zone: Option<&ZoneName>, now: Timestamp) -> Result<NewCodeSettings, DomainError> {
    let mut errors = Vec::new();
    let target_role = match req.target_role.as_deref() {
        None | Some("student") => MemberRole::Student,
        Some(_) => {
            errors.push(Violation::new("target_role", Problem::Other("only 'student' codes can be created".into())));
            MemberRole::Student
        }
    };
    let (expires_at, max_uses) = resolve_limits(req, zone, now, &mut errors);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    Ok(NewCodeSettings { target_role, max_uses: max_uses.apply(None), expires_at: expires_at.apply(None) })
}

/// The code after a change: enabled or disabled, a new expiry, a new use limit. A limit
/// below the uses already made is refused, so a code never reads as used more often than
/// it may be.
pub fn change_code(
    code: &InviteCode,
    req: &CodeRequest,
    zone: Option<&ZoneName>,
    now: Timestamp,
) -> Result<InviteCode, DomainError> {
    let mut errors = Vec::new();
    let (expires_at, max_uses) = resolve_limits(req, zone, now, &mut errors);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    let mut next = code.clone();
    next.expires_at = expires_at.apply(code.expires_at);
    next.max_uses = max_uses.apply(code.max_uses);
    if let Some(s) = req.switch {
        next.disabled = s == CodeSwitch::Disabled;
    }
    if let Some(max) = next.max_uses
        && max < code.used_count
    {
        return Err(DomainError::MaxUsesBelowUsed { max_uses: max, used: code.used_count });
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::{ClassPatch, ClassStatus, PatchFacts, create};

    fn code() -> InviteCode {
        InviteCode {
            id: InviteCodeId(1),
            class_id: ClassId(1),
            owner_id: UserId(1),
            code: "ABCDEFGH".into(),
            target_role: MemberRole::Student,
            used_count: 0,
            max_uses: None,
            expires_at: None,
            disabled: false,
            created_by: UserId(1),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn class(capacity: Option<u32>, members: u32) -> Class {
        let p = ClassPatch { name: Patch::Set("c".into()), ..Default::default() };
        let mut fields = create(p, &PatchFacts::default()).unwrap();
        fields.capacity = capacity;
        Class {
            id: ClassId(1),
            owner_id: UserId(1),
            kind: crate::class::ClassKind::Class,
            fields,
            member_count: members,
            version: 1,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        let mut rng = rand::rng();
        for len in [6, 8, 16] {
            let c = generate_code(&mut rng, len);
            assert_eq!(c.len(), len);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        }
        assert_eq!(normalize_code("  abcd-efgh "), "ABCDEFGH");
        assert_eq!(normalize_code("ab cd\tef-gh"), "ABCDEFGH");
        assert_eq!(lookup_key(" abcd-efgh "), Some("ABCDEFGH".into()));
        assert_eq!(lookup_key("ABCDE"), None, "too short");
        assert_eq!(lookup_key("ABCD\0EFG"), None, "NUL");
        assert_eq!(lookup_key("ABCDEFGO"), None, "O is not in the alphabet");
    }

    #[test]
    fn status_reads_expiry_live() {
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let mut c = code();
        assert_eq!(c.status(now), CodeStatus::Active);
        c.expires_at = Some(now);
        assert_eq!(c.status(now), CodeStatus::Expired);
        c.disabled = true;
        assert_eq!(c.status(now), CodeStatus::Disabled);
    }

    #[test]
    fn redemption_order() {
        let now = Timestamp::UNIX_EPOCH;
        let member = Membership {
            id: MembershipId(1),
            class_id: ClassId(1),
            user_id: UserId(2),
            role: MemberRole::Student,
            joined_at: now,
            invite_code_id: None,
            invited_at: None,
            logged_in_at: None,
            env_creation_disabled: false,
            status: EnrollmentStatus::Active,
            completed_at: None,
        };
        let mut used_up = code();
        used_up.max_uses = Some(1);
        used_up.used_count = 1;
        assert_eq!(
            decide_redemption(&used_up, &class(None, 0), Some(member.clone()), now),
            Err(DomainError::CodeUnavailable(CodeUnavailable::UsedUp))
        );
        let mut ended = class(None, 0);
        ended.fields.status = Some(ClassStatus::Ended);
        assert_eq!(decide_redemption(&code(), &ended, Some(member.clone()), now), Err(DomainError::ClassEnded));
        assert_eq!(
            decide_redemption(&code(), &class(Some(1), 1), Some(member.clone()), now),
            Ok(Redemption::AlreadyMember(member.clone()))
        );
        assert_eq!(decide_redemption(&code(), &class(Some(1), 1), None, now), Err(DomainError::ClassFull));
        assert_eq!(decide_redemption(&code(), &class(Some(2), 1), None, now), Ok(Redemption::Enroll));
        let dropped = Membership { status: EnrollmentStatus::Dropped, ..member.clone() };
        assert_eq!(
            decide_redemption(&code(), &class(Some(1), 1), Some(dropped.clone()), now),
            Ok(Redemption::AlreadyMember(dropped))
        );
    }

    #[test]
    fn unknown_codes_and_seats() {
        assert_eq!(unknown_code(true), DomainError::NotFound(crate::error::Entity::InviteCode));
        assert_eq!(unknown_code(false), DomainError::CodeUnavailable(CodeUnavailable::Malformed));
        let held: Vec<bool> = EnrollmentStatus::ALL.iter().map(|s| s.holds_seat()).collect();
        assert_eq!(held, [true, true, true, false]);
        assert!(EnrollmentStatus::ALL.iter().all(|s| EnrollmentStatus::parse(s.as_str()) == Some(*s)));
    }

    #[test]
    fn new_code_settings() {
        let now = Timestamp::UNIX_EPOCH;
        let made = new_code(&CodeRequest::default(), None, now).unwrap();
        assert_eq!(made, NewCodeSettings { target_role: MemberRole::Student, max_uses: None, expires_at: None });
        let bad = CodeRequest {
            target_role: Some("instructor".into()),
            expires_at: Patch::Set(WhenInput::Instant(now)),
            max_uses: Patch::Set(0),
            switch: None,
        };
        match new_code(&bad, None, now) {
            Err(DomainError::Invalid(v)) => {
                assert_eq!(v.iter().map(|v| v.field).collect::<Vec<_>>(), ["target_role", "expires_at", "max_uses"])
            }
            other => panic!("{other:?}"),
        }
        let huge = CodeRequest { max_uses: Patch::Set(MAX_USES_MAX + 1), ..CodeRequest::default() };
        assert!(new_code(&huge, None, now).is_err());
    }

    #[test]
    fn code_changes() {
        let now = Timestamp::UNIX_EPOCH;
        let mut c = code();
        c.used_count = 3;
        let req = CodeRequest { switch: Some(CodeSwitch::Disabled), max_uses: Patch::Set(3), ..CodeRequest::default() };
        let changed = change_code(&c, &req, None, now).unwrap();
        assert!(changed.disabled);
        assert_eq!(changed.max_uses, Some(3));
        let req = CodeRequest { max_uses: Patch::Set(2), ..CodeRequest::default() };
        assert_eq!(change_code(&c, &req, None, now), Err(DomainError::MaxUsesBelowUsed { max_uses: 2, used: 3 }));
        let later = WhenInput::Local("1970-01-02T09:00:00".parse().unwrap());
        let seoul = ZoneName::parse("Asia/Seoul").unwrap();
        let req = CodeRequest { expires_at: Patch::Set(later), ..CodeRequest::default() };
        assert_eq!(
            change_code(&c, &req, Some(&seoul), now).unwrap().expires_at.unwrap().to_string(),
            "1970-01-02T00:00:00Z"
        );
        let req = CodeRequest { expires_at: Patch::Clear, switch: Some(CodeSwitch::Active), ..CodeRequest::default() };
        let mut disabled = c.clone();
        disabled.disabled = true;
        disabled.expires_at = Some(now);
        let back = change_code(&disabled, &req, None, now).unwrap();
        assert_eq!((back.disabled, back.expires_at), (false, None));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A code as generated: 6..=16 characters of the alphabet.
    fn valid_code() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(CODE_ALPHABET), CODE_LEN_MIN..=CODE_LEN_MAX)
            .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
    }

    /// What people put between and around a code's characters when they type or paste it.
    fn separator() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(vec![' ', '-', '\t', '\n', '\u{a0}', '\u{2009}']), 0..3)
            .prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_and_is_idempotent(input in any::<String>()) {
            let once = normalize_code(&input);
            prop_assert_eq!(normalize_code(&once), once.clone());
            prop_assert!(!once.chars().any(|c| c.is_whitespace() || c == '-' || c.is_ascii_lowercase()));
        }

        #[test]
        fn case_space_and_dash_variants_of_a_code_are_the_code(
            code in valid_code(),
            lower in proptest::collection::vec(any::<bool>(), CODE_LEN_MAX),
            seps in proptest::collection::vec(separator(), CODE_LEN_MAX + 1),
        ) {
            let mut typed = seps[0].clone();
            for (i, c) in code.chars().enumerate() {
                typed.push(if lower[i] { c.to_ascii_lowercase() } else { c });
                typed.push_str(&seps[i + 1]);
            }
            prop_assert_eq!(normalize_code(&typed), code);
        }

        /// Only those variants: the code with some characters swapped for look-alikes
        /// (Unicode letters whose upper case is ASCII) or anything else is not the code.
        #[test]
        fn nothing_else_reads_as_the_code(
            code in valid_code(),
            swaps in proptest::collection::vec(
                proptest::option::weighted(0.2, prop_oneof![
                    proptest::sample::select(vec!['\u{17f}', '\u{df}', '\u{131}', '\u{212a}', '\u{ff21}', 'o', 'i']),
                    any::<char>(),
                ]),
                CODE_LEN_MAX,
            ),
        ) {
            let input: String = code.chars().zip(&swaps).map(|(c, swap)| swap.unwrap_or(c)).collect();
            let stripped: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
            prop_assert_eq!(normalize_code(&input) == code, stripped.eq_ignore_ascii_case(&code));
        }

        #[test]
        fn generated_codes_are_fixed_points(len in CODE_LEN_MIN..=CODE_LEN_MAX) {
            let code = generate_code(&mut rand::rng(), len);
            prop_assert_eq!(normalize_code(&code), code.clone());
            prop_assert_eq!(code.len(), len);
        }
    }
}
