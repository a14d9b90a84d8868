//! Errors reported to clients, in Postgres' shape.

/// An error for a client: a SQLSTATE code, a message in Postgres style (lowercase, no
/// final period), and optional detail, hint and 1-based character position in the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterError {
    pub sqlstate: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<usize>,
}

impl AdapterError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        AdapterError {
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

    pub fn internal(message: impl Into<String>) -> Self {
        AdapterError::new("XX000", message)
    }
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.sqlstate)
    }
}

impl std::error::Error for AdapterError {}
