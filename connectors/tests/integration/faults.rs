//! Throttling and partial failures, injected by a small proxy between Sluice and moto.
//!
//! moto never throttles, so the proxy plays AWS at its worst: whole Kinesis calls refused with
//! ProvisionedThroughputExceededException, single records refused inside calls that succeed,
//! any call of a named API refused, DynamoDB BatchGetItem leaving keys unprocessed. Refused
//! records are not forwarded, so every record reaches the stream at most once and the test can
//! count exactly: delivered + errored = sent. The proxy also records every API called.

use crate::moto::{moto, unique};
use crate::{pipeline, reasons, run, sdk};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does.
#[derive(Default)]
pub struct Plan {
    /// Refuse this many whole PutRecords calls first.
    pub throttle_calls: AtomicU32,
    /// On this many of the following PutRecords calls, refuse every third record.
    pub partial_calls: AtomicU32,
    /// Always refuse records whose data contains this text.
    pub poison: Option<&'static str>,
    /// PutRecords calls seen.
    pub calls: AtomicU32,
    /// Refuse every call of the API whose target ends with the first text, with the error type
    /// in the second (e.g. `("BatchGetItem", "ProvisionedThroughputExceededException")`).
    pub refuse: Option<(&'static str, &'static str)>,
    /// On this many BatchGetItem calls, forward only the first half of the keys and answer the
    /// rest as UnprocessedKeys.
    pub unprocessed_calls: AtomicU32,
    /// Every call's API (the end of its X-Amz-Target), in order.
    pub seen: Mutex<Vec<String>>,
}

impl Plan {
    /// How many calls of this API the proxy saw.
    pub fn count(&self, api: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|a| *a == api)
            .count()
    }
}

const JSON_REPLY: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0";
const REFUSED: &str = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1";

/// A BatchGetItem whose second half of keys comes back unprocessed.
async fn half_processed(upstream: &str, head: &str, body: &[u8]) -> Vec<u8> {
    let mut request: Value = serde_json::from_slice(body).unwrap();
    let mut unprocessed = json!({});
    for (table, ask) in request["RequestItems"].as_object_mut().unwrap() {
        let keys = ask["Keys"].as_array_mut().unwrap();
        let rest = keys.split_off(keys.len().div_ceil(2));
        unprocessed[table] = json!({"Keys": rest});
    }
    let (_, b) = forward(upstream, head, &serde_json::to_vec(&request).unwrap()).await;
    let mut reply: Value = serde_json::from_slice(&b).unwrap();
    reply["UnprocessedKeys"] = unprocessed;
    reply.to_string().into_bytes()
}

async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
        .map(|l| l[name.len() + 1..].trim())
}

fn with_length(head: &str, len: usize) -> String {
    let mut out: Vec<String> = head
        .trim_end()
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length:")
                && !l.starts_with("connection:")
                && !l.starts_with("x-amz-crc32:")
        })
        .map(str::to_string)
        .collect();
    out.push(format!("Content-Length: {len}"));
    out.join("\r\n") + "\r\n"
}

async fn forward(upstream: &str, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let addr = upstream.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = with_length(head, body.len()) + "Connection: close\r\n\r\n";
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    (head, response[split + 4..].to_vec())
}

async fn respond(s: &mut TcpStream, status_and_headers: &str, body: &[u8]) {
    let head = with_length(status_and_headers, body.len()) + "\r\n";
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
}

async fn serve(mut s: TcpStream, upstream: String, plan: Arc<Plan>) {
    while let Some((head, body)) = read_request(&mut s).await {
        let api = header(&head, "x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_string();
        plan.seen.lock().unwrap().push(api.clone());
        if let Some((_, error)) = plan.refuse.filter(|(target, _)| api == *target) {
            let error = json!({"__type": error, "message": "refused by the test proxy"});
            respond(&mut s, REFUSED, error.to_string().as_bytes()).await;
            continue;
        }
        if api == "BatchGetItem" && plan.unprocessed_calls.load(SeqCst) > 0 {
            plan.unprocessed_calls.fetch_sub(1, SeqCst);
            let reply = half_processed(&upstream, &head, &body).await;
            respond(&mut s, JSON_REPLY, &reply).await;
            continue;
        }
        if api != "PutRecords" {
            let (h, b) = forward(&upstream, &head, &body).await;
            respond(&mut s, &h, &b).await;
            continue;
        }
        plan.calls.fetch_add(1, SeqCst);
        if plan.throttle_calls.load(SeqCst) > 0 {
            plan.throttle_calls.fetch_sub(1, SeqCst);
            let error = json!({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded for stream (injected)"});
            respond(&mut s, REFUSED, error.to_string().as_bytes()).await;
            continue;
        }
        let mut request: Value = serde_json::from_slice(&body).unwrap();
        let records = request["Records"].as_array().cloned().unwrap_or_default();
        let partial = plan.partial_calls.load(SeqCst) > 0;
        if partial {
            plan.partial_calls.fetch_sub(1, SeqCst);
        }
        let refuse: Vec<Option<&str>> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap();
                if plan
                    .poison
                    .is_some_and(|p| String::from_utf8_lossy(&data).contains(p))
                {
                    Some("InternalFailure")
                } else if partial && i % 3 == 0 {
                    Some("ProvisionedThroughputExceededException")
                } else {
                    None
                }
            })
            .collect();
        request["Records"] = Value::Array(
            records
                .iter()
                .zip(&refuse)
                .filter(|(_, r)| r.is_none())
                .map(|(r, _)| r.clone())
                .collect(),
        );
        let forwarded = serde_json::to_vec(&request).unwrap();
        let (h, b) = if request["Records"].as_array().is_some_and(|r| r.is_empty()) {
            (
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1".to_string(),
                br#"{"FailedRecordCount":0,"Records":[]}"#.to_vec(),
            )
        } else {
            forward(&upstream, &head, &forwarded).await
        };
        let upstream_reply: Value = serde_json::from_slice(&b).unwrap();
        let mut ok = upstream_reply["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let merged: Vec<Value> = refuse
            .iter()
            .map(|r| match r {
                Some(code) => {
                    json!({"ErrorCode": code, "ErrorMessage": "injected by the test proxy"})
                }
                None => ok.next().unwrap(),
            })
            .collect();
        let failed = refuse.iter().filter(|r| r.is_some()).count();
        let reply =
            json!({"FailedRecordCount": failed, "Records": merged, "EncryptionType": "NONE"});
        respond(&mut s, &h, reply.to_string().as_bytes()).await;
    }
}

/// A proxy in front of moto that follows `plan`; its endpoint.
pub async fn proxy(plan: Arc<Plan>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let upstream = moto().to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, upstream.clone(), plan.clone()));
        }
    });
    endpoint
}

async fn count_records(stream: &str) -> Vec<Value> {
    let conf = sdk(moto()).await;
    let client = aws_sdk_kinesis::Client::new(&conf);
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let it = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let got = client
            .get_records()
            .shard_iterator(it)
            .limit(10000)
            .send()
            .await
            .unwrap();
        out.extend(
            got.records()
                .iter()
                .map(|r| serde_json::from_slice(r.data().as_ref()).unwrap()),
        );
    }
    out
}

async fn stream_with_proxy(plan: Plan) -> (String, String) {
    let conf = sdk(moto()).await;
    let stream = unique("faults");
    aws_sdk_kinesis::Client::new(&conf)
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    (stream, proxy(Arc::new(plan)).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_partial_failures_are_retried_until_everything_arrives_once() {
    let (stream, endpoint) = stream_with_proxy(Plan {
        throttle_calls: AtomicU32::new(2),
        partial_calls: AtomicU32::new(2),
        ..Plan::default()
    })
    .await;
    let p = pipeline(json!({
        // One SDK attempt per call: the sink's own backoff does the retrying here.
        "aws": {"endpoint_url": endpoint, "region": "us-east-1", "max_attempts": 1},
        "transforms": [{"type": "send.kinesis", "stream": stream, "retry": {"attempts": 6, "initial_delay": "10ms", "max_delay": "50ms"}}]
    }));
    let input: Vec<String> = (0..300).map(|i| json!({"id": i}).to_string()).collect();
    let processed = run(&p, input).await;
    assert!(processed.errors.is_empty(), "{:?}", reasons(&processed));
    let mut ids: Vec<u64> = count_records(&stream)
        .await
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        (0..300).collect::<Vec<_>>(),
        "every record exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn records_that_keep_failing_reach_the_error_route_and_the_rest_arrive() {
    let (stream, endpoint) = stream_with_proxy(Plan {
        poison: Some("poison"),
        ..Plan::default()
    })
    .await;
    let p = pipeline(json!({
        "aws": {"endpoint_url": endpoint, "region": "us-east-1", "max_attempts": 1},
        "transforms": [{"type": "send.kinesis", "stream": stream, "retry": {"attempts": 3, "initial_delay": "10ms"}}]
    }));
    let input: Vec<String> = (0..100)
        .map(|i| json!({"id": i, "tag": if i % 10 == 0 { "poison" } else { "ok" }}).to_string())
        .collect();
    let processed = run(&p, input).await;
    let why = reasons(&processed);
    assert_eq!(why.len(), 10);
    assert!(
        why[0].contains("InternalFailure") && why[0].contains("gave up after 3 attempts"),
        "{}",
        why[0]
    );
    assert_eq!(count_records(&stream).await.len(), 90);
    let account = p.account();
    assert_eq!(account.totals.input, 100);
    assert_eq!(account.totals.errored, 10);
    assert!(
        account
            .counters
            .contains(&("transforms[0] (send.kinesis) sent".into(), 90)),
        "{account}"
    );
}
