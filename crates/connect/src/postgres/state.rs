//! The current rows of every table a Postgres source reads, and how decoded changes
//! become updates of them.
//!
//! Each table keeps its rows keyed by its replica identity: the primary key (or the
//! identity index's columns) maps to the current row; a table with REPLICA IDENTITY
//! FULL and no primary key keeps a count per whole row (it may hold duplicates). So:
//! - an INSERT adds the row (replacing, and retracting, a row of the same key, which a
//!   correct stream never has);
//! - an UPDATE retracts the row of the old key (the old image's key when it carries one:
//!   a primary-key change) and adds the new row; a column sent as unchanged TOAST takes
//!   its value from the current row;
//! - a DELETE retracts the row of its key, and is harmless when there is none;
//! - a TRUNCATE retracts every row of the table.
//!
//! A restarted source rebuilds the state from the collection's current rows
//! ([`Tables::load`]), so restarting changes nothing.
//!
//! A table whose change cannot be applied (a value that does not parse, an unchanged
//! TOAST value without a current row, a schema change upstream that is not handled)
//! goes into an error state: its error is reported once, its later changes are
//! skipped, and the other tables keep flowing.
//!
//! Schema changes (Relation messages): the same columns, or the same columns followed by
//! new ones, are fine: new trailing columns (ALTER TABLE ADD COLUMN) are not read (the
//! Eddy table keeps its columns) and are listed in [`TableStatus::ignored_columns`].
//! Anything else (a dropped, renamed, re-typed or reordered column) is an error for that
//! table.

use std::collections::HashMap;

use eddy_repr::strconv::parse_datum;
use eddy_repr::{Datum, Diff, Row, ScalarType};

use super::discover::PgTable;
use super::pgoutput::{Message, OldImage, Relation, Value};

/// One table's state and what the status shows of it.
#[derive(Debug)]
struct TableState {
    table: PgTable,
    types: Vec<ScalarType>,
    /// Identity key → current row (tables with identity columns short of the whole row).
    rows: HashMap<Row, Row>,
    /// Whole row → how many times it is there (FULL without a primary key).
    counts: HashMap<Row, i64>,
    /// Whether rows are counted by whole row.
    whole_row: bool,
    status: TableStatus,
}

/// What the status reports of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStatus {
    /// The table's name in Eddy.
    pub name: String,
    /// Why the table stopped, if it did; its changes are skipped from then on.
    pub error: Option<String>,
    /// Columns added upstream after the source was created: not read.
    pub ignored_columns: Vec<String>,
}

/// The state of every table of a source, by position in its table list.
#[derive(Debug)]
pub(crate) struct Tables {
    tables: Vec<TableState>,
    by_oid: HashMap<u32, usize>,
}

/// An update of one table: (table position, row, diff).
pub(crate) type Update = (usize, Row, Diff);

impl Tables {
    pub(crate) fn new(tables: Vec<PgTable>) -> Tables {
        let by_oid = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
        let tables = tables
            .into_iter()
            .map(|table| TableState {
                types: table
                    .columns
                    .iter()
                    .map(|c| c.column_type.scalar_type)
                    .collect(),
                whole_row: table.identity_columns.len() == table.columns.len()
                    && table.primary_key.is_empty(),
                rows: HashMap::new(),
                counts: HashMap::new(),
                status: TableStatus {
                    name: table.name.clone(),
                    ..TableStatus::default()
                },
                table,
            })
            .collect();
        Tables { tables, by_oid }
    }

    /// Loads current rows (a restarted source's collection) without making updates.
    pub(crate) fn load(&mut self, rows: impl IntoIterator<Item = (usize, Row)>) {
        for (table, row) in rows {
            let Some(t) = self.tables.get_mut(table) else {
                continue;
            };
            if t.whole_row {
                *t.counts.entry(row).or_insert(0) += 1;
            } else {
                let key = t.key_of(&row.unpack());
                t.rows.insert(key, row);
            }
        }
    }

    /// Retracts every current row of every table and empties the state.
    pub(crate) fn clear(&mut self, out: &mut Vec<Update>) {
        for i in 0..self.tables.len() {
            self.tables[i].truncate(i, out);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.len()
    }

    pub(crate) fn table(&self, i: usize) -> &PgTable {
        &self.tables[i].table
    }

    pub(crate) fn statuses(&self) -> Vec<TableStatus> {
        self.tables.iter().map(|t| t.status.clone()).collect()
    }

    pub(crate) fn failed(&self, i: usize) -> bool {
        self.tables[i].status.error.is_some()
    }

    /// Puts table `i` into its error state (once); returns the error to report, if new.
    pub(crate) fn fail(&mut self, i: usize, error: String) -> Option<(usize, String)> {
        let t = &mut self.tables[i];
        if t.status.error.is_some() {
            return None;
        }
        let error = format!(
            "table \"{}\" ({}): {error}",
            t.table.name,
            t.table.upstream()
        );
        tracing::warn!(table = %t.table.name, %error, "postgres source table failed");
        t.status.error = Some(error.clone());
        t.rows = HashMap::new();
        t.counts = HashMap::new();
        Some((i, error))
    }

    /// Adds a snapshot row (text columns as COPY wrote them, `None` for NULL).
    pub(crate) fn snapshot_row(
        &mut self,
        i: usize,
        values: Vec<Option<String>>,
        out: &mut Vec<Update>,
    ) -> Result<(), String> {
        let values: Vec<Value> = values
            .into_iter()
            .map(|v| v.map_or(Value::Null, Value::Text))
            .collect();
        let t = &mut self.tables[i];
        let row = t.row_of(&values, None)?;
        t.insert(i, row, out);
        Ok(())
    }

    /// Applies one decoded message. Changes of failed tables and of tables the source
    /// does not read are skipped. `Err((table, error))` when a table cannot go on: the
    /// caller fails it (its updates from this message are not in `out`).
    pub(crate) fn apply(
        &mut self,
        message: Message,
        out: &mut Vec<Update>,
    ) -> Result<(), (usize, String)> {
        let rel = match &message {
            Message::Relation(r) => r.oid,
            Message::Insert { rel, .. }
            | Message::Update { rel, .. }
            | Message::Delete { rel, .. } => *rel,
            Message::Truncate { rels } => {
                for rel in rels {
                    if let Some(&i) = self.by_oid.get(rel) {
                        if !self.failed(i) {
                            self.tables[i].truncate(i, out);
                        }
                    }
                }
                return Ok(());
            }
            Message::Ignored => return Ok(()),
        };
        let Some(&i) = self.by_oid.get(&rel) else {
            return Ok(());
        };
        if self.failed(i) {
            return Ok(());
        }
        let t = &mut self.tables[i];
        let result = match message {
            Message::Relation(relation) => t.check_relation(&relation),
            Message::Insert { new, .. } => t.row_of(&new, None).map(|row| t.insert(i, row, out)),
            Message::Update { old, new, .. } => t.update(i, old, new, out),
            Message::Delete { old, .. } => t.delete(i, old, out),
            Message::Truncate { .. } | Message::Ignored => Ok(()),
        };
        result.map_err(|e| (i, e))
    }
}

impl TableState {
    /// The identity key of a full row's datums.
    fn key_of(&self, datums: &[Datum]) -> Row {
        Row::pack(self.table.identity_columns.iter().map(|&c| &datums[c]))
    }

    /// The row a tuple describes: its first columns (columns added upstream later are
    /// not read); unchanged TOAST values from `current`.
    fn row_of(&self, values: &[Value], current: Option<&Row>) -> Result<Row, String> {
        let arity = self.types.len();
        if values.len() < arity {
            return Err(format!(
                "a change with {} columns, but the table has {arity}",
                values.len()
            ));
        }
        let current = current.map(Row::unpack);
        let mut datums = Vec::with_capacity(arity);
        for (c, value) in values[..arity].iter().enumerate() {
            datums.push(match value {
                Value::Null => Datum::Null,
                Value::Text(text) => parse_datum(text, &self.types[c]).map_err(|e| {
                    format!("column \"{}\": {}", self.table.columns[c].name, e.message)
                })?,
                Value::Unchanged => match &current {
                    Some(row) => row[c].clone(),
                    None => {
                        return Err(format!(
                            "an update leaves column \"{}\" unchanged (TOAST) but the row it \
                             updates is not there",
                            self.table.columns[c].name
                        ))
                    }
                },
            });
        }
        Ok(Row::from_datums(datums))
    }

    /// The identity key in an old image (`K`: key columns only; `O`: the whole row).
    fn old_key(&self, image: &[Value]) -> Result<Row, String> {
        let mut datums = Vec::with_capacity(self.table.identity_columns.len());
        for &c in &self.table.identity_columns {
            datums.push(match image.get(c) {
                Some(Value::Text(text)) => parse_datum(text, &self.types[c]).map_err(|e| {
                    format!("column \"{}\": {}", self.table.columns[c].name, e.message)
                })?,
                Some(Value::Null) => Datum::Null,
                Some(Value::Unchanged) | None => {
                    return Err(format!(
                        "an old row image without key column \"{}\"",
                        self.table.columns[c].name
                    ))
                }
            });
        }
        Ok(Row::from_datums(datums))
    }

    fn insert(&mut self, i: usize, row: Row, out: &mut Vec<Update>) {
        if self.whole_row {
            *self.counts.entry(row.clone()).or_insert(0) += 1;
            out.push((i, row, 1));
            return;
        }
        let key = self.key_of(&row.unpack());
        match self.rows.insert(key, row.clone()) {
            Some(old) if old == row => {}
            Some(old) => {
                out.push((i, old, -1));
                out.push((i, row, 1));
            }
            None => out.push((i, row, 1)),
        }
    }

    fn update(
        &mut self,
        i: usize,
        old: Option<(OldImage, Vec<Value>)>,
        new: Vec<Value>,
        out: &mut Vec<Update>,
    ) -> Result<(), String> {
        if self.whole_row {
            let Some((OldImage::Full, old)) = old else {
                return Err(
                    "an update without the old row (REPLICA IDENTITY FULL expected)".into(),
                );
            };
            let old_row = self.row_of(&old, None)?;
            let new_row = self.row_of(&new, Some(&old_row))?;
            if old_row == new_row {
                return Ok(());
            }
            self.remove_one(i, old_row, out);
            self.insert(i, new_row, out);
            return Ok(());
        }
        let old_key = match &old {
            Some((_, image)) => self.old_key(image)?,
            // Without an old image the key did not change: it is in the new row. Only
            // the key's columns are read here, so an unchanged TOAST value elsewhere is
            // fine.
            None => self.old_key(&new)?,
        };
        let current = self.rows.get(&old_key).cloned();
        // With REPLICA IDENTITY FULL, the old image has every value.
        let fill = match (&current, &old) {
            (Some(row), _) => Some(row.clone()),
            (None, Some((OldImage::Full, image))) => Some(self.row_of(image, None)?),
            (None, _) => None,
        };
        let new_row = self.row_of(&new, fill.as_ref())?;
        if current.as_ref() == Some(&new_row) {
            return Ok(());
        }
        if let Some(current) = self.rows.remove(&old_key) {
            out.push((i, current, -1));
        }
        self.insert(i, new_row, out);
        Ok(())
    }

    fn delete(
        &mut self,
        i: usize,
        (image, old): (OldImage, Vec<Value>),
        out: &mut Vec<Update>,
    ) -> Result<(), String> {
        if self.whole_row {
            if image != OldImage::Full {
                return Err("a delete without the old row (REPLICA IDENTITY FULL expected)".into());
            }
            let row = self.row_of(&old, None)?;
            self.remove_one(i, row, out);
            return Ok(());
        }
        let key = self.old_key(&old)?;
        if let Some(row) = self.rows.remove(&key) {
            out.push((i, row, -1));
        }
        Ok(())
    }

    /// Removes one copy of a whole row, if there is one.
    fn remove_one(&mut self, i: usize, row: Row, out: &mut Vec<Update>) {
        if let Some(count) = self.counts.get_mut(&row) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&row);
            }
            out.push((i, row, -1));
        }
    }

    fn truncate(&mut self, i: usize, out: &mut Vec<Update>) {
        for (_, row) in self.rows.drain() {
            out.push((i, row, -1));
        }
        for (row, count) in self.counts.drain() {
            out.push((i, row, -count));
        }
    }

    /// Checks a Relation message against the columns the table was created with.
    fn check_relation(&mut self, relation: &Relation) -> Result<(), String> {
        let expected = &self.table.columns;
        let same = relation.columns.len() >= expected.len()
            && expected
                .iter()
                .zip(&relation.columns)
                .all(|(e, r)| e.name == r.name && e.type_oid == r.type_oid && e.typmod == r.typmod);
        if !same {
            let was: Vec<&str> = expected.iter().map(|c| c.name.as_str()).collect();
            let now: Vec<&str> = relation.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "its columns changed upstream (dropped, renamed or of another type): \
                 it had ({}), it now has ({}); re-create the source to read it again",
                was.join(", "),
                now.join(", ")
            ));
        }
        let added: Vec<String> = relation.columns[expected.len()..]
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if added != self.status.ignored_columns {
            tracing::info!(table = %self.table.name, ?added, "columns added upstream are not read");
            self.status.ignored_columns = added;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::ScalarType;

    use super::*;
    use crate::postgres::discover::{PgColumn, ReplicaIdentity};
    use crate::postgres::pgoutput::{decode, tests::Payload, RelationColumn};

    fn table(identity: ReplicaIdentity, primary_key: bool) -> PgTable {
        let column = |name: &str, typ: ScalarType, oid: u32| PgColumn {
            name: name.into(),
            column_type: typ.nullable(true),
            type_oid: oid,
            typmod: -1,
            type_name: String::new(),
        };
        PgTable {
            name: "t".into(),
            upstream_schema: "public".into(),
            upstream_name: "t".into(),
            oid: 7,
            columns: vec![
                column("id", ScalarType::Int32, 23),
                column("body", ScalarType::Text, 25),
            ],
            primary_key: if primary_key { vec![0] } else { vec![] },
            replica_identity: identity,
            identity_columns: if primary_key { vec![0] } else { vec![0, 1] },
        }
    }

    fn row(id: i32, body: &str) -> Row {
        Row::pack(&[Datum::Int32(id), Datum::String(body.into())])
    }

    fn apply(tables: &mut Tables, payload: Payload) -> Result<Vec<Update>, (usize, String)> {
        let mut out = Vec::new();
        tables.apply(decode(&payload.0).unwrap(), &mut out)?;
        Ok(out)
    }

    fn insert(values: &[Option<&str>]) -> Payload {
        Payload::tag(b'I').i32(7).u8(b'N').tuple(values)
    }

    #[test]
    fn keyed_changes_retract_what_they_replace() {
        let mut t = Tables::new(vec![table(ReplicaIdentity::PrimaryKey, true)]);
        assert_eq!(
            apply(&mut t, insert(&[Some("1"), Some("a")])).unwrap(),
            vec![(0, row(1, "a"), 1)]
        );
        // An update leaving the TOASTed body unchanged.
        let update = Payload::tag(b'U')
            .i32(7)
            .u8(b'N')
            .tuple(&[Some("1"), Some("<u>")]);
        assert_eq!(apply(&mut t, update).unwrap(), vec![]);
        // A primary-key change: the old key comes in a K image.
        let moved = Payload::tag(b'U')
            .i32(7)
            .u8(b'K')
            .tuple(&[Some("1"), None])
            .u8(b'N')
            .tuple(&[Some("2"), Some("<u>")]);
        assert_eq!(
            apply(&mut t, moved).unwrap(),
            vec![(0, row(1, "a"), -1), (0, row(2, "a"), 1)]
        );
        // Deleting a key that is not there changes nothing.
        let delete = |id: &str| Payload::tag(b'D').i32(7).u8(b'K').tuple(&[Some(id), None]);
        assert_eq!(apply(&mut t, delete("1")).unwrap(), vec![]);
        apply(&mut t, insert(&[Some("3"), Some("c")])).unwrap();
        let mut truncated = apply(&mut t, Payload::tag(b'T').i32(1).u8(0).i32(7)).unwrap();
        truncated.sort();
        assert_eq!(truncated, vec![(0, row(2, "a"), -1), (0, row(3, "c"), -1)]);
        // Changes of other relations are not ours.
        let other = Payload::tag(b'I').i32(8).u8(b'N').tuple(&[Some("x")]);
        assert_eq!(apply(&mut t, other).unwrap(), vec![]);
        // An unchanged TOAST value for a row that is not there is an error.
        let orphan = Payload::tag(b'U')
            .i32(7)
            .u8(b'N')
            .tuple(&[Some("9"), Some("<u>")]);
        assert!(apply(&mut t, orphan)
            .unwrap_err()
            .1
            .contains("unchanged (TOAST)"));
        // A bad value too.
        let err = apply(&mut t, insert(&[Some("x"), None])).unwrap_err();
        assert_eq!(
            err,
            (
                0,
                "column \"id\": invalid input syntax for type integer: \"x\"".into()
            )
        );
    }

    #[test]
    fn full_identity_without_key_counts_rows() {
        let mut t = Tables::new(vec![table(ReplicaIdentity::Full, false)]);
        apply(&mut t, insert(&[Some("1"), Some("a")])).unwrap();
        apply(&mut t, insert(&[Some("1"), Some("a")])).unwrap();
        let update = Payload::tag(b'U')
            .i32(7)
            .u8(b'O')
            .tuple(&[Some("1"), Some("a")])
            .u8(b'N')
            .tuple(&[Some("1"), Some("b")]);
        assert_eq!(
            apply(&mut t, update).unwrap(),
            vec![(0, row(1, "a"), -1), (0, row(1, "b"), 1)]
        );
        let mut out = Vec::new();
        t.clear(&mut out);
        out.sort();
        assert_eq!(out, vec![(0, row(1, "a"), -1), (0, row(1, "b"), -1)]);
    }

    #[test]
    fn relation_changes_are_checked() {
        let mut t = Tables::new(vec![table(ReplicaIdentity::PrimaryKey, true)]);
        let relation = |columns: &[(&str, u32)]| {
            Message::Relation(Relation {
                oid: 7,
                namespace: "public".into(),
                name: "t".into(),
                replica_identity: b'd',
                columns: columns
                    .iter()
                    .map(|(name, oid)| RelationColumn {
                        key: false,
                        name: (*name).into(),
                        type_oid: *oid,
                        typmod: -1,
                    })
                    .collect(),
            })
        };
        let mut out = Vec::new();
        t.apply(
            relation(&[("id", 23), ("body", 25), ("extra", 25)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(t.statuses()[0].ignored_columns, vec!["extra".to_string()]);
        // A row with the new column reads the declared ones.
        assert_eq!(
            apply(&mut t, insert(&[Some("1"), Some("a"), Some("z")])).unwrap(),
            vec![(0, row(1, "a"), 1)]
        );
        let (i, error) = t
            .apply(relation(&[("id", 20), ("body", 25)]), &mut out)
            .unwrap_err();
        assert_eq!(i, 0);
        assert!(error.starts_with("its columns changed upstream"), "{error}");
        assert!(t.fail(0, error).is_some());
        // A failed table's changes are skipped.
        assert_eq!(
            apply(&mut t, insert(&[Some("2"), Some("b")])).unwrap(),
            vec![]
        );
    }
}
