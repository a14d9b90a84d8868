//! [`MapFilterProject`]: a fused map, filter and project over single rows, the shape
//! of per-row work that can run wherever rows are (in a dataflow or inside a peek).
//!
//! Semantics: given input columns `0..input_arity`, append `expressions` in order (each
//! may read earlier ones), keep the row if every predicate is `true`, then output the
//! `projection` columns.

use eddy_repr::{Datum, Row};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::relation::MirRelationExpr;
use crate::scalar::MirScalarExpr;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MapFilterProject {
    pub input_arity: usize,
    pub expressions: Vec<MirScalarExpr>,
    pub predicates: Vec<MirScalarExpr>,
    pub projection: Vec<usize>,
}

impl MapFilterProject {
    /// The identity on rows of `arity` columns.
    pub fn identity(arity: usize) -> Self {
        MapFilterProject {
            input_arity: arity,
            expressions: vec![],
            predicates: vec![],
            projection: (0..arity).collect(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.expressions.is_empty()
            && self.predicates.is_empty()
            && self.projection.iter().copied().eq(0..self.input_arity)
    }

    /// Splits `expr` into an MFP over a non-MFP input: `expr = mfp(input)`.
    pub fn extract(expr: &MirRelationExpr) -> (MapFilterProject, &MirRelationExpr) {
        match expr {
            MirRelationExpr::Map { input, scalars } => {
                let (mut mfp, inner) = Self::extract(input);
                // Scalars read the current output columns; rewrite them to the full
                // (input + expressions) column space.
                let projection = mfp.projection.clone();
                let base = mfp.input_arity + mfp.expressions.len();
                for (i, s) in scalars.iter().enumerate() {
                    let mut s = s.clone();
                    let width = projection.len();
                    s.permute(&|c| {
                        if c < width {
                            projection[c]
                        } else {
                            base + (c - width)
                        }
                    });
                    mfp.expressions.push(s);
                    mfp.projection.push(base + i);
                }
                (mfp, inner)
            }
            MirRelationExpr::Filter { input, predicates } => {
                let (mut mfp, inner) = Self::extract(input);
                let projection = mfp.projection.clone();
                for p in predicates {
                    let mut p = p.clone();
                    p.permute(&|c| projection[c]);
                    mfp.predicates.push(p);
                }
                (mfp, inner)
            }
            MirRelationExpr::Project { input, outputs } => {
                let (mut mfp, inner) = Self::extract(input);
                mfp.projection = outputs.iter().map(|c| mfp.projection[*c]).collect();
                (mfp, inner)
            }
            other => (MapFilterProject::identity(other.arity()), other),
        }
    }

    /// Applies the MFP to one row's datums: `Ok(None)` if a predicate rejects it.
    pub fn apply(&self, mut datums: Vec<Datum>) -> Result<Option<Row>, EvalError> {
        let mut evaluated = 0;
        // Evaluate expressions lazily: only as far as the predicates and projection need.
        for p in &self.predicates {
            let need = p.support().into_iter().max().map(|c| c + 1).unwrap_or(0);
            while datums.len() < need {
                let d = self.expressions[evaluated].eval(&datums)?;
                datums.push(d);
                evaluated += 1;
            }
            if p.eval(&datums)? != Datum::Bool(true) {
                return Ok(None);
            }
        }
        while evaluated < self.expressions.len() {
            let d = self.expressions[evaluated].eval(&datums)?;
            datums.push(d);
            evaluated += 1;
        }
        Ok(Some(Row::pack(self.projection.iter().map(|c| &datums[*c]))))
    }

    pub fn apply_row(&self, row: &Row) -> Result<Option<Row>, EvalError> {
        self.apply(row.unpack())
    }
}
