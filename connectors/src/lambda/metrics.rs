//! CloudWatch metrics as Embedded Metric Format (EMF) log lines, written at the end of each
//! invocation. CloudWatch Logs turns them into metrics; the function makes no API call.
//!
//! One line for the invocation (dimension `Function`: records, batch item failures, messages
//! in, out, dropped and errored, duration, failed invocations) and one per transform (dimensions
//! `Function` and `Transform`, the step's place in the config such as `transforms[2]
//! (parse.json)`: in, out, dropped, errored and the time spent in it). The counts are this
//! invocation's, the difference between the pipeline's account before and after.

use serde_json::{Value, json};
use sluice_core::{Account, Counts};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one invocation did, besides the pipeline's own counts.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub function: &'a str,
    pub handler: &'a str,
    pub request_id: &'a str,
    /// Records in the event (Kinesis records, SQS messages, S3 objects...).
    pub records: u64,
    /// Records reported back as failed (batch item failures, `ProcessingFailed`).
    pub failures: u64,
    /// The invocation returned an error.
    pub failed: bool,
    pub duration: Duration,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn metric_names(names: &[(&str, &str)]) -> Vec<Value> {
    names
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect()
}

/// The EMF documents for one invocation, one per line.
pub fn lines(
    namespace: &str,
    invocation: &Invocation,
    before: &Account,
    after: &Account,
) -> Vec<Value> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let totals = after.totals.since(&before.totals);
    let mut lines = vec![json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Function"]],
                "Metrics": metric_names(&[
                    ("Records", "Count"),
                    ("BatchItemFailures", "Count"),
                    ("MessagesIn", "Count"),
                    ("MessagesOut", "Count"),
                    ("MessagesDropped", "Count"),
                    ("MessagesErrored", "Count"),
                    ("InvocationErrors", "Count"),
                    ("InvocationDuration", "Milliseconds"),
                ]),
            }],
        },
        "Function": invocation.function,
        "Handler": invocation.handler,
        "RequestId": invocation.request_id,
        "Records": invocation.records,
        "BatchItemFailures": invocation.failures,
        "MessagesIn": totals.input,
        "MessagesOut": totals.output,
        "MessagesDropped": totals.dropped,
        "MessagesErrored": totals.errored,
        "InvocationErrors": u64::from(invocation.failed),
        "InvocationDuration": millis(invocation.duration),
    })];
    let zero = Counts::default();
    for (i, (location, now)) in after.steps.iter().enumerate() {
        let then = before
            .steps
            .get(i)
            .filter(|(l, _)| l == location)
            .map_or(&zero, |(_, c)| c);
        let c = now.since(then);
        lines.push(json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function", "Transform"]],
                    "Metrics": metric_names(&[
                        ("In", "Count"),
                        ("Out", "Count"),
                        ("Dropped", "Count"),
                        ("Errored", "Count"),
                        ("Duration", "Milliseconds"),
                    ]),
                }],
            },
            "Function": invocation.function,
            "Transform": location,
            "RequestId": invocation.request_id,
            "In": c.input,
            "Out": c.output,
            "Dropped": c.dropped,
            "Errored": c.errored,
            "Duration": millis(c.duration),
        }));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(input: u64, errored: u64, ms: u64) -> Account {
        let c = Counts {
            input,
            output: input - errored,
            dropped: 0,
            errored,
            duration: Duration::from_millis(ms),
        };
        Account {
            totals: c,
            steps: vec![("transforms[0] (parse.json)".into(), c)],
            counters: Vec::new(),
        }
    }

    #[test]
    fn lines_carry_this_invocations_counts() {
        let invocation = Invocation {
            function: "f",
            handler: "kinesis",
            request_id: "r-1",
            records: 3,
            failures: 1,
            failed: false,
            duration: Duration::from_millis(12),
        };
        let lines = lines(
            "Sluice",
            &invocation,
            &account(10, 1, 5),
            &account(14, 2, 7),
        );
        assert_eq!(lines.len(), 2);
        let total = &lines[0];
        assert_eq!(total["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Sluice");
        assert_eq!(
            total["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert_eq!(total["MessagesIn"], 4);
        assert_eq!(total["MessagesErrored"], 1);
        assert_eq!(total["BatchItemFailures"], 1);
        assert_eq!(total["InvocationDuration"], 12.0);
        assert!(total["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        let step = &lines[1];
        assert_eq!(step["Transform"], "transforms[0] (parse.json)");
        assert_eq!(
            (
                step["In"].as_u64(),
                step["Out"].as_u64(),
                step["Errored"].as_u64()
            ),
            (Some(4), Some(3), Some(1))
        );
        assert_eq!(step["Duration"], 2.0);
        // Every metric a directive names is a key of the document, as EMF requires.
        for line in &lines {
            for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                assert!(line.get(m["Name"].as_str().unwrap()).is_some(), "{line}");
            }
        }
    }
}
