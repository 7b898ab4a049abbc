//! A five-transform pipeline over 1 KB JSON events, on one thread and on all threads.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sluice_benches::{event_1k, pipeline, run_batch};

fn five_transforms(c: &mut Criterion) {
    let config = json!({"transforms": [
        {"type": "parse.json"},
        {"type": "object.copy", "source": "eventName", "target": "event.action"},
        {"type": "object.move", "source": "sourceIPAddress", "target": "source.address"},
        {"type": "string.to_lower", "source": "eventSource", "target": "event.provider"},
        {"type": "hash.sha256", "source": "eventID", "target": "event.hash"}
    ]});
    let lines: Vec<String> = (0..4096).map(event_1k).collect();
    let p = pipeline(config);
    let mut group = c.benchmark_group("five_transforms_1kb");
    group.throughput(Throughput::Elements(lines.len() as u64));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    group.bench_function("one_thread", |b| {
        b.iter(|| one.install(|| run_batch(&p, &lines)))
    });
    group.bench_function("all_threads", |b| b.iter(|| run_batch(&p, &lines)));
    group.finish();
}

criterion_group!(benches, five_transforms);
criterion_main!(benches);
