//! `send.dynamodb`: each message (a JSON object holding the table's key attributes) written as
//! an item with BatchWriteItem, 25 items a call; unprocessed items are retried with the sink's
//! backoff and, after the last attempt, go to the error route.

use crate::aws::{AwsContext, AwsSettings};
use crate::dynamodb_item::{from_item, to_item};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{Message, Registry};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.dynamodb", |s: SendSettings, b| {
        if s.table.is_empty() {
            return Err(b.fail("field `table`: name the table"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        Sink::new(
            DynamoDestination {
                table: s.table,
                aws,
                client: OnceCell::new(),
            },
            s.common,
            b,
        )
    });
}

/// Write each message (a JSON object holding the table's key attributes) as an item
/// (BatchWriteItem, 25 items a call, with retries of unprocessed items).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendSettings {
    /// The table.
    pub table: String,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct DynamoDestination {
    table: String,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_dynamodb::Client>,
}

impl Destination for DynamoDestination {
    fn call_limits(&self) -> (usize, usize) {
        (25, 16 * 1024 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let mut deliveries = vec![Delivery::Sent; records.len()];
            let mut requests = Vec::new();
            let mut index = Vec::new();
            for (i, m) in records.iter_mut().enumerate() {
                match m.value() {
                    Ok(Value::Object(map)) => {
                        let put = PutRequest::builder().set_item(Some(to_item(map))).build();
                        match put {
                            Ok(p) => {
                                requests.push(WriteRequest::builder().put_request(p).build());
                                index.push(i);
                            }
                            Err(e) => {
                                deliveries[i] =
                                    Delivery::Failed(format!("building a DynamoDB item: {e}"))
                            }
                        }
                    }
                    Ok(_) => {
                        deliveries[i] =
                            Delivery::Failed("a DynamoDB item must be a JSON object".into())
                    }
                    Err(e) => deliveries[i] = Delivery::Failed(e.to_string()),
                }
            }
            if requests.is_empty() {
                return Ok(deliveries);
            }
            let client = self.client.get_or_init(|| self.aws.dynamodb()).await;
            let out = client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "DynamoDB BatchWriteItem to `{}` failed: {}",
                        self.table,
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s) if s.is_resource_not_found_exception() => CallError::fail(why),
                        _ => CallError::retry(why),
                    }
                })?;
            // Unprocessed items come back as the requests themselves: match them to records.
            let unprocessed: Vec<Value> = out
                .unprocessed_items()
                .and_then(|u| u.get(&self.table))
                .into_iter()
                .flatten()
                .filter_map(|w| w.put_request().map(|p| from_item(p.item())))
                .collect();
            for i in index {
                if let Ok(v) = records[i].value()
                    && unprocessed.contains(v)
                {
                    deliveries[i] =
                        Delivery::Retry("DynamoDB left the item unprocessed (throughput)".into());
                }
            }
            Ok(deliveries)
        })
    }
}
