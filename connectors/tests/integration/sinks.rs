//! Every AWS sink against moto: what arrives is what was sent, and failures reach the error route.

use crate::moto::{moto, unique};
use crate::{pipeline, reasons, run, sdk};
use serde_json::{Value, json};
use std::io::Read;

fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"id": i, "user": format!("u{}", i % 7), "msg": "x".repeat(i % 50)}).to_string()
        })
        .collect()
}

async fn read_stream(client: &aws_sdk_kinesis::Client, stream: &str) -> Vec<(String, Vec<u8>)> {
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let got = client
                .get_records()
                .shard_iterator(&iterator)
                .limit(10000)
                .send()
                .await
                .unwrap();
            if got.records().is_empty() {
                break;
            }
            for r in got.records() {
                out.push((
                    r.partition_key().unwrap_or_default().to_string(),
                    r.data().as_ref().to_vec(),
                ));
            }
            iterator = got.next_shard_iterator().unwrap().to_string();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn kinesis_receives_every_record_with_its_own_partition_key() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let client = aws_sdk_kinesis::Client::new(&conf);
    let stream = unique("sink");
    client
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [{"type": "send.kinesis", "stream": stream, "partition_key": "user", "batch": {"count": 700}}]
    }));
    let input = lines(1200);
    let processed = run(&p, input.clone()).await;
    assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
    let mut got = read_stream(&client, &stream).await;
    assert_eq!(got.len(), 1200);
    got.sort_by_key(|(_, d)| serde_json::from_slice::<Value>(d).unwrap()["id"].as_u64());
    for (i, (pk, data)) in got.iter().enumerate() {
        assert_eq!(data, input[i].as_bytes());
        assert_eq!(pk, &format!("u{}", i % 7));
    }
    let account = p.account();
    assert!(
        account
            .counters
            .contains(&("transforms[0] (send.kinesis) sent".into(), 1200)),
        "{account}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregated_kinesis_records_carry_every_event_in_few_calls() {
    use sluice_connectors::kpl;
    let conf = sdk(moto()).await;
    let client = aws_sdk_kinesis::Client::new(&conf);
    let stream = unique("kpl-sink");
    client
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let plan = std::sync::Arc::new(crate::faults::Plan::default());
    let endpoint = crate::faults::proxy(plan.clone()).await;
    // 3,000 events of about 1 KB: three aggregates of up to 1 MiB, in one call.
    let input: Vec<String> = (0..3000)
        .map(|i| {
            json!({"id": i, "user": format!("u{}", i % 7), "pad": "x".repeat(1000)}).to_string()
        })
        .collect();
    for key in [None, Some("user")] {
        let mut sink = json!({"type": "send.kinesis", "stream": stream, "aggregate": {}, "batch": {"count": 10000, "bytes": 4_000_000}});
        if let Some(k) = key {
            sink["partition_key"] = json!(k);
        }
        let p = pipeline(json!({
            "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
            "transforms": [sink]
        }));
        let before = plan.count("PutRecords");
        let processed = run(&p, input.clone()).await;
        assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
        assert_eq!(
            plan.count("PutRecords") - before,
            1,
            "one call for 3 MB of events"
        );
        let records = read_stream(&client, &stream).await;
        let aggregates = records.len();
        client
            .delete_stream()
            .stream_name(&stream)
            .send()
            .await
            .ok();
        let mut events = Vec::new();
        let mut inner_keys = std::collections::BTreeSet::new();
        for (pk, data) in records {
            assert!(kpl::is_aggregated(&data));
            let d = kpl::deaggregate(&pk, data);
            for r in d.records {
                inner_keys.insert(r.partition_key.clone());
                if key.is_none() {
                    // Each aggregate's records share its own outer key: same shard.
                    assert_eq!(r.partition_key, pk);
                }
                events.push(String::from_utf8(r.data.to_vec()).unwrap());
            }
        }
        // Shards are read one after the other: put the events back in input order.
        events.sort_by_key(|e| serde_json::from_str::<Value>(e).unwrap()["id"].as_u64());
        assert_eq!(events, input, "every event, once");
        // A random key per aggregate, or one aggregate (at least) per user.
        match key {
            None => assert_eq!(inner_keys.len(), aggregates),
            Some(_) => assert_eq!(inner_keys.len(), 7),
        }
        // Fresh stream for the next round.
        client
            .create_stream()
            .stream_name(&stream)
            .shard_count(2)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_stream_sends_everything_to_the_error_route() {
    let endpoint = moto();
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1", "max_attempts": 1},
        "transforms": [{"type": "send.kinesis", "stream": "no-such-stream", "retry": {"attempts": 2, "initial_delay": "10ms"}}]
    }));
    let processed = run(&p, lines(30)).await;
    assert_eq!(processed.errors.len(), 30);
    assert!(
        reasons(&processed)[0].contains("no-such-stream"),
        "{:?}",
        reasons(&processed)[0]
    );
    assert_eq!(p.account().totals.errored, 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_objects_hold_gzipped_json_lines_under_the_key_template() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bucket");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [{"type": "send.s3", "bucket": bucket, "key": "logs/{key}/%Y/{uuid}.jsonl.gz", "batch_key": "user", "batch": {"count": 100}}]
    }));
    let input = lines(140);
    let processed = run(&p, input.clone()).await;
    assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    let mut got = Vec::new();
    for key in &keys {
        assert!(
            key.starts_with("logs/u") && key.ends_with(".jsonl.gz"),
            "{key}"
        );
        let body = client
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        got.extend(text.lines().map(str::to_string));
    }
    got.sort();
    let mut want = input;
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_and_sns_deliver_every_message() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let queue = sqs
        .create_queue()
        .queue_name(unique("q"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let fanout = sqs
        .create_queue()
        .queue_name(unique("fanout"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let fanout_arn = sqs
        .get_queue_attributes()
        .queue_url(&fanout)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let topic = sns
        .create_topic()
        .name(unique("t"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&fanout_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [
            {"type": "send.sqs", "queue_url": queue, "pass": true},
            {"type": "send.sns", "topic_arn": topic}
        ]
    }));
    let input = lines(25);
    let processed = run(&p, input.clone()).await;
    assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
    for url in [&queue, &fanout] {
        let mut got = Vec::new();
        for _ in 0..10 {
            let r = sqs
                .receive_message()
                .queue_url(url.as_str())
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if r.messages().is_empty() {
                break;
            }
            got.extend(r.messages().iter().map(|m| m.body().unwrap().to_string()));
        }
        got.sort();
        let mut want = input.clone();
        want.sort();
        assert_eq!(got, want, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_sink_writes_items_and_rejects_non_objects() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique("items");
    create_table(
        &ddb,
        &table,
        "id",
        aws_sdk_dynamodb::types::ScalarAttributeType::N,
    )
    .await;
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [{"type": "send.dynamodb", "table": table}]
    }));
    let mut input = lines(60);
    input.push("[1, 2]".into());
    let processed = run(&p, input).await;
    assert_eq!(
        reasons(&processed),
        vec!["a DynamoDB item must be a JSON object"]
    );
    let scan = ddb.scan().table_name(&table).send().await.unwrap();
    assert_eq!(scan.count(), 60);
}

pub async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
    kind: aws_sdk_dynamodb::types::ScalarAttributeType,
) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType};
    ddb.create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(kind)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_store_counts_sets_and_locks_atomically() {
    use sluice_transforms::kv::Store;
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique("state");
    create_table(
        &ddb,
        &table,
        "pk",
        aws_sdk_dynamodb::types::ScalarAttributeType::S,
    )
    .await;
    let config = Config::from_value(
        json!({"aws": {"endpoint_url": endpoint, "region": "us-east-1"}, "stores": {"state": {"type": "dynamodb", "table": table}}}),
        "test",
    )
    .unwrap();
    let mut resources = sluice_core::Resources::default();
    resources.set_section(
        "aws",
        json!({"endpoint_url": endpoint, "region": "us-east-1"}),
    );
    let registry = sluice_connectors::registry();
    let builder = sluice_core::Builder::new(&registry, &resources, &config.pipelines);
    let store = builder
        .store("state", &config.stores["state"])
        .unwrap()
        .downcast::<Store>()
        .ok()
        .unwrap()
        .store
        .clone();
    let ttl = Some(std::time::Duration::from_secs(300));
    // Two workers counting the same key concurrently: the counts interleave, none is lost.
    let (a, b) = tokio::join!(
        async {
            for _ in 0..10 {
                store.increment("fails:1.2.3.4", 1, ttl).await.unwrap();
            }
        },
        async {
            for _ in 0..10 {
                store.increment("fails:1.2.3.4", 1, ttl).await.unwrap();
            }
        }
    );
    let _ = (a, b);
    assert_eq!(store.increment("fails:1.2.3.4", 0, ttl).await.unwrap(), 20);
    assert!(
        store
            .set_if_absent("alert:1.2.3.4", json!(true), ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_if_absent("alert:1.2.3.4", json!(true), ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .add_to_set("asns:alice", json!(29518), ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_to_set("asns:alice", json!(29518), ttl)
            .await
            .unwrap()
    );
    store
        .set("user:alice", json!({"full_name": "Alice Example"}), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("user:alice").await.unwrap(),
        Some(json!({"full_name": "Alice Example"}))
    );
    store.delete("user:alice").await.unwrap();
    assert_eq!(store.get("user:alice").await.unwrap(), None);
}

use sluice_core::Config;
