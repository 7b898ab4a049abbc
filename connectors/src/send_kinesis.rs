//! `send.kinesis`: PutRecords to a Kinesis data stream.
//!
//! Calls carry at most 500 records and 5 MiB. Each record's partition key comes from a field
//! (so related events stay ordered on one shard) or is random (so load spreads evenly); a batch
//! never shares one key, which is how Substation made hot shards. Records that Kinesis refuses
//! for throughput or internal errors are sent again with backoff; the rest go to the error route.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::message::value_text;
use sluice_core::{Message, Path, Registry};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.transform("send.kinesis", |s: KinesisSettings, b| {
        if s.stream.is_empty() {
            return Err(b.fail("field `stream`: name the stream (or give its ARN)"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let destination = KinesisDestination {
            stream: s.stream,
            partition_key: s.partition_key,
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
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct KinesisDestination {
    stream: String,
    partition_key: Option<Path>,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_kinesis::Client>,
}

/// A partition key for a record: the field's text (cut to Kinesis' 256 characters), or random.
pub fn partition_key(message: &mut Message, field: &Option<Path>) -> String {
    if let Some(path) = field
        && let Ok(Some(v)) = message.get(path)
    {
        let text = value_text(v);
        if !text.is_empty() {
            return text.chars().take(256).collect();
        }
    }
    format!("{:032x}", fastrand::u128(..))
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
        // 5 MiB per call counts partition keys too; leave room for them.
        (500, 5 * 1024 * 1024 - 500 * 256)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.kinesis()).await;
            let entries = records
                .iter_mut()
                .map(|m| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(m.bytes().into_owned()))
                        .partition_key(partition_key(m, &self.partition_key))
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
                    s.is_provisioned_throughput_exceeded_exception()
                        || s.is_kms_throttling_exception()
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
        })
    }
}
