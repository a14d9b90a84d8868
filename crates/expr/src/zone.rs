//! IANA time zones, as `AT TIME ZONE` names them: a zone is resolved once, when a
//! statement is planned, and travels in the plan by name.
//!
//! Local times that a zone's clock skips or repeats are read as Postgres reads them: a
//! time in a jump-forward gap takes the offset from before the jump; a time repeated
//! by a jump back takes the offset from after it (standard time).

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IANA time zone (`Europe/Berlin`, `UTC`), compared and serialized by name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl TimeZone {
    /// The zone named `name`, its case ignored as Postgres does; `None` for a name
    /// that is not an IANA zone.
    pub fn from_name(name: &str) -> Option<TimeZone> {
        if let Ok(tz) = name.parse::<Tz>() {
            return Some(TimeZone(tz));
        }
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
            .map(|tz| TimeZone(*tz))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// `timestamptz AT TIME ZONE zone`: the zone's wall-clock time at that instant.
    pub fn local(&self, ts: &DateTime<Utc>) -> NaiveDateTime {
        ts.with_timezone(&self.0).naive_local()
    }

    /// `timestamp AT TIME ZONE zone`: the instant whose wall-clock time in the zone is
    /// `local` (see the module docs for skipped and repeated times).
    pub fn instant(&self, local: &NaiveDateTime) -> DateTime<Utc> {
        use chrono::LocalResult;
        match self.0.from_local_datetime(local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
            LocalResult::None => {
                // In a gap: the offset in force half a day earlier, before the jump.
                let before = *local - chrono::Duration::hours(12);
                let offset = self.0.offset_from_utc_datetime(&before).fix();
                (*local - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
            }
        }
    }
}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialOrd for TimeZone {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimeZone {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        TimeZone::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown time zone {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn gaps_and_folds_read_as_postgres_does() {
        let berlin = TimeZone::from_name("europe/berlin").unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        // Winter (+01) and summer (+02).
        assert_eq!(
            berlin.instant(&naive("2024-01-15 12:00:00")),
            naive("2024-01-15 11:00:00").and_utc()
        );
        assert_eq!(
            berlin.instant(&naive("2024-07-15 12:00:00")),
            naive("2024-07-15 10:00:00").and_utc()
        );
        // 02:30 on 2024-03-31 does not exist: the offset before the jump (+01).
        assert_eq!(
            berlin.instant(&naive("2024-03-31 02:30:00")),
            naive("2024-03-31 01:30:00").and_utc()
        );
        // 02:30 on 2024-10-27 happens twice: the offset after the jump (+01).
        assert_eq!(
            berlin.instant(&naive("2024-10-27 02:30:00")),
            naive("2024-10-27 01:30:00").and_utc()
        );
        assert_eq!(
            berlin.local(&naive("2024-07-15 10:00:00").and_utc()),
            naive("2024-07-15 12:00:00")
        );
        assert!(TimeZone::from_name("Mars/Olympus").is_none());
    }
}
