//! `send.http` against a small OpenSearch stand-in on 127.0.0.1 that checks the bulk format and
//! refuses some documents, and secrets from AWS Secrets Manager (moto) in its headers.

use crate::moto::{moto, unique};
use crate::{pipeline, reasons, run, sdk};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the server saw: its headers (lower-cased names) and body.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Answer = Box<dyn Fn(usize, &Seen) -> (u16, String) + Send + Sync>;

/// Answers each request with `answer(n, request)` (n counts from 0) and keeps what it saw.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn read(s: &mut TcpStream) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some(Seen {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

async fn serve(answer: Answer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (seen, answer) = (kept.clone(), answer.clone());
            tokio::spawn(async move {
                while let Some(request) = read(&mut s).await {
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(request.clone());
                        seen.len() - 1
                    };
                    let (status, body) = answer(n, &request);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { url, seen }
}

/// The bulk API's answer to `body`: 201 for each document, except a mapping error for those
/// with `"bad": true`, and a 429 for those with `"busy": true` on the first request.
fn opensearch(n: usize, request: &Seen) -> (u16, String) {
    let lines: Vec<Value> = request
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("every bulk line is JSON"))
        .collect();
    assert_eq!(lines.len() % 2, 0, "action and document lines in pairs");
    let items: Vec<Value> = lines
        .chunks(2)
        .map(|pair| {
            let (action, doc) = (&pair[0], &pair[1]);
            let (verb, meta) = action.as_object().unwrap().iter().next().unwrap();
            let status = if doc["bad"] == json!(true) {
                json!({"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [bad]"}})
            } else if doc["busy"] == json!(true) && n == 0 {
                json!({"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}})
            } else {
                json!({"status": 201, "result": "created"})
            };
            let mut item = meta.clone();
            item.as_object_mut()
                .unwrap()
                .extend(status.as_object().unwrap().clone());
            json!({ verb: item })
        })
        .collect();
    let errors = items
        .iter()
        .any(|i| i.as_object().unwrap().values().next().unwrap()["status"] != json!(201));
    (
        200,
        json!({"took": 3, "errors": errors, "items": items}).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn opensearch_bulk_sends_actions_and_routes_refused_documents() {
    let server = serve(Box::new(opensearch)).await;
    let p = pipeline(json!({
        "transforms": [{
            "type": "send.http",
            "url": format!("{}/_bulk", server.url),
            "format": "bulk",
            "index": "logs-${event.dataset}-%Y.%m.%d",
            "id": "event.id",
            "retry": {"initial_delay": "10ms"},
        }]
    }));
    let input: Vec<String> = (0..20)
        .map(|i| {
            let mut doc = json!({"@timestamp": "2026-11-24T03:00:00Z", "event": {"id": format!("e{i}"), "dataset": "aws.cloudtrail"}});
            if i % 10 == 3 {
                doc["bad"] = json!(true);
            }
            if i % 10 == 5 {
                doc["busy"] = json!(true);
            }
            doc.to_string()
        })
        .collect();
    let mut input = input;
    input.push(json!({"no": "id"}).to_string());
    input.push("[1, 2]".to_string());
    // A `%` in a field's value is kept as it is (only the template's own text is strftime).
    input.push(
        json!({"@timestamp": "2026-11-24T03:00:00Z", "event": {"id": "pct", "dataset": "50%"}})
            .to_string(),
    );
    // Pretty-printed text is sent as one line.
    input.push("{\n  \"@timestamp\": \"2026-11-24T03:00:00Z\",\n  \"event\": {\"id\": \"pretty\", \"dataset\": \"x\"}\n}".to_string());
    let out = run(&p, input).await;

    // Two requests: the batch, then the two busy documents again.
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, "/_bulk");
    assert_eq!(seen[0].header("content-type"), Some("application/x-ndjson"));
    let first: Vec<Value> = seen[0]
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(first.len(), 44, "22 documents with their actions");
    assert_eq!(
        first[0],
        json!({"index": {"_index": "logs-aws.cloudtrail-2026.11.24", "_id": "e0"}})
    );
    assert_eq!(
        first[40],
        json!({"index": {"_index": "logs-50%-2026.11.24", "_id": "pct"}})
    );
    assert_eq!(first[43]["event"]["id"], json!("pretty"));
    assert_eq!(seen[1].body.lines().count(), 4);
    assert!(seen[1].body.contains("\"_id\":\"e5\"") && seen[1].body.contains("\"_id\":\"e15\""));

    // Every message accounted for: 20 indexed (18 at once, 2 on retry), 4 on the error route.
    let mut why = reasons(&out);
    why.sort();
    assert_eq!(
        why,
        [
            "OpenSearch refused the document (400 mapper_parsing_exception): failed to parse field [bad]",
            "OpenSearch refused the document (400 mapper_parsing_exception): failed to parse field [bad]",
            "a bulk document must be a JSON object",
            "the document lacks a field that the index template `logs-${event.dataset}-%Y.%m.%d` names",
        ]
    );
    let counters = p.account().counters;
    assert!(
        counters.contains(&("transforms[0] (send.http) sent".into(), 20)),
        "{counters:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_retry_a_server_error_and_use_a_secret_from_secrets_manager() {
    let conf = sdk(moto()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let name = unique("collector");
    sm.create_secret()
        .name(&name)
        .secret_string(json!({"user": "sluice", "token": "t0ps3cret"}).to_string())
        .send()
        .await
        .unwrap();
    // The first request fails with a 503; the retry succeeds.
    let server = serve(Box::new(|n, _| match n {
        0 => (503, "busy".into()),
        _ => (200, "{}".into()),
    }))
    .await;
    let p = pipeline(json!({
        "aws": {"endpoint_url": moto(), "region": "us-east-1"},
        "stores": {"collector": {"type": "secret", "secrets_manager": name, "key": "token", "refresh": "1s"}},
        "transforms": [{
            "type": "send.http",
            "url": format!("{}/ingest", server.url),
            "headers": {"Authorization": "Bearer ${SECRET:collector}"},
            "retry": {"initial_delay": "10ms"},
        }]
    }));
    let input: Vec<String> = (0..5).map(|i| json!({"n": i}).to_string()).collect();
    let out = run(&p, input.clone()).await;
    assert!(out.errors.is_empty(), "{:?}", reasons(&out));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, input.join("\n") + "\n");
    assert_eq!(seen[1].header("authorization"), Some("Bearer t0ps3cret"));

    // Rotated: after `refresh`, the next batches carry the new value.
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(json!({"user": "sluice", "token": "r0tated"}).to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The first batch after `refresh` starts the fetch in the background and still carries the
    // old value; later ones carry the new value once it has arrived (however slow moto is).
    let started = std::time::Instant::now();
    let header = loop {
        run(&p, input.clone()).await;
        let last = server.seen.lock().unwrap().last().cloned().unwrap();
        let header = last.header("authorization").map(str::to_string);
        if header.as_deref() == Some("Bearer r0tated") || started.elapsed().as_secs() > 20 {
            break header;
        }
        assert_eq!(header.as_deref(), Some("Bearer t0ps3cret"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(header.as_deref(), Some("Bearer r0tated"));
}

#[test]
fn a_missing_secret_fails_the_config_without_showing_any_value() {
    let registry = sluice_connectors::registry();
    for (store, expect) in [
        (
            json!({"type": "secret", "secrets_manager": "no-such-secret"}),
            "GetSecretValue of `no-such-secret` failed",
        ),
        (
            json!({"type": "secret"}),
            "field `env`: say where the secret is",
        ),
        (
            json!({"type": "secret", "env": "PATH", "secrets_manager": "x"}),
            "give either `env` or `secrets_manager`",
        ),
    ] {
        let config = sluice_core::Config::from_value(
            json!({"aws": {"endpoint_url": moto(), "region": "us-east-1"}, "stores": {"s": store}}),
            "test",
        )
        .unwrap();
        crate::moto::env();
        let err = config
            .build(&registry, &sluice_core::Resources::default())
            .err()
            .expect("the config must fail")
            .to_string();
        assert!(
            err.contains("stores.s (secret)") && err.contains(expect),
            "{err}"
        );
    }
}
