//! The utility family: drop, err, sample and dedupe messages; pace them (`delay`); cut the
//! stream into batches (`control`); count what flows (`metric_*`); and read secrets (`secret`).
//!
//! # Metric messages
//!
//! `utility.metric_count`, `metric_bytes` and `metric_freshness` pass every message on unchanged
//! and count it. On every control message (from `utility.control`, a source, or the end of
//! input) each emits what it counted since the last one, as a message of its own, then starts
//! again from zero:
//!
//! ```json
//! {"name": "cloudtrail_events", "value": 1200, "attributes": {"source": "cloudtrail"}}
//! ```
//!
//! `value` is an integer. The message's metadata holds `{"metric": "<name>"}`, so a later step can
//! route metrics apart from events (`when: {type: "exists", source: "@meta.metric"}`). The run's
//! account also prints each metric's total (`metric <name>: N`).
//! Freshness emits two such messages, with the attribute `freshness` set to `success` and to
//! `failure`. Metric messages go through the steps after the metric transform (other metric
//! transforms do not count them), so put metrics last, or route them with `when`.

use crate::batch::{Batch, Duration};
use crate::kv::KvStore;
use crate::secrets::{self, Secret};
use crate::time::{Unit, from_unix, parse_time};
use chrono::{TimeDelta, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{
    BatchItem, Builder, ErrorKind, Failed, Io, Map, Message, Output, Path, Registry, Stateful,
    Transform, TransformError,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

pub fn register(r: &mut Registry) {
    r.map("utility.drop", |s: DropSettings, _| Ok(s));
    r.map("utility.err", |s: ErrSettings, b| {
        if s.message.trim().is_empty() {
            return Err(b.fail("field `message`: must say what is wrong"));
        }
        Ok(s)
    });
    r.stateful("utility.control", |s: ControlSettings, b| {
        s.batch.validate().map_err(|e| b.fail(e))?;
        Ok(Control {
            batch: s.batch,
            window: Mutex::new(Window::default()),
        })
    });
    r.stateful("utility.delay", |s: DelaySettings, _| Ok(s));
    r.stateful("utility.metric_count", |s: MetricSettings, b| {
        s.metric.validate().map_err(|e| b.fail(e))?;
        let tally = Tally::new(b, &s.metric.name);
        Ok(Counter::new(s.metric, tally, |_| 1))
    });
    r.stateful("utility.metric_bytes", |s: MetricSettings, b| {
        s.metric.validate().map_err(|e| b.fail(e))?;
        let tally = Tally::new(b, &s.metric.name);
        Ok(Counter::new(s.metric, tally, |m| m.bytes().len() as u64))
    });
    r.stateful("utility.metric_freshness", |s: FreshnessSettings, b| {
        s.metric.validate().map_err(|e| b.fail(e))?;
        let threshold = TimeDelta::from_std(s.threshold.get())
            .map_err(|_| b.fail("field `threshold`: too long"))?;
        let name = &s.metric.name;
        Ok(Freshness {
            fresh: Tally::new(b, &format!("{name} (freshness success)")),
            stale: Tally::new(b, &format!("{name} (freshness failure)")),
            s,
            threshold,
        })
    });
    r.map("utility.secret", |s: SecretSettings, b| {
        if s.id.is_empty() || s.id.contains('}') {
            return Err(b.fail("field `id`: must be a name without `}`, used as `${SECRET:<id>}`"));
        }
        let secret =
            Secret::from_env(&s.id, &s.env).map_err(|e| b.fail(format!("field `env`: {e}")))?;
        secrets::remember(secret);
        Ok(PassThrough)
    });
    r.transform("utility.sample", |s: SampleSettings, b| {
        if s.rate == 0 {
            return Err(b.fail("field `rate`: must be at least 1 (1 keeps everything)"));
        }
        // Keyed sampling decides per message; counting positions needs the order.
        let keyed = s.key.is_some();
        let sample = Sample {
            s,
            seen: AtomicU64::new(0),
        };
        Ok(match keyed {
            true => Transform::map(sample),
            false => Transform::stateful(sample),
        })
    });
    r.io("utility.dedupe", |s: DedupeSettings, b| {
        if s.ttl.is_zero() {
            return Err(b.fail("field `ttl`: must be longer than 0s"));
        }
        let store = crate::kv::lookup(b, "store", &s.store)?;
        Ok(Dedupe { s, store })
    });
}

/// Drop every message that reaches it (give it a `when` to filter). Counted as dropped by rule.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DropSettings {}

impl Map for DropSettings {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.drop_message(message);
        Ok(())
    }
}

/// Send every message that reaches it to the error route with `message` as the reason. With a
/// `when`, an assertion on data quality: `{type: "utility.err", message: "eventTime is missing",
/// when: {type: "none", conditions: [{type: "exists", source: "eventTime"}]}}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ErrSettings {
    /// The reason, written for whoever reads the error route.
    pub message: String,
}

impl Map for ErrSettings {
    fn apply(&self, message: Message, _out: &mut Output) -> Result<(), Failed> {
        let error = TransformError::of_kind(ErrorKind::Rejected, &self.message);
        Err(Failed::new(message, error))
    }
}

/// Send a control message down the pipeline after every `batch.count` messages or
/// `batch.bytes` bytes, and `batch.duration` after the first message of a quiet stretch (on a
/// timer), so that later batching transforms, sinks and metrics flush part-way through a long
/// input. Messages pass unchanged.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ControlSettings {
    /// When to send a control message.
    #[serde(default)]
    pub batch: Batch,
}

#[derive(Default)]
struct Window {
    count: usize,
    bytes: usize,
    started: Option<Instant>,
}

struct Control {
    batch: Batch,
    window: Mutex<Window>,
}

impl Stateful for Control {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        let size = message.bytes().len();
        out.push(message);
        let mut w = self.window.lock();
        w.count += 1;
        w.bytes += size;
        w.started.get_or_insert_with(Instant::now);
        if w.count >= self.batch.count || w.bytes >= self.batch.bytes {
            *w = Window::default();
            out.push(Message::control());
        }
        Ok(())
    }

    /// A control message from upstream passes on by itself; counting starts again.
    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        *self.window.lock() = Window::default();
        Ok(())
    }

    fn tick(&self, out: &mut Output) -> Result<(), TransformError> {
        let mut w = self.window.lock();
        if w.started
            .is_some_and(|t| t.elapsed() >= self.batch.duration.get())
        {
            *w = Window::default();
            out.push(Message::control());
        }
        Ok(())
    }
}

/// Pause for `duration` before passing each message on: pacing calls to a rate-limited API in
/// later steps, or simulating a slow sink in a test. It holds up the whole pipeline.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DelaySettings {
    /// How long to wait per message.
    pub duration: Duration,
}

impl Stateful for DelaySettings {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        std::thread::sleep(self.duration.get());
        out.push(message);
        Ok(())
    }

    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }
}

/// The metric a transform counts into.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// The metric's name, e.g. `cloudtrail_events`.
    pub name: String,
    /// Labels sent with every value, e.g. `{"source": "cloudtrail"}`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl Metric {
    fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("field `metric.name`: must not be empty".into());
        }
        Ok(())
    }

    /// The message that reports a value (see the module documentation for its shape).
    fn message(&self, value: u64, extra: Option<(&str, &str)>) -> Message {
        let mut attributes = self.attributes.clone();
        if let Some((k, v)) = extra {
            attributes.insert(k.into(), v.into());
        }
        let mut m = Message::from_value(json!({
            "name": self.name,
            "value": value,
            "attributes": attributes,
        }));
        m.meta_mut().insert("metric".into(), json!(self.name));
        m
    }
}

/// Count messages (`metric_count`) or their bytes (`metric_bytes`), passing them on unchanged,
/// and emit the total as a metric message on every control message and at end of input:
/// `{"name": ..., "value": N, "attributes": {...}}`, with `@meta.metric` set to the name.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MetricSettings {
    /// What to count into.
    pub metric: Metric,
}

/// A count since the last control message, and the run's total in the account.
struct Tally {
    since_control: AtomicU64,
    total: Arc<AtomicU64>,
}

impl Tally {
    /// The account shows the total as `metric <name>: N` at the end of a run.
    fn new(b: &Builder, name: &str) -> Tally {
        Tally {
            since_control: AtomicU64::new(0),
            total: b.resources.metrics().counter(&format!("metric {name}")),
        }
    }

    fn add(&self, n: u64) {
        self.since_control.fetch_add(n, Relaxed);
        self.total.fetch_add(n, Relaxed);
    }

    fn take(&self) -> u64 {
        self.since_control.swap(0, Relaxed)
    }
}

struct Counter {
    metric: Metric,
    tally: Tally,
    measure: fn(&Message) -> u64,
}

impl Counter {
    fn new(metric: Metric, tally: Tally, measure: fn(&Message) -> u64) -> Counter {
        Counter {
            metric,
            tally,
            measure,
        }
    }
}

/// True for the messages metric transforms emit; other metric transforms do not count them.
fn is_metric(message: &Message) -> bool {
    message.meta().get("metric").is_some()
}

impl Stateful for Counter {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        if !is_metric(&message) {
            self.tally.add((self.measure)(&message));
        }
        out.push(message);
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        out.push(self.metric.message(self.tally.take(), None));
        Ok(())
    }
}

/// Count how many messages are fresh: their timestamp at `source` (RFC 3339, or a Unix time in
/// `unit`) is at most `threshold` before now. Messages pass unchanged; one without a readable
/// timestamp counts as a failure. On every control message two metric messages go out, with
/// the attribute `freshness` set to `success` and `failure`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FreshnessSettings {
    /// What to count into.
    pub metric: Metric,
    /// The event's timestamp.
    pub source: Path,
    /// The oldest a message may be and still count as fresh, e.g. `"5m"`.
    pub threshold: Duration,
    /// The unit of timestamps that are numbers.
    #[serde(default)]
    pub unit: Unit,
}

struct Freshness {
    s: FreshnessSettings,
    threshold: TimeDelta,
    fresh: Tally,
    stale: Tally,
}

impl Freshness {
    fn is_fresh(&self, message: &mut Message) -> bool {
        let time = match message.get(&self.s.source) {
            Ok(Some(Value::String(s))) => {
                parse_time(s).or_else(|| from_unix(&Value::String(s.clone()), self.s.unit).ok())
            }
            Ok(Some(n @ Value::Number(_))) => from_unix(n, self.s.unit).ok(),
            _ => None,
        };
        time.is_some_and(|t| Utc::now() - t <= self.threshold)
    }
}

impl Stateful for Freshness {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        if !is_metric(&message) {
            let tally = match self.is_fresh(&mut message) {
                true => &self.fresh,
                false => &self.stale,
            };
            tally.add(1);
        }
        out.push(message);
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        for (tally, label) in [(&self.fresh, "success"), (&self.stale, "failure")] {
            out.push(
                self.s
                    .metric
                    .message(tally.take(), Some(("freshness", label))),
            );
        }
        Ok(())
    }
}

/// Read a secret from an environment variable when the config is built, so that later
/// transforms can use it as `${SECRET:<id>}` in URLs and headers. A missing or empty variable
/// fails the config; the value is never printed. Messages pass unchanged. Declaring the secret
/// as a store (`stores: {<id>: {type: "secret", env: ...}}`) does the same without depending on
/// the order of the transforms.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SecretSettings {
    /// The name other transforms use: `${SECRET:<id>}`.
    pub id: String,
    /// The environment variable that holds the secret.
    pub env: String,
}

/// Passes every message on; for transforms that act once when built (`utility.secret`).
pub struct PassThrough;

impl Map for PassThrough {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.push(message);
        Ok(())
    }
}

/// Keep one message in `rate` and drop the rest (counted as dropped by rule). With `key`, the
/// choice follows a hash of the key's value, so every message with the same value gets the same
/// answer (keep all or none of one request's events) and runs agree with each other; messages
/// without the key are kept. Without `key`, the 1st, (rate+1)th, (2·rate+1)th... are kept.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SampleSettings {
    /// Keep one message in this many (1 keeps everything).
    pub rate: u64,
    /// Decide by this field's value instead of by position.
    #[serde(default)]
    pub key: Option<Path>,
}

struct Sample {
    s: SampleSettings,
    seen: AtomicU64,
}

/// FNV-1a with a final mix: stable across runs, machines and versions.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Sample {
    fn keep(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let keep = match &self.s.key {
            None => self.seen.fetch_add(1, Relaxed).is_multiple_of(self.s.rate),
            Some(path) => match message.get_text(path) {
                Ok(Some(text)) => stable_hash(text.as_bytes()).is_multiple_of(self.s.rate),
                Ok(None) => true,
                Err(e) => return Err(Failed::new(message, e)),
            },
        };
        if keep {
            out.push(message);
            Ok(())
        } else {
            out.drop_message(message);
            Ok(())
        }
    }
}

impl Map for Sample {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        self.keep(message, out)
    }
}

impl Stateful for Sample {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        self.keep(message, out)
    }

    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }
}

/// Drop a message when the same key was seen within `ttl` (counted as dropped by rule): repeated
/// alerts, events delivered twice. The key is a field's value, or the whole data; it is kept
/// in the named store as a SHA-256 digest (so a shared store such as DynamoDB dedupes across
/// processes). Messages without the key field pass. Within one batch the first occurrence wins.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DedupeSettings {
    /// The store that remembers keys (declared in the config's `stores`).
    pub store: String,
    /// What makes two messages the same; the whole data by default.
    #[serde(default)]
    pub key: Option<Path>,
    /// How long a key is remembered, e.g. `"1h"`.
    pub ttl: Duration,
}

/// How many store calls one batch may have in flight.
const DEDUPE_CONCURRENCY: usize = 64;

struct Dedupe {
    s: DedupeSettings,
    store: Arc<dyn KvStore>,
}

impl Dedupe {
    fn key(&self, message: &mut Message) -> Result<Option<String>, TransformError> {
        let digest = match &self.s.key {
            None => crate::hash::sha256(&message.bytes()),
            Some(path) => match message.get_text(path)? {
                Some(text) => crate::hash::sha256(text.as_bytes()),
                None => return Ok(None),
            },
        };
        Ok(Some(format!("dedupe:{digest}")))
    }
}

/// What happens to one message of a batch given to `utility.dedupe`.
enum Plan {
    Pass(Message),
    Drop(Message),
    Fail(Failed),
    Ask(Message, String),
}

impl Io for Dedupe {
    #[allow(clippy::result_large_err)] // `BatchItem` holds a `Failed`, as the trait says.
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut firsts = HashSet::new();
            let plans: Vec<Plan> = batch
                .into_iter()
                .map(|mut m| match self.key(&mut m) {
                    Ok(None) => Plan::Pass(m),
                    Ok(Some(k)) if firsts.insert(k.clone()) => Plan::Ask(m, k),
                    Ok(Some(_)) => Plan::Drop(m),
                    Err(e) => Plan::Fail(Failed::new(m, e)),
                })
                .collect();
            let ttl = Some(self.s.ttl.get());
            // Futures do nothing until polled, so `buffered` bounds how many run at once.
            let asks: Vec<_> = plans
                .iter()
                .filter_map(|p| match p {
                    Plan::Ask(_, k) => Some(self.store.set_if_absent(k, Value::Bool(true), ttl)),
                    _ => None,
                })
                .collect();
            let mut answers = stream::iter(asks)
                .buffered(DEDUPE_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter();
            plans
                .into_iter()
                .map(|plan| {
                    let mut out = Output::new();
                    match plan {
                        Plan::Pass(m) => out.push(m),
                        Plan::Drop(m) => out.drop_message(m),
                        Plan::Fail(f) => return Err(f),
                        Plan::Ask(m, _) => match answers.next().expect("one answer per ask") {
                            Ok(true) => out.push(m),
                            Ok(false) => out.drop_message(m),
                            Err(e) => return Err(Failed::new(m, TransformError::invalid(e))),
                        },
                    }
                    Ok(out)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::stable_hash;
    use crate::aggregate::tests::{build, check_example, outputs};
    use crate::testing::{apply, apply_err, build_error, config, reasons, run};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_core::Message;
    use sluice_core::testing::output_value;

    #[test]
    fn example_config_passes() {
        check_example("utility");
    }

    fn lines(n: usize) -> Vec<Message> {
        (0..n)
            .map(|i| Message::new(format!(r#"{{"n":{i}}}"#)))
            .collect()
    }

    fn values(messages: &[Message]) -> Vec<Value> {
        messages.iter().map(output_value).collect()
    }

    #[test]
    fn drops_what_matches_and_counts_it() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "string.eq", "source": "a", "value": "x"});
        let p = run(
            c,
            vec![Message::new(r#"{"a":"x"}"#), Message::new(r#"{"a":"y"}"#)],
        );
        assert_eq!(p.output.len(), 1);
        assert!(p.errors.is_empty());
    }

    #[test]
    fn err_asserts_data_quality() {
        let mut c = config("utility.err", json!({"message": "eventTime is missing"}));
        c["transforms"][0]["when"] = json!({"type": "none", "conditions": [
            {"type": "exists", "source": "eventTime"}
        ]});
        assert_eq!(
            apply_err(c.clone(), &json!({"eventName": "ConsoleLogin"})),
            "eventTime is missing"
        );
        let ok = json!({"eventTime": "2026-11-22T23:51:07Z"});
        assert_eq!(apply(c, &ok), vec![ok.clone()]);
        let err = build_error(config("utility.err", json!({"message": " "})));
        assert!(
            err.contains("field `message`: must say what is wrong"),
            "{err}"
        );
    }

    #[test]
    fn control_makes_later_batches_flush_part_way() {
        let c = json!({"transforms": [
            {"type": "utility.control", "batch": {"count": 2}},
            {"type": "aggregate.to_array"},
        ]});
        let p = run(c, lines(5));
        assert_eq!(
            values(&p.output),
            vec![
                json!([{"n": 0}, {"n": 1}]),
                json!([{"n": 2}, {"n": 3}]),
                json!([{"n": 4}])
            ]
        );
        // By bytes: each line is 7 bytes, so a control message after every second line.
        let c = json!({"transforms": [
            {"type": "utility.control", "batch": {"bytes": 14}},
            {"type": "aggregate.to_string", "separator": "|"},
        ]});
        let p = run(c, lines(3));
        assert_eq!(
            values(&p.output),
            vec![json!(r#"{"n":0}|{"n":1}"#), json!({"n": 2})]
        );
    }

    #[test]
    fn control_on_a_timer() {
        let p = build(json!({"transforms": [
            {"type": "utility.control", "batch": {"duration": "20ms"}},
            {"type": "aggregate.to_string"},
        ]}));
        assert!(outputs(p.tick()).is_empty(), "nothing seen, nothing sent");
        assert!(outputs(p.process(lines(2))).is_empty());
        assert!(outputs(p.tick()).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(25));
        assert_eq!(outputs(p.tick()), ["{\"n\":0}\n{\"n\":1}"]);
        std::thread::sleep(std::time::Duration::from_millis(25));
        assert!(outputs(p.tick()).is_empty(), "a quiet stream sends nothing");
    }

    #[test]
    fn delay_waits_per_message() {
        let c = config("utility.delay", json!({"duration": "10ms"}));
        let start = std::time::Instant::now();
        let p = run(c, lines(2));
        assert_eq!(p.output.len(), 2);
        assert!(start.elapsed() >= std::time::Duration::from_millis(20));
        let err = build_error(config("utility.delay", json!({"duration": 5})));
        assert!(err.contains("field `duration`"), "{err}");
    }

    #[test]
    fn metrics_count_and_reset_on_control() {
        let c = json!({"transforms": [
            {"type": "utility.control", "batch": {"count": 3}},
            {"type": "utility.metric_count", "metric": {"name": "events", "attributes": {"source": "cloudtrail"}}},
            {"type": "utility.metric_bytes", "metric": {"name": "bytes"}},
        ]});
        let p = run(c, lines(4));
        let events = |value| json!({"name": "events", "value": value, "attributes": {"source": "cloudtrail"}});
        let bytes = |value| json!({"name": "bytes", "value": value, "attributes": {}});
        // Each line is 7 bytes; metric messages are not counted by later metric steps.
        assert_eq!(
            values(&p.output),
            vec![
                json!({"n": 0}),
                json!({"n": 1}),
                json!({"n": 2}),
                events(3),
                bytes(21),
                json!({"n": 3}),
                events(1),
                bytes(7),
            ]
        );
        assert_eq!(p.output[3].meta()["metric"], "events");
        let pipeline = build(json!({"transforms": [
            {"type": "utility.metric_count", "metric": {"name": "events"}},
        ]}));
        outputs(pipeline.process(lines(3)));
        outputs(pipeline.flush());
        outputs(pipeline.process(lines(2)));
        let account = pipeline.account();
        assert_eq!(account.counters, vec![("metric events".to_string(), 5)]);
        // Nothing seen still reports, as zero.
        let p = run(
            config("utility.metric_count", json!({"metric": {"name": "n"}})),
            vec![],
        );
        assert_eq!(
            values(&p.output),
            vec![json!({"name": "n", "value": 0, "attributes": {}})]
        );
        let err = build_error(config(
            "utility.metric_count",
            json!({"metric": {"name": ""}}),
        ));
        assert!(
            err.contains("field `metric.name`: must not be empty"),
            "{err}"
        );
        let err = build_error(config(
            "utility.metric_bytes",
            json!({"metric": {"name": "b", "labels": {}}}),
        ));
        assert!(err.contains("unknown field `labels`"), "{err}");
    }

    #[test]
    fn freshness_counts_success_and_failure() {
        let now = chrono::Utc::now();
        let recent = crate::time::format_time(now - chrono::TimeDelta::seconds(5));
        let old = crate::time::format_time(now - chrono::TimeDelta::hours(2));
        let c = config(
            "utility.metric_freshness",
            json!({"metric": {"name": "fresh"}, "source": "t", "threshold": "5m"}),
        );
        let input = vec![
            Message::new(json!({"t": recent}).to_string()),
            Message::new(json!({"t": now.timestamp() - 10}).to_string()),
            Message::new(json!({"t": (now.timestamp() - 20).to_string()}).to_string()),
            Message::new(json!({"t": old}).to_string()),
            Message::new(json!({"t": "yesterday"}).to_string()),
            Message::new(json!({"other": 1}).to_string()),
            Message::new("not json"),
        ];
        let p = run(c, input);
        assert!(p.errors.is_empty());
        let out = values(&p.output);
        assert_eq!(out.len(), 9);
        assert_eq!(
            out[7..],
            [
                json!({"name": "fresh", "value": 3, "attributes": {"freshness": "success"}}),
                json!({"name": "fresh", "value": 4, "attributes": {"freshness": "failure"}}),
            ]
        );
        let c = config(
            "utility.metric_freshness",
            json!({"metric": {"name": "f"}, "source": "t", "threshold": "1m", "unit": "ms"}),
        );
        let p = run(
            c,
            vec![Message::new(
                json!({"t": now.timestamp_millis()}).to_string(),
            )],
        );
        assert_eq!(output_value(&p.output[1])["value"], 1);
    }

    #[test]
    fn secret_is_read_at_build_time() {
        let c = config(
            "utility.secret",
            json!({"id": "utility_test", "env": "PATH"}),
        );
        assert_eq!(apply(c, &json!({"a": 1})), vec![json!({"a": 1})]);
        let resources = sluice_core::Resources::default();
        assert_eq!(
            crate::secrets::interpolate("${SECRET:utility_test}", &resources).unwrap(),
            std::env::var("PATH").unwrap()
        );
        let err = build_error(config(
            "utility.secret",
            json!({"id": "a}b", "env": "PATH"}),
        ));
        assert!(
            err.contains("field `id`: must be a name without `}`"),
            "{err}"
        );
        let err = build_error(config(
            "utility.secret",
            json!({"id": "x", "env": "SLUICE_TEST_SECRET_UNSET"}),
        ));
        assert!(
            err.ends_with("field `env`: environment variable `SLUICE_TEST_SECRET_UNSET` for secret `x` is not set"),
            "{err}"
        );
    }

    #[test]
    fn sample_by_counter_and_by_key() {
        let p = run(config("utility.sample", json!({"rate": 3})), lines(7));
        assert_eq!(
            values(&p.output),
            vec![json!({"n": 0}), json!({"n": 3}), json!({"n": 6})]
        );
        // The same key always gets the same answer; a missing key is kept.
        let c = config("utility.sample", json!({"rate": 4, "key": "requestID"}));
        let input: Vec<Message> = (0..200)
            .map(|i| {
                Message::new(json!({"requestID": format!("req-{}", i % 20), "i": i}).to_string())
            })
            .collect();
        let p = run(c.clone(), input);
        let kept: std::collections::BTreeSet<String> = values(&p.output)
            .iter()
            .map(|v| v["requestID"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(p.output.len(), kept.len() * 10, "all or none of each key");
        assert!(!kept.is_empty() && kept.len() < 20);
        assert_eq!(apply(c, &json!({"other": 1})), vec![json!({"other": 1})]);
        let err = build_error(config("utility.sample", json!({"rate": 0})));
        assert!(err.contains("field `rate`: must be at least 1"), "{err}");
    }

    fn dedupe_config(settings: Value) -> Value {
        let mut c = config("utility.dedupe", settings);
        c["stores"] = json!({"seen": {"type": "memory"}});
        c
    }

    #[test]
    fn dedupe_drops_repeats_within_the_ttl() {
        let c = dedupe_config(json!({"store": "seen", "key": "alert.id", "ttl": "1h"}));
        let input = ["a1", "a2", "a1", "a1", "ü"]
            .iter()
            .map(|id| Message::new(json!({"alert": {"id": id}}).to_string()))
            .chain([Message::new(r#"{"no_id":true}"#)])
            .collect();
        let p = run(c, input);
        assert_eq!(
            values(&p.output),
            vec![
                json!({"alert": {"id": "a1"}}),
                json!({"alert": {"id": "a2"}}),
                json!({"alert": {"id": "ü"}}),
                json!({"no_id": true}),
            ]
        );
        // The store remembers across batches; whole-data keys by default.
        let p = build(dedupe_config(json!({"store": "seen", "ttl": "1h"})));
        let first = futures::executor::block_on(
            p.process(vec![Message::new("same"), Message::new("other")]),
        );
        assert_eq!(first.unwrap().output.len(), 2);
        let again = futures::executor::block_on(p.process(vec![Message::new("same")]));
        assert!(again.unwrap().output.is_empty());
        assert_eq!(p.account().totals.dropped, 1);
    }

    #[test]
    fn dedupe_ttl_expires_and_errors_are_routed() {
        let p = build(dedupe_config(
            json!({"store": "seen", "key": "k", "ttl": "10ms"}),
        ));
        let once =
            || futures::executor::block_on(p.process(vec![Message::new(r#"{"k":1}"#)])).unwrap();
        assert_eq!(once().output.len(), 1);
        assert!(once().output.is_empty());
        std::thread::sleep(std::time::Duration::from_millis(15));
        assert_eq!(once().output.len(), 1);
        let p = run(
            dedupe_config(json!({"store": "seen", "key": "k", "ttl": "1h"})),
            vec![Message::new("not json")],
        );
        assert_eq!(reasons(&p).len(), 1);
        let err = build_error(dedupe_config(json!({"store": "nope", "ttl": "1h"})));
        assert!(
            err.contains("field `store`: no store named `nope` (declared stores: seen)"),
            "{err}"
        );
        let err = build_error(dedupe_config(json!({"store": "seen", "ttl": "0s"})));
        assert!(err.contains("field `ttl`: must be longer than 0s"), "{err}");
    }

    proptest! {
        #[test]
        fn sampling_keeps_about_one_in_rate(rate in 1u64..20, n in 0usize..200) {
            let p = run(config("utility.sample", json!({"rate": rate})), lines(n));
            prop_assert_eq!(p.output.len() as u64, (n as u64).div_ceil(rate));
        }

        #[test]
        fn dedupe_keeps_exactly_the_distinct_keys(keys in prop::collection::vec(0u8..10, 0..40)) {
            let c = dedupe_config(json!({"store": "seen", "key": "k", "ttl": "1h"}));
            let input = keys.iter().map(|k| Message::new(json!({"k": k}).to_string())).collect();
            let p = run(c, input);
            let mut expected = Vec::new();
            for k in &keys {
                if !expected.contains(k) {
                    expected.push(*k);
                }
            }
            let got: Vec<u8> = values(&p.output).iter().map(|v| v["k"].as_u64().unwrap() as u8).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn stable_hash_is_a_function(text in ".{0,20}") {
            prop_assert_eq!(stable_hash(text.as_bytes()), stable_hash(text.clone().as_bytes()));
        }
    }
}
