//! DynamoDB Streams: every change becomes one message,
//!
//! ```json
//! {"operation": "MODIFY", "table": "users", "time": "2026-11-23T10:00:00Z",
//!  "keys": {"id": "u1"}, "old": {...}, "new": {...}}
//! ```
//!
//! with the images in plain JSON (numbers stay exact: DynamoDB's decimal strings become JSON
//! numbers without going through floating point; sets become arrays; binary stays base64).
//! `old` and `new` are `null` when the stream's view type leaves them out. `@meta.dynamodb` has
//! the event id, sequence number, stream ARN and, for deletions by TTL, the user identity
//! (`{"type": "Service", "principalId": "dynamodb.amazonaws.com"}`).
//!
//! The reply lists the sequence number of every change that had a message end on the error
//! route, as batch item failures (`ReportBatchItemFailures`), as for Kinesis.
//!
//! The event is read with its own small structs rather than aws_lambda_events' `dynamodb`
//! feature, which reads images through serde_dynamo and would add a dependency for what is a
//! short conversion here.

use super::{Function, LambdaError, parse_event, tag};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use serde_json::{Map, Number, Value, json};
use sluice_core::Message;

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Records")]
    records: Vec<Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
    event_name: String,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
    #[serde(default)]
    user_identity: Option<Value>,
    dynamodb: Change,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    #[serde(default)]
    approximate_creation_date_time: Option<f64>,
    #[serde(default)]
    keys: Map<String, Value>,
    #[serde(default)]
    new_image: Option<Map<String, Value>>,
    #[serde(default)]
    old_image: Option<Map<String, Value>>,
    sequence_number: String,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    stream_view_type: Option<String>,
}

/// Serves a DynamoDB Streams event; the reply is a `DynamoDbEventResponse`.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let event: Event = parse_event(event, "a DynamoDB Streams event")?;
    let mut messages = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.iter().enumerate() {
        let change = &record.dynamodb;
        // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
        let table = record
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.split('/').nth(1));
        let time = change
            .approximate_creation_date_time
            .and_then(|s| chrono::DateTime::from_timestamp_millis((s * 1000.0).round() as i64))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        let data = json!({
            "operation": record.event_name,
            "table": table,
            "time": time,
            "keys": item(&change.keys),
            "old": change.old_image.as_ref().map(item),
            "new": change.new_image.as_ref().map(item),
        });
        let mut m = Message::from_value(data);
        tag(
            &mut m,
            i,
            "dynamodb",
            json!({
                "event_id": record.event_id,
                "sequence_number": change.sequence_number,
                "stream": record.event_source_arn,
                "view_type": change.stream_view_type,
                "size_bytes": change.size_bytes,
                "user_identity": record.user_identity,
            }),
        );
        messages.push(m);
    }
    let outcome = f.run(messages).await?;
    f.write_output(&outcome);
    let failed = outcome.failed(event.records.len());
    let mut response = DynamoDbEventResponse::default();
    for i in &failed {
        let mut item = DynamoDbBatchItemFailure::default();
        item.item_identifier = Some(event.records[*i].dynamodb.sequence_number.clone());
        response.batch_item_failures.push(item);
    }
    f.count(event.records.len(), failed.len());
    Ok(serde_json::to_value(response).expect("a reply serializes"))
}

/// A DynamoDB JSON item (`{"name": {"S": "x"}}`) as plain JSON.
pub fn item(map: &Map<String, Value>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
}

/// One DynamoDB JSON attribute value as plain JSON; anything unrecognised is kept as it is.
pub fn attribute(value: &Value) -> Value {
    let Some((kind, inner)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        return value.clone();
    };
    let list = |f: fn(&Value) -> Value| match inner {
        Value::Array(items) => Value::Array(items.iter().map(f).collect()),
        other => other.clone(),
    };
    match kind.as_str() {
        "S" | "B" | "BOOL" => inner.clone(),
        "NULL" => Value::Null,
        "N" => number(inner),
        "M" => inner.as_object().map_or_else(|| inner.clone(), item),
        "L" => list(attribute),
        "SS" | "BS" => inner.clone(),
        "NS" => list(number),
        _ => value.clone(),
    }
}

/// DynamoDB's decimal string as a JSON number (exact for integers); kept as text if JSON cannot
/// hold it.
fn number(value: &Value) -> Value {
    match value {
        Value::String(text) => text
            .parse::<Number>()
            .map(Value::Number)
            .unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_json_becomes_plain_json() {
        let image = json!({
            "id": {"S": "u1"},
            "big": {"N": "18446744073709551615"},
            "neg": {"N": "-9223372036854775808"},
            "ratio": {"N": "0.25"},
            "ok": {"BOOL": true},
            "none": {"NULL": true},
            "tags": {"SS": ["a", "b"]},
            "scores": {"NS": ["1", "2.5"]},
            "blob": {"B": "AAE="},
            "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}]}}},
            "name": {"S": "Zoë"},
        });
        let plain = item(image.as_object().unwrap());
        assert_eq!(
            plain,
            json!({
                "id": "u1", "big": 18446744073709551615u64, "neg": -9223372036854775808i64,
                "ratio": 0.25, "ok": true, "none": null, "tags": ["a", "b"], "scores": [1, 2.5],
                "blob": "AAE=", "nested": {"list": ["x", 3, {}]}, "name": "Zoë",
            })
        );
        assert_eq!(plain["big"].as_u64(), Some(u64::MAX));
        // Not DynamoDB JSON: kept as it is.
        assert_eq!(attribute(&json!({"X": 1, "Y": 2})), json!({"X": 1, "Y": 2}));
        assert_eq!(attribute(&json!("plain")), json!("plain"));
        assert_eq!(
            attribute(&json!({"N": "not a number"})),
            json!("not a number")
        );
    }
}
