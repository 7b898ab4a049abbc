//! SQS events: every message body becomes a message with `@meta.sqs` (message id, queue ARN,
//! the system attributes such as `SentTimestamp` and `ApproximateReceiveCount`, and the message
//! attributes as name to value).
//!
//! The reply lists the message id of every message that had a message end on the error route
//! (`ReportBatchItemFailures`); SQS makes only those visible again. On a FIFO queue, order
//! matters: every message from the first failure on is reported, so none overtakes it.

use super::{Function, LambdaError, parse_event, tag};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessageAttribute};
use aws_lambda_events::event::streams::{SqsBatchItemFailure, SqsEventResponse};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sluice_core::Message;
use std::collections::HashMap;

/// Serves an SQS event; the reply is an `SqsEventResponse`.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let mut event: SqsEvent = parse_event(event, "an SQS event")?;
    let mut messages = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.iter_mut().enumerate() {
        let mut m = Message::new(record.body.take().unwrap_or_default());
        tag(
            &mut m,
            i,
            "sqs",
            json!({
                "message_id": record.message_id,
                "queue": record.event_source_arn,
                "attributes": record.attributes,
                "message_attributes": attributes(&record.message_attributes),
            }),
        );
        messages.push(m);
    }
    let outcome = f.run(messages).await?;
    f.write_output(&outcome);
    let mut failed = outcome.failed(event.records.len());
    let fifo = event
        .records
        .first()
        .and_then(|r| r.event_source_arn.as_deref())
        .is_some_and(|arn| arn.ends_with(".fifo"));
    if let (true, Some(first)) = (fifo, failed.first().copied()) {
        failed.extend(first..event.records.len());
    }
    let mut response = SqsEventResponse::default();
    for i in &failed {
        let mut item = SqsBatchItemFailure::default();
        item.item_identifier = event.records[*i].message_id.clone();
        response.batch_item_failures.push(item);
    }
    f.count(event.records.len(), failed.len());
    Ok(serde_json::to_value(response).expect("a reply serializes"))
}

/// Message attributes as name to value: the string value, or the binary value in base64.
pub(crate) fn attributes(attributes: &HashMap<String, SqsMessageAttribute>) -> Value {
    let map: Map<String, Value> = attributes
        .iter()
        .map(|(name, a)| {
            let value = match (&a.string_value, &a.binary_value) {
                (Some(s), _) => Value::String(s.clone()),
                (None, Some(b)) => {
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&b.0))
                }
                (None, None) => Value::Null,
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(map)
}
