//! What `enrich.http` and `send.http` share: an HTTP/1.1 client (plain TCP for `http://`,
//! rustls with the system's roots for `https://`) and text templates with `${path}` fields and
//! `${SECRET:id}` secrets, parsed once when the config is built.

use crate::secrets::{self, Secret};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::{Message, Path, TransformError};
use std::sync::Arc;

/// Text with `${path}` and `${SECRET:id}` placeholders, parsed once.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field(Path),
    Secret(Arc<Secret>),
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Text(t) => write!(f, "{t:?}"),
            Part::Field(p) => write!(f, "${{{p}}}"),
            Part::Secret(s) => write!(f, "${{SECRET:{}}}", s.id()),
        }
    }
}

impl Template {
    pub fn parse(text: &str, resources: &sluice_core::Resources) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
            let inner = after[..end].trim();
            if inner.is_empty() {
                return Err(format!("an empty `${{}}` in `{text}`"));
            }
            match inner.strip_prefix("SECRET:") {
                Some(id) => {
                    let secret = secrets::lookup(id, resources).ok_or_else(|| {
                        format!("no secret `{id}`; declare it under `stores` as {{type: \"secret\", env: \"...\"}}")
                    })?;
                    parts.push(Part::Secret(secret));
                }
                None => parts.push(Part::Field(Path::parse(inner))),
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// True when the text names a field, so it differs between messages.
    pub fn has_fields(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The text of a template without fields (secrets only), and the same with secrets left as
    /// placeholders. Fields, if any, are left empty: check [`Template::has_fields`] first.
    pub fn render_fixed(&self) -> (String, String) {
        let mut real = String::new();
        let mut shown = String::new();
        for part in &self.parts {
            push_fixed(part, &mut real, &mut shown);
        }
        (real, shown)
    }

    /// The text before the first placeholder.
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(t)) => t,
            _ => "",
        }
    }

    /// The text for one message, and the same with secrets left as placeholders (for errors).
    /// `None` when a field it names is absent.
    pub fn render(
        &self,
        message: &mut Message,
        encode: bool,
    ) -> Result<Option<(String, String)>, TransformError> {
        self.render_with(message, encode, |t, out| out.push_str(t))
    }

    /// `render`, with the template's own text written by `text` (e.g. strftime over it); field
    /// values and secrets are written as they are.
    pub fn render_with(
        &self,
        message: &mut Message,
        encode: bool,
        text: impl Fn(&str, &mut String),
    ) -> Result<Option<(String, String)>, TransformError> {
        let mut real = String::new();
        let mut shown = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    let start = real.len();
                    text(t, &mut real);
                    shown.push_str(&real[start..]);
                }
                Part::Secret(_) => push_fixed(part, &mut real, &mut shown),
                Part::Field(path) => {
                    let value = match message.get(path)? {
                        None | Some(Value::Null) => return Ok(None),
                        Some(v) => value_text(v).into_owned(),
                    };
                    let value = if encode { url_encode(&value) } else { value };
                    real.push_str(&value);
                    shown.push_str(&value);
                }
            }
        }
        Ok(Some((real, shown)))
    }

    /// The template's own text, between its placeholders.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
    }
}

/// Appends a text or a secret (shown as its placeholder); fields are the caller's.
fn push_fixed(part: &Part, real: &mut String, shown: &mut String) {
    match part {
        Part::Text(t) => {
            real.push_str(t);
            shown.push_str(t);
        }
        Part::Secret(s) => {
            real.push_str(&s.expose());
            shown.push_str(&format!("${{SECRET:{}}}", s.id()));
        }
        Part::Field(_) => {}
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, so a value stays
/// one path segment or query value (`a/b` cannot climb to another endpoint).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub type Body = Full<Bytes>;

pub enum HttpClient {
    Plain(Client<HttpConnector, Body>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>),
}

impl HttpClient {
    /// Plain TCP for `http://`, TLS for `https://`.
    pub fn for_url(url: &str) -> Result<HttpClient, String> {
        match url.to_ascii_lowercase().starts_with("https://") {
            true => HttpClient::tls(),
            false => Ok(HttpClient::plain()),
        }
    }

    /// Sends `request` and reads at most `max_bytes` of the answer, all within `timeout`.
    /// Errors say what failed (`timed out after 2s`, the connection's reason), not which request.
    pub async fn exchange(
        &self,
        request: http::Request<Body>,
        max_bytes: usize,
        timeout: std::time::Duration,
    ) -> Result<(http::StatusCode, Bytes), String> {
        let exchange = async {
            let response = self.send(request).await?;
            let status = response.status();
            let body = Limited::new(response.into_body(), max_bytes)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(format!("timed out after {timeout:?}")),
            Ok(result) => result,
        }
    }

    pub fn plain() -> HttpClient {
        HttpClient::Plain(Client::builder(TokioExecutor::new()).build(HttpConnector::new()))
    }

    pub fn tls() -> Result<HttpClient, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("cannot load the system's root certificates for HTTPS: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient::Tls(
            Client::builder(TokioExecutor::new()).build(connector),
        ))
    }

    pub async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let result = match self {
            HttpClient::Plain(c) => c.request(request).await,
            HttpClient::Tls(c) => c.request(request).await,
        };
        result.map_err(|e| {
            // The legacy client's errors say little at the top level; the source says why.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        })
    }
}
