//! Time zones, as `AT TIME ZONE` and the session's `TimeZone` name them: an IANA zone
//! (`Europe/Berlin`, `UTC`, its case ignored as Postgres does) or a fixed offset.
//! A zone is resolved once, when a statement is planned or a session sets it, and
//! travels in plans by name.
//!
//! Fixed offsets follow Postgres' two sign conventions: a POSIX spec (`'+02:00'`,
//! `'<+02>-02'`) counts hours *west* of Greenwich, so `'+02:00'` is UTC-2; a bare number
//! of hours as the session setting (`SET TIME ZONE 2`, `'2'`) counts them east
//! ([`TimeZone::from_setting`]).
//!
//! Local times that a zone's clock skips or repeats are read as Postgres reads them: a
//! time in a jump-forward gap takes the offset from before the jump; a time repeated
//! by a jump back takes the offset from after it (standard time).

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest offset a fixed zone may have, as Postgres bounds it (15 hours... plus
/// the margin its `TZDISP_LIMIT` allows).
const FIXED_OFFSET_SECS_MAX: i32 = 15 * 3600 + 59 * 60 + 59;

/// A time zone, serialized by [`TimeZone::name`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeZone {
    /// An IANA zone with its daylight-saving rules.
    Iana(Tz),
    /// A constant offset from UTC, positive east of Greenwich.
    Fixed(FixedOffset),
}

impl TimeZone {
    /// UTC, the zone of a session that set none, and of every view (see the README).
    pub const UTC: TimeZone = TimeZone::Iana(Tz::UTC);

    /// The zone named `name` as `AT TIME ZONE` reads it: an IANA name (case ignored) or
    /// a POSIX offset (`+02:00` is two hours west, `<+02>-02` two hours east); `None`
    /// for anything else.
    pub fn from_name(name: &str) -> Option<TimeZone> {
        if let Ok(tz) = name.parse::<Tz>() {
            return Some(TimeZone::Iana(tz));
        }
        if let Some(tz) = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
        {
            return Some(TimeZone::Iana(*tz));
        }
        // `<abbreviation>offset`: the abbreviation is only a label.
        let posix = match name.strip_prefix('<') {
            Some(rest) => &rest[rest.find('>')? + 1..],
            None => name,
        };
        let west_secs = parse_offset_secs(posix)?;
        FixedOffset::west_opt(west_secs).map(TimeZone::Fixed)
    }

    /// The zone a `SET TimeZone` value names, with the value `SHOW TimeZone` prints
    /// afterwards (Postgres' spelling): a number of hours east (`2`, `-5.5`), or a name
    /// [`TimeZone::from_name`] reads. `None` for an unknown zone.
    pub fn from_setting(value: &str) -> Option<(TimeZone, String)> {
        let value = value.trim();
        if let Ok(hours) = value.parse::<f64>() {
            let east_secs = (hours * 3600.0).round();
            if !east_secs.is_finite() || east_secs.abs() > f64::from(FIXED_OFFSET_SECS_MAX) {
                return None;
            }
            let zone = TimeZone::Fixed(FixedOffset::east_opt(east_secs as i32)?);
            return Some((zone, zone.name()));
        }
        let zone = TimeZone::from_name(value)?;
        let shown = match zone {
            TimeZone::Iana(tz) => tz.name().to_string(),
            TimeZone::Fixed(_) => value.to_string(),
        };
        Some((zone, shown))
    }

    /// The name plans carry: the IANA name, or `<+02>-02` for a fixed offset (which
    /// [`TimeZone::from_name`] reads back).
    pub fn name(&self) -> String {
        match self {
            TimeZone::Iana(tz) => tz.name().to_string(),
            TimeZone::Fixed(offset) => {
                let east = offset.local_minus_utc();
                let mut label = String::new();
                push_offset(&mut label, east);
                let mut spec = String::new();
                push_offset(&mut spec, -east);
                format!("<{label}>{spec}")
            }
        }
    }

    /// Whether the zone is always at offset zero, so that it reads and prints
    /// timestamps exactly as UTC does.
    pub fn is_utc(&self) -> bool {
        match self {
            TimeZone::Fixed(offset) => offset.local_minus_utc() == 0,
            TimeZone::Iana(tz) => matches!(
                tz,
                Tz::UTC
                    | Tz::UCT
                    | Tz::GMT
                    | Tz::GMT0
                    | Tz::Zulu
                    | Tz::Universal
                    | Tz::Greenwich
                    | Tz::Etc__UTC
                    | Tz::Etc__UCT
                    | Tz::Etc__GMT
                    | Tz::Etc__GMT0
                    | Tz::Etc__Zulu
                    | Tz::Etc__Universal
                    | Tz::Etc__Greenwich
            ),
        }
    }

    /// The zone's offset from UTC at instant `ts`, in seconds east.
    pub fn offset_secs(&self, ts: &DateTime<Utc>) -> i32 {
        match self {
            TimeZone::Iana(tz) => tz.offset_from_utc_datetime(&ts.naive_utc()).fix(),
            TimeZone::Fixed(offset) => *offset,
        }
        .local_minus_utc()
    }

    /// The abbreviation the zone's clocks show at instant `ts` (`CEST`, `EST`, `-03`),
    /// as `to_char`'s `TZ` prints it; a fixed offset's is its offset (`+02`).
    pub fn abbreviation(&self, ts: &DateTime<Utc>) -> String {
        use chrono_tz::OffsetName;
        match self {
            TimeZone::Iana(tz) => tz
                .offset_from_utc_datetime(&ts.naive_utc())
                .abbreviation()
                .unwrap_or_default()
                .to_string(),
            TimeZone::Fixed(offset) => {
                let mut out = String::new();
                push_offset(&mut out, offset.local_minus_utc());
                out
            }
        }
    }

    /// `timestamptz AT TIME ZONE zone`: the zone's wall-clock time at that instant.
    pub fn local(&self, ts: &DateTime<Utc>) -> NaiveDateTime {
        self.local_with_offset(ts).0
    }

    /// The wall-clock time at instant `ts` and the offset (seconds east) that makes
    /// it, looked up once: what printing a timestamptz needs.
    pub fn local_with_offset(&self, ts: &DateTime<Utc>) -> (NaiveDateTime, i32) {
        let offset = self.offset_secs(ts);
        (shift(ts.naive_utc(), i64::from(offset)), offset)
    }

    /// `timestamp AT TIME ZONE zone`: the instant whose wall-clock time in the zone is
    /// `local` (see the module docs for skipped and repeated times).
    pub fn instant(&self, local: &NaiveDateTime) -> DateTime<Utc> {
        use chrono::LocalResult;
        let tz = match self {
            TimeZone::Iana(tz) => tz,
            TimeZone::Fixed(offset) => {
                let east = i64::from(offset.local_minus_utc());
                return shift(*local, -east).and_utc();
            }
        };
        match tz.from_local_datetime(local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
            LocalResult::None => {
                // In a gap: the offset in force half a day earlier, before the jump.
                let before = shift(*local, -12 * 3600);
                let offset = tz.offset_from_utc_datetime(&before).fix();
                shift(*local, -i64::from(offset.local_minus_utc())).and_utc()
            }
        }
    }
}

/// `t` moved by `secs` seconds; at the ends of chrono's range (years ±262143, beyond
/// any timestamp Postgres reads) it stays where it is rather than overflow.
fn shift(t: NaiveDateTime, secs: i64) -> NaiveDateTime {
    t.checked_add_signed(chrono::Duration::seconds(secs))
        .unwrap_or(t)
}

/// Appends an offset as Postgres prints one after a time: `+02`, `-05:30`, `+00:19:32`.
pub fn push_offset(out: &mut String, east_secs: i32) {
    use std::fmt::Write;
    let sign = if east_secs < 0 { '-' } else { '+' };
    let abs = east_secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    write!(out, "{sign}{h:02}").expect("write to string");
    if m != 0 || s != 0 {
        write!(out, ":{m:02}").expect("write to string");
    }
    if s != 0 {
        write!(out, ":{s:02}").expect("write to string");
    }
}

/// `[+-]HH[:MM[:SS]]` (or `HHMM`) as seconds, with the sign as written.
fn parse_offset_secs(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    let mut parts = digits.split(':');
    let field = |p: Option<&str>, max: i32| -> Option<i32> {
        match p {
            None => Some(0),
            Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<i32>().ok().filter(|v| *v <= max)
            }
            Some(_) => None,
        }
    };
    let first = parts.next()?;
    let (h, m) = if first.len() == 4 && !digits.contains(':') {
        (field(Some(&first[..2]), 15)?, field(Some(&first[2..]), 59)?)
    } else {
        (field(Some(first), 15)?, field(parts.next(), 59)?)
    };
    let sec = field(parts.next(), 59)?;
    if parts.next().is_some() {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl PartialOrd for TimeZone {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimeZone {
    /// IANA zones by name, then fixed offsets from west to east (without allocating:
    /// plans holding zones are compared while optimizing).
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (TimeZone::Iana(a), TimeZone::Iana(b)) => a.name().cmp(b.name()),
            (TimeZone::Iana(_), TimeZone::Fixed(_)) => Ordering::Less,
            (TimeZone::Fixed(_), TimeZone::Iana(_)) => Ordering::Greater,
            (TimeZone::Fixed(a), TimeZone::Fixed(b)) => {
                a.local_minus_utc().cmp(&b.local_minus_utc())
            }
        }
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
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

    #[test]
    fn fixed_offsets_take_postgres_signs() {
        let utc = naive("2024-01-01 00:00:00").and_utc();
        // A POSIX spec counts west: '+02:00' is two hours behind UTC.
        let posix = TimeZone::from_name("+02:00").unwrap();
        assert_eq!(posix.offset_secs(&utc), -7200);
        assert_eq!(posix.name(), "<-02>+02");
        assert_eq!(TimeZone::from_name(&posix.name()), Some(posix));
        // A number of hours as the setting counts east, shown as Postgres shows it.
        let (east, shown) = TimeZone::from_setting("5.5").unwrap();
        assert_eq!(east.offset_secs(&utc), 19800);
        assert_eq!(shown, "<+05:30>-05:30");
        assert_eq!(TimeZone::from_name(&shown), Some(east));
        let (_, shown) = TimeZone::from_setting("+02:00").unwrap();
        assert_eq!(shown, "+02:00");
        let (berlin, shown) = TimeZone::from_setting("europe/BERLIN").unwrap();
        assert_eq!(shown, "Europe/Berlin");
        assert!(!berlin.is_utc());
        assert!(TimeZone::from_setting("GMT").unwrap().0.is_utc());
        assert!(TimeZone::from_setting("Mars/Base").is_none());
        assert!(TimeZone::from_setting("z").is_none());
        assert!(TimeZone::from_setting("99").is_none());
        let mut out = String::new();
        push_offset(&mut out, -(5 * 3600 + 30 * 60));
        assert_eq!(out, "-05:30");
        // No overflow at the ends of the range.
        let tokyo = TimeZone::from_name("Asia/Tokyo").unwrap();
        let max = NaiveDateTime::MAX.and_utc();
        assert_eq!(tokyo.local(&max), NaiveDateTime::MAX);
        assert_eq!(posix.instant(&NaiveDateTime::MAX), max);
        assert_eq!(
            tokyo.instant(&NaiveDateTime::MIN),
            NaiveDateTime::MIN.and_utc()
        );
    }
}
