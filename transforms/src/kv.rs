//! Key-value stores: the shared state behind dedupe, locks, counters, lookups and detection.
//!
//! A store is declared once in a config (`stores: {seen: {type: "memory", capacity: 100000}}`)
//! and transforms name it. The trait is async because real stores (DynamoDB) are remote; the
//! memory store answers at once. Values are JSON; expiry is per entry.

use futures::future::{BoxFuture, FutureExt};
use lru::LruCache;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::registry::SharedResource;
use sluice_core::{Builder, ConfigErrors, Registry};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store `{store}`: {problem}")]
    Failed { store: String, problem: String },
    #[error("store `{store}`: the value under `{key}` is not a {expected}")]
    WrongType {
        store: String,
        key: String,
        expected: &'static str,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The operations every store offers.
pub trait KvStore: Send + Sync {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>>;
    /// Reads several keys, answering in their order, at most `concurrency` requests in flight.
    /// Remote stores override it to read many keys per request (DynamoDB's BatchGetItem); the
    /// default asks `get` for each.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        concurrency: usize,
    ) -> BoxFuture<'a, Vec<StoreResult<Option<Value>>>> {
        use futures::stream::{self, StreamExt};
        stream::iter(keys.iter().map(|k| self.get(k)))
            .buffered(concurrency.max(1))
            .collect()
            .boxed()
    }
    /// The answer without waiting, for stores that hold everything in memory; `None` means
    /// "ask `get`". Lets lookups in local tables skip the async machinery on the hot path.
    fn get_now(&self, _key: &str) -> Option<StoreResult<Option<Value>>> {
        None
    }
    /// True when `get_now` always answers: reads never leave the process.
    fn is_local(&self) -> bool {
        false
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Sets only when the key is absent (or expired); true when it was set. Locks and dedupe.
    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Adds a value to the set under `key`; true when it was not there before.
    fn add_to_set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Adds `by` to the counter under `key` (absent counts as 0) and returns the new count.
    fn increment<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
}

/// The reads of a store that holds everything in memory (a file, a table, a MaxMind database).
pub trait Lookup: Send + Sync {
    fn lookup(&self, key: &str) -> StoreResult<Option<Value>>;
}

impl Lookup for std::collections::HashMap<String, Value> {
    fn lookup(&self, key: &str) -> StoreResult<Option<Value>> {
        Ok(self.get(key).cloned())
    }
}

/// A read-only store over a [`Lookup`]: reads answer at once, writes are refused saying what
/// the store is (`what`, e.g. "a MaxMind database").
pub struct ReadOnly<L> {
    pub name: String,
    pub what: &'static str,
    pub inner: L,
}

impl<L> ReadOnly<L> {
    fn refuse<T: Send + 'static>(&self) -> BoxFuture<'static, StoreResult<T>> {
        let error = StoreError::Failed {
            store: self.name.clone(),
            problem: format!("this store is read-only ({})", self.what),
        };
        async move { Err(error) }.boxed()
    }
}

impl<L: Lookup> KvStore for ReadOnly<L> {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>> {
        let v = self.inner.lookup(key);
        async move { v }.boxed()
    }
    fn get_now(&self, key: &str) -> Option<StoreResult<Option<Value>>> {
        Some(self.inner.lookup(key))
    }
    fn is_local(&self) -> bool {
        true
    }
    fn set<'a>(
        &'a self,
        _: &'a str,
        _: Value,
        _: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.refuse()
    }
    fn set_if_absent<'a>(
        &'a self,
        _: &'a str,
        _: Value,
        _: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.refuse()
    }
    fn add_to_set<'a>(
        &'a self,
        _: &'a str,
        _: Value,
        _: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.refuse()
    }
    fn increment<'a>(
        &'a self,
        _: &'a str,
        _: i64,
        _: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.refuse()
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.refuse()
    }
}

/// What transforms find under a store's name in the config's resources.
pub struct Store {
    pub name: String,
    pub store: Arc<dyn KvStore>,
}

/// Finds the store a transform names, or says which stores exist.
pub fn lookup(
    builder: &Builder,
    field: &str,
    name: &str,
) -> Result<Arc<dyn KvStore>, ConfigErrors> {
    match builder.resources.get::<Store>(name) {
        Some(s) => Ok(s.store.clone()),
        None => {
            let known: Vec<&str> = builder.resources.names().collect();
            Err(builder.fail(format!(
                "field `{field}`: no store named `{name}` (declared stores: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

pub fn register(r: &mut Registry) {
    r.store("memory", |s: MemorySettings, b| {
        let capacity = NonZeroUsize::new(s.capacity)
            .ok_or_else(|| b.fail("field `capacity`: must be at least 1"))?;
        if s.cache.is_some() {
            return Err(b.fail(
                "field `cache`: a memory store is already in memory; put the cache in front of the remote or file store instead",
            ));
        }
        let name = b.location().to_string();
        let mut store = MemoryStore::new(name.clone(), capacity);
        store.default_ttl = s.ttl.map(|t| t.get()).filter(|t| !t.is_zero());
        Ok(Arc::new(Store {
            name,
            store: Arc::new(store),
        }) as SharedResource)
    });
}

/// An in-process store: least-recently-used eviction at `capacity` entries, expiry per entry
/// (the TTL a transform gives, else `ttl`). Shared by every transform of the run; not shared
/// between processes. The same LRU with expiry, remembering misses too, is the `cache` that any
/// other store can have in front of it.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MemorySettings {
    /// The most entries kept; the least recently used go first.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// How long an entry lives when the transform that writes it gives no TTL; forever when
    /// left out.
    #[serde(default)]
    pub ttl: Option<crate::batch::Duration>,
    /// Not for memory stores (they are already in memory); accepted only to say so clearly.
    #[serde(default)]
    pub cache: Option<crate::kv_cache::CacheSettings>,
}

fn default_capacity() -> usize {
    100_000
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

pub struct MemoryStore {
    name: String,
    entries: Mutex<LruCache<String, Entry>>,
    /// The TTL of writes that give none.
    pub default_ttl: Option<Duration>,
}

impl MemoryStore {
    pub fn new(name: impl Into<String>, capacity: NonZeroUsize) -> MemoryStore {
        MemoryStore {
            name: name.into(),
            entries: Mutex::new(LruCache::new(capacity)),
            default_ttl: None,
        }
    }

    fn expiry(&self, ttl: Option<Duration>) -> Option<Instant> {
        ttl.or(self.default_ttl).map(|t| Instant::now() + t)
    }

    fn with<T>(&self, f: impl FnOnce(&mut LruCache<String, Entry>, Instant) -> T) -> T {
        f(&mut self.entries.lock(), Instant::now())
    }

    fn live_mut<'c>(
        cache: &'c mut LruCache<String, Entry>,
        key: &str,
        now: Instant,
    ) -> Option<&'c mut Entry> {
        if cache.peek(key).is_some_and(|e| !e.live(now)) {
            cache.pop(key);
        }
        cache.get_mut(key)
    }
}

impl KvStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>> {
        let v = self.with(|c, now| Self::live_mut(c, key, now).map(|e| e.value.clone()));
        async move { Ok(v) }.boxed()
    }

    fn get_now(&self, key: &str) -> Option<StoreResult<Option<Value>>> {
        Some(Ok(self.with(|c, now| {
            Self::live_mut(c, key, now).map(|e| e.value.clone())
        })))
    }

    fn is_local(&self) -> bool {
        true
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|c, _| {
            c.put(
                key.to_string(),
                Entry {
                    value,
                    expires: self.expiry(ttl),
                },
            )
        });
        async { Ok(()) }.boxed()
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let set = self.with(|c, now| {
            if Self::live_mut(c, key, now).is_some() {
                return false;
            }
            c.put(
                key.to_string(),
                Entry {
                    value,
                    expires: self.expiry(ttl),
                },
            );
            true
        });
        async move { Ok(set) }.boxed()
    }

    fn add_to_set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let result = self.with(|c, now| match Self::live_mut(c, key, now) {
            Some(entry) => match &mut entry.value {
                Value::Array(items) if items.contains(&value) => Ok(false),
                Value::Array(items) => {
                    items.push(value);
                    if ttl.is_some() {
                        entry.expires = self.expiry(ttl);
                    }
                    Ok(true)
                }
                _ => Err(StoreError::WrongType {
                    store: self.name.clone(),
                    key: key.to_string(),
                    expected: "set",
                }),
            },
            None => {
                c.put(
                    key.to_string(),
                    Entry {
                        value: Value::Array(vec![value]),
                        expires: self.expiry(ttl),
                    },
                );
                Ok(true)
            }
        });
        async move { result }.boxed()
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        let result = self.with(|c, now| match Self::live_mut(c, key, now) {
            Some(entry) => match entry.value.as_i64() {
                Some(n) => {
                    let n = n.saturating_add(by);
                    entry.value = Value::from(n);
                    Ok(n)
                }
                None => Err(StoreError::WrongType {
                    store: self.name.clone(),
                    key: key.to_string(),
                    expected: "counter",
                }),
            },
            None => {
                c.put(
                    key.to_string(),
                    Entry {
                        value: Value::from(by),
                        expires: self.expiry(ttl),
                    },
                );
                Ok(by)
            }
        });
        async move { result }.boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|c, _| c.pop(key));
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use serde_json::json;

    #[test]
    fn memory_store_operations() {
        let s = MemoryStore::new("t", NonZeroUsize::new(2).unwrap());
        block_on(async {
            assert_eq!(s.get("a").await.unwrap(), None);
            s.set("a", json!(1), None).await.unwrap();
            assert_eq!(s.get("a").await.unwrap(), Some(json!(1)));
            assert!(!s.set_if_absent("a", json!(2), None).await.unwrap());
            assert!(s.add_to_set("set", json!("x"), None).await.unwrap());
            assert!(!s.add_to_set("set", json!("x"), None).await.unwrap());
            // Capacity 2: "a" was least recently used and is evicted.
            assert_eq!(s.increment("n", 2, None).await.unwrap(), 2);
            assert_eq!(s.get("a").await.unwrap(), None);
            assert_eq!(s.increment("n", 3, None).await.unwrap(), 5);
            assert!(s.increment("set", 1, None).await.is_err());
            s.delete("n").await.unwrap();
            assert_eq!(s.get("n").await.unwrap(), None);
            s.set("ttl", json!(1), Some(Duration::from_millis(1)))
                .await
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(s.get("ttl").await.unwrap(), None);
            assert!(s.set_if_absent("ttl", json!(2), None).await.unwrap());
        });
    }
}
