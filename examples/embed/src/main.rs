//! Embedding Sluice in a Rust service: register a custom transform next to the built-ins,
//! build a pipeline from JSON, and run a batch through it.
//!
//! Run it with `cargo run -p sluice-embed-example`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{Config, MapTransform, Message, Path, Resources, TransformError};

/// Tag a message with the service's environment name (a custom transform). It looks at one
/// message at a time and keeps nothing, so it is a map: registered with `registry.map`, the
/// engine fuses it with the steps around it and may run it on several threads. A transform
/// that keeps state implements `Stateful` (`registry.stateful`); one that waits on the network
/// implements `Io` (`registry.io`).
#[derive(Debug, Deserialize, JsonSchema)]
struct TagEnvironment {
    /// Where to write the environment name.
    target: Path,
    /// The environment name.
    environment: String,
}

impl MapTransform for TagEnvironment {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        message.set(&self.target, Value::String(self.environment.clone()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = sluice_transforms::registry();
    registry.map("acme.tag_environment", |s: TagEnvironment, _| Ok(s));

    let config = Config::from_value(
        json!({
            "transforms": [
                {"type": "parse.json"},
                {"type": "acme.tag_environment", "target": "labels.env", "environment": "prod"},
                {"type": "object.copy", "source": "eventName", "target": "event.action"}
            ]
        }),
        "embedded config",
    )?;
    let pipeline = config.build(&registry, &Resources::default())?;
    let batch = vec![
        Message::new(r#"{"eventName":"ConsoleLogin"}"#),
        Message::new("not json"),
    ];
    let mut processed = pipeline.process(batch).await?;
    processed.output.extend(pipeline.flush().await?.output);
    for message in &processed.output {
        println!("{}", String::from_utf8_lossy(&message.bytes()));
    }
    for message in &processed.errors {
        eprintln!("error route: {}", message.meta()["error"]["reason"]);
    }
    eprint!("{}", pipeline.account());
    Ok(())
}
