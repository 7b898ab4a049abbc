//! `sluice` run exactly as Lambda runs it: the test serves the Lambda Runtime API on a loopback
//! port, and the real binary, started as `bootstrap` with `AWS_LAMBDA_RUNTIME_API` pointing at
//! it, asks for invocations (`GET .../invocation/next`) and posts its replies
//! (`POST .../invocation/{id}/response` or `/error`), or posts `/init/error` when its config is
//! bad.

use super::{repo, scratch, text, write};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the Runtime API saw.
#[derive(Default)]
struct State {
    events: VecDeque<(String, Value)>,
    responses: Vec<(String, Value)>,
    errors: Vec<(String, Value)>,
    init_error: Option<Value>,
    first_next: Option<Instant>,
}

/// A minimal Lambda Runtime API: HTTP/1.1 with keep-alive, one thread per connection.
struct RuntimeApi {
    address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    fn start(events: Vec<Value>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        state.0.lock().unwrap().events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("request-{i}"), e))
            .collect();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { address, state }
    }

    /// Waits until `done` holds for the state, or panics after `limit`.
    fn wait(&self, limit: Duration, done: impl Fn(&State) -> bool) {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + limit;
        let mut state = lock.lock().unwrap();
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the function did not answer in time");
            state = changed.wait_timeout(state, left).unwrap().0;
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let (lock, changed) = shared;
        let base = "/2018-06-01/runtime";
        if request.method == "GET" && request.path == format!("{base}/invocation/next") {
            let next = {
                let mut state = lock.lock().unwrap();
                state.first_next.get_or_insert_with(Instant::now);
                changed.notify_all();
                state.events.pop_front()
            };
            match next {
                Some((id, event)) => {
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + 60_000;
                    let headers = [
                        ("content-type", "application/json".to_string()),
                        ("lambda-runtime-aws-request-id", id),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        (
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:sluice".to_string(),
                        ),
                        (
                            "lambda-runtime-trace-id",
                            "Root=1-5e1b4151-5ac6c58f3375aa3c7c6b73c9".to_string(),
                        ),
                    ];
                    respond(
                        &mut writer,
                        "200 OK",
                        &headers,
                        event.to_string().as_bytes(),
                    );
                }
                // No more events: hold the long poll, as Lambda does between invocations.
                None => std::thread::sleep(Duration::from_secs(3600)),
            }
            continue;
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        {
            let mut state = lock.lock().unwrap();
            let path = request.path.trim_start_matches(base);
            if path == "/init/error" {
                state.init_error = Some(body);
            } else if let Some(id) = path
                .strip_prefix("/invocation/")
                .and_then(|p| p.strip_suffix("/response"))
            {
                state.responses.push((id.to_string(), body));
            } else if let Some(id) = path
                .strip_prefix("/invocation/")
                .and_then(|p| p.strip_suffix("/error"))
            {
                state.errors.push((id.to_string(), body));
            }
            changed.notify_all();
        }
        respond(
            &mut writer,
            "202 Accepted",
            &[("content-type", "application/json".to_string())],
            br#"{"status":"OK"}"#,
        );
    }
}

fn fixture(name: &str) -> Value {
    let path = repo().join(format!("connectors/tests/fixtures/lambda/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Starts the binary the way Lambda starts a custom runtime: a `bootstrap` with no arguments,
/// in the unpacked package, with the Runtime API's address and the function's settings.
fn bootstrap(dir: &Path, api: &RuntimeApi, config: &str) -> Child {
    let link = dir.join("bootstrap");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sluice"), &link).unwrap();
    Command::new(&link)
        .current_dir(dir)
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "sluice-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sluice-test")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2025/11/23/[$LATEST]0123456789abcdef",
        )
        .env("LAMBDA_TASK_ROOT", dir)
        .env("SLUICE_CONFIG", config)
        .env_remove("SLUICE_HANDLER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> (String, String) {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_binary_serves_invocations_through_the_runtime_api() {
    let dir = scratch("lambda-runtime");
    let out = dir.join("out.jsonl");
    // The config ships as JSON in the package, found relative to LAMBDA_TASK_ROOT.
    write(
        &dir,
        "sluice.json",
        &json!({"transforms": [
            {"type": "parse.json"},
            {"type": "object.copy", "source": "@meta.kinesis.sequence_number", "target": "seq"},
            {"type": "send.file", "path": out.to_str().unwrap()}
        ]})
        .to_string(),
    );
    let api = RuntimeApi::start(vec![
        fixture("kinesis"),
        json!({"user": "carol"}),
        json!({"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]}),
    ]);
    let started = Instant::now();
    let child = bootstrap(&dir, &api, "sluice.json");
    api.wait(Duration::from_secs(60), |s| s.first_next.is_some());
    let ready = api.state.0.lock().unwrap().first_next.unwrap() - started;
    api.wait(Duration::from_secs(60), |s| {
        s.responses.len() + s.errors.len() == 3
    });
    let (stdout, stderr) = stop(child);
    eprintln!("debug build: process start to the first `next` in {ready:?}");

    let state = api.state.0.lock().unwrap();
    // The Kinesis batch: the non-JSON record is the one batch item failure.
    let (id, reply) = &state.responses[0];
    assert_eq!(id, "request-0");
    assert_eq!(
        reply,
        &json!({"batchItemFailures": [{"itemIdentifier": "49590338271490256608559692545261843297582431765386993762"}]})
    );
    // A direct invocation: the output comes back (send.file consumed it, so none).
    assert_eq!(state.responses[1], ("request-1".to_string(), json!([])));
    // A malformed Kinesis event is an invocation error with a type and the field at fault.
    let (id, error) = &state.errors[0];
    assert_eq!(id, "request-2");
    assert_eq!(error["errorType"], "Sluice.BadEvent");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Records[0].kinesis"),
        "{error}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5 + 1, "{lines:?}");
    assert_eq!(lines[5], json!({"user": "carol"}));

    // One init line with its time, and the failed record logged with its origin.
    assert!(stderr.contains("sluice: ready in"), "{stderr}");
    assert!(stderr.contains("\"reason\""), "{stderr}");
    // CloudWatch metrics as EMF lines on stdout: one per invocation and one per transform.
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 3 * 4, "{stdout}");
    assert_eq!(emf[0]["Function"], "sluice-test");
    assert_eq!(emf[0]["Handler"], "kinesis");
    assert_eq!(emf[0]["Records"], 4);
    assert_eq!(emf[0]["BatchItemFailures"], 1);
    assert_eq!(emf[0]["MessagesIn"], 6);
    assert_eq!(emf[1]["Transform"], "transforms[0] (parse.json)");
    assert_eq!(
        (emf[1]["In"].as_u64(), emf[1]["Errored"].as_u64()),
        (Some(6), Some(1))
    );
    assert!(emf[1]["Duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(emf[4]["Handler"], "direct");
    assert_eq!(emf[8]["InvocationErrors"], 1);
}

#[test]
fn a_bad_config_fails_the_init_with_one_clear_line() {
    let dir = scratch("lambda-init");
    write(
        &dir,
        "sluice.json",
        r#"{"transforms": [{"type": "parse.jsn"}]}"#,
    );
    let api = RuntimeApi::start(vec![json!({})]);
    let mut child = bootstrap(&dir, &api, "sluice.json");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the init did not fail"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (_, stderr) = stop(child);
    assert!(!status.success());
    let line = stderr
        .lines()
        .find(|l| l.contains("init failed"))
        .unwrap_or_else(|| panic!("no init line in {stderr}"));
    assert!(
        line.contains("SLUICE_CONFIG=sluice.json") && line.contains("parse.jsn"),
        "{line}"
    );
    let state = api.state.0.lock().unwrap();
    let reported = state.init_error.as_ref().expect("/init/error was posted");
    assert_eq!(reported["errorType"], "Sluice.ConfigError");
    assert!(
        reported["errorMessage"]
            .as_str()
            .unwrap()
            .contains("parse.jsn")
    );
    assert!(state.first_next.is_none(), "no invocation is asked for");
}

#[test]
fn vet_checks_the_lambda_section_too() {
    let dir = scratch("lambda-vet");
    let config = write(
        &dir,
        "c.json",
        r#"{"lambda": {"handler": "kinesis", "batch_sise": 10}, "transforms": [{"type": "nope"}]}"#,
    );
    let out = super::sluice().arg("vet").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert_eq!(report.lines().count(), 2, "{report}");
    assert!(
        report.contains("lambda.batch_sise: unknown field `batch_sise`"),
        "{report}"
    );
    let ok = write(
        &dir,
        "ok.json",
        r#"{"lambda": {"handler": "sqs", "output": "none"}, "transforms": []}"#,
    );
    let out = super::sluice().arg("vet").arg(&ok).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
}
