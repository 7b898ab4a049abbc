//! What every component implements, by the way the engine schedules it.
//!
//! A transform is one of three kinds, and its kind is its type:
//!
//! - [`Map`]: looks at one message at a time and keeps nothing between them (most of the
//!   catalogue). The engine fuses consecutive map steps into one stage and may run a batch's
//!   messages on several threads. [`MapTransform`] is the smaller trait for those that change a
//!   message in place.
//! - [`Stateful`]: keeps state across messages (buffers, counters, windows). It sees the
//!   messages one at a time, in order, and emits what it holds on [`Stateful::flush`] (every
//!   control message, end of input) and [`Stateful::tick`] (time passing).
//! - [`Io`]: waits on the network (lookups, sends). It gets a batch at once and is awaited, so
//!   one batch's requests run concurrently.
//!
//! No kind has a method it cannot honour: a map has no flush, an I/O step has no synchronous
//! apply. [`Transform`] holds one of them; the registry records which.

use crate::error::TransformError;
use crate::message::Message;
use crate::pipeline::Steps;
use futures::future::BoxFuture;
use std::fmt;

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

/// The result of [`Io::apply_batch`] for one input message, in input order.
pub type BatchItem = Result<Output, Failed>;

/// A per-message step that keeps nothing between messages.
pub trait Map: Send + Sync {
    /// Processes one data message, pushing zero or more messages to `out`.
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed>;

    /// The step lists nested inside (for `meta.*`), so the account can show them.
    fn nested(&self) -> Vec<&Steps> {
        Vec::new()
    }
}

/// A map that changes one message in place: most of the catalogue.
pub trait MapTransform: Send + Sync {
    fn map(&self, message: &mut Message) -> Result<(), TransformError>;
}

impl<T: MapTransform> Map for T {
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

/// A step that holds state across messages: it sees them one at a time, in order.
pub trait Stateful: Send + Sync {
    /// Processes one data message, pushing zero or more messages to `out`.
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed>;

    /// Emits whatever the step holds; called on every control message and at end of input.
    fn flush(&self, out: &mut Output) -> Result<(), TransformError>;

    /// Called periodically by the runner so that time-based batches flush without new input.
    fn tick(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }

    fn nested(&self) -> Vec<&Steps> {
        Vec::new()
    }
}

/// A step that waits on I/O: the engine hands it the matching messages of a batch at once.
pub trait Io: Send + Sync {
    /// Processes a batch of data messages: one result per input, in input order.
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>>;

    /// Emits (sends) what the step holds; awaited on every control message and at end of input.
    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(std::future::ready(Ok(Output::new())))
    }

    /// Called periodically so that time-based batches go out without new input.
    fn tick(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(std::future::ready(Ok(Output::new())))
    }

    fn nested(&self) -> Vec<&Steps> {
        Vec::new()
    }
}

/// How the engine schedules a transform; `sluice list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransformKind {
    /// Per message, stateless: fused with its neighbours and run on any thread.
    Map,
    /// Holds state: one message at a time, in order, with flush and tick.
    Stateful,
    /// Waits on I/O: gets a batch at once and is awaited.
    Io,
}

impl TransformKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransformKind::Map => "map",
            TransformKind::Stateful => "stateful",
            TransformKind::Io => "io",
        }
    }
}

impl fmt::Display for TransformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A built transform: one of the three kinds.
pub enum Transform {
    Map(Box<dyn Map>),
    Stateful(Box<dyn Stateful>),
    Io(Box<dyn Io>),
}

impl Transform {
    pub fn map(t: impl Map + 'static) -> Transform {
        Transform::Map(Box::new(t))
    }

    pub fn stateful(t: impl Stateful + 'static) -> Transform {
        Transform::Stateful(Box::new(t))
    }

    pub fn io(t: impl Io + 'static) -> Transform {
        Transform::Io(Box::new(t))
    }

    pub fn kind(&self) -> TransformKind {
        match self {
            Transform::Map(_) => TransformKind::Map,
            Transform::Stateful(_) => TransformKind::Stateful,
            Transform::Io(_) => TransformKind::Io,
        }
    }

    /// The step lists nested inside this transform.
    pub fn nested(&self) -> Vec<&Steps> {
        match self {
            Transform::Map(t) => t.nested(),
            Transform::Stateful(t) => t.nested(),
            Transform::Io(t) => t.nested(),
        }
    }
}

/// A test on a message: the `when` of every transform, and `meta.switch`'s cases.
/// Conditions are false for control messages; the engine never asks.
pub trait Condition: Send + Sync {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError>;
}
