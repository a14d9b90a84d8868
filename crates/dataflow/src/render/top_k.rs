//! TopK: per group, the rows at positions `offset..offset+limit` in `order_key` order.
//!
//! Semantics (those of `MirRelationExpr::TopK`): rows are grouped by the `group_key`
//! columns and ordered by `order_key` (each column ascending or descending, NULLs first
//! or last, compared with [`Datum::sql_cmp`]); rows equal on the order key are ordered
//! by their encoding, so the choice among ties is the same on every run and worker
//! count. A row with multiplicity `n` occupies `n` positions.
//!
//! Strategy: with a limit, a two-level reduction. Level 1 keeps the first
//! `offset + limit` rows of each `(group, bucket)`, the bucket being a hash of the row;
//! level 2 picks the final rows from those survivors, so a change rescans one bucket
//! and the survivors rather than the whole group. Without a limit every row survives
//! level 1, so a single level is used.

use std::cmp::Ordering;

use eddy_expr::ColumnOrder;
use eddy_repr::{Datum, Diff, Row};

use super::operators::{append_datum, reduce_keyed, row_hash, row_prefix, KeyedArranged, Rendered};
use super::reduce::BUCKETS;

/// Compares two rows' order-key datums (in `order` order).
pub(crate) fn compare_order_keys(order: &[ColumnOrder], a: &[Datum], b: &[Datum]) -> Ordering {
    order
        .iter()
        .zip(a.iter().zip(b))
        .map(|(o, (x, y))| o.compare(x, y))
        .find(|ord| ord.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The rows at positions `offset..offset+limit` of `vals` (distinct rows, ascending by
/// encoding, with multiplicities) in order-key order, with the multiplicities they keep.
fn select(
    order: &[ColumnOrder],
    offset: usize,
    limit: Option<usize>,
    vals: &[(&Row, Diff)],
    out: &mut Vec<(Row, Diff)>,
) {
    let mut sorted: Vec<(Vec<Datum>, &Row, Diff)> = vals
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(row, count)| {
            let datums = row.unpack();
            let keys = order
                .iter()
                .map(|o| datums.get(o.column).cloned().unwrap_or(Datum::Null))
                .collect();
            (keys, *row, *count)
        })
        .collect();
    // Stable: rows equal on the order key stay in encoding order.
    sorted.sort_by(|a, b| compare_order_keys(order, &a.0, &b.0));
    let mut skip = i64::try_from(offset).unwrap_or(i64::MAX);
    let mut remaining = limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    for (_, row, count) in sorted {
        let mut count = count;
        let skipped = skip.min(count);
        skip -= skipped;
        count -= skipped;
        if count == 0 {
            continue;
        }
        if let Some(remaining) = remaining.as_mut() {
            if *remaining == 0 {
                break;
            }
            count = count.min(*remaining);
            *remaining -= count;
        }
        out.push((row.clone(), count));
    }
}

fn reduce_rows<'s, L>(
    name: &str,
    input: differential_dataflow::VecCollection<'s, super::operators::Time, (Row, Row), Diff>,
    logic: L,
) -> KeyedArranged<'s>
where
    L: FnMut(&[(&Row, Diff)], &mut Vec<(Row, Diff)>) + 'static,
{
    reduce_keyed(
        input.arrange_by_key_named(&format!("{name}Arrange")),
        name,
        logic,
    )
}

/// Renders a `TopK`.
pub(crate) fn render_top_k<'s>(
    name: &str,
    input: Rendered<'s>,
    group_key: Vec<usize>,
    order_key: Vec<ColumnOrder>,
    limit: Option<usize>,
    offset: usize,
) -> Rendered<'s> {
    let key_arity = group_key.len();
    let hierarchical = limit.is_some();
    let keyed = input.oks.map(move |row: Row| {
        let key = super::operators::group_key(&row, &group_key);
        let key = if hierarchical {
            append_datum(&key, &Datum::Int64((row_hash(&row) % BUCKETS) as i64))
        } else {
            key
        };
        (key, row)
    });
    let level2_input = if let Some(limit) = limit {
        let keep = offset.saturating_add(limit);
        let order = order_key.clone();
        reduce_rows(&format!("{name}/TopKLevel1"), keyed, move |vals, out| {
            select(&order, 0, Some(keep), vals, out)
        })
        .as_collection(move |key, row| (row_prefix(key, key_arity), row.clone()))
    } else {
        keyed
    };
    let oks = reduce_rows(&format!("{name}/TopK"), level2_input, move |vals, out| {
        select(&order_key, offset, limit, vals, out)
    })
    .as_collection(|_key, row| row.clone());
    Rendered {
        oks,
        errs: input.errs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_with_multiplicities_offset_and_nulls() {
        let order = [ColumnOrder {
            column: 0,
            desc: true,
            nulls_last: true,
        }];
        let rows: Vec<Row> = [
            Datum::Int32(1),
            Datum::Null,
            Datum::Int32(3),
            Datum::Int32(2),
        ]
        .iter()
        .map(|d| Row::pack([d.clone()].iter()))
        .collect();
        let vals: Vec<(&Row, Diff)> = rows.iter().map(|r| (r, 2)).collect();
        let mut out = Vec::new();
        select(&order, 1, Some(4), &vals, &mut out);
        let got: Vec<(Datum, Diff)> = out
            .iter()
            .map(|(r, c)| (r.unpack()[0].clone(), *c))
            .collect();
        assert_eq!(
            got,
            vec![
                (Datum::Int32(3), 1),
                (Datum::Int32(2), 2),
                (Datum::Int32(1), 1)
            ]
        );
    }
}
