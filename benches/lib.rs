//! Shared pieces of the benches: synthetic events and a helper that runs a config over batches.

use serde_json::{Value, json};

// The same allocator as the `sluice` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use sluice_core::{Config, Message, Pipeline, Resources};

/// A CloudTrail-like event of about 1 KB; `i` varies the ids so no two events are equal.
pub fn event_1k(i: usize) -> String {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDAEXAMPLE{i:08}"),
            "arn": format!("arn:aws:iam::123456789012:user/user{}", i % 100),
            "accountId": "123456789012",
            "accessKeyId": format!("AKIAEXAMPLE{i:08}"),
            "userName": format!("user{}", i % 100)
        },
        "eventTime": "2026-11-23T06:25:01Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": if i.is_multiple_of(3) { "DescribeInstances" } else { "RunInstances" },
        "awsRegion": "us-east-1",
        "sourceIPAddress": format!("10.0.{}.{}", i % 250, i % 200),
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/ec2.describe-instances",
        "requestParameters": {"instancesSet": {"items": [{"instanceId": format!("i-0abc{i:012}")}]}, "filterSet": {}},
        "responseElements": null,
        "requestID": format!("a1b2c3d4-{i:04}-4e5f-8a9b-0c1d2e3f4a5b"),
        "eventID": format!("e1f2a3b4-{i:04}-4c5d-9e8f-7a6b5c4d3e2f"),
        "readOnly": i.is_multiple_of(3),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com"}
    })
    .to_string()
}

/// Builds a pipeline from a config value with the full registry.
pub fn pipeline(config: Value) -> Pipeline {
    let config = Config::from_value(config, "bench").expect("bench config");
    config
        .build(&sluice_connectors::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("bench config does not build: {e}"))
}

/// Runs one batch through a pipeline and serializes the output, as `sluice run` does.
pub fn run_batch(pipeline: &Pipeline, lines: &[String]) -> usize {
    let batch: Vec<Message> = lines.iter().map(|l| Message::new(l.as_bytes())).collect();
    let processed = block_on(pipeline.process(batch)).expect("bench run");
    let mut out = Vec::with_capacity(lines.len() * 1100);
    for m in &processed.output {
        m.write_to(&mut out);
        out.push(b'\n');
    }
    out.len()
}

/// Drives a future on this thread; synchronous transforms never wait.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}
