//! End-to-end tests of the `sluice` binary: what a user sees on the command line.

// One test binary: the Lambda Runtime API tests live in cli/tests/cli/ as a module.
#[path = "cli/lambda.rs"]
mod lambda;

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sluice() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(repo());
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const PARSE_AND_COPY: &str = r#"{"transforms": [
  {"type": "parse.json"},
  {"type": "object.copy", "source": "eventName", "target": "event.action"}
]}"#;

#[test]
fn non_json_line_goes_to_the_error_route_and_is_counted() {
    let dir = scratch("errroute");
    let config = write(&dir, "c.json", PARSE_AND_COPY);
    let mut cmd = sluice();
    cmd.args(["run", "-c"]).arg(&config).arg("-");
    let out = run_with_stdin(
        cmd,
        b"{\"eventName\":\"A\"}\nnot json at all\n{\"eventName\":\"B\"}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"eventName": "A", "event": {"action": "A"}}),
            json!({"eventName": "B", "event": {"action": "B"}}),
        ]
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("account: 3 in, 2 out, 0 dropped, 1 errored"),
        "{err}"
    );
    let error_line: Value =
        serde_json::from_str(err.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(error_line["data"], "not json at all");
    assert_eq!(
        error_line["error"]["transform"],
        "transforms[0] (parse.json)"
    );
    assert!(
        error_line["error"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("data is not valid JSON")
    );
}

#[test]
fn fail_fast_exits_non_zero() {
    let dir = scratch("failfast");
    let config = write(
        &dir,
        "c.json",
        r#"{"on_error": "fail", "transforms": [{"type": "parse.json"}]}"#,
    );
    let mut cmd = sluice();
    cmd.args(["run", "-c"]).arg(&config);
    let out = run_with_stdin(cmd, b"{}\nnope\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "stopped (on_error: fail): transforms[0] (parse.json): data is not valid JSON"
        )
    );
}

#[test]
fn config_problems_stop_the_run_before_input_is_read() {
    let dir = scratch("badconfig");
    let cases = [
        (
            "unknown-type.json",
            r#"{"transforms": [{"type": "object.cpy", "source": "a", "target": "b"}]}"#,
            "transforms[0]: unknown transform type `object.cpy` (did you mean `object.copy`?)",
        ),
        (
            "unknown-field.json",
            r#"{"transforms": [{"type": "parse.json"}, {"type": "object.copy", "source": "a", "tagret": "b"}]}"#,
            "transforms[1] (object.copy): unknown field `tagret` (did you mean `target`?), expected one of source, target, when, name",
        ),
        (
            "wrong-type.json",
            r#"{"transforms": [{"type": "string.split", "separator": 5}]}"#,
            "transforms[0] (string.split): field `separator`: invalid type: integer `5`, expected a string",
        ),
        (
            "syntax.jsonnet",
            "{ transforms: [ { type: 'parse.json' } }",
            "syntax.jsonnet",
        ),
    ];
    for (name, body, expected) in cases {
        let config = write(&dir, name, body);
        // The input does not exist: a config error must be found before inputs are looked at.
        let out = sluice()
            .args(["run", "-c"])
            .arg(&config)
            .arg("/nonexistent/input.log")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{name}: {err}");
        assert!(err.contains("no input was read"), "{name}: {err}");
        let vet = sluice().arg("vet").arg(&config).output().unwrap();
        assert!(!vet.status.success(), "{name}");
    }
}

#[test]
fn vet_lists_every_problem() {
    let dir = scratch("vetall");
    let config = write(
        &dir,
        "c.json",
        r#"{"transforms": [
        {"type": "nope"}, {"type": "object.copy", "x": 1}, {"type": "string.capture", "pattern": "("}]}"#,
    );
    let out = sluice().arg("vet").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert_eq!(report.lines().count(), 3, "{report}");
    let ok = sluice()
        .arg("vet")
        .arg(write(&dir, "ok.json", PARSE_AND_COPY))
        .output()
        .unwrap();
    assert!(ok.status.success());
}

#[test]
fn empty_input_gives_empty_output_and_a_zero_account() {
    let dir = scratch("empty");
    let config = write(&dir, "c.json", PARSE_AND_COPY);
    let input = write(&dir, "empty.log", "");
    let out = sluice()
        .args(["run", "-c"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("account: 0 in, 0 out, 0 dropped, 0 errored"));
}

#[test]
fn gzip_input_is_read_and_truncated_gzip_is_reported() {
    let dir = scratch("gzip");
    let config = write(&dir, "c.json", PARSE_AND_COPY);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..5000 {
        writeln!(
            gz,
            "{{\"eventName\":\"E{i}\",\"pad\":\"{}\"}}",
            "x".repeat(i % 50)
        )
        .unwrap();
    }
    let bytes = gz.finish().unwrap();
    let whole = dir.join("whole.log.gz");
    std::fs::write(&whole, &bytes).unwrap();
    let out = sluice()
        .args(["run", "-c"])
        .arg(&config)
        .arg(&whole)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 5000);

    // The same file cut in half, with no .gz name: detected by magic bytes, and the cut reported.
    let cut = dir.join("cut.log");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = sluice()
        .args(["run", "-c"])
        .arg(&config)
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("cut.log: truncated input"), "{err}");
}

#[test]
fn a_ten_megabyte_line_is_processed_and_an_oversized_one_refused() {
    let dir = scratch("bigline");
    let config = write(&dir, "c.json", PARSE_AND_COPY);
    let big = format!(
        "{{\"eventName\":\"Big\",\"blob\":\"{}\"}}\n",
        "a".repeat(10 * 1024 * 1024)
    );
    let input = write(&dir, "big.log", &big);
    let out = sluice()
        .args(["run", "-c"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap();
    assert_eq!(doc["event"]["action"], "Big");

    let out = sluice()
        .args(["run", "--max-line-bytes", "1000000", "-c"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 1 is 10485789 bytes, over the 1000000-byte limit"),
        "{err}"
    );
    assert!(
        err.contains("account: 1 in, 0 out, 0 dropped, 1 errored"),
        "{err}"
    );
}

#[test]
fn config_tests_pass_and_fail_with_a_diff() {
    let dir = scratch("configtests");
    let config = write(
        &dir,
        "t.jsonnet",
        r#"
local s = import 'sluice.libsonnet';
s.pipeline(
  [s.parse.json(), s.object.copy('eventName', 'event.action')],
  tests=[
    s.test('copies', [{ eventName: 'A' }], [{ eventName: 'A', event: { action: 'A' } }]),
    s.test('wrong on purpose', [{ eventName: 'A' }], [{ eventName: 'B' }]),
    s.test('bad line errors', ['nope'], [], errors=1),
  ],
)"#,
    );
    let out = sluice().arg("test").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(
        report.contains("ok     ") && report.contains(":: copies"),
        "{report}"
    );
    assert!(
        report.contains("FAILED") && report.contains(":: wrong on purpose"),
        "{report}"
    );
    assert!(report.contains("-    \"eventName\": \"B\""), "{report}");
    assert!(report.contains("2 passed, 1 failed"), "{report}");
}

#[test]
fn build_prints_json() {
    let dir = scratch("build");
    let config = write(
        &dir,
        "b.jsonnet",
        "local s = import 'sluice.libsonnet'; s.pipeline([s.hash.sha256('a', 'h')])",
    );
    let out = sluice().arg("build").arg(&config).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["transforms"][0],
        json!({"type": "hash.sha256", "source": "a", "target": "h"})
    );
}

#[test]
fn generated_docs_and_library_are_up_to_date() {
    let markdown = sluice().args(["list", "--markdown"]).output().unwrap();
    let docs = std::fs::read_to_string(repo().join("docs/transforms.md")).unwrap_or_default();
    assert!(
        docs == text(&markdown.stdout),
        "docs/transforms.md is stale: run `cargo run -p sluice -- list --markdown > docs/transforms.md`"
    );
    let lib = sluice().args(["list", "--libsonnet"]).output().unwrap();
    let file = std::fs::read_to_string(repo().join("configs/sluice.libsonnet")).unwrap_or_default();
    assert!(
        file == text(&lib.stdout),
        "configs/sluice.libsonnet is stale: run `cargo run -p sluice -- list --libsonnet > configs/sluice.libsonnet`"
    );
}

/// Calls every constructor in sluice.libsonnet with placeholder arguments and checks the type.
#[test]
fn every_libsonnet_constructor_evaluates() {
    let list = text(&sluice().arg("list").output().unwrap().stdout);
    let lib = std::fs::read_to_string(repo().join("configs/sluice.libsonnet")).unwrap();
    let mut calls = Vec::new();
    let mut section = "";
    for line in list.lines() {
        if !line.starts_with(' ') {
            section = line;
            continue;
        }
        let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.split_whitespace().next())
        else {
            continue;
        };
        if line.starts_with("      ") {
            continue;
        }
        let prefix = match section {
            s if s.starts_with("Conditions") => "cond.",
            s if s.starts_with("Stores") => "store.",
            _ => "",
        };
        let flat = ["pipeline.", "test.", "when."]
            .iter()
            .any(|h| name.starts_with(h))
            && prefix.is_empty();
        let accessor: String = if flat {
            format!("['{}']", name.replace('.', "_"))
        } else {
            format!("{prefix}{name}")
                .split('.')
                .map(|p| format!("['{p}']"))
                .collect()
        };
        // Count the required positional parameters from the library's own signature.
        let leaf = if flat {
            name.replace('.', "_")
        } else {
            name.rsplit('.').next().unwrap().to_string()
        };
        let sig_line = lib
            .lines()
            .find(|l| {
                l.trim_start().starts_with(&format!("{leaf}("))
                    && l.contains(&format!("type: '{name}'"))
            })
            .unwrap_or_else(|| panic!("no constructor for {name}"));
        let params = sig_line
            .split_once('(')
            .unwrap()
            .1
            .split_once(")::")
            .unwrap()
            .0;
        let required = params
            .split(", ")
            .filter(|p| !p.contains('=') && !p.is_empty())
            .count();
        let args = vec!["'x'"; required].join(", ");
        calls.push(format!(
            "assert s{accessor}({args}).type == '{name}' : '{name}'; true"
        ));
    }
    assert!(calls.len() > 20, "{}", calls.len());
    let dir = scratch("ctors");
    let body = format!(
        "local s = import 'sluice.libsonnet';\n[\n{}\n]\n",
        calls.join(",\n")
    );
    let file = write(&dir, "all.jsonnet", &body);
    let out = sluice().arg("build").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn shipped_example_runs_over_sample_data() {
    let out = sluice()
        .args([
            "run",
            "-q",
            "-c",
            "configs/examples/quickstart.jsonnet",
            "examples/data/quickstart.jsonl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!out.stdout.is_empty());
}
