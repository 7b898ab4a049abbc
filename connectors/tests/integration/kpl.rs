//! The KPL codec against the awslabs Python library `aws_kinesis_agg`, through the helper
//! connectors/tests/interop/kpl_agg.py: what Sluice aggregates, the library deaggregates, and
//! what the library aggregates, Sluice deaggregates, to the same user records.
//!
//! The library reports an explicit hash key for records that have none when the aggregate's
//! table is not empty (it tests the index instead of its presence), so these tests compare its
//! explicit hash keys only for records that have one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sluice_connectors::kpl::{
    Aggregate, Aggregator, DEFAULT_MAX_RECORD_BYTES, RecordKind, deaggregate,
};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A user record: partition key, explicit hash key, data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    pk: String,
    ehk: Option<String>,
    data: Vec<u8>,
}

fn event(pk: &str, ehk: Option<&str>, data: impl Into<Vec<u8>>) -> Event {
    Event {
        pk: pk.into(),
        ehk: ehk.map(str::to_owned),
        data: data.into(),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs kpl_agg.py with `args`, feeding it `input`; returns its JSON output lines.
fn peer(args: &[&str], input: String) -> Vec<Value> {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-test-services to install aws_kinesis_agg (scripts/test does it first)",
        python.display()
    );
    let script = repo().join("connectors/tests/interop/kpl_agg.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let mut stdin = child.stdin.take().unwrap();
    // Write from another thread so that a large input cannot deadlock against the output.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "kpl_agg.py {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn text(v: &Value, field: &str) -> Option<String> {
    v[field].as_str().map(str::to_owned)
}

/// The library aggregates `events`; returns its aggregates as (partition key, data, user records).
fn python_aggregates(events: &[Event]) -> Vec<(String, Vec<u8>, u64)> {
    let input: String = events
        .iter()
        .map(|e| json!({"pk": e.pk, "ehk": e.ehk, "data": B64.encode(&e.data)}).to_string() + "\n")
        .collect();
    peer(&["aggregate"], input)
        .iter()
        .map(|v| {
            (
                text(v, "pk").unwrap(),
                B64.decode(text(v, "data").unwrap()).unwrap(),
                v["n"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The library deaggregates Kinesis records (partition key, data); returns its user records and
/// their sub-sequence numbers and "aggregated" flags.
fn python_deaggregates(records: &[(String, Vec<u8>)]) -> Vec<(Event, Option<u64>, bool)> {
    let input: String = records
        .iter()
        .map(|(pk, data)| json!({"pk": pk, "data": B64.encode(data)}).to_string() + "\n")
        .collect();
    peer(&["deaggregate"], input)
        .iter()
        .map(|v| {
            let e = Event {
                pk: text(v, "pk").unwrap(),
                ehk: text(v, "ehk"),
                data: B64.decode(text(v, "data").unwrap()).unwrap(),
            };
            (e, v["sub"].as_u64(), v["aggregated"].as_bool().unwrap())
        })
        .collect()
}

fn sluice_aggregates(events: &[Event], max_bytes: usize) -> Vec<Aggregate> {
    let mut agg = Aggregator::new(max_bytes);
    let mut out = Vec::new();
    for e in events {
        out.extend(agg.add(&e.pk, e.ehk.as_deref(), &e.data).unwrap());
    }
    out.extend(agg.flush());
    out
}

/// A bit of everything: shared and distinct keys, explicit hash keys, a non-ASCII key, a 256
/// character key, empty, binary, and longer data.
fn events() -> Vec<Event> {
    let ehk = "170141183460469231731687303715884105728";
    let mut events = Vec::new();
    for i in 0..40 {
        let account = format!("1234567890{:02}", i % 3);
        let data =
            json!({"eventName": "ConsoleLogin", "recipientAccountId": account, "n": i}).to_string();
        events.push(event(&account, None, data));
    }
    events.push(event("ключ-🔑", None, "données ✓"));
    events.push(event(
        "pinned",
        Some(ehk),
        "routed by its explicit hash key",
    ));
    events.push(event("pinned-too", Some(ehk), ""));
    events.push(event("zero", Some("0"), "the lowest hash key"));
    events.push(event(
        "max",
        Some("340282366920938463463374607431768211455"),
        "the highest",
    ));
    events.push(event(
        &"k".repeat(256),
        None,
        (0..=255u8).collect::<Vec<_>>(),
    ));
    events.push(event("123456789000", None, vec![b'x'; 300]));
    events.push(event("empty", None, ""));
    events
}

/// Compares the library's user records with what went in; explicit hash keys only where one was
/// given (see the module documentation).
fn assert_same(got: &[(Event, Option<u64>, bool)], want: &[Event]) {
    assert_eq!(got.len(), want.len());
    for (i, ((g, _, aggregated), w)) in got.iter().zip(want).enumerate() {
        assert!(aggregated, "record {i} was not deaggregated");
        assert_eq!((&g.pk, &g.data), (&w.pk, &w.data), "record {i}");
        if w.ehk.is_some() {
            assert_eq!(g.ehk, w.ehk, "record {i}");
        }
    }
}

#[test]
fn what_sluice_aggregates_the_python_library_deaggregates() {
    let events = events();
    let aggregates = sluice_aggregates(&events, DEFAULT_MAX_RECORD_BYTES);
    assert_eq!(aggregates.len(), 1);
    let records: Vec<_> = aggregates
        .iter()
        .map(|a| (a.partition_key.clone(), a.data.clone()))
        .collect();
    let got = python_deaggregates(&records);
    assert_same(&got, &events);
    let subs: Vec<_> = got.iter().map(|(_, sub, _)| sub.unwrap()).collect();
    assert_eq!(subs, (0..events.len() as u64).collect::<Vec<_>>());
}

#[test]
fn what_the_python_library_aggregates_sluice_deaggregates() {
    let events = events();
    let aggregates = python_aggregates(&events);
    assert_eq!(aggregates.len(), 1);
    let (pk, data, n) = &aggregates[0];
    assert_eq!(*n, events.len() as u64);
    let out = deaggregate(pk, data.clone());
    assert_eq!(out.kind, RecordKind::Aggregated);
    // Sluice reads explicit hash keys by presence, so they compare exactly, absent ones too.
    let got: Vec<_> = out
        .records
        .iter()
        .map(|r| {
            event(
                &r.partition_key,
                r.explicit_hash_key.as_deref(),
                r.data.to_vec(),
            )
        })
        .collect();
    assert_eq!(got, events);
    let subs: Vec<_> = out.records.iter().map(|r| r.sub_sequence).collect();
    assert_eq!(subs, (0..events.len() as u64).collect::<Vec<_>>());
}

#[test]
fn sluice_writes_the_same_bytes_as_the_python_library() {
    let events = events();
    let ours = sluice_aggregates(&events, DEFAULT_MAX_RECORD_BYTES);
    let theirs = python_aggregates(&events);
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours[0].partition_key, theirs[0].0);
    assert!(ours[0].data == theirs[0].1, "the aggregates differ");
}

#[test]
fn full_aggregates_at_the_one_mib_limit_both_ways() {
    // 3,000 events of about 1 KB with a few keys: several full aggregates each way.
    let events: Vec<Event> = (0..3000)
        .map(|i| {
            let pk = format!("account-{}", i % 5);
            let mut data = json!({"n": i, "pk": pk}).to_string().into_bytes();
            data.resize(1000 + i % 48, b' ');
            event(&pk, None, data)
        })
        .collect();

    let ours = sluice_aggregates(&events, DEFAULT_MAX_RECORD_BYTES);
    assert!(ours.len() >= 3, "{} aggregates", ours.len());
    for a in &ours {
        assert!(
            a.size() <= DEFAULT_MAX_RECORD_BYTES,
            "an aggregate of {} bytes",
            a.size()
        );
    }
    // Every aggregate but the last is full: the next event would not have fitted.
    for a in &ours[..ours.len() - 1] {
        assert!(
            a.size() + 1000 + 10 > DEFAULT_MAX_RECORD_BYTES,
            "{} bytes",
            a.size()
        );
    }
    let records: Vec<_> = ours
        .iter()
        .map(|a| (a.partition_key.clone(), a.data.clone()))
        .collect();
    assert_same(&python_deaggregates(&records), &events);

    let theirs = python_aggregates(&events);
    assert!(theirs.len() >= 3);
    let mut back = Vec::new();
    for (pk, data, n) in &theirs {
        let out = deaggregate(pk, data.clone());
        assert_eq!(out.kind, RecordKind::Aggregated);
        assert_eq!(out.records.len() as u64, *n);
        back.extend(
            out.records
                .iter()
                .map(|r| event(&r.partition_key, None, r.data.to_vec())),
        );
    }
    assert_eq!(back, events);
}

#[test]
fn records_that_are_not_valid_aggregates_pass_through_in_both() {
    let good = sluice_aggregates(&events()[..3], DEFAULT_MAX_RECORD_BYTES)
        .remove(0)
        .data;
    let mut bad_digest = good.clone();
    *bad_digest.last_mut().unwrap() ^= 0xff;
    let records = vec![
        ("plain".to_string(), br#"{"not":"aggregated"}"#.to_vec()),
        ("corrupt".to_string(), bad_digest),
    ];
    let theirs = python_deaggregates(&records);
    assert_eq!(theirs.len(), 2);
    for ((pk, data), (kind, (e, _, aggregated))) in records.iter().zip(
        [RecordKind::Plain, RecordKind::BadDigest]
            .into_iter()
            .zip(&theirs),
    ) {
        assert!(!aggregated);
        assert_eq!((&e.pk, &e.data), (pk, data));
        let ours = deaggregate(pk, data.clone());
        assert_eq!(ours.kind, kind);
        assert_eq!(ours.records.len(), 1);
        assert_eq!(
            (&ours.records[0].partition_key, &ours.records[0].data[..]),
            (pk, &data[..])
        );
    }
}
