//! Direct invocation (`aws lambda invoke`, Step Functions, another function): the event is the
//! message, and the reply is the array of what came out of the pipeline.
//!
//! A message that ends on the error route makes the invocation fail with the reasons, so the
//! caller sees it (Step Functions can retry or catch it).

use super::{Function, LambdaError, mark};
use serde_json::Value;
use sluice_core::Message;
use sluice_core::testing::output_value;

/// Serves a direct invocation; the reply is the output as a JSON array.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let mut m = Message::from_value(event);
    mark(&mut m, 0);
    let outcome = f.run(vec![m]).await?;
    f.count(1, usize::from(!outcome.errors.is_empty()));
    if !outcome.errors.is_empty() {
        return Err(LambdaError::Failed(reasons(&outcome.errors)));
    }
    Ok(Value::Array(
        outcome.output.iter().map(output_value).collect(),
    ))
}

/// The reasons of messages on the error route, for an error reply.
pub(crate) fn reasons(errors: &[Message]) -> String {
    let mut reasons: Vec<String> = errors
        .iter()
        .map(|m| {
            let e = &m.meta()["error"];
            format!(
                "{}: {}",
                e["transform"].as_str().unwrap_or("input"),
                e["reason"].as_str().unwrap_or("failed")
            )
        })
        .collect();
    reasons.dedup();
    format!(
        "{} message{} on the error route: {}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        reasons.join("; ")
    )
}
