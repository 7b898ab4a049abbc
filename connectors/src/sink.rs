//! The machinery every `send.*` transform shares: batching, retries, and an honest account.
//!
//! A sink buffers messages (by count, bytes and age, optionally per batch key), and when a batch
//! is due (full, old, on a control message, at end of input) hands it to its [`Destination`] in
//! calls no larger than the service accepts. Records the service refuses for a passing reason
//! (throttling, a partial failure) are sent again with exponential backoff and jitter; what still
//! fails after the last attempt goes to the error route with the reason. Nothing is dropped.
//! Sinks consume what they send; `pass: true` also passes each message on.

use futures::future::BoxFuture;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::message::value_text;
use sluice_core::{BatchItem, Builder, Failed, Io, Message, Output, Path, TransformError};
use sluice_transforms::batch::{Batch, Batcher, Buffer, Duration, TooLarge};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// What happened to one record of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Refused for a reason that may pass (throttling, an internal error): send it again.
    Retry(String),
    /// Refused for good (too large, malformed): do not try again.
    Failed(String),
}

/// A whole call that failed; `retryable` when trying again may work.
#[derive(Debug, Clone)]
pub struct CallError {
    pub retryable: bool,
    pub reason: String,
}

impl CallError {
    pub fn retry(reason: impl std::fmt::Display) -> CallError {
        CallError {
            retryable: true,
            reason: reason.to_string(),
        }
    }

    pub fn fail(reason: impl std::fmt::Display) -> CallError {
        CallError {
            retryable: false,
            reason: reason.to_string(),
        }
    }
}

/// A service (or file) that takes batches of records.
pub trait Destination: Send + Sync + 'static {
    /// The most records and bytes one call takes.
    fn call_limits(&self) -> (usize, usize);

    /// Sends one call's worth of records (all of one batch key); one delivery per record.
    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>>;
}

/// How hard a sink tries before a record goes to the error route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first included.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The wait before the second attempt; it doubles each time, with jitter.
    #[serde(default = "default_initial")]
    pub initial_delay: Duration,
    /// The longest wait between attempts.
    #[serde(default = "default_max")]
    pub max_delay: Duration,
}

fn default_attempts() -> u32 {
    5
}
fn default_initial() -> Duration {
    Duration(std::time::Duration::from_millis(100))
}
fn default_max() -> Duration {
    Duration::from_secs(10)
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: default_attempts(),
            initial_delay: default_initial(),
            max_delay: default_max(),
        }
    }
}

impl Retry {
    /// The wait before attempt `n + 1` (n from 1): exponential, capped, with "equal jitter"
    /// (half fixed, half random) so that many senders do not retry in step.
    pub fn delay(&self, n: u32) -> std::time::Duration {
        let base = self
            .initial_delay
            .get()
            .saturating_mul(1 << n.saturating_sub(1).min(20));
        let capped = base.min(self.max_delay.get());
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }
}

/// The settings every sink has; each sink's settings struct flattens them in.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Common {
    /// When a batch is sent: `{count, bytes, duration}`, whichever comes first.
    #[serde(default)]
    pub batch: Batch,
    /// Keep one batch per value of this field (e.g. one S3 object per account).
    #[serde(default)]
    pub batch_key: Option<Path>,
    /// Retries of refused records: `{attempts, initial_delay, max_delay}`.
    #[serde(default)]
    pub retry: Retry,
    /// Also pass each message on to the next transform (sinks consume by default).
    #[serde(default)]
    pub pass: bool,
}

/// A `send.*` transform: a destination behind a batcher.
pub struct Sink<D: Destination> {
    destination: D,
    common: Common,
    batcher: Mutex<Batcher<Message>>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl<D: Destination> Sink<D> {
    /// Builds a sink; its counters appear in the account as `<location> sent` and `failed`.
    pub fn new(
        destination: D,
        common: Common,
        b: &Builder,
    ) -> Result<Sink<D>, sluice_core::ConfigErrors> {
        common.batch.validate().map_err(|e| b.fail(e))?;
        if common.retry.attempts == 0 {
            return Err(b.fail("field `retry.attempts`: must be at least 1"));
        }
        let metrics = b.resources.metrics();
        Ok(Sink {
            batcher: Mutex::new(Batcher::new(common.batch.clone())),
            sent: metrics.counter(&format!("{} sent", b.location())),
            failed: metrics.counter(&format!("{} failed", b.location())),
            destination,
            common,
        })
    }

    fn key(&self, message: &mut Message) -> Result<String, TransformError> {
        match &self.common.batch_key {
            None => Ok(String::new()),
            Some(path) => Ok(message
                .get(path)?
                .map(|v| value_text(v).into_owned())
                .unwrap_or_default()),
        }
    }

    /// Sends due buffers; failures become rejections in `out`.
    async fn deliver(&self, buffers: Vec<Buffer<Message>>, out: &mut Output) {
        let (max_records, max_bytes) = self.destination.call_limits();
        for buffer in buffers {
            let mut records = buffer.items;
            while !records.is_empty() {
                let mut take = 0;
                let mut bytes = 0;
                for m in &records {
                    let size = m.bytes().len();
                    if take > 0 && (take == max_records || bytes + size > max_bytes) {
                        break;
                    }
                    take += 1;
                    bytes += size;
                }
                let rest = records.split_off(take);
                self.deliver_call(records, &buffer.key, out).await;
                records = rest;
            }
        }
    }

    async fn deliver_call(&self, mut records: Vec<Message>, key: &str, out: &mut Output) {
        let attempts = self.common.retry.attempts;
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            let result = self.destination.send(&mut records, key).await;
            let deliveries = match result {
                Ok(d) => d,
                Err(e) if e.retryable && !last => {
                    tokio::time::sleep(self.common.retry.delay(attempt)).await;
                    continue;
                }
                Err(e) => {
                    let why = match e.retryable {
                        true => format!("{} (gave up after {attempts} attempts)", e.reason),
                        false => e.reason,
                    };
                    self.reject_all(records, &why, out);
                    return;
                }
            };
            let mut again = Vec::new();
            for (message, delivery) in
                records
                    .into_iter()
                    .zip(
                        deliveries
                            .into_iter()
                            .chain(std::iter::repeat(Delivery::Failed(
                                "the service gave no answer for this record".into(),
                            ))),
                    )
            {
                match delivery {
                    Delivery::Sent => {
                        self.sent.fetch_add(1, Relaxed);
                    }
                    Delivery::Retry(why) if last => {
                        self.failed.fetch_add(1, Relaxed);
                        out.reject(
                            message,
                            TransformError::invalid(format!(
                                "{why} (gave up after {attempts} attempts)"
                            )),
                        );
                    }
                    Delivery::Retry(_) => again.push(message),
                    Delivery::Failed(why) => {
                        self.failed.fetch_add(1, Relaxed);
                        out.reject(message, TransformError::invalid(why));
                    }
                }
            }
            if again.is_empty() {
                return;
            }
            records = again;
            tokio::time::sleep(self.common.retry.delay(attempt)).await;
        }
    }

    fn reject_all(&self, records: Vec<Message>, why: &str, out: &mut Output) {
        for m in records {
            self.failed.fetch_add(1, Relaxed);
            out.reject(m, TransformError::invalid(why));
        }
    }
}

impl<D: Destination> Io for Sink<D> {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut items = Vec::with_capacity(batch.len());
            let mut ready = Vec::new();
            {
                let now = Instant::now();
                let mut batcher = self.batcher.lock();
                for mut message in batch {
                    let key = match self.key(&mut message) {
                        Ok(k) => k,
                        Err(e) => {
                            items.push(Err(Failed::new(message, e)));
                            continue;
                        }
                    };
                    let size = message.bytes().len();
                    let limit = self.common.batch.bytes;
                    if size > limit {
                        let why = TooLarge { size, limit };
                        items.push(Err(Failed::new(message, TransformError::invalid(why))));
                        continue;
                    }
                    let mut out = Output::new();
                    if self.common.pass {
                        out.push(message.clone());
                    }
                    let meta = message.meta().clone();
                    // The size was checked above, so this cannot refuse the message.
                    let _ = batcher.add(&key, message, size, &meta, now, &mut ready);
                    items.push(Ok(out));
                }
            }
            if !ready.is_empty() {
                let mut out = Output::new();
                self.deliver(ready, &mut out).await;
                // Failures of earlier messages ride on this batch's first result.
                match items.iter_mut().find_map(|i| i.as_mut().ok()) {
                    Some(first) => first.append(out),
                    None => items.push(Ok(out)),
                }
            }
            items
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(async move {
            let buffers = self.batcher.lock().drain();
            let mut out = Output::new();
            self.deliver(buffers, &mut out).await;
            Ok(out)
        })
    }

    fn tick(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(async move {
            let buffers = self.batcher.lock().expired(Instant::now());
            let mut out = Output::new();
            self.deliver(buffers, &mut out).await;
            Ok(out)
        })
    }
}
