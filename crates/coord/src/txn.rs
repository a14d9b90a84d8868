//! Transaction blocks and their write overlay.
//!
//! Inside `BEGIN ... COMMIT` (or the implicit block around a multi-statement query
//! string) writes are buffered in the session, not logged; COMMIT logs them all at one
//! timestamp. Until then, reads by that session see them through an overlay:
//!
//! Invariants:
//! - A read in a block sees exactly the committed state at its read time plus the
//!   block's own buffered writes, in tables and in every materialized view computed
//!   from them; no other session sees the buffered writes.
//! - A block's writes reach the log and the workers together, at one time, or not at
//!   all (ROLLBACK, a failed COMMIT, a closed session).
//! - After a failed statement the block refuses everything but COMMIT/ROLLBACK (25P02).

use std::collections::BTreeMap;

use eddy_expr::optimize::consolidate;
use eddy_expr::MirRelationExpr;
use eddy_repr::{Diff, GlobalId, Row};
use eddy_sql::ItemKind;

use crate::catalog::Catalog;

/// A block's buffered writes: the updates to each table, in statement order.
pub type TxnWrites = BTreeMap<GlobalId, Vec<(Row, Diff)>>;

#[derive(Debug, Default)]
pub enum TxnState {
    /// No explicit transaction: each statement commits on its own.
    #[default]
    Idle,
    /// Inside BEGIN ... COMMIT: writes are buffered and applied at COMMIT at one time.
    /// `implicit` marks the transaction Postgres wraps around a query string of several
    /// statements: it commits when the string ends, or rolls back if a statement fails.
    InBlock {
        writes: TxnWrites,
        implicit: bool,
        savepoints: Vec<Savepoint>,
    },
    /// A statement failed inside a block; everything but ROLLBACK/COMMIT and ROLLBACK
    /// TO SAVEPOINT is refused. The writes and savepoints are kept for the last.
    Failed {
        implicit: bool,
        writes: TxnWrites,
        savepoints: Vec<Savepoint>,
    },
}

/// `SAVEPOINT name`: how many buffered writes each table had then, so `ROLLBACK TO`
/// can undo the later ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Savepoint {
    pub name: String,
    pub lengths: BTreeMap<GlobalId, usize>,
}

impl Savepoint {
    /// A savepoint of `writes` as they are.
    pub fn of(name: String, writes: &TxnWrites) -> Savepoint {
        Savepoint {
            name,
            lengths: writes.iter().map(|(id, w)| (*id, w.len())).collect(),
        }
    }

    /// Undoes the writes made after this savepoint.
    pub fn roll_back(&self, writes: &mut TxnWrites) {
        writes.retain(|id, _| self.lengths.contains_key(id));
        for (id, w) in writes.iter_mut() {
            w.truncate(self.lengths[id]);
        }
    }
}

impl TxnState {
    /// A new block.
    pub fn begin(implicit: bool) -> Self {
        TxnState::InBlock {
            writes: BTreeMap::new(),
            implicit,
            savepoints: vec![],
        }
    }

    /// The block's buffered writes, if it has any.
    pub fn pending_writes(&self) -> Option<&TxnWrites> {
        match self {
            TxnState::InBlock { writes, .. } if writes.values().any(|w| !w.is_empty()) => {
                Some(writes)
            }
            _ => None,
        }
    }

    /// A failed statement fails the block it ran in (outside a block, nothing to do).
    pub fn fail(&mut self) {
        if let TxnState::InBlock { .. } = self {
            let TxnState::InBlock {
                writes,
                implicit,
                savepoints,
            } = std::mem::take(self)
            else {
                unreachable!("matched just above")
            };
            *self = TxnState::Failed {
                implicit,
                writes,
                savepoints,
            };
        }
    }
}

/// Whether reading item `id` must see some of `writes`: it is a written table, or a
/// materialized view computed (directly or through other views) from one.
pub fn reads_pending(catalog: &Catalog, id: GlobalId, writes: &TxnWrites) -> bool {
    if writes.get(&id).is_some_and(|w| !w.is_empty()) {
        return true;
    }
    catalog.get(id).is_some_and(|entry| {
        entry.kind == ItemKind::MaterializedView
            && entry
                .depends_on
                .iter()
                .any(|dep| reads_pending(catalog, *dep, writes))
    })
}

/// `expr` as a block with `writes` sees it: each `Get` of a written table becomes the
/// table plus those updates, and each `Get` of a materialized view that such a table
/// feeds becomes the view's plan (read one-off that way instead of from its
/// arrangement, which holds committed data only).
pub fn overlay(
    catalog: &Catalog,
    mut expr: MirRelationExpr,
    writes: &TxnWrites,
) -> MirRelationExpr {
    fn rewrite(catalog: &Catalog, expr: &mut MirRelationExpr, writes: &TxnWrites) {
        if let MirRelationExpr::Get { id, typ, .. } = expr {
            if let Some(pending) = writes.get(id).filter(|w| !w.is_empty()) {
                let constant = MirRelationExpr::Constant {
                    rows: pending.clone(),
                    typ: typ.clone(),
                };
                let get = std::mem::replace(expr, constant.clone());
                *expr = get.union(constant);
            } else if reads_pending(catalog, *id, writes) {
                if let Some(plan) = catalog.get(*id).and_then(|e| e.plan.clone()) {
                    *expr = plan;
                    rewrite(catalog, expr, writes);
                }
            }
            return;
        }
        for child in expr.children_mut() {
            rewrite(catalog, child, writes);
        }
    }
    rewrite(catalog, &mut expr, writes);
    expr
}

/// The updates a block commits: consolidated per table, without tables dropped since
/// they were written or whose updates cancel out.
pub fn committed_updates(
    catalog: &Catalog,
    writes: TxnWrites,
) -> Vec<(GlobalId, Vec<(Row, Diff)>)> {
    writes
        .into_iter()
        .filter(|(id, _)| catalog.get(*id).is_some())
        .map(|(id, mut rows)| {
            consolidate(&mut rows);
            (id, rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use eddy_repr::Datum;

    use super::*;
    use crate::catalog::fixtures::{desc, get};

    fn row(a: i32) -> Row {
        Row::pack(&[Datum::Int32(a)])
    }

    /// Table t, materialized view m over t, materialized view mm over m, and table u.
    fn catalog() -> (Catalog, [GlobalId; 4]) {
        let mut catalog = Catalog::default();
        let t = catalog.add_table("t");
        let m = catalog.add_view("m", ItemKind::MaterializedView, t);
        let mm = catalog.add_view("mm", ItemKind::MaterializedView, m);
        let u = catalog.add_table("u");
        (catalog, [t, m, mm, u])
    }

    #[test]
    fn views_fed_by_written_tables_read_pending_writes() {
        let (catalog, [t, m, mm, u]) = catalog();
        let writes = TxnWrites::from([(t, vec![(row(1), 1)])]);
        assert!(reads_pending(&catalog, t, &writes));
        assert!(reads_pending(&catalog, m, &writes));
        assert!(reads_pending(&catalog, mm, &writes));
        assert!(!reads_pending(&catalog, u, &writes));
        // A table written and then written back to nothing still counts as written.
        let empty = TxnWrites::from([(t, vec![])]);
        assert!(!reads_pending(&catalog, m, &empty));
    }

    #[test]
    fn overlay_adds_pending_rows_and_inlines_affected_views() {
        let (catalog, [t, _m, mm, u]) = catalog();
        let writes = TxnWrites::from([(t, vec![(row(1), 1), (row(2), -1)])]);
        let pending = MirRelationExpr::Constant {
            rows: vec![(row(1), 1), (row(2), -1)],
            typ: desc().types,
        };
        // A read of mm becomes mm's plan, which reads m, whose plan reads t plus the
        // block's writes.
        assert_eq!(
            overlay(&catalog, get(mm), &writes),
            get(t).union(pending.clone())
        );
        // Untouched inputs stay reads of their arrangements.
        assert_eq!(overlay(&catalog, get(u), &writes), get(u));
        assert_eq!(
            overlay(&catalog, get(u).union(get(t)), &writes),
            get(u).union(get(t).union(pending))
        );
    }

    #[test]
    fn commit_consolidates_and_skips_dropped_tables() {
        let (mut catalog, [t, _, _, u]) = catalog();
        let dropped = GlobalId::User(99);
        let writes = TxnWrites::from([
            (t, vec![(row(1), 1), (row(1), 1), (row(2), 1)]),
            (u, vec![(row(3), 1), (row(3), -1)]),
            (dropped, vec![(row(4), 1)]),
        ]);
        assert_eq!(
            committed_updates(&catalog, writes.clone()),
            vec![(t, vec![(row(1), 2), (row(2), 1)])]
        );
        catalog.remove(t);
        assert_eq!(committed_updates(&catalog, writes), vec![]);
    }

    #[test]
    fn a_failed_statement_fails_only_a_block() {
        let mut state = TxnState::Idle;
        state.fail();
        assert!(matches!(state, TxnState::Idle));
        let mut state = TxnState::begin(true);
        state.fail();
        assert!(matches!(state, TxnState::Failed { implicit: true, .. }));
    }
}
