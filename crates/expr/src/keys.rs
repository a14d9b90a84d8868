//! Unique keys: sets of columns on which no two rows of a relation agree.
//!
//! A key `K` of a relation promises that for every value of the columns `K` the
//! relation holds at most one row, with multiplicity one, at every time. The empty key
//! promises at most one row. [`MirRelationExpr::keys`] derives keys from the keys of
//! what the expression reads (tables' primary keys, the keys of materialized views),
//! conservatively: a key it returns holds; a key it does not find may hold all the
//! same. Each returned key is sorted and has no duplicates.
//!
//! Where keys come from:
//! - `Reduce`: its group key columns (one row per group), the empty key without one;
//! - `TopK` with `LIMIT 1`: its group key columns;
//! - `Join`: the keys of every input put together, except the inputs whose key columns
//!   all equal columns of inputs kept (each of their rows is then determined);
//! - `Map`, `Filter`, `TopK`, `Threshold` keep their input's keys; `Project` keeps
//!   those whose columns it keeps; `Negate`, `Union` and `FlatMap` have none.

use eddy_repr::GlobalId;

use crate::{MirRelationExpr, MirScalarExpr};

impl MirRelationExpr {
    /// The keys of this expression's output; `get` gives those of an item it reads.
    pub fn keys(&self, get: &dyn Fn(GlobalId) -> Vec<Vec<usize>>) -> Vec<Vec<usize>> {
        let mut keys = match self {
            MirRelationExpr::Constant { rows, typ } => {
                let mut distinct: Vec<_> = rows.iter().map(|(row, _)| row).collect();
                distinct.sort();
                distinct.dedup();
                let once = distinct.len() == rows.len() && rows.iter().all(|(_, d)| *d == 1);
                match (once, rows.len()) {
                    (true, 0 | 1) => vec![vec![]],
                    (true, _) => vec![(0..typ.len()).collect()],
                    (false, _) => vec![],
                }
            }
            MirRelationExpr::Get { id, .. } => get(*id),
            MirRelationExpr::Map { input, .. }
            | MirRelationExpr::Filter { input, .. }
            | MirRelationExpr::TemporalFilter { input, .. }
            | MirRelationExpr::Watermarked { input, .. }
            | MirRelationExpr::Window { input, .. }
            | MirRelationExpr::Threshold { input } => input.keys(get),
            MirRelationExpr::Project { input, outputs } => input
                .keys(get)
                .into_iter()
                .filter_map(|key| {
                    key.iter()
                        .map(|c| outputs.iter().position(|o| o == c))
                        .collect::<Option<Vec<usize>>>()
                })
                .collect(),
            MirRelationExpr::Reduce { group_key, .. } => vec![(0..group_key.len()).collect()],
            MirRelationExpr::TopK {
                input,
                group_key,
                limit,
                ..
            } => {
                let mut keys = input.keys(get);
                if *limit == Some(1) {
                    keys.push(group_key.clone());
                }
                keys
            }
            MirRelationExpr::Join {
                inputs,
                equivalences,
            } => join_keys(inputs, equivalences, get),
            // UNION makes every round distinct, so the whole row is a key.
            MirRelationExpr::Recursive {
                distinct: true,
                base,
                ..
            } => vec![(0..base.arity()).collect()],
            MirRelationExpr::FlatMap { .. }
            | MirRelationExpr::Negate { .. }
            | MirRelationExpr::Union { .. }
            | MirRelationExpr::Recursive { .. }
            | MirRelationExpr::GetRecursive { .. } => vec![],
        };
        for key in &mut keys {
            key.sort_unstable();
            key.dedup();
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The key of a join: each input's shortest key at its offset, leaving out, in input
/// order, every input whose key columns all equal columns of inputs still in.
fn join_keys(
    inputs: &[MirRelationExpr],
    equivalences: &[Vec<MirScalarExpr>],
    get: &dyn Fn(GlobalId) -> Vec<Vec<usize>>,
) -> Vec<Vec<usize>> {
    let mut offsets = Vec::with_capacity(inputs.len());
    let mut offset = 0;
    let mut input_keys = Vec::with_capacity(inputs.len());
    for input in inputs {
        offsets.push(offset);
        offset += input.arity();
        let keys = input.keys(get);
        if keys.is_empty() {
            return vec![];
        }
        input_keys.push(keys);
    }
    let input_of = |column: usize| offsets.iter().rposition(|&o| o <= column).unwrap_or(0);
    // The plain columns each column is equated with.
    let equal_columns = |column: usize| -> Vec<usize> {
        equivalences
            .iter()
            .filter(|class| class.contains(&MirScalarExpr::Column(column)))
            .flat_map(|class| {
                class.iter().filter_map(|e| match e {
                    MirScalarExpr::Column(c) if *c != column => Some(*c),
                    _ => None,
                })
            })
            .collect()
    };
    let mut kept = vec![true; inputs.len()];
    for (i, keys) in input_keys.iter().enumerate() {
        let determined = keys.iter().any(|key| {
            key.iter().all(|&c| {
                equal_columns(offsets[i] + c).into_iter().any(|other| {
                    let j = input_of(other);
                    j != i && kept[j]
                })
            })
        });
        if determined {
            kept[i] = false;
        }
    }
    let mut key = Vec::new();
    for (i, keys) in input_keys.iter().enumerate() {
        if kept[i] {
            let shortest = keys.iter().min_by_key(|k| k.len()).expect("not empty");
            key.extend(shortest.iter().map(|c| offsets[i] + c));
        }
    }
    vec![key]
}

#[cfg(test)]
mod tests {
    use eddy_repr::ScalarType;

    use super::*;

    fn get(id: u64, arity: usize) -> MirRelationExpr {
        MirRelationExpr::Get {
            id: GlobalId::User(id),
            typ: vec![ScalarType::Int64.nullable(false); arity],
            name: format!("t{id}"),
        }
    }

    /// t1 (id, customer) keyed by id; t2 (id, region) keyed by id; t3 without a key.
    fn catalog(id: GlobalId) -> Vec<Vec<usize>> {
        match id {
            GlobalId::User(1) | GlobalId::User(2) => vec![vec![0]],
            _ => vec![],
        }
    }

    fn col(c: usize) -> MirScalarExpr {
        MirScalarExpr::Column(c)
    }

    #[test]
    fn keys_of_the_usual_shapes() {
        // GROUP BY two columns.
        let grouped = MirRelationExpr::Reduce {
            input: Box::new(get(3, 3)),
            group_key: vec![col(2), col(0)],
            aggregates: vec![],
        };
        assert_eq!(grouped.keys(&catalog), vec![vec![0, 1]]);
        // A projection keeps a key only with all its columns.
        assert_eq!(get(1, 2).project(vec![1, 0]).keys(&catalog), vec![vec![1]]);
        assert!(get(1, 2).project(vec![1]).keys(&catalog).is_empty());
        // A stream has no key, nor does a union of keyed inputs.
        assert!(get(3, 2).keys(&catalog).is_empty());
        assert!(get(1, 2).union(get(2, 2)).keys(&catalog).is_empty());
        assert!(get(1, 2).negate().keys(&catalog).is_empty());
    }

    #[test]
    fn join_keys_leave_out_inputs_their_key_determines() {
        // orders (t1: id, customer) JOIN customers (t2: id, region) ON customer = id:
        // the order id alone is a key.
        let join = MirRelationExpr::Join {
            inputs: vec![get(1, 2), get(2, 2)],
            equivalences: vec![vec![col(1), col(2)]],
        };
        assert_eq!(join.keys(&catalog), vec![vec![0]]);
        // Joined on the two ids, the first input's key is equated to the second's: only
        // one of the two is left out.
        let on_ids = MirRelationExpr::Join {
            inputs: vec![get(1, 2), get(2, 2)],
            equivalences: vec![vec![col(0), col(2)]],
        };
        assert_eq!(on_ids.keys(&catalog), vec![vec![2]]);
        // A cross join needs both keys; an input without a key leaves none.
        let cross = MirRelationExpr::Join {
            inputs: vec![get(1, 2), get(2, 2)],
            equivalences: vec![],
        };
        assert_eq!(cross.keys(&catalog), vec![vec![0, 2]]);
        let with_stream = MirRelationExpr::Join {
            inputs: vec![get(1, 2), get(3, 2)],
            equivalences: vec![vec![col(0), col(2)]],
        };
        assert!(with_stream.keys(&catalog).is_empty());
    }
}
