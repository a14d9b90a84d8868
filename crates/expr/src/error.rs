//! Errors raised while evaluating expressions on data. They travel through dataflows as
//! data (so they must be orderable and serializable) and reach users as Postgres errors.

use serde::{Deserialize, Serialize};

/// A runtime error in a scalar expression.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
pub enum EvalError {
    #[error("division by zero")]
    DivisionByZero,
    /// An integer or numeric result outside its type's range; the payload is the type
    /// name as Postgres prints it, e.g. `integer`.
    #[error("{0} out of range")]
    OutOfRange(String),
    #[error("numeric field overflow")]
    NumericFieldOverflow,
    #[error("invalid input syntax for type {typ}: \"{value}\"")]
    InvalidTextRepresentation { typ: String, value: String },
    #[error("value too long for type {0}")]
    StringTooLong(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    DatetimeFieldOverflow(String),
    #[error("{0}")]
    InvalidRegularExpression(String),
    #[error("more than one row returned by a subquery used as an expression")]
    MultipleRowsFromSubquery,
    #[error("null value in column \"{0}\" violates not-null constraint")]
    NotNullViolation(String),
    #[error("{0}")]
    Internal(String),
}

impl EvalError {
    /// The Postgres SQLSTATE code for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            EvalError::DivisionByZero => "22012",
            EvalError::OutOfRange(_) => "22003",
            EvalError::NumericFieldOverflow => "22003",
            EvalError::InvalidTextRepresentation { .. } => "22P02",
            EvalError::StringTooLong(_) => "22001",
            EvalError::InvalidParameterValue(_) => "22023",
            EvalError::DatetimeFieldOverflow(_) => "22008",
            EvalError::InvalidRegularExpression(_) => "2201B",
            EvalError::MultipleRowsFromSubquery => "21000",
            EvalError::NotNullViolation(_) => "23502",
            EvalError::Internal(_) => "XX000",
        }
    }
}
