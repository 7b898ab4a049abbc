//! The shipped sshd pipeline (`configs/ecs/sshd.jsonnet`) on the sample data: its config tests
//! pass, every line of `examples/data/sshd/malformed.log` is accounted for as its README says,
//! the whole sample `auth.log` goes through, and (ignored by default) a rough throughput.

use serde_json::Value;
use sluice_core::testing::{output_value, run_tests};
use sluice_core::{Config, Message, Pipeline, Processed, Resources};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn load(path: &str) -> Config {
    Config::load(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn build(config: &Config) -> Pipeline {
    config
        .build(&sluice_transforms::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("the sshd config does not build: {e}"))
}

fn run(pipeline: &Pipeline, lines: &[&str]) -> Processed {
    let batch = lines.iter().map(|l| Message::new(l.as_bytes())).collect();
    futures::executor::block_on(pipeline.process(batch)).expect("run")
}

fn reason(m: &Message) -> String {
    m.meta()["error"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn config_tests_pass() {
    let config = load("configs/ecs/sshd_test.jsonnet");
    assert!(
        config.tests.len() >= 15,
        "only {} tests",
        config.tests.len()
    );
    let reports = futures::executor::block_on(run_tests(
        &config,
        &sluice_transforms::registry(),
        &Resources::default(),
    ));
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}:\n{}", r.name, r.detail))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// What the README of malformed.log says should become of each line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Error,
    /// An sshd event with the header fields but no auth fields.
    PassThrough,
    /// A parsed auth event.
    Parse,
    Skip,
}

#[test]
fn every_malformed_line_is_accounted_for() {
    use Fate::*;
    let expected = [
        Error,
        PassThrough,
        Error,
        Error,
        Error,
        Error,
        Error,
        Error,
        Skip,
        Error,
        Error,
        Error,
        Error,
        Error,
        Parse,
        Parse,
        Error,
        Skip,
        Parse,
        Parse,
        Parse,
        Error,
        Error,
        Error,
    ];
    let text = std::fs::read_to_string(repo("examples/data/sshd/malformed.log")).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    let lines = &lines[..lines.len() - usize::from(text.ends_with('\n'))];
    assert_eq!(lines.len(), 24);

    let pipeline = build(&load("configs/ecs/sshd.jsonnet"));
    let mut outputs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let p = run(&pipeline, &[line]);
        let fate = match (p.output.len(), p.errors.len()) {
            (0, 0) => Skip,
            (0, 1) => Error,
            (1, 0) => {
                let doc = output_value(&p.output[0]);
                assert_eq!(doc["process"]["name"], "sshd", "line {n}: {doc}");
                assert_eq!(doc["event"]["original"], Value::from(*line), "line {n}");
                if doc["event"].get("action").is_some() {
                    Parse
                } else {
                    PassThrough
                }
            }
            other => panic!("line {n} gave {other:?} (output, errors)"),
        };
        assert_eq!(
            fate,
            expected[i],
            "line {n}: {line:?} {:?}",
            p.errors.iter().map(reason).collect::<Vec<_>>()
        );
        if fate == Error {
            let why = reason(&p.errors[0]);
            assert!(!why.is_empty(), "line {n} errored without a reason");
            // The line travels to the error route as it came.
            assert_eq!(p.errors[0].bytes().as_ref(), line.as_bytes(), "line {n}");
        }
        outputs.push(p.output.first().map(output_value));
    }
    let account = pipeline.account();
    assert_eq!(account.totals.input, 24);
    assert_eq!(account.totals.output, 6);
    assert_eq!(account.totals.errored, 16);
    assert_eq!(account.totals.dropped, 2);

    // The attacker-controlled lines that real sshd writes are parsed, and parsed right.
    let at = |n: usize| outputs[n - 1].clone().unwrap();
    assert_eq!(
        at(15)["system"]["auth"]["ssh"]["signature"],
        "ED25519 SHA256:abc"
    );
    assert!(at(16).get("user").is_none() && at(16).get("related").unwrap().get("user").is_none());
    assert_eq!(at(16)["source"]["port"], 41408);
    assert_eq!(at(19)["user"]["name"].as_str().unwrap().len(), 8192);
    assert_eq!(at(20)["user"]["name"], "\u{1b}[31madmin\u{1b}[0m");
    assert_eq!(at(21)["user"]["name"], "x from 10.9.9.9 port 22 ssh2");
    assert_eq!(at(21)["source"]["ip"], "89.160.20.156");
    assert_eq!(at(21)["source"]["port"], 41411);
    assert_eq!(
        at(21)["related"]["ip"],
        serde_json::json!(["89.160.20.156"])
    );
}

#[test]
fn the_sample_auth_log_goes_through() {
    let text = std::fs::read_to_string(repo("examples/data/sshd/auth.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let pipeline = build(&load("configs/ecs/sshd_test.jsonnet"));
    let p = run(&pipeline, &lines);
    assert!(
        p.errors.is_empty(),
        "{:?}",
        p.errors.iter().map(reason).collect::<Vec<_>>()
    );
    assert_eq!(p.output.len(), 40);
    let docs: Vec<Value> = p.output.iter().map(output_value).collect();
    let sshd: Vec<&Value> = docs.iter().filter(|d| d.is_object()).collect();
    let failures = sshd
        .iter()
        .filter(|d| d["event"]["action"] == "ssh_login" && d["event"]["outcome"] == "failure")
        .filter(|d| d["source"]["ip"] == "89.160.20.156")
        .count();
    // The brute force: 8 `Failed password` lines from 89.160.20.156.
    assert_eq!(failures, 8);
    // The 7 lines of other programs (CRON, sudo, systemd, systemd-logind) leave as they came.
    let raw: Vec<&str> = docs.iter().filter_map(Value::as_str).collect();
    assert_eq!(raw.len(), 7, "{raw:?}");
    assert!(raw.iter().all(|l| lines.contains(l)));
    for d in &sshd {
        assert_eq!(d["event"]["kind"], "event");
        assert!(
            d["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-23T06:")
        );
        assert_eq!(d["event"]["hash"].as_str().unwrap().len(), 64);
    }
}

/// A rough single-thread events/s of the whole pipeline, and of its syslog header steps alone,
/// over the sample auth.log repeated:
/// `cargo test -p sluice-transforms --release --test sshd_pipeline -- --ignored --nocapture`.
/// Batches of 256 stay under the engine's parallel threshold, so this is one thread. On a shared
/// machine the thread's own CPU time (Linux schedstat) is a fairer divisor than the wall clock.
#[test]
#[ignore]
fn throughput() {
    let text = std::fs::read_to_string(repo("examples/data/sshd/auth.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let all: Vec<&str> = lines.iter().copied().cycle().take(200_000).collect();
    let full = load("configs/ecs/sshd.jsonnet");
    let mut header = full.clone();
    header.transforms.truncate(3);
    for (name, config) in [
        ("whole sshd pipeline", full),
        ("drop + copy + parse.syslog", header),
    ] {
        let pipeline = build(&config);
        let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
        let mut bytes = 0;
        for chunk in all.chunks(256) {
            let p = run(&pipeline, chunk);
            let mut out = Vec::new();
            for m in &p.output {
                m.write_to(&mut out);
                out.push(b'\n');
            }
            bytes += out.len();
        }
        let wall = wall.elapsed().as_secs_f64();
        let cpu = thread_cpu().zip(cpu).map(|(b, a)| b - a);
        let rate = |secs: f64| all.len() as f64 / secs;
        println!(
            "{name}: {} events, {bytes} bytes out; wall {wall:.2}s = {:.0}/s; thread CPU {}",
            all.len(),
            rate(wall),
            cpu.map_or("unknown".into(), |c| format!("{c:.2}s = {:.0}/s", rate(c)))
        );
    }
}

/// This thread's CPU time in seconds, where Linux tells it.
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
