//! Detection with its state in DynamoDB (moto): workers that share a table count together and
//! alert once; a store that fails sends the events to the error route.

use crate::moto::{moto, unique};
use crate::sinks::create_table;
use crate::{pipeline, reasons, sdk};
use serde_json::{Value, json};
use sluice_core::{Message, Pipeline};

/// A failed ssh login from `ip` at `secs` seconds past 2026-11-23T06:00:00Z.
fn failure(ip: &str, secs: u32, id: usize) -> String {
    json!({
        "@timestamp": format!("2026-11-23T06:{:02}:{:02}Z", secs / 60, secs % 60),
        "event": {"id": format!("e{id}"), "action": "ssh_login", "outcome": "failure"},
        "source": {"ip": ip},
    })
    .to_string()
}

async fn table(endpoint: &str) -> String {
    let conf = sdk(endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique("detect");
    create_table(
        &ddb,
        &table,
        "pk",
        aws_sdk_dynamodb::types::ScalarAttributeType::S,
    )
    .await;
    table
}

/// The DynamoDB store, with its own `aws` settings: stores are built before the config's
/// shared `aws` section is visible to them.
fn store(endpoint: &str, table: &str) -> Value {
    json!({
        "type": "dynamodb",
        "table": table,
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
    })
}

fn threshold_config(endpoint: &str, table: &str, extra: Value) -> Value {
    let mut detector = json!({
        "type": "detect.threshold",
        "rule": {"name": "ssh_bruteforce"},
        "key": "source.ip",
        "threshold": 5,
        "window": "5m",
        "store": "state",
        "pass_events": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        detector[k] = v.clone();
    }
    json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "stores": {"state": store(endpoint, table)},
        "transforms": [detector],
    })
}

/// Deals lines to two workers in turn.
fn deal(lines: Vec<String>) -> (Vec<String>, Vec<String>) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, l) in lines.into_iter().enumerate() {
        if i % 2 == 0 {
            first.push(l);
        } else {
            second.push(l);
        }
    }
    (first, second)
}

/// Runs events through a pipeline a few at a time (so two workers interleave), then flushes;
/// returns the alerts.
async fn worker(p: &Pipeline, events: Vec<String>) -> Vec<Value> {
    let mut alerts = Vec::new();
    for chunk in events.chunks(3) {
        let batch = chunk.iter().map(|l| Message::new(l.as_bytes())).collect();
        let out = p.process(batch).await.expect("run");
        assert!(out.errors.is_empty(), "{:?}", reasons(&out));
        alerts.extend(out.output.iter().map(sluice_core::testing::output_value));
    }
    let out = p.flush().await.expect("flush");
    alerts.extend(out.output.iter().map(sluice_core::testing::output_value));
    alerts
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_sharing_a_dynamodb_store_alert_once_per_attacker() {
    let endpoint = moto();
    let table = table(endpoint).await;
    // Three attackers: six failures (three per worker: neither reaches five alone), ten (five
    // per worker: both reach five, one alert), and five in the next window. Noise: 40
    // addresses failing twice.
    let mut events = Vec::new();
    for i in 0..6 {
        events.push(("203.0.113.1", 10 + i * 7));
    }
    for i in 0..10 {
        events.push(("203.0.113.2", 20 + i * 5));
    }
    for i in 0..5 {
        events.push(("203.0.113.3", 310 + i * 3));
    }
    let noise: Vec<String> = (0..40).map(|i| format!("198.51.100.{i}")).collect();
    for (i, ip) in noise.iter().enumerate() {
        events.push((ip.as_str(), 5 + i as u32));
        events.push((ip.as_str(), 200 + i as u32));
    }
    events.sort_by_key(|(_, t)| *t);
    let lines: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, (ip, t))| failure(ip, *t, i))
        .collect();
    let (first, second) = deal(lines);
    let a = pipeline(threshold_config(endpoint, &table, json!({})));
    let b = pipeline(threshold_config(endpoint, &table, json!({})));
    let (from_a, from_b) = tokio::join!(worker(&a, first), worker(&b, second));
    let mut alerted: Vec<(String, String)> = from_a
        .iter()
        .chain(&from_b)
        .map(|v| {
            assert_eq!(v["event"]["kind"], "alert");
            (
                v["source"]["ip"].as_str().unwrap().to_string(),
                v["event"]["start"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    alerted.sort();
    assert_eq!(
        alerted,
        vec![
            ("203.0.113.1".into(), "2026-11-23T06:00:00Z".into()),
            ("203.0.113.2".into(), "2026-11-23T06:00:00Z".into()),
            ("203.0.113.3".into(), "2026-11-23T06:05:00Z".into()),
        ]
    );
    // Both workers counted into the same items.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(endpoint).await);
    let item = ddb
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "ssh_bruteforce:n:203.0.113.1:1795413600000".into(),
            ),
        )
        .send()
        .await
        .unwrap();
    let count = item.item().unwrap()["value"].as_n().unwrap().clone();
    assert_eq!(count, "6");
}

#[tokio::test(flavor = "multi_thread")]
async fn sliding_windows_and_first_seen_share_state_too() {
    let endpoint = moto();
    let table = table(endpoint).await;
    // Four failures before 06:05 and four after: a 5m window sliding by 1m sees them together.
    let lines: Vec<String> = (0..8)
        .map(|i| failure("203.0.113.9", 280 + i * 5, i as usize))
        .collect();
    let (first, second) = deal(lines);
    let config = threshold_config(endpoint, &table, json!({"step": "1m"}));
    let a = pipeline(config.clone());
    let b = pipeline(config);
    let (from_a, from_b) = tokio::join!(worker(&a, first), worker(&b, second));
    let alerts: Vec<&Value> = from_a.iter().chain(&from_b).collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["detection"]["step"], "1m");

    // first_seen: two workers see alice from a new ASN; one alert.
    let login = |asn: u64, i: u32| {
        json!({"@timestamp": format!("2026-11-23T06:00:{i:02}Z"), "user": {"name": "alice"}, "source": {"as": {"number": asn}}})
            .to_string()
    };
    let config = json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "stores": {"state": store(endpoint, &table)},
        "transforms": [{
            "type": "detect.first_seen", "rule": {"name": "new_asn"}, "key": "user.name",
            "value": "source.as.number", "store": "state", "pass_events": false,
        }],
    });
    let a = pipeline(config.clone());
    let b = pipeline(config);
    let (from_a, from_b) = tokio::join!(
        worker(&a, vec![login(64500, 1), login(64501, 3)]),
        worker(&b, vec![login(64500, 2), login(64501, 4)])
    );
    let mut asns: Vec<u64> = from_a
        .iter()
        .chain(&from_b)
        .map(|v| v["source"]["as"]["number"].as_u64().unwrap())
        .collect();
    asns.sort();
    assert_eq!(asns, vec![64500, 64501]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_fails_routes_the_events_or_skips_them() {
    let endpoint = moto();
    let events: Vec<Message> = (0..3)
        .map(|i| Message::new(failure("203.0.113.1", i, i as usize)))
        .collect();
    let mut config = threshold_config(endpoint, "no-such-table", json!({}));
    let p = pipeline(config.clone());
    let out = p.process(events).await.unwrap();
    let r = reasons(&out);
    assert_eq!(r.len(), 3);
    assert!(
        r[0].contains("the event was not counted") && r[0].contains("no-such-table"),
        "{r:?}"
    );
    config["transforms"][0]["on_error"] = json!("skip");
    config["transforms"][0]["pass_events"] = json!(true);
    let p = pipeline(config);
    let events: Vec<Message> = (0..3)
        .map(|i| Message::new(failure("203.0.113.1", i, i as usize)))
        .collect();
    let out = p.process(events).await.unwrap();
    assert!(out.errors.is_empty());
    assert_eq!(out.output.len(), 3);
    assert!(p.account().counters.contains(&(
        "transforms[0] (detect.threshold) store errors skipped".into(),
        3
    )));
}
