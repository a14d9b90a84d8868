//! [`DateTimeUnit`]: the units and fields of date/time values, and every spelling of
//! them that Eddy accepts. This is the one vocabulary for `extract`/`date_part` fields,
//! `date_trunc` units and the units of interval input (`'3 decades'`).
//!
//! Semantics and invariants:
//! - [`DateTimeUnit::from_name`] reads a spelling as Postgres 15 does: ASCII
//!   case-insensitively, through one table, [`SPELLINGS`]. Its spellings are those of
//!   Postgres' `deltatktbl` (units of interval input and `date_trunc`) and the unit
//!   entries of `datetktbl` that `extract` also reads (`epoch`, `dow`, `julian`, ...).
//! - Which units a function takes is not decided here: interval input takes the
//!   lengths of time from microseconds to millennia except quarters, `date_trunc`
//!   recognizes the [`is_delta_unit`](DateTimeUnit::is_delta_unit) ones, `extract` all.
//! - [`DateTimeUnit::name`] is the canonical name Postgres' documentation uses; EXPLAIN
//!   and error messages print it, and `from_name(u.name()) == Some(u)`.
//!
//! Known gaps: Postgres matches a spelling on its first ten characters only (so
//! `microsecondsxyz` reads as microseconds) and reads `mm` as minutes in `extract`
//! (from `datetktbl`); neither is accepted here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares [`DateTimeUnit`] with each unit's canonical name beside it, and
/// [`DateTimeUnit::ALL`] and [`DateTimeUnit::name`] from the same list.
macro_rules! date_time_units {
    ($($(#[doc = $doc:literal])* $unit:ident => $name:literal,)*) => {
        /// A unit or field of a date/time value.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub enum DateTimeUnit {
            $($(#[doc = $doc])* $unit,)*
        }

        impl DateTimeUnit {
            /// Every unit, in declaration order.
            pub const ALL: &'static [DateTimeUnit] = &[$(DateTimeUnit::$unit),*];

            /// The canonical name, as Postgres' documentation spells the field.
            pub fn name(self) -> &'static str {
                match self {
                    $(DateTimeUnit::$unit => $name,)*
                }
            }
        }
    };
}

date_time_units! {
    Microseconds => "microseconds",
    Milliseconds => "milliseconds",
    Second => "second",
    Minute => "minute",
    Hour => "hour",
    Day => "day",
    Week => "week",
    Month => "month",
    Quarter => "quarter",
    Year => "year",
    Decade => "decade",
    Century => "century",
    Millennium => "millennium",
    /// Seconds since 1970-01-01 00:00 UTC (of an interval: its length in seconds).
    Epoch => "epoch",
    /// Day of the week, Sunday = 0.
    Dow => "dow",
    /// ISO day of the week, Monday = 1 ... Sunday = 7.
    IsoDow => "isodow",
    /// Day of the year, 1 to 366.
    Doy => "doy",
    /// The ISO 8601 week-numbering year.
    IsoYear => "isoyear",
    /// The Julian day number (with a fraction of a day for a timestamp).
    Julian => "julian",
    /// The time zone offset in seconds.
    Timezone => "timezone",
    TimezoneHour => "timezone_hour",
    TimezoneMinute => "timezone_minute",
}

/// Every accepted spelling (lowercase) and the unit it names: the one table.
pub const SPELLINGS: &[(&str, DateTimeUnit)] = {
    use DateTimeUnit::*;
    &[
        ("microsecond", Microseconds),
        ("microseconds", Microseconds),
        ("microsecon", Microseconds),
        ("us", Microseconds),
        ("usec", Microseconds),
        ("usecs", Microseconds),
        ("usecond", Microseconds),
        ("useconds", Microseconds),
        ("millisecond", Milliseconds),
        ("milliseconds", Milliseconds),
        ("millisecon", Milliseconds),
        ("ms", Milliseconds),
        ("msec", Milliseconds),
        ("msecs", Milliseconds),
        ("msecond", Milliseconds),
        ("mseconds", Milliseconds),
        ("second", Second),
        ("seconds", Second),
        ("s", Second),
        ("sec", Second),
        ("secs", Second),
        ("minute", Minute),
        ("minutes", Minute),
        ("m", Minute),
        ("min", Minute),
        ("mins", Minute),
        ("hour", Hour),
        ("hours", Hour),
        ("h", Hour),
        ("hr", Hour),
        ("hrs", Hour),
        ("day", Day),
        ("days", Day),
        ("d", Day),
        ("week", Week),
        ("weeks", Week),
        ("w", Week),
        ("month", Month),
        ("months", Month),
        ("mon", Month),
        ("mons", Month),
        ("quarter", Quarter),
        ("qtr", Quarter),
        ("year", Year),
        ("years", Year),
        ("y", Year),
        ("yr", Year),
        ("yrs", Year),
        ("decade", Decade),
        ("decades", Decade),
        ("dec", Decade),
        ("decs", Decade),
        ("century", Century),
        ("centuries", Century),
        ("c", Century),
        ("cent", Century),
        ("millennium", Millennium),
        ("millennia", Millennium),
        ("mil", Millennium),
        ("mils", Millennium),
        ("epoch", Epoch),
        ("dow", Dow),
        ("isodow", IsoDow),
        ("doy", Doy),
        ("isoyear", IsoYear),
        ("julian", Julian),
        ("j", Julian),
        ("jd", Julian),
        ("timezone", Timezone),
        ("timezone_hour", TimezoneHour),
        ("timezone_h", TimezoneHour),
        ("timezone_minute", TimezoneMinute),
        ("timezone_m", TimezoneMinute),
    ]
};

impl DateTimeUnit {
    /// The unit a spelling names (ASCII case-insensitive), or `None` for a name Eddy
    /// does not know.
    pub fn from_name(name: &str) -> Option<DateTimeUnit> {
        SPELLINGS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(name))
            .map(|(_, unit)| *unit)
    }

    /// True for the units of Postgres' `deltatktbl`, which `date_trunc` and interval
    /// input recognize; false for the fields only `extract`/`date_part` read (`epoch`,
    /// `dow`, `isodow`, `doy`, `isoyear`, `julian`).
    pub fn is_delta_unit(self) -> bool {
        use DateTimeUnit::*;
        !matches!(self, Epoch | Dow | IsoDow | Doy | IsoYear | Julian)
    }
}

impl fmt::Display for DateTimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_maps_to_its_unit() {
        for (spelling, unit) in SPELLINGS {
            assert_eq!(DateTimeUnit::from_name(spelling), Some(*unit), "{spelling}");
            let upper = spelling.to_ascii_uppercase();
            assert_eq!(DateTimeUnit::from_name(&upper), Some(*unit), "{upper}");
        }
    }

    #[test]
    fn spellings_are_lowercase_and_unique() {
        for (i, (spelling, _)) in SPELLINGS.iter().enumerate() {
            assert_eq!(*spelling, spelling.to_ascii_lowercase());
            assert!(
                SPELLINGS[..i].iter().all(|(s, _)| s != spelling),
                "{spelling} is listed twice"
            );
        }
    }

    #[test]
    fn canonical_names_round_trip() {
        for &unit in DateTimeUnit::ALL {
            assert_eq!(DateTimeUnit::from_name(unit.name()), Some(unit));
            assert_eq!(unit.to_string(), unit.name());
        }
        assert!(DateTimeUnit::ALL.is_sorted(), "ALL is in declaration order");
    }

    #[test]
    fn unknown_spellings_are_none() {
        for name in [
            "",
            "foo",
            "fortnight",
            "quarters",
            "dows",
            "days ",
            " day",
            "t",
        ] {
            assert_eq!(DateTimeUnit::from_name(name), None, "{name:?}");
        }
        // Postgres 15 rejects this misspelling too (sqlparser has it as a keyword).
        assert_eq!(DateTimeUnit::from_name("millenium"), None);
        // FIXME(issue 11): Postgres also reads a spelling by its first ten characters
        // and `mm` as minutes in extract; Eddy does not yet.
        assert_eq!(DateTimeUnit::from_name("microsecondsxyz"), None);
        assert_eq!(DateTimeUnit::from_name("mm"), None);
    }

    #[test]
    fn delta_units_are_the_lengths_of_time_and_time_zone_fields() {
        let fields: Vec<_> = DateTimeUnit::ALL
            .iter()
            .copied()
            .filter(|u| !u.is_delta_unit())
            .map(DateTimeUnit::name)
            .collect();
        assert_eq!(
            fields,
            ["epoch", "dow", "isodow", "doy", "isoyear", "julian"]
        );
    }
}
