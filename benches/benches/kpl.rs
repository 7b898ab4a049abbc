//! The KPL codec: aggregation and deaggregation of 1 KB events, in MB/s of event data, next to a
//! bare MD5 over the same bytes (the one pass over the data that aggregation cannot avoid).
//!
//! Before the measurements it prints how many 1 KB events fit in one aggregated record at the
//! 1 MiB limit, with a shared partition key and with a distinct key per event, and how many
//! events one PutRecords call of `send.kinesis` carries, plain and aggregated (its own call
//! planning, `plan_calls`, which `send_kinesis_plan` also times).

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::{Digest, Md5};
use sluice_benches::event_1k;
use sluice_connectors::kpl::{
    Aggregate, Aggregator, DEFAULT_MAX_RECORD_BYTES, GroupedAggregator, Grouping, deaggregate,
};
use sluice_connectors::send_kinesis::{AggregateSettings, plan_calls};
use sluice_core::{Message, Path};
use std::hint::black_box;

const EVENTS: usize = 4096;

/// CloudTrail-like events padded to exactly 1,024 bytes (trailing spaces keep them valid JSON).
fn events() -> Vec<Vec<u8>> {
    (0..EVENTS)
        .map(|i| {
            let mut e = event_1k(i).into_bytes();
            assert!(e.len() <= 1024, "event of {} bytes", e.len());
            e.resize(1024, b' ');
            e
        })
        .collect()
}

/// Sixteen accounts' worth of partition keys.
fn keys() -> Vec<String> {
    (0..EVENTS)
        .map(|i| format!("1234567890{:02}", i % 16))
        .collect()
}

fn aggregate(agg: &mut Aggregator, keys: &[String], events: &[Vec<u8>]) -> Vec<Aggregate> {
    let mut out = Vec::new();
    for (pk, e) in keys.iter().zip(events) {
        out.extend(agg.add(pk, None, e).unwrap());
    }
    out.extend(agg.flush());
    out
}

fn per_aggregate(keys: impl Fn(usize) -> String, events: &[Vec<u8>]) -> usize {
    let mut agg = Aggregator::new(DEFAULT_MAX_RECORD_BYTES);
    for (i, e) in events.iter().cycle().enumerate() {
        if let Some(full) = agg.add(&keys(i), None, e).unwrap() {
            return full.user_records;
        }
    }
    unreachable!()
}

fn kpl(c: &mut Criterion) {
    let events = events();
    let keys = keys();
    let bytes: u64 = events.iter().map(|e| e.len() as u64).sum();

    println!(
        "1 KB events per 1 MiB aggregate: {} with one partition key, {} with a distinct 36-character key each",
        per_aggregate(|_| "123456789012".into(), &events),
        per_aggregate(|i| format!("{:08x}-0000-4000-8000-{:012x}", i, i), &events),
    );

    // One sink batch of the size a call can take when aggregating (4 MiB of events).
    let batch = || -> Vec<Message> {
        events
            .iter()
            .map(|e| Message::new(Bytes::from(e.clone())))
            .collect()
    };
    let aggregated = AggregateSettings {
        max_bytes: DEFAULT_MAX_RECORD_BYTES,
    };
    let by_user = Some(Path::parse("userIdentity.userName"));
    for (what, key, aggregate) in [
        ("plain, random keys", None, None),
        (
            "aggregated, random key per aggregate",
            None,
            Some(&aggregated),
        ),
        ("aggregated, 100 user keys", by_user, Some(&aggregated)),
    ] {
        let (calls, refused) = plan_calls(&mut batch(), &key, aggregate);
        assert!(refused.is_empty());
        let first = &calls[0];
        let events_in_first: usize = first.iter().map(|e| e.messages.len()).sum();
        println!(
            "send.kinesis, 1 KB events, {what}: {events_in_first} events in {} records per PutRecords call",
            first.len()
        );
    }

    let mut group = c.benchmark_group("kpl_1kb");
    group.throughput(Throughput::Bytes(bytes));

    let joined: Vec<u8> = events.concat();
    group.bench_function("md5_only", |b| {
        b.iter(|| {
            for chunk in joined.chunks(DEFAULT_MAX_RECORD_BYTES) {
                black_box(Md5::digest(chunk));
            }
        })
    });

    let mut agg = Aggregator::new(DEFAULT_MAX_RECORD_BYTES);
    group.bench_function("aggregate", |b| {
        b.iter(|| aggregate(&mut agg, &keys, &events))
    });

    group.bench_function("aggregate_grouped_by_key", |b| {
        let mut agg = GroupedAggregator::new(Grouping::PartitionKey, DEFAULT_MAX_RECORD_BYTES);
        b.iter(|| {
            let mut out = Vec::new();
            for (pk, e) in keys.iter().zip(&events) {
                out.extend(agg.add(pk, None, e).unwrap());
            }
            out.extend(agg.flush());
            out
        })
    });

    group.bench_function("send_kinesis_plan", |b| {
        b.iter_batched(
            batch,
            |mut messages| plan_calls(&mut messages, &None, Some(&aggregated)),
            criterion::BatchSize::LargeInput,
        )
    });

    let records: Vec<(String, Bytes)> = aggregate(&mut agg, &keys, &events)
        .into_iter()
        .map(|a| (a.partition_key, Bytes::from(a.data)))
        .collect();
    group.bench_function("deaggregate", |b| {
        b.iter(|| {
            let mut n = 0;
            for (pk, data) in &records {
                n += deaggregate(pk, data.clone()).records.len();
            }
            assert_eq!(n, EVENTS);
        })
    });
    group.finish();
}

criterion_group!(benches, kpl);
criterion_main!(benches);
