//! sluice-connectors: everything that talks to the outside world.
//!
//! Sources turn files, stdin (and later S3 and Kinesis) into batches of messages; sinks are
//! `send.*` transforms registered into the same registry as the built-in transforms. The CLI
//! and the Lambda handlers use [`registry`] to get every component at once.

pub mod file;

use sluice_core::Registry;

/// Every transform and condition: the built-ins plus the connector-backed ones.
pub fn registry() -> Registry {
    let mut r = sluice_transforms::registry();
    register(&mut r);
    r
}

/// Adds the connector-backed transforms (sinks, AWS lookups) to a registry.
pub fn register(_r: &mut Registry) {}
