//! Where `sluice lambda` finds its config at cold start: `SLUICE_CONFIG` (or `--config`) is
//!
//! - a path in the deployment package (relative paths start at `LAMBDA_TASK_ROOT`, where Lambda
//!   unpacks it); `sluice.json` next to the bootstrap when unset;
//! - `s3://bucket/key`, read with the function's own credentials;
//! - `http://...` or `https://...`, such as the AWS AppConfig agent's local endpoint
//!   (`http://localhost:2772/applications/APP/environments/ENV/configurations/PROFILE`).
//!
//! Deployments ship the JSON that `sluice build` prints, so a cold start only parses JSON. A
//! local `.jsonnet` file is still evaluated (handy with `cargo lambda watch`), with a warning.

use crate::aws::{AwsContext, AwsSettings};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_core::Config;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The config file looked for when `SLUICE_CONFIG` is not set.
pub const DEFAULT_CONFIG: &str = "sluice.json";
/// A config larger than this is refused (a mistake, not a config).
const MAX_CONFIG_BYTES: usize = 64 * 1024 * 1024;
/// How long an HTTP fetch of the config may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the config from a path, `s3://` or `http(s)://`, and checks its shape.
pub async fn load(source: &str) -> Result<Config, String> {
    let bytes = if let Some(rest) = source.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or("expected s3://bucket/key")?;
        fetch_s3(bucket, key).await?
    } else if source.starts_with("http://") || source.starts_with("https://") {
        fetch_http(source).await?
    } else {
        let path = resolve(source);
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonnet" | "libsonnet")
        ) {
            super::log_line(
                json!({"level": "WARN", "message": format!("evaluating Jsonnet at cold start ({}); ship the JSON that `sluice build` prints for a faster start", path.display())}),
            );
            return Config::load(&path).map_err(|e| e.to_string());
        }
        std::fs::read(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .into()
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!("not JSON ({e}); deploy the JSON that `sluice build CONFIG` prints")
    })?;
    Config::from_value(value, source).map_err(|e| e.to_string())
}

/// A relative path starts at the unpacked deployment package.
fn resolve(path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    match std::env::var_os("LAMBDA_TASK_ROOT") {
        Some(root) if path.is_relative() => PathBuf::from(root).join(path),
        _ => path,
    }
}

async fn fetch_s3(bucket: &str, key: &str) -> Result<Bytes, String> {
    // No config yet, so only the environment: credentials, region, and an endpoint for tests.
    let endpoint_url = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok();
    let aws = AwsContext::new(AwsSettings {
        endpoint_url,
        ..AwsSettings::default()
    });
    crate::source_s3::fetch_object(&aws.s3().await, bucket, key).await
}

/// GETs a URL (plain HTTP or HTTPS with the system's roots); only a 2xx answer is a config.
async fn fetch_http(url: &str) -> Result<Bytes, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let request = http::Request::get(uri)
        .header("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(FETCH_TIMEOUT, async {
        let response = client()?.request(request).await.map_err(chain)?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_CONFIG_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    })
    .await
    .map_err(|_| format!("no answer within {}s", FETCH_TIMEOUT.as_secs()))??;
    let (status, body) = answer;
    if !status.is_success() {
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("HTTP {status}: {head}"));
    }
    Ok(body)
}

type HttpClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

fn client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("cannot load the system's root certificates for HTTPS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The legacy client's errors say little at the top level; the sources say why.
fn chain(e: impl std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Tells the Runtime API why the init failed, so Lambda returns the reason to the caller and
/// logs it. Best effort: the function exits either way.
pub async fn report_init_error(message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = json!({"errorType": "Sluice.ConfigError", "errorMessage": message}).to_string();
    let Ok(request) = http::Request::post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("content-type", "application/json")
        .header("lambda-runtime-function-error-type", "Sluice.ConfigError")
        .body(Full::new(Bytes::from(body)))
    else {
        return;
    };
    let Ok(client) = client() else { return };
    let _ = tokio::time::timeout(Duration::from_secs(2), client.request(request)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_json_loads_and_problems_are_named() {
        let dir = std::env::temp_dir().join(format!("sluice-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"transforms": [{"type": "parse.json"}]}"#).unwrap();
        let config = load(good.to_str().unwrap()).await.unwrap();
        assert_eq!(config.transforms.len(), 1);

        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{transforms: []}").unwrap();
        let e = load(bad.to_str().unwrap()).await.unwrap_err();
        assert!(e.contains("not JSON") && e.contains("sluice build"), "{e}");

        let shape = dir.join("shape.json");
        std::fs::write(&shape, r#"{"transform": []}"#).unwrap();
        let e = load(shape.to_str().unwrap()).await.unwrap_err();
        assert!(e.contains("transform"), "{e}");

        let e = load(dir.join("missing.json").to_str().unwrap())
            .await
            .unwrap_err();
        assert!(e.contains("missing.json"), "{e}");
        assert!(
            load("s3://bucket-only")
                .await
                .unwrap_err()
                .contains("s3://bucket/key")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn http_errors_say_what_happened() {
        // A port nobody listens on: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = load(&format!("http://127.0.0.1:{port}/config"))
            .await
            .unwrap_err();
        assert!(!e.is_empty());
    }
}
