//! Fused Map/Filter/Project: one operator per chain of consecutive `Map`, `Filter`
//! and `Project` nodes, which unpacks each row once.
//!
//! Semantics (those of [`MapFilterProject`]): append the expressions in order, keep
//! the row only if every predicate is `true`, output the projected columns. Each
//! predicate runs as soon as the columns it reads exist, and expressions are
//! evaluated only as far as the predicates and the projection need them, so a
//! predicate that rejects a row spares it the errors of later expressions. An
//! evaluation error replaces the row by that error in `errs`.

use eddy_expr::mfp::MapFilterProject;
use eddy_expr::EvalError;
use eddy_repr::{Datum, Row};

use super::operators::{flat_map_fallible, Rendered};

/// A [`MapFilterProject`] prepared for per-row evaluation.
#[derive(Clone, Debug)]
pub(crate) struct CompiledMfp {
    mfp: MapFilterProject,
    /// For each predicate, how many columns must exist before it can run.
    predicate_needs: Vec<usize>,
    /// How many columns the projection needs.
    projection_needs: usize,
}

impl CompiledMfp {
    pub(crate) fn new(mfp: MapFilterProject) -> Self {
        let predicate_needs = mfp
            .predicates
            .iter()
            .map(|p| p.support().last().map(|c| c + 1).unwrap_or(0))
            .collect();
        let projection_needs = mfp.projection.iter().map(|c| c + 1).max().unwrap_or(0);
        CompiledMfp {
            mfp,
            predicate_needs,
            projection_needs,
        }
    }

    /// Applies the MFP to one row: `None` if a predicate rejects it. A row whose arity
    /// is not the MFP's input arity is an internal error.
    pub(crate) fn apply(&self, row: &Row) -> Option<Result<Row, EvalError>> {
        let mut datums = row.unpack();
        if datums.len() != self.mfp.input_arity {
            return Some(Err(arity_mismatch(datums.len(), self.mfp.input_arity)));
        }
        datums.reserve(self.mfp.expressions.len());
        for (predicate, need) in self.mfp.predicates.iter().zip(&self.predicate_needs) {
            if let Err(e) = self.evaluate_to(&mut datums, *need) {
                return Some(Err(e));
            }
            match predicate.eval(&datums) {
                Ok(Datum::Bool(true)) => {}
                Ok(_) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        if let Err(e) = self.evaluate_to(&mut datums, self.projection_needs) {
            return Some(Err(e));
        }
        Some(Ok(Row::pack(
            self.mfp.projection.iter().map(|c| &datums[*c]),
        )))
    }

    /// Evaluates expressions until `datums` has at least `need` columns.
    fn evaluate_to(&self, datums: &mut Vec<Datum>, need: usize) -> Result<(), EvalError> {
        while datums.len() < need {
            let next = datums.len() - self.mfp.input_arity;
            let datum = self.mfp.expressions[next].eval(datums)?;
            datums.push(datum);
        }
        Ok(())
    }
}

/// The error for a row that does not have the arity an MFP expects (a planner bug).
pub(crate) fn arity_mismatch(found: usize, expected: usize) -> EvalError {
    EvalError::Internal(format!(
        "a row of {found} columns where {expected} were expected"
    ))
}

/// Applies `mfp` to `input` (whose columns have `types`) in one operator named `name`;
/// an error carries the input row it came from (`EvalError::WithRow`), for its DETAIL.
pub(crate) fn render_mfp<'s>(
    name: &str,
    input: Rendered<'s>,
    mfp: MapFilterProject,
    types: Vec<eddy_repr::ScalarType>,
) -> Rendered<'s> {
    if mfp.is_identity() {
        return input;
    }
    let compiled = CompiledMfp::new(mfp);
    let (oks, errs) = flat_map_fallible(input.oks, name, move |row: Row| {
        compiled
            .apply(&row)
            .map(|result| result.map_err(|e| e.with_row(&row.unpack(), &types)))
    });
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}
