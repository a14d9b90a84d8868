//! Stopping a running statement: a client's cancel request (psql's Ctrl-C, a driver's
//! `cancel()`) and `statement_timeout`.
//!
//! Every read a statement makes runs through [`cancellable`], armed for its session.
//! A cancel fires the session's armed read directly, without waiting for the
//! coordinator's queue (which may be busy with that very statement).
//!
//! Invariants:
//! - A cancelled or timed-out read fails with 57014 and is dropped; dropping it drops
//!   its one-off dataflow (`sequence/read.rs`), so its memory goes back while every
//!   other session and view keeps working.
//! - A cancel reaches only the statement running when it arrives; one that arrives
//!   while the session is idle does nothing, as in Postgres.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_repr::{SqlError, SqlState};
use tokio::sync::oneshot;

/// The armed reads of every session, shared by the coordinator and its clients.
#[derive(Clone, Default)]
pub struct Cancels {
    armed: Arc<Mutex<BTreeMap<u64, oneshot::Sender<SqlError>>>>,
}

impl Cancels {
    /// Arms a new read of `session` (replacing an earlier one, which has ended).
    pub fn arm(&self, session: u64) -> oneshot::Receiver<SqlError> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(session, tx);
        rx
    }

    /// Cancels the armed read of `session`, if it is still running.
    pub fn cancel(&self, session: u64) {
        if let Some(tx) = self.lock().remove(&session) {
            let _ = tx.send(SqlError::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
    }

    /// Forgets a closed session.
    pub fn forget(&self, session: u64) {
        self.lock().remove(&session);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, oneshot::Sender<SqlError>>> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `read` until it answers, `cancel` fires, or `timeout` passes; the read is
/// dropped in the last two cases.
pub async fn cancellable<T>(
    read: impl Future<Output = Result<T, SqlError>>,
    cancel: oneshot::Receiver<SqlError>,
    timeout: Option<Duration>,
) -> Result<T, SqlError> {
    let expired = async {
        match timeout {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = read => result,
        Ok(err) = cancel => Err(err),
        () = expired => Err(SqlError::new(
            SqlState::QUERY_CANCELED,
            "canceling statement due to statement timeout",
        )),
    }
}

/// `statement_timeout` as Postgres reads it: a number of milliseconds, or a number
/// with a unit (`us`, `ms`, `s`, `min`, `h`, `d`); 0 means none. `None` if malformed.
pub fn parse_timeout(value: &str) -> Option<Option<Duration>> {
    let ms = duration_millis(value).ok()?;
    if ms > i32::MAX as f64 {
        return None;
    }
    Some((ms >= 1.0).then(|| Duration::from_millis(ms as u64)))
}

/// A duration as Postgres' settings take them, in milliseconds: a number of
/// milliseconds, or a number and one of the units `us`, `ms`, `s`, `min`, `h`, `d`.
/// The error says what is wrong.
pub fn duration_millis(value: &str) -> Result<f64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!("invalid duration \"{value}\": expected a number and a unit, as 30s")
    })?;
    let ms_per_unit = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => {
            return Err(format!(
                "invalid unit \"{other}\": valid units are us, ms, s, min, h and d"
            ))
        }
    };
    let ms = number * ms_per_unit;
    match ms.is_finite() {
        true => Ok(ms),
        false => Err(format!("invalid duration \"{value}\": out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_postgres_reads_them() {
        assert_eq!(parse_timeout("0"), Some(None));
        assert_eq!(parse_timeout("250"), Some(Some(Duration::from_millis(250))));
        assert_eq!(parse_timeout("2s"), Some(Some(Duration::from_secs(2))));
        assert_eq!(parse_timeout("1 min"), Some(Some(Duration::from_secs(60))));
        assert_eq!(
            parse_timeout("1.5s"),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("5 parsecs"), None);
    }

    #[tokio::test]
    async fn a_cancel_stops_only_the_armed_read() {
        let cancels = Cancels::default();
        let rx = cancels.arm(7);
        cancels.cancel(8);
        cancels.cancel(7);
        let err = cancellable(std::future::pending::<Result<(), SqlError>>(), rx, None)
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate, SqlState::QUERY_CANCELED);
        // Nothing is armed any more: a second cancel does nothing.
        cancels.cancel(7);
        let rx = cancels.arm(7);
        let ok = cancellable(async { Ok::<_, SqlError>(1) }, rx, None).await;
        assert_eq!(ok, Ok(1));
    }

    #[tokio::test]
    async fn a_timeout_stops_a_read() {
        let rx = Cancels::default().arm(1);
        let read = std::future::pending::<Result<(), SqlError>>();
        let err = cancellable(read, rx, Some(Duration::from_millis(10)))
            .await
            .unwrap_err();
        assert_eq!(err.message, "canceling statement due to statement timeout");
    }
}
