//! The detect family's shared pieces: the rule an alert names, the key fields that group events,
//! event time and windows, lateness and the event clock, and the ECS alert document.
//!
//! # Event time, windows and lateness
//!
//! Detection counts by the time each event happened (`@timestamp` by default), not by when it
//! arrived, so replaying last week's logs gives the alerts the live run gave. A tumbling window
//! of size `w` holds the events with `floor(t / w) * w <= t < floor(t / w) * w + w`; a sliding
//! window of size `w` moving by `step` is made of `w / step` buckets of `step`.
//!
//! Events arrive out of order. The event clock is the latest event time seen; the watermark is
//! that minus `allowed_lateness`. An event older than the watermark is *late*: it passes on, but
//! is not counted (the account counts it under `<transform> late`), so what alerts does not
//! depend on how a slow shard interleaves with a fast one, as long as no event is later than the
//! allowed lateness.
//!
//! When the stream goes quiet, windows must still close (the summaries of `detect.top_k` and
//! `detect.summarize` go out on a timer): on every tick the clock is taken to have moved on by
//! the wall time since the last event arrived. Only window closing uses that idle clock; whether
//! an event is late is decided by event times alone.

use crate::batch::Duration;
use crate::time::{format_time, parse_time};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sluice_core::message::value_text;
use sluice_core::path::Root;
use sluice_core::registry::Metrics;
use sluice_core::{
    BatchItem, Builder, ConfigErrors, Message, Output, Path, Stateful, TransformError,
};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The rule behind an alert: its ECS `rule.*` fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `rule.name`: what the rule is called, e.g. `ssh_bruteforce`.
    pub name: String,
    /// `rule.id`: a stable identifier, the name by default. It also starts the rule's keys in a
    /// store, so rules that share a store never mix their counts.
    #[serde(default)]
    pub id: Option<String>,
    /// `rule.description`: one sentence for whoever reads the alert.
    #[serde(default)]
    pub description: Option<String>,
}

impl Rule {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.name)
    }

    pub fn validate(&self, b: &Builder) -> Result<(), ConfigErrors> {
        if self.name.trim().is_empty() {
            return Err(b.fail("field `rule.name`: name the rule, e.g. \"ssh_bruteforce\""));
        }
        if self.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(b.fail("field `rule.id`: must not be empty (leave it out to use the name)"));
        }
        Ok(())
    }

    /// The ECS `rule` object.
    pub fn to_value(&self) -> Value {
        let mut rule = json!({"name": self.name, "id": self.id()});
        if let Some(d) = &self.description {
            rule["description"] = json!(d);
        }
        rule
    }
}

/// The fields whose values group events: one path (`source.ip`) or several
/// (`["source.ip", "destination.ip"]`); none counts every event together.
#[derive(Debug, Clone, Default)]
pub struct Keys(pub Vec<Path>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Keys(vec![Path::parse(&s)])),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(Path::parse(&s)),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a field path, found {other}"
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Keys),
            other => Err(serde::de::Error::custom(format!(
                "expected a field path like \"source.ip\" or a list of them, found {other}"
            ))),
        }
    }
}

impl JsonSchema for Keys {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Keys".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "A field path, or a list of them.",
        })
    }
}

/// One event's key: the values of the key fields and the text that identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub values: Vec<Value>,
    pub text: String,
}

/// What happens to an event that lacks a key field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingKey {
    /// Pass it on uncounted; the account counts it under `<transform> without key`.
    #[default]
    Skip,
    /// Count it with the others that lack it, under a null key value.
    Count,
}

impl Keys {
    /// The message's key; `None` when a key field is absent (or null) and `missing` says skip.
    pub fn read(
        &self,
        message: &mut Message,
        missing: MissingKey,
    ) -> Result<Option<Key>, TransformError> {
        let mut values = Vec::with_capacity(self.0.len());
        for path in &self.0 {
            match message.get(path)? {
                None | Some(Value::Null) if missing == MissingKey::Skip => return Ok(None),
                None => values.push(Value::Null),
                Some(v) => values.push(v.clone()),
            }
        }
        let text = key_text(&values);
        Ok(Some(Key { values, text }))
    }
}

/// The text that identifies a key: one value's text as it is, several values as a JSON array
/// (so `["a|b", "c"]` and `["a", "b|c"]` stay apart).
pub fn key_text(values: &[Value]) -> String {
    match values {
        [one] => value_text(one).into_owned(),
        many => Value::Array(many.to_vec()).to_string(),
    }
}

/// Milliseconds since the Unix epoch: the unit of event time here.
pub type Millis = i64;

/// Reads an event's time (an RFC 3339 string). The errors say what to fix.
pub fn event_time(
    message: &mut Message,
    path: &Path,
    type_name: &str,
) -> Result<DateTime<Utc>, TransformError> {
    match message.get(path)? {
        None | Some(Value::Null) => Err(TransformError::invalid(format!(
            "no event time at `{path}`: {type_name} counts by the time events happened; parse \
             the event's time into `{path}` first (time.from_string), or point `time` at the \
             field that holds it"
        ))),
        Some(Value::String(text)) => parse_time(text).ok_or_else(|| {
            TransformError::invalid(format!(
                "`{path}` holds {text:?}, not an RFC 3339 time like \"2026-11-23T06:25:01Z\""
            ))
        }),
        Some(other) => Err(crate::common::wrong_type(
            path,
            "an RFC 3339 time string",
            other,
        )),
    }
}

/// A time in milliseconds in the pipeline's time representation.
pub fn time_text(t: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(format_time)
        .unwrap_or_else(|| t.to_string())
}

/// A duration setting in whole milliseconds; the error names the field.
pub fn millis(d: Duration, field: &str, b: &Builder) -> Result<Millis, ConfigErrors> {
    let nanos = d.get().as_nanos();
    if nanos == 0 || !nanos.is_multiple_of(1_000_000) {
        return Err(b.fail(format!(
            "field `{field}`: must be a whole number of milliseconds, at least 1ms (found {d})"
        )));
    }
    i64::try_from(nanos / 1_000_000).map_err(|_| b.fail(format!("field `{field}`: too long")))
}

/// A tumbling (`step == size`) or sliding window, in milliseconds. Windows are named by their
/// last bucket `e`: the window `[(e - n + 1) * step, (e + 1) * step)` where `n = size / step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub size: Millis,
    pub step: Millis,
}

/// The most buckets a sliding window may have.
pub const MAX_BUCKETS: i64 = 1440;

impl Window {
    pub fn new(
        size: Duration,
        step: Option<Duration>,
        b: &Builder,
    ) -> Result<Window, ConfigErrors> {
        let size_ms = millis(size, "window", b)?;
        let step_ms = match step {
            Some(s) => millis(s, "step", b)?,
            None => size_ms,
        };
        if step_ms > size_ms || size_ms % step_ms != 0 {
            return Err(b.fail(format!(
                "field `step`: must divide the window evenly (window {size}, step {})",
                step.map(|s| s.to_string()).unwrap_or_default()
            )));
        }
        if size_ms / step_ms > MAX_BUCKETS {
            return Err(b.fail(format!(
                "field `step`: a window of {size} in steps of {} has more than {MAX_BUCKETS} \
                 buckets; use a longer step",
                step.map(|s| s.to_string()).unwrap_or_default()
            )));
        }
        Ok(Window {
            size: size_ms,
            step: step_ms,
        })
    }

    /// The number of buckets in a window (1 when tumbling).
    pub fn buckets(&self) -> i64 {
        self.size / self.step
    }

    pub fn is_sliding(&self) -> bool {
        self.step < self.size
    }

    /// The bucket an event time falls in.
    pub fn bucket(&self, t: Millis) -> i64 {
        t.div_euclid(self.step)
    }

    /// The start and end of the window whose last bucket is `e`.
    pub fn bounds(&self, e: i64) -> (Millis, Millis) {
        let end = (e + 1).saturating_mul(self.step);
        (end.saturating_sub(self.size), end)
    }

    /// The size as a setting would write it (`5m`).
    pub fn size_text(&self) -> String {
        Duration(std::time::Duration::from_millis(self.size as u64)).to_string()
    }
}

/// The event clock: the latest event time seen, the allowed lateness, and when the last event
/// arrived (for the idle clock).
#[derive(Debug, Clone)]
pub struct Clock {
    lateness: Millis,
    latest: Option<Millis>,
    arrived: Instant,
}

impl Clock {
    pub fn new(lateness: Millis) -> Clock {
        Clock {
            lateness,
            latest: None,
            arrived: Instant::now(),
        }
    }

    /// The latest event time seen.
    pub fn latest(&self) -> Option<Millis> {
        self.latest
    }

    /// Events older than this are late.
    pub fn watermark(&self) -> Millis {
        self.latest
            .map_or(Millis::MIN, |t| t.saturating_sub(self.lateness))
    }

    /// Notes an event's arrival; true when it is late (older than the watermark), which leaves
    /// the clock where it was.
    pub fn observe(&mut self, t: Millis, now: Instant) -> bool {
        self.arrived = now;
        if t < self.watermark() {
            return true;
        }
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
        false
    }

    /// The watermark moved on by the wall time since the last event arrived: how far event time
    /// has surely got while the stream is quiet.
    pub fn idle_watermark(&self, now: Instant) -> Millis {
        let idle = now.saturating_duration_since(self.arrived).as_millis();
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.watermark().saturating_add(idle)
    }
}

/// What every detect transform shares: the rule, how events are grouped and timed, what the
/// alert carries and what passes on.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Common {
    /// The rule this transform implements: `{name, id, description}`, written to `rule.*`.
    pub rule: Rule,
    /// The field (or fields) whose values group events, e.g. `source.ip`; every event together
    /// when left out. The key fields are written into the alert at their own paths.
    #[serde(default)]
    pub key: Keys,
    /// The field holding the event's time (RFC 3339); windows are by event time.
    #[serde(default = "default_time")]
    pub time: Path,
    /// How late an event may arrive (behind the latest event time seen) and still be counted.
    #[serde(default = "default_lateness")]
    pub allowed_lateness: Duration,
    /// What happens to an event that lacks a key field: `skip` (pass it on uncounted) or
    /// `count` (group it under a null key value).
    #[serde(default)]
    pub missing_key: MissingKey,
    /// The field that identifies an event, for the sample of events an alert lists.
    #[serde(default = "default_sample_field")]
    pub sample_field: Path,
    /// The most event ids an alert lists (0 for none).
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// Pass the events on (true) with the alerts added after them, or emit the alerts alone
    /// (false: every event this transform sees counts as dropped by rule).
    #[serde(default = "yes")]
    pub pass_events: bool,
    /// Fields merged into every alert (deeply: objects merge, other values replace), e.g.
    /// `{"event": {"severity": 7}, "threat": {"technique": {"id": ["T1110"]}}}`.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

pub fn default_time() -> Path {
    Path::parse("@timestamp")
}

fn default_lateness() -> Duration {
    Duration::from_secs(60)
}

fn default_sample_field() -> Path {
    Path::parse("event.id")
}

fn default_sample_size() -> usize {
    10
}

fn yes() -> bool {
    true
}

/// The most event ids an alert may list.
pub const MAX_SAMPLE: usize = 1000;

impl Common {
    /// Checks the shared settings and returns the lateness in milliseconds.
    pub fn validate(&self, b: &Builder) -> Result<Millis, ConfigErrors> {
        self.rule.validate(b)?;
        if self.sample_size > MAX_SAMPLE {
            return Err(b.fail(format!(
                "field `sample_size`: at most {MAX_SAMPLE} (found {})",
                self.sample_size
            )));
        }
        for (i, p) in self.key.0.iter().enumerate() {
            if p.is_root() {
                return Err(b.fail(format!(
                    "field `key`: entry {i} is the whole event; name a field such as `source.ip`"
                )));
            }
        }
        let nanos = self.allowed_lateness.get().as_nanos();
        if !nanos.is_multiple_of(1_000_000) {
            return Err(b.fail(format!(
                "field `allowed_lateness`: must be a whole number of milliseconds (found {})",
                self.allowed_lateness
            )));
        }
        i64::try_from(nanos / 1_000_000).map_err(|_| b.fail("field `allowed_lateness`: too long"))
    }

    /// An event's key (read by `read`), then its time. An event without its key passes on
    /// uncounted (`Ok(None)`, counted in the account as `without key`) and needs no time.
    pub fn key_and_time<K>(
        &self,
        message: &mut Message,
        counters: &Counters,
        type_name: &str,
        read: impl FnOnce(&mut Message) -> Result<Option<K>, TransformError>,
    ) -> Result<Option<(K, DateTime<Utc>)>, TransformError> {
        let Some(key) = read(message)? else {
            counters.without_key();
            return Ok(None);
        };
        Ok(Some((key, event_time(message, &self.time, type_name)?)))
    }

    /// [`Common::key_and_time`] with the `key` fields.
    pub fn keyed(
        &self,
        message: &mut Message,
        counters: &Counters,
        type_name: &str,
    ) -> Result<Option<(Key, DateTime<Utc>)>, TransformError> {
        self.key_and_time(message, counters, type_name, |m| {
            self.key.read(m, self.missing_key)
        })
    }

    /// Passes an event on, or drops it (by rule) when only alerts are wanted.
    pub fn pass(&self, message: Message, out: &mut Output) {
        if self.pass_events {
            out.push(message);
        } else {
            out.drop_message(message);
        }
    }

    /// The id of an event for the sample, when it has one.
    pub fn sample_id(&self, message: &mut Message) -> Option<Value> {
        if self.sample_size == 0 {
            return None;
        }
        match message.get(&self.sample_field) {
            Ok(Some(Value::Null)) | Ok(None) | Err(_) => None,
            Ok(Some(v)) => Some(v.clone()),
        }
    }
}

/// Named counters in the run's account: late events, events without a key, store failures
/// that were skipped, alerts held back by the cooldown. Each appears in the account the first
/// time it counts something.
pub struct Counters {
    metrics: Metrics,
    location: String,
    late: Counter,
    without_key: Counter,
    skipped: Counter,
    suppressed: Counter,
}

/// One named counter, made on first use.
#[derive(Default)]
struct Counter(OnceLock<Arc<AtomicU64>>);

impl Counters {
    pub fn new(b: &Builder) -> Counters {
        Counters {
            metrics: b.resources.metrics().clone(),
            location: b.location().to_string(),
            late: Counter::default(),
            without_key: Counter::default(),
            skipped: Counter::default(),
            suppressed: Counter::default(),
        }
    }

    pub fn late(&self) {
        self.add(&self.late, "late");
    }

    pub fn without_key(&self) {
        self.add(&self.without_key, "without key");
    }

    pub fn skipped(&self) {
        self.add(&self.skipped, "store errors skipped");
    }

    pub fn suppressed(&self) {
        self.add(&self.suppressed, "alerts in cooldown");
    }

    fn add(&self, counter: &Counter, what: &str) {
        counter
            .0
            .get_or_init(|| self.metrics.counter(&format!("{} {what}", self.location)))
            .fetch_add(1, Relaxed);
    }
}

/// Builds the ECS documents the detect transforms emit.
pub struct Alerts {
    rule: Value,
    keys: Vec<Path>,
    fields: Option<Value>,
}

impl Alerts {
    /// Documents that carry the key fields, then the `extra` fields (in the same order as the
    /// values a [`Key`] given to [`Alerts::document`] holds).
    pub fn new(common: &Common, extra: &[Path]) -> Alerts {
        let mut keys = common.key.0.clone();
        keys.extend(extra.iter().cloned());
        Alerts {
            rule: common.rule.to_value(),
            keys,
            fields: common.fields.clone().map(Value::Object),
        }
    }

    /// A document: `@timestamp`, `event.kind`, the window as `event.start`/`event.end`, the
    /// rule, the key fields at their paths, `related.*` for them, `detection`, then `fields`.
    pub fn document(
        &self,
        kind: &str,
        timestamp: String,
        window: Option<(Millis, Millis)>,
        key: &Key,
        detection: Value,
    ) -> Message {
        let mut event = json!({"kind": kind});
        if let Some((start, end)) = window {
            event["start"] = json!(time_text(start));
            event["end"] = json!(time_text(end));
        }
        let mut data = json!({
            "@timestamp": timestamp,
            "event": event,
            "rule": self.rule,
            "detection": detection,
        });
        let mut in_meta = Vec::new();
        let mut related = Related::default();
        for (path, value) in self.keys.iter().zip(&key.values) {
            if value.is_null() {
                continue;
            }
            related.note(path, value);
            if path.root == Root::Meta {
                in_meta.push((path, value.clone()));
            } else {
                // Paths into a fresh object can only collide with each other (`a` and `a.b`);
                // the first written wins.
                let _ = path.set(&mut data, value.clone());
            }
        }
        related.write(&mut data);
        if let Some(fields) = &self.fields {
            merge(&mut data, fields.clone());
        }
        let mut message = Message::from_value(data);
        for (path, value) in in_meta {
            let _ = message.set(path, value);
        }
        message
    }
}

/// ECS `related.*`: the key values that are addresses, users, hosts or hashes.
#[derive(Default)]
struct Related {
    ip: Vec<Value>,
    user: Vec<Value>,
    hosts: Vec<Value>,
    hash: Vec<Value>,
}

impl Related {
    fn note(&mut self, path: &Path, value: &Value) {
        let Value::String(text) = value else {
            return;
        };
        let last = path.segments.last().map_or("", |s| s.key.as_str());
        let parent = path
            .segments
            .iter()
            .rev()
            .nth(1)
            .map_or("", |s| s.key.as_str());
        let list = if text.parse::<IpAddr>().is_ok() {
            &mut self.ip
        } else if parent == "user" && (last == "name" || last == "id") {
            &mut self.user
        } else if last == "hostname" || last == "domain" || (parent == "host" && last == "name") {
            &mut self.hosts
        } else if parent == "hash" || matches!(last, "md5" | "sha1" | "sha256" | "sha512") {
            &mut self.hash
        } else {
            return;
        };
        if !list.contains(value) {
            list.push(value.clone());
        }
    }

    fn write(self, data: &mut Value) {
        let mut related = Map::new();
        for (name, list) in [
            ("ip", self.ip),
            ("user", self.user),
            ("hosts", self.hosts),
            ("hash", self.hash),
        ] {
            if !list.is_empty() {
                related.insert(name.into(), Value::Array(list));
            }
        }
        if !related.is_empty() {
            data["related"] = Value::Object(related);
        }
    }
}

/// Each message through `apply`, for the detectors whose state is in the process.
pub fn apply_each<T: Stateful>(t: &T, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
    let results = batch
        .into_iter()
        .map(|m| {
            let mut out = Output::new();
            t.apply(m, &mut out).map(|()| out)
        })
        .collect();
    Box::pin(std::future::ready(results))
}

/// Deep merge: objects merge key by key, anything else replaces.
pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A number to sum: integers stay exact; a float makes the sum a float.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(untagged)]
pub enum Sum {
    #[default]
    Zero,
    Int(i128),
    Float(f64),
}

impl Sum {
    /// Adds a JSON number; `Err` names the type found when the value is not a number.
    pub fn add(&mut self, value: &Value) -> Result<(), &'static str> {
        let Value::Number(n) = value else {
            return Err(sluice_core::path::type_name(value));
        };
        let exact = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
        *self = match (*self, exact) {
            (Sum::Zero, Some(i)) => Sum::Int(i),
            (Sum::Int(a), Some(i)) => Sum::Int(a.saturating_add(i)),
            (s, _) => Sum::Float(s.as_f64() + n.as_f64().unwrap_or(0.0)),
        };
        Ok(())
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Sum::Zero => 0.0,
            Sum::Int(i) => i as f64,
            Sum::Float(f) => f,
        }
    }

    /// The sum as JSON: an integer when exact and in range.
    pub fn to_value(self) -> Value {
        match self {
            Sum::Zero => json!(0),
            Sum::Int(i) => i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .unwrap_or_else(|_| json!(i as f64)),
            Sum::Float(f) => json!(f),
        }
    }
}

impl PartialOrd for Sum {
    fn partial_cmp(&self, other: &Sum) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Sum::Int(a), Sum::Int(b)) => a.partial_cmp(b),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

/// When a remote store fails.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send the events whose state could not be updated to the error route with the reason.
    #[default]
    Route,
    /// Pass them on uncounted; the account counts them under `<transform> store errors skipped`.
    Skip,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_read_one_or_several_fields() {
        let keys: Keys = serde_json::from_value(json!("source.ip")).unwrap();
        let mut m = Message::new(r#"{"source":{"ip":"1.2.3.4","port":22}}"#);
        let key = keys.read(&mut m, MissingKey::Skip).unwrap().unwrap();
        assert_eq!(key.text, "1.2.3.4");
        let keys: Keys = serde_json::from_value(json!(["source.ip", "source.port"])).unwrap();
        let key = keys.read(&mut m, MissingKey::Skip).unwrap().unwrap();
        assert_eq!(key.text, r#"["1.2.3.4",22]"#);
        let keys: Keys = serde_json::from_value(json!(["source.ip", "user.name"])).unwrap();
        assert_eq!(keys.read(&mut m, MissingKey::Skip).unwrap(), None);
        let key = keys.read(&mut m, MissingKey::Count).unwrap().unwrap();
        assert_eq!(key.values, vec![json!("1.2.3.4"), Value::Null]);
        let err = serde_json::from_value::<Keys>(json!(5)).unwrap_err();
        assert!(err.to_string().contains("expected a field path"), "{err}");
    }

    #[test]
    fn event_time_errors_say_what_to_fix() {
        let p = default_time();
        let mut m = Message::new(r#"{"@timestamp":"2026-11-23T06:25:01.5+01:00"}"#);
        let t = event_time(&mut m, &p, "t").unwrap();
        assert_eq!(t.timestamp_millis(), 1795411501500);
        assert_eq!(format_time(t), "2026-11-23T05:25:01.500Z");
        let mut m = Message::new("{}");
        let e = event_time(&mut m, &p, "detect.threshold").unwrap_err();
        assert!(
            e.to_string().contains("no event time at `@timestamp`"),
            "{e}"
        );
        let mut m = Message::new(r#"{"@timestamp":"yesterday"}"#);
        let e = event_time(&mut m, &p, "t").unwrap_err();
        assert!(e.to_string().contains("not an RFC 3339 time"), "{e}");
        let mut m = Message::new(r#"{"@timestamp":5}"#);
        assert!(event_time(&mut m, &p, "t").is_err());
        assert_eq!(time_text(1795411501500), "2026-11-23T05:25:01.500Z");
    }

    #[test]
    fn clock_marks_events_behind_the_watermark_late() {
        let now = Instant::now();
        let mut c = Clock::new(1000);
        assert_eq!(c.watermark(), Millis::MIN);
        assert!(!c.observe(10_000, now));
        assert!(!c.observe(9_000, now), "within the lateness");
        assert!(c.observe(8_999, now), "behind the watermark");
        assert_eq!(c.latest(), Some(10_000));
        assert!(!c.observe(12_000, now));
        assert_eq!(c.watermark(), 11_000);
        let later = now + std::time::Duration::from_millis(500);
        assert_eq!(c.idle_watermark(later), 11_500);
    }

    #[test]
    fn related_fields_come_from_the_key_values() {
        let mut r = Related::default();
        r.note(&Path::parse("source.ip"), &json!("10.0.0.1"));
        r.note(&Path::parse("destination.ip"), &json!("10.0.0.1"));
        r.note(&Path::parse("user.name"), &json!("root"));
        r.note(&Path::parse("host.name"), &json!("bastion-1"));
        r.note(&Path::parse("process.hash.sha256"), &json!("ab"));
        r.note(&Path::parse("event.action"), &json!("x"));
        let mut data = json!({});
        r.write(&mut data);
        assert_eq!(
            data,
            json!({"related": {"ip": ["10.0.0.1"], "user": ["root"], "hosts": ["bastion-1"], "hash": ["ab"]}})
        );
    }

    #[test]
    fn sums_stay_exact_for_integers() {
        let mut s = Sum::default();
        s.add(&json!(u64::MAX)).unwrap();
        s.add(&json!(1)).unwrap();
        assert_eq!(s, Sum::Int(i128::from(u64::MAX) + 1));
        assert_eq!(s.to_value(), json!(18446744073709551616.0));
        let mut s = Sum::default();
        s.add(&json!(3)).unwrap();
        s.add(&json!(0.5)).unwrap();
        assert_eq!(s.to_value(), json!(3.5));
        assert_eq!(s.add(&json!("7")), Err("string"));
    }

    proptest! {
        #[test]
        fn every_time_falls_in_exactly_the_windows_that_hold_it(
            t in -10_000_000i64..10_000_000,
            step in 1i64..1000,
            n in 1i64..10,
        ) {
            let w = Window { size: step * n, step };
            let b = w.bucket(t);
            for e in b - n - 2..b + n + 2 {
                let (start, end) = w.bounds(e);
                let holds = start <= t && t < end;
                prop_assert_eq!(holds, (b..b + n).contains(&e));
            }
        }
    }
}
