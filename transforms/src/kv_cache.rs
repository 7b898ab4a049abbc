//! Cache-aside: a memory cache in front of any store, and the TTL cache behind it that the DNS
//! and HTTP lookups share.
//!
//! A store declared with `cache: {capacity, ttl, negative_ttl}` answers hits from memory without
//! leaving the process, reads through to the store on a miss and fills the cache (misses too, for
//! `negative_ttl`), and writes through on a set. Hits, misses and errors are counted in the run's
//! account under `stores.<name> (cache) hits|misses|errors`.

use crate::batch::Duration as Setting;
use crate::kv::{KvStore, StoreResult};
use futures::future::{BoxFuture, FutureExt};
use lru::LruCache;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Builder;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A memory cache in front of a store or a lookup: `{capacity, ttl, negative_ttl}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// The most entries kept; the least recently used go first.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// How long a value found stays in the cache (for DNS, the answer's own TTL when shorter).
    #[serde(default = "default_ttl")]
    pub ttl: Setting,
    /// How long a miss (a key not in the store, NXDOMAIN, HTTP 404) is remembered; `0s` turns
    /// negative caching off.
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl: Setting,
}

fn default_capacity() -> usize {
    10_000
}

fn default_ttl() -> Setting {
    Setting::from_secs(300)
}

fn default_negative_ttl() -> Setting {
    Setting::from_secs(60)
}

impl Default for CacheSettings {
    fn default() -> CacheSettings {
        CacheSettings {
            capacity: default_capacity(),
            ttl: default_ttl(),
            negative_ttl: default_negative_ttl(),
        }
    }
}

/// Hits, misses and errors of one cache, shared with the run's account.
#[derive(Clone, Default)]
pub struct CacheCounters {
    pub hits: Arc<AtomicU64>,
    pub misses: Arc<AtomicU64>,
    pub errors: Arc<AtomicU64>,
}

/// What a cache has counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
}

impl CacheCounters {
    /// Counters named `<prefix> hits`, `<prefix> misses` and `<prefix> errors` in the run's
    /// metrics, so the account prints them.
    pub fn named(b: &Builder, prefix: &str) -> CacheCounters {
        let m = b.resources.metrics();
        CacheCounters {
            hits: m.counter(&format!("{prefix} hits")),
            misses: m.counter(&format!("{prefix} misses")),
            errors: m.counter(&format!("{prefix} errors")),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }
}

struct Entry<V> {
    /// `None` remembers a miss.
    value: Option<V>,
    expires: Instant,
}

/// An LRU cache whose entries expire, that also remembers misses. Thread-safe.
pub struct TtlCache<V> {
    entries: Mutex<LruCache<String, Entry<V>>>,
    ttl: Duration,
    negative_ttl: Duration,
    counters: CacheCounters,
}

impl<V: Clone> TtlCache<V> {
    /// A cache with these settings; `None` when the capacity is 0 (caching off).
    pub fn new(settings: &CacheSettings, counters: CacheCounters) -> Option<TtlCache<V>> {
        let capacity = NonZeroUsize::new(settings.capacity)?;
        Some(TtlCache {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl: settings.ttl.get(),
            negative_ttl: settings.negative_ttl.get(),
            counters,
        })
    }

    /// `Some(Some(v))` for a cached value, `Some(None)` for a remembered miss, `None` when the
    /// cache does not know. A hit is always counted; a miss only when `count_miss` is set (so a
    /// quick look before an asynchronous read does not count it twice).
    pub fn get(&self, key: &str, count_miss: bool) -> Option<Option<V>> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let found = match entries.get(key) {
            Some(e) if e.expires > now => Some(e.value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        };
        drop(entries);
        match &found {
            Some(_) => self.counters.hits.fetch_add(1, Relaxed),
            None if count_miss => self.counters.misses.fetch_add(1, Relaxed),
            None => 0,
        };
        found
    }

    /// Remembers a value (for `ttl`, or `at_most` when shorter) or a miss (for `negative_ttl`,
    /// or `at_most` when shorter). Nothing is kept for a zero lifetime.
    pub fn put(&self, key: &str, value: Option<V>, at_most: Option<Duration>) {
        let base = if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        let life = at_most.map_or(base, |m| m.min(base));
        if life.is_zero() {
            self.remove(key);
            return;
        }
        let expires = Instant::now() + life;
        self.entries
            .lock()
            .put(key.to_string(), Entry { value, expires });
    }

    pub fn remove(&self, key: &str) {
        self.entries.lock().pop(key);
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }
}

/// A store with a memory cache in front (cache-aside).
pub struct CachedStore {
    inner: Arc<dyn KvStore>,
    cache: TtlCache<Value>,
}

/// Puts a cache in front of `store` when `settings` ask for one; counters are named after the
/// store (`stores.<name> (cache) hits`). For store kinds, including those of other crates.
pub fn wrap(
    b: &Builder,
    store: Arc<dyn KvStore>,
    settings: Option<&CacheSettings>,
) -> Arc<dyn KvStore> {
    let Some(settings) = settings else {
        return store;
    };
    let name = store_name(b);
    let counters = CacheCounters::named(b, &format!("stores.{name} (cache)"));
    match TtlCache::new(settings, counters) {
        Some(cache) => Arc::new(CachedStore {
            inner: store,
            cache,
        }),
        None => store,
    }
}

/// The name a store is declared under, from the builder's location `stores.<name> (<kind>)`.
pub fn store_name(b: &Builder) -> String {
    let location = b.location();
    let rest = location.strip_prefix("stores.").unwrap_or(location);
    rest.rsplit_once(" (")
        .map_or(rest, |(name, _)| name)
        .to_string()
}

impl CachedStore {
    pub fn new(inner: Arc<dyn KvStore>, cache: TtlCache<Value>) -> CachedStore {
        CachedStore { inner, cache }
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.counters().stats()
    }

    fn note<T>(&self, key: &str, result: &StoreResult<T>) {
        if result.is_err() {
            self.cache.counters().error();
        }
        self.cache.remove(key);
    }
}

impl KvStore for CachedStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>> {
        if let Some(hit) = self.cache.get(key, true) {
            return async move { Ok(hit) }.boxed();
        }
        async move {
            let result = self.inner.get(key).await;
            match &result {
                Ok(v) => self.cache.put(key, v.clone(), None),
                Err(_) => self.cache.counters().error(),
            }
            result
        }
        .boxed()
    }

    /// Hits answer from memory; the misses go to the store in one `get_many`.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        concurrency: usize,
    ) -> BoxFuture<'a, Vec<StoreResult<Option<Value>>>> {
        async move {
            let mut answers: Vec<Option<StoreResult<Option<Value>>>> = keys
                .iter()
                .map(|k| self.cache.get(k, true).map(Ok))
                .collect();
            let missed: Vec<&str> = keys
                .iter()
                .zip(&answers)
                .filter(|(_, a)| a.is_none())
                .map(|(k, _)| *k)
                .collect();
            if !missed.is_empty() {
                let mut read = self.inner.get_many(&missed, concurrency).await.into_iter();
                for (key, answer) in keys.iter().zip(answers.iter_mut()) {
                    if answer.is_some() {
                        continue;
                    }
                    let result = read.next().unwrap_or(Ok(None));
                    match &result {
                        Ok(v) => self.cache.put(key, v.clone(), None),
                        Err(_) => self.cache.counters().error(),
                    }
                    *answer = Some(result);
                }
            }
            answers.into_iter().map(|a| a.unwrap_or(Ok(None))).collect()
        }
        .boxed()
    }

    fn get_now(&self, key: &str) -> Option<StoreResult<Option<Value>>> {
        let local = self.inner.is_local();
        if let Some(hit) = self.cache.get(key, local) {
            return Some(Ok(hit));
        }
        if !local {
            return None;
        }
        let result = self.inner.get_now(key)?;
        match &result {
            Ok(v) => self.cache.put(key, v.clone(), None),
            Err(_) => self.cache.counters().error(),
        }
        Some(result)
    }

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        async move {
            let result = self.inner.set(key, value.clone(), ttl).await;
            match &result {
                Ok(()) => self.cache.put(key, Some(value), ttl),
                Err(_) => self.note(key, &result),
            }
            result
        }
        .boxed()
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        async move {
            let result = self.inner.set_if_absent(key, value.clone(), ttl).await;
            match &result {
                Ok(true) => self.cache.put(key, Some(value), ttl),
                _ => self.note(key, &result),
            }
            result
        }
        .boxed()
    }

    fn add_to_set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        async move {
            let result = self.inner.add_to_set(key, value, ttl).await;
            self.note(key, &result);
            result
        }
        .boxed()
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        async move {
            let result = self.inner.increment(key, by, ttl).await;
            self.note(key, &result);
            result
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        async move {
            let result = self.inner.delete(key).await;
            self.note(key, &result);
            result
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RemoteStore;
    use futures::executor::block_on;
    use serde_json::json;

    fn settings(capacity: usize, ttl_ms: u64, negative_ms: u64) -> CacheSettings {
        CacheSettings {
            capacity,
            ttl: Setting(Duration::from_millis(ttl_ms)),
            negative_ttl: Setting(Duration::from_millis(negative_ms)),
        }
    }

    fn backend() -> Arc<RemoteStore> {
        Arc::new(RemoteStore::new(false))
    }

    #[test]
    fn reads_through_writes_through_and_counts() {
        let backend = backend();
        let cache = TtlCache::new(&settings(10, 60_000, 60_000), CacheCounters::default()).unwrap();
        let store = CachedStore::new(backend.clone(), cache);
        block_on(async {
            backend.set("a", json!(1), None).await.unwrap();
            // A miss reads through, then hits stay in memory.
            assert_eq!(store.get("a").await.unwrap(), Some(json!(1)));
            assert_eq!(store.get("a").await.unwrap(), Some(json!(1)));
            assert_eq!(store.get_now("a").unwrap().unwrap(), Some(json!(1)));
            assert_eq!(backend.reads.load(Relaxed), 1);
            // A miss is remembered: the backend is asked once.
            assert_eq!(store.get("nope").await.unwrap(), None);
            assert_eq!(store.get("nope").await.unwrap(), None);
            assert_eq!(backend.reads.load(Relaxed), 2);
            // A quick look at a remote store does not count a miss; the read does.
            assert!(store.get_now("other").is_none());
            // Write-through: the value is cached and in the backend.
            store.set("b", json!("x"), None).await.unwrap();
            assert_eq!(store.get("b").await.unwrap(), Some(json!("x")));
            assert_eq!(backend.reads.load(Relaxed), 2);
            assert_eq!(backend.inner.get("b").await.unwrap(), Some(json!("x")));
            // Writes that change a value in place invalidate the cached copy.
            assert_eq!(store.increment("n", 2, None).await.unwrap(), 2);
            assert_eq!(store.get("n").await.unwrap(), Some(json!(2)));
            assert_eq!(store.increment("n", 1, None).await.unwrap(), 3);
            assert_eq!(store.get("n").await.unwrap(), Some(json!(3)));
            store.delete("b").await.unwrap();
            assert_eq!(store.get("b").await.unwrap(), None);
            // Errors are counted and not cached.
            backend.fail.store(true, Relaxed);
            assert!(store.get("c").await.is_err());
            assert!(store.get("c").await.is_err());
        });
        assert_eq!(
            store.stats(),
            CacheStats {
                hits: 4,
                misses: 7,
                errors: 2
            }
        );
    }

    #[test]
    fn entries_and_misses_expire() {
        let backend = backend();
        let cache = TtlCache::new(&settings(10, 20, 0), CacheCounters::default()).unwrap();
        let store = CachedStore::new(backend.clone(), cache);
        block_on(async {
            store.set("a", json!(1), None).await.unwrap();
            assert_eq!(store.get("a").await.unwrap(), Some(json!(1)));
            assert_eq!(backend.reads.load(Relaxed), 0);
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(store.get("a").await.unwrap(), Some(json!(1)));
            assert_eq!(backend.reads.load(Relaxed), 1);
            // negative_ttl 0: misses are not remembered.
            assert_eq!(store.get("x").await.unwrap(), None);
            assert_eq!(store.get("x").await.unwrap(), None);
            assert_eq!(backend.reads.load(Relaxed), 3);
        });
    }

    #[test]
    fn capacity_zero_turns_caching_off_and_lru_evicts() {
        assert!(
            TtlCache::<Value>::new(&settings(0, 1000, 1000), CacheCounters::default()).is_none()
        );
        let c = TtlCache::new(&settings(2, 60_000, 60_000), CacheCounters::default()).unwrap();
        c.put("a", Some(1), None);
        c.put("b", Some(2), None);
        assert_eq!(c.get("a", true), Some(Some(1)));
        c.put("c", None, None);
        assert_eq!(c.get("b", true), None);
        assert_eq!(c.get("a", true), Some(Some(1)));
        assert_eq!(c.get("c", true), Some(None));
        // A store TTL shorter than the cache's wins; zero keeps nothing.
        c.put("z", Some(9), Some(Duration::ZERO));
        assert_eq!(c.get("z", true), None);
    }
}
