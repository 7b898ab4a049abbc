//! SNS events: every notification's `Message` becomes a message with `@meta.sns` (message id,
//! topic ARN, subject, timestamp, and the message attributes as name to value).
//!
//! SNS invokes functions asynchronously and has no partial reply, so a notification that had a
//! message end on the error route fails the invocation: Lambda retries it (twice by default),
//! then sends it to the function's on-failure destination.

use super::{Function, LambdaError, parse_event, tag};
use aws_lambda_events::event::sns::SnsEvent;
use serde_json::{Map, Value, json};
use sluice_core::Message;

/// Serves an SNS event; the reply counts the notifications and the messages that came out.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let mut event: SnsEvent = parse_event(event, "an SNS event")?;
    let mut messages = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.iter_mut().enumerate() {
        let sns = &mut record.sns;
        let attributes: Map<String, Value> = sns
            .message_attributes
            .iter()
            .map(|(name, a)| (name.clone(), Value::String(a.value.clone())))
            .collect();
        let mut m = Message::new(std::mem::take(&mut sns.message));
        tag(
            &mut m,
            i,
            "sns",
            json!({
                "message_id": sns.message_id,
                "topic": sns.topic_arn,
                "subject": sns.subject,
                "timestamp": sns.timestamp.to_rfc3339(),
                "message_attributes": attributes,
            }),
        );
        messages.push(m);
    }
    let outcome = f.run(messages).await?;
    f.write_output(&outcome);
    let failed = outcome.failed(event.records.len());
    f.count(event.records.len(), failed.len());
    if !failed.is_empty() {
        let ids: Vec<&str> = failed
            .iter()
            .map(|i| event.records[*i].sns.message_id.as_str())
            .collect();
        return Err(LambdaError::Failed(format!(
            "{} of {} SNS notifications had messages on the error route ({}); the invocation fails so that Lambda retries it",
            failed.len(),
            event.records.len(),
            ids.join(", ")
        )));
    }
    Ok(json!({"notifications": event.records.len(), "output": outcome.output.len()}))
}
