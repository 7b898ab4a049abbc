//! Enrichment from DynamoDB: a batch's keys read with BatchGetItem (composite keys, whole items,
//! unprocessed keys asked again, a cache in front), a missing table and throttling reaching the
//! error route or skipped as `on_error` says, and the shipped console sign-in pipeline with its
//! user directory in DynamoDB and reverse DNS from a real DNS server on a loopback port.

use crate::faults::{Plan, proxy};
use crate::moto::{moto, unique};
use crate::{pipeline, reasons, run, sdk};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use serde_json::{Value, json};
use sluice_connectors::dynamodb_item::to_item;
use sluice_core::testing::output_value;
use sluice_core::{Config, Message, Resources};
use sluice_transforms::dns_test_server::Zones;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

/// A table keyed by `partition` (and `sort` when given), holding `items`.
async fn table(partition: &str, sort: Option<&str>, items: Vec<Value>) -> String {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(moto()).await);
    let name = unique("users");
    let mut create = ddb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, kind) in [(Some(partition), KeyType::Hash), (sort, KeyType::Range)] {
        let Some(attribute) = attribute else { continue };
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attribute)
                    .key_type(kind)
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.unwrap();
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(item.as_object().unwrap())))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        ddb.batch_write_item()
            .request_items(&name, writes)
            .send()
            .await
            .unwrap();
    }
    name
}

/// A lookup of `key` in a DynamoDB store reached through `endpoint`.
fn lookup_config(endpoint: &str, store: Value, on_error: &str) -> Value {
    json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1", "max_attempts": 1},
        "stores": {"directory": store},
        "transforms": [{"type": "enrich.kv_get", "source": "key", "target": "user",
                        "store": "directory", "on_error": on_error}],
    })
}

fn lines(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    keys.into_iter()
        .map(|k| json!({"key": k}).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_reads_its_distinct_keys_with_batch_get_item() {
    // 150 users in two organisations; the key is `org|user` (partition and sort key).
    let users: Vec<Value> = (0..150)
        .map(|i| json!({"org": format!("org{}", i % 2), "user": format!("u{i}"), "full_name": format!("User {i}"), "roles": ["dev"]}))
        .collect();
    let name = table("org", Some("user"), users).await;
    let plan = Arc::new(Plan {
        unprocessed_calls: AtomicU32::new(1),
        ..Plan::default()
    });
    let endpoint = proxy(plan.clone()).await;
    let store = json!({"type": "dynamodb", "table": name, "key_attribute": "org",
        "sort_key_attribute": "user", "sort_key_separator": "|", "whole_item": true,
        "cache": {"capacity": 1000, "ttl": "10m"}});
    let p = pipeline(lookup_config(&endpoint, store, "route"));
    // 160 distinct keys (10 unknown), each asked twice, and one key without a sort key.
    let keys: Vec<String> = (0..160).map(|i| format!("org{}|u{i}", i % 2)).collect();
    let mut input = lines(keys.iter().chain(&keys).cloned());
    input.push(json!({"key": "no-separator"}).to_string());
    // An empty sort key would make DynamoDB refuse the whole call: it fails alone.
    input.push(json!({"key": "org0|"}).to_string());
    let out = run(&p, input).await;

    // 160 keys: calls of 100 and 60; the first left half its keys unprocessed, asked again.
    assert_eq!(plan.count("BatchGetItem"), 3, "{:?}", plan.seen.lock());
    assert_eq!(plan.count("GetItem"), 0);
    assert_eq!(out.output.len(), 320);
    for m in &out.output {
        let v = output_value(m);
        let i: usize = v["key"].as_str().unwrap()[6..].parse().unwrap();
        if i < 150 {
            // The whole item without its key attributes.
            assert_eq!(
                v["user"],
                json!({"full_name": format!("User {i}"), "roles": ["dev"]})
            );
        } else {
            assert!(v.get("user").is_none(), "unknown users are left alone");
        }
    }
    assert_eq!(
        reasons(&out),
        [
            "store `stores.directory (dynamodb)`: the key `no-separator` has no `|` between partition and sort key",
            "store `stores.directory (dynamodb)`: the key `org0|` has an empty sort key",
        ]
    );

    // The same keys again: answered by the cache, hits and misses (remembered) alike.
    let again = run(&p, lines(keys.iter().cloned())).await;
    assert_eq!(again.output.len(), 160);
    assert_eq!(plan.count("BatchGetItem"), 3);
    let counters = p.account().counters;
    let hits = counters
        .iter()
        .find(|(n, _)| n == "stores.directory (cache) hits")
        .map(|(_, v)| *v);
    assert_eq!(hits, Some(160), "{counters:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_and_throttling_follow_on_error() {
    let keys = || lines((0..5).map(|i| format!("u{i}")));
    // A table that does not exist: every message to the error route, saying so.
    let store = json!({"type": "dynamodb", "table": unique("missing"), "key_attribute": "user"});
    let p = pipeline(lookup_config(moto(), store.clone(), "route"));
    let out = run(&p, keys()).await;
    assert!(out.output.is_empty());
    let why = reasons(&out);
    assert_eq!(why.len(), 5);
    assert!(
        why.iter()
            .all(|r| r.contains("BatchGetItem") && r.contains("ResourceNotFoundException")),
        "{why:?}"
    );
    let account = p.account();
    assert_eq!((account.totals.input, account.totals.errored), (5, 5));

    // Throttled on every call: with `skip`, the messages pass without the field and say why.
    let name = table("user", None, vec![json!({"user": "u1", "value": "x"})]).await;
    let plan = Arc::new(Plan {
        refuse: Some((
            "BatchGetItem",
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        )),
        ..Plan::default()
    });
    let endpoint = proxy(plan.clone()).await;
    let store = json!({"type": "dynamodb", "table": name, "key_attribute": "user"});
    let p = pipeline(lookup_config(&endpoint, store, "skip"));
    let out = run(&p, keys()).await;
    assert!(out.errors.is_empty());
    assert_eq!(out.output.len(), 5);
    for m in &out.output {
        assert!(output_value(m).get("user").is_none());
        let noted = m.meta()["enrich_errors"].to_string();
        assert!(noted.contains("ProvisionedThroughputExceeded"), "{noted}");
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread")]
async fn console_sign_ins_with_users_from_dynamodb_and_reverse_dns() {
    let users: Vec<Value> = std::fs::read_to_string(repo().join("examples/data/users.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let name = table("user", None, users).await;
    let dns = Zones::new()
        .ptr(
            "81.2.69.160".parse().unwrap(),
            "office-gw.london.example.net",
        )
        .serve()
        .await;
    // The shipped config with its user directory in DynamoDB (moto) and a nameserver; the
    // MaxMind databases by absolute path, as the test does not run from the repository root.
    let dir = std::env::temp_dir().join(unique("sluice-console"));
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("with_dynamodb.jsonnet");
    let mmdb = repo().join("testdata/mmdb");
    std::fs::write(
        &wrapper,
        format!(
            "(import '{config}') + {{
               nameservers:: ['{dns}'],
               aws: {{ endpoint_url: '{moto}', region: 'us-east-1' }},
               users_store:: {{ type: 'dynamodb', table: '{name}', key_attribute: 'user',
                                whole_item: true, cache: {{ capacity: 1000, ttl: '10m' }} }},
               stores+: {{ asn+: {{ path: '{mmdb}/GeoLite2-ASN-Test.mmdb' }},
                           city+: {{ path: '{mmdb}/GeoLite2-City-Test.mmdb' }} }},
             }}",
            config = repo()
                .join("configs/enrich/console_login.jsonnet")
                .display(),
            dns = dns.nameserver(),
            moto = moto(),
            mmdb = mmdb.display(),
        ),
    )
    .unwrap();
    let config = Config::load(&wrapper).unwrap_or_else(|e| panic!("{e}"));
    let pipeline = config
        .build(&sluice_connectors::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(repo().join("examples/data/cloudtrail/single-events.jsonl"))
        .unwrap();
    let batch: Vec<Message> = text.lines().map(|l| Message::new(l.as_bytes())).collect();
    let total = batch.len() as u64;
    let p = pipeline.process(batch).await.unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let out: Vec<Value> = p.output.iter().map(output_value).collect();
    assert_eq!(out.len(), 2, "two console sign-ins in the sample");
    // alice from London: her directory entry and a PTR record; bob from Linköping: his entry,
    // his ASN, and no PTR record (NXDOMAIN), so no domain.
    assert_eq!(
        out[0]["user"],
        json!({"name": "alice", "full_name": "Alice Lindqvist", "roles": ["admin", "security-auditor"]})
    );
    assert_eq!(
        out[0]["source"]["domain"],
        json!("office-gw.london.example.net")
    );
    assert_eq!(out[0]["source"]["geo"]["city_name"], json!("London"));
    assert_eq!(out[1]["user"]["full_name"], json!("Bob Okafor"));
    assert_eq!(out[1]["source"]["as"]["number"], json!(29518));
    assert_eq!(
        out[1]["source"]["as"]["organization"]["name"],
        json!("Bredband2 AB")
    );
    assert!(out[1]["source"].get("domain").is_none());
    let account = pipeline.account();
    assert_eq!(account.totals.input, total);
    assert_eq!(account.totals.dropped, total - 2);
    assert!(
        account
            .counters
            .iter()
            .any(|(n, v)| n == "stores.users (cache) misses" && *v == 2),
        "{:?}",
        account.counters
    );
    std::fs::remove_dir_all(dir).unwrap();
    dns.stop().await;
}

/// Lookups and sends nested in a switch run only for the messages of their case, in order,
/// and the account counts each nested step.
#[tokio::test(flavor = "multi_thread")]
async fn a_switch_case_looks_up_and_sends_only_its_own_messages() {
    let endpoint = moto();
    let sqs = aws_sdk_sqs::Client::new(&sdk(endpoint).await);
    let queue = sqs
        .create_queue()
        .queue_name(unique("alerts"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dns = Zones::new()
        .ptr("192.0.2.7".parse().unwrap(), "scanner.example.net")
        .serve()
        .await;
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [{"type": "meta.switch", "cases": [{
            "when": {"type": "string.eq", "source": "outcome", "value": "failure"},
            "transforms": [
                {"type": "enrich.dns", "source": "ip", "target": "domain",
                 "nameservers": [dns.nameserver()], "on_error": "skip"},
                {"type": "send.sqs", "queue_url": queue, "pass": true}
            ]
        }]}]
    }));
    let input: Vec<String> = (0..30)
        .map(|i| {
            let outcome = if i % 3 == 0 { "failure" } else { "success" };
            json!({"n": i, "ip": "192.0.2.7", "outcome": outcome}).to_string()
        })
        .collect();
    let processed = run(&p, input).await;
    assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
    let out: Vec<Value> = processed.output.iter().map(output_value).collect();
    let numbers: Vec<u64> = out.iter().map(|v| v["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..30).collect::<Vec<_>>(), "order is kept");
    for v in &out {
        let failed = v["outcome"] == "failure";
        assert_eq!(v.get("domain").is_some(), failed, "{v}");
    }
    let mut sent = Vec::new();
    for _ in 0..10 {
        let r = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            break;
        }
        sent.extend(r.messages().iter().map(|m| m.body().unwrap().to_string()));
    }
    assert_eq!(sent.len(), 10, "only the failures were sent");
    assert!(sent.iter().all(|b| b.contains("scanner.example.net")));
    let account = p.account();
    let counts: Vec<(String, u64, u64)> = account
        .steps
        .iter()
        .map(|(l, c)| (l.clone(), c.input, c.output))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("transforms[0] (meta.switch)".to_string(), 30, 30),
            (
                "transforms[0] (meta.switch).cases[0].transforms[0] (enrich.dns)".to_string(),
                10,
                10
            ),
            (
                "transforms[0] (meta.switch).cases[0].transforms[1] (send.sqs)".to_string(),
                10,
                10
            ),
        ]
    );
    dns.stop().await;
}
