//! sluice-core: the engine that other Rust services embed.
//!
//! A [`Message`] carries an event and its metadata; [`Path`]s address fields inside it. A
//! transform is one of three kinds ([`Map`], [`Stateful`], [`Io`]; see [`transform`]); a test on
//! a message is a [`Condition`]; both are registered by type name in a [`Registry`]. A [`Config`] (JSON or Jsonnet) is built against a registry into a [`Pipeline`],
//! which runs batches, routes failures and keeps the [`Account`]. This crate has no AWS or network
//! dependency; the built-in transforms live in `sluice-transforms`, the I/O in `sluice-connectors`.

pub mod config;
pub mod error;
pub mod message;
pub mod path;
pub mod pipeline;
pub mod registry;
pub mod testing;
pub mod transform;

pub use config::{Config, TestCase};
pub use error::{ConfigError, ConfigErrors, ErrorKind, PipelineError, TransformError};
pub use message::Message;
pub use path::Path;
pub use pipeline::{Account, Counts, OnError, Pipeline, Processed, Step, Steps};
pub use registry::{Builder, Registry, Resources, Scheduling};
pub use transform::{
    BatchItem, Condition, Failed, Io, Map, MapTransform, Output, Stateful, Transform, TransformKind,
};
