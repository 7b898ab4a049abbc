//! Test helpers: run a one-transform config over a message and look at what comes out.

use serde_json::{Value, json};
use sluice_core::{Config, Message, Processed, Resources};

/// A config with one transform of `type_name` and these settings.
pub fn config(type_name: &str, settings: Value) -> Value {
    let mut t = settings;
    t["type"] = json!(type_name);
    json!({ "transforms": [t] })
}

/// Runs a config over raw input lines, then end of input.
pub fn run(config: Value, input: Vec<Message>) -> Processed {
    let config = Config::from_value(config, "test").expect("config shape");
    let registry = crate::registry();
    let pipeline = config
        .build(&registry, &Resources::default())
        .unwrap_or_else(|e| panic!("config does not build: {e}"));
    futures::executor::block_on(async {
        let mut p = pipeline.process(input).await.expect("run");
        let f = pipeline.flush().await.expect("flush");
        p.output.extend(f.output);
        p.errors.extend(f.errors);
        p
    })
}

/// The same as [`run`], awaited inside the caller's tokio runtime: for transforms that do I/O
/// (DNS, HTTP) and tests that start local servers. Use with `#[tokio::test]`.
pub async fn run_async(config: Value, input: Vec<Message>) -> Processed {
    let config = Config::from_value(config, "test").expect("config shape");
    let registry = crate::registry();
    let pipeline = config
        .build(&registry, &Resources::default())
        .unwrap_or_else(|e| panic!("config does not build: {e}"));
    let mut p = pipeline.process(input).await.expect("run");
    let f = pipeline.flush().await.expect("flush");
    p.output.extend(f.output);
    p.errors.extend(f.errors);
    p
}

fn values(p: &Processed) -> Vec<Value> {
    p.output
        .iter()
        .map(sluice_core::testing::output_value)
        .collect()
}

/// Output of a config over one JSON input; panics when anything errors.
pub fn apply(config: Value, input: &Value) -> Vec<Value> {
    apply_raw(config, &input.to_string())
}

/// Output of a config over one raw line; panics when anything errors.
pub fn apply_raw(config: Value, input: &str) -> Vec<Value> {
    let p = run(config, vec![Message::new(input)]);
    assert!(p.errors.is_empty(), "unexpected errors: {:?}", reasons(&p));
    values(&p)
}

/// The reason one JSON input was rejected; panics when it was not.
pub fn apply_err(config: Value, input: &Value) -> String {
    apply_raw_err(config, &input.to_string())
}

/// The reason one raw line was rejected; panics when it was not.
pub fn apply_raw_err(config: Value, input: &str) -> String {
    let p = run(config, vec![Message::new(input)]);
    let r = reasons(&p);
    assert_eq!(
        r.len(),
        1,
        "expected one error, output was {:?}",
        values(&p)
    );
    r[0].clone()
}

/// The error reasons of a run.
pub fn reasons(p: &Processed) -> Vec<String> {
    p.errors
        .iter()
        .map(|m| {
            m.meta()["error"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The config error text for a config that must not build.
pub fn build_error(config: Value) -> String {
    let config = Config::from_value(config, "test").expect("config shape");
    match config.build(&crate::registry(), &Resources::default()) {
        Ok(_) => panic!("config built, expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Messages from JSON values.
pub fn messages(values: &[Value]) -> Vec<Message> {
    values.iter().map(|v| Message::new(v.to_string())).collect()
}

/// The output of a run as JSON values.
pub fn outputs(p: &Processed) -> Vec<Value> {
    values(p)
}

/// A memory store that behaves as a remote one: `is_local` is false (so transforms take their
/// asynchronous path), reads are counted, and it can be made to fail.
pub struct RemoteStore {
    pub inner: crate::kv::MemoryStore,
    pub reads: std::sync::atomic::AtomicU64,
    pub fail: std::sync::atomic::AtomicBool,
}

impl RemoteStore {
    pub fn new(failing: bool) -> RemoteStore {
        RemoteStore {
            inner: crate::kv::MemoryStore::new(
                "remote",
                std::num::NonZeroUsize::new(1000).unwrap(),
            ),
            reads: Default::default(),
            fail: std::sync::atomic::AtomicBool::new(failing),
        }
    }
}

mod remote_impl {
    use super::RemoteStore;
    use crate::kv::{KvStore, StoreError, StoreResult};
    use futures::future::{BoxFuture, FutureExt};
    use serde_json::Value;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    type Ttl = Option<Duration>;

    impl KvStore for RemoteStore {
        fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>> {
            self.reads.fetch_add(1, Relaxed);
            if self.fail.load(Relaxed) {
                let e = StoreError::Failed {
                    store: "remote".into(),
                    problem: "connection refused".into(),
                };
                return async { Err(e) }.boxed();
            }
            self.inner.get(key)
        }
        fn set<'a>(&'a self, k: &'a str, v: Value, t: Ttl) -> BoxFuture<'a, StoreResult<()>> {
            self.inner.set(k, v, t)
        }
        fn set_if_absent<'a>(
            &'a self,
            k: &'a str,
            v: Value,
            t: Ttl,
        ) -> BoxFuture<'a, StoreResult<bool>> {
            self.inner.set_if_absent(k, v, t)
        }
        fn add_to_set<'a>(
            &'a self,
            k: &'a str,
            v: Value,
            t: Ttl,
        ) -> BoxFuture<'a, StoreResult<bool>> {
            self.inner.add_to_set(k, v, t)
        }
        fn increment<'a>(&'a self, k: &'a str, by: i64, t: Ttl) -> BoxFuture<'a, StoreResult<i64>> {
            self.inner.increment(k, by, t)
        }
        fn delete<'a>(&'a self, k: &'a str) -> BoxFuture<'a, StoreResult<()>> {
            self.inner.delete(k)
        }
    }
}
