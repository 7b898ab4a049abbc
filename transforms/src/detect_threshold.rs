//! `detect.threshold`: count events per key within a window of event time and alert when the
//! count reaches a threshold, once per key and window, with an optional cooldown.
//!
//! The state lives in this process by default: one map of keys to per-bucket counts, exact and
//! fast, for one process. With `store`, it lives in a named store instead, which is how several
//! processes (concurrent Lambda invocations, Kinesis shards, backfill workers) count together:
//! each batch adds its events with one atomic increment per key and bucket, and whichever
//! process first sees a count at or past the threshold claims the alert with a conditional write
//! (`set_if_absent`), so exactly one alert goes out per key and window however the events were
//! spread. See `docs/detection.md`.

use crate::batch::Duration;
use crate::detect::{Alerts, Clock, Common, Counters, Key, Millis, OnError, Window, apply_each};
use crate::kv::{self, KvStore, StoreError};
use crate::time::format_time;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use lru::LruCache;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::TransformError;
use sluice_core::{BatchItem, Io, Stateful};
use sluice_core::{Builder, ConfigErrors, Failed, Message, Output, Registry, Transform};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

const NAME: &str = "detect.threshold";

pub fn register(r: &mut Registry) {
    r.transform(NAME, |s, b| {
        let t = Threshold::new(s, b)?;
        // A shared store is asked a batch at a time; state in this process needs the order.
        Ok(match t.state {
            State::Shared(_) => Transform::io(t),
            State::Local(_) => Transform::stateful(t),
        })
    });
}

/// Count events per key (e.g. failed logins per `source.ip`) within a window of event time and
/// emit an ECS alert when the count reaches `threshold`: once per key and window, and with
/// `cooldown`, not again for that key until the cooldown has passed. Windows tumble (`window`
/// alone) or slide (`step`). Which events count is the transform's `when`. Events pass on with
/// the alert added after the one that reached the threshold (or alone, `pass_events: false`).
/// Events later than `allowed_lateness` are not counted. The counts live in this process, or in
/// a `store` that several processes share (DynamoDB: atomic counters, a conditional write per
/// alert, so concurrent workers alert exactly once).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ThresholdSettings {
    #[serde(flatten)]
    pub common: Common,
    /// The count that raises the alert (at least 1).
    pub threshold: u64,
    /// The window's length, e.g. `5m`.
    pub window: Duration,
    /// Slide the window by this much (it must divide `window`); tumbling windows when left out.
    #[serde(default)]
    pub step: Option<Duration>,
    /// After an alert for a key, no alert for that key from a window starting within this long
    /// of the alerting one. Left out: `0s` (once per window) for tumbling windows, the window's
    /// length for sliding ones (one alert per burst, not one per step).
    #[serde(default)]
    pub cooldown: Option<Duration>,
    /// A store from the config's `stores` to keep the counts in, shared by every process that
    /// names the same table (DynamoDB); this process alone when left out.
    #[serde(default)]
    pub store: Option<String>,
    /// When the store fails: `route` the events to the error route, or `skip` them uncounted.
    #[serde(default)]
    pub on_error: OnError,
    /// The most store requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    32
}

/// The most keys the shared-state path remembers locally (claimed alerts, event samples).
const LOCAL_MEMORY: usize = 100_000;

pub struct Threshold {
    common: Common,
    threshold: u64,
    window: Window,
    lateness: Millis,
    cooldown: Millis,
    alerts: Alerts,
    counters: Counters,
    state: State,
}

enum State {
    Local(Mutex<Local>),
    Shared(Shared),
}

impl Threshold {
    pub fn new(s: ThresholdSettings, b: &Builder) -> Result<Threshold, ConfigErrors> {
        let lateness = s.common.validate(b)?;
        if s.threshold == 0 {
            return Err(b.fail("field `threshold`: must be at least 1"));
        }
        if s.threshold > i64::MAX as u64 {
            return Err(b.fail("field `threshold`: too large"));
        }
        if s.concurrency == 0 {
            return Err(b.fail("field `concurrency`: must be at least 1"));
        }
        let window = Window::new(s.window, s.step, b)?;
        let cooldown = match s.cooldown {
            Some(c) if c.is_zero() => 0,
            Some(c) => crate::detect::millis(c, "cooldown", b)?,
            None if window.is_sliding() => window.size,
            None => 0,
        };
        let state = match &s.store {
            None => State::Local(Mutex::new(Local::new(lateness))),
            Some(name) => {
                let store = kv::lookup(b, "store", name)?;
                let memory = NonZeroUsize::new(LOCAL_MEMORY).expect("not zero");
                State::Shared(Shared {
                    store,
                    clock: Mutex::new(Clock::new(lateness)),
                    claimed: Mutex::new(LruCache::new(memory)),
                    samples: Mutex::new(LruCache::new(memory)),
                    on_error: s.on_error,
                    concurrency: s.concurrency,
                })
            }
        };
        Ok(Threshold {
            alerts: Alerts::new(&s.common, &[]),
            counters: Counters::new(b),
            common: s.common,
            threshold: s.threshold,
            window,
            lateness,
            cooldown,
            state,
        })
    }

    fn suppressed(&self, last: Option<Millis>, start: Millis) -> bool {
        last.is_some_and(|l| start.abs_diff(l) < self.cooldown.unsigned_abs())
    }

    fn alert(
        &self,
        at: DateTime<Utc>,
        (start, end): (Millis, Millis),
        key: &Key,
        count: u64,
        sample: Vec<Value>,
    ) -> Message {
        let mut detection = json!({
            "type": "threshold",
            "count": count,
            "threshold": self.threshold,
            "window": self.window.size_text(),
        });
        if self.window.is_sliding() {
            detection["step"] = json!(
                Duration(std::time::Duration::from_millis(self.window.step as u64)).to_string()
            );
        }
        if self.common.sample_size > 0 {
            detection["sample"] = Value::Array(sample);
        }
        self.alerts
            .document("alert", format_time(at), Some((start, end)), key, detection)
    }

    fn emit(&self, message: Message, alerts: Vec<Message>, out: &mut Output) {
        self.common.pass(message, out);
        for a in alerts {
            out.push(a);
        }
    }

    /// The windows an event in bucket `b` can complete: those holding `b` that have begun by
    /// the latest event time seen (`max`).
    fn windows(&self, b: i64, max: i64) -> std::ops::RangeInclusive<i64> {
        b..=(b + self.window.buckets() - 1).min(max.max(b))
    }

    /// How long a store keeps a count: the window, the lateness, and a margin for events that
    /// reach the store late.
    fn count_ttl(&self) -> std::time::Duration {
        let margin = self.window.size.max(300_000);
        ms(self.window.size + self.lateness + margin)
    }
}

fn ms(t: Millis) -> std::time::Duration {
    std::time::Duration::from_millis(t.max(1) as u64)
}

// ---- State in this process ------------------------------------------------------------------

struct Local {
    clock: Clock,
    keys: HashMap<String, KeyState>,
    /// The watermark's bucket at the last sweep of finished windows.
    swept: i64,
}

struct KeyState {
    buckets: Vec<Bucket>,
    /// The windows (by last bucket) that reached the threshold.
    alerted: Vec<i64>,
    /// The start of the last window that alerted, for the cooldown.
    last_alert: Option<Millis>,
}

struct Bucket {
    index: i64,
    count: u64,
    sample: Vec<Value>,
}

impl KeyState {
    fn add(&mut self, b: i64, id: impl FnOnce() -> Option<Value>, sample_size: usize) {
        let bucket = match self.buckets.iter_mut().position(|x| x.index == b) {
            Some(i) => &mut self.buckets[i],
            None => {
                self.buckets.push(Bucket {
                    index: b,
                    count: 0,
                    sample: Vec::new(),
                });
                self.buckets.last_mut().expect("just pushed")
            }
        };
        bucket.count += 1;
        if bucket.sample.len() < sample_size
            && let Some(id) = id()
        {
            bucket.sample.push(id);
        }
    }

    fn count(&self, first: i64, last: i64) -> u64 {
        self.buckets
            .iter()
            .filter(|x| (first..=last).contains(&x.index))
            .map(|x| x.count)
            .sum()
    }

    fn sample(&self, first: i64, last: i64, size: usize) -> Vec<Value> {
        let mut buckets: Vec<&Bucket> = self
            .buckets
            .iter()
            .filter(|x| (first..=last).contains(&x.index))
            .collect();
        buckets.sort_by_key(|x| x.index);
        buckets
            .into_iter()
            .flat_map(|x| x.sample.iter().cloned())
            .take(size)
            .collect()
    }
}

impl Local {
    fn new(lateness: Millis) -> Local {
        Local {
            clock: Clock::new(lateness),
            keys: HashMap::new(),
            swept: i64::MIN,
        }
    }

    /// Counts an event; `id` reads its id for the sample, only when the sample has room.
    fn count(
        &mut self,
        d: &Threshold,
        key: Key,
        at: DateTime<Utc>,
        id: impl FnOnce() -> Option<Value>,
    ) -> Vec<Message> {
        let t = at.timestamp_millis();
        let w = d.window;
        let n = w.buckets();
        let b = w.bucket(t);
        let max = w.bucket(self.clock.latest().unwrap_or(t));
        let state = match self.keys.get_mut(&key.text) {
            Some(s) => s,
            None => self.keys.entry(key.text.clone()).or_insert(KeyState {
                buckets: Vec::new(),
                alerted: Vec::new(),
                last_alert: None,
            }),
        };
        state.add(b, id, d.common.sample_size);
        let mut alerts = Vec::new();
        for e in d.windows(b, max) {
            if state.alerted.contains(&e) {
                continue;
            }
            let count = state.count(e - n + 1, e);
            if count < d.threshold {
                continue;
            }
            state.alerted.push(e);
            let bounds = w.bounds(e);
            if d.suppressed(state.last_alert, bounds.0) {
                d.counters.suppressed();
                continue;
            }
            state.last_alert = Some(bounds.0);
            let sample = state.sample(e - n + 1, e, d.common.sample_size);
            alerts.push(d.alert(at, bounds, &key, count, sample));
        }
        alerts
    }

    /// Forgets the windows no event can reach any more: those that ended before the watermark.
    fn sweep(&mut self, d: &Threshold) {
        let wm = self.clock.watermark();
        if wm == Millis::MIN || d.window.bucket(wm) <= self.swept {
            return;
        }
        self.swept = d.window.bucket(wm);
        let (n, step, size, cooldown) =
            (d.window.buckets(), d.window.step, d.window.size, d.cooldown);
        self.keys.retain(|_, s| {
            s.buckets
                .retain(|x| (x.index + n).saturating_mul(step) > wm);
            s.alerted.retain(|e| (e + 1).saturating_mul(step) > wm);
            !(s.buckets.is_empty()
                && s.alerted.is_empty()
                && s.last_alert
                    .is_none_or(|l| l.saturating_add(cooldown + size) <= wm))
        });
    }
}

// ---- State in a store ---------------------------------------------------------------------

struct Shared {
    store: Arc<dyn KvStore>,
    clock: Mutex<Clock>,
    /// Alerts this process knows are claimed (by it or another), so it does not ask again.
    claimed: Mutex<LruCache<String, ()>>,
    /// The ids of the events this process counted, by key and bucket.
    samples: Mutex<LruCache<(String, i64), Vec<Value>>>,
    on_error: OnError,
    concurrency: usize,
}

/// The events of one batch with the same key and bucket.
struct Group {
    key: Key,
    bucket: i64,
    /// (position in the batch, event time, event id), in batch order.
    members: Vec<(usize, DateTime<Utc>, Option<Value>)>,
}

enum Slot {
    Pass(Message),
    Failed(Failed),
    Counted(Message),
}

impl Threshold {
    /// Sorts a batch into groups, in one pass under the clock.
    fn group(&self, shared: &Shared, batch: Vec<Message>) -> (Vec<Slot>, Vec<Group>, i64) {
        let mut slots = Vec::with_capacity(batch.len());
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<(String, i64), usize> = HashMap::new();
        let mut clock = shared.clock.lock();
        let now = Instant::now();
        for mut m in batch {
            let (key, at) = match self.common.keyed(&mut m, &self.counters, NAME) {
                Ok(Some(read)) => read,
                Ok(None) => {
                    slots.push(Slot::Pass(m));
                    continue;
                }
                Err(e) => {
                    slots.push(Slot::Failed(Failed::new(m, e)));
                    continue;
                }
            };
            let t = at.timestamp_millis();
            if clock.observe(t, now) {
                self.counters.late();
                slots.push(Slot::Pass(m));
                continue;
            }
            let b = self.window.bucket(t);
            let id = self.common.sample_id(&mut m);
            let g = *index.entry((key.text.clone(), b)).or_insert_with(|| {
                groups.push(Group {
                    key,
                    bucket: b,
                    members: Vec::new(),
                });
                groups.len() - 1
            });
            groups[g].members.push((slots.len(), at, id));
            slots.push(Slot::Counted(m));
        }
        let max = self.window.bucket(clock.latest().unwrap_or(0));
        (slots, groups, max)
    }

    fn store_key(&self, what: &str, key: &Key, bucket_or_start: Millis) -> String {
        format!(
            "{}:{what}:{}:{bucket_or_start}",
            self.common.rule.id(),
            key.text
        )
    }

    /// Adds a group's events to the store and claims the alerts they complete; the alerts
    /// come back with the batch position of the event that reached the threshold.
    async fn settle(
        &self,
        shared: &Shared,
        g: &Group,
        max: i64,
    ) -> Result<Vec<(usize, Message)>, StoreError> {
        let w = self.window;
        let n = w.buckets();
        let added = g.members.len() as i64;
        let start_of = |bucket: i64| bucket.saturating_mul(w.step);
        let count_key = self.store_key("n", &g.key, start_of(g.bucket));
        let total = shared
            .store
            .increment(&count_key, added, Some(self.count_ttl()))
            .await?;
        let windows = self.windows(g.bucket, max);
        let mut counts = HashMap::from([(g.bucket, total)]);
        if w.is_sliding() {
            for b in (g.bucket - n + 1)..=*windows.end() {
                if b != g.bucket {
                    let k = self.store_key("n", &g.key, start_of(b));
                    let c = shared.store.get(&k).await?;
                    counts.insert(b, c.and_then(|v| v.as_i64()).unwrap_or(0));
                }
            }
        }
        let mut alerts = Vec::new();
        for e in windows {
            let sum: i64 = (e - n + 1..=e).filter_map(|b| counts.get(&b)).sum();
            if sum < self.threshold as i64 {
                continue;
            }
            let bounds = w.bounds(e);
            let alert_key = self.store_key("alert", &g.key, bounds.0);
            if shared.claimed.lock().get(&alert_key).is_some() {
                continue;
            }
            let last_key = format!("{}:last:{}", self.common.rule.id(), g.key.text);
            if self.cooldown > 0 {
                let last = shared.store.get(&last_key).await?.and_then(|v| v.as_i64());
                if self.suppressed(last, bounds.0) {
                    shared.claimed.lock().put(alert_key, ());
                    self.counters.suppressed();
                    continue;
                }
            }
            let margin = w.size.max(300_000);
            let ttl = ms(w.size + self.lateness + self.cooldown + margin);
            let won = shared
                .store
                .set_if_absent(&alert_key, json!(sum), Some(ttl))
                .await?;
            shared.claimed.lock().put(alert_key, ());
            if !won {
                continue;
            }
            if self.cooldown > 0 {
                // The alert is claimed: failing to note it for the cooldown only risks a second
                // alert for the key later, which is better than losing this one.
                let ttl = ms(self.cooldown + w.size + self.lateness + margin);
                let _ = shared
                    .store
                    .set(&last_key, json!(bounds.0), Some(ttl))
                    .await;
            }
            // The event that reached the threshold: for a tumbling window, the one whose
            // addition made the count equal to it (the first, when it was already past).
            let (count, k) = if w.is_sliding() {
                (sum, added)
            } else {
                let before = total - added;
                let k = (self.threshold as i64 - before).clamp(1, added);
                (before + k, k)
            };
            let (slot, at, _) = g.members[(k - 1) as usize];
            let sample = self.sample(shared, g, e, k as usize);
            alerts.push((
                slot,
                self.alert(at, bounds, &g.key, count.max(0) as u64, sample),
            ));
        }
        self.note_sample(shared, g);
        Ok(alerts)
    }

    /// The ids of the window's events this process counted: those of earlier batches, then
    /// the group's own up to the one that reached the threshold (the `upto` first).
    fn sample(&self, shared: &Shared, g: &Group, e: i64, upto: usize) -> Vec<Value> {
        let size = self.common.sample_size;
        let n = self.window.buckets();
        let mut samples = shared.samples.lock();
        let mut ids = Vec::new();
        for b in e - n + 1..=e {
            if let Some(earlier) = samples.get(&(g.key.text.clone(), b)) {
                ids.extend(earlier.iter().cloned());
            }
            if b == g.bucket {
                ids.extend(g.members[..upto].iter().filter_map(|m| m.2.clone()));
            }
        }
        ids.truncate(size);
        ids
    }

    fn note_sample(&self, shared: &Shared, g: &Group) {
        let size = self.common.sample_size;
        if size == 0 || g.members.iter().all(|m| m.2.is_none()) {
            return;
        }
        let mut samples = shared.samples.lock();
        let ids = samples.get_or_insert_mut((g.key.text.clone(), g.bucket), Vec::new);
        for id in g.members.iter().filter_map(|m| m.2.clone()) {
            if ids.len() >= size {
                break;
            }
            ids.push(id);
        }
    }

    async fn apply_shared(&self, shared: &Shared, batch: Vec<Message>) -> Vec<BatchItem> {
        let (slots, groups, max) = self.group(shared, batch);
        // Collected first: a lazy `map` here trips the compiler's higher-ranked lifetimes.
        let work: Vec<_> = groups.iter().map(|g| self.settle(shared, g, max)).collect();
        let settled: Vec<Result<Vec<(usize, Message)>, StoreError>> = stream::iter(work)
            .buffered(shared.concurrency)
            .collect()
            .await;
        // Alerts by the position of their event; store failures by the positions they touch.
        let mut alerts: HashMap<usize, Vec<Message>> = HashMap::new();
        let mut failures: HashMap<usize, String> = HashMap::new();
        for (g, result) in groups.iter().zip(settled) {
            match result {
                Ok(list) => {
                    for (slot, alert) in list {
                        alerts.entry(slot).or_default().push(alert);
                    }
                }
                Err(e) => {
                    for (slot, _, _) in &g.members {
                        failures.insert(*slot, e.to_string());
                    }
                }
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| match slot {
                Slot::Failed(f) => Err(f),
                Slot::Pass(m) => {
                    let mut out = Output::new();
                    self.common.pass(m, &mut out);
                    Ok(out)
                }
                Slot::Counted(m) => {
                    let mut out = Output::new();
                    match failures.remove(&i) {
                        Some(why) if shared.on_error == OnError::Route => {
                            return Err(Failed::new(
                                m,
                                TransformError::invalid(format!(
                                    "the event was not counted: {why}"
                                )),
                            ));
                        }
                        Some(_) => {
                            self.counters.skipped();
                            self.common.pass(m, &mut out);
                        }
                        None => self.emit(m, alerts.remove(&i).unwrap_or_default(), &mut out),
                    }
                    Ok(out)
                }
            })
            .collect()
    }
}

impl Stateful for Threshold {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let local = match &self.state {
            State::Local(local) => local,
            State::Shared(shared) => {
                // Nested where the engine cannot wait (inside a synchronous meta step): only a
                // store in this process answers without waiting.
                if !shared.store.is_local() {
                    return Err(Failed::new(
                        message,
                        TransformError::invalid(
                            "detect.threshold with a remote store must run where the engine can wait for it (not inside a synchronous step)",
                        ),
                    ));
                }
                let results = self
                    .apply_shared(shared, vec![message])
                    .now_or_never()
                    .expect("a local store answers at once");
                for r in results {
                    out.append(r?);
                }
                return Ok(());
            }
        };
        let (key, at) = match self.common.keyed(&mut message, &self.counters, NAME) {
            Ok(Some(read)) => read,
            Ok(None) => {
                self.common.pass(message, out);
                return Ok(());
            }
            Err(e) => return Err(Failed::new(message, e)),
        };
        let alerts = {
            let mut state = local.lock();
            if state.clock.observe(at.timestamp_millis(), Instant::now()) {
                self.counters.late();
                drop(state);
                self.common.pass(message, out);
                return Ok(());
            }
            let alerts = state.count(self, key, at, || self.common.sample_id(&mut message));
            state.sweep(self);
            alerts
        };
        self.emit(message, alerts, out);
        Ok(())
    }

    fn tick(&self, _out: &mut Output) -> Result<(), TransformError> {
        if let State::Local(local) = &self.state {
            local.lock().sweep(self);
        }
        Ok(())
    }

    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }
}

impl Io for Threshold {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        match &self.state {
            State::Shared(shared) => self.apply_shared(shared, batch).boxed(),
            State::Local(_) => apply_each(self, batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::time_text;
    use crate::testing::{build_error, config, reasons, run};
    use proptest::prelude::*;
    use sluice_core::{Config, Resources};

    /// A failed ssh login from `ip` at `secs` seconds past 2026-11-23T06:00:00Z.
    fn failure(ip: &str, secs: i64, id: &str) -> Value {
        json!({
            "@timestamp": time_text(BASE + secs * 1000),
            "event": {"id": id, "category": ["authentication"], "action": "ssh_login", "outcome": "failure"},
            "source": {"ip": ip},
            "user": {"name": "root"},
        })
    }

    const BASE: Millis = 1_795_413_600_000; // 2026-11-23T06:00:00Z

    fn settings(extra: Value) -> Value {
        let mut s = json!({
            "rule": {"name": "ssh_bruteforce", "id": "ssh-001", "description": "Five failed logins from one address in five minutes"},
            "key": "source.ip",
            "threshold": 5,
            "window": "5m",
        });
        crate::detect::merge(&mut s, extra);
        s
    }

    fn messages(events: &[Value]) -> Vec<Message> {
        events.iter().map(|e| Message::new(e.to_string())).collect()
    }

    fn outputs(settings: Value, events: &[Value]) -> Vec<Value> {
        let p = run(config("detect.threshold", settings), messages(events));
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        p.output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect()
    }

    fn alerts(settings: Value, events: &[Value]) -> Vec<Value> {
        outputs(settings, events)
            .into_iter()
            .filter(|v| v["event"]["kind"] == "alert")
            .collect()
    }

    #[test]
    fn alerts_once_when_the_count_reaches_the_threshold() {
        let events: Vec<Value> = (0..7)
            .map(|i| failure("89.160.20.156", i * 10, &format!("e{i}")))
            .collect();
        let out = outputs(settings(json!({"sample_size": 3})), &events);
        assert_eq!(out.len(), 8, "seven events and one alert");
        assert_eq!(out[4], events[4]);
        assert_eq!(
            out[5],
            json!({
                "@timestamp": "2026-11-23T06:00:40Z",
                "event": {"kind": "alert", "start": "2026-11-23T06:00:00Z", "end": "2026-11-23T06:05:00Z"},
                "rule": {"name": "ssh_bruteforce", "id": "ssh-001", "description": "Five failed logins from one address in five minutes"},
                "source": {"ip": "89.160.20.156"},
                "related": {"ip": ["89.160.20.156"]},
                "detection": {"type": "threshold", "count": 5, "threshold": 5, "window": "5m", "sample": ["e0", "e1", "e2"]},
            })
        );
        assert_eq!(out[6], events[5]);
    }

    #[test]
    fn tumbling_windows_count_apart_and_each_may_alert() {
        // 4 before 06:05 and 4 after: no window reaches 5.
        let events: Vec<Value> = (0..8)
            .map(|i| failure("10.0.0.1", 280 + i * 5, &i.to_string()))
            .collect();
        assert!(alerts(settings(json!({})), &events).is_empty());
        // A sliding window of 5m moving by 1m sees all 8 together.
        let got = alerts(settings(json!({"step": "1m"})), &events);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["event"]["start"], "2026-11-23T06:01:00Z");
        assert_eq!(got[0]["event"]["end"], "2026-11-23T06:06:00Z");
        assert_eq!(got[0]["detection"]["step"], "1m");
        // A long attack alerts in every window, or once with a cooldown.
        let attack: Vec<Value> = (0..90)
            .map(|i| failure("10.0.0.2", i * 10, &i.to_string()))
            .collect();
        assert_eq!(alerts(settings(json!({})), &attack).len(), 3);
        let once = alerts(settings(json!({"cooldown": "1h"})), &attack);
        assert_eq!(once.len(), 1);
        let sliding = alerts(settings(json!({"step": "1m"})), &attack);
        let starts: Vec<&Value> = sliding.iter().map(|a| &a["event"]["start"]).collect();
        // The first window to hold five is the one ending with the minute of the fifth
        // (06:00:40); then one a window's length later while the attack goes on.
        assert_eq!(
            starts,
            vec![
                "2026-11-23T05:56:00Z",
                "2026-11-23T06:01:00Z",
                "2026-11-23T06:06:00Z"
            ]
        );
    }

    #[test]
    fn late_events_pass_uncounted_and_are_counted_in_the_account() {
        let mut events: Vec<Value> = (0..4)
            .map(|i| failure("10.0.0.3", 100 + i, &i.to_string()))
            .collect();
        events.push(failure("10.0.0.9", 1000, "jump"));
        // 50s behind the latest time, with 60s allowed: in time; then 896s behind: late.
        events.push(failure("10.0.0.3", 950, "in time"));
        events.push(failure("10.0.0.3", 104, "late"));
        let config = config("detect.threshold", settings(json!({})));
        let pipeline = Config::from_value(config, "test")
            .unwrap()
            .build(&crate::registry(), &Resources::default())
            .unwrap();
        let p = futures::executor::block_on(pipeline.process(messages(&events))).unwrap();
        assert_eq!(p.output.len(), 7, "everything passes");
        let account = pipeline.account();
        assert!(
            account
                .counters
                .contains(&("transforms[0] (detect.threshold) late".into(), 1)),
            "{account}"
        );
    }

    #[test]
    fn events_without_the_key_pass_and_are_counted() {
        let mut events: Vec<Value> = (0..5)
            .map(|i| {
                let mut e = failure("x", i, &i.to_string());
                e.as_object_mut().unwrap().remove("source");
                e
            })
            .collect();
        // No key and no time: still passes, the time is not needed.
        events.push(json!({"message": "no key"}));
        let out = outputs(settings(json!({})), &events);
        assert_eq!(out.len(), 6);
        assert!(out.iter().all(|v| v["event"]["kind"] != "alert"));
        // Counted together under a null key when asked.
        let got = alerts(settings(json!({"missing_key": "count"})), &events[..5]);
        assert_eq!(got.len(), 1);
        assert!(got[0].get("source").is_none());
        assert!(got[0].get("related").is_none());
    }

    #[test]
    fn events_without_a_readable_time_go_to_the_error_route() {
        let mut no_time = failure("10.0.0.1", 0, "a");
        no_time.as_object_mut().unwrap().remove("@timestamp");
        let mut bad = failure("10.0.0.1", 0, "b");
        bad["@timestamp"] = json!("Nov 23 06:25:03");
        let mut input = messages(&[no_time, bad]);
        input.push(Message::new("not json"));
        let p = run(config("detect.threshold", settings(json!({}))), input);
        let r = reasons(&p);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].contains("no event time at `@timestamp`"), "{}", r[0]);
        assert!(r[1].contains("not an RFC 3339 time"), "{}", r[1]);
    }

    #[test]
    fn alerts_alone_several_key_fields_and_extra_fields() {
        let events: Vec<Value> = (0..5)
            .map(|i| failure("2001:db8::7", i, &i.to_string()))
            .collect();
        let p = run(
            config(
                "detect.threshold",
                settings(json!({
                    "key": ["source.ip", "user.name"],
                    "pass_events": false,
                    "sample_size": 0,
                    "fields": {"event": {"severity": 7}, "threat": {"technique": {"id": ["T1110"]}}},
                })),
            ),
            messages(&events),
        );
        assert_eq!(p.output.len(), 1);
        let alert = sluice_core::testing::output_value(&p.output[0]);
        assert_eq!(alert["source"]["ip"], "2001:db8::7");
        assert_eq!(alert["user"]["name"], "root");
        assert_eq!(
            alert["related"],
            json!({"ip": ["2001:db8::7"], "user": ["root"]})
        );
        assert_eq!(alert["event"]["severity"], 7);
        assert_eq!(alert["event"]["kind"], "alert");
        assert_eq!(alert["threat"]["technique"]["id"], json!(["T1110"]));
        assert!(alert["detection"].get("sample").is_none());
    }

    #[test]
    fn a_named_memory_store_gives_the_same_alerts() {
        let events: Vec<Value> = (0..12)
            .map(|i| {
                failure(
                    ["10.0.0.1", "10.0.0.2"][i as usize % 2],
                    i * 7,
                    &i.to_string(),
                )
            })
            .collect();
        let local = alerts(settings(json!({})), &events);
        let mut c = config("detect.threshold", settings(json!({"store": "state"})));
        c["stores"] = json!({"state": {"type": "memory"}});
        let p = run(c, messages(&events));
        let shared: Vec<Value> = p
            .output
            .iter()
            .map(sluice_core::testing::output_value)
            .filter(|v| v["event"]["kind"] == "alert")
            .collect();
        assert_eq!(local.len(), 2);
        assert_eq!(shared, local);
    }

    #[test]
    fn settings_are_checked() {
        let e = build_error(config(
            "detect.threshold",
            settings(json!({"threshold": 0})),
        ));
        assert!(e.contains("field `threshold`: must be at least 1"), "{e}");
        let e = build_error(config("detect.threshold", settings(json!({"step": "2m"}))));
        assert!(e.contains("field `step`: must divide the window"), "{e}");
        let e = build_error(config(
            "detect.threshold",
            settings(json!({"store": "nope"})),
        ));
        assert!(e.contains("no store named `nope`"), "{e}");
        let e = build_error(config(
            "detect.threshold",
            settings(json!({"window": "0s"})),
        ));
        assert!(e.contains("field `window`"), "{e}");
        let e = build_error(config(
            "detect.threshold",
            settings(json!({"rule": {"name": ""}})),
        ));
        assert!(e.contains("field `rule.name`"), "{e}");
    }

    /// What identifies an alert whatever the order: rule, key, window and count.
    fn identity(alerts: &[Value]) -> Vec<(String, String, u64)> {
        let mut ids: Vec<(String, String, u64)> = alerts
            .iter()
            .map(|a| {
                (
                    a["source"]["ip"].as_str().unwrap_or("").to_string(),
                    a["event"]["start"].as_str().unwrap_or("").to_string(),
                    a["detection"]["count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        ids.sort();
        ids
    }

    /// A generated auth log: steady noise from many addresses (never 5 in a window), and three
    /// attackers: a fast burst, a slow one that reaches 5 only in its second window, and one
    /// that keeps going for 20 minutes. Times are seconds past BASE, in time order.
    fn auth_log() -> Vec<Value> {
        let mut events = Vec::new();
        for i in 0..1800 {
            // Noise: 250 addresses, each failing once every 250 seconds.
            let ip = format!("198.51.100.{}", i % 250);
            events.push(failure(&ip, i, &format!("n{i}")));
        }
        for i in 0..8 {
            events.push(failure("203.0.113.1", 120 + i * 3, &format!("a{i}")));
        }
        for i in 0..9 {
            // Every 50s from 04:00: 2 in the first window (04:00, 04:50), 6 in the second, one
            // in the third.
            events.push(failure("203.0.113.2", 240 + i * 50, &format!("b{i}")));
        }
        for i in 0..120 {
            events.push(failure("203.0.113.3", 600 + i * 10, &format!("c{i}")));
        }
        events.sort_by_key(|e| e["@timestamp"].as_str().unwrap().to_string());
        events
    }

    fn expected_auth_alerts() -> Vec<(String, String, u64)> {
        let mut want = vec![
            ("203.0.113.1".into(), "2026-11-23T06:00:00Z".into(), 5),
            ("203.0.113.2".into(), "2026-11-23T06:05:00Z".into(), 5),
            ("203.0.113.3".into(), "2026-11-23T06:10:00Z".into(), 5),
            ("203.0.113.3".into(), "2026-11-23T06:15:00Z".into(), 5),
            ("203.0.113.3".into(), "2026-11-23T06:20:00Z".into(), 5),
            ("203.0.113.3".into(), "2026-11-23T06:25:00Z".into(), 5),
        ];
        want.sort();
        want
    }

    #[test]
    fn a_generated_auth_log_gives_exactly_the_expected_alerts() {
        let events = auth_log();
        let got = alerts(settings(json!({})), &events);
        assert_eq!(identity(&got), expected_auth_alerts());
        // With a cooldown of an hour, the long attack alerts once.
        let got = alerts(settings(json!({"cooldown": "1h"})), &events);
        assert_eq!(got.len(), 3);
    }

    /// Moves each event by up to `lateness` seconds later in the stream: the order changes, but
    /// no event arrives after one more than `lateness` newer.
    fn shuffle_within(events: &[Value], lateness: i64, seed: u64) -> Vec<Value> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut keyed: Vec<(i64, usize, Value)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let t = crate::time::parse_time(e["@timestamp"].as_str().unwrap())
                    .unwrap()
                    .timestamp();
                (t + rng.i64(0..=lateness), i, e.clone())
            })
            .collect();
        keyed.sort_by_key(|(arrival, i, _)| (*arrival, *i));
        keyed.into_iter().map(|(_, _, e)| e).collect()
    }

    #[test]
    fn the_same_alerts_when_the_log_is_shuffled_within_the_allowed_lateness() {
        let events = auth_log();
        for seed in 0..5 {
            let shuffled = shuffle_within(&events, 60, seed);
            assert_ne!(shuffled, events);
            let got = alerts(settings(json!({"allowed_lateness": "1m"})), &shuffled);
            assert_eq!(identity(&got), expected_auth_alerts(), "seed {seed}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any order within the allowed lateness gives the same alerts, tumbling or sliding.
        #[test]
        fn order_within_the_lateness_does_not_change_the_alerts(
            times in prop::collection::vec((0i64..3, 0i64..1200), 1..80),
            seed in any::<u64>(),
            sliding in any::<bool>(),
        ) {
            let mut events: Vec<Value> = times
                .iter()
                .enumerate()
                .map(|(i, (ip, t))| failure(&format!("10.0.0.{ip}"), *t, &i.to_string()))
                .collect();
            events.sort_by_key(|e| e["@timestamp"].as_str().unwrap().to_string());
            let extra = if sliding {
                json!({"step": "1m", "threshold": 4, "allowed_lateness": "30s"})
            } else {
                json!({"threshold": 4, "allowed_lateness": "30s"})
            };
            let ordered = alerts(settings(extra.clone()), &events);
            let shuffled = alerts(settings(extra), &shuffle_within(&events, 30, seed));
            if sliding {
                // Which window of a burst alerts first may differ with the order; which
                // addresses alert does not.
                let keys = |a: &[Value]| {
                    let mut k: Vec<Value> = a.iter().map(|a| a["source"]["ip"].clone()).collect();
                    k.sort_by_key(|v| v.to_string());
                    k.dedup();
                    k
                };
                prop_assert_eq!(keys(&ordered), keys(&shuffled));
            } else {
                prop_assert_eq!(identity(&ordered), identity(&shuffled));
            }
        }
    }
}
