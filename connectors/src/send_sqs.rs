//! `send.sqs`: SendMessageBatch to an SQS queue, ten messages a call.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::message::value_text;
use sluice_core::{Message, Path, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.sqs", |s: SqsSettings, b| {
        if !s.queue_url.starts_with("http://") && !s.queue_url.starts_with("https://") {
            return Err(b.fail(format!("field `queue_url`: `{}` is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", s.queue_url)));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let destination = SqsDestination { s: SqsTarget { queue_url: s.queue_url, group_id: s.message_group_id }, aws, client: OnceCell::new() };
        Sink::new(destination, s.common, b)
    });
}

/// Send messages to an SQS queue (SendMessageBatch, with retries of refused entries).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SqsSettings {
    /// The queue's URL.
    pub queue_url: String,
    /// For FIFO queues: a field whose value is the message group id.
    #[serde(default)]
    pub message_group_id: Option<Path>,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct SqsTarget {
    queue_url: String,
    group_id: Option<Path>,
}

struct SqsDestination {
    s: SqsTarget,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_sqs::Client>,
}

impl Destination for SqsDestination {
    fn call_limits(&self) -> (usize, usize) {
        (10, 256 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.sqs()).await;
            let mut entries = Vec::with_capacity(records.len());
            for (i, m) in records.iter_mut().enumerate() {
                let body = String::from_utf8_lossy(&m.bytes()).into_owned();
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body);
                if let Some(path) = &self.s.group_id {
                    let group = m
                        .get(path)
                        .ok()
                        .flatten()
                        .map(|v| value_text(v).into_owned())
                        .unwrap_or_else(|| "default".into());
                    entry = entry
                        .message_group_id(group)
                        .message_deduplication_id(format!("{:032x}", fastrand::u128(..)));
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| CallError::fail(format!("building an SQS entry: {e}")))?,
                );
            }
            let response = client
                .send_message_batch()
                .queue_url(&self.s.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "SQS SendMessageBatch to {} failed: {}",
                        self.s.queue_url,
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s) if s.is_queue_does_not_exist() => CallError::fail(why),
                        _ => CallError::retry(why),
                    }
                })?;
            let failed: HashMap<&str, (bool, String)> = response
                .failed()
                .iter()
                .map(|f| {
                    (
                        f.id(),
                        (
                            f.sender_fault(),
                            format!(
                                "SQS refused the message: {}: {}",
                                f.code(),
                                f.message().unwrap_or("")
                            ),
                        ),
                    )
                })
                .collect();
            Ok((0..records.len())
                .map(|i| match failed.get(i.to_string().as_str()) {
                    None => Delivery::Sent,
                    Some((true, why)) => Delivery::Failed(why.clone()),
                    Some((false, why)) => Delivery::Retry(why.clone()),
                })
                .collect())
        })
    }
}
