//! Postgres change data capture: the tables of a publication, copied once and then
//! followed by logical replication (`pgoutput`), every upstream transaction applied
//! atomically and exactly once.
//!
//! - [`spec`]: `PgSourceSpec::from_options`, the pure part of planning;
//! - [`mod@discover`]: the publication's tables, types, keys and replica identities, read
//!   from the upstream catalog, with the checks that fail early (wal_level, privileges,
//!   missing publication, tables whose updates cannot be matched);
//! - [`source`]: the running source: snapshot at the slot's consistent point, then the
//!   stream, batches with progress, confirmation of durable LSNs, retries, status;
//! - `pgoutput` and `state` (private): decoding the replication messages, and the
//!   current rows of each table that turn them into updates.
//!
//! Invariant: applying the batches in order gives exactly the upstream tables as of the
//! last batch's LSN, and a source restarted with what was recorded (progress and
//! current rows) continues them: nothing lost, nothing applied twice. The source never
//! reports an LSN upstream as flushed before the caller confirmed it durable.

pub mod discover;
mod pgoutput;
pub mod source;
pub mod spec;
mod state;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use discover::{discover, PgColumn, PgTable, ReplicaIdentity};
pub use source::{
    drop_slot, PgBatch, PgConfirmHandle, PgProgress, PgResume, PgSource, PgSourceConfig,
    PgSourceState, PgSourceStatus, PgStatusHandle, PgTableError,
};
pub use spec::{PgSourceSpec, TableSelection};
pub use state::TableStatus;

/// A position in the upstream's write-ahead log, printed as Postgres prints it
/// (`16/B374D848`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

impl FromStr for Lsn {
    type Err = String;

    fn from_str(s: &str) -> Result<Lsn, String> {
        let bad = || format!("invalid LSN \"{s}\"");
        let (high, low) = s.split_once('/').ok_or_else(bad)?;
        let high = u32::from_str_radix(high, 16).map_err(|_| bad())?;
        let low = u32::from_str_radix(low, 16).map_err(|_| bad())?;
        Ok(Lsn((u64::from(high) << 32) | u64::from(low)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_round_trips() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn, Lsn(0x16_B374_D848));
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert!("16B374D848".parse::<Lsn>().is_err());
    }
}
