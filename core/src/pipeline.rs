//! The engine: runs batches through steps in order and keeps the account.
//!
//! A step is one configured transform with its `when` condition and its counters. Consecutive
//! map steps run as one stage: each message goes through all of them before the next one, and
//! a large batch is split across rayon's threads once for the stage (order kept). A stateful
//! step sees messages one by one and flushes on control messages; an I/O step gets the batch at
//! once and is awaited. Messages a step rejects are tagged with the reason, its kind and the
//! step's place, and go to the config's error route (or stop the run under `on_error: fail`).

use crate::error::{PipelineError, TransformError};
use crate::message::Message;
use crate::transform::{Condition, Failed, Io, Output, Stateful, Transform, TransformKind};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Batches smaller than this are not worth splitting across threads.
const PARALLEL_MIN: usize = 512;

#[derive(Default)]
struct Counters {
    input: AtomicU64,
    output: AtomicU64,
    dropped: AtomicU64,
    errored: AtomicU64,
    nanos: AtomicU64,
}

/// Counts for one step or a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub input: u64,
    pub output: u64,
    pub dropped: u64,
    pub errored: u64,
    /// Wall-clock time spent in the step (for a whole run: not counted).
    pub duration: Duration,
}

impl Counts {
    fn plus(&self, other: &Counts) -> Counts {
        Counts {
            input: self.input + other.input,
            output: self.output + other.output,
            dropped: self.dropped + other.dropped,
            errored: self.errored + other.errored,
            duration: self.duration + other.duration,
        }
    }

    /// What was counted since `earlier` (a snapshot of the same counters), e.g. per invocation.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            input: self.input.saturating_sub(earlier.input),
            output: self.output.saturating_sub(earlier.output),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            errored: self.errored.saturating_sub(earlier.errored),
            duration: self.duration.saturating_sub(earlier.duration),
        }
    }
}

impl Counters {
    fn add(&self, c: Counts) {
        self.input.fetch_add(c.input, Relaxed);
        self.output.fetch_add(c.output, Relaxed);
        self.dropped.fetch_add(c.dropped, Relaxed);
        self.errored.fetch_add(c.errored, Relaxed);
        let nanos = u64::try_from(c.duration.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Relaxed);
    }
    fn get(&self) -> Counts {
        Counts {
            input: self.input.load(Relaxed),
            output: self.output.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            errored: self.errored.load(Relaxed),
            duration: Duration::from_nanos(self.nanos.load(Relaxed)),
        }
    }
}

/// A message a step could not process, on its way to the error route.
#[derive(Debug)]
pub struct Rejected {
    pub location: Arc<str>,
    pub message: Message,
    pub error: TransformError,
}

/// One configured transform: the transform, its `when`, its place in the config and its counts.
pub struct Step {
    location: Arc<str>,
    type_name: String,
    transform: Transform,
    when: Option<Box<dyn Condition>>,
    counters: Counters,
}

impl Step {
    pub fn new(
        location: String,
        type_name: String,
        transform: Transform,
        when: Option<Box<dyn Condition>>,
    ) -> Step {
        Step {
            location: location.into(),
            type_name,
            transform,
            when,
            counters: Counters::default(),
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn kind(&self) -> TransformKind {
        self.transform.kind()
    }

    pub fn counts(&self) -> Counts {
        self.counters.get()
    }

    /// The step lists nested inside this step's transform.
    pub fn nested(&self) -> Vec<&Steps> {
        self.transform.nested()
    }

    fn matches(&self, message: &mut Message) -> Result<bool, TransformError> {
        match &self.when {
            Some(c) => c.test(message),
            None => Ok(true),
        }
    }

    fn reject(&self, message: Message, error: TransformError) -> Rejected {
        Rejected {
            location: self.location.clone(),
            message,
            error,
        }
    }

    /// Moves what the transform rejected from outside `apply` (sinks at flush) to the route.
    fn drain_rejected(&self, out: &mut Output, counts: &mut Counts, rejected: &mut Vec<Rejected>) {
        for Failed { message, error } in out.rejected.drain(..) {
            counts.errored += 1;
            rejected.push(self.reject(message, error));
        }
    }

    /// Runs messages through a stateful step one at a time, in order; a control message makes
    /// it flush, then passes on.
    fn run_stateful(
        &self,
        t: &dyn Stateful,
        batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> (Vec<Message>, u64) {
        let started = Instant::now();
        let mut out = Output::new();
        out.messages.reserve(batch.len());
        let mut counts = Counts::default();
        for mut message in batch {
            if message.is_control() {
                if let Err(error) = t.flush(&mut out) {
                    rejected.push(self.reject(Message::control(), error));
                    counts.errored += 1;
                }
                out.push(message);
                continue;
            }
            counts.input += 1;
            match self.matches(&mut message) {
                Ok(true) => {}
                Ok(false) => {
                    out.push(message);
                    continue;
                }
                Err(error) => {
                    counts.errored += 1;
                    rejected.push(self.reject(message, error));
                    continue;
                }
            }
            if let Err(Failed { message, error }) = t.apply(message, &mut out) {
                counts.errored += 1;
                rejected.push(self.reject(message, error));
            }
        }
        self.drain_rejected(&mut out, &mut counts, rejected);
        counts.output = out.messages.iter().filter(|m| !m.is_control()).count() as u64;
        counts.dropped = out.dropped;
        counts.duration = started.elapsed();
        self.counters.add(counts);
        (out.messages, counts.dropped)
    }

    /// I/O steps get the matching data messages between control messages at once; the others
    /// keep their places.
    async fn run_io(
        &self,
        t: &dyn Io,
        batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> (Vec<Message>, u64) {
        let started = Instant::now();
        let mut out = Output::new();
        let mut counts = Counts::default();
        let mut pending: Vec<Message> = Vec::new();
        // For each data message in order: None = the next result of apply_batch.
        let mut slots: Vec<Option<Message>> = Vec::new();
        let mut iter = batch.into_iter().peekable();
        while iter.peek().is_some() {
            slots.clear();
            pending.clear();
            let mut control = None;
            for mut message in iter.by_ref() {
                if message.is_control() {
                    control = Some(message);
                    break;
                }
                counts.input += 1;
                match self.matches(&mut message) {
                    Ok(true) => {
                        pending.push(message);
                        slots.push(None);
                    }
                    Ok(false) => slots.push(Some(message)),
                    Err(error) => {
                        counts.errored += 1;
                        rejected.push(self.reject(message, error));
                    }
                }
            }
            let mut results = if pending.is_empty() {
                Vec::new().into_iter()
            } else {
                t.apply_batch(std::mem::take(&mut pending))
                    .await
                    .into_iter()
            };
            for slot in slots.drain(..) {
                match slot {
                    Some(message) => out.push(message),
                    None => match results.next() {
                        Some(Ok(o)) => out.append(o),
                        Some(Err(Failed { message, error })) => {
                            counts.errored += 1;
                            rejected.push(self.reject(message, error));
                        }
                        None => {}
                    },
                }
            }
            if let Some(c) = control {
                match t.flush().await {
                    Ok(o) => out.append(o),
                    Err(error) => {
                        counts.errored += 1;
                        rejected.push(self.reject(Message::control(), error));
                    }
                }
                out.push(c);
            }
        }
        self.drain_rejected(&mut out, &mut counts, rejected);
        counts.output = out.messages.iter().filter(|m| !m.is_control()).count() as u64;
        counts.dropped = out.dropped;
        counts.duration = started.elapsed();
        self.counters.add(counts);
        (out.messages, counts.dropped)
    }
}

/// Consecutive map steps, run as one stage: each message goes through all of them before the
/// next message starts, and a large batch is split across threads once for the whole stage.
struct Stage<'a> {
    steps: &'a [Step],
}

/// One in this many messages is timed per step; the stage's measured time is shared out
/// between its steps in proportion (timing every step of every message would cost more than
/// a cheap step itself).
const TIMING_SAMPLE: usize = 32;

/// What one chunk of a stage counted, per step.
struct StageCounts {
    counts: Vec<Counts>,
    sampled: Vec<u64>,
}

impl Stage<'_> {
    /// Runs a batch through the stage: what comes out, and how many were dropped by rule.
    fn run(&self, batch: Vec<Message>, rejected: &mut Vec<Rejected>) -> (Vec<Message>, u64) {
        let started = Instant::now();
        let (messages, tally) = if batch.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
            self.run_parallel(batch, rejected)
        } else {
            self.run_chunk(batch, rejected)
        };
        let dropped = tally.counts.iter().map(|c| c.dropped).sum();
        self.record(tally, started.elapsed());
        (messages, dropped)
    }

    fn run_parallel(
        &self,
        mut batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> (Vec<Message>, StageCounts) {
        let pieces = rayon::current_num_threads() * 2;
        let size = batch.len().div_ceil(pieces).max(64);
        let mut chunks = Vec::with_capacity(pieces);
        while batch.len() > size {
            chunks.push(batch.split_off(batch.len() - size));
        }
        chunks.push(batch);
        chunks.reverse();
        let results: Vec<(Vec<Message>, StageCounts, Vec<Rejected>)> = chunks
            .into_par_iter()
            .map(|chunk| {
                let mut rej = Vec::new();
                let (out, tally) = self.run_chunk(chunk, &mut rej);
                (out, tally, rej)
            })
            .collect();
        let mut messages = Vec::with_capacity(results.iter().map(|r| r.0.len()).sum());
        let mut total = self.tally();
        for (out, tally, rej) in results {
            messages.extend(out);
            for (i, c) in tally.counts.into_iter().enumerate() {
                total.counts[i] = total.counts[i].plus(&c);
                total.sampled[i] += tally.sampled[i];
            }
            rejected.extend(rej);
        }
        (messages, total)
    }

    fn tally(&self) -> StageCounts {
        StageCounts {
            counts: vec![Counts::default(); self.steps.len()],
            sampled: vec![0; self.steps.len()],
        }
    }

    fn run_chunk(
        &self,
        batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> (Vec<Message>, StageCounts) {
        let mut tally = self.tally();
        let mut out = Vec::with_capacity(batch.len());
        // One reusable output buffer per step, so a message costs no allocation per step.
        let mut buffers: Vec<Output> = (0..self.steps.len()).map(|_| Output::new()).collect();
        for (seq, message) in batch.into_iter().enumerate() {
            let timed = seq % TIMING_SAMPLE == 0;
            self.push(
                0,
                message,
                timed,
                &mut buffers,
                &mut tally,
                &mut out,
                rejected,
            );
        }
        (out, tally)
    }

    /// Runs one message through steps `i..` of the stage, depth first.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        i: usize,
        mut message: Message,
        timed: bool,
        buffers: &mut [Output],
        tally: &mut StageCounts,
        out: &mut Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) {
        // Map steps hold nothing, so a control message has nothing to flush here.
        if i == self.steps.len() || message.is_control() {
            out.push(message);
            return;
        }
        let step = &self.steps[i];
        let Transform::Map(t) = &step.transform else {
            unreachable!("a stage holds map steps only")
        };
        let counts = &mut tally.counts[i];
        counts.input += 1;
        let started = timed.then(Instant::now);
        match step.matches(&mut message) {
            Ok(true) => {}
            Ok(false) => {
                counts.output += 1;
                if let Some(s) = started {
                    tally.sampled[i] += s.elapsed().as_nanos() as u64;
                }
                return self.push(i + 1, message, timed, buffers, tally, out, rejected);
            }
            Err(error) => {
                counts.errored += 1;
                rejected.push(step.reject(message, error));
                return;
            }
        }
        let mut buffer = std::mem::take(&mut buffers[i]);
        if let Err(Failed { message, error }) = t.apply(message, &mut buffer) {
            counts.errored += 1;
            rejected.push(step.reject(message, error));
        }
        if let Some(s) = started {
            tally.sampled[i] += s.elapsed().as_nanos() as u64;
        }
        counts.dropped += std::mem::take(&mut buffer.dropped);
        counts.output += buffer.messages.len() as u64;
        let mut sink_counts = Counts::default();
        step.drain_rejected(&mut buffer, &mut sink_counts, rejected);
        counts.errored += sink_counts.errored;
        let mut produced = std::mem::take(&mut buffer.messages);
        buffers[i] = buffer;
        for m in produced.drain(..) {
            self.push(i + 1, m, timed, buffers, tally, out, rejected);
        }
        // Hand the emptied vector back so its capacity is reused.
        if buffers[i].messages.capacity() < produced.capacity() {
            buffers[i].messages = produced;
        }
    }

    /// Adds a run's counts to each step, sharing the measured time out by the timed samples.
    fn record(&self, tally: StageCounts, elapsed: Duration) {
        let sampled: u64 = tally.sampled.iter().sum();
        let n = self.steps.len() as u64;
        for (i, (step, mut c)) in self.steps.iter().zip(tally.counts).enumerate() {
            c.duration = if sampled > 0 {
                elapsed.mul_f64(tally.sampled[i] as f64 / sampled as f64)
            } else {
                elapsed / n as u32
            };
            step.counters.add(c);
        }
    }
}

/// An ordered list of steps: a pipeline's transforms, its error route, or the inside of a
/// `meta.*` transform.
#[derive(Default)]
pub struct Steps {
    steps: Vec<Step>,
}

impl Steps {
    pub fn new(steps: Vec<Step>) -> Steps {
        Steps { steps }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The strictest kind among the steps: what a transform that wraps them must be.
    pub fn kind(&self) -> TransformKind {
        self.steps
            .iter()
            .map(Step::kind)
            .max()
            .unwrap_or(TransformKind::Map)
    }

    /// Runs a batch through every step, for transforms that wrap other transforms
    /// (`meta.switch`, `meta.for_each`...). The first rejection fails the whole batch, with
    /// its inner place in the reason. Steps without I/O never wait, so for them the future is
    /// ready at once.
    pub async fn run_nested(
        &self,
        batch: Vec<Message>,
    ) -> Result<Output, (Message, TransformError)> {
        let mut rejected = Vec::new();
        let (messages, dropped) = self.run_counted(0, batch, &mut rejected).await;
        if let Some(r) = rejected.into_iter().next() {
            let error = TransformError::Nested {
                location: r.location.to_string(),
                source: Box::new(r.error),
            };
            return Err((r.message, error));
        }
        Ok(Output {
            messages,
            dropped,
            rejected: Vec::new(),
        })
    }

    /// Runs a batch through the steps from `start`, collecting rejections.
    async fn run_from(
        &self,
        start: usize,
        batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> Vec<Message> {
        self.run_counted(start, batch, rejected).await.0
    }

    /// The same, also giving how many messages the steps dropped by rule.
    async fn run_counted(
        &self,
        start: usize,
        batch: Vec<Message>,
        rejected: &mut Vec<Rejected>,
    ) -> (Vec<Message>, u64) {
        let mut current = batch;
        let mut i = start;
        let mut dropped = 0;
        while i < self.steps.len() && !current.is_empty() {
            let step = &self.steps[i];
            let (next, end) = match &step.transform {
                Transform::Map(_) => {
                    let end = self.steps[i..]
                        .iter()
                        .position(|s| s.kind() != TransformKind::Map)
                        .map_or(self.steps.len(), |n| i + n);
                    let stage = Stage {
                        steps: &self.steps[i..end],
                    };
                    (stage.run(current, rejected), end)
                }
                Transform::Stateful(t) => (step.run_stateful(t.as_ref(), current, rejected), i + 1),
                Transform::Io(t) => (step.run_io(t.as_ref(), current, rejected).await, i + 1),
            };
            current = next.0;
            dropped += next.1;
            i = end;
        }
        (current, dropped)
    }

    /// Asks every step for what its timers release, and runs that through the later steps.
    async fn tick(&self, rejected: &mut Vec<Rejected>) -> Vec<Message> {
        let mut released = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let result = match &step.transform {
                Transform::Map(_) => continue,
                Transform::Stateful(t) => {
                    let mut out = Output::new();
                    t.tick(&mut out).map(|()| out)
                }
                Transform::Io(t) => t.tick().await,
            };
            let mut out = result.unwrap_or_else(|error| {
                rejected.push(step.reject(Message::control(), error));
                Output::new()
            });
            let mut counts = Counts::default();
            step.drain_rejected(&mut out, &mut counts, rejected);
            step.counters.add(counts);
            if !out.messages.is_empty() {
                step.counters.add(Counts {
                    output: out.messages.len() as u64,
                    ..Counts::default()
                });
                released.extend(self.run_from(i + 1, out.messages, rejected).await);
            }
        }
        released
    }

    /// Every step with its counts, nested steps right after the step that holds them.
    fn walk<'a>(&'a self, into: &mut Vec<&'a Step>) {
        for step in &self.steps {
            into.push(step);
            for inner in step.nested() {
                inner.walk(into);
            }
        }
    }
}

/// What to do with a message a transform cannot process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send it to the `errors` transforms (or the runner's error output) with the reason.
    #[default]
    Route,
    /// Stop the run at the first failure.
    Fail,
}

/// What one call to the pipeline produced.
#[derive(Debug, Default)]
pub struct Processed {
    /// Messages that came out of the last transform (control messages removed).
    pub output: Vec<Message>,
    /// Messages that failed, after the error route's transforms, each with `@meta.error`.
    pub errors: Vec<Message>,
}

/// A built pipeline: its transforms, its error route and its account.
pub struct Pipeline {
    steps: Steps,
    errors: Steps,
    on_error: OnError,
    totals: Counters,
    metrics: crate::registry::Metrics,
}

impl Pipeline {
    pub fn new(steps: Steps, errors: Steps, on_error: OnError) -> Pipeline {
        Pipeline {
            steps,
            errors,
            on_error,
            totals: Counters::default(),
            metrics: Default::default(),
        }
    }

    /// Shows these named counters (cache hits, lookups) in the account.
    pub fn with_metrics(mut self, metrics: crate::registry::Metrics) -> Pipeline {
        self.metrics = metrics;
        self
    }

    pub fn steps(&self) -> &Steps {
        &self.steps
    }

    /// Runs a batch of input messages through the pipeline.
    pub async fn process(&self, batch: Vec<Message>) -> Result<Processed, PipelineError> {
        let input = batch.iter().filter(|m| !m.is_control()).count() as u64;
        self.totals.add(Counts {
            input,
            ..Counts::default()
        });
        let mut rejected = Vec::new();
        let output = self.steps.run_from(0, batch, &mut rejected).await;
        self.finish(output, rejected).await
    }

    /// Sends a message that never reached the transforms (a line over the size limit, say)
    /// straight to the error route, counted as input and errored.
    pub async fn reject_input(
        &self,
        message: Message,
        reason: String,
    ) -> Result<Processed, PipelineError> {
        self.totals.add(Counts {
            input: 1,
            ..Counts::default()
        });
        let rejected = Rejected {
            location: Arc::from("input"),
            message,
            error: TransformError::Invalid(reason),
        };
        self.finish(Vec::new(), vec![rejected]).await
    }

    /// Signals end of input: every batching transform emits what it holds.
    pub async fn flush(&self) -> Result<Processed, PipelineError> {
        self.process(vec![Message::control()]).await
    }

    /// Releases what time-based batches hold; a runner calls this on an interval.
    pub async fn tick(&self) -> Result<Processed, PipelineError> {
        let mut rejected = Vec::new();
        let output = self.steps.tick(&mut rejected).await;
        self.finish(output, rejected).await
    }

    async fn finish(
        &self,
        output: Vec<Message>,
        rejected: Vec<Rejected>,
    ) -> Result<Processed, PipelineError> {
        let mut rejected = rejected;
        if self.on_error == OnError::Fail && !rejected.is_empty() {
            let r = rejected.swap_remove(0);
            self.totals.add(Counts {
                errored: 1,
                ..Counts::default()
            });
            return Err(PipelineError::Failed {
                location: r.location.to_string(),
                error: r.error,
            });
        }
        let rejected_count = rejected.len() as u64;
        let output: Vec<Message> = output.into_iter().filter(|m| !m.is_control()).collect();
        let tagged: Vec<Message> = rejected.into_iter().map(tag).collect();
        let mut errors = if tagged.is_empty() || self.errors.is_empty() {
            tagged
        } else {
            // Failures inside the error route itself are kept as they are: there is no further
            // route to send them to, and losing them would be worse.
            let mut again = Vec::new();
            let mut routed = self.errors.run_from(0, tagged, &mut again).await;
            routed.extend(again.into_iter().map(tag));
            routed
        };
        errors.retain(|m| !m.is_control());
        self.totals.add(Counts {
            output: output.len() as u64,
            errored: rejected_count,
            ..Counts::default()
        });
        Ok(Processed { output, errors })
    }

    /// The account so far: totals and one line per step.
    pub fn account(&self) -> Account {
        let mut all = Vec::new();
        self.steps.walk(&mut all);
        self.errors.walk(&mut all);
        let steps = all
            .into_iter()
            .map(|s| (s.location.to_string(), s.counts()))
            .collect::<Vec<_>>();
        let mut totals = self.totals.get();
        totals.dropped = self.steps.iter().map(|s| s.counts().dropped).sum();
        Account {
            totals,
            steps,
            counters: self.metrics.snapshot(),
        }
    }
}

/// Writes the reason and the failing step into the message's metadata.
fn tag(r: Rejected) -> Message {
    let Rejected {
        location,
        mut message,
        error,
    } = r;
    let type_of = |place: &str| {
        place.rsplit_once(" (").map(|(_, t)| {
            t.trim_end_matches(')')
                .split(' ')
                .next()
                .unwrap_or(t)
                .to_string()
        })
    };
    // A failure inside a `meta.*` step names the inner step that failed.
    let type_name = error
        .innermost_location()
        .and_then(type_of)
        .or_else(|| type_of(&location))
        .map_or(Value::Null, Value::String);
    message.meta_mut().insert(
        "error".into(),
        json!({
            "kind": error.kind().as_str(),
            "reason": error.to_string(),
            "transform": location.to_string(),
            "type": type_name,
        }),
    );
    message
}

/// Messages in, out, dropped by rule and errored: in total and per step.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub totals: Counts,
    pub steps: Vec<(String, Counts)>,
    /// Named counters kept by components, e.g. `stores.users (cache) hits`.
    pub counters: Vec<(String, u64)>,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals;
        writeln!(
            f,
            "account: {} in, {} out, {} dropped, {} errored",
            t.input, t.output, t.dropped, t.errored
        )?;
        // Capped: a step's name is the user's text, and columns need not stretch for a huge one.
        let width = self
            .steps
            .iter()
            .map(|(l, _)| l.len())
            .max()
            .unwrap_or(0)
            .min(120);
        for (location, c) in &self.steps {
            writeln!(
                f,
                "  {location:<width$}  in {:>9}  out {:>9}  dropped {:>7}  errored {:>7}",
                c.input, c.output, c.dropped, c.errored
            )?;
        }
        for (name, value) in &self.counters {
            writeln!(f, "  {name}: {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Path;
    use crate::registry::{Builder, Registry, Resources};
    use crate::transform::MapTransform;
    use serde_json::json;

    /// Tags each message with the thread that handled it, so the test can see the split.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Tag {}

    impl MapTransform for Tag {
        fn map(&self, message: &mut Message) -> Result<(), TransformError> {
            let thread = format!("{:?}", std::thread::current().id());
            message.set(&Path::parse("thread"), json!(thread))?;
            if message.get(&Path::parse("fail"))?.is_some() {
                return Err(TransformError::invalid("asked to fail"));
            }
            Ok(())
        }
    }

    fn pipeline() -> Pipeline {
        let mut registry = Registry::new();
        registry.map("test.tag", |s: Tag, _| Ok(s));
        let pipelines = Default::default();
        let resources = Resources::default();
        let b = Builder::new(&registry, &resources, &pipelines);
        let steps = b
            .steps("transforms", &[json!({"type": "test.tag"})])
            .unwrap();
        Pipeline::new(steps, Steps::default(), OnError::Route)
    }

    #[test]
    fn large_batches_go_parallel_and_keep_their_order() {
        let p = pipeline();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let batch: Vec<Message> = (0..5000)
            .map(|i| {
                let fail = if i % 1000 == 7 {
                    json!({"n": i, "fail": true})
                } else {
                    json!({"n": i})
                };
                Message::new(fail.to_string())
            })
            .collect();
        let out = pool
            .install(|| futures::executor::block_on(p.process(batch)))
            .unwrap();
        let mut numbers = Vec::new();
        let mut threads = std::collections::BTreeSet::new();
        for mut m in out.output {
            numbers.push(m.get(&Path::parse("n")).unwrap().unwrap().as_u64().unwrap());
            threads.insert(m.get(&Path::parse("thread")).unwrap().unwrap().to_string());
        }
        let expected: Vec<u64> = (0..5000).filter(|i| i % 1000 != 7).collect();
        assert_eq!(numbers, expected, "order is kept");
        assert!(threads.len() > 1, "the batch was split across threads");
        assert_eq!(out.errors.len(), 5);
        let account = p.account();
        assert_eq!(
            (
                account.totals.input,
                account.totals.output,
                account.totals.errored
            ),
            (5000, 4995, 5)
        );
    }

    #[test]
    fn fail_fast_stops_with_the_place_and_reason() {
        let mut p = pipeline();
        p.on_error = OnError::Fail;
        let err = futures::executor::block_on(p.process(vec![Message::new(r#"{"fail":1}"#)]))
            .unwrap_err();
        assert_eq!(err.to_string(), "transforms[0] (test.tag): asked to fail");
    }
}
