//! Enrichment: memory-cache hits, mmdb lookups, and DNS enrichment against a local server.
//!
//! - `cache_hit`: `get_now` on a cache-aside store whose 1,000 keys are all cached (one thread).
//! - `kv_get_cached` / `mmdb`: `enrich.kv_get` over a cached store and `enrich.mmdb` (ASN + City
//!   test databases), 4,096 events with 1,000 distinct keys, one core.
//! - `dns_10k_events_1k_ips`: `enrich.dns` (PTR) over 10,000 events holding 1,000 distinct
//!   addresses, in batches of 1,024 as `sluice run` reads them, against an in-process DNS server
//!   on a loopback port; each iteration starts with an empty cache (1,000 lookups, 9,000 hits),
//!   with `concurrency` 1 and with the default (64).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sluice_benches::{block_on, pipeline, run_batch};
use sluice_core::{Message, Pipeline};
use sluice_transforms::dns_test_server::Zones;
use sluice_transforms::kv::{KvStore, MemoryStore};
use sluice_transforms::kv_cache::{CacheCounters, CacheSettings, CachedStore, TtlCache};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

fn mmdb(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("testdata/mmdb").join(name).display().to_string()
}

/// The i-th of 1,000 addresses: in the test databases for the mmdb bench (Linköping's and
/// London's networks, and many not covered), private for DNS.
fn address(i: usize) -> String {
    match i % 4 {
        0 => format!("89.160.20.{}", 112 + i % 16),
        1 => format!("81.2.69.{}", 160 + i % 32),
        _ => format!("10.{}.{}.{}", i % 7, (i / 7) % 250, i % 200),
    }
}

fn dns_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250) as u8 + 1)
}

fn cache_hits(c: &mut Criterion) {
    let inner = Arc::new(MemoryStore::new("bench", NonZeroUsize::new(2000).unwrap()));
    let settings = CacheSettings {
        capacity: 10_000,
        ..CacheSettings::default()
    };
    let store = CachedStore::new(
        inner.clone(),
        TtlCache::new(&settings, CacheCounters::default()).unwrap(),
    );
    let keys: Vec<String> = (0..1000).map(|i| format!("user{i}")).collect();
    for k in &keys {
        block_on(inner.set(k, json!({"full_name": k, "roles": ["dev"]}), None)).unwrap();
        store.get_now(k).unwrap().unwrap();
    }
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("cache_hit_get_now", |b| {
        b.iter(|| {
            for k in &keys {
                assert!(store.get_now(k).unwrap().unwrap().is_some());
            }
        })
    });
    group.finish();
    assert!(store.stats().hits > 0);
}

fn local_lookups(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let values: serde_json::Map<String, Value> = (0..1000)
        .map(|i| {
            (
                format!("user{i}"),
                json!({"full_name": format!("User {i}"), "roles": ["dev"]}),
            )
        })
        .collect();
    let kv = pipeline(json!({
        "stores": {"users": {"type": "table", "values": values, "cache": {"capacity": 10000}}},
        "transforms": [{"type": "enrich.kv_get", "source": "user", "target": "user_info", "store": "users"}]
    }));
    let lines: Vec<String> = (0..4096)
        .map(|i| json!({"user": format!("user{}", i % 1000)}).to_string())
        .collect();
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("kv_get_cached_one_core", |b| {
        b.iter(|| one.install(|| run_batch(&kv, &lines)))
    });

    let geo = |cache: Value| {
        pipeline(json!({
            "stores": {
                "asn": {"type": "mmdb", "path": mmdb("GeoLite2-ASN-Test.mmdb"), "cache": cache},
                "city": {"type": "mmdb", "path": mmdb("GeoLite2-City-Test.mmdb"), "cache": cache}
            },
            "transforms": [{"type": "enrich.mmdb", "source": "source.ip", "stores": ["asn", "city"]}]
        }))
    };
    let lines: Vec<String> = (0..4096)
        .map(|i| json!({"source": {"ip": address(i % 1000)}}).to_string())
        .collect();
    let uncached = geo(json!({"capacity": 0}));
    let cached = geo(json!({"capacity": 10000}));
    group.bench_function("mmdb_asn_city_one_core", |b| {
        b.iter(|| one.install(|| run_batch(&uncached, &lines)))
    });
    group.bench_function("mmdb_asn_city_cached_one_core", |b| {
        b.iter(|| one.install(|| run_batch(&cached, &lines)))
    });
    group.finish();
}

fn dns(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        let mut zones = Zones::new();
        for i in 0..1000 {
            zones = zones.ptr(IpAddr::V4(dns_address(i)), &format!("host-{i}.corp.test"));
        }
        zones.serve().await
    });
    let events: Vec<String> = (0..10_000)
        .map(|i| json!({"source": {"ip": dns_address(i % 1000).to_string()}}).to_string())
        .collect();
    let build = |concurrency: Option<usize>| -> Pipeline {
        let mut t = json!({
            "type": "enrich.dns", "source": "source.ip", "target": "source.domain",
            "nameservers": [server.nameserver()], "timeout": "2s"
        });
        if let Some(n) = concurrency {
            t["concurrency"] = json!(n);
        }
        pipeline(json!({"transforms": [t]}))
    };
    let run = |p: Pipeline| {
        runtime.block_on(async {
            let mut enriched = 0;
            for chunk in events.chunks(1024) {
                let batch = chunk.iter().map(|l| Message::new(l.as_bytes())).collect();
                let out = p.process(batch).await.unwrap();
                assert!(out.errors.is_empty());
                enriched += out.output.len();
            }
            assert_eq!(enriched, events.len());
        })
    };
    let mut group = c.benchmark_group("enrich");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("dns_10k_events_1k_ips_concurrency_1", |b| {
        b.iter_batched(|| build(Some(1)), run, BatchSize::PerIteration)
    });
    group.bench_function("dns_10k_events_1k_ips_concurrency_default", |b| {
        b.iter_batched(|| build(None), run, BatchSize::PerIteration)
    });
    group.finish();
    runtime.block_on(server.stop());
}

criterion_group!(benches, cache_hits, local_lookups, dns);
criterion_main!(benches);
