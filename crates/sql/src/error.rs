//! [`PlanError`]: why a statement could not be parsed or planned, in Postgres' shape.
//!
//! Every error carries a SQLSTATE code and a message written the way Postgres writes it
//! (lowercase, no final period), so clients and tools that match on either keep working.
//! `position` is a 1-based character offset into the statement text; only syntax errors
//! set it, because planning works on the parsed tree and no longer sees the text.

/// An error from parsing or planning one statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub sqlstate: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<usize>,
}

/// SQLSTATE codes used by the planner, named as in Postgres' `errcodes.txt`.
pub mod sqlstate {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const UNDEFINED_SCHEMA: &str = "3F000";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const AMBIGUOUS_FUNCTION: &str = "42725";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const INDETERMINATE_DATATYPE: &str = "42P18";
    pub const INVALID_NAME: &str = "42602";
    pub const INVALID_ESCAPE_SEQUENCE: &str = "22025";
    pub const CANNOT_COERCE: &str = "42846";
    pub const GROUPING_ERROR: &str = "42803";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DUPLICATE_ALIAS: &str = "42712";
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const INVALID_ROW_COUNT_IN_LIMIT: &str = "2201W";
    pub const INVALID_ROW_COUNT_IN_OFFSET: &str = "2201X";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54001";
    pub const INTERNAL_ERROR: &str = "XX000";
}

impl PlanError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        PlanError {
            sqlstate,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// `0A000 <what> is not supported yet`: a known gap, kept explicit.
    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("{what} is not supported yet"),
        )
    }

    /// `0A000 <what> are not supported yet`, for plural nouns.
    pub fn unsupported_plural(what: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("{what} are not supported yet"),
        )
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        PlanError::new(sqlstate::SYNTAX_ERROR, message)
    }

    /// A broken planner invariant (a bug, not a user error).
    pub fn internal(message: impl Into<String>) -> Self {
        PlanError::new(sqlstate::INTERNAL_ERROR, message)
    }

    pub fn undefined_column(name: &str) -> Self {
        PlanError::new(
            sqlstate::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        )
    }

    pub fn undefined_table(name: &str) -> Self {
        PlanError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }

    pub fn datatype_mismatch(message: impl Into<String>) -> Self {
        PlanError::new(sqlstate::DATATYPE_MISMATCH, message)
    }

    /// `42883 operator does not exist: integer + boolean`, with Postgres' hint.
    pub fn operator_does_not_exist(signature: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::UNDEFINED_FUNCTION,
            format!("operator does not exist: {signature}"),
        )
        .with_hint(
            "No operator matches the given name and argument types. \
             You might need to add explicit type casts.",
        )
    }

    /// `42725 operator is not unique: date + unknown`, with Postgres' hint.
    pub fn operator_not_unique(signature: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::AMBIGUOUS_FUNCTION,
            format!("operator is not unique: {signature}"),
        )
        .with_hint(
            "Could not choose a best candidate operator. \
             You might need to add explicit type casts.",
        )
    }

    /// `42883 function foo(integer) does not exist`, with Postgres' hint.
    pub fn function_does_not_exist(signature: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::UNDEFINED_FUNCTION,
            format!("function {signature} does not exist"),
        )
        .with_hint(
            "No function matches the given name and argument types. \
             You might need to add explicit type casts.",
        )
    }

    /// `42725 function foo(unknown) is not unique`, with Postgres' hint.
    pub fn function_not_unique(signature: impl std::fmt::Display) -> Self {
        PlanError::new(
            sqlstate::AMBIGUOUS_FUNCTION,
            format!("function {signature} is not unique"),
        )
        .with_hint(
            "Could not choose a best candidate function. \
             You might need to add explicit type casts.",
        )
    }
}
