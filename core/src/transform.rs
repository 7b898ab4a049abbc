//! The `Transform` and `Condition` traits: what every component implements.
//!
//! The engine hands a transform each data message of a batch through `apply`, and calls `flush`
//! when a control message arrives (then forwards the control message itself). A transform that
//! only changes a message in place implements the smaller `MapTransform`; the blanket impl turns
//! it into a `Transform`. Transforms that wait on the network override `apply_batch`, which the
//! engine awaits, so one batch's lookups run concurrently.

use crate::error::TransformError;
use crate::message::Message;
use futures::future::BoxFuture;

/// Where a transform's results go: kept messages, and a count of those dropped by rule.
#[derive(Debug, Default)]
pub struct Output {
    pub(crate) messages: Vec<Message>,
    pub(crate) dropped: u64,
    pub(crate) rejected: Vec<Failed>,
}

impl Output {
    pub fn new() -> Output {
        Output::default()
    }

    /// Passes a message on to the next transform.
    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// Drops a message on purpose (a filter, a sample, a dedupe); the account counts it.
    pub fn drop_message(&mut self, message: Message) {
        drop(message);
        self.dropped += 1;
    }

    /// Counts drops made elsewhere (inside nested steps) without a message in hand.
    pub fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Sends a message to the error route from where `apply` cannot: a sink whose batch failed
    /// at flush time, after the messages had passed on.
    pub fn reject(&mut self, message: Message, error: TransformError) {
        self.rejected.push(Failed { message, error });
    }

    /// Takes over another output's messages, drops and rejections (for transforms that wrap
    /// others).
    pub fn append(&mut self, other: Output) {
        self.messages.extend(other.messages);
        self.dropped += other.dropped;
        self.rejected.extend(other.rejected);
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn into_messages(self) -> Vec<Message> {
        self.messages
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// A message that a transform could not process, handed back with the reason so that nothing
/// is lost: the engine sends it to the error route.
#[derive(Debug)]
pub struct Failed {
    pub message: Message,
    pub error: TransformError,
}

impl Failed {
    pub fn new(message: Message, error: TransformError) -> Failed {
        Failed { message, error }
    }
}

/// How the engine may schedule a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stateless and CPU-bound: large batches are split across threads (order kept).
    Parallel,
    /// Holds state across messages (buffers, counters): one message at a time, in order.
    Sequential,
    /// Waits on I/O: the engine awaits `apply_batch`.
    Async,
}

/// The result of `apply_batch` for one input message, in input order.
pub type BatchItem = Result<Output, Failed>;

/// A step of a pipeline.
pub trait Transform: Send + Sync {
    /// Processes one data message, pushing zero or more messages to `out`.
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed>;

    /// Emits whatever the transform holds; called on every control message and at end of input.
    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }

    /// Called periodically by the runner so that time-based batches flush without new input.
    fn tick(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }

    fn mode(&self) -> Mode {
        Mode::Parallel
    }

    /// `flush` for transforms that must wait (a sink sending its last batch). The engine calls
    /// this instead of `flush` for `Async` transforms.
    fn flush_async(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        let mut out = Output::new();
        let result = self.flush(&mut out).map(|()| out);
        Box::pin(std::future::ready(result))
    }

    /// `tick` for transforms that must wait; the engine always calls this one.
    fn tick_async(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        let mut out = Output::new();
        let result = self.tick(&mut out).map(|()| out);
        Box::pin(std::future::ready(result))
    }

    /// Processes a batch of data messages, one result per input. Async transforms override this.
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        let results = batch
            .into_iter()
            .map(|m| {
                let mut out = Output::new();
                self.apply(m, &mut out).map(|()| out)
            })
            .collect();
        Box::pin(std::future::ready(results))
    }
}

/// A transform that changes one message in place: most of the catalogue.
pub trait MapTransform: Send + Sync {
    fn map(&self, message: &mut Message) -> Result<(), TransformError>;
}

impl<T: MapTransform> Transform for T {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        match self.map(&mut message) {
            Ok(()) => {
                out.push(message);
                Ok(())
            }
            Err(error) => Err(Failed { message, error }),
        }
    }
}

/// A test on a message: the `when` of every transform, and `meta.switch`'s cases.
/// Conditions are false for control messages; the engine never asks.
pub trait Condition: Send + Sync {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError>;
}
