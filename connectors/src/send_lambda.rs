//! `send.lambda`: invoke a Lambda function asynchronously with each batch as a JSON array.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.lambda", |s: LambdaSettings, b| {
        if s.function_name.is_empty() {
            return Err(b.fail("field `function_name`: name the function (or give its ARN)"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        Sink::new(
            LambdaDestination {
                function: s.function_name,
                aws,
                client: OnceCell::new(),
            },
            s.common,
            b,
        )
    });
}

/// Invoke a function asynchronously (InvocationType Event); the payload is a JSON array of the
/// batch's messages (at most 256 KB per invocation).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LambdaSettings {
    /// The function's name or ARN.
    pub function_name: String,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct LambdaDestination {
    function: String,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_lambda::Client>,
}

impl Destination for LambdaDestination {
    fn call_limits(&self) -> (usize, usize) {
        // The asynchronous payload limit, less the array's brackets and commas.
        (usize::MAX, 250 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let mut payload = Vec::with_capacity(records.len() * 512);
            payload.push(b'[');
            for (i, m) in records.iter_mut().enumerate() {
                if i > 0 {
                    payload.push(b',');
                }
                match m.value() {
                    Ok(v) => serde_json::to_writer(&mut payload, v).map_err(CallError::fail)?,
                    // Text that is not JSON travels as a JSON string.
                    Err(_) => {
                        serde_json::to_writer(&mut payload, &String::from_utf8_lossy(&m.bytes()))
                            .map_err(CallError::fail)?
                    }
                }
            }
            payload.push(b']');
            let client = self.client.get_or_init(|| self.aws.lambda()).await;
            client
                .invoke()
                .function_name(&self.function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "Lambda Invoke of `{}` failed: {}",
                        self.function,
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s)
                            if s.is_too_many_requests_exception() || s.is_service_exception() =>
                        {
                            CallError::retry(why)
                        }
                        Some(_) => CallError::fail(why),
                        None => CallError::retry(why),
                    }
                })?;
            Ok(vec![Delivery::Sent; records.len()])
        })
    }
}
