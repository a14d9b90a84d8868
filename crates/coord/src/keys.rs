//! PRIMARY KEY enforcement: the set of key values of every table that has a primary
//! key, kept by the coordinator next to the tables it writes.
//!
//! Invariant: after every committed write, each key of a table appears in at most one
//! of its rows, as Postgres' unique index guarantees. A write is checked before it is
//! made durable; one that would leave two rows with a key fails with `23505` and
//! changes nothing. The index holds one entry per row (the key's packed datums), and is
//! rebuilt from the tables' contents on recovery.

use std::collections::{BTreeMap, HashMap};

use eddy_repr::{Datum, Diff, GlobalId, Row, ScalarType};

use eddy_repr::SqlError;
use eddy_repr::SqlState;

/// A table's key columns and the number of rows holding each key value.
struct TableKeys {
    /// Constraint name (`<table>_pkey`), column names and types, for messages.
    constraint: String,
    names: Vec<String>,
    types: Vec<ScalarType>,
    columns: Vec<usize>,
    counts: HashMap<Row, Diff>,
}

impl TableKeys {
    fn key_of(&self, row: &Row) -> Row {
        let datums = row.unpack();
        Row::pack(self.columns.iter().map(|c| &datums[*c]))
    }
}

#[derive(Default)]
pub struct PrimaryKeys {
    tables: BTreeMap<GlobalId, TableKeys>,
}

impl PrimaryKeys {
    /// Starts tracking table `id`, keyed on `columns` of `desc`, whose contents are
    /// `rows`.
    pub fn add_table<'a>(
        &mut self,
        id: GlobalId,
        table: &str,
        desc: &eddy_repr::RelationDesc,
        columns: Vec<usize>,
        rows: impl IntoIterator<Item = (&'a Row, Diff)>,
    ) {
        let mut keys = TableKeys {
            constraint: format!("{table}_pkey"),
            names: columns.iter().map(|c| desc.names[*c].clone()).collect(),
            types: columns.iter().map(|c| desc.types[*c].scalar_type).collect(),
            columns,
            counts: HashMap::new(),
        };
        for (row, diff) in rows {
            let key = keys.key_of(row);
            *keys.counts.entry(key).or_insert(0) += diff;
        }
        keys.counts.retain(|_, n| *n != 0);
        self.tables.insert(id, keys);
    }

    /// The primary key of table `id`: its constraint's name and its columns.
    pub fn key_of_table(&self, id: GlobalId) -> Option<(&str, &[usize])> {
        self.tables
            .get(&id)
            .map(|keys| (keys.constraint.as_str(), keys.columns.as_slice()))
    }

    pub fn remove_table(&mut self, id: GlobalId) {
        self.tables.remove(&id);
    }

    /// Checks that applying `batches` (in addition to what the table holds) leaves
    /// every key of table `id` in at most one row.
    pub fn check(&self, id: GlobalId, batches: &[&[(Row, Diff)]]) -> Result<(), SqlError> {
        let Some(keys) = self.tables.get(&id) else {
            return Ok(());
        };
        let mut delta: HashMap<Row, Diff> = HashMap::new();
        for (row, diff) in batches.iter().flat_map(|b| b.iter()) {
            *delta.entry(keys.key_of(row)).or_insert(0) += diff;
        }
        // Report the first offending key in key order, so the message is deterministic.
        let mut duplicates: Vec<&Row> = delta
            .iter()
            .filter(|(key, d)| **d > 0 && keys.counts.get(*key).copied().unwrap_or(0) + **d > 1)
            .map(|(key, _)| key)
            .collect();
        duplicates.sort();
        match duplicates.first() {
            None => Ok(()),
            Some(key) => Err(duplicate_key(keys, key)),
        }
    }

    /// Records a committed write to table `id`.
    pub fn apply(&mut self, id: GlobalId, rows: &[(Row, Diff)]) {
        let Some(keys) = self.tables.get_mut(&id) else {
            return;
        };
        for (row, diff) in rows {
            let key = keys.key_of(row);
            let count = keys.counts.entry(key.clone()).or_insert(0);
            *count += diff;
            if *count == 0 {
                keys.counts.remove(&key);
            }
        }
    }
}

fn duplicate_key(keys: &TableKeys, key: &Row) -> SqlError {
    let values: Vec<String> = key
        .iter()
        .zip(&keys.types)
        .map(|(d, typ)| match d {
            Datum::Null => "null".to_string(),
            d => eddy_repr::strconv::format_datum(&d, typ),
        })
        .collect();
    SqlError::new(
        SqlState::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            keys.constraint
        ),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        keys.names.join(", "),
        values.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, v: &str) -> Row {
        Row::pack(&[Datum::Int64(id), Datum::String(v.into())])
    }

    fn keys() -> PrimaryKeys {
        let mut keys = PrimaryKeys::default();
        let existing = [row(1, "a"), row(2, "b")];
        let desc = eddy_repr::RelationDesc::empty()
            .with_column("id", ScalarType::Int64.nullable(false))
            .with_column("v", ScalarType::Text.nullable(true));
        keys.add_table(
            GlobalId::User(1),
            "t",
            &desc,
            vec![0],
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
}
