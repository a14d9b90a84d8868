//! The vocabulary of errors a client sees: [`SqlState`] codes and [`SqlError`].
//!
//! Invariants:
//! - Every SQLSTATE Eddy reports is named here, once, as in Postgres' `errcodes.txt`
//!   (`SqlState::UNDEFINED_TABLE` is `42P01`); no other crate spells a code as a string.
//! - A [`SqlError`] is what every layer (planning, the coordinator, the wire protocol)
//!   reports: a code, a message in Postgres style (lowercase, no final period), and
//!   optional `DETAIL`, `HINT` and 1-based character position in the statement text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A five-character SQLSTATE code. Compare with a string in tests
/// (`err.sqlstate == "42P01"`); name it with a constant everywhere else.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SqlState([u8; 5]);

macro_rules! sqlstates {
    ($($name:ident = $code:literal;)*) => {
        impl SqlState {
            $(pub const $name: SqlState = SqlState::from_static($code);)*
        }
    };
}

sqlstates! {
    // Class 08: connection exception.
    CONNECTION_EXCEPTION = "08000";
    SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION = "08001";
    PROTOCOL_VIOLATION = "08P01";
    // Class 0A: feature not supported.
    FEATURE_NOT_SUPPORTED = "0A000";
    // Class 21: cardinality violation.
    CARDINALITY_VIOLATION = "21000";
    // Class 22: data exception.
    STRING_DATA_RIGHT_TRUNCATION = "22001";
    NUMERIC_VALUE_OUT_OF_RANGE = "22003";
    SEQUENCE_GENERATOR_LIMIT_EXCEEDED = "2200H";
    NULL_VALUE_NOT_ALLOWED = "22004";
    INVALID_DATETIME_FORMAT = "22007";
    DATETIME_FIELD_OVERFLOW = "22008";
    INVALID_TIME_ZONE_DISPLACEMENT_VALUE = "22009";
    SUBSTRING_ERROR = "22011";
    DIVISION_BY_ZERO = "22012";
    INVALID_PRECEDING_OR_FOLLOWING_SIZE = "22013";
    INVALID_ARGUMENT_FOR_NTILE = "22014";
    INVALID_ARGUMENT_FOR_NTH_VALUE = "22016";
    INTERVAL_FIELD_OVERFLOW = "22015";
    INVALID_REGULAR_EXPRESSION = "2201B";
    INVALID_ARGUMENT_FOR_LOGARITHM = "2201E";
    INVALID_ARGUMENT_FOR_POWER_FUNCTION = "2201F";
    INVALID_ROW_COUNT_IN_LIMIT_CLAUSE = "2201W";
    INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE = "2201X";
    CHARACTER_NOT_IN_REPERTOIRE = "22021";
    INVALID_PARAMETER_VALUE = "22023";
    INVALID_ESCAPE_SEQUENCE = "22025";
    INVALID_TEXT_REPRESENTATION = "22P02";
    BAD_COPY_FILE_FORMAT = "22P04";
    INVALID_BINARY_REPRESENTATION = "22P03";
    UNTRANSLATABLE_CHARACTER = "22P05";
    // Class 23: integrity constraint violation.
    NOT_NULL_VIOLATION = "23502";
    UNIQUE_VIOLATION = "23505";
    CHECK_VIOLATION = "23514";
    // Class 25: invalid transaction state.
    NO_ACTIVE_SQL_TRANSACTION = "25P01";
    IN_FAILED_SQL_TRANSACTION = "25P02";
    IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03";
    // Class 26: invalid SQL statement name.
    INVALID_SQL_STATEMENT_NAME = "26000";
    // Class 28: invalid authorization specification.
    INVALID_AUTHORIZATION_SPECIFICATION = "28000";
    INVALID_PASSWORD = "28P01";
    // Class 2B: dependent privilege descriptors still exist.
    DEPENDENT_OBJECTS_STILL_EXIST = "2BP01";
    // Class 34: invalid cursor name.
    INVALID_CURSOR_NAME = "34000";
    // Class 3F: invalid schema name.
    INVALID_SCHEMA_NAME = "3F000";
    // Class 40: transaction rollback.
    T_R_SERIALIZATION_FAILURE = "40001";
    // Class 3B: savepoint exception.
    INVALID_SAVEPOINT_SPECIFICATION = "3B001";
    // Class 42: syntax error or access rule violation.
    INSUFFICIENT_PRIVILEGE = "42501";
    SYNTAX_ERROR = "42601";
    INVALID_NAME = "42602";
    RESERVED_NAME = "42939";
    DUPLICATE_COLUMN = "42701";
    AMBIGUOUS_COLUMN = "42702";
    UNDEFINED_COLUMN = "42703";
    UNDEFINED_OBJECT = "42704";
    DUPLICATE_ALIAS = "42712";
    AMBIGUOUS_FUNCTION = "42725";
    GROUPING_ERROR = "42803";
    DATATYPE_MISMATCH = "42804";
    WRONG_OBJECT_TYPE = "42809";
    CANNOT_COERCE = "42846";
    UNDEFINED_FUNCTION = "42883";
    UNDEFINED_TABLE = "42P01";
    UNDEFINED_PARAMETER = "42P02";
    DUPLICATE_CURSOR = "42P03";
    DUPLICATE_PREPARED_STATEMENT = "42P05";
    DUPLICATE_SCHEMA = "42P06";
    DUPLICATE_TABLE = "42P07";
    INVALID_COLUMN_REFERENCE = "42P10";
    INVALID_TABLE_DEFINITION = "42P16";
    INVALID_OBJECT_DEFINITION = "42P17";
    INDETERMINATE_DATATYPE = "42P18";
    INVALID_RECURSION = "42P19";
    WINDOWING_ERROR = "42P20";
    // Class 53: insufficient resources.
    OUT_OF_MEMORY = "53200";
    TOO_MANY_CONNECTIONS = "53300";
    // Class 54: program limit exceeded.
    PROGRAM_LIMIT_EXCEEDED = "54000";
    STATEMENT_TOO_COMPLEX = "54001";
    // Class 55: object not in prerequisite state.
    OBJECT_NOT_IN_PREREQUISITE_STATE = "55000";
    OBJECT_IN_USE = "55006";
    CANT_CHANGE_RUNTIME_PARAM = "55P02";
    // Class 57: operator intervention.
    QUERY_CANCELED = "57014";
    ADMIN_SHUTDOWN = "57P01";
    IDLE_SESSION_TIMEOUT = "57P05";
    // Class 58: system error.
    IO_ERROR = "58030";
    // Class XX: internal error.
    INTERNAL_ERROR = "XX000";
    DATA_CORRUPTED = "XX001";
}

impl SqlState {
    /// A code from its five characters (digits and uppercase letters), as codes
    /// reported by another Postgres arrive.
    pub fn from_code(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            .then_some(SqlState(bytes))
    }

    const fn from_static(code: &'static str) -> SqlState {
        let b = code.as_bytes();
        assert!(b.len() == 5, "a SQLSTATE has five characters");
        SqlState([b[0], b[1], b[2], b[3], b[4]])
    }

    /// The five characters, as the wire protocol sends them.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).expect("SQLSTATE codes are ASCII")
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.code())
    }
}

impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

impl PartialEq<str> for SqlState {
    fn eq(&self, other: &str) -> bool {
        self.code() == other
    }
}

/// An error for a client, in Postgres' shape: a SQLSTATE, a message (lowercase, no
/// final period), and optional detail, hint and 1-based character position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub sqlstate: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<usize>,
}

impl SqlError {
    pub fn new(sqlstate: SqlState, message: impl Into<String>) -> Self {
        SqlError {
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

    pub fn with_position(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }

    /// A broken invariant (a bug, not a user error): `XX000`.
    pub fn internal(message: impl Into<String>) -> Self {
        SqlError::new(SqlState::INTERNAL_ERROR, message)
    }

    /// `0A000 <what> is not supported yet`: a known gap, kept explicit.
    pub fn unsupported(what: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("{what} is not supported yet"),
        )
    }

    /// `0A000 <what> are not supported yet`, for plural nouns.
    pub fn unsupported_plural(what: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("{what} are not supported yet"),
        )
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        SqlError::new(SqlState::SYNTAX_ERROR, message)
    }

    pub fn undefined_column(name: &str) -> Self {
        SqlError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        )
    }

    pub fn undefined_table(name: &str) -> Self {
        SqlError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }

    pub fn datatype_mismatch(message: impl Into<String>) -> Self {
        SqlError::new(SqlState::DATATYPE_MISMATCH, message)
    }

    /// `42883 operator does not exist: integer + boolean`, with Postgres' hint.
    pub fn operator_does_not_exist(signature: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("operator does not exist: {signature}"),
        )
        .with_hint(
            "No operator matches the given name and argument types. \
             You might need to add explicit type casts.",
        )
    }

    /// `42725 operator is not unique: date + unknown`, with Postgres' hint.
    pub fn operator_not_unique(signature: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::AMBIGUOUS_FUNCTION,
            format!("operator is not unique: {signature}"),
        )
        .with_hint(
            "Could not choose a best candidate operator. \
             You might need to add explicit type casts.",
        )
    }

    /// `42883 function foo(integer) does not exist`, with Postgres' hint.
    pub fn function_does_not_exist(signature: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("function {signature} does not exist"),
        )
        .with_hint(
            "No function matches the given name and argument types. \
             You might need to add explicit type casts.",
        )
    }

    /// `42725 function foo(unknown) is not unique`, with Postgres' hint.
    pub fn function_not_unique(signature: impl fmt::Display) -> Self {
        SqlError::new(
            SqlState::AMBIGUOUS_FUNCTION,
            format!("function {signature} is not unique"),
        )
        .with_hint(
            "Could not choose a best candidate function. \
             You might need to add explicit type casts.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names() {
        assert_eq!(SqlState::UNDEFINED_TABLE.code(), "42P01");
        assert_eq!(SqlState::UNDEFINED_TABLE, "42P01");
        assert_eq!(
            format!("{:?}", SqlState::DIVISION_BY_ZERO),
            "SqlState(22012)"
        );
        assert_eq!(
            SqlState::from_code("42P01"),
            Some(SqlState::UNDEFINED_TABLE)
        );
        assert_eq!(SqlState::from_code("4201"), None);
        assert_eq!(SqlState::from_code("42p01"), None);
    }
}
