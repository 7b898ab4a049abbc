//! `detect.first_seen`: alert the first time a value is seen for a key within a retention: a
//! user signing in from a new ASN or country, a new user agent for a role.
//!
//! In this process the values are remembered by event time: a value counts as new when it was
//! not seen for the key in the `retention` before the event. In a store (`store`), each key's
//! values are a set (`add_to_set`, atomic in DynamoDB), so processes sharing the table alert once
//! per new value; the set is forgotten `retention` after its last new value (the store's TTL,
//! by the wall clock). A key is new (for `ignore_first`) while it has no remembered value.

use crate::batch::Duration;
use crate::detect::{Alerts, Clock, Common, Counters, Key, Keys, Millis, OnError, apply_each};
use crate::kv::{self, KvStore, StoreError};
use crate::time::format_time;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{BatchItem, Io, Stateful};
use sluice_core::{
    Builder, ConfigErrors, Failed, Message, Output, Registry, Transform, TransformError,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const NAME: &str = "detect.first_seen";

pub fn register(r: &mut Registry) {
    r.transform(NAME, |s, b| {
        let t = FirstSeen::new(s, b)?;
        // A shared store is asked a batch at a time; state in this process needs the order.
        Ok(match t.state {
            State::Shared { .. } => Transform::io(t),
            State::Local(_) => Transform::stateful(t),
        })
    });
}

/// Alert the first time a value is seen for a key within `retention`: a user (`key:
/// user.name`) signing in from a new ASN (`value: source.as.number`), a role with a new user
/// agent. The alert carries the key and value fields at their paths. With `ignore_first`, a
/// key's very first value is learned without an alert (a user never seen before has no
/// baseline). Which events count is the transform's `when`; events pass on with the alert
/// after them (or alone, `pass_events: false`). The values live in this process (by event
/// time), or in a `store` shared between processes (a set per key with the store's TTL).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FirstSeenSettings {
    #[serde(flatten)]
    pub common: Common,
    /// The field (or fields) whose new values raise the alert, e.g. `source.as.number`. An
    /// event without them passes on uncounted (counted under `<transform> without key`).
    pub value: Keys,
    /// How long a value is remembered: seen again after this long, it is new again.
    #[serde(default = "default_retention")]
    pub retention: Duration,
    /// Learn each key's first value without an alert.
    #[serde(default)]
    pub ignore_first: bool,
    /// A store from the config's `stores` to keep the values in, shared by every process that
    /// names the same table; this process alone when left out.
    #[serde(default)]
    pub store: Option<String>,
    /// When the store fails: `route` the events to the error route, or `skip` them unchecked.
    #[serde(default)]
    pub on_error: OnError,
    /// The most store requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 86_400)
}

fn default_concurrency() -> usize {
    32
}

pub struct FirstSeen {
    common: Common,
    value: Keys,
    retention: Millis,
    retention_text: String,
    ignore_first: bool,
    alerts: Alerts,
    counters: Counters,
    state: State,
}

enum State {
    Local(Mutex<Local>),
    Shared {
        store: Arc<dyn KvStore>,
        clock: Mutex<Clock>,
        on_error: OnError,
        concurrency: usize,
    },
}

struct Local {
    clock: Clock,
    /// Per key text: the values seen and when last (event time).
    keys: HashMap<String, HashMap<String, Millis>>,
    /// The watermark at the last sweep.
    swept: Millis,
}

impl FirstSeen {
    pub fn new(s: FirstSeenSettings, b: &Builder) -> Result<FirstSeen, ConfigErrors> {
        let lateness = s.common.validate(b)?;
        if s.value.0.is_empty() {
            return Err(b.fail("field `value`: name the field whose new values to alert on"));
        }
        if s.value.0.iter().any(|p| p.is_root()) {
            return Err(b.fail("field `value`: name a field such as `source.as.number`"));
        }
        if s.concurrency == 0 {
            return Err(b.fail("field `concurrency`: must be at least 1"));
        }
        let retention = crate::detect::millis(s.retention, "retention", b)?;
        let state = match &s.store {
            None => State::Local(Mutex::new(Local {
                clock: Clock::new(lateness),
                keys: HashMap::new(),
                swept: Millis::MIN,
            })),
            Some(name) => State::Shared {
                store: kv::lookup(b, "store", name)?,
                clock: Mutex::new(Clock::new(lateness)),
                on_error: s.on_error,
                concurrency: s.concurrency,
            },
        };
        Ok(FirstSeen {
            alerts: Alerts::new(&s.common, &s.value.0),
            counters: Counters::new(b),
            retention_text: s.retention.to_string(),
            common: s.common,
            value: s.value,
            retention,
            ignore_first: s.ignore_first,
            state,
        })
    }

    /// The key, value and time of an event, or `None` (counted) when a field is missing.
    #[allow(clippy::type_complexity)]
    fn read(&self, m: &mut Message) -> Result<Option<((Key, Key), DateTime<Utc>)>, TransformError> {
        self.common.key_and_time(m, &self.counters, NAME, |m| {
            let Some(key) = self.common.key.read(m, self.common.missing_key)? else {
                return Ok(None);
            };
            let value = self.value.read(m, crate::detect::MissingKey::Skip)?;
            Ok(value.map(|v| (key, v)))
        })
    }

    fn alert(&self, at: DateTime<Utc>, key: &Key, value: &Key, id: Option<Value>) -> Message {
        let mut values = key.values.clone();
        values.extend(value.values.iter().cloned());
        let shown = match value.values.as_slice() {
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        };
        let mut detection = json!({
            "type": "first_seen",
            "value": shown,
            "retention": self.retention_text,
        });
        if self.common.sample_size > 0 {
            detection["sample"] = Value::Array(id.into_iter().collect());
        }
        let all = Key {
            values,
            text: String::new(),
        };
        self.alerts
            .document("alert", format_time(at), None, &all, detection)
    }

    fn emit(&self, message: Message, alert: Option<Message>, out: &mut Output) {
        self.common.pass(message, out);
        out.extend_opt(alert);
    }

    fn store_key(&self, what: &str, key: &Key) -> String {
        format!("{}:{what}:{}", self.common.rule.id(), key.text)
    }

    fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retention as u64)
    }

    /// Records a key's values in the store, in order; true for each that is new and alerts.
    async fn check(
        &self,
        store: &dyn KvStore,
        key: &Key,
        values: &[&Key],
    ) -> Result<Vec<bool>, StoreError> {
        let seen = self.store_key("seen", key);
        // A key is new when it has no set (never seen, or forgotten after the retention).
        let first = self.ignore_first && store.get(&seen).await?.is_none();
        let mut out = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let new = store
                .add_to_set(&seen, json!(value.text), Some(self.ttl()))
                .await?;
            out.push(new && !(first && i == 0));
        }
        Ok(out)
    }

    async fn apply_shared(
        &self,
        store: &dyn KvStore,
        clock: &Mutex<Clock>,
        on_error: OnError,
        concurrency: usize,
        batch: Vec<Message>,
    ) -> Vec<BatchItem> {
        enum Slot {
            Pass(Message),
            Failed(Failed),
            Check(Message, DateTime<Utc>, Option<Value>),
        }
        let mut slots = Vec::with_capacity(batch.len());
        // Per key, in batch order: the distinct values and the first slot that has each.
        let mut keys: Vec<(Key, Vec<(Key, usize)>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        {
            let mut clock = clock.lock();
            let now = Instant::now();
            for mut m in batch {
                let ((key, value), at) = match self.read(&mut m) {
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
                if clock.observe(at.timestamp_millis(), now) {
                    self.counters.late();
                    slots.push(Slot::Pass(m));
                    continue;
                }
                let id = self.common.sample_id(&mut m);
                let k = *index.entry(key.text.clone()).or_insert_with(|| {
                    keys.push((key, Vec::new()));
                    keys.len() - 1
                });
                let values = &mut keys[k].1;
                if !values.iter().any(|(v, _)| v.text == value.text) {
                    values.push((value, slots.len()));
                }
                slots.push(Slot::Check(m, at, id));
            }
        }
        // Collected first: a lazy `map` here trips the compiler's higher-ranked lifetimes.
        let work: Vec<_> = keys
            .iter()
            .map(|(key, values)| {
                let values: Vec<&Key> = values.iter().map(|(v, _)| v).collect();
                async move { self.check(store, key, &values).await }
            })
            .collect();
        let checked: Vec<Result<Vec<bool>, StoreError>> =
            stream::iter(work).buffered(concurrency).collect().await;
        // The slots that alert, and the slots whose key failed.
        let mut alerting: HashMap<usize, (&Key, &Key)> = HashMap::new();
        let mut failed: HashMap<&str, String> = HashMap::new();
        for ((key, values), result) in keys.iter().zip(checked) {
            match result {
                Ok(new) => {
                    for ((value, slot), new) in values.iter().zip(new) {
                        if new {
                            alerting.insert(*slot, (key, value));
                        }
                    }
                }
                Err(e) => {
                    failed.insert(&key.text, e.to_string());
                }
            }
        }
        let mut results = Vec::with_capacity(slots.len());
        for (i, slot) in slots.into_iter().enumerate() {
            let mut out = Output::new();
            match slot {
                Slot::Failed(f) => {
                    results.push(Err(f));
                    continue;
                }
                Slot::Pass(m) => self.common.pass(m, &mut out),
                Slot::Check(mut m, at, id) => {
                    let why = if failed.is_empty() {
                        None
                    } else {
                        self.common
                            .key
                            .read(&mut m, self.common.missing_key)
                            .ok()
                            .flatten()
                            .and_then(|k| failed.get(k.text.as_str()).cloned())
                    };
                    match why {
                        Some(why) if on_error == OnError::Route => {
                            results.push(Err(Failed::new(
                                m,
                                TransformError::invalid(format!(
                                    "the event was not checked: {why}"
                                )),
                            )));
                            continue;
                        }
                        Some(_) => {
                            self.counters.skipped();
                            self.common.pass(m, &mut out);
                        }
                        None => {
                            let alert = alerting
                                .get(&i)
                                .map(|(key, value)| self.alert(at, key, value, id));
                            self.emit(m, alert, &mut out);
                        }
                    }
                }
            }
            results.push(Ok(out));
        }
        results
    }
}

/// Pushing an optional message.
trait PushOpt {
    fn extend_opt(&mut self, m: Option<Message>);
}

impl PushOpt for Output {
    fn extend_opt(&mut self, m: Option<Message>) {
        if let Some(m) = m {
            self.push(m);
        }
    }
}

impl Local {
    /// True when the value is new for the key (unseen within the retention before `t`).
    fn see(&mut self, d: &FirstSeen, key: &Key, value: &Key, t: Millis) -> bool {
        let values = match self.keys.get_mut(&key.text) {
            Some(v) => v,
            None => self.keys.entry(key.text.clone()).or_default(),
        };
        // A key is known while one of its values is (seen within the retention).
        let known_key = !d.ignore_first
            || values
                .values()
                .any(|last| t.saturating_sub(*last) < d.retention);
        let new = match values.get_mut(&value.text) {
            Some(last) => {
                let new = t.saturating_sub(*last) >= d.retention;
                *last = (*last).max(t);
                new
            }
            None => {
                values.insert(value.text.clone(), t);
                true
            }
        };
        new && known_key
    }

    /// Forgets values not seen within the retention before the watermark.
    fn sweep(&mut self, d: &FirstSeen) {
        let wm = self.clock.watermark();
        if wm == Millis::MIN || wm.saturating_sub(self.swept) < d.retention / 16 {
            return;
        }
        self.swept = wm;
        let horizon = wm.saturating_sub(d.retention);
        self.keys.retain(|_, values| {
            values.retain(|_, last| *last > horizon);
            !values.is_empty()
        });
    }
}

impl Stateful for FirstSeen {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let local = match &self.state {
            State::Local(local) => local,
            State::Shared {
                store,
                clock,
                on_error,
                concurrency,
            } => {
                if !store.is_local() {
                    return Err(Failed::new(
                        message,
                        TransformError::invalid(
                            "detect.first_seen with a remote store must run where the engine can wait for it (not inside a synchronous step)",
                        ),
                    ));
                }
                let results = self
                    .apply_shared(
                        store.as_ref(),
                        clock,
                        *on_error,
                        *concurrency,
                        vec![message],
                    )
                    .now_or_never()
                    .expect("a local store answers at once");
                for r in results {
                    out.append(r?);
                }
                return Ok(());
            }
        };
        let ((key, value), at) = match self.read(&mut message) {
            Ok(Some(read)) => read,
            Ok(None) => {
                self.common.pass(message, out);
                return Ok(());
            }
            Err(e) => return Err(Failed::new(message, e)),
        };
        let t = at.timestamp_millis();
        let new = {
            let mut state = local.lock();
            if state.clock.observe(t, Instant::now()) {
                self.counters.late();
                drop(state);
                self.common.pass(message, out);
                return Ok(());
            }
            let new = state.see(self, &key, &value, t);
            state.sweep(self);
            new
        };
        let alert = new.then(|| {
            let id = self.common.sample_id(&mut message);
            self.alert(at, &key, &value, id)
        });
        self.emit(message, alert, out);
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

impl Io for FirstSeen {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        match &self.state {
            State::Shared {
                store,
                clock,
                on_error,
                concurrency,
            } => self
                .apply_shared(store.as_ref(), clock, *on_error, *concurrency, batch)
                .boxed(),
            State::Local(_) => apply_each(self, batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::time_text;
    use crate::testing::{build_error, config, reasons, run};

    const BASE: Millis = 1_795_413_600_000; // 2026-11-23T06:00:00Z

    fn login(user: &str, asn: u64, secs: i64) -> Value {
        json!({
            "@timestamp": time_text(BASE + secs * 1000),
            "event": {"id": format!("{user}-{secs}"), "action": "ssh_login", "outcome": "success"},
            "user": {"name": user},
            "source": {"ip": "81.2.69.160", "as": {"number": asn}},
        })
    }

    fn settings(extra: Value) -> Value {
        let mut s = json!({
            "rule": {"name": "new_asn_for_user"},
            "key": "user.name",
            "value": "source.as.number",
            "retention": "1d",
        });
        crate::detect::merge(&mut s, extra);
        s
    }

    fn alerts_of(c: Value, events: &[Value]) -> Vec<Value> {
        let p = run(
            c,
            events.iter().map(|e| Message::new(e.to_string())).collect(),
        );
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        p.output
            .iter()
            .map(sluice_core::testing::output_value)
            .filter(|v| v["event"]["kind"] == "alert")
            .collect()
    }

    fn alerts(extra: Value, events: &[Value]) -> Vec<Value> {
        alerts_of(config("detect.first_seen", settings(extra)), events)
    }

    fn events() -> Vec<Value> {
        vec![
            login("alice", 64500, 0),
            login("alice", 64500, 60),
            login("bob", 64500, 90),
            login("alice", 64501, 120),
            login("alice", 64500, 180),
            // Two days later: alice's ASNs were forgotten.
            login("alice", 64500, 2 * 86_400),
        ]
    }

    #[test]
    fn alerts_on_each_new_value_for_a_key() {
        let got = alerts(json!({}), &events());
        let pairs: Vec<(Value, Value)> = got
            .iter()
            .map(|a| {
                (
                    a["user"]["name"].clone(),
                    a["source"]["as"]["number"].clone(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                (json!("alice"), json!(64500)),
                (json!("bob"), json!(64500)),
                (json!("alice"), json!(64501)),
                (json!("alice"), json!(64500)),
            ]
        );
        assert_eq!(
            got[2],
            json!({
                "@timestamp": "2026-11-23T06:02:00Z",
                "event": {"kind": "alert"},
                "rule": {"name": "new_asn_for_user", "id": "new_asn_for_user"},
                "user": {"name": "alice"},
                "source": {"as": {"number": 64501}},
                "related": {"user": ["alice"]},
                "detection": {"type": "first_seen", "value": 64501, "retention": "1d", "sample": ["alice-120"]},
            })
        );
    }

    #[test]
    fn ignore_first_learns_a_new_keys_first_value() {
        let got = alerts(json!({"ignore_first": true}), &events());
        let asns: Vec<&Value> = got.iter().map(|a| &a["source"]["as"]["number"]).collect();
        // alice's 64501 only; after two days alice is a new key again.
        assert_eq!(asns, vec![&json!(64501)]);
    }

    #[test]
    fn a_named_store_gives_the_same_alerts() {
        for extra in [json!({}), json!({"ignore_first": true})] {
            let local = alerts(extra.clone(), &events()[..5]);
            let mut s = settings(extra);
            s["store"] = json!("seen");
            let mut c = config("detect.first_seen", s);
            c["stores"] = json!({"seen": {"type": "memory"}});
            let shared = alerts_of(c, &events()[..5]);
            assert_eq!(shared, local);
        }
    }

    #[test]
    fn events_without_the_value_pass_and_bad_times_are_errors() {
        let mut no_asn = login("carol", 1, 0);
        no_asn["source"].as_object_mut().unwrap().remove("as");
        let mut no_time = login("carol", 1, 0);
        no_time["@timestamp"] = json!(null);
        let p = run(
            config("detect.first_seen", settings(json!({}))),
            vec![
                Message::new(no_asn.to_string()),
                Message::new(no_time.to_string()),
            ],
        );
        assert_eq!(p.output.len(), 1);
        let r = reasons(&p);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("no event time"), "{r:?}");
    }

    #[test]
    fn several_value_fields_and_settings_checks() {
        let mut e = login("dave", 1, 0);
        e["user_agent"] = json!({"original": "curl/8.5"});
        let got = alerts(
            json!({"value": ["source.as.number", "user_agent.original"], "pass_events": false}),
            &[e],
        );
        assert_eq!(got[0]["detection"]["value"], json!([1, "curl/8.5"]));
        assert_eq!(got[0]["user_agent"]["original"], "curl/8.5");
        let err = build_error(config("detect.first_seen", settings(json!({"value": []}))));
        assert!(err.contains("field `value`"), "{err}");
        let err = build_error(config(
            "detect.first_seen",
            settings(json!({"retention": "0s"})),
        ));
        assert!(err.contains("field `retention`"), "{err}");
    }
}
