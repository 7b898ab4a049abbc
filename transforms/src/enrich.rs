//! The enrich family: add what an event does not say by looking it up.
//!
//! `enrich.kv_get` reads a store declared in the config (a memory cache, a CSV of VPC names, a
//! table of ECS categories, later DynamoDB). A key that is not in the store leaves the event as
//! it was: enrichment never turns a good event into an error.

use crate::common::wrong_type;
use crate::kv::{KvStore, lookup};
use futures::future::{BoxFuture, join_all};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::transform::{BatchItem, Mode};
use sluice_core::{Failed, Message, Output, Path, Registry, Transform, TransformError};
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.transform("enrich.kv_get", |s: KvGetSettings, b| {
        let store = lookup(b, "store", &s.store)?;
        Ok(KvGet { s, store })
    });
}

/// Look up the value of `source` as a key in a store and write what is found to `target`.
/// A key that is not found leaves the message unchanged.
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
}

struct KvGet {
    s: KvGetSettings,
    store: Arc<dyn KvStore>,
}

impl KvGet {
    fn key(&self, message: &mut Message) -> Result<Option<String>, TransformError> {
        Ok(match message.get(&self.s.source)? {
            None | Some(Value::Null) => None,
            Some(v) if self.s.prefix.is_empty() => Some(value_text(v).into_owned()),
            Some(v) => Some(format!("{}{}", self.s.prefix, value_text(v))),
        })
    }

    fn write(&self, message: &mut Message, found: Option<Value>) -> Result<(), TransformError> {
        let Some(found) = found else {
            return Ok(());
        };
        match (self.s.merge, found) {
            (true, Value::Object(fields)) => {
                let target = match message.get(&self.s.target)? {
                    None | Some(Value::Object(_)) => &self.s.target,
                    Some(other) => return Err(wrong_type(&self.s.target, "an object to merge into", other)),
                };
                for (k, v) in fields {
                    let mut path = target.clone();
                    path.segments.push(sluice_core::path::Segment { key: k, index: None });
                    merge_into(message, &path, v)?;
                }
                Ok(())
            }
            (_, found) => message.set(&self.s.target, found),
        }
    }
}

/// Deep merge: objects merge key by key, anything else replaces.
fn merge_into(message: &mut Message, path: &Path, value: Value) -> Result<(), TransformError> {
    match (message.get(path)?, value) {
        (Some(Value::Object(_)), Value::Object(fields)) => {
            for (k, v) in fields {
                let mut child = path.clone();
                child.segments.push(sluice_core::path::Segment { key: k, index: None });
                merge_into(message, &child, v)?;
            }
            Ok(())
        }
        (_, v) => message.set(path, v),
    }
}

impl Transform for KvGet {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let result = (|| {
            let Some(key) = self.key(&mut message)? else {
                return Ok(());
            };
            let found = match self.store.get_now(&key) {
                Some(r) => r.map_err(TransformError::invalid)?,
                None => return Err(TransformError::invalid("this store must be read asynchronously")),
            };
            self.write(&mut message, found)
        })();
        match result {
            Ok(()) => {
                out.push(message);
                Ok(())
            }
            Err(e) => Err(Failed::new(message, e)),
        }
    }

    fn mode(&self) -> Mode {
        if self.store.is_local() {
            Mode::Parallel
        } else {
            Mode::Async
        }
    }

    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut keyed = Vec::with_capacity(batch.len());
            for mut m in batch {
                let key = self.key(&mut m);
                keyed.push((m, key));
            }
            let lookups = keyed.iter().map(|(_, key)| async move {
                match key {
                    Ok(Some(k)) => Some(self.store.get(k).await),
                    _ => None,
                }
            });
            let found = join_all(lookups).await;
            keyed
                .into_iter()
                .zip(found)
                .map(|((mut m, key), found)| {
                    let result = match (key, found) {
                        (Err(e), _) => Err(e),
                        (Ok(_), None) => Ok(()),
                        (Ok(_), Some(Err(e))) => Err(TransformError::invalid(e)),
                        (Ok(_), Some(Ok(v))) => self.write(&mut m, v),
                    };
                    match result {
                        Ok(()) => {
                            let mut out = Output::new();
                            out.push(m);
                            Ok(out)
                        }
                        Err(e) => Err(Failed::new(m, e)),
                    }
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, build_error};
    use serde_json::json;

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
            apply(config(json!({"source": "vpc", "target": "vpc_name", "store": "names"})), &json!({"vpc": "vpc-1"})),
            vec![json!({"vpc": "vpc-1", "vpc_name": "prod"})]
        );
        assert_eq!(
            apply(
                config(json!({"source": "a", "target": "event", "store": "names", "merge": true})),
                &json!({"a": "evt", "event": {"action": "evt", "category": ["x"]}})
            ),
            vec![json!({"a": "evt", "event": {"action": "evt", "category": ["iam"], "type": ["user"]}})]
        );
    }

    #[test]
    fn missing_keys_leave_the_event_alone() {
        let c = config(json!({"source": "vpc", "target": "vpc_name", "store": "names"}));
        assert_eq!(apply(c.clone(), &json!({"vpc": "vpc-unknown"})), vec![json!({"vpc": "vpc-unknown"})]);
        assert_eq!(apply(c, &json!({"other": 1})), vec![json!({"other": 1})]);
    }

    #[test]
    fn unknown_store_is_a_config_error() {
        let e = build_error(json!({"transforms": [{"type": "enrich.kv_get", "source": "a", "target": "b", "store": "nope"}]}));
        assert!(e.contains("transforms[0] (enrich.kv_get): field `store`: no store named `nope`"), "{e}");
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
        assert_eq!(apply(c, &json!({"vpc": "vpc-1"})), vec![json!({"vpc": "vpc-1", "vpc_name": "prod-core"})]);
        let bad = json!({"stores": {"names": {"type": "file", "path": "/nonexistent.csv"}}, "transforms": []});
        assert!(build_error(bad).contains("stores.names (file): field `path`: cannot read /nonexistent.csv"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
