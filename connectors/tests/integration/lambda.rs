//! The Lambda handlers, each called through its real handler function with an event shaped
//! exactly like AWS's (tests/fixtures/lambda/), checking the reply and what reached moto's
//! S3, Kinesis and SQS (or a local file, for sources that need no AWS service).

use crate::moto::{moto, unique};
use crate::sdk;
use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sluice_connectors::lambda::{
    Function, Handler, LambdaError, direct, dynamodb_streams, firehose, http, kinesis, s3, sns, sqs,
};
use std::io::Write;
use std::path::PathBuf;

/// A fixture with the placeholder bucket name replaced (also inside nested JSON strings).
fn fixture(name: &str, bucket: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lambda")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text.replace("example-bucket", bucket)).unwrap()
}

/// A function with the metric lines and the output on stdout turned off (test output stays
/// readable); the handler tests call the handler functions themselves.
fn function(mut config: Value) -> Function {
    config["lambda"]["output"] = json!("none");
    config["lambda"]["metrics_namespace"] = json!("");
    Function::from_value(config).unwrap_or_else(|e| panic!("config does not build: {e}"))
}

fn scratch_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.jsonl", unique(name)));
    let _ = std::fs::remove_file(&path);
    path
}

fn file_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn failures(reply: &Value) -> Vec<String> {
    reply["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {reply}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

fn s3_client(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

async fn queue(client: &aws_sdk_sqs::Client) -> String {
    client
        .create_queue()
        .queue_name(unique("lambda"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn receive_all(client: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut got = Vec::new();
    for _ in 0..20 {
        let r = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            break;
        }
        for m in r.messages() {
            got.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
    got
}

const KINESIS_SEQ: [&str; 4] = [
    "49590338271490256608559692538361571095921575989136588898",
    "49590338271490256608559692540925702759324208523137515618",
    "49590338271490256608559692545261843297582431765386993762",
    "49590338271490256608559692551364385437325112468419629154",
];

#[tokio::test(flavor = "multi_thread")]
async fn kinesis_deaggregates_and_reports_the_failed_records_sequence_number() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let client = aws_sdk_kinesis::Client::new(&conf);
    let stream = unique("lambda-out");
    client
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let f = function(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [
            {"type": "parse.json"},
            {"type": "object.copy", "source": "@meta.kinesis.sequence_number", "target": "seq"},
            {"type": "object.copy", "source": "@meta.kinesis.sub_sequence_number", "target": "sub"},
            {"type": "object.copy", "source": "@meta.kinesis.partition_key", "target": "pk"},
            {"type": "object.copy", "source": "@meta.kinesis.stream", "target": "stream"},
            {"type": "send.kinesis", "stream": stream, "partition_key": "pk"}
        ]
    }));
    let reply = kinesis::handle(&f, fixture("kinesis", "-")).await.unwrap();
    // Record 2 is not JSON: only its sequence number comes back; the KPL aggregate's three
    // user records and the records around it all went through.
    assert_eq!(
        reply,
        json!({"batchItemFailures": [{"itemIdentifier": KINESIS_SEQ[2]}]})
    );

    let shard = client
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    let iterator = client
        .get_shard_iterator()
        .stream_name(&stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let got = client
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let records: Vec<(String, Value)> = got
        .records()
        .iter()
        .map(|r| {
            (
                r.partition_key().unwrap_or_default().to_string(),
                serde_json::from_slice(r.data().as_ref()).unwrap(),
            )
        })
        .collect();
    let want = |data: Value, seq: usize, sub: u64, pk: &str| {
        let mut d = data;
        d["seq"] = json!(KINESIS_SEQ[seq]);
        d["sub"] = json!(sub);
        d["pk"] = json!(pk);
        d["stream"] = json!("security-events");
        (pk.to_string(), d)
    };
    assert_eq!(
        records,
        vec![
            want(json!({"user": "alice", "action": "login"}), 0, 0, "alice"),
            want(json!({"a": 1}), 1, 0, "pk-a"),
            want(json!({"b": 2}), 1, 1, "pk-b"),
            want(json!({"c": 3}), 1, 2, "pk-c"),
            want(json!({"user": "bob", "action": "logout"}), 3, 0, "bob"),
        ]
    );
}

#[tokio::test]
async fn a_failed_user_record_fails_its_aggregate_once_and_the_pipeline_is_reused() {
    let out = scratch_file("kinesis-agg");
    let f = function(json!({
        "transforms": [
            {"type": "parse.json"},
            {"type": "utility.err", "message": "b is refused", "when": {"type": "exists", "source": "b"}},
            {"type": "utility.err", "message": "c is refused", "when": {"type": "exists", "source": "c"}},
            {"type": "send.file", "path": out.to_str().unwrap()}
        ]
    }));
    let reply = kinesis::handle(&f, fixture("kinesis", "-")).await.unwrap();
    // Two user records of the aggregate and the non-JSON record failed: two sequence numbers,
    // lowest first, each once.
    assert_eq!(failures(&reply), vec![KINESIS_SEQ[1], KINESIS_SEQ[2]]);
    assert_eq!(file_lines(&out).len(), 3, "alice, a and bob");
    // The same built pipeline serves the next invocation; its account keeps adding up.
    kinesis::handle(&f, fixture("kinesis", "-")).await.unwrap();
    assert_eq!(file_lines(&out).len(), 6);
    let totals = f.pipeline().account().totals;
    assert_eq!((totals.input, totals.errored), (12, 6));
    let _ = std::fs::remove_file(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_reports_failed_message_ids_and_fifo_keeps_order() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let client = aws_sdk_sqs::Client::new(&conf);
    let url = queue(&client).await;
    let f = function(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "transforms": [
            {"type": "parse.json"},
            {"type": "object.copy", "source": "@meta.sqs.message_id", "target": "id"},
            {"type": "object.copy", "source": "@meta.sqs.message_attributes.source", "target": "via"},
            {"type": "object.copy", "source": "@meta.sqs.attributes.ApproximateReceiveCount", "target": "receives"},
            {"type": "send.sqs", "queue_url": url}
        ]
    }));
    let event = fixture("sqs", "-");
    let reply = sqs::handle(&f, event.clone()).await.unwrap();
    assert_eq!(
        failures(&reply),
        vec!["2e1424d4-f796-459a-8184-9c92662be6da"]
    );
    let mut got = receive_all(&client, &url).await;
    got.sort_by_key(|v| v["user"].as_str().map(str::to_string));
    assert_eq!(
        got,
        vec![
            json!({"user": "alice", "action": "login", "id": "059f36b4-87a3-44ab-83d2-661975830a7d", "via": "vpn", "receives": "1"}),
            json!({"user": "bob", "action": "logout", "id": "8a0e6d2c-4c5b-4f3a-9a1e-0b6f0f3c2d11", "receives": "1"}),
        ]
    );

    // On a FIFO queue, the message after the failure is reported too, so it cannot overtake.
    let mut fifo = event;
    for r in fifo["Records"].as_array_mut().unwrap() {
        r["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:sluice-input.fifo");
    }
    let reply = sqs::handle(&f, fifo).await.unwrap();
    assert_eq!(
        failures(&reply),
        vec![
            "2e1424d4-f796-459a-8184-9c92662be6da",
            "8a0e6d2c-4c5b-4f3a-9a1e-0b6f0f3c2d11"
        ]
    );
}

#[tokio::test]
async fn sns_messages_go_through_and_a_failure_fails_the_invocation() {
    let out = scratch_file("sns");
    let config = |refuse: bool| {
        let mut transforms = vec![
            json!({"type": "parse.json"}),
            json!({"type": "object.copy", "source": "@meta.sns.subject", "target": "subject"}),
            json!({"type": "object.copy", "source": "@meta.sns.message_attributes.severity", "target": "severity"}),
        ];
        if refuse {
            transforms.push(json!({"type": "utility.err", "message": "refused"}));
        }
        transforms.push(json!({"type": "send.file", "path": out.to_str().unwrap()}));
        json!({ "transforms": transforms })
    };
    let f = function(config(false));
    let reply = sns::handle(&f, fixture("sns", "-")).await.unwrap();
    assert_eq!(reply, json!({"notifications": 1, "output": 0}));
    assert_eq!(
        file_lines(&out),
        vec![json!({"user": "alice", "action": "login", "subject": "login", "severity": "high"})]
    );
    let f = function(config(true));
    match sns::handle(&f, fixture("sns", "-")).await {
        Err(LambdaError::Failed(reason)) => {
            assert!(
                reason.contains("95df01b4-ee98-5cb9-9903-4c221d41eb5e"),
                "{reason}"
            )
        }
        other => panic!("expected a failed invocation, got {other:?}"),
    }
    let _ = std::fs::remove_file(&out);
}

/// A bucket holding the objects the S3 fixtures name, and a queue that receives every line.
struct S3Setup {
    bucket: String,
    queue: String,
    sqs: aws_sdk_sqs::Client,
    function: Function,
}

async fn s3_setup(objects: &[(&str, &[u8])]) -> S3Setup {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let s3 = s3_client(&conf);
    let bucket = unique("lambda-in");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, body) in objects {
        s3.put_object()
            .bucket(&bucket)
            .key(*key)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue = queue(&sqs).await;
    let function = function(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1"},
        "lambda": {"batch_size": 2},
        "transforms": [
            {"type": "parse.json"},
            {"type": "object.copy", "source": "@meta.s3.key", "target": "key"},
            {"type": "send.sqs", "queue_url": queue}
        ]
    }));
    S3Setup {
        bucket,
        queue,
        sqs,
        function,
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn keys_of(got: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = got
        .iter()
        .map(|v| format!("{} {}", v["key"].as_str().unwrap(), v["n"]))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_notifications_read_each_created_object_with_the_s3_source() {
    let flow = gzip("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    let setup = s3_setup(&[("logs/2025/11/23/vpc flow.log.gz", &flow)]).await;
    let reply = s3::handle(&setup.function, fixture("s3", &setup.bucket))
        .await
        .unwrap();
    // The key arrives URL-encoded (`vpc+flow`); the removal is skipped.
    assert_eq!(reply, json!({"objects": 1, "lines": 3, "output": 0}));
    let got = receive_all(&setup.sqs, &setup.queue).await;
    assert_eq!(
        keys_of(&got),
        vec![
            "logs/2025/11/23/vpc flow.log.gz 1",
            "logs/2025/11/23/vpc flow.log.gz 2",
            "logs/2025/11/23/vpc flow.log.gz 3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_through_sqs_reports_the_messages_whose_objects_failed() {
    let setup = s3_setup(&[
        ("logs/a.log", b"{\"n\":1}\n{\"n\":2}\n"),
        ("logs/b.log", b"{\"n\":3}\nnot json\n"),
    ])
    .await;
    let reply = s3::handle(&setup.function, fixture("s3_sqs", &setup.bucket))
        .await
        .unwrap();
    // a.log (raw S3 notification) is fine; b.log (inside an SNS envelope) has a bad line;
    // missing.log does not exist; the s3:TestEvent names no object.
    assert_eq!(
        failures(&reply),
        vec![
            "1f7e8f2a-5b7b-4d7e-8e0a-2b1d3c4e5f60",
            "3b9c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d"
        ]
    );
    let got = receive_all(&setup.sqs, &setup.queue).await;
    assert_eq!(
        keys_of(&got),
        vec!["logs/a.log 1", "logs/a.log 2", "logs/b.log 3"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_through_sns_eventbridge_and_a_distributed_map() {
    let setup = s3_setup(&[
        ("logs/2025/11/23/app=one.log", b"{\"n\":1}\n"),
        ("logs/eventbridge one.log", b"{\"n\":2}\n"),
        ("logs/a.log", b"{\"n\":3}\n"),
        ("logs/b.log", b"{\"n\":4}\n{\"n\":5}\n"),
    ])
    .await;
    let f = &setup.function;
    let reply = s3::handle(f, fixture("s3_sns", &setup.bucket))
        .await
        .unwrap();
    assert_eq!(reply["objects"], 1);
    let reply = s3::handle(f, fixture("s3_eventbridge", &setup.bucket))
        .await
        .unwrap();
    assert_eq!(reply["objects"], 1);
    // The distributed map batch reaches the handler through the auto-detection too.
    let batch = fixture("s3_map_batch", &setup.bucket);
    assert_eq!(Handler::detect(&batch), Handler::S3);
    let reply = s3::handle(f, batch).await.unwrap();
    assert_eq!(reply, json!({"objects": 2, "lines": 3, "output": 0}));
    let got = receive_all(&setup.sqs, &setup.queue).await;
    assert_eq!(
        keys_of(&got),
        vec![
            "logs/2025/11/23/app=one.log 1",
            "logs/a.log 3",
            "logs/b.log 4",
            "logs/b.log 5",
            "logs/eventbridge one.log 2"
        ]
    );
    // A missing object fails a direct invocation, naming the object.
    let mut missing = fixture("s3_eventbridge", &setup.bucket);
    missing["detail"]["object"]["key"] = json!("logs/nope.log");
    match s3::handle(f, missing).await {
        Err(LambdaError::Failed(reason)) => assert!(reason.contains("logs/nope.log"), "{reason}"),
        other => panic!("expected a failed invocation, got {other:?}"),
    }
}

#[tokio::test]
async fn firehose_records_are_ok_dropped_or_processing_failed() {
    let f = function(json!({
        "transforms": [
            {"type": "parse.json"},
            {"type": "utility.drop", "when": {"type": "string.eq", "source": "user", "value": "healthcheck"}},
            {"type": "object.copy", "source": "user", "target": "@meta.firehose.partition_keys.user"},
            {"type": "object.copy", "source": "@meta.firehose.source.shard", "target": "shard"}
        ]
    }));
    let event = fixture("firehose", "-");
    let reply = firehose::handle(&f, event.clone()).await.unwrap();
    let records = reply["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    let decode = |r: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    for (reply, record) in records.iter().zip(event["records"].as_array().unwrap()) {
        assert_eq!(reply["recordId"], record["recordId"]);
    }
    assert_eq!(records[0]["result"], "Ok");
    assert_eq!(
        decode(&records[0]),
        "{\"user\":\"alice\",\"action\":\"login\"}\n"
    );
    assert_eq!(
        records[0]["metadata"]["partitionKeys"],
        json!({"user": "alice"})
    );
    assert_eq!(records[1]["result"], "ProcessingFailed");
    assert_eq!(decode(&records[1]), "not json at all");
    assert_eq!(records[2]["result"], "Dropped");
    assert_eq!(records[3]["result"], "Ok");
    let bob = decode(&records[3]);
    assert!(bob.ends_with('\n'), "{bob:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&bob).unwrap(),
        json!({"user": "bob", "action": "logout", "shard": "shardId-000000000003"})
    );
}

#[tokio::test]
async fn http_requests_get_the_output_back() {
    let f = function(json!({
        "transforms": [
            {"type": "parse.json"},
            {"type": "object.copy", "source": "@meta.http.source_ip", "target": "client"}
        ]
    }));
    let reply = http::handle(&f, fixture("apigw_rest", "-")).await.unwrap();
    assert_eq!(reply["statusCode"], 200);
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"output": [
            {"user": "alice", "action": "login", "client": "203.0.113.10"},
            {"user": "bob", "action": "logout", "client": "203.0.113.10"}
        ], "errors": []})
    );
    // A function URL with a base64 body of two lines, one of which is not JSON.
    let reply = http::handle(&f, fixture("function_url", "-"))
        .await
        .unwrap();
    assert_eq!(reply["statusCode"], 422);
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["output"],
        json!([{"user": "alice", "action": "login", "client": "203.0.113.10"}])
    );
    assert_eq!(body["errors"][0]["data"], "not json at all");
    assert_eq!(body["errors"][0]["transform"], "transforms[0] (parse.json)");
    let mut bad = fixture("function_url", "-");
    bad["body"] = json!("%%%");
    let reply = http::handle(&f, bad).await.unwrap();
    assert_eq!(reply["statusCode"], 400);
}

#[tokio::test]
async fn dynamodb_stream_changes_become_messages() {
    let out = scratch_file("ddb");
    let f = function(json!({
        "transforms": [
            {"type": "utility.err", "message": "deletions are refused", "when": {"type": "string.eq", "source": "operation", "value": "REMOVE"}},
            {"type": "send.file", "path": out.to_str().unwrap()}
        ]
    }));
    let reply = dynamodb_streams::handle(&f, fixture("dynamodb_streams", "-"))
        .await
        .unwrap();
    assert_eq!(
        reply,
        json!({"batchItemFailures": [{"itemIdentifier": "333"}]})
    );
    let got = file_lines(&out);
    assert_eq!(
        got[0],
        json!({"operation": "INSERT", "table": "users", "time": "2025-11-23T00:00:00Z",
               "keys": {"id": "u1"}, "old": null,
               "new": {"id": "u1", "role": "reader", "logins": 18446744073709551615u64, "groups": ["dev", "ops"]}})
    );
    assert_eq!(got[1]["old"]["role"], "reader");
    assert_eq!(got[1]["new"]["role"], "admin");
    assert_eq!(got.len(), 2);
    let _ = std::fs::remove_file(&out);
}

#[tokio::test]
async fn direct_invocations_return_the_output_or_fail_with_the_reason() {
    let f = function(json!({
        "transforms": [
            {"type": "object.copy", "source": "user", "target": "user_name"},
            {"type": "utility.err", "message": "no user", "when": {"type": "string.eq", "source": "user", "value": ""}}
        ]
    }));
    let event = fixture("direct", "-");
    let reply = direct::handle(&f, event.clone()).await.unwrap();
    let mut want = event;
    want["user_name"] = json!("alice");
    assert_eq!(reply, json!([want]));
    match direct::handle(&f, json!({"user": ""})).await {
        Err(e @ LambdaError::Failed(_)) => {
            assert!(e.to_string().contains("no user"), "{e}");
            let d: lambda_runtime::Diagnostic = e.into();
            assert_eq!(d.error_type, "Sluice.RecordsFailed");
        }
        other => panic!("expected a failed invocation, got {other:?}"),
    }
}

#[tokio::test]
async fn invoke_picks_the_handler_by_shape_and_refuses_a_wrong_shape() {
    let out = scratch_file("auto");
    let f = function(json!({
        "transforms": [{"type": "parse.json"}, {"type": "send.file", "path": out.to_str().unwrap()}]
    }));
    let reply = f.invoke(fixture("sqs", "-"), "req-1").await.unwrap();
    assert_eq!(failures(&reply).len(), 1);
    let reply = f.invoke(fixture("kinesis", "-"), "req-2").await.unwrap();
    assert_eq!(failures(&reply), vec![KINESIS_SEQ[2]]);
    assert_eq!(file_lines(&out).len(), 2 + 5);
    // A handler fixed to Kinesis refuses an SQS event, naming what did not fit.
    let f = f.with_handler(Handler::Kinesis);
    match f.invoke(fixture("sqs", "-"), "req-3").await {
        Err(e @ LambdaError::BadEvent { .. }) => {
            assert!(e.to_string().contains("not a Kinesis event"), "{e}");
            assert!(e.to_string().contains("Records[0]"), "{e}");
        }
        other => panic!("expected a bad event, got {other:?}"),
    }
    let _ = std::fs::remove_file(&out);
}

#[tokio::test]
async fn on_error_fail_fails_the_invocation() {
    let f = function(json!({"on_error": "fail", "transforms": [{"type": "parse.json"}]}));
    match kinesis::handle(&f, fixture("kinesis", "-")).await {
        Err(e @ LambdaError::Stopped(_)) => {
            assert!(e.to_string().contains("parse.json"), "{e}")
        }
        other => panic!("expected a stopped pipeline, got {other:?}"),
    }
}
