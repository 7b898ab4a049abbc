//! `send.eventbridge`: PutEvents to an event bus, ten events a call.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.eventbridge", |s: EventBridgeSettings, b| {
        if s.source.is_empty() || s.detail_type.is_empty() {
            return Err(b.fail("fields `source` and `detail_type`: both must be given (EventBridge rules match on them)"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let destination = EventBridgeDestination { bus: s.event_bus, source: s.source, detail_type: s.detail_type, aws, client: OnceCell::new() };
        Sink::new(destination, s.common, b)
    });
}

/// Put each message (a JSON object) on an EventBridge bus as an event's `detail`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EventBridgeSettings {
    /// The event bus name or ARN.
    #[serde(default = "default_bus")]
    pub event_bus: String,
    /// The events' `source`, e.g. `sluice.alerts`.
    pub source: String,
    /// The events' `detail-type`, e.g. `Sluice Alert`.
    pub detail_type: String,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

fn default_bus() -> String {
    "default".into()
}

struct EventBridgeDestination {
    bus: String,
    source: String,
    detail_type: String,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_eventbridge::Client>,
}

impl Destination for EventBridgeDestination {
    fn call_limits(&self) -> (usize, usize) {
        (10, 256 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let client = self.client.get_or_init(|| self.aws.eventbridge()).await;
            let entries = records
                .iter()
                .map(|m| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(&self.source)
                        .detail_type(&self.detail_type)
                        .detail(String::from_utf8_lossy(&m.bytes()).into_owned())
                        .build()
                })
                .collect();
            let response = client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "EventBridge PutEvents to `{}` failed: {}",
                        self.bus,
                        aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s) if s.is_internal_exception() => CallError::retry(why),
                        Some(_) => CallError::fail(why),
                        None => CallError::retry(why),
                    }
                })?;
            Ok(response
                .entries()
                .iter()
                .map(|r| match r.error_code() {
                    None => Delivery::Sent,
                    Some(code) => {
                        let why = format!(
                            "EventBridge refused the event: {code}: {}",
                            r.error_message().unwrap_or("")
                        );
                        if code.contains("Throttl") || code.contains("InternalFailure") {
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
