//! Config tests: the `tests` a config carries, run against a fresh copy of its pipeline.
//!
//! Each test feeds its input, then a control message (end of input), and compares what comes
//! out with `expect`, as JSON where the output is JSON. A failure shows a line diff of the
//! expected and actual output, the way `vector test` does.

use crate::config::{Config, TestCase};
use crate::message::Message;
use crate::registry::{Registry, Resources};
use serde_json::Value;

/// The outcome of one config test.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub name: String,
    pub passed: bool,
    /// Why it failed: a diff, the error count, or the error that stopped it.
    pub detail: String,
}

/// Runs every test of a config. Each test gets a pipeline of its own, so state never leaks.
pub async fn run_tests(
    config: &Config,
    registry: &Registry,
    resources: &Resources,
) -> Vec<TestReport> {
    let mut reports = Vec::new();
    for case in &config.tests {
        reports.push(run_test(config, case, registry, resources).await);
    }
    reports
}

async fn run_test(
    config: &Config,
    case: &TestCase,
    registry: &Registry,
    resources: &Resources,
) -> TestReport {
    let fail = |detail: String| TestReport {
        name: case.name.clone(),
        passed: false,
        detail,
    };
    let pipeline = match config.build(registry, resources) {
        Ok(p) => p,
        Err(e) => return fail(format!("the config does not build:\n{e}")),
    };
    let input: Vec<Message> = case
        .input
        .iter()
        .map(|v| match v {
            Value::String(s) => Message::new(s.as_bytes()),
            other => Message::new(other.to_string()),
        })
        .collect();
    let mut processed = match pipeline.process(input).await {
        Ok(p) => p,
        Err(e) => return fail(format!("the run stopped: {e}")),
    };
    match pipeline.flush().await {
        Ok(p) => {
            processed.output.extend(p.output);
            processed.errors.extend(p.errors);
        }
        Err(e) => return fail(format!("the run stopped at end of input: {e}")),
    }
    let actual: Vec<Value> = processed.output.iter().map(output_value).collect();
    let mut problems = Vec::new();
    if actual != case.expect {
        problems.push(diff(&case.expect, &actual));
    }
    if processed.errors.len() != case.errors {
        let reasons: Vec<String> = processed
            .errors
            .iter()
            .map(|m| {
                m.meta()
                    .get("error")
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            })
            .collect();
        problems.push(format!(
            "expected {} message(s) on the error route, got {}{}",
            case.errors,
            processed.errors.len(),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(":\n  {}", reasons.join("\n  "))
            }
        ));
    }
    TestReport {
        name: case.name.clone(),
        passed: problems.is_empty(),
        detail: problems.join("\n"),
    }
}

/// An output message as a JSON value when it is JSON, else as a string of its text.
pub fn output_value(message: &Message) -> Value {
    let bytes = message.bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

/// A unified line diff of pretty-printed expected and actual output.
pub fn diff(expected: &[Value], actual: &[Value]) -> String {
    let pretty = |v: &[Value]| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let (e, a) = (pretty(expected), pretty(actual));
    let text = similar::TextDiff::from_lines(&e, &a)
        .unified_diff()
        .context_radius(4)
        .header("expected", "actual")
        .to_string();
    format!("output differs:\n{text}")
}
