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
}

impl TransformError {
    pub fn invalid(text: impl fmt::Display) -> TransformError {
        TransformError::Invalid(text.to_string())
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
