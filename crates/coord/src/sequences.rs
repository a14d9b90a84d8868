//! Sequences (`CREATE SEQUENCE`, `serial` columns): their state, the values handed to
//! the planner, and what is logged so a restart never hands out a value twice.
//!
//! Invariants:
//! - Every value `nextval` returns is below the value a restart would start from: the
//!   log holds a reservation past it before any statement that used it is answered or
//!   any write holding it is logged ([`Coordinator::log_sequences`] runs after planning
//!   and before writing). Values reserved and not used are skipped after a restart (a
//!   gap, as Postgres leaves after a crash); `setval` is logged as set.
//! - Sequences are not transactional (as in Postgres): a value taken in a block that
//!   rolls back is not returned.
//! - A sequence a table's `serial` column owns is created and dropped with the table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use eddy_repr::{GlobalId, SqlError, SqlState};
use eddy_sql::SequenceAccess;

use crate::coord::Coordinator;
use crate::durable::LogRecord;

/// How many values one log record reserves ahead.
const RESERVE: i64 = 32;

/// One sequence's state.
#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    pub(crate) start: i64,
    pub(crate) increment: i64,
    /// The last value handed out (or set), and whether it was handed out (`nextval`
    /// returns the next one) or only set (`nextval` returns it).
    last: i64,
    is_called: bool,
    /// `(last, is_called)` as the log holds it: what a restart takes on.
    logged: (i64, bool),
    /// Whether the log needs a new record before the values handed out are used.
    dirty: bool,
    /// The table whose column owns it.
    pub(crate) owner: Option<GlobalId>,
    /// `currval` works after a `nextval` in this server's life.
    called_here: bool,
}

impl Sequence {
    pub(crate) fn new(start: i64, increment: i64, owner: Option<GlobalId>) -> Sequence {
        Sequence {
            start,
            increment,
            last: start,
            is_called: false,
            logged: (start, false),
            dirty: false,
            owner,
            called_here: false,
        }
    }

    /// The value `nextval` returns after `(last, is_called)`.
    fn next_after(&self, (last, is_called): (i64, bool)) -> Option<i64> {
        if is_called {
            last.checked_add(self.increment)
        } else {
            Some(last)
        }
    }

    /// Whether `value` is at or past `bound` in the sequence's direction.
    fn reaches(&self, value: i64, bound: i64) -> bool {
        if self.increment > 0 {
            value >= bound
        } else {
            value <= bound
        }
    }

    /// The state a restart takes on from a logged record.
    pub(crate) fn restore(&mut self, last: i64, is_called: bool) {
        self.last = last;
        self.is_called = is_called;
        self.logged = (last, is_called);
        self.dirty = false;
    }

    /// The record the log needs now, if any: a handed-out value reserves `RESERVE`
    /// values from it; a value set (not handed out) is logged as set.
    fn reservation(&mut self) -> Option<(i64, bool)> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        self.logged = if self.is_called {
            let upto = self
                .last
                .saturating_add(self.increment.saturating_mul(RESERVE - 1));
            (upto, true)
        } else {
            (self.last, false)
        };
        Some(self.logged)
    }
}

/// The coordinator's sequences, shared with the planner (see `eddy_sql::SequenceAccess`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sequences(Arc<SequenceTable>);

/// The sequences by `(schema, name)`, and whether any has a value to log: every
/// statement asks (`Coordinator::log_sequences`), and almost always none has.
#[derive(Debug, Default)]
pub(crate) struct SequenceTable {
    map: Mutex<BTreeMap<(String, String), Sequence>>,
    dirty: AtomicBool,
}

/// The record that gives sequence `schema.name` the state `(last, is_called)`.
fn value_record(schema: &str, name: &str, (last, is_called): (i64, bool)) -> LogRecord {
    LogRecord::SequenceValue {
        schema: schema.to_string(),
        name: name.to_string(),
        last,
        is_called,
    }
}

fn undefined(schema: &str, name: &str) -> SqlError {
    let shown = if schema == eddy_sql::PUBLIC_SCHEMA {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    };
    SqlError::undefined_table(&shown)
}

impl SequenceTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Sequence>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on sequence `schema.name` (42P01 when there is none); notes whether it
    /// left a value to log.
    fn with<T>(
        &self,
        schema: &str,
        name: &str,
        f: impl FnOnce(&mut Sequence) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let mut sequences = self.lock();
        let seq = sequences
            .get_mut(&(schema.to_string(), name.to_string()))
            .ok_or_else(|| undefined(schema, name))?;
        let result = f(seq);
        if seq.dirty {
            self.dirty.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Sequences {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Sequence>> {
        self.0.lock()
    }

    /// `nextval` of sequence `schema.name`, for a serial column the coordinator fills.
    pub(crate) fn nextval(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        self.0.nextval(schema, name)
    }

    pub(crate) fn access(&self) -> Arc<dyn SequenceAccess> {
        Arc::clone(&self.0) as Arc<dyn SequenceAccess>
    }

    /// An access for describing a statement: it answers without taking values.
    pub(crate) fn dry(&self) -> Arc<dyn SequenceAccess> {
        Arc::new(DryRun(self.clone()))
    }

    /// The log records that reserve what was handed out (or set) since the last call,
    /// marking them logged (the caller appends them before anything uses the values).
    fn reservations(&self) -> Vec<LogRecord> {
        let mut records = vec![];
        if !self.0.dirty.swap(false, Ordering::Relaxed) {
            return records;
        }
        for ((schema, name), seq) in self.lock().iter_mut() {
            if let Some(state) = seq.reservation() {
                records.push(value_record(schema, name, state));
            }
        }
        records
    }
}

impl SequenceAccess for SequenceTable {
    fn nextval(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        self.with(schema, name, |seq| {
            let next = seq.next_after((seq.last, seq.is_called)).ok_or_else(|| {
                SqlError::new(
                    SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
                    format!("nextval: reached maximum value of sequence \"{name}\""),
                )
            })?;
            seq.last = next;
            seq.is_called = true;
            seq.called_here = true;
            // A restart would hand out `next` (or a value past it) again: reserve.
            let restart_next = seq.next_after(seq.logged).unwrap_or(i64::MAX);
            if seq.reaches(next, restart_next) {
                seq.dirty = true;
            }
            Ok(next)
        })
    }

    fn currval(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        self.with(schema, name, |seq| {
            if !seq.called_here {
                return Err(SqlError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("currval of sequence \"{name}\" is not yet defined in this session"),
                ));
            }
            Ok(seq.last)
        })
    }

    fn setval(
        &self,
        schema: &str,
        name: &str,
        value: i64,
        is_called: bool,
    ) -> Result<i64, SqlError> {
        self.with(schema, name, |seq| {
            seq.last = value;
            seq.is_called = is_called;
            seq.dirty = true;
            Ok(value)
        })
    }
}

/// Describing a statement plans it: values must not be taken then.
#[derive(Debug)]
struct DryRun(Sequences);

impl SequenceAccess for DryRun {
    fn nextval(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        self.currval_or_start(schema, name)
    }

    fn currval(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        self.currval_or_start(schema, name)
    }

    fn setval(&self, schema: &str, name: &str, value: i64, _: bool) -> Result<i64, SqlError> {
        self.currval_or_start(schema, name).map(|_| value)
    }
}

impl DryRun {
    /// What `nextval` would return; 1 for a sequence that does not exist yet (one a
    /// views directory creates with its table: only the real run can tell).
    fn currval_or_start(&self, schema: &str, name: &str) -> Result<i64, SqlError> {
        let sequences = self.0.lock();
        Ok(sequences
            .get(&(schema.to_string(), name.to_string()))
            .map_or(1, |seq| {
                seq.next_after((seq.last, seq.is_called))
                    .unwrap_or(seq.last)
            }))
    }
}

impl Coordinator {
    /// Appends the reservations of the values handed out since the last call; runs
    /// after planning and before a statement writes or answers.
    pub(crate) fn log_sequences(&mut self) -> Result<(), SqlError> {
        let records = self.sequences.reservations();
        if records.is_empty() {
            return Ok(());
        }
        self.storage.append(&records)
    }

    /// `CREATE SEQUENCE`, or a `serial` column's (owned by table `owner`).
    pub(crate) fn create_sequence(
        &mut self,
        schema: &str,
        name: &str,
        start: i64,
        increment: i64,
        owner: Option<GlobalId>,
    ) -> Result<(), SqlError> {
        let key = (schema.to_string(), name.to_string());
        if self.sequences.lock().contains_key(&key) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        self.storage.append(&[LogRecord::CreateSequence {
            schema: schema.to_string(),
            name: name.to_string(),
            start,
            increment,
            owner,
        }])?;
        self.sequences
            .lock()
            .insert(key, Sequence::new(start, increment, owner));
        Ok(())
    }

    /// `DROP SEQUENCE`: a sequence a column owns cannot be dropped alone (2BP01).
    pub(crate) fn drop_sequences(
        &mut self,
        names: Vec<(String, String)>,
        if_exists: bool,
    ) -> Result<(), SqlError> {
        let mut found = vec![];
        {
            let sequences = self.sequences.lock();
            for (schema, name) in names {
                match sequences.get(&(schema.clone(), name.clone())) {
                    None if if_exists => {}
                    None => return Err(undefined(&schema, &name)),
                    Some(seq) if seq.owner.is_some() => {
                        return Err(SqlError::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "cannot drop sequence {name} because a column of a table uses it"
                            ),
                        )
                        .with_hint("Drop the table, which drops the sequence."))
                    }
                    Some(_) => found.push((schema, name)),
                }
            }
        }
        let records: Vec<LogRecord> = found
            .iter()
            .map(|(schema, name)| LogRecord::DropSequence {
                schema: schema.clone(),
                name: name.clone(),
            })
            .collect();
        self.storage.append(&records)?;
        let mut sequences = self.sequences.lock();
        for key in found {
            sequences.remove(&key);
        }
        Ok(())
    }

    /// Forgets the sequences table `id` owns (it was dropped).
    pub(crate) fn forget_owned_sequences(&mut self, id: GlobalId) {
        self.sequences.lock().retain(|_, seq| seq.owner != Some(id));
    }

    /// The records that recreate every sequence as it stands (for a snapshot).
    pub(crate) fn sequence_records(&self) -> Vec<LogRecord> {
        let mut records = vec![];
        for ((schema, name), seq) in self.sequences.lock().iter() {
            records.push(LogRecord::CreateSequence {
                schema: schema.clone(),
                name: name.clone(),
                start: seq.start,
                increment: seq.increment,
                owner: seq.owner,
            });
            // As the log holds it (`log_sequences` ran after the last statement).
            records.push(value_record(schema, name, seq.logged));
        }
        records
    }

    /// Recovery: applies a sequence record of the log.
    pub(crate) fn replay_sequence(&mut self, record: LogRecord) {
        let mut sequences = self.sequences.lock();
        match record {
            LogRecord::CreateSequence {
                schema,
                name,
                start,
                increment,
                owner,
            } => {
                sequences.insert((schema, name), Sequence::new(start, increment, owner));
            }
            LogRecord::SequenceValue {
                schema,
                name,
                last,
                is_called,
            } => {
                if let Some(seq) = sequences.get_mut(&(schema, name)) {
                    seq.restore(last, is_called);
                }
            }
            LogRecord::DropSequence { schema, name } => {
                sequences.remove(&(schema, name));
            }
            _ => {}
        }
    }
}
