//! The S3 and Kinesis sources against moto: every object and record arrives, gzip and KPL
//! aggregates are undone, and every input is accounted for.

use crate::moto::{moto, unique};
use crate::sdk;
use serde_json::json;
use sluice_connectors::aws::{AwsContext, AwsSettings};
use sluice_connectors::kpl::Aggregator;
use sluice_connectors::source::{InputReport, SourceEvent};
use sluice_connectors::source_kinesis::{KinesisStart, KinesisStream};
use sluice_connectors::source_s3::{self, S3Prefix};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

struct Quiet;
impl source_s3::Progress for Quiet {
    fn objects_found(&self, _: u64, _: u64) {}
    fn bytes_read(&self, _: u64) {}
}

fn aws(endpoint: &str) -> Arc<AwsContext> {
    AwsContext::new(AwsSettings {
        endpoint_url: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    })
}

/// Every message text and every input report a source sent.
async fn drain(mut rx: mpsc::Receiver<SourceEvent>) -> (Vec<String>, Vec<InputReport>) {
    let (mut lines, mut reports) = (Vec::new(), Vec::new());
    while let Some(event) = rx.recv().await {
        match event {
            SourceEvent::Batch(batch) => lines.extend(
                batch
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.bytes()).into_owned()),
            ),
            SourceEvent::Refused(_, why) => panic!("refused: {why}"),
            SourceEvent::Done(r) => reports.push(r),
        }
    }
    (lines, reports)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_prefix_reads_every_object_and_accounts_for_each() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("src");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut want = Vec::new();
    for i in 0..12 {
        let lines: Vec<String> = (0..50)
            .map(|j| json!({"object": i, "line": j}).to_string())
            .collect();
        want.extend(lines.clone());
        let text = lines.join("\n") + "\n";
        // Half the objects gzipped, as AWS delivers logs; detected by magic bytes, not names.
        let body = if i % 2 == 0 {
            gzip(&text)
        } else {
            text.into_bytes()
        };
        s3.put_object()
            .bucket(&bucket)
            .key(format!("logs/2026/11/23/{i:02}.log"))
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    // One object under the prefix that is a truncated gzip: reported, not silently short.
    let broken = gzip(&"x\n".repeat(10_000));
    s3.put_object()
        .bucket(&bucket)
        .key("logs/2026/11/23/broken.gz")
        .body(broken[..broken.len() / 2].to_vec().into())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("other/ignored.log")
        .body(b"not under the prefix\n".to_vec().into())
        .send()
        .await
        .unwrap();

    let (tx, rx) = mpsc::channel(4);
    let prefix = S3Prefix::parse(&format!("s3://{bucket}/logs/")).unwrap();
    let reading = tokio::spawn(source_s3::read(
        aws(endpoint),
        prefix,
        4,
        64,
        1 << 20,
        tx,
        Arc::new(Quiet),
    ));
    let (mut lines, reports) = drain(rx).await;
    reading.await.unwrap();
    lines.retain(|l| l != "x");
    lines.sort();
    want.sort();
    assert_eq!(lines, want);
    assert_eq!(reports.len(), 13);
    let failed: Vec<&InputReport> = reports.iter().filter(|r| r.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_ref()
            .unwrap()
            .contains("broken.gz: truncated input"),
        "{:?}",
        failed[0].error
    );
    assert!(
        reports
            .iter()
            .filter(|r| r.error.is_none())
            .all(|r| r.messages == 50)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_one_failed_input() {
    let endpoint = moto();
    let (tx, rx) = mpsc::channel(4);
    let prefix = S3Prefix::parse("s3://no-such-bucket-anywhere/x").unwrap();
    tokio::spawn(source_s3::read(
        aws(endpoint),
        prefix,
        4,
        64,
        1 << 20,
        tx,
        Arc::new(Quiet),
    ));
    let (lines, reports) = drain(rx).await;
    assert!(lines.is_empty());
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]
            .error
            .as_ref()
            .unwrap()
            .contains("listing s3://no-such-bucket-anywhere/x"),
        "{:?}",
        reports[0].error
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kinesis_stream_reads_plain_and_kpl_aggregated_records_until_now() {
    let endpoint = moto();
    let conf = sdk(endpoint).await;
    let kinesis = aws_sdk_kinesis::Client::new(&conf);
    let stream = unique("src");
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let mut want = Vec::new();
    for i in 0..20 {
        let data = json!({"plain": i}).to_string();
        want.push(data.clone());
        kinesis
            .put_record()
            .stream_name(&stream)
            .partition_key(format!("pk{i}"))
            .data(data.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let mut agg = Aggregator::new(1024 * 1024);
    for i in 0..150 {
        let data = json!({"aggregated": i}).to_string();
        want.push(data.clone());
        assert!(
            agg.add(&format!("user{}", i % 5), None, data.as_bytes())
                .unwrap()
                .is_none()
        );
    }
    let aggregate = agg.flush().unwrap();
    kinesis
        .put_record()
        .stream_name(&stream)
        .partition_key(&aggregate.partition_key)
        .explicit_hash_key(&aggregate.explicit_hash_key)
        .data(aggregate.data.into())
        .send()
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(4);
    let source = KinesisStream::parse(&format!("kinesis://{stream}")).unwrap();
    tokio::spawn(source.read(aws(endpoint), KinesisStart::TrimHorizon, true, 100, tx));
    let (mut lines, reports) = drain(rx).await;
    lines.sort();
    want.sort();
    assert_eq!(lines, want);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].messages, 170);
    assert!(reports[0].error.is_none());
}
