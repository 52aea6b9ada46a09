//! Time rules: instants are UTC with microsecond precision; zones are IANA names checked
//! against the tz database; wall-clock times are read in a zone and refused when the
//! zone skips or repeats them.

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, civil};

use crate::error::Problem;

/// A validated IANA time zone name, in the database's canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ZoneName(String);

impl ZoneName {
    /// Checks `name` against the tz database (case-insensitively) and keeps its
    /// canonical spelling (`asia/seoul` → `Asia/Seoul`).
    pub fn parse(name: &str) -> Result<ZoneName, Problem> {
        let unknown = || Problem::UnknownTimeZone(name.to_string());
        // Fixed offsets and POSIX TZ strings are not IANA names; neither are the tz
        // database's files that are not zones (`localtime`, `posixrules`, `Factory`) nor
        // its `posix/` and `right/` copies.
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.trim() != name
            || name.contains('\0')
            || ["localtime", "posixrules", "factory"].contains(&lower.as_str())
            || lower.starts_with("posix/")
            || lower.starts_with("right/")
        {
            return Err(unknown());
        }
        let tz = TimeZone::get(name).map_err(|_| unknown())?;
        let canonical = tz.iana_name().unwrap_or(name);
        Ok(ZoneName(canonical.to_string()))
    }

    /// A name that came from storage, where it was validated on the way in.
    pub fn from_stored(name: String) -> ZoneName {
        ZoneName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules; UTC if the name stopped resolving (a tzdata update removed it).
    pub fn time_zone(&self) -> TimeZone {
        TimeZone::get(&self.0).unwrap_or(TimeZone::UTC)
    }
}

/// A point in time as a client wrote it: either an instant (with an offset) or a
/// wall-clock time to be read in the class's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenInput {
    Instant(Timestamp),
    Local(civil::DateTime),
}

impl WhenInput {
    /// The instant this input denotes, reading wall-clock times in `zone` (UTC when
    /// `None`). A wall-clock time that the zone skips or repeats is refused.
    pub fn resolve(self, zone: Option<&ZoneName>) -> Result<Timestamp, Problem> {
        let ts = match self {
            WhenInput::Instant(ts) => ts,
            WhenInput::Local(dt) => {
                let (tz, zone_name) = match zone {
                    Some(z) => (z.time_zone(), z.as_str()),
                    None => (TimeZone::UTC, "UTC"),
                };
                let ambiguous = tz.to_ambiguous_zoned(dt);
                match ambiguous.offset() {
                    AmbiguousOffset::Unambiguous { .. } => {
                        ambiguous.compatible().map_err(|_| Problem::DateOutOfRange)?.timestamp()
                    }
                    AmbiguousOffset::Gap { .. } => {
                        return Err(Problem::LocalTimeInGap(dt.to_string(), zone_name.into()));
                    }
                    AmbiguousOffset::Fold { .. } => {
                        return Err(Problem::LocalTimeAmbiguous(dt.to_string(), zone_name.into()));
                    }
                }
            }
        };
        Ok(truncate_to_micros(ts))
    }
}

/// Instants are kept with microsecond precision, as both stores hold them.
pub fn truncate_to_micros(ts: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts)
}

/// The current instant at storage precision.
pub fn now() -> Timestamp {
    truncate_to_micros(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> WhenInput {
        WhenInput::Local(s.parse().unwrap())
    }

    #[test]
    fn zone_names_are_checked_and_canonicalised() {
        assert_eq!(ZoneName::parse("asia/seoul").unwrap().as_str(), "Asia/Seoul");
        assert_eq!(ZoneName::parse("UTC").unwrap().as_str(), "UTC");
        assert!(matches!(ZoneName::parse("Mars/Olympus"), Err(Problem::UnknownTimeZone(_))));
        assert!(ZoneName::parse("").is_err());
        assert!(ZoneName::parse(" Asia/Seoul").is_err());
        for not_a_zone in ["localtime", "posixrules", "Factory", "posix/Asia/Seoul", "right/UTC", "UTC\0"] {
            assert!(ZoneName::parse(not_a_zone).is_err(), "{not_a_zone}");
        }
    }

    #[test]
    fn wall_clock_times_are_read_in_the_zone() {
        let seoul = ZoneName::parse("Asia/Seoul").unwrap();
        let ts = local("2024-05-01T09:00:00").resolve(Some(&seoul)).unwrap();
        assert_eq!(ts.to_string(), "2024-05-01T00:00:00Z");
        let utc = local("2024-05-01T09:00:00").resolve(None).unwrap();
        assert_eq!(utc.to_string(), "2024-05-01T09:00:00Z");
    }

    #[test]
    fn gaps_and_folds_are_refused() {
        let ny = ZoneName::parse("America/New_York").unwrap();
        assert!(matches!(local("2024-03-10T02:30:00").resolve(Some(&ny)), Err(Problem::LocalTimeInGap(_, _))));
        assert!(matches!(local("2024-11-03T01:30:00").resolve(Some(&ny)), Err(Problem::LocalTimeAmbiguous(_, _))));
    }

    #[test]
    fn instants_keep_microseconds_only() {
        let ts: Timestamp = "2024-01-01T00:00:00.123456789Z".parse().unwrap();
        let r = WhenInput::Instant(ts).resolve(None).unwrap();
        assert_eq!(r.as_microsecond() % 1_000_000, 123_456);
        assert_eq!(r.subsec_nanosecond(), 123_456_000);
    }
}
