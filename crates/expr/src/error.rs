//! Errors raised while evaluating expressions on data. They travel through dataflows as
//! data (so they must be orderable and serializable) and reach users as Postgres errors.

use eddy_repr::{SqlError, SqlState};
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
    /// A numeric result beyond the 38 digits (or the scale) a numeric holds.
    #[error("value overflows numeric format")]
    NumericOverflow,
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
    /// Text that is not a value of the target type (`'abc'::integer`), with Postgres'
    /// message, DETAIL and SQLSTATE.
    #[error(transparent)]
    Parse(#[from] eddy_repr::strconv::ParseError),
    /// A float result too large for its type.
    #[error("value out of range: overflow")]
    FloatOverflow,
    /// A nonzero float result too small for its type.
    #[error("value out of range: underflow")]
    FloatUnderflow,
    /// A value that does not fit `numeric(precision, scale)`; the DETAIL says the bound.
    #[error("numeric field overflow")]
    NumericTypmodOverflow { precision: u8, scale: u8 },
    #[error("negative substring length not allowed")]
    NegativeSubstringLength,
    /// `sqrt` of a negative number, `0 ^ -1`, `(-2) ^ 0.5`.
    #[error("{0}")]
    InvalidArgumentForPowerFunction(String),
    /// `ln(0)`, `log(-1)`.
    #[error("{0}")]
    InvalidArgumentForLogarithm(String),
    /// A LIKE pattern ending in its escape character.
    #[error("{0}")]
    InvalidEscapeSequence(String),
    #[error("{message}")]
    FeatureNotSupported {
        message: String,
        detail: Option<String>,
    },
    /// A result larger than Postgres allows (`requested length too large`).
    #[error("{0}")]
    ProgramLimitExceeded(String),
    /// A NULL where a function requires a value (`jsonb_build_object`'s keys).
    #[error("{0}")]
    NullValueNotAllowed(String),
    /// `percentile_cont(f)` / `percentile_disc(f)` with `f` outside `[0, 1]`.
    #[error("percentile value {0} is not between 0 and 1")]
    PercentileOutOfRange(String),
    /// `ntile(n)` with `n <= 0`.
    #[error("argument of ntile must be greater than zero")]
    InvalidArgumentForNtile,
    /// `nth_value(x, n)` with `n <= 0`.
    #[error("argument of nth_value must be greater than zero")]
    InvalidArgumentForNthValue,
    /// A LIMIT that reads the outer row of a LATERAL subquery, negative for one row.
    #[error("LIMIT must not be negative")]
    NegativeLimit,
    /// A `WITH RECURSIVE` query still produced new rows after `limit` rounds.
    #[error("recursive query \"{name}\" did not finish within {limit} iterations")]
    RecursionLimit { name: String, limit: u64 },
    /// An error of materialized view `view` (computing it failed on some input): as
    /// its readers see it, naming the view.
    #[error("{error} (in materialized view \"{view}\")")]
    InView { view: String, error: Box<EvalError> },
    /// An error computing a row from input row `row` (as Postgres prints a row), which
    /// its DETAIL shows.
    #[error("{error}")]
    WithRow { error: Box<EvalError>, row: String },
}

impl EvalError {
    /// The error as the readers of materialized view `view` see it; an error of a view
    /// it reads keeps the name of that (innermost) view.
    pub fn in_view(self, view: &str) -> EvalError {
        match self {
            e @ EvalError::InView { .. } => e,
            e => EvalError::InView {
                view: view.to_string(),
                error: Box::new(e),
            },
        }
    }

    /// The error with the input row it came from (`datums` of `types`); an error that
    /// names its row already, or an internal one, stays as it is.
    pub fn with_row(
        self,
        datums: &[eddy_repr::Datum],
        types: &[eddy_repr::ScalarType],
    ) -> EvalError {
        if datums.is_empty()
            || matches!(
                self,
                EvalError::WithRow { .. } | EvalError::InView { .. } | EvalError::Internal(_)
            )
        {
            return self;
        }
        EvalError::WithRow {
            error: Box::new(self),
            row: eddy_repr::strconv::row_text(datums, types),
        }
    }

    /// The error without the input row it came from.
    pub fn without_row(&self) -> &EvalError {
        match self {
            EvalError::WithRow { error, .. } => error.without_row(),
            e => e,
        }
    }

    /// The Postgres SQLSTATE code for this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            EvalError::InView { error, .. } | EvalError::WithRow { error, .. } => error.sqlstate(),
            EvalError::DivisionByZero => SqlState::DIVISION_BY_ZERO,
            EvalError::OutOfRange(_) => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            EvalError::NumericOverflow => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            EvalError::InvalidTextRepresentation { .. } => SqlState::INVALID_TEXT_REPRESENTATION,
            EvalError::StringTooLong(_) => SqlState::STRING_DATA_RIGHT_TRUNCATION,
            EvalError::InvalidParameterValue(_) => SqlState::INVALID_PARAMETER_VALUE,
            EvalError::DatetimeFieldOverflow(_) => SqlState::DATETIME_FIELD_OVERFLOW,
            EvalError::InvalidRegularExpression(_) => SqlState::INVALID_REGULAR_EXPRESSION,
            EvalError::MultipleRowsFromSubquery => SqlState::CARDINALITY_VIOLATION,
            EvalError::NotNullViolation(_) => SqlState::NOT_NULL_VIOLATION,
            EvalError::Internal(_) => SqlState::INTERNAL_ERROR,
            EvalError::Parse(e) => e.sqlstate(),
            EvalError::FloatOverflow | EvalError::FloatUnderflow => {
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE
            }
            EvalError::NumericTypmodOverflow { .. } => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            EvalError::NegativeSubstringLength => SqlState::SUBSTRING_ERROR,
            EvalError::InvalidArgumentForPowerFunction(_) => {
                SqlState::INVALID_ARGUMENT_FOR_POWER_FUNCTION
            }
            EvalError::InvalidEscapeSequence(_) => SqlState::INVALID_ESCAPE_SEQUENCE,
            EvalError::InvalidArgumentForLogarithm(_) => SqlState::INVALID_ARGUMENT_FOR_LOGARITHM,
            EvalError::FeatureNotSupported { .. } => SqlState::FEATURE_NOT_SUPPORTED,
            EvalError::ProgramLimitExceeded(_) => SqlState::PROGRAM_LIMIT_EXCEEDED,
            EvalError::NullValueNotAllowed(_) => SqlState::NULL_VALUE_NOT_ALLOWED,
            EvalError::RecursionLimit { .. } => SqlState::STATEMENT_TOO_COMPLEX,
            EvalError::InvalidArgumentForNtile => SqlState::INVALID_ARGUMENT_FOR_NTILE,
            EvalError::PercentileOutOfRange(_) => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            EvalError::InvalidArgumentForNthValue => SqlState::INVALID_ARGUMENT_FOR_NTH_VALUE,
            EvalError::NegativeLimit => SqlState::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
        }
    }

    /// The Postgres `DETAIL` line for this error, if it has one.
    pub fn detail(&self) -> Option<String> {
        match self {
            EvalError::InView { error, .. } => error.detail(),
            EvalError::WithRow { error, row } => Some(match error.detail() {
                Some(detail) => format!("{detail} Failing input row: {row}."),
                None => format!("Failing input row: {row}."),
            }),
            EvalError::Parse(e) => e.detail.clone(),
            EvalError::NumericTypmodOverflow { precision, scale } => {
                let max_digits = precision.saturating_sub(*scale);
                let bound = if max_digits == 0 {
                    "1".to_string()
                } else {
                    format!("10^{max_digits}")
                };
                Some(format!(
                    "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
                ))
            }
            EvalError::FeatureNotSupported { detail, .. } => detail.clone(),
            EvalError::NumericOverflow => Some(format!(
                "Eddy's numeric holds {} digits and a scale of at most {}.",
                eddy_repr::numeric::NUMERIC_MAX_PRECISION,
                eddy_repr::numeric::NUMERIC_MAX_SCALE
            )),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            EvalError::WithRow { error, .. } => error.hint(),
            EvalError::InView { error, .. } => Some(error.hint().unwrap_or_else(|| {
                "The view reads as this error until the input rows that cause it change; \
                 SHOW MATERIALIZED VIEWS lists the views in error."
                    .to_string()
            })),
            EvalError::RecursionLimit { .. } => Some(
                "Check that the recursive term stops producing rows, or raise the limit: SET max_recursion = n for a query, CREATE MATERIALIZED VIEW ... WITH (max_recursion = n) for a view.".to_string(),
            ),
            _ => None,
        }
    }
}

impl From<EvalError> for SqlError {
    /// The error as a client sees it: code, message and `DETAIL`.
    fn from(e: EvalError) -> SqlError {
        let mut err = SqlError::new(e.sqlstate(), e.to_string());
        err.detail = e.detail();
        err.hint = e.hint();
        err
    }
}

impl From<eddy_repr::NumericError> for EvalError {
    fn from(e: eddy_repr::NumericError) -> Self {
        match e {
            eddy_repr::NumericError::Overflow => EvalError::NumericOverflow,
            eddy_repr::NumericError::DivisionByZero => EvalError::DivisionByZero,
        }
    }
}
