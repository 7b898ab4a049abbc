//! Kinesis Data Streams events: every record's data (KPL aggregates split into their user
//! records) becomes a message with `@meta.kinesis` as the Kinesis source gives it (stream,
//! shard, sequence number, sub-sequence number, partition key, arrival time).
//!
//! The reply lists the sequence number of every record that had a message end on the error
//! route, as batch item failures. With `ReportBatchItemFailures` on the event source mapping,
//! Lambda checkpoints before the lowest of them and retries from there: the records before it
//! are never sent again. (Records after it that succeeded are sent again: sinks should be
//! idempotent or tolerate duplicates, as with any at-least-once source.)

use super::{Function, LambdaError, parse_event, tag};
use crate::kpl::{RecordKind, deaggregate};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde_json::{Value, json};
use sluice_core::Message;

/// Serves a Kinesis event; the reply is a `KinesisEventResponse`.
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    let mut event: KinesisEvent = parse_event(event, "a Kinesis event")?;
    let mut messages = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.iter_mut().enumerate() {
        let stream = record
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.rsplit_once('/'))
            .map(|(_, name)| name.to_string());
        // eventID is `shardId-000000000000:49545115243490985018280067714973144582180062593244200961`.
        let shard = record
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map(|(shard, _)| shard.to_string());
        let k = &mut record.kinesis;
        let arrival = k.approximate_arrival_timestamp.0.to_rfc3339();
        let split = deaggregate(&k.partition_key, std::mem::take(&mut k.data.0));
        if matches!(split.kind, RecordKind::BadDigest | RecordKind::BadProtobuf) {
            tracing::warn!(shard, sequence = k.sequence_number, kind = ?split.kind, "an aggregated record did not check out; passed through as it was");
        }
        for user in split.records {
            let mut m = Message::new(user.data.to_vec());
            tag(
                &mut m,
                i,
                "kinesis",
                json!({
                    "stream": stream,
                    "shard": shard,
                    "sequence_number": k.sequence_number,
                    "sub_sequence_number": user.sub_sequence,
                    "partition_key": user.partition_key,
                    "arrival": arrival,
                }),
            );
            messages.push(m);
        }
    }
    let outcome = f.run(messages).await?;
    f.write_output(&outcome);
    let mut response = KinesisEventResponse::default();
    let mut last: Option<&str> = None;
    let failed = outcome.failed(event.records.len());
    for i in &failed {
        let sequence = event.records[*i].kinesis.sequence_number.as_str();
        if last != Some(sequence) {
            response.add_failure(sequence);
            last = Some(sequence);
        }
    }
    f.count(event.records.len(), failed.len());
    Ok(serde_json::to_value(response).expect("a reply serializes"))
}
