//! One representative transform per family, each alone after `parse.json`, over 1 KB
//! CloudTrail-like events on one core. The figure is events/s for parse + that transform +
//! serialization; the `parse_json_only` line is the baseline to subtract.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sluice_benches::{event_1k, pipeline, run_batch};

fn families() -> Vec<(&'static str, Value)> {
    vec![
        (
            "parse_json_only",
            json!({"type": "object.insert", "target": "x", "value": 1}),
        ),
        (
            "object.copy",
            json!({"type": "object.copy", "source": "userIdentity.userName", "target": "user.name"}),
        ),
        (
            "string.to_lower",
            json!({"type": "string.to_lower", "source": "eventName", "target": "event.action"}),
        ),
        (
            "hash.sha256",
            json!({"type": "hash.sha256", "source": "eventID", "target": "event.hash"}),
        ),
        (
            "number.add",
            json!({"type": "number.add", "source": "n", "target": "m", "value": 1}),
        ),
        (
            "time.from_string",
            json!({"type": "time.from_string", "source": "eventTime", "format": "rfc3339"}),
        ),
        (
            "array.join",
            json!({"type": "array.join", "source": "list", "target": "joined", "separator": ","}),
        ),
        (
            "format.to_base64",
            json!({"type": "format.to_base64", "source": "eventID", "target": "b64"}),
        ),
        (
            "network.registered_domain",
            json!({"type": "network.registered_domain", "source": "tlsDetails.clientProvidedHostHeader", "target": "domain"}),
        ),
        (
            "meta.switch",
            json!({"type": "meta.switch", "cases": [
                {"when": {"type": "string.eq", "source": "eventName", "value": "RunInstances"}, "transforms": [{"type": "object.insert", "target": "hit", "value": true}]}
            ]}),
        ),
        (
            "utility.sample",
            json!({"type": "utility.sample", "rate": 2}),
        ),
        (
            "aggregate.to_array",
            json!({"type": "aggregate.to_array", "batch": {"count": 100}}),
        ),
        (
            "enrich.kv_get",
            json!({"type": "enrich.kv_get", "source": "eventName", "target": "category", "store": "names"}),
        ),
        (
            "conditions.any",
            json!({"type": "object.insert", "target": "hit", "value": true, "when": {"type": "any", "conditions": [
                {"type": "string.starts_with", "source": "eventName", "value": "Describe"},
                {"type": "number.gt", "source": "n", "value": 5}
            ]}}),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let lines: Vec<String> = (0..4096)
        .map(|i| {
            let mut v: Value = serde_json::from_str(&event_1k(i)).unwrap();
            v["n"] = json!(i);
            v["list"] = json!(["a", "b", "c"]);
            v.to_string()
        })
        .collect();
    let mut group = c.benchmark_group("one_transform_per_family");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    for (name, transform) in families() {
        let p = pipeline(json!({
            "stores": {"names": {"type": "table", "values": {"RunInstances": "compute", "DescribeInstances": "read"}}},
            "transforms": [{"type": "parse.json"}, transform]
        }));
        group.bench_function(name, |b| b.iter(|| one.install(|| run_batch(&p, &lines))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
