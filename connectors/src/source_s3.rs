//! `s3://bucket/prefix` as an input: every object under the prefix, read with bounded
//! concurrency (downloads overlap; each object's lines reach the pipeline together), gzip
//! detected by magic bytes, and an account per object. This is the backfill path: an hour of
//! VPC flow logs is thousands of small objects.

use crate::aws::AwsContext;
use crate::source::{InputReport, SourceEvent, send_lines};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};

/// A bucket and a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    pub bucket: String,
    pub prefix: String,
}

impl S3Prefix {
    /// `s3://bucket/prefix` (the prefix may be empty).
    pub fn parse(url: &str) -> Option<S3Prefix> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Prefix {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// How a read of many objects is going, for a progress bar.
pub trait Progress: Send + Sync {
    fn objects_found(&self, count: u64, bytes: u64);
    fn bytes_read(&self, bytes: u64);
}

/// Reads every object under the prefix into the channel. Listing errors end the input with an
/// account saying why; each object's own failure is reported in its account.
pub async fn read(
    aws: Arc<AwsContext>,
    input: S3Prefix,
    concurrency: usize,
    batch_size: usize,
    max_line: usize,
    tx: mpsc::Sender<SourceEvent>,
    progress: Arc<dyn Progress>,
) {
    let client = aws.s3().await;
    let url = format!("s3://{}/{}", input.bucket, input.prefix);
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&input.bucket)
        .prefix(&input.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                objects.extend(page.contents().iter().filter_map(|o| {
                    Some((o.key()?.to_string(), o.size().unwrap_or(0).max(0) as u64))
                }))
            }
            Err(e) => {
                let error = format!(
                    "listing {url}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                );
                let _ = tx
                    .send(SourceEvent::Done(InputReport {
                        name: url,
                        error: Some(error),
                        ..Default::default()
                    }))
                    .await;
                return;
            }
        }
    }
    progress.objects_found(objects.len() as u64, objects.iter().map(|(_, s)| s).sum());
    // Downloads overlap; sending is one object at a time so an object's lines stay together.
    let sending = Arc::new(Mutex::new(()));
    stream::iter(objects)
        .for_each_concurrent(concurrency.max(1), |(key, _)| {
            let (client, tx, sending, progress) = (
                client.clone(),
                tx.clone(),
                sending.clone(),
                progress.clone(),
            );
            let bucket = input.bucket.clone();
            async move {
                let name = format!("s3://{bucket}/{key}");
                let report = match fetch_object(&client, &bucket, &key).await {
                    Err(e) => InputReport {
                        name: name.clone(),
                        error: Some(format!("{name}: {e}")),
                        ..Default::default()
                    },
                    Ok(bytes) => {
                        let guard = sending.lock_owned().await;
                        let tx2 = tx.clone();
                        let (name2, progress2) = (name.clone(), progress.clone());
                        let handle = tokio::task::spawn_blocking(move || {
                            let _guard = guard;
                            send_object(&name2, bytes, batch_size, max_line, &tx2, |n| {
                                progress2.bytes_read(n)
                            })
                        });
                        handle.await.unwrap_or_else(|e| InputReport {
                            name: name.clone(),
                            error: Some(format!("{name}: {e}")),
                            ..Default::default()
                        })
                    }
                };
                let _ = tx.send(SourceEvent::Done(report)).await;
            }
        })
        .await;
}

/// Downloads one object whole. The error names the cause (no such key, access denied...).
pub async fn fetch_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Bytes, String> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o
            .body
            .collect()
            .await
            .map(|b| b.into_bytes())
            .map_err(|e| e.to_string()),
        Err(e) => Err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()),
    }
}

/// Sends a downloaded object's lines (gzip detected by its magic bytes) in batches, as a file's
/// would be. Blocking: call it from `spawn_blocking`. `name` (`s3://bucket/key`) names the
/// input in the account and in `@meta.input`.
pub fn send_object(
    name: &str,
    bytes: Bytes,
    batch_size: usize,
    max_line: usize,
    tx: &mpsc::Sender<SourceEvent>,
    progress: impl FnMut(u64),
) -> InputReport {
    match crate::file::decompressed(std::io::Cursor::new(bytes)) {
        Ok(reader) => send_lines(name, reader, batch_size, max_line, tx, progress),
        Err(e) => InputReport {
            name: name.to_string(),
            error: Some(format!("{name}: {e}")),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            S3Prefix::parse("s3://b/logs/2026/"),
            Some(S3Prefix {
                bucket: "b".into(),
                prefix: "logs/2026/".into()
            })
        );
        assert_eq!(
            S3Prefix::parse("s3://b"),
            Some(S3Prefix {
                bucket: "b".into(),
                prefix: "".into()
            })
        );
        assert_eq!(S3Prefix::parse("s3:///x"), None);
        assert_eq!(S3Prefix::parse("/tmp/x"), None);
    }
}
