//! The enrich family: add what an event does not say by looking it up, and keep state for
//! later lookups.
//!
//! `enrich.kv_get` reads a store declared in the config (a memory cache, a CSV of VPC names, a
//! table of ECS categories, an mmdb, DynamoDB). A key that is not in the store leaves the event
//! as it was: enrichment never turns a good event into an error. `enrich.kv_set`,
//! `enrich.kv_set_add` and `enrich.kv_incr` write: a value, a member of a set, a counter.
//!
//! Lookups that can fail on one message (a store that is down, a value that is not an IP
//! address, a DNS timeout, an HTTP 500) follow the transform's `on_error`: `route` sends the
//! message to the error route with the reason; `skip` passes it on without the field, notes the
//! reason in `@meta.enrich_errors` and counts it in the account (`<transform> skipped`). The DNS,
//! mmdb and HTTP enrichments (enrich_dns.rs, enrich_mmdb.rs, enrich_http.rs) use the same setting.

use crate::batch::Duration as Setting;
use crate::common::wrong_type;
use crate::kv::{KvStore, StoreResult, lookup};
use crate::kv_cache::{CacheCounters, TtlCache};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::{
    BatchItem, Builder, Failed, Io, Map, Message, Output, Path, Registry, Stateful, Transform,
    TransformError,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub fn register(r: &mut Registry) {
    r.transform("enrich.kv_get", |s: KvGetSettings, b| {
        let store = lookup(b, "store", &s.store)?;
        let failure = Failure::new(b, s.on_error);
        // A local store answers in place; a remote one is read a batch at a time.
        let local = store.is_local();
        let get = KvGet { s, store, failure };
        Ok(match local {
            true => Transform::map(get),
            false => Transform::io(get),
        })
    });
    r.transform("enrich.kv_set", |s: KvSetSettings, b| {
        let op = Op::Set {
            source: s.source.clone(),
        };
        KvWrite::build(b, s.write, op)
    });
    r.transform("enrich.kv_set_add", |s: KvSetAddSettings, b| {
        let op = Op::Add {
            source: s.source.clone(),
            target: s.target.clone(),
        };
        KvWrite::build(b, s.write, op)
    });
    r.transform("enrich.kv_incr", |s: KvIncrSettings, b| {
        let op = Op::Incr {
            by: s.by,
            target: s.target.clone(),
        };
        KvWrite::build(b, s.write, op)
    });
}

/// What an enrichment does with a message whose lookup failed (a store error, a value that is
/// not an IP address, a timeout, an HTTP error).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send the message to the error route with the reason.
    #[default]
    Route,
    /// Pass the message on without the field; the reason goes to `@meta.enrich_errors` and the
    /// account counts it as `skipped`.
    Skip,
}

/// Where `on_error: skip` notes its reasons: a list of texts in the message's metadata.
pub const SKIP_REASONS: &str = "enrich_errors";

/// Ends one message of an enrichment according to its `on_error`.
pub struct Failure {
    choice: OnError,
    location: String,
    skipped: Arc<AtomicU64>,
}

impl Failure {
    /// The `on_error` of the transform being built, with its `<location> skipped` counter.
    pub fn new(b: &Builder, choice: OnError) -> Failure {
        Failure {
            choice,
            location: b.location().to_string(),
            skipped: b
                .resources
                .metrics()
                .counter(&format!("{} skipped", b.location())),
        }
    }

    /// The message passed on (`Ok`), or handed back for the error route with the reason.
    pub fn end(&self, mut message: Message, result: Result<(), TransformError>) -> BatchItem {
        match result {
            Ok(()) => {}
            Err(error) if self.choice == OnError::Skip => {
                self.skipped.fetch_add(1, Relaxed);
                let reason = Value::String(format!("{}: {error}", self.location));
                let meta = message.meta_mut();
                match meta.get_mut(SKIP_REASONS) {
                    Some(Value::Array(reasons)) => reasons.push(reason),
                    _ => {
                        meta.insert(SKIP_REASONS.into(), Value::Array(vec![reason]));
                    }
                }
            }
            Err(error) => return Err(Failed::new(message, error)),
        }
        let mut out = Output::new();
        out.push(message);
        Ok(out)
    }

    /// The same for `Transform::apply`.
    pub fn apply(
        &self,
        message: Message,
        result: Result<(), TransformError>,
        out: &mut Output,
    ) -> Result<(), Failed> {
        self.end(message, result).map(|o| out.append(o))
    }
}

/// A lookup's answer: the value found (`None` for "no such thing": NXDOMAIN, HTTP 404) and,
/// when the source says, how long it may be cached.
pub type Answer<A> = (Option<A>, Option<Duration>);

/// Why a remote lookup failed: its kind (`timeout`, `throttled`, `refused`, `unavailable`) and
/// the reason worded for the reader.
pub type LookupError = (sluice_core::ErrorKind, String);

/// One batch of a network enrichment (DNS, HTTP): each message's question is asked once per
/// batch however often it occurs, answers come from `cache` when it has them, the others are
/// asked `concurrency` at a time, and each message gets its answer written, or fails as
/// `failure` says. `question` gives a cache key and what to ask (`None`: nothing to do).
#[allow(clippy::too_many_arguments)]
pub async fn lookup_batch<Q, A, Fut>(
    batch: Vec<Message>,
    question: impl Fn(&mut Message) -> Result<Option<(String, Q)>, TransformError>,
    cache: Option<&TtlCache<A>>,
    counters: &CacheCounters,
    concurrency: usize,
    ask: impl Fn(Q) -> Fut,
    write: impl Fn(&mut Message, &A) -> Result<(), TransformError>,
    failure: &Failure,
) -> Vec<BatchItem>
where
    A: Clone,
    Fut: std::future::Future<Output = Result<Answer<A>, LookupError>>,
{
    enum Slot<A> {
        Known(Option<A>),
        Asked(usize),
    }
    let mut messages = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut slots: HashMap<String, Slot<A>> = HashMap::new();
    let mut to_ask: Vec<(String, Q)> = Vec::new();
    for mut m in batch {
        let key = match question(&mut m) {
            Ok(Some((key, q))) => {
                if slots.contains_key(&key) {
                    // A repeat within the batch is answered without asking again.
                    counters.hits.fetch_add(1, Relaxed);
                } else {
                    let slot = match cache.and_then(|c| c.get(&key, true)) {
                        Some(known) => Slot::Known(known),
                        None => {
                            if cache.is_none() {
                                counters.misses.fetch_add(1, Relaxed);
                            }
                            to_ask.push((key.clone(), q));
                            Slot::Asked(to_ask.len() - 1)
                        }
                    };
                    slots.insert(key.clone(), slot);
                }
                Ok(Some(key))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        messages.push(m);
        keys.push(key);
    }
    let mut cache_keys = Vec::with_capacity(to_ask.len());
    let questions = to_ask.into_iter().enumerate().map(|(i, (key, q))| {
        cache_keys.push(key);
        let asked = ask(q);
        async move { (i, asked.await) }
    });
    let questions: Vec<_> = questions.collect();
    let done: Vec<(usize, Result<Answer<A>, LookupError>)> = stream::iter(questions)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut answers: Vec<Result<Option<A>, LookupError>> =
        (0..cache_keys.len()).map(|_| Ok(None)).collect();
    for (i, result) in done {
        answers[i] = match result {
            Ok((found, ttl)) => {
                if let Some(c) = cache {
                    c.put(&cache_keys[i], found.clone(), ttl);
                }
                Ok(found)
            }
            Err(e) => {
                counters.error();
                Err(e)
            }
        };
    }
    messages
        .into_iter()
        .zip(keys)
        .map(|(mut m, key)| {
            let result = match key {
                Err(e) => Err(e),
                Ok(None) => Ok(()),
                Ok(Some(key)) => match &slots[&key] {
                    Slot::Known(None) => Ok(()),
                    Slot::Known(Some(found)) => write(&mut m, found),
                    Slot::Asked(i) => match &answers[*i] {
                        Ok(None) => Ok(()),
                        Ok(Some(found)) => write(&mut m, found),
                        Err((kind, e)) => Err(TransformError::of_kind(*kind, e)),
                    },
                },
            };
            failure.end(m, result)
        })
        .collect()
}

/// Look up the value of `source` as a key in a store and write what is found to `target`.
/// A key that is not found leaves the message unchanged. Reads from stores in memory (file,
/// table, memory, mmdb, and cache hits) happen in place; remote stores are read for a whole
/// batch at once, `concurrency` keys at a time.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KvGetSettings {
    /// The field whose value is the key (strings as they are, other values as JSON text).
    pub source: Path,
    /// Where to write the value found.
    pub target: Path,
    /// The store's name in the config's `stores`.
    pub store: String,
    /// Put before the key, to share one store between kinds of keys (`user:`, `ip:`).
    #[serde(default)]
    pub prefix: String,
    /// Merge an object found into the object at `target` instead of replacing it.
    #[serde(default)]
    pub merge: bool,
    /// When the store fails: `route` the message to the error route, or `skip` the field.
    #[serde(default)]
    pub on_error: OnError,
    /// The most reads of a remote store in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    32
}

struct KvGet {
    s: KvGetSettings,
    store: Arc<dyn KvStore>,
    failure: Failure,
}

/// The key at `path` with `prefix` before it; `None` when the field is absent or null.
fn key_at(
    message: &mut Message,
    path: &Path,
    prefix: &str,
) -> Result<Option<String>, TransformError> {
    Ok(match message.get(path)? {
        None | Some(Value::Null) => None,
        Some(v) if prefix.is_empty() => Some(value_text(v).into_owned()),
        Some(v) => Some(format!("{prefix}{}", value_text(v))),
    })
}

impl KvGet {
    fn key(&self, message: &mut Message) -> Result<Option<String>, TransformError> {
        key_at(message, &self.s.source, &self.s.prefix)
    }

    fn write(&self, message: &mut Message, found: Option<Value>) -> Result<(), TransformError> {
        let Some(found) = found else {
            return Ok(());
        };
        match (self.s.merge, found) {
            (true, Value::Object(fields)) => {
                let target = match message.get(&self.s.target)? {
                    None | Some(Value::Object(_)) => &self.s.target,
                    Some(other) => {
                        return Err(wrong_type(&self.s.target, "an object to merge into", other));
                    }
                };
                for (k, v) in fields {
                    let mut path = target.clone();
                    path.segments.push(sluice_core::path::Segment {
                        key: k,
                        index: None,
                    });
                    merge_into(message, &path, v)?;
                }
                Ok(())
            }
            (_, found) => message.set(&self.s.target, found),
        }
    }
}

/// Deep merge: objects merge key by key, anything else replaces.
pub fn merge_into(message: &mut Message, path: &Path, value: Value) -> Result<(), TransformError> {
    match (message.get(path)?, value) {
        (Some(Value::Object(_)), Value::Object(fields)) => {
            for (k, v) in fields {
                let mut child = path.clone();
                child.segments.push(sluice_core::path::Segment {
                    key: k,
                    index: None,
                });
                merge_into(message, &child, v)?;
            }
            Ok(())
        }
        (_, v) => message.set(path, v),
    }
}

impl Map for KvGet {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let result = (|| {
            let Some(key) = self.key(&mut message)? else {
                return Ok(());
            };
            let found = match self.store.get_now(&key) {
                Some(r) => r.map_err(TransformError::invalid)?,
                None => {
                    return Err(TransformError::invalid(
                        "this store must be read asynchronously",
                    ));
                }
            };
            self.write(&mut message, found)
        })();
        self.failure.apply(message, result, out)
    }
}

impl Io for KvGet {
    /// Each distinct key of the batch is read once, all in one `get_many` (for DynamoDB,
    /// BatchGetItem calls of up to 100 keys).
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut distinct: HashMap<String, usize> = HashMap::new();
            let mut keyed = Vec::with_capacity(batch.len());
            for mut m in batch {
                let slot = self.key(&mut m).map(|key| {
                    key.map(|k| {
                        let next = distinct.len();
                        *distinct.entry(k).or_insert(next)
                    })
                });
                keyed.push((m, slot));
            }
            let mut keys = vec![""; distinct.len()];
            for (k, &i) in &distinct {
                keys[i] = k.as_str();
            }
            let found = self.store.get_many(&keys, self.s.concurrency).await;
            keyed
                .into_iter()
                .map(|(mut m, slot)| {
                    let result = match slot {
                        Err(e) => Err(e),
                        Ok(None) => Ok(()),
                        Ok(Some(i)) => match &found[i] {
                            Err(e) => Err(TransformError::invalid(e)),
                            Ok(v) => self.write(&mut m, v.clone()),
                        },
                    };
                    self.failure.end(m, result)
                })
                .collect()
        })
    }
}

/// The settings every write to a store shares.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteSettings {
    /// The store's name in the config's `stores`.
    pub store: String,
    /// The field whose value is the key (strings as they are, other values as JSON text). A
    /// message without it passes unchanged.
    pub key: Path,
    /// Put before the key, to share one store between kinds of keys (`user:`, `ip:`).
    #[serde(default)]
    pub prefix: String,
    /// How long the entry lives, e.g. `24h`; left out, the store's default (memory: forever).
    /// For `enrich.kv_incr` the TTL starts with the first increment (a fixed window).
    #[serde(default)]
    pub ttl: Option<Setting>,
    /// When the store fails: `route` the message to the error route, or `skip` the write.
    #[serde(default)]
    pub on_error: OnError,
    /// The most writes to a remote store in flight at once (writes to one key stay in order).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// Store the value of `source` (the whole data by default) under the key at `key`, with an
/// optional TTL: remember what was seen for later `enrich.kv_get` lookups (a user's last IP,
/// an instance's owner).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KvSetSettings {
    #[serde(flatten)]
    pub write: WriteSettings,
    /// The value to store; the whole data when left out. A message without it passes unchanged.
    #[serde(default)]
    pub source: Path,
}

/// Add the value of `source` to the set stored under the key at `key` (e.g. the IPs a user
/// logged in from), and optionally write to `target` whether it was new (`true` the first time
/// a user is seen from an IP: a detection signal).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KvSetAddSettings {
    #[serde(flatten)]
    pub write: WriteSettings,
    /// The value to add. A message without it passes unchanged.
    pub source: Path,
    /// Where to write `true` when the value was not in the set yet, else `false`.
    #[serde(default)]
    pub target: Option<Path>,
}

/// Add `by` to the counter stored under the key at `key` (absent counts as 0), atomically, and
/// optionally write the new count to `target`: failed logins per user per hour, events per
/// source. With `ttl` the window starts at the first increment.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KvIncrSettings {
    #[serde(flatten)]
    pub write: WriteSettings,
    /// How much to add (negative to subtract).
    #[serde(default = "one")]
    pub by: i64,
    /// Where to write the new count.
    #[serde(default)]
    pub target: Option<Path>,
}

fn one() -> i64 {
    1
}

/// What a write does.
enum Op {
    Set { source: Path },
    Add { source: Path, target: Option<Path> },
    Incr { by: i64, target: Option<Path> },
}

struct KvWrite {
    s: WriteSettings,
    op: Op,
    store: Arc<dyn KvStore>,
    ttl: Option<Duration>,
    failure: Failure,
}

/// One message's write: the key and the value to write (`Null` for increments).
type Prepared = Option<(String, Value)>;

impl KvWrite {
    /// Local stores answer at once, and writes stay in message order (counts and "new" flags
    /// depend on it); remote stores are written a batch at a time.
    fn build(
        b: &Builder,
        s: WriteSettings,
        op: Op,
    ) -> Result<Transform, sluice_core::ConfigErrors> {
        let store = lookup(b, "store", &s.store)?;
        if s.concurrency == 0 {
            return Err(b.fail("field `concurrency`: must be at least 1"));
        }
        let local = store.is_local();
        let write = KvWrite {
            ttl: s.ttl.map(Setting::get).filter(|t| !t.is_zero()),
            failure: Failure::new(b, s.on_error),
            s,
            op,
            store,
        };
        Ok(match local {
            true => Transform::stateful(write),
            false => Transform::io(write),
        })
    }

    fn prepare(&self, message: &mut Message) -> Result<Prepared, TransformError> {
        let Some(key) = key_at(message, &self.s.key, &self.s.prefix)? else {
            return Ok(None);
        };
        let value = match &self.op {
            Op::Set { source } | Op::Add { source, .. } => match message.get(source)? {
                None => return Ok(None),
                Some(v) => v.clone(),
            },
            Op::Incr { .. } => Value::Null,
        };
        Ok(Some((key, value)))
    }

    /// Writes to the store; the answer to put in the message (`Null` for none).
    fn write<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, StoreResult<Value>> {
        match &self.op {
            Op::Set { .. } => self
                .store
                .set(key, value, self.ttl)
                .map(|r| r.map(|()| Value::Null))
                .boxed(),
            Op::Add { .. } => self
                .store
                .add_to_set(key, value, self.ttl)
                .map(|r| r.map(Value::Bool))
                .boxed(),
            Op::Incr { by, .. } => self
                .store
                .increment(key, *by, self.ttl)
                .map(|r| r.map(Value::from))
                .boxed(),
        }
    }

    fn finish(
        &self,
        message: &mut Message,
        answer: StoreResult<Value>,
    ) -> Result<(), TransformError> {
        let answer = answer.map_err(TransformError::invalid)?;
        match &self.op {
            Op::Add {
                target: Some(t), ..
            }
            | Op::Incr {
                target: Some(t), ..
            } => message.set(t, answer),
            _ => Ok(()),
        }
    }
}

impl Stateful for KvWrite {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let result = (|| {
            let Some((key, value)) = self.prepare(&mut message)? else {
                return Ok(());
            };
            let answer = self.write(&key, value).now_or_never().ok_or_else(|| {
                TransformError::invalid("this store must be written asynchronously")
            })?;
            self.finish(&mut message, answer)
        })();
        self.failure.apply(message, result, out)
    }

    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        Ok(())
    }
}

impl Io for KvWrite {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut messages = Vec::with_capacity(batch.len());
            let mut prepared = Vec::with_capacity(batch.len());
            for mut m in batch {
                prepared.push(self.prepare(&mut m));
                messages.push(m);
            }
            // Writes to one key run one after another in message order; keys run concurrently.
            let mut chains: Vec<Vec<usize>> = Vec::new();
            let mut chain_of: HashMap<&str, usize> = HashMap::new();
            for (i, p) in prepared.iter().enumerate() {
                if let Ok(Some((key, _))) = p {
                    let c = *chain_of.entry(key.as_str()).or_insert_with(|| {
                        chains.push(Vec::new());
                        chains.len() - 1
                    });
                    chains[c].push(i);
                }
            }
            let prepared_ref = &prepared;
            let runs: Vec<_> = chains
                .into_iter()
                .map(|chain| async move {
                    let mut answers = Vec::with_capacity(chain.len());
                    for i in chain {
                        if let Ok(Some((key, value))) = &prepared_ref[i] {
                            answers.push((i, self.write(key, value.clone()).await));
                        }
                    }
                    answers
                })
                .collect();
            let done: Vec<Vec<(usize, StoreResult<Value>)>> = stream::iter(runs)
                .buffer_unordered(self.s.concurrency)
                .collect()
                .await;
            let mut answers: Vec<Option<StoreResult<Value>>> =
                (0..messages.len()).map(|_| None).collect();
            for (i, a) in done.into_iter().flatten() {
                answers[i] = Some(a);
            }
            messages
                .into_iter()
                .zip(prepared)
                .zip(answers)
                .map(|((mut m, p), answer)| {
                    let result = match (p, answer) {
                        (Err(e), _) => Err(e),
                        (Ok(_), None) => Ok(()),
                        (Ok(_), Some(a)) => self.finish(&mut m, a),
                    };
                    self.failure.end(m, result)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::kv::Store;
    use crate::testing::{RemoteStore, apply, apply_err, build_error, outputs, reasons, run};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_core::{Config, Message, Processed, Resources};
    use std::sync::Arc;
    use std::time::Duration;

    /// Runs transforms over messages with a `remote` store in the resources and a `mem` store
    /// in the config.
    fn run_with_remote(transforms: Value, input: &[Value], failing: bool) -> Processed {
        let mut resources = Resources::default();
        let remote = RemoteStore::new(failing);
        resources.insert(
            "remote",
            Arc::new(Store {
                name: "remote".into(),
                store: Arc::new(remote),
            }),
        );
        let config = json!({"stores": {"mem": {"type": "memory"}}, "transforms": transforms});
        let pipeline = Config::from_value(config, "test")
            .unwrap()
            .build(&crate::registry(), &resources)
            .unwrap();
        let input = input.iter().map(|v| Message::new(v.to_string())).collect();
        futures::executor::block_on(pipeline.process(input)).unwrap()
    }

    #[test]
    fn set_then_get_in_local_and_remote_stores() {
        for store in ["mem", "remote"] {
            let p = run_with_remote(
                json!([
                    {"type": "enrich.kv_set", "store": store, "key": "user", "source": "ip", "prefix": "last_ip:", "ttl": "1h"},
                    {"type": "enrich.kv_get", "store": store, "source": "user", "prefix": "last_ip:", "target": "last_ip"}
                ]),
                &[
                    json!({"user": "alice", "ip": "10.0.0.1"}),
                    json!({"user": "alice", "ip": "10.0.0.2"}),
                    json!({"user": "bob"}),
                    json!({"ip": "10.0.0.3"}),
                ],
                false,
            );
            assert!(reasons(&p).is_empty());
            // Writes happen in message order; the last one wins for the whole batch's reads.
            assert_eq!(
                outputs(&p),
                vec![
                    json!({"user": "alice", "ip": "10.0.0.1", "last_ip": "10.0.0.2"}),
                    json!({"user": "alice", "ip": "10.0.0.2", "last_ip": "10.0.0.2"}),
                    json!({"user": "bob"}),
                    json!({"ip": "10.0.0.3"}),
                ],
                "{store}"
            );
        }
    }

    #[test]
    fn set_add_and_incr_write_their_answers_in_order() {
        for store in ["mem", "remote"] {
            let p = run_with_remote(
                json!([
                    {"type": "enrich.kv_set_add", "store": store, "key": "user", "source": "ip", "prefix": "ips:", "target": "new_ip"},
                    {"type": "enrich.kv_incr", "store": store, "key": "user", "target": "logins", "ttl": "1h"},
                    {"type": "enrich.kv_incr", "store": store, "key": "user", "by": -2, "prefix": "down:", "target": "down"}
                ]),
                &[
                    json!({"user": "alice", "ip": "1.1.1.1"}),
                    json!({"user": "bob", "ip": "1.1.1.1"}),
                    json!({"user": "alice", "ip": "1.1.1.1"}),
                    json!({"user": "alice", "ip": "2.2.2.2"}),
                ],
                false,
            );
            assert_eq!(
                outputs(&p),
                vec![
                    json!({"user": "alice", "ip": "1.1.1.1", "new_ip": true, "logins": 1, "down": -2}),
                    json!({"user": "bob", "ip": "1.1.1.1", "new_ip": true, "logins": 1, "down": -2}),
                    json!({"user": "alice", "ip": "1.1.1.1", "new_ip": false, "logins": 2, "down": -4}),
                    json!({"user": "alice", "ip": "2.2.2.2", "new_ip": true, "logins": 3, "down": -6}),
                ],
                "{store}"
            );
        }
    }

    #[test]
    fn store_failures_follow_on_error() {
        let p = run_with_remote(
            json!([{"type": "enrich.kv_get", "store": "remote", "source": "u", "target": "t"}]),
            &[json!({"u": "a"})],
            true,
        );
        assert_eq!(reasons(&p), vec!["store `remote`: connection refused"]);
        let p = run_with_remote(
            json!([{"type": "enrich.kv_get", "store": "remote", "source": "u", "target": "t", "on_error": "skip"}]),
            &[json!({"u": "a"})],
            true,
        );
        assert!(reasons(&p).is_empty());
        assert_eq!(
            p.output[0].meta()["enrich_errors"],
            json!(["transforms[0] (enrich.kv_get): store `remote`: connection refused"])
        );
        // Writing to a read-only store is an error for the message.
        let c = config(json!({"source": "a", "target": "b", "store": "names"}));
        let mut c = c;
        c["transforms"] = json!([{"type": "enrich.kv_set", "store": "names", "key": "a"}]);
        let e = apply_err(c, &json!({"a": "x"}));
        assert!(e.contains("read-only"), "{e}");
    }

    #[test]
    fn memory_store_default_ttl_and_cache_refusal() {
        let c = json!({
            "stores": {"m": {"type": "memory", "ttl": "20ms"}},
            "transforms": [
                {"type": "enrich.kv_incr", "store": "m", "key": "k", "target": "n"}
            ]
        });
        let config = Config::from_value(c, "test").unwrap();
        let pipeline = config
            .build(&crate::registry(), &Resources::default())
            .unwrap();
        let once = |p: &sluice_core::Pipeline| {
            let out =
                futures::executor::block_on(p.process(vec![Message::new(r#"{"k":"x"}"#)])).unwrap();
            outputs(&out)[0]["n"].clone()
        };
        assert_eq!(once(&pipeline), json!(1));
        assert_eq!(once(&pipeline), json!(2));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(once(&pipeline), json!(1));
        let e = build_error(
            json!({"stores": {"m": {"type": "memory", "cache": {}}}, "transforms": []}),
        );
        assert!(
            e.contains("field `cache`: a memory store is already in memory"),
            "{e}"
        );
    }

    #[test]
    fn cache_in_front_of_a_file_store_counts() {
        let c = json!({
            "stores": {"names": {"type": "table", "values": {"a": 1}, "cache": {"capacity": 10}}},
            "transforms": [{"type": "enrich.kv_get", "store": "names", "source": "k", "target": "v"}]
        });
        let p = run(
            c,
            ["a", "a", "b"]
                .iter()
                .map(|k| Message::new(json!({"k": k}).to_string()))
                .collect(),
        );
        assert_eq!(outputs(&p)[1], json!({"k": "a", "v": 1}));
    }

    #[test]
    fn write_settings_are_documented_and_checked() {
        let r = crate::registry();
        let spec = r.transforms().find(|t| t.name == "enrich.kv_incr").unwrap();
        let names: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
        for f in [
            "store",
            "key",
            "prefix",
            "ttl",
            "on_error",
            "concurrency",
            "by",
            "target",
        ] {
            assert!(names.contains(&f), "{f} missing from {names:?}");
        }
        assert!(
            spec.fields.iter().all(|f| !f.description.is_empty()),
            "{:?}",
            spec.fields
        );
        let e = build_error(json!({"stores": {"m": {"type": "memory"}}, "transforms": [
            {"type": "enrich.kv_set", "store": "m", "key": "k", "tll": "1h"}
        ]}));
        assert!(
            e.contains("unknown field `tll` (did you mean `ttl`?)"),
            "{e}"
        );
        let e = build_error(json!({"stores": {"m": {"type": "memory"}}, "transforms": [
            {"type": "enrich.kv_set", "store": "m"}
        ]}));
        assert!(e.contains("key"), "{e}");
    }

    proptest! {
        // Counting law: after n increments of a key (in any interleaving with other keys),
        // the count written on the last message of that key is n.
        #[test]
        fn increments_count_every_message(keys in proptest::collection::vec(0u8..4, 1..40)) {
            let input: Vec<Value> = keys.iter().map(|k| json!({"k": k})).collect();
            let p = run_with_remote(
                json!([{"type": "enrich.kv_incr", "store": "remote", "key": "k", "target": "n"}]),
                &input,
                false,
            );
            let out = outputs(&p);
            for (i, k) in keys.iter().enumerate() {
                let seen = keys[..=i].iter().filter(|x| *x == k).count() as i64;
                prop_assert_eq!(&out[i]["n"], &json!(seen));
            }
        }
    }

    fn config(settings: serde_json::Value) -> serde_json::Value {
        let mut t = settings;
        t["type"] = json!("enrich.kv_get");
        json!({
            "stores": {
                "names": {"type": "table", "values": {"vpc-1": "prod", "evt": {"category": ["iam"], "type": ["user"]}}}
            },
            "transforms": [t]
        })
    }

    #[test]
    fn looks_up_replaces_and_merges() {
        assert_eq!(
            apply(
                config(json!({"source": "vpc", "target": "vpc_name", "store": "names"})),
                &json!({"vpc": "vpc-1"})
            ),
            vec![json!({"vpc": "vpc-1", "vpc_name": "prod"})]
        );
        assert_eq!(
            apply(
                config(json!({"source": "a", "target": "event", "store": "names", "merge": true})),
                &json!({"a": "evt", "event": {"action": "evt", "category": ["x"]}})
            ),
            vec![
                json!({"a": "evt", "event": {"action": "evt", "category": ["iam"], "type": ["user"]}})
            ]
        );
    }

    #[test]
    fn missing_keys_leave_the_event_alone() {
        let c = config(json!({"source": "vpc", "target": "vpc_name", "store": "names"}));
        assert_eq!(
            apply(c.clone(), &json!({"vpc": "vpc-unknown"})),
            vec![json!({"vpc": "vpc-unknown"})]
        );
        assert_eq!(apply(c, &json!({"other": 1})), vec![json!({"other": 1})]);
    }

    #[test]
    fn unknown_store_is_a_config_error() {
        let e = build_error(
            json!({"transforms": [{"type": "enrich.kv_get", "source": "a", "target": "b", "store": "nope"}]}),
        );
        assert!(
            e.contains("transforms[0] (enrich.kv_get): field `store`: no store named `nope`"),
            "{e}"
        );
    }

    #[test]
    fn csv_file_store() {
        let dir = std::env::temp_dir().join(format!("sluice-kvfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("names.csv");
        std::fs::write(&path, "id,name,owner\nvpc-1,prod-core,netops\n").unwrap();
        let c = json!({
            "stores": {"names": {"type": "file", "path": path, "value": "name"}},
            "transforms": [{"type": "enrich.kv_get", "source": "vpc", "target": "vpc_name", "store": "names"}]
        });
        assert_eq!(
            apply(c, &json!({"vpc": "vpc-1"})),
            vec![json!({"vpc": "vpc-1", "vpc_name": "prod-core"})]
        );
        let bad = json!({"stores": {"names": {"type": "file", "path": "/nonexistent.csv"}}, "transforms": []});
        assert!(
            build_error(bad)
                .contains("stores.names (file): field `path`: cannot read /nonexistent.csv")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
