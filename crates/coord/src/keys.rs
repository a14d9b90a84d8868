//! PRIMARY KEY and UNIQUE enforcement: for every table with keys, the values of each
//! of its key sets, kept by the coordinator next to the tables it writes.
//!
//! Invariant: after every committed write, each non-NULL value of a table's key set
//! appears in at most one of its rows, as Postgres' unique indexes guarantee. A key
//! holding a NULL is not counted and never conflicts (Postgres' default `NULLS
//! DISTINCT`; primary key columns are NOT NULL anyway). A write is checked against
//! every key set before it is made durable; one that would leave two rows with a key
//! fails with `23505` naming the constraint and changes nothing. The index holds one
//! entry per key value and is rebuilt from the tables' contents on recovery.

use std::collections::{BTreeMap, HashMap};

use eddy_repr::{Datum, Diff, GlobalId, Row, ScalarType};

use eddy_repr::SqlError;
use eddy_repr::SqlState;

/// One key set of a table: a primary key or a UNIQUE constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    /// The constraint's name (`<table>_pkey`, `<table>_<column>_key`, or as given).
    pub constraint: String,
    pub columns: Vec<usize>,
}

/// One key set's columns and the number of rows holding each (non-NULL) key value.
struct KeyCounts {
    set: KeySet,
    /// Column names and types, for messages.
    names: Vec<String>,
    types: Vec<ScalarType>,
    counts: HashMap<Row, Diff>,
}

impl KeyCounts {
    /// Key set `set` of a table with columns `desc`, counting nothing yet.
    fn new(set: KeySet, desc: &eddy_repr::RelationDesc) -> KeyCounts {
        KeyCounts {
            names: set.columns.iter().map(|c| desc.names[*c].clone()).collect(),
            types: set
                .columns
                .iter()
                .map(|c| desc.types[*c].scalar_type)
                .collect(),
            set,
            counts: HashMap::new(),
        }
    }

    /// Counts `rows` in.
    fn add<'a>(&mut self, rows: impl IntoIterator<Item = (&'a Row, Diff)>) {
        for (row, diff) in rows {
            if let Some(key) = self.key_of(row) {
                *self.counts.entry(key).or_insert(0) += diff;
            }
        }
        self.counts.retain(|_, n| *n != 0);
    }

    /// `(a, b)=(1, x)`: the key's columns and values, as Postgres' messages show them.
    fn describe(&self, key: &Row) -> String {
        let values: Vec<String> = key
            .iter()
            .zip(&self.types)
            .map(|(d, typ)| eddy_repr::strconv::format_datum(&d, typ))
            .collect();
        format!("({})=({})", self.names.join(", "), values.join(", "))
    }

    /// The key of `row`, or `None` when it holds a NULL (it conflicts with nothing).
    fn key_of(&self, row: &Row) -> Option<Row> {
        let datums = row.unpack();
        let key: Vec<&Datum> = self.set.columns.iter().map(|c| &datums[*c]).collect();
        if key.iter().any(|d| d.is_null()) {
            return None;
        }
        Some(Row::pack(key))
    }

    /// The first key value (in key order) that `delta` would leave in two rows.
    fn duplicate(&self, batches: &[&[(Row, Diff)]]) -> Option<Row> {
        let mut delta: HashMap<Row, Diff> = HashMap::new();
        for (row, diff) in batches.iter().flat_map(|b| b.iter()) {
            if let Some(key) = self.key_of(row) {
                *delta.entry(key).or_insert(0) += diff;
            }
        }
        delta
            .into_iter()
            .filter(|(key, d)| *d > 0 && self.counts.get(key).copied().unwrap_or(0) + *d > 1)
            .map(|(key, _)| key)
            .min()
    }
}

#[derive(Default)]
pub struct UniqueKeys {
    tables: BTreeMap<GlobalId, Vec<KeyCounts>>,
}

impl UniqueKeys {
    /// Starts tracking table `id` (columns `desc`) with key sets `sets`, whose
    /// contents are `rows`. A table without key sets is not tracked.
    pub fn add_table<'a>(
        &mut self,
        id: GlobalId,
        desc: &eddy_repr::RelationDesc,
        sets: Vec<KeySet>,
        rows: impl IntoIterator<Item = (&'a Row, Diff)>,
    ) {
        if sets.is_empty() {
            return;
        }
        let rows: Vec<(&Row, Diff)> = rows.into_iter().collect();
        let keys: Vec<KeyCounts> = sets
            .into_iter()
            .map(|set| {
                let mut keys = KeyCounts::new(set, desc);
                keys.add(rows.iter().copied());
                keys
            })
            .collect();
        self.tables.insert(id, keys);
    }

    /// The key sets of table `id`, its primary key first.
    pub fn key_sets(&self, id: GlobalId) -> impl Iterator<Item = &KeySet> {
        self.tables.get(&id).into_iter().flatten().map(|k| &k.set)
    }

    /// Renames what table `id`'s messages name (its constraints and columns, after a
    /// rename), keeping the counts: `sets` are its key sets again, on the same columns.
    pub fn relabel(&mut self, id: GlobalId, desc: &eddy_repr::RelationDesc, sets: Vec<KeySet>) {
        for (keys, set) in self.tables.get_mut(&id).into_iter().flatten().zip(sets) {
            debug_assert_eq!(keys.set.columns, set.columns, "a rename keeps the keys");
            keys.names = set.columns.iter().map(|c| desc.names[*c].clone()).collect();
            keys.set = set;
        }
    }

    pub fn remove_table(&mut self, id: GlobalId) {
        self.tables.remove(&id);
    }

    /// Checks that applying `batches` (in addition to what the table holds) leaves
    /// every key of every key set of table `id` in at most one row; the first set
    /// violated is reported.
    pub fn check(&self, id: GlobalId, batches: &[&[(Row, Diff)]]) -> Result<(), SqlError> {
        for keys in self.tables.get(&id).into_iter().flatten() {
            if let Some(key) = keys.duplicate(batches) {
                return Err(duplicate_key(keys, &key));
            }
        }
        Ok(())
    }

    /// Records a committed write to table `id`.
    pub fn apply(&mut self, id: GlobalId, rows: &[(Row, Diff)]) {
        for keys in self.tables.get_mut(&id).into_iter().flatten() {
            for (row, diff) in rows {
                let Some(key) = keys.key_of(row) else {
                    continue;
                };
                let count = keys.counts.entry(key.clone()).or_insert(0);
                *count += diff;
                if *count == 0 {
                    keys.counts.remove(&key);
                }
            }
        }
    }
}

/// `Key (cols)=(values) is duplicated.` for the first key of `set` that `rows` (of a
/// table with columns `desc`) hold twice; `None` when none is.
pub fn duplicated(
    desc: &eddy_repr::RelationDesc,
    set: &KeySet,
    rows: &[(Row, Diff)],
) -> Option<String> {
    let mut keys = KeyCounts::new(set.clone(), desc);
    keys.add(rows.iter().map(|(row, diff)| (row, *diff)));
    let key = keys
        .counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .min()?;
    Some(format!("Key {} is duplicated.", keys.describe(key)))
}

fn duplicate_key(keys: &KeyCounts, key: &Row) -> SqlError {
    SqlError::new(
        SqlState::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            keys.set.constraint
        ),
    )
    .with_detail(format!("Key {} already exists.", keys.describe(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, v: &str) -> Row {
        Row::pack(&[Datum::Int64(id), Datum::String(v.into())])
    }

    fn pkey() -> Vec<KeySet> {
        vec![KeySet {
            constraint: "t_pkey".into(),
            columns: vec![0],
        }]
    }

    fn keys() -> UniqueKeys {
        let mut keys = UniqueKeys::default();
        let existing = [row(1, "a"), row(2, "b")];
        let desc = eddy_repr::RelationDesc::empty()
            .with_column("id", ScalarType::Int64.nullable(false))
            .with_column("v", ScalarType::Text.nullable(true));
        keys.add_table(
            GlobalId::User(1),
            &desc,
            pkey(),
            existing.iter().map(|r| (r, 1)),
        );
        keys
    }

    #[test]
    fn duplicates_are_refused_and_replacements_allowed() {
        let mut keys = keys();
        let id = GlobalId::User(1);
        let err = keys.check(id, &[&[(row(1, "x"), 1)]]).unwrap_err();
        assert_eq!(err.sqlstate, "23505");
        assert_eq!(
            err.message,
            "duplicate key value violates unique constraint \"t_pkey\""
        );
        assert_eq!(err.detail.as_deref(), Some("Key (id)=(1) already exists."));
        // Two new rows with one key in one statement.
        assert!(keys
            .check(id, &[&[(row(3, "x"), 1), (row(3, "y"), 1)]])
            .is_err());
        // An UPDATE retracts the old row and inserts the new one.
        let update = [(row(1, "a"), -1), (row(1, "z"), 1)];
        keys.check(id, &[&update]).unwrap();
        keys.apply(id, &update);
        // A pending write of the same transaction counts.
        let pending = [(row(5, "p"), 1)];
        assert!(keys.check(id, &[&pending, &[(row(5, "q"), 1)]]).is_err());
        // Deleting a key frees it.
        keys.apply(id, &[(row(2, "b"), -1)]);
        keys.check(id, &[&[(row(2, "again"), 1)]]).unwrap();
        // Tables without a key are not checked.
        keys.check(GlobalId::User(9), &[&[(row(1, "a"), 5)]])
            .unwrap();
    }

    fn nullable_row(id: i64, v: Option<&str>) -> Row {
        Row::pack(&[
            Datum::Int64(id),
            v.map_or(Datum::Null, |v| Datum::String(v.into())),
        ])
    }

    #[test]
    fn every_key_set_is_checked_and_nulls_never_conflict() {
        let mut keys = UniqueKeys::default();
        let desc = eddy_repr::RelationDesc::empty()
            .with_column("id", ScalarType::Int64.nullable(false))
            .with_column("v", ScalarType::Text.nullable(true));
        let mut sets = pkey();
        sets.push(KeySet {
            constraint: "t_v_key".into(),
            columns: vec![1],
        });
        let existing = [nullable_row(1, Some("a")), nullable_row(2, None)];
        let id = GlobalId::User(1);
        keys.add_table(id, &desc, sets, existing.iter().map(|r| (r, 1)));
        let err = keys
            .check(id, &[&[(nullable_row(3, Some("a")), 1)]])
            .unwrap_err();
        assert_eq!(
            err.message,
            "duplicate key value violates unique constraint \"t_v_key\""
        );
        assert_eq!(err.detail.as_deref(), Some("Key (v)=(a) already exists."));
        // The primary key is reported first.
        let err = keys
            .check(id, &[&[(nullable_row(1, Some("a")), 1)]])
            .unwrap_err();
        assert!(err.message.contains("t_pkey"), "{err:?}");
        // Any number of NULLs.
        let nulls = [(nullable_row(3, None), 1), (nullable_row(4, None), 1)];
        keys.check(id, &[&nulls]).unwrap();
        keys.apply(id, &nulls);
        keys.check(id, &[&[(nullable_row(5, None), 1)]]).unwrap();
        assert_eq!(
            keys.key_sets(id)
                .map(|s| s.constraint.as_str())
                .collect::<Vec<_>>(),
            ["t_pkey", "t_v_key"]
        );
    }
}
