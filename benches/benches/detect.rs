//! `detect.threshold` over four hours of failed sshd logins from 10,000 addresses, on one core.
//!
//! - `baseline_parse_only/1M`: the same events through the same condition and a field read,
//!   without detection: what reading them costs.
//! - `memory/1M`: 1,000,000 events, the counts in this process (no `store`).
//! - `memory_store/1M`: the same through a named memory store (the shared-state code path).
//! - `dynamodb/…` and `dynamodb_cached/…`: the counts in DynamoDB (moto on 127.0.0.1, started
//!   here from `.venv`; skipped when it is not installed), without and with a memory cache in
//!   front. moto answers a few thousand requests a second, so these run a slice of the same
//!   events; the figure that carries over to DynamoDB is store requests per event, printed
//!   once.
//!
//! Events go in batches of 10,000 (a full Kinesis batch) and the output is serialized as
//! `sluice run` does.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sluice_benches::run_batch;
use sluice_core::{Message, Pipeline};
use sluice_transforms::detect::time_text;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EVENTS: usize = 1_000_000;
const SOURCES: usize = 10_000;
const ATTACKERS: usize = 100;
const BATCH: usize = 10_000;
/// Events per iteration against moto.
const DYNAMO_EVENTS: usize = 20_000;

/// 2026-11-23T00:00:00Z in milliseconds.
const START: i64 = 1_795_392_000_000;
/// The events span four hours: 48 windows of five minutes.
const SPAN: i64 = 4 * 3_600_000;

/// `n` failed logins spread evenly over four hours, in time order. One in ten comes from one of
/// 100 attackers (about 21 a window each: they alert in every window); the rest from 9,900
/// other addresses, about twice a window each.
fn events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let t = START + (i as i64) * SPAN / (EVENTS as i64);
            let ip = if i % 10 == 0 {
                let a = (i / 10) % ATTACKERS;
                format!("203.0.{}.{}", a / 250, a % 250 + 1)
            } else {
                let s = (i.wrapping_mul(2_654_435_761)) % (SOURCES - ATTACKERS);
                format!(
                    "198.{}.{}.{}",
                    18 + s / 62_500,
                    (s / 250) % 250,
                    s % 250 + 1
                )
            };
            json!({
                "@timestamp": time_text(t),
                "host": {"hostname": "bastion-1"},
                "event": {
                    "kind": "event", "category": ["authentication"], "type": ["info"],
                    "action": "ssh_login", "outcome": "failure",
                    "hash": format!("{:064x}", i),
                },
                "user": {"name": if i % 3 == 0 { "root" } else { "admin" }},
                "source": {"ip": ip, "port": 30_000 + i % 30_000},
                "related": {"ip": [ip], "user": ["root"]},
            })
            .to_string()
        })
        .collect()
}

fn detector(store: Option<&str>) -> Value {
    let mut d = json!({
        "type": "detect.threshold",
        "when": {"type": "all", "conditions": [
            {"type": "string.eq", "source": "event.action", "value": "ssh_login"},
            {"type": "string.eq", "source": "event.outcome", "value": "failure"},
        ]},
        "rule": {"name": "ssh_bruteforce"},
        "key": "source.ip",
        "threshold": 5,
        "window": "5m",
        "sample_field": "event.hash",
    });
    if let Some(s) = store {
        d["store"] = json!(s);
    }
    d
}

/// Runs every batch on one thread; returns the bytes of output.
fn run_all(one: &rayon::ThreadPool, p: &Pipeline, lines: &[String]) -> usize {
    one.install(|| lines.chunks(BATCH).map(|c| run_batch(p, c)).sum())
}

/// The alerts a run raises.
fn count_alerts(p: &Pipeline, lines: &[String]) -> usize {
    lines
        .chunks(BATCH)
        .map(|c| {
            let batch = c.iter().map(|l| Message::new(l.as_bytes())).collect();
            let out = sluice_benches::block_on(p.process(batch)).unwrap();
            out.output.len() - c.len()
        })
        .sum()
}

/// A moto server for the DynamoDB benches, killed when dropped.
struct Moto {
    endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn moto() -> Option<Moto> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join(".venv/bin/moto_server");
    if !bin.exists() {
        eprintln!(
            "moto is not installed (scripts/setup-test-services): skipping the DynamoDB benches"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = write!(s, "GET /moto-api/ HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("200") {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            eprintln!("moto did not start: skipping the DynamoDB benches");
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: set before any client is built, on the bench's only thread.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    Some(Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        child,
    })
}

async fn create_table(endpoint: &str, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&conf)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// A pipeline whose detector keeps its counts in a fresh DynamoDB table, with a memory cache in
/// front when `cached`.
fn dynamo_pipeline(
    rt: &tokio::runtime::Runtime,
    endpoint: &str,
    n: usize,
    cached: bool,
) -> Pipeline {
    let table = format!("bench-{n}-{}", fastrand_id());
    rt.block_on(create_table(endpoint, &table));
    let mut store = json!({
        "type": "dynamodb",
        "table": table,
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
    });
    if cached {
        store["cache"] = json!({"capacity": 100_000, "ttl": "5m"});
    }
    sluice_benches::pipeline(json!({
        "stores": {"state": store},
        "transforms": [detector(Some("state"))],
    }))
}

fn fastrand_id() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + u64::from(std::process::id()) * 1000
}

fn detect(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let lines = events(EVENTS);
    let mut group = c.benchmark_group("detect_threshold");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    let memory = json!({"transforms": [detector(None)]});
    let alerts = count_alerts(&sluice_benches::pipeline(memory.clone()), &lines);
    eprintln!("{EVENTS} events from {SOURCES} addresses: {alerts} alerts");
    // What reading the events costs without detection: the same condition, and a transform
    // that reads the key (parsing each event) and passes it on.
    let baseline = json!({"transforms": [{
        "type": "utility.drop",
        "when": {"type": "all", "conditions": [
            {"type": "string.eq", "source": "event.action", "value": "ssh_login"},
            {"type": "string.eq", "source": "source.ip", "value": "-"},
        ]},
    }]});
    group.bench_function("baseline_parse_only/1M", |b| {
        b.iter_batched(
            || sluice_benches::pipeline(baseline.clone()),
            |p| run_all(&one, &p, &lines),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("memory/1M", |b| {
        b.iter_batched(
            || sluice_benches::pipeline(memory.clone()),
            |p| run_all(&one, &p, &lines),
            BatchSize::PerIteration,
        )
    });
    let store = json!({
        "stores": {"state": {"type": "memory", "capacity": 1_000_000}},
        "transforms": [detector(Some("state"))],
    });
    group.bench_function("memory_store/1M", |b| {
        b.iter_batched(
            || sluice_benches::pipeline(store.clone()),
            |p| run_all(&one, &p, &lines),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let Some(moto) = moto() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let slice = &lines[..DYNAMO_EVENTS];
    // One atomic increment per address and window in each batch (plus a conditional write per
    // alert): what the DynamoDB figures depend on.
    let increments: usize = slice
        .chunks(BATCH)
        .map(|chunk| {
            let mut seen = std::collections::HashSet::new();
            for l in chunk {
                let v: Value = serde_json::from_str(l).unwrap();
                let t = sluice_transforms::time::parse_time(v["@timestamp"].as_str().unwrap())
                    .unwrap()
                    .timestamp_millis();
                seen.insert((v["source"]["ip"].as_str().unwrap().to_string(), t / 300_000));
            }
            seen.len()
        })
        .sum();
    eprintln!(
        "{DYNAMO_EVENTS} events in batches of {BATCH}: {increments} increments ({:.2} per event)",
        increments as f64 / DYNAMO_EVENTS as f64
    );
    let mut group = c.benchmark_group("detect_threshold");
    group.sample_size(10);
    group.throughput(Throughput::Elements(DYNAMO_EVENTS as u64));
    for cached in [false, true] {
        let name = if cached {
            "dynamodb_cached"
        } else {
            "dynamodb"
        };
        group.bench_function(format!("{name}/{}k", DYNAMO_EVENTS / 1000), |b| {
            b.iter_batched(
                || dynamo_pipeline(&rt, &moto.endpoint, DYNAMO_EVENTS, cached),
                |p| {
                    rt.block_on(async {
                        let mut n = 0;
                        for chunk in slice.chunks(BATCH) {
                            let batch = chunk.iter().map(|l| Message::new(l.as_bytes())).collect();
                            n += p.process(batch).await.unwrap().output.len();
                        }
                        n
                    })
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
