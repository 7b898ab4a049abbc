//! `meta.kv_store_lock`: run nested transforms once per key (exactly-once work such as sending
//! an alert or writing a ticket), guarded by a lock taken in a KV store.
//!
//! The lock is `set_if_absent` with a TTL, so it holds across batches, restarts (for a remote
//! store) and duplicate deliveries, and expires by itself. Locks of one batch are taken
//! concurrently; no global mutex serialises messages.

use crate::batch::Duration as Setting;
use crate::hash::sha256;
use crate::kv::{KvStore, lookup};
use crate::meta::{Wrap, nesting};
use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::{
    BatchItem, Failed, Message, Output, Path, Registry, Steps, TransformError, TransformKind,
};
use std::sync::Arc;
use std::time::Duration;

pub fn register(r: &mut Registry) {
    r.transform("meta.kv_store_lock", |s: LockSettings, b| {
        let ttl = s.ttl.get();
        if ttl.is_zero() {
            return Err(b.fail(
                "field `ttl`: must be longer than 0; it should cover the time in which duplicates arrive",
            ));
        }
        Ok(nesting(Lock {
            store: lookup(b, "store", &s.store)?,
            steps: b.steps("transforms", &s.transforms)?,
            ttl,
            settings: s,
        }))
    });
}

/// Run `transforms` only for the first message with a given key within `ttl`: exactly-once work
/// (an alert, a ticket, a write) despite replays, retries and duplicate deliveries. The key is
/// taken in `store` (`set_if_absent`); a later message with a taken key is dropped by rule
/// (counted in the account), or with `on_locked: "pass"` passed on unchanged without running
/// the transforms. If the transforms fail, the key is released so that a retry can run them,
/// and the message goes to the error route. Without `key`, the key is the SHA-256 of the whole
/// data. A message that lacks the `key` field is an error rather than passed: running it
/// unguarded or skipping its transforms would both break the promise.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LockSettings {
    /// The store that holds the locks, declared under `stores` (e.g. `memory`, or a shared
    /// remote store when several processes consume the same input).
    pub store: String,
    /// The field that identifies a message, e.g. `eventID`; left out, the SHA-256 of the whole
    /// data.
    #[serde(default)]
    pub key: Option<Path>,
    /// Text put before every key in the store, so that several locks can share one store.
    #[serde(default)]
    pub prefix: String,
    /// How long a key stays taken, e.g. `24h`: longer than the window in which duplicates
    /// arrive.
    pub ttl: Setting,
    /// What to do with a message whose key is taken: `drop` (counted in the account) or `pass`
    /// (unchanged, the transforms not run).
    #[serde(default)]
    pub on_locked: OnLocked,
    /// The transforms to run once per key.
    #[serde(default)]
    pub transforms: Vec<Value>,
}

/// What `meta.kv_store_lock` does with a message whose key is already taken.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnLocked {
    /// Drop it; the account counts it as dropped by rule.
    #[default]
    Drop,
    /// Pass it on unchanged, without running the transforms.
    Pass,
}

struct Lock {
    settings: LockSettings,
    store: Arc<dyn KvStore>,
    steps: Steps,
    ttl: Duration,
}

impl Lock {
    fn key(&self, message: &mut Message) -> Result<String, TransformError> {
        let prefix = &self.settings.prefix;
        let Some(path) = &self.settings.key else {
            return Ok(format!("{prefix}{}", sha256(&message.bytes())));
        };
        match message.get(path)? {
            None | Some(Value::Null) => Err(TransformError::invalid(format!(
                "`{path}` is missing, and meta.kv_store_lock needs it as the key that makes this message's transforms run once"
            ))),
            Some(v) => Ok(format!("{prefix}{}", value_text(v))),
        }
    }
}

impl Wrap for Lock {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    /// Taking a lock asks the store, which may be remote.
    fn least_kind(&self) -> TransformKind {
        TransformKind::Io
    }

    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem> {
        self.run_one(message).boxed()
    }
}

impl Lock {
    async fn run_one(&self, mut message: Message) -> BatchItem {
        let key = match self.key(&mut message) {
            Ok(k) => k,
            Err(e) => return Err(Failed::new(message, e)),
        };
        match self
            .store
            .set_if_absent(&key, Value::Bool(true), Some(self.ttl))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let mut out = Output::new();
                match self.settings.on_locked {
                    OnLocked::Drop => out.drop_message(message),
                    OnLocked::Pass => out.push(message),
                }
                return Ok(out);
            }
            Err(e) => {
                let e = TransformError::invalid(format!(
                    "could not take the lock on `{key}`, so the transforms did not run: {e}"
                ));
                return Err(Failed::new(message, e));
            }
        }
        match self.steps.run_nested(vec![message]).await {
            Ok(out) => Ok(out),
            Err((m, e)) => match self.store.delete(&key).await {
                Ok(()) => Err(Failed::new(m, e)),
                Err(store) => Err(Failed::new(
                    m,
                    TransformError::invalid(format!(
                        "{e}; also, the lock on `{key}` could not be released ({store}), so a retry of this message is dropped until it expires"
                    )),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{build_error, reasons, run};
    use serde_json::{Value, json};
    use sluice_core::Message;

    fn lock(extra: Value) -> Value {
        let mut t = json!({
            "type": "meta.kv_store_lock", "store": "locks", "key": "eventID", "ttl": "1h",
            "transforms": [
                {"type": "object.insert", "target": "sent", "value": true},
                {"type": "parse.json", "source": "body"}
            ]
        });
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        json!({"stores": {"locks": {"type": "memory"}}, "transforms": [t]})
    }

    fn lines(values: &[Value]) -> Vec<Message> {
        values.iter().map(|v| Message::new(v.to_string())).collect()
    }

    fn data(p: &sluice_core::Processed) -> Vec<Value> {
        p.output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect()
    }

    #[test]
    fn runs_once_per_key_and_drops_duplicates() {
        let p = run(
            lock(json!({})),
            lines(&[
                json!({"eventID": "a", "body": "1"}),
                json!({"eventID": "a", "body": "1"}),
                json!({"eventID": "b", "body": "2"}),
                json!({"eventID": 7, "body": "3"}),
                json!({"eventID": 7, "body": "3"}),
            ]),
        );
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        assert_eq!(
            data(&p),
            vec![
                json!({"eventID": "a", "body": 1, "sent": true}),
                json!({"eventID": "b", "body": 2, "sent": true}),
                json!({"eventID": 7, "body": 3, "sent": true}),
            ]
        );
    }

    #[test]
    fn pass_mode_and_whole_data_keys() {
        let p = run(
            lock(json!({"on_locked": "pass", "key": null, "prefix": "x:"})),
            lines(&[
                json!({"eventID": "a", "body": "1"}),
                json!({"eventID": "a", "body": "1"}),
                json!({"eventID": "a", "body": "2"}),
            ]),
        );
        assert_eq!(
            data(&p),
            vec![
                json!({"eventID": "a", "body": 1, "sent": true}),
                json!({"eventID": "a", "body": "1"}),
                json!({"eventID": "a", "body": 2, "sent": true}),
            ]
        );
    }

    #[test]
    fn a_failure_releases_the_lock() {
        let p = run(
            lock(json!({})),
            lines(&[
                json!({"eventID": "a", "body": "{"}),
                json!({"eventID": "a", "body": "1"}),
                json!({"body": "1"}),
            ]),
        );
        assert_eq!(
            data(&p),
            vec![json!({"eventID": "a", "body": 1, "sent": true})]
        );
        let r = reasons(&p);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            r[0].starts_with("transforms[0] (meta.kv_store_lock).transforms[1] (parse.json): "),
            "{r:?}"
        );
        assert!(r[1].starts_with("`eventID` is missing"), "{r:?}");
    }

    #[test]
    fn settings_are_checked() {
        let e = build_error(lock(json!({"store": "lcks"})));
        assert!(
            e.contains("field `store`: no store named `lcks` (declared stores: locks)"),
            "{e}"
        );
        let e = build_error(lock(json!({"ttl": "0s"})));
        assert!(e.contains("field `ttl`: must be longer than 0"), "{e}");
        let e = build_error(lock(json!({"on_locked": "skip"})));
        assert!(e.contains("on_locked"), "{e}");
    }
}
