//! S3 objects named by notifications, each read like `sluice run s3://...` reads it (gzip found
//! by its magic bytes, one message per line, lines over `lambda.max_line_bytes` to the error
//! route with their size). The events this reads:
//!
//! - S3 event notifications sent to the function directly (`Records[].s3`);
//! - the same inside SNS notifications, and inside SQS messages (raw, or SNS envelopes that an
//!   SNS subscription put in the queue);
//! - EventBridge `Object Created` events (direct or through SQS);
//! - a Step Functions distributed map's batch over a prefix: `{"BatchInput": {"bucket": B},
//!   "Items": [{"Key": K, "Size": N}, ...]}` (what `deploy/` uses to backfill).
//!
//! Only object-created events are read; the others (removals, `s3:TestEvent`) are skipped.
//! Keys in S3 notifications are URL-encoded (`red+flower.jpg`) and are decoded first; keys in
//! EventBridge events and map items are used as they are.
//!
//! Every message carries `@meta.s3` (`{bucket, key}`) and the first line of each object
//! `@meta.input` (`{name: "s3://bucket/key", line: 1}`). Downloads run `lambda.concurrency`
//! objects ahead of the one being processed. When the objects came through SQS, the reply
//! lists the messages whose objects failed (unreadable, or with a line on the error route) as
//! batch item failures; otherwise any failure fails the invocation, so that Lambda (or Step
//! Functions) retries it.

use super::{Function, LambdaError, Outcome, log_line, parse_event, tag};
use crate::source::SourceEvent;
use crate::source_s3::{fetch_object, send_object};
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_lambda_events::event::streams::{SqsBatchItemFailure, SqsEventResponse};
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tokio::sync::mpsc;

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

impl ObjectRef {
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// An EventBridge `Object Created` event from S3.
pub(crate) fn is_object_created(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.s3")
        && event.get("detail-type").and_then(Value::as_str) == Some("Object Created")
}

/// A Step Functions distributed map's batch of S3 listing items.
pub(crate) fn is_map_batch(event: &Value) -> bool {
    event.get("Items").is_some_and(Value::is_array)
        && event
            .pointer("/BatchInput/bucket")
            .is_some_and(Value::is_string)
}

/// The created objects an event names: an S3 notification, an SNS envelope around one, an
/// EventBridge `Object Created` event, or a distributed map batch.
pub fn objects_in(event: &Value) -> Result<Vec<ObjectRef>, String> {
    let text = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if event.get("Records").is_some_and(Value::is_array) {
        let parsed: S3Event = serde_path_to_error::deserialize(event).map_err(|e| {
            format!(
                "an S3 notification that does not parse: {}: {}",
                e.path(),
                e.inner()
            )
        })?;
        let mut objects = Vec::new();
        for record in parsed.records {
            let name = record.event_name.unwrap_or_default();
            let (Some(bucket), Some(key)) = (record.s3.bucket.name, record.s3.object.key) else {
                return Err("an S3 notification without a bucket name or object key".into());
            };
            if !name.starts_with("ObjectCreated:") {
                log_line(
                    json!({"level": "INFO", "message": format!("skipped {name} for s3://{bucket}/{key}: only created objects are read")}),
                );
                continue;
            }
            objects.push(ObjectRef {
                bucket,
                key: decode_key(&key),
            });
        }
        return Ok(objects);
    }
    if event.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = text(event, "/Message").ok_or("an SNS envelope without a Message")?;
        let inner: Value = serde_json::from_str(&message)
            .map_err(|e| format!("the SNS message is not JSON: {e}"))?;
        return objects_in(&inner);
    }
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if is_object_created(event) {
        let bucket = text(event, "/detail/bucket/name")
            .ok_or("an Object Created event without detail.bucket.name")?;
        let key = text(event, "/detail/object/key")
            .ok_or("an Object Created event without detail.object.key")?;
        return Ok(vec![ObjectRef { bucket, key }]);
    }
    if is_map_batch(event) {
        let bucket = text(event, "/BatchInput/bucket").unwrap_or_default();
        let items = event["Items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        return items
            .iter()
            .map(|item| {
                let key = text(item, "/Key").ok_or("a map item without Key")?;
                Ok(ObjectRef {
                    bucket: bucket.clone(),
                    key,
                })
            })
            .collect();
    }
    Err("expected an S3 notification (Records[].s3), an SNS envelope of one, an EventBridge Object Created event, or a distributed map batch (BatchInput.bucket, Items[].Key)".into())
}

/// Undoes the form encoding of keys in S3 notifications: `+` is a space, `%XX` a byte.
pub fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// One record of the event and the objects it names (or why they could not be read from it).
struct Item {
    id: Option<String>,
    objects: Result<Vec<ObjectRef>, String>,
}

/// Serves an S3 notification in any of its wrappings.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let source = event
        .pointer("/Records/0/eventSource")
        .or_else(|| event.pointer("/Records/0/EventSource"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (items, by_message) = match source.as_deref() {
        Some("aws:sqs") => {
            let sqs: SqsEvent = parse_event(event, "an SQS event")?;
            let items = sqs
                .records
                .into_iter()
                .map(|r| Item {
                    objects: serde_json::from_str::<Value>(r.body.as_deref().unwrap_or(""))
                        .map_err(|e| format!("the message body is not JSON: {e}"))
                        .and_then(|v| objects_in(&v)),
                    id: r.message_id,
                })
                .collect::<Vec<_>>();
            (items, true)
        }
        Some("aws:sns") => {
            let sns: SnsEvent = parse_event(event, "an SNS event")?;
            let items = sns
                .records
                .into_iter()
                .map(|r| Item {
                    objects: serde_json::from_str::<Value>(&r.sns.message)
                        .map_err(|e| format!("the SNS message is not JSON: {e}"))
                        .and_then(|v| objects_in(&v)),
                    id: Some(r.sns.message_id),
                })
                .collect();
            (items, false)
        }
        _ => {
            let objects = objects_in(&event).map_err(|reason| LambdaError::BadEvent {
                expected: "an S3 notification",
                reason,
            })?;
            (
                vec![Item {
                    id: None,
                    objects: Ok(objects),
                }],
                false,
            )
        }
    };
    let mut failed = BTreeSet::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Err(reason) = &item.objects {
            let id = item.id.as_deref().unwrap_or("the event");
            problems.push(format!("{id}: {reason}"));
            log_line(
                json!({"level": "ERROR", "message": format!("not an S3 notification: {reason}"), "record": i, "id": item.id}),
            );
            failed.insert(i);
        }
    }
    let jobs: Vec<(usize, ObjectRef)> = items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| item.objects.iter().flatten().map(move |o| (i, o.clone())))
        .collect();
    let objects = jobs.len();
    let mut outcome = Outcome::default();
    let mut lines = 0u64;
    if !jobs.is_empty() {
        let client = f.aws().s3().await;
        // Downloads are spawned ahead (up to `concurrency`) while one object is processed.
        let mut fetched = stream::iter(jobs)
            .map(|(i, object)| {
                let client = client.clone();
                let o = object.clone();
                let download =
                    tokio::spawn(async move { fetch_object(&client, &o.bucket, &o.key).await });
                async move { (i, object, download.await) }
            })
            .buffered(f.settings().concurrency);
        while let Some((i, object, download)) = fetched.next().await {
            let name = object.url();
            let bytes = match download {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => {
                    problems.push(format!("{name}: {e}"));
                    log_line(
                        json!({"level": "ERROR", "message": format!("{name}: {e}"), "record": i}),
                    );
                    failed.insert(i);
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    failed.insert(i);
                    continue;
                }
            };
            let (tx, mut rx) = mpsc::channel(4);
            let (batch_size, max_line) = (f.settings().batch_size, f.settings().max_line_bytes);
            let reader = {
                let name = name.clone();
                tokio::task::spawn_blocking(move || {
                    send_object(&name, bytes, batch_size, max_line, &tx, |_| {})
                })
            };
            let meta = json!({"bucket": object.bucket, "key": object.key});
            while let Some(event) = rx.recv().await {
                match event {
                    SourceEvent::Batch(mut batch) => {
                        lines += batch.len() as u64;
                        for m in &mut batch {
                            tag(m, i, "s3", meta.clone());
                        }
                        f.process(&mut outcome, batch).await?;
                    }
                    SourceEvent::Refused(mut m, reason) => {
                        lines += 1;
                        tag(&mut m, i, "s3", meta.clone());
                        f.reject(&mut outcome, m, reason).await?;
                    }
                    SourceEvent::Done(_) => {}
                }
            }
            let report = reader
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| match r.error {
                    Some(e) => Err(e),
                    None => Ok(()),
                });
            if let Err(e) = report {
                problems.push(e.clone());
                log_line(json!({"level": "ERROR", "message": e, "record": i}));
                failed.insert(i);
            }
        }
    }
    f.finish(&mut outcome).await?;
    f.write_output(&outcome);
    let on_route = outcome.failed(items.len());
    if !on_route.is_empty() {
        problems.push(format!(
            "{} line{} on the error route",
            outcome.errors.len(),
            if outcome.errors.len() == 1 { "" } else { "s" }
        ));
    }
    failed.extend(on_route);
    f.count(items.len(), failed.len());
    if by_message {
        let mut response = SqsEventResponse::default();
        for i in &failed {
            let mut item = SqsBatchItemFailure::default();
            item.item_identifier = items[*i].id.clone();
            response.batch_item_failures.push(item);
        }
        return Ok(serde_json::to_value(response).expect("a reply serializes"));
    }
    if !failed.is_empty() {
        return Err(LambdaError::Failed(format!(
            "S3 objects failed; the invocation fails so that it is retried: {}",
            problems.join("; ")
        )));
    }
    Ok(json!({"objects": objects, "lines": lines, "output": outcome.output.len()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("red+flower.jpg"), "red flower.jpg");
        assert_eq!(decode_key("a%2Bb%3Dc%2F%C3%A9"), "a+b=c/é");
        assert_eq!(decode_key("logs/2026/x.gz"), "logs/2026/x.gz");
        assert_eq!(decode_key("50%"), "50%");
        assert_eq!(decode_key("%zz%4"), "%zz%4");
        assert_eq!(decode_key(""), "");
    }

    #[test]
    fn objects_are_found_in_every_wrapping() {
        let notification = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "eventTime": "2026-11-23T00:00:00.000Z", "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b.gz", "size": 5}}, "requestParameters": {}, "userIdentity": {}, "responseElements": {}},
            {"eventName": "ObjectRemoved:Delete", "eventTime": "2026-11-23T00:00:00.000Z", "s3": {"bucket": {"name": "b"}, "object": {"key": "gone"}}, "requestParameters": {}, "userIdentity": {}, "responseElements": {}}
        ]});
        let one = vec![ObjectRef {
            bucket: "b".into(),
            key: "a b.gz".into(),
        }];
        assert_eq!(objects_in(&notification).unwrap(), one);
        let envelope = json!({"Type": "Notification", "Message": notification.to_string()});
        assert_eq!(objects_in(&envelope).unwrap(), one);
        let created = json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {"key": "a b.gz"}}});
        assert_eq!(objects_in(&created).unwrap(), one);
        let batch = json!({"BatchInput": {"bucket": "b"}, "Items": [{"Key": "a b.gz", "Size": 5}]});
        assert_eq!(objects_in(&batch).unwrap(), one);
        assert_eq!(
            objects_in(&json!({"Service": "Amazon S3", "Event": "s3:TestEvent"})).unwrap(),
            vec![]
        );
        let e = objects_in(&json!({"hello": 1})).unwrap_err();
        assert!(e.contains("expected an S3 notification"), "{e}");
    }
}
