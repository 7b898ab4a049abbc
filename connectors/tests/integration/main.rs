//! Integration tests of the connectors against real servers on 127.0.0.1: moto for the AWS
//! APIs (and a fault-injecting proxy in front of it), and the peer libraries for formats.
//! One test binary holds them all, to keep builds lean.

mod detect;
mod enrich;
mod faults;
mod http;
mod kpl;
mod lambda;
mod moto;
mod respond;
mod sinks;
mod sources;

use serde_json::Value;
use sluice_core::{Config, Message, Pipeline, Processed, Resources};

/// Builds a pipeline from a config value with every connector registered.
pub fn pipeline(config: Value) -> Pipeline {
    let config = Config::from_value(config, "test").expect("config shape");
    config
        .build(&sluice_connectors::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("config does not build: {e}"))
}

/// Runs lines through a pipeline, then end of input.
pub async fn run(pipeline: &Pipeline, lines: Vec<String>) -> Processed {
    let mut p = pipeline
        .process(lines.into_iter().map(Message::new).collect())
        .await
        .expect("run");
    let f = pipeline.flush().await.expect("flush");
    p.output.extend(f.output);
    p.errors.extend(f.errors);
    p
}

/// The reasons of the messages on the error route.
pub fn reasons(p: &Processed) -> Vec<String> {
    p.errors
        .iter()
        .map(|m| {
            m.meta()["error"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The SDK configuration the tests' own clients use to check what arrived.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    moto::env();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await
}
