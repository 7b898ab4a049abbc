//! Errors: what went wrong with one message (`TransformError`), with a config (`ConfigError`),
//! and with a whole run (`PipelineError`).
//!
//! A `TransformError` sends one message to the error route with its text as the reason, so the
//! text is written for the person reading the dead-letter file at 2 a.m.

use crate::path::SetError;
use std::fmt;

/// Why a transform or condition could not process one message.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("data is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("data is not valid UTF-8 text")]
    NotUtf8,
    #[error("`{path}` is missing")]
    Missing { path: String },
    #[error("`{path}` is {found}, expected {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error(transparent)]
    Set(#[from] SetError),
    /// A transform nested inside another (`meta.switch`, `meta.for_each`) failed.
    #[error("{location}: {source}")]
    Nested {
        location: String,
        source: Box<TransformError>,
    },
    /// Anything specific to one transform, already worded for the reader.
    #[error("{0}")]
    Invalid(String),
    /// A failure of a given kind (a lookup that timed out, a throttled send), worded for the
    /// reader.
    #[error("{message}")]
    Kind { kind: ErrorKind, message: String },
}

/// What kind of failure sent a message to the error route: machine-readable, written to
/// `@meta.error.kind`, and what `meta.err` and `meta.retry` match on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The data (or a field a transform parses) is not valid JSON.
    InvalidJson,
    /// The data is not UTF-8 text where text is needed.
    InvalidUtf8,
    /// A field the transform needs is absent.
    MissingField,
    /// A field holds another JSON type than the transform needs.
    TypeMismatch,
    /// A value is present and of the right type but cannot be used (a bad timestamp, address,
    /// encoding), or the input is not what the transform reads.
    InvalidValue,
    /// A message or expansion over a configured limit.
    TooLarge,
    /// Rejected on purpose by the config (`utility.err`).
    Rejected,
    /// A remote call did not answer in time.
    Timeout,
    /// A remote service asked us to slow down (HTTP 429, AWS throttling).
    Throttled,
    /// A remote service refused the request (4xx other than 429, access denied, not found).
    Refused,
    /// A remote service failed or could not be reached (5xx, connection errors).
    Unavailable,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::TypeMismatch => "type_mismatch",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Refused => "refused",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransformError {
    pub fn invalid(text: impl fmt::Display) -> TransformError {
        TransformError::Invalid(text.to_string())
    }

    /// A failure of a stated kind.
    pub fn of_kind(kind: ErrorKind, text: impl fmt::Display) -> TransformError {
        TransformError::Kind {
            kind,
            message: text.to_string(),
        }
    }

    /// The place of the innermost step that failed, for a failure inside a `meta.*` step.
    pub fn innermost_location(&self) -> Option<&str> {
        match self {
            TransformError::Nested { location, source } => {
                source.innermost_location().or(Some(location))
            }
            _ => None,
        }
    }

    /// The machine-readable kind; a nested failure has the kind of the inner one.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransformError::NotJson(_) => ErrorKind::InvalidJson,
            TransformError::NotUtf8 => ErrorKind::InvalidUtf8,
            TransformError::Missing { .. } => ErrorKind::MissingField,
            TransformError::WrongType { .. } | TransformError::Set(_) => ErrorKind::TypeMismatch,
            TransformError::Nested { source, .. } => source.kind(),
            TransformError::Invalid(_) => ErrorKind::InvalidValue,
            TransformError::Kind { kind, .. } => *kind,
        }
    }
}

/// One problem in a config, located precisely (e.g. `transforms[3] (object.copy)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: `transforms[3] (object.copy)`, `stores.users`, or the file name.
    pub location: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(location: impl Into<String>, problem: impl fmt::Display) -> ConfigError {
        ConfigError {
            location: location.into(),
            problem: problem.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.location, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config; `sluice vet` prints them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![e])
    }
}

/// A run stopped: under `on_error: fail`, the first message that failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{location}: {error}")]
    Failed {
        location: String,
        error: TransformError,
    },
}
