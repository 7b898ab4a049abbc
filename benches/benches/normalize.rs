//! The shipped ECS pipelines (configs/ecs/) over realistic records, on one core.
//!
//! CloudTrail: 1.4 KB single events (the sample events, cycled). VPC flow logs: v2 default
//! format lines, with the five id-to-name lookups of the shipped pipeline.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::run_batch;
use sluice_core::{Config, Resources};
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn load(config: &str) -> sluice_core::Pipeline {
    // Stores name files relative to the repository root.
    std::env::set_current_dir(repo()).unwrap();
    let config = Config::load(Path::new(config)).unwrap_or_else(|e| panic!("{e}"));
    config
        .build(&sluice_connectors::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn lines(file: &str, count: usize, skip_header: bool) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let source: Vec<&str> = text
        .lines()
        .skip(usize::from(skip_header))
        .filter(|l| !l.trim().is_empty())
        .collect();
    source
        .iter()
        .cycle()
        .take(count)
        .map(|l| l.to_string())
        .collect()
}

fn normalize(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();

    let cloudtrail = load("configs/ecs/cloudtrail.jsonnet");
    let events = lines("examples/data/cloudtrail/single-events.jsonl", 4096, false);
    let bytes: usize = events.iter().map(String::len).sum();
    let mut group = c.benchmark_group("cloudtrail_to_ecs");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(format!("one_core_{}b_avg", bytes / events.len()), |b| {
        b.iter(|| one.install(|| run_batch(&cloudtrail, &events)))
    });
    // The same mapping as one general transform per field (about 45 steps, fused into stages).
    let generic = load("configs/examples/cloudtrail_generic.jsonnet");
    group.bench_function("generic_transforms_one_core", |b| {
        b.iter(|| one.install(|| run_batch(&generic, &events)))
    });
    group.finish();

    let vpc = load("configs/ecs/vpc_flow.jsonnet");
    let flows = lines("examples/data/vpcflow/default-v2.log", 4096, true);
    let mut group = c.benchmark_group("vpc_flow_to_ecs");
    group.throughput(Throughput::Elements(flows.len() as u64));
    group.bench_function("one_core", |b| {
        b.iter(|| one.install(|| run_batch(&vpc, &flows)))
    });
    group.finish();
}

criterion_group!(benches, normalize);
criterion_main!(benches);
