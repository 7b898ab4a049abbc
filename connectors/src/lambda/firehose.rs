//! Kinesis Data Firehose data transformation: every record's data becomes a message with
//! `@meta.firehose` (record id, arrival time, delivery stream, and the source stream's shard,
//! partition key and sequence number when Firehose reads from Kinesis).
//!
//! Each record gets one reply, in order. `Ok` carries what came out for it, each output ended
//! by a newline (so the delivered S3 objects are JSON lines; `lambda.firehose_newline: false`
//! turns that off); a record whose messages were all dropped by rule or consumed by a sink is
//! `Dropped`; a record with a message on the error route is `ProcessingFailed` with its original
//! data, which Firehose writes under the destination's error prefix. An output that lost its
//! record index (a transform made it from scratch) goes with the batch's last record that did
//! not fail. An output's `@meta.firehose.partition_keys` object becomes the record's
//! dynamic-partitioning keys.

use super::{Function, LambdaError, parse_event, record_of, tag};
use aws_lambda_events::event::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseResponse, KinesisFirehoseResponseRecord,
};
use serde_json::{Value, json};
use sluice_core::Message;

/// Serves a Firehose transformation; the reply is a `KinesisFirehoseResponse`.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let mut event: KinesisFirehoseEvent = parse_event(event, "a Firehose transformation event")?;
    let count = event.records.len();
    let mut originals = Vec::with_capacity(count);
    let mut messages = Vec::with_capacity(count);
    for (i, record) in event.records.iter_mut().enumerate() {
        let data = std::mem::take(&mut record.data.0);
        let mut m = Message::new(data.clone());
        originals.push(data);
        let source = record.kinesis_firehose_record_metadata.as_ref().map(|k| {
            json!({
                "shard": k.shard_id,
                "partition_key": k.partition_key,
                "sequence_number": k.sequence_number,
                "sub_sequence_number": k.subsequence_number,
            })
        });
        tag(
            &mut m,
            i,
            "firehose",
            json!({
                "record_id": record.record_id,
                "arrival": record.approximate_arrival_timestamp.0.to_rfc3339(),
                "delivery_stream": event.delivery_stream_arn,
                "source": source,
            }),
        );
        messages.push(m);
    }
    let outcome = f.run(messages).await?;
    let failed = outcome.failed(count);
    let mut data: Vec<Option<Vec<u8>>> = vec![None; count];
    let mut keys: Vec<Option<Value>> = vec![None; count];
    let fallback = (0..count).rev().find(|i| !failed.contains(i));
    for m in &outcome.output {
        let Some(i) = record_of(m).filter(|i| *i < count).or(fallback) else {
            return Err(LambdaError::Failed(
                "an output without its record index, and every record failed: nowhere to put it"
                    .into(),
            ));
        };
        if failed.contains(&i) {
            continue;
        }
        let buf = data[i].get_or_insert_with(Vec::new);
        m.write_to(buf);
        if f.settings().firehose_newline {
            buf.push(b'\n');
        }
        if keys[i].is_none() {
            keys[i] = m
                .meta()
                .pointer("/firehose/partition_keys")
                .filter(|v| v.is_object())
                .cloned();
        }
    }
    let mut response = KinesisFirehoseResponse::default();
    for (i, record) in event.records.into_iter().enumerate() {
        let mut reply = KinesisFirehoseResponseRecord::default();
        reply.record_id = record.record_id;
        let (result, bytes) = if failed.contains(&i) {
            ("ProcessingFailed", std::mem::take(&mut originals[i]))
        } else {
            match data[i].take() {
                Some(bytes) => ("Ok", bytes),
                None => ("Dropped", Vec::new()),
            }
        };
        reply.result = Some(result.into());
        reply.data.0 = bytes;
        if let Some(Value::Object(map)) = keys[i].take() {
            reply.metadata.partition_keys = map
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect();
        }
        response.records.push(reply);
    }
    f.count(count, failed.len());
    Ok(serde_json::to_value(response).expect("a reply serializes"))
}
