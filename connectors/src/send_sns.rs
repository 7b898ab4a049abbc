//! `send.sns`: PublishBatch to an SNS topic, ten messages a call.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_sns::types::PublishBatchRequestEntry;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.sns", |s: SnsSettings, b| {
        if !s.topic_arn.starts_with("arn:") {
            return Err(b.fail(format!(
                "field `topic_arn`: `{}` is not an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                s.topic_arn
            )));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        Sink::new(
            SnsDestination {
                topic_arn: s.topic_arn,
                subject: s.subject,
                aws,
                client: OnceCell::new(),
            },
            s.common,
            b,
        )
    });
}

/// Publish messages to an SNS topic (PublishBatch, with retries of refused entries).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SnsSettings {
    /// The topic's ARN.
    pub topic_arn: String,
    /// A subject for e-mail subscriptions.
    #[serde(default)]
    pub subject: Option<String>,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct SnsDestination {
    topic_arn: String,
    subject: Option<String>,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_sns::Client>,
}

impl Destination for SnsDestination {
    fn call_limits(&self) -> (usize, usize) {
        (10, 256 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.sns()).await;
            let entries = records
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    PublishBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message(String::from_utf8_lossy(&m.bytes()).into_owned())
                        .set_subject(self.subject.clone())
                        .build()
                        .map_err(|e| CallError::fail(format!("building an SNS entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let response = client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "SNS PublishBatch to {} failed: {}",
                        self.topic_arn,
                        aws_sdk_sns::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s)
                            if s.is_not_found_exception()
                                || s.is_authorization_error_exception() =>
                        {
                            CallError::fail(why)
                        }
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
                                "SNS refused the message: {}: {}",
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
