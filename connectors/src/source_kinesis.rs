//! `kinesis://stream` as an input: every shard read from TRIM_HORIZON, LATEST or a time, KPL
//! aggregates split into their user records, and (with `--until-now`) a stop at the stream's
//! current end instead of waiting for new records.
//!
//! Each message carries its origin in `@meta.kinesis` (stream, shard, sequence number,
//! sub-sequence, partition key, arrival time), so a pipeline can route or deduplicate on it.

use crate::aws::AwsContext;
use crate::kpl::{RecordKind, deaggregate};
use crate::source::{InputReport, SourceEvent};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::json;
use sluice_core::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A stream to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisStream {
    pub name: String,
}

/// Where reading starts in each shard.
#[derive(Debug, Clone, PartialEq)]
pub enum KinesisStart {
    TrimHorizon,
    Latest,
    At(chrono::DateTime<chrono::Utc>),
}

impl KinesisStart {
    pub fn parse(text: &str) -> Result<KinesisStart, String> {
        match text {
            "trim_horizon" => Ok(KinesisStart::TrimHorizon),
            "latest" => Ok(KinesisStart::Latest),
            t => chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| KinesisStart::At(d.to_utc()))
                .map_err(|_| {
                    format!(
                        "--kinesis-start: `{t}` is not trim_horizon, latest or an RFC 3339 time"
                    )
                }),
        }
    }
}

impl KinesisStream {
    /// `kinesis://stream-name`.
    pub fn parse(url: &str) -> Option<KinesisStream> {
        let name = url.strip_prefix("kinesis://")?.trim_end_matches('/');
        (!name.is_empty()).then(|| KinesisStream {
            name: name.to_string(),
        })
    }

    /// Reads every shard in turn into the channel; one account for the stream at the end.
    pub async fn read(
        self,
        aws: Arc<AwsContext>,
        start: KinesisStart,
        until_now: bool,
        batch_size: usize,
        tx: mpsc::Sender<SourceEvent>,
    ) {
        let url = format!("kinesis://{}", self.name);
        let mut report = InputReport {
            name: url.clone(),
            ..Default::default()
        };
        if let Err(e) = self
            .read_shards(&aws, &start, until_now, batch_size, &tx, &mut report)
            .await
        {
            report.error = Some(format!("{url}: {e}"));
        }
        let _ = tx.send(SourceEvent::Done(report)).await;
    }

    async fn read_shards(
        &self,
        aws: &AwsContext,
        start: &KinesisStart,
        until_now: bool,
        batch_size: usize,
        tx: &mpsc::Sender<SourceEvent>,
        report: &mut InputReport,
    ) -> Result<(), String> {
        let client = aws.kinesis().await;
        let shards = client
            .list_shards()
            .stream_name(&self.name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListShards: {}",
                    aws_sdk_kinesis::error::DisplayErrorContext(&e)
                )
            })?;
        let shard_ids: Vec<String> = shards
            .shards()
            .iter()
            .map(|s| s.shard_id().to_string())
            .collect();
        // Shards are read in turn when stopping at the current end, concurrently when tailing.
        let reads =
            shard_ids.into_iter().map(|shard| {
                let client = client.clone();
                let (tx, start) = (tx.clone(), start.clone());
                let stream = self.name.clone();
                async move {
                    read_shard(&client, &stream, &shard, &start, until_now, batch_size, &tx).await
                }
            });
        let results = futures::future::join_all(reads).await;
        for r in results {
            let (messages, bytes) = r?;
            report.messages += messages;
            report.bytes += bytes;
        }
        Ok(())
    }
}

async fn read_shard(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
    start: &KinesisStart,
    until_now: bool,
    batch_size: usize,
    tx: &mpsc::Sender<SourceEvent>,
) -> Result<(u64, u64), String> {
    let mut request = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard);
    request = match start {
        KinesisStart::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        KinesisStart::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
        KinesisStart::At(t) => request
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(aws_smithy_types::DateTime::from_millis(
                t.timestamp_millis(),
            )),
    };
    let mut iterator = request
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetShardIterator {shard}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(&e)
            )
        })?
        .shard_iterator
        .ok_or_else(|| format!("GetShardIterator {shard}: no iterator returned"))?;
    let (mut messages, mut bytes) = (0u64, 0u64);
    loop {
        let got = client
            .get_records()
            .shard_iterator(&iterator)
            .limit(batch_size.clamp(1, 10_000) as i32)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetRecords {shard}: {}",
                    aws_sdk_kinesis::error::DisplayErrorContext(&e)
                )
            })?;
        let mut batch = Vec::new();
        for record in got.records() {
            let outer_key = record.partition_key().unwrap_or_default();
            let arrival = record
                .approximate_arrival_timestamp()
                .map(|t| t.to_string());
            let split = deaggregate(outer_key, record.data().as_ref().to_vec());
            if matches!(split.kind, RecordKind::BadDigest | RecordKind::BadProtobuf) {
                tracing::warn!(shard, sequence = record.sequence_number(), kind = ?split.kind, "an aggregated record did not check out; passed through as it was");
            }
            for user in split.records {
                bytes += user.data.len() as u64;
                let mut m = Message::new(user.data.to_vec());
                m.meta_mut().insert(
                    "kinesis".into(),
                    json!({
                        "stream": stream,
                        "shard": shard,
                        "sequence_number": record.sequence_number(),
                        "sub_sequence_number": user.sub_sequence,
                        "partition_key": user.partition_key,
                        "arrival": arrival,
                    }),
                );
                batch.push(m);
            }
        }
        messages += batch.len() as u64;
        if !batch.is_empty() && tx.send(SourceEvent::Batch(batch)).await.is_err() {
            return Ok((messages, bytes));
        }
        let at_end = got.millis_behind_latest() == Some(0) && got.records().is_empty();
        match got.next_shard_iterator() {
            // A closed shard (after resharding) has no next iterator.
            None => return Ok((messages, bytes)),
            Some(next) => iterator = next.to_string(),
        }
        if at_end {
            if until_now {
                return Ok((messages, bytes));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_starts() {
        assert_eq!(
            KinesisStream::parse("kinesis://events"),
            Some(KinesisStream {
                name: "events".into()
            })
        );
        assert_eq!(KinesisStream::parse("kinesis://"), None);
        assert_eq!(KinesisStart::parse("latest"), Ok(KinesisStart::Latest));
        assert!(matches!(
            KinesisStart::parse("2026-11-23T00:00:00Z"),
            Ok(KinesisStart::At(_))
        ));
        assert!(
            KinesisStart::parse("yesterday")
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
