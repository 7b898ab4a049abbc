//! sluice-connectors: everything that talks to the outside world.
//!
//! Sources turn files, stdin (and later S3 and Kinesis) into batches of messages; sinks are
//! `send.*` transforms registered into the same registry as the built-in transforms. The CLI
//! and the Lambda handlers use [`registry`] to get every component at once.

pub mod aws;
pub mod dynamodb;
pub mod dynamodb_item;
pub mod enrich_dynamodb;
pub mod file;
pub mod kpl;
pub mod lambda;
pub mod respond_nacl;
pub mod secrets_manager;
pub mod send_dynamodb;
pub mod send_eventbridge;
pub mod send_firehose;
pub mod send_http;
pub mod send_kinesis;
pub mod send_lambda;
pub mod send_local;
pub mod send_s3;
pub mod send_sns;
pub mod send_sqs;
pub mod sink;
pub mod source;
pub mod source_kinesis;
pub mod source_s3;

use sluice_core::Registry;

/// Every transform and condition: the built-ins plus the connector-backed ones.
pub fn registry() -> Registry {
    let mut r = sluice_transforms::registry();
    register(&mut r);
    r
}

/// Adds the connector-backed transforms (sinks, AWS lookups) to a registry.
pub fn register(r: &mut Registry) {
    dynamodb::register(r);
    enrich_dynamodb::register(r);
    respond_nacl::register(r);
    secrets_manager::register(r);
    send_dynamodb::register(r);
    send_eventbridge::register(r);
    send_firehose::register(r);
    send_http::register(r);
    send_kinesis::register(r);
    send_lambda::register(r);
    send_local::register(r);
    send_s3::register(r);
    send_sns::register(r);
    send_sqs::register(r);
}
