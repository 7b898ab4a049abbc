//! `send.s3`: each batch becomes one S3 object of JSON lines, gzipped by default.
//!
//! Keys come from a template: strftime fields of the time the object is written (`%Y/%m/%d`
//! makes the date partitions that Athena and Glue expect), `{key}` for the batch key's value,
//! and `{uuid}` for a unique suffix so that two writers never overwrite each other.

use crate::aws::{AwsContext, AwsSettings};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("send.s3", |s: S3Settings, b| {
        if s.bucket.is_empty() {
            return Err(b.fail("field `bucket`: name the bucket"));
        }
        if !s.key.contains("{uuid}") {
            return Err(b.fail(
                "field `key`: include `{uuid}` so that objects written in the same second do not overwrite each other",
            ));
        }
        // Render once now so that a bad strftime field is a config error, not a failed batch.
        let probe = s.key.replace("{uuid}", "").replace("{key}", "");
        let items: Vec<_> = chrono::format::StrftimeItems::new(&probe).collect();
        if items.contains(&chrono::format::Item::Error) {
            return Err(b.fail(format!("field `key`: `{}` has an invalid strftime field", s.key)));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let destination = S3Destination {
            bucket: s.bucket,
            key: s.key,
            gzip: s.gzip,
            aws,
            client: OnceCell::new(),
        };
        Sink::new(destination, s.common, b)
    });
}

/// Write each batch as one S3 object of JSON lines.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The object key template: strftime fields (UTC, at write time), `{key}` (the batch key's
    /// value) and `{uuid}` (required: a unique suffix).
    #[serde(default = "default_key")]
    pub key: String,
    /// Gzip each object (and add nothing to the key: name it `.gz` in the template).
    #[serde(default = "yes")]
    pub gzip: bool,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

fn default_key() -> String {
    "%Y/%m/%d/%H/{uuid}.jsonl.gz".into()
}

fn yes() -> bool {
    true
}

struct S3Destination {
    bucket: String,
    key: String,
    gzip: bool,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_s3::Client>,
}

impl S3Destination {
    fn object_key(&self, batch_key: &str) -> String {
        let uuid = format!("{:032x}", fastrand::u128(..));
        let template = self
            .key
            .replace("{key}", batch_key)
            .replace("{uuid}", &uuid);
        chrono::Utc::now().format(&template).to_string()
    }

    fn body(&self, records: &[Message]) -> std::io::Result<Vec<u8>> {
        let mut lines = Vec::with_capacity(records.len() * 512);
        for m in records {
            m.write_to(&mut lines);
            lines.push(b'\n');
        }
        if !self.gzip {
            return Ok(lines);
        }
        let mut gz = GzEncoder::new(Vec::with_capacity(lines.len() / 4), Compression::default());
        gz.write_all(&lines)?;
        gz.finish()
    }
}

impl Destination for S3Destination {
    fn call_limits(&self) -> (usize, usize) {
        (usize::MAX, usize::MAX)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let body = self
                .body(records)
                .map_err(|e| CallError::fail(format!("compressing: {e}")))?;
            let client = self.client.get_or_init(|| self.aws.s3()).await;
            let object = self.object_key(key);
            let mut put = client
                .put_object()
                .bucket(&self.bucket)
                .key(&object)
                .body(ByteStream::from(body));
            if self.gzip {
                put = put.content_encoding("gzip");
            }
            put = put.content_type("application/x-ndjson");
            put.send().await.map_err(|e| {
                let why = format!(
                    "S3 PutObject s3://{}/{object} failed: {}",
                    self.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                );
                // Missing buckets and denied access will not fix themselves.
                match e.as_service_error().map(|s| s.meta().code().unwrap_or("")) {
                    Some("NoSuchBucket" | "AccessDenied" | "InvalidBucketName") => {
                        CallError::fail(why)
                    }
                    _ => CallError::retry(why),
                }
            })?;
            Ok(vec![Delivery::Sent; records.len()])
        })
    }
}
