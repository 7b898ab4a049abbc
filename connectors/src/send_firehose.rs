//! `send.firehose`: PutRecordBatch to a Firehose delivery stream (500 records, 4 MiB a call).

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.firehose", |s: FirehoseSettings, b| {
        if s.delivery_stream.is_empty() {
            return Err(b.fail("field `delivery_stream`: name the delivery stream"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        Sink::new(
            FirehoseDestination {
                stream: s.delivery_stream,
                aws,
                client: OnceCell::new(),
            },
            s.common,
            b,
        )
    });
}

/// Put messages on a Firehose delivery stream, one record per message with a newline after it
/// (PutRecordBatch, with retries of refused records).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FirehoseSettings {
    /// The delivery stream's name.
    pub delivery_stream: String,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct FirehoseDestination {
    stream: String,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_firehose::Client>,
}

impl Destination for FirehoseDestination {
    fn call_limits(&self) -> (usize, usize) {
        (500, 4 * 1024 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.firehose()).await;
            let entries = records
                .iter()
                .map(|m| {
                    let mut data = Vec::with_capacity(m.bytes().len() + 1);
                    m.write_to(&mut data);
                    data.push(b'\n');
                    Record::builder()
                        .data(Blob::new(data))
                        .build()
                        .map_err(|e| CallError::fail(format!("building a Firehose record: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let response = client
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "Firehose PutRecordBatch to `{}` failed: {}",
                        self.stream,
                        aws_sdk_firehose::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s)
                            if s.is_resource_not_found_exception()
                                || s.is_invalid_argument_exception() =>
                        {
                            CallError::fail(why)
                        }
                        _ => CallError::retry(why),
                    }
                })?;
            Ok(response
                .request_responses()
                .iter()
                .map(|r| match r.error_code() {
                    None => Delivery::Sent,
                    // Firehose reports throttling and internal errors per record; both pass.
                    Some(code) => Delivery::Retry(format!(
                        "Firehose refused the record: {code}: {}",
                        r.error_message().unwrap_or("")
                    )),
                })
                .collect())
        })
    }
}
