//! SELECT, EXPLAIN, and every read a statement makes.
//!
//! Invariants:
//! - A read happens at one time, the oracle's read time when the statement's turn
//!   comes, for every input it reads (`timestamp.rs`).
//! - A Map/Filter/Project over a table or materialized view is a peek of its
//!   arrangement (the MFP runs on the workers, `#0 = literal` prefixes seek); anything
//!   else is a one-off dataflow over the existing arrangements, dropped once it has
//!   answered, whatever the outcome. A table read whose predicates pin the leading
//!   columns of one of its indexes to constants (more of them than of the table's own
//!   order), or as many and bound the next key column to a range (`b > 5`, `b BETWEEN
//!   1 AND 9`, `a = 1 AND b < 3`), peeks that index instead: its arrangement is
//!   sorted by its key, so the read seeks to the first row and stops after the last,
//!   and costs the rows in the range ([`IndexedRead`]).
//! - Inside a transaction block a read sees the block's writes (`txn.rs`).
//! - The coordinator never waits for a SELECT: its answer is awaited by a task of its
//!   own. Writes that read first (`INSERT ... SELECT`, UPDATE) do wait, in order.

use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use eddy_dataflow::{DataflowDesc, PeekError, PeekResult, PeekSpec, RowLayout};
use eddy_expr::mfp::LiteralRange;
use eddy_expr::optimize::{consolidate, eval_constant};
use eddy_expr::{ColumnOrder, MapFilterProject, MirRelationExpr};
use eddy_repr::copy::CopyFormat;
use eddy_repr::row::KeyRange;
use eddy_repr::{Datum, Diff, GlobalId, RelationDesc, Row, ScalarType, SqlError, SqlState};
use eddy_sql::{Plan, RowSetFinishing};
use tokio::sync::{mpsc, oneshot};

use crate::cancel::cancellable;
use crate::command::{Command, ExecuteResponse};
use crate::coord::{Coordinator, Finish};
use crate::sequence::drop_transient;
use crate::txn;

type Rows = Vec<(Row, Diff)>;

impl Coordinator {
    /// Starts a SELECT; a task of its own finishes the rows and answers.
    /// `COPY ... TO STDOUT`: the SELECT's rows, answered as COPY data in `format`.
    pub(crate) fn sequence_copy_to(
        &mut self,
        session_id: u64,
        select: Plan,
        format: CopyFormat,
        finish: Finish,
    ) {
        let Plan::Select {
            expr,
            finishing,
            desc,
        } = select
        else {
            finish.send(Err(SqlError::internal("COPY TO without a SELECT")));
            return;
        };
        let (rows_finish, rows, tx) = finish.forward();
        self.sequence_select(session_id, expr, finishing, desc, rows_finish);
        tokio::spawn(async move {
            let result = match rows.await {
                Ok(Ok(ExecuteResponse::Rows { desc, rows })) => {
                    Ok(ExecuteResponse::CopyOut { desc, rows, format })
                }
                Ok(Ok(_)) => Err(SqlError::internal("COPY TO read no rows")),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(SqlError::internal("the COPY TO read was dropped")),
            };
            let _ = tx.send(result);
        });
    }

    pub(crate) fn sequence_select(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
        finishing: RowSetFinishing,
        desc: RelationDesc,
        finish: Finish,
    ) {
        match self.start_session_read(session_id, self.optimize(expr)) {
            Ok(read) => {
                self.metrics.peeks.fetch_add(1, Ordering::Relaxed);
                let cancel = self.cancels.arm(session_id);
                let timeout = self.sessions[&session_id].statement_timeout();
                tokio::spawn(async move {
                    let read = cancellable(read, cancel, timeout);
                    let result = read.await.map(|rows| ExecuteResponse::Rows {
                        desc,
                        rows: finish_rows(rows, &finishing),
                    });
                    finish.send(result);
                });
            }
            Err(e) => finish.send(Err(e)),
        }
    }

    /// Reads `expr` as `session_id` sees it, waiting for the answer (used by writes
    /// that read first).
    pub(super) async fn read_now(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
    ) -> Result<Rows, SqlError> {
        let read = self.start_session_read(session_id, expr)?;
        let cancel = self.cancels.arm(session_id);
        let timeout = self.sessions[&session_id].statement_timeout();
        cancellable(read, cancel, timeout).await
    }

    /// Starts reading `expr` as `session_id` sees it: inside a transaction block, the
    /// block's own buffered writes are part of every table it reads. A Map/Filter/
    /// Project over one table is linear, so it is applied to the pending updates
    /// directly and the read keeps its fast path; anything else reads each table plus
    /// its pending updates (see [`txn::overlay`]).
    fn start_session_read(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
    ) -> Result<impl Future<Output = Result<Rows, SqlError>> + Send + 'static, SqlError> {
        self.check_sources(&expr.depends_on())?;
        let pending = self
            .sessions
            .get(&session_id)
            .and_then(|s| s.txn.pending_writes());
        let mut extra = Vec::new();
        let expr = match pending {
            None => expr,
            Some(writes) => {
                let (mfp, input) = MapFilterProject::extract(&expr);
                match input {
                    // A table read directly takes the block's writes to it as they are;
                    // so does a view none of the written tables feed.
                    MirRelationExpr::Get { id, .. }
                        if !txn::reads_pending(&self.catalog, *id, writes) =>
                    {
                        for (row, diff) in writes.get(id).into_iter().flatten() {
                            if let Some(row) = mfp.apply_row(row)? {
                                extra.push((row, *diff));
                            }
                        }
                        expr
                    }
                    _ => txn::overlay(&self.catalog, expr, writes),
                }
            }
        };
        let read = self.start_read(expr);
        Ok(async move {
            let mut rows = read.await?;
            if !extra.is_empty() {
                rows.extend(extra);
                consolidate(&mut rows);
            }
            Ok(rows)
        })
    }

    /// Starts reading `expr` at the current read time. A Map/Filter/Project over an
    /// arranged collection reads that arrangement directly; anything else is built as
    /// a one-off dataflow over the existing arrangements and dropped after the read.
    fn start_read(&mut self, expr: MirRelationExpr) -> ReadFuture {
        let time = self.oracle.read_ts();
        if let Some(result) = eval_constant(&expr) {
            return ReadFuture::Ready(Some(result.map_err(SqlError::from)));
        }
        if let Some(read) = self.indexed_read(&expr) {
            // The workers seek the index's rows in the range, and apply the MFP (which
            // keeps every predicate) to them.
            let (mfp, _) = MapFilterProject::extract(&read.expr);
            let spec = PeekSpec::with_mfp(mfp).with_key_range(read.key_range());
            let rx = self.compute.peek_with(read.index, time, spec);
            return ReadFuture::Peek {
                rx,
                transient: None,
            };
        }
        let (mfp, input) = MapFilterProject::extract(&expr);
        if let MirRelationExpr::Get { id, .. } = input {
            let arranged = match self.catalog.get(*id) {
                Some(entry) => entry.is_arranged(),
                None => matches!(id, GlobalId::System(_)),
            };
            if arranged {
                // The workers apply the MFP as they scan, and seek to the rows its
                // `#0 = literal [AND #1 = literal ...]` predicates pin down.
                let prefix = mfp.literal_key_prefix(&input.typ());
                let spec = PeekSpec::with_mfp(mfp).with_key_prefix(&prefix);
                let rx = self.compute.peek_with(*id, time, spec);
                return ReadFuture::Peek {
                    rx,
                    transient: None,
                };
            }
        }
        self.next_transient += 1;
        let id = GlobalId::Transient(self.next_transient);
        self.compute.create_dataflow(DataflowDesc {
            id,
            name: format!("select-{}", self.next_transient),
            plan: expr,
            as_of: time,
            view: None,
            layout: RowLayout::Compact,
        });
        let rx = self.compute.peek(id, time);
        ReadFuture::Peek {
            rx,
            transient: Some((id, self.internal_tx.clone())),
        }
    }
}

/// A table read that one of its indexes serves: `expr` reads the index (its rows
/// put back in table order), and its predicates pin the index's first `prefix`
/// columns to constants and, if `range` is set, hold the next key column to a range
/// of values; a peek seeks to those rows of the index's sorted arrangement.
pub(crate) struct IndexedRead {
    pub(crate) index: GlobalId,
    pub(crate) expr: MirRelationExpr,
    pub(crate) prefix: Vec<Datum>,
    pub(crate) range: Option<LiteralRange>,
    /// How many leading columns of the index are its key (sorted).
    key_arity: usize,
}

impl IndexedRead {
    /// The rows of the index's arrangement the read seeks.
    pub(crate) fn key_range(&self) -> KeyRange {
        let range = self.range.as_ref().and_then(|range| {
            KeyRange::sorted_range(
                self.key_arity,
                &self.prefix,
                range.lower.as_ref(),
                range.upper.as_ref(),
            )
        });
        // (`literal_range` offers only sorted key columns; the prefix alone is a
        // wider range that holds the same rows.)
        range.unwrap_or_else(|| KeyRange::sorted_prefix(self.key_arity, &self.prefix))
    }

    /// How good a read it is: more pinned columns first, then a range.
    fn rank(&self) -> (usize, bool) {
        (self.prefix.len(), self.range.is_some())
    }

    /// `Index lookup: t_b_idx (b = 'x')`, or `Index range: t_a_b_idx (a = 1, b > 5,
    /// b <= 9)`, for EXPLAIN.
    pub(crate) fn describe(&self, catalog: &crate::catalog::Catalog) -> String {
        let Some(index) = catalog.get(self.index) else {
            return String::new();
        };
        let text = eddy_expr::explain::datum_text;
        let mut conditions: Vec<String> = self
            .prefix
            .iter()
            .zip(&index.desc.names)
            .map(|(value, column)| format!("{column} = {}", text(value)))
            .collect();
        let kind = match &self.range {
            None => "lookup",
            Some(range) => {
                let column = &index.desc.names[self.prefix.len()];
                match &range.lower {
                    Bound::Included(v) => conditions.push(format!("{column} >= {}", text(v))),
                    Bound::Excluded(v) => conditions.push(format!("{column} > {}", text(v))),
                    Bound::Unbounded => {}
                }
                match &range.upper {
                    Bound::Included(v) => conditions.push(format!("{column} <= {}", text(v))),
                    Bound::Excluded(v) => conditions.push(format!("{column} < {}", text(v))),
                    Bound::Unbounded => {}
                }
                "range"
            }
        };
        format!(
            "Index {kind}: {} ({})",
            index.qualified_name(),
            conditions.join(", ")
        )
    }
}

impl Coordinator {
    /// The index that serves `expr` (a Map/Filter/Project over a table or
    /// materialized view), if one pins more of its leading columns than the
    /// relation's own arrangement does, or as many and holds the next to a range.
    pub(crate) fn indexed_read(&self, expr: &MirRelationExpr) -> Option<IndexedRead> {
        let (mfp, input) = MapFilterProject::extract(expr);
        let MirRelationExpr::Get { id: table, .. } = input else {
            return None;
        };
        // Most relations have none: nothing more to look at.
        self.catalog.indexes_of(*table).next()?;
        let own = (mfp.literal_key_prefix(&input.typ()).len(), false);
        let mut best: Option<IndexedRead> = None;
        for index in self.catalog.indexes_of(*table) {
            let Some(MirRelationExpr::Project { outputs, .. }) = &index.plan else {
                continue;
            };
            // The index holds table column `outputs[p]` at `p`: read back in table order.
            let mut table_order = vec![0; outputs.len()];
            for (position, column) in outputs.iter().enumerate() {
                table_order[*column] = position;
            }
            let over_index = MirRelationExpr::Get {
                id: index.id,
                typ: index.desc.types.clone(),
                name: index.name.clone(),
            }
            .project(table_order);
            let rewritten = with_input(expr, &over_index);
            let (index_mfp, _) = MapFilterProject::extract(&rewritten);
            let prefix = index_mfp.literal_key_prefix(&index.desc.types);
            let key_arity = index.index_key.len();
            let range = (prefix.len() < key_arity)
                .then(|| index_mfp.literal_range(prefix.len(), &index.desc.types))
                .flatten();
            let read = IndexedRead {
                index: index.id,
                expr: rewritten,
                prefix,
                range,
                key_arity,
            };
            if read.rank() > own && best.as_ref().is_none_or(|b| read.rank() > b.rank()) {
                best = Some(read);
            }
        }
        best
    }
}

/// `expr`, a Map/Filter/Project chain over one input, over `input` instead.
fn with_input(expr: &MirRelationExpr, input: &MirRelationExpr) -> MirRelationExpr {
    match expr {
        MirRelationExpr::Map {
            input: inner,
            scalars,
        } => MirRelationExpr::Map {
            input: Box::new(with_input(inner, input)),
            scalars: scalars.clone(),
        },
        MirRelationExpr::Filter {
            input: inner,
            predicates,
        } => MirRelationExpr::Filter {
            input: Box::new(with_input(inner, input)),
            predicates: predicates.clone(),
        },
        MirRelationExpr::Project {
            input: inner,
            outputs,
        } => MirRelationExpr::Project {
            input: Box::new(with_input(inner, input)),
            outputs: outputs.clone(),
        },
        _ => input.clone(),
    }
}

/// `EXPLAIN`: the optimized plan, one row per line, after the index a read uses.
pub(super) fn explain(
    expr: MirRelationExpr,
    maintained: bool,
    index: Option<String>,
) -> ExecuteResponse {
    let text = eddy_expr::explain::explain(&expr, maintained);
    let text = match index {
        Some(index) => format!("{index}\n{text}"),
        None => text,
    };
    let desc = RelationDesc::empty().with_column("QUERY PLAN", ScalarType::Text.nullable(false));
    let rows = text
        .lines()
        .map(|l| Row::pack(&[Datum::String(l.to_string())]))
        .collect();
    ExecuteResponse::Rows { desc, rows }
}

/// A read in flight: a constant answer, or a peek (its MFP already applied by the
/// workers) whose one-off dataflow (if any) is dropped once it answers.
enum ReadFuture {
    Ready(Option<Result<Rows, SqlError>>),
    Peek {
        rx: oneshot::Receiver<PeekResult>,
        transient: Option<(GlobalId, mpsc::Sender<Command>)>,
    },
}

impl Future for ReadFuture {
    type Output = Result<Rows, SqlError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this {
            ReadFuture::Ready(result) => {
                Poll::Ready(result.take().expect("polled after completion"))
            }
            ReadFuture::Peek { rx, transient } => {
                let answer = match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(answer) => answer,
                };
                if let Some((id, tx)) = transient.take() {
                    drop_transient(id, tx);
                }
                Poll::Ready(match answer {
                    Err(_) => Err(SqlError::internal("compute workers stopped")),
                    Ok(Err(PeekError::Eval(e))) => Err(e.into()),
                    Ok(Err(PeekError::ResourceExhausted { limit })) => Err(SqlError::new(
                        SqlState::OUT_OF_MEMORY,
                        "out of memory",
                    )
                    .with_detail(format!(
                        "The query held more than {limit} in its dataflow's arrangements."
                    ))
                    .with_hint(
                        "Add join conditions or filters, or raise eddy serve --query-max-records \
                         or --query-max-bytes.",
                    )),
                    Ok(Err(other)) => Err(SqlError::internal(other.to_string())),
                    Ok(Ok(rows)) => Ok(rows),
                })
            }
        }
    }
}

impl Drop for ReadFuture {
    /// A read dropped before it answered (cancelled, timed out, or its client gone)
    /// still drops its one-off dataflow, which stops its work and frees its memory.
    fn drop(&mut self) {
        if let ReadFuture::Peek {
            transient: Some((id, tx)),
            ..
        } = self
        {
            drop_transient(*id, tx.clone());
        }
    }
}

/// Orders, offsets, limits and projects a SELECT's rows, expanding multiplicities.
fn finish_rows(rows: Rows, finishing: &RowSetFinishing) -> Vec<Row> {
    let mut unpacked: Vec<(Vec<Datum>, Diff)> = rows
        .into_iter()
        .filter(|(_, d)| *d > 0)
        .map(|(r, d)| (r.unpack(), d))
        .collect();
    unpacked.sort_by(|(a, _), (b, _)| ColumnOrder::compare_rows(&finishing.order_by, a, b));
    unpacked
        .iter()
        .flat_map(|(datums, diff)| std::iter::repeat_n(datums, *diff as usize))
        .skip(finishing.offset)
        .take(finishing.limit.unwrap_or(usize::MAX))
        .map(|datums| Row::pack(finishing.project.iter().map(|c| &datums[*c])))
        .collect()
}
