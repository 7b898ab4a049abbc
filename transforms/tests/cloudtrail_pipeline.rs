//! The shipped CloudTrail pipeline (`configs/ecs/cloudtrail.jsonnet`, an `object.template`):
//! its config tests pass, it writes what the hand-written `ecs.cloudtrail` transform writes for
//! every sample record, and (ignored by default) a rough single-thread throughput next to the
//! general version, the hand-written transform, and bare parse and serialize.

use serde_json::{Value, json};
use sluice_core::testing::{output_value, run_tests};
use sluice_core::{Config, Message, Pipeline, Processed, Resources};
use std::path::PathBuf;

// The allocator of the `sluice` binary and the benches, so the figures are comparable with them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn load(path: &str) -> Config {
    Config::load(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn build(config: &Config) -> Pipeline {
    config
        .build(&sluice_transforms::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("the config does not build: {e}"))
}

fn run(pipeline: &Pipeline, lines: &[&str]) -> Processed {
    let batch = lines.iter().map(|l| Message::new(l.as_bytes())).collect();
    futures::executor::block_on(pipeline.process(batch)).expect("run")
}

/// The hand-written mapping that the template replaces, with the tables of the general version.
fn hand_written() -> Config {
    let mut config = load("configs/ecs/cloudtrail.jsonnet");
    config.stores = load("configs/examples/cloudtrail_generic.jsonnet").stores;
    assert!(config.stores.contains_key("categories") && config.stores.contains_key("verbs"));
    config.transforms = vec![
        json!({"type": "parse.json", "expand": true}),
        json!({"type": "ecs.cloudtrail", "categories": "categories", "verbs": "verbs"}),
    ];
    config
}

#[test]
fn config_tests_pass() {
    let config = load("configs/ecs/cloudtrail.jsonnet");
    assert!(
        config.tests.len() >= 20,
        "only {} tests",
        config.tests.len()
    );
    let types: Vec<&str> = config
        .transforms
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert!(types.contains(&"object.template") && !types.contains(&"ecs.cloudtrail"));
    let reports = futures::executor::block_on(run_tests(
        &config,
        &sluice_transforms::registry(),
        &Resources::default(),
    ));
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}:\n{}", r.name, r.detail))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Every sample file, line by line: the same documents and the same number of errors as the
/// hand-written `ecs.cloudtrail`.
#[test]
fn writes_what_ecs_cloudtrail_writes_on_the_samples() {
    let template = build(&load("configs/ecs/cloudtrail.jsonnet"));
    let hand = build(&hand_written());
    let mut compared = 0;
    for file in [
        "single-events.jsonl",
        "malformed.jsonl",
        "eventbridge-event.json",
        "123456789012_CloudTrail_us-east-1_20261123T0000Z_example.json",
    ] {
        let text =
            std::fs::read_to_string(repo(&format!("examples/data/cloudtrail/{file}"))).unwrap();
        // The two .json files are one document each.
        let lines: Vec<&str> = if file.ends_with(".json") {
            vec![text.trim_end()]
        } else {
            text.lines().collect()
        };
        for (i, line) in lines.iter().enumerate() {
            let (a, b) = (run(&template, &[line]), run(&hand, &[line]));
            let docs = |p: &Processed| p.output.iter().map(output_value).collect::<Vec<_>>();
            assert_eq!(
                (docs(&a), a.errors.len()),
                (docs(&b), b.errors.len()),
                "{file} line {}",
                i + 1
            );
            compared += a.output.len();
        }
    }
    assert!(compared >= 30, "only {compared} documents compared");
}

/// A rough single-core events/s of the CloudTrail pipelines over the sample events cycled to
/// 20,000: `cargo test -p sluice-transforms --release --test cloudtrail_pipeline -- --ignored
/// --nocapture`. Everything runs in a one-thread pool and output is serialized as `sluice run`
/// does. Two batch sizes: 256, and `sluice run`'s default of 1,024, where a batch's JSON trees
/// no longer fit in the cache between one step and the next (or between a step and the
/// serialization): pipelines that build trees slow down, one that writes text does not. On a
/// shared machine the load comes and goes, so the contenders take turns, five rounds, and each
/// keeps its best; the pool thread's own CPU time (Linux schedstat) is shown next to the wall
/// clock. Bare serde_json parse and serialize of the same events is the yardstick.
/// `ONLY=template` runs only the contenders whose name holds `template` (for a profiler).
#[test]
#[ignore]
fn throughput() {
    let text =
        std::fs::read_to_string(repo("examples/data/cloudtrail/single-events.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let all: Vec<&str> = lines.iter().copied().cycle().take(20_000).collect();
    let avg = all.iter().map(|l| l.len()).sum::<usize>() / all.len();
    println!("{} events of {avg} bytes on average", all.len());

    let bare = |batch: usize| {
        let mut bytes = 0;
        for chunk in all.chunks(batch) {
            let values: Vec<Value> = chunk
                .iter()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            let mut out = Vec::new();
            for v in &values {
                serde_json::to_writer(&mut out, v).unwrap();
                out.push(b'\n');
            }
            bytes += out.len();
        }
        bytes
    };
    let through = |pipeline: &Pipeline, batch: usize| {
        let mut bytes = 0;
        for chunk in all.chunks(batch) {
            let p = run(pipeline, chunk);
            assert!(p.errors.is_empty());
            let mut out = Vec::new();
            for m in &p.output {
                m.write_to(&mut out);
                out.push(b'\n');
            }
            bytes += out.len();
        }
        bytes
    };
    let pipelines: Vec<(&str, Pipeline)> = [
        (
            "object.template (configs/ecs/cloudtrail.jsonnet)",
            load("configs/ecs/cloudtrail.jsonnet"),
        ),
        ("hand-written ecs.cloudtrail", hand_written()),
        (
            "general transforms (configs/examples/cloudtrail_generic.jsonnet)",
            load("configs/examples/cloudtrail_generic.jsonnet"),
        ),
    ]
    .into_iter()
    .map(|(name, config)| (name, build(&config)))
    .collect();

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let only = std::env::var("ONLY").unwrap_or_default();
    let names: Vec<&str> = std::iter::once("bare serde_json parse + serialize")
        .chain(pipelines.iter().map(|(n, _)| *n))
        .collect();
    for batch in [256, 1024] {
        println!("batches of {batch}:");
        // Per contender: the best (wall, CPU) seconds and the bytes written.
        let mut best: Vec<Option<(f64, Option<f64>, usize)>> = vec![None; names.len()];
        for _ in 0..5 {
            for (i, name) in names.iter().enumerate() {
                if !name.contains(only.as_str()) {
                    continue;
                }
                let (wall, cpu, bytes) = one.install(|| {
                    let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
                    let bytes = match i {
                        0 => bare(batch),
                        _ => through(&pipelines[i - 1].1, batch),
                    };
                    let cpu = thread_cpu().zip(cpu).map(|(b, a)| b - a);
                    (wall.elapsed().as_secs_f64(), cpu, bytes)
                });
                if best[i].is_none_or(|(w, _, _)| wall < w) {
                    best[i] = Some((wall, cpu, bytes));
                }
            }
        }
        let rate = |secs: f64| all.len() as f64 / secs;
        for (name, best) in names.iter().zip(best) {
            let Some((wall, cpu, bytes)) = best else {
                continue;
            };
            println!(
                "  {name}: {bytes} bytes out; wall {wall:.3}s = {:.0}/s; thread CPU {}",
                rate(wall),
                cpu.map_or("unknown".into(), |c| format!("{c:.3}s = {:.0}/s", rate(c)))
            );
        }
    }
}

/// This thread's CPU time in seconds, where Linux tells it.
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
