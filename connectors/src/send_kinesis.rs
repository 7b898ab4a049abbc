//! `send.kinesis`: PutRecords to a Kinesis data stream, optionally KPL-aggregated.
//!
//! Calls carry at most 500 records and 5 MiB. Each record's partition key comes from a field
//! (so related events stay ordered on one shard) or is random (so load spreads evenly); a batch
//! never shares one key, which is how Substation made hot shards. Records that Kinesis refuses
//! for throughput or internal errors are sent again with backoff; the rest go to the error route.
//!
//! With `aggregate`, messages are packed into KPL aggregated records of up to `max_bytes` (see
//! `kpl`): many more events per call and per shard write unit. Each message keeps its own
//! partition key in the aggregate's table; without a `partition_key` field each aggregate gets
//! one random key, so aggregates still spread over shards. A refused aggregate is retried, and
//! after the last attempt every message in it goes to the error route: none is lost.

use crate::aws::{AwsContext, AwsSettings};
use crate::kpl::{Aggregator, DEFAULT_MAX_RECORD_BYTES, LARGEST_MAX_RECORD_BYTES};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::message::value_text;
use sluice_core::{Message, Path, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.kinesis", |s: KinesisSettings, b| {
        if s.stream.is_empty() {
            return Err(b.fail("field `stream`: name the stream (or give its ARN)"));
        }
        if let Some(a) = &s.aggregate
            && !(1024..=LARGEST_MAX_RECORD_BYTES).contains(&a.max_bytes)
        {
            return Err(b.fail(format!(
                "field `aggregate.max_bytes`: must be between 1024 and {LARGEST_MAX_RECORD_BYTES} (the stream's largest record; 1 MiB unless raised)"
            )));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let destination = KinesisDestination {
            stream: s.stream,
            partition_key: s.partition_key,
            aggregate: s.aggregate,
            aws,
            client: OnceCell::new(),
        };
        Sink::new(destination, s.common, b)
    });
}

/// Put messages on a Kinesis data stream (PutRecords, with retries of refused records).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KinesisSettings {
    /// The stream's name or ARN.
    pub stream: String,
    /// A field whose value is each record's partition key; random keys when left out.
    #[serde(default)]
    pub partition_key: Option<Path>,
    /// Pack messages into KPL aggregated records: `{max_bytes}` (default 1 MiB, the stream's
    /// record limit). Consumers must deaggregate (the KCL, Lambda with the KPL library, and
    /// `sluice lambda` and `kinesis://` inputs do).
    #[serde(default)]
    pub aggregate: Option<AggregateSettings>,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

/// KPL aggregation in `send.kinesis`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateSettings {
    /// The largest aggregated record, counting its partition key, as Kinesis counts it.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_RECORD_BYTES
}

/// The most a PutRecords call carries: records, and bytes of data and partition keys.
const CALL_RECORDS: usize = 500;
const CALL_BYTES: usize = 5 * 1024 * 1024;

/// One record of a PutRecords call and the messages it carries (one, or an aggregate's).
pub struct Entry {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
    pub messages: Vec<usize>,
}

impl Entry {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The PutRecords calls for `records`: entries, grouped into calls of at most 500 records and
/// 5 MiB. With `aggregate`, messages are packed into aggregated records first. Messages that
/// cannot be sent (too large for an aggregate) are returned with the reason.
pub fn plan_calls(
    records: &mut [Message],
    partition_key_field: &Option<Path>,
    aggregate: Option<&AggregateSettings>,
) -> (Vec<Vec<Entry>>, Vec<(usize, String)>) {
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    match aggregate {
        None => {
            for (i, m) in records.iter_mut().enumerate() {
                let partition_key = partition_key(m, partition_key_field);
                let data = m.bytes().into_owned();
                // Kinesis refuses a whole call for one record over its limit: refuse it alone.
                if data.len() + partition_key.len() > DEFAULT_MAX_RECORD_BYTES {
                    refused.push((
                        i,
                        format!(
                            "the record is {} bytes with its key, over Kinesis' {DEFAULT_MAX_RECORD_BYTES}",
                            data.len() + partition_key.len()
                        ),
                    ));
                    continue;
                }
                entries.push(Entry {
                    partition_key,
                    explicit_hash_key: None,
                    data,
                    messages: vec![i],
                });
            }
        }
        Some(settings) => {
            // An aggregate never mixes shards, so consumers that check (the KCL) keep every
            // record: with a key field, one aggregate per key; without, all of an aggregate's
            // messages share one random key, a new one per aggregate.
            // Messages without a key (no field, or not in this message) share random keys.
            let mut open: Vec<Open> = Vec::new();
            let mut by_key: HashMap<String, usize> = HashMap::new();
            let mut shared: Option<usize> = None;
            for (i, m) in records.iter_mut().enumerate() {
                let own = field_key(m, partition_key_field);
                let slot = match &own {
                    Some(key) => *by_key.entry(key.clone()).or_insert_with(|| {
                        open.push(Open::new(key.clone(), settings.max_bytes));
                        open.len() - 1
                    }),
                    None => *shared.get_or_insert_with(|| {
                        open.push(Open::new(random_key(), settings.max_bytes));
                        open.len() - 1
                    }),
                };
                let data = m.bytes();
                let o = &mut open[slot];
                // A record's framing is at most 16 bytes beyond its data: start the next
                // aggregate, with a new key, before this one would overflow.
                let next = o.aggregator.size() + data.len() + 16;
                if own.is_none() && !o.aggregator.is_empty() && next > settings.max_bytes {
                    o.finish(&mut entries);
                    o.key = random_key();
                }
                match o.aggregator.add(&o.key, None, &data) {
                    Ok(None) => o.members.push(i),
                    Ok(Some(full)) => {
                        let messages = std::mem::replace(&mut o.members, vec![i]);
                        entries.push(aggregate_entry(full, messages));
                    }
                    Err(e) => refused.push((i, format!("cannot aggregate the record: {e}"))),
                }
            }
            for mut o in open {
                o.finish(&mut entries);
            }
        }
    }
    let mut calls: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let full = calls
            .last()
            .is_none_or(|c| c.len() == CALL_RECORDS || bytes + entry.size() > CALL_BYTES);
        if full {
            calls.push(Vec::new());
            bytes = 0;
        }
        bytes += entry.size();
        calls
            .last_mut()
            .expect("a call was just pushed")
            .push(entry);
    }
    (calls, refused)
}

/// An aggregate being filled: its key and the messages in it.
struct Open {
    key: String,
    aggregator: Aggregator,
    members: Vec<usize>,
}

impl Open {
    fn new(key: String, max_bytes: usize) -> Open {
        Open {
            key,
            aggregator: Aggregator::new(max_bytes),
            members: Vec::new(),
        }
    }

    fn finish(&mut self, entries: &mut Vec<Entry>) {
        if let Some(full) = self.aggregator.flush() {
            entries.push(aggregate_entry(full, std::mem::take(&mut self.members)));
        }
    }
}

fn random_key() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn aggregate_entry(a: crate::kpl::Aggregate, messages: Vec<usize>) -> Entry {
    Entry {
        partition_key: a.partition_key,
        explicit_hash_key: Some(a.explicit_hash_key),
        data: a.data,
        messages,
    }
}

struct KinesisDestination {
    stream: String,
    partition_key: Option<Path>,
    aggregate: Option<AggregateSettings>,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_kinesis::Client>,
}

/// A partition key for a record: the field's text (cut to Kinesis' 256 characters), or random.
pub fn partition_key(message: &mut Message, field: &Option<Path>) -> String {
    field_key(message, field).unwrap_or_else(random_key)
}

/// The field's text as a partition key, when the field is set and not empty.
fn field_key(message: &mut Message, field: &Option<Path>) -> Option<String> {
    let path = field.as_ref()?;
    let text = match message.get(path) {
        Ok(Some(v)) => value_text(v),
        _ => return None,
    };
    (!text.is_empty()).then(|| text.chars().take(256).collect())
}

/// Error codes that mean "try again later".
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "InternalFailure"
            | "KMSThrottlingException"
            | "ThrottlingException"
    )
}

impl Destination for KinesisDestination {
    fn call_limits(&self) -> (usize, usize) {
        match self.aggregate {
            // 5 MiB per call counts partition keys too; leave room for them.
            None => (CALL_RECORDS, CALL_BYTES - CALL_RECORDS * 256),
            // The messages of up to five full aggregates; `plan_calls` splits anything more.
            Some(_) => (usize::MAX, CALL_BYTES - 64 * 1024),
        }
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.kinesis()).await;
            let mut deliveries = vec![Delivery::Sent; records.len()];
            let (calls, refused) =
                plan_calls(records, &self.partition_key, self.aggregate.as_ref());
            for (i, why) in refused {
                deliveries[i] = Delivery::Failed(why);
            }
            for call in calls {
                let answers = match self.put_records(client, &call).await {
                    Ok(answers) => answers,
                    // Only part of the records went wrong: retry (or fail) this call's
                    // messages, keep what earlier calls delivered.
                    Err(e) => {
                        let d = match e.retryable {
                            true => Delivery::Retry(e.reason),
                            false => Delivery::Failed(e.reason),
                        };
                        vec![d; call.len()]
                    }
                };
                for (entry, answer) in call.iter().zip(answers) {
                    for &i in &entry.messages {
                        deliveries[i] = answer.clone();
                    }
                }
            }
            Ok(deliveries)
        })
    }
}

impl KinesisDestination {
    /// One PutRecords call; one delivery per entry.
    async fn put_records(
        &self,
        client: &aws_sdk_kinesis::Client,
        call: &[Entry],
    ) -> Result<Vec<Delivery>, CallError> {
        let entries = call
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .set_explicit_hash_key(e.explicit_hash_key.clone())
                    .build()
                    .map_err(|e| CallError::fail(format!("building a Kinesis record: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut request = client.put_records().set_records(Some(entries));
        request = if self.stream.starts_with("arn:") {
            request.stream_arn(&self.stream)
        } else {
            request.stream_name(&self.stream)
        };
        let response = request.send().await.map_err(|e| {
            let text = aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string();
            let throttled = e.as_service_error().is_some_and(|s| {
                s.is_provisioned_throughput_exceeded_exception() || s.is_kms_throttling_exception()
            });
            let why = format!("Kinesis PutRecords to `{}` failed: {text}", self.stream);
            if throttled || e.as_service_error().is_none() {
                CallError::retry(why)
            } else {
                CallError::fail(why)
            }
        })?;
        Ok(response
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => Delivery::Sent,
                Some(code) => {
                    let why = format!(
                        "Kinesis refused the record: {code}: {}",
                        r.error_message().unwrap_or("")
                    );
                    if retryable(code) {
                        Delivery::Retry(why)
                    } else {
                        Delivery::Failed(why)
                    }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(texts: &[String]) -> Vec<Message> {
        texts.iter().map(|t| Message::new(t.as_bytes())).collect()
    }

    #[test]
    fn a_record_over_the_limit_is_refused_alone() {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(DEFAULT_MAX_RECORD_BYTES));
        let texts = vec!["{\"a\":1}".to_string(), big, "{\"a\":2}".to_string()];
        let (calls, refused) = plan_calls(&mut messages(&texts), &None, None);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, 1);
        assert!(refused[0].1.contains("over Kinesis"), "{}", refused[0].1);
        let planned: Vec<usize> = calls
            .iter()
            .flatten()
            .flat_map(|e| e.messages.clone())
            .collect();
        assert_eq!(planned, [0, 2]);
    }

    #[test]
    fn messages_without_the_key_field_share_aggregates() {
        let texts: Vec<String> = (0..10)
            .map(|i| match i % 2 {
                0 => format!("{{\"user\":\"u{}\",\"n\":{i}}}", i % 4),
                _ => format!("{{\"n\":{i}}}"),
            })
            .collect();
        let field = Some(Path::parse("user"));
        let settings = AggregateSettings {
            max_bytes: DEFAULT_MAX_RECORD_BYTES,
        };
        let (calls, refused) = plan_calls(&mut messages(&texts), &field, Some(&settings));
        assert!(refused.is_empty());
        let entries: Vec<&Entry> = calls.iter().flatten().collect();
        // u0, u2, and one shared aggregate for the five without a user.
        assert_eq!(entries.len(), 3);
        let mut all: Vec<usize> = entries.iter().flat_map(|e| e.messages.clone()).collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(entries.iter().any(|e| e.messages == [1, 3, 5, 7, 9]));
    }
}
