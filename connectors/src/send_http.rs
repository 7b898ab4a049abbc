//! `send.http`: POST batches to an HTTP endpoint, as JSON lines or as OpenSearch/Elasticsearch
//! `_bulk` requests.
//!
//! In `bulk` format each message becomes an action line (`index` or `create`, with `_index`
//! from a template and `_id` from a field) and its document line. The bulk API answers 200 even
//! when documents fail, so the answer's `items` are read one by one: a document refused for
//! pressure (429) is sent again with the sink's backoff, one refused for good (a mapping error)
//! goes to the error route with OpenSearch's reason, and the rest count as sent. Whole requests
//! that fail for a passing reason (429, 5xx, a timeout, a refused connection) are retried.

use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use http_body_util::Full;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::{Message, Path, Registry};
use sluice_transforms::batch::Duration as Setting;
use sluice_transforms::http::{HttpClient, Template};
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn register(r: &mut Registry) {
    r.io("send.http", |s: HttpSinkSettings, b| {
        let url = Template::parse(&s.url, b.resources)
            .map_err(|e| b.fail(format!("field `url`: {e}")))?;
        let (_, shown) = url.render_fixed();
        let lower = shown.to_ascii_lowercase();
        if url.has_fields() || !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(b.fail(
                "field `url`: must be an `http://` or `https://` URL without fields (one URL serves the whole batch; put the index in `index`)",
            ));
        }
        let mut headers = Vec::new();
        for (name, value) in &s.headers {
            let header = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                b.fail(format!("field `headers`: `{name}` is not a valid header name"))
            })?;
            let value = Template::parse(value, b.resources)
                .map_err(|e| b.fail(format!("field `headers.{name}`: {e}")))?;
            if value.has_fields() {
                return Err(b.fail(format!(
                    "field `headers.{name}`: headers are the same for the whole batch; they may use `${{SECRET:id}}` but not fields"
                )));
            }
            headers.push((header, value));
        }
        if s.timeout.is_zero() {
            return Err(b.fail("field `timeout`: must be longer than 0, e.g. `30s`"));
        }
        let index = match (&s.format, &s.index) {
            (Format::Lines, Some(_)) => {
                return Err(b.fail("field `index`: only the `bulk` format has an index"));
            }
            (Format::Lines, None) | (Format::Bulk, None) => None,
            (Format::Bulk, Some(text)) => {
                Some(Index::parse(text, b.resources).map_err(|e| b.fail(format!("field `index`: {e}")))?)
            }
        };
        if s.format == Format::Lines && (s.id.is_some() || s.action != Action::Index) {
            return Err(b.fail(
                "field `format`: `id` and `action` are for the `bulk` format; set `format: \"bulk\"`",
            ));
        }
        let client = HttpClient::for_url(&shown).map_err(|e| b.fail(format!("field `url`: {e}")))?;
        Sink::new(
            HttpDestination {
                url,
                headers,
                index,
                format: s.format,
                action: s.action,
                id: s.id,
                timeout: s.timeout.get(),
                client,
            },
            s.common,
            b,
        )
    });
}

/// POST batches of messages to an HTTP endpoint: JSON lines, or the OpenSearch/Elasticsearch
/// `_bulk` API (`format: "bulk"`, `url: "https://search.example.com/_bulk"`), whose per-document
/// errors route those documents to the error route (429s are retried) while the rest count as
/// sent. Set `id` to make retries idempotent.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HttpSinkSettings {
    /// The URL (for bulk, the `_bulk` endpoint). May use `${SECRET:id}`, not fields.
    pub url: String,
    /// `lines` (one JSON document a line) or `bulk` (OpenSearch/Elasticsearch `_bulk`).
    #[serde(default)]
    pub format: Format,
    /// Bulk: the index of each document. `${path}` is a field of the document; `%Y`, `%m`, `%d`
    /// (strftime) format the document's `@timestamp` (the current time when it has none), e.g.
    /// `logs-${event.dataset}-%Y.%m.%d`. Left out, the URL must name the index.
    #[serde(default)]
    pub index: Option<String>,
    /// Bulk: `index` (replace a document of the same `_id`) or `create` (what data streams
    /// need; a document whose `_id` exists already counts as sent).
    #[serde(default)]
    pub action: Action,
    /// Bulk: the field whose value is the document's `_id` (e.g. `event.id`), so a retried
    /// document is not indexed twice.
    #[serde(default)]
    pub id: Option<Path>,
    /// Request headers (e.g. `Authorization: "ApiKey ${SECRET:opensearch}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The longest one request may take, from connecting to the last byte of the answer.
    #[serde(default = "default_timeout")]
    pub timeout: Setting,
    #[serde(flatten)]
    pub common: Common,
}

fn default_timeout() -> Setting {
    Setting::from_secs(30)
}

/// How `send.http` writes a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON document a line (`application/x-ndjson`).
    #[default]
    Lines,
    /// The OpenSearch/Elasticsearch bulk API: an action line before each document.
    Bulk,
}

/// The bulk action of each document.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Index,
    Create,
}

/// A bulk index name: a template whose own text is strftime over the document's `@timestamp`
/// (`%Y`, `%m`, `%d`...) and whose `${path}` fields are taken as they are (a `%` in a value is
/// just a `%`).
struct Index {
    text: String,
    template: Template,
    dated: bool,
}

impl Index {
    fn parse(text: &str, resources: &sluice_core::Resources) -> Result<Index, String> {
        let template = Template::parse(text, resources)?;
        for part in template.texts().filter(|t| t.contains('%')) {
            // chrono refuses an unknown specifier only when formatting: try each one now.
            let mut probe = String::new();
            write!(probe, "{}", Utc::now().format(part))
                .map_err(|_| format!("`{text}` has a `%` that is not a strftime specifier"))?;
        }
        Ok(Index {
            text: text.to_string(),
            dated: text.contains('%'),
            template,
        })
    }

    fn render(&self, message: &mut Message) -> Result<String, String> {
        let at = match self.dated {
            false => None,
            true => Some(match message.get(&Path::parse("@timestamp")) {
                Ok(Some(Value::String(t))) => DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|_| Utc::now()),
                _ => Utc::now(),
            }),
        };
        let rendered = self
            .template
            .render_with(message, false, |text, out| match at {
                // Checked when the config was built, so formatting cannot fail here.
                Some(at) if text.contains('%') => {
                    let _ = write!(out, "{}", at.format(text));
                }
                _ => out.push_str(text),
            });
        match rendered.map_err(|e| e.to_string())? {
            Some((name, _)) => Ok(name),
            None => Err(format!(
                "the document lacks a field that the index template `{}` names",
                self.text
            )),
        }
    }
}

struct HttpDestination {
    url: Template,
    headers: Vec<(http::HeaderName, Template)>,
    index: Option<Index>,
    format: Format,
    action: Action,
    id: Option<Path>,
    timeout: std::time::Duration,
    client: HttpClient,
}

/// The longest stretch of an answer quoted in an error.
const QUOTE: usize = 300;

fn quote(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body).chars().take(QUOTE).collect();
    text.trim().to_string()
}

impl HttpDestination {
    /// The action line of one document, or why it cannot be sent.
    fn action_line(&self, message: &mut Message) -> Result<String, String> {
        if !matches!(message.value(), Ok(Value::Object(_))) {
            return Err("a bulk document must be a JSON object".into());
        }
        let mut meta = serde_json::Map::new();
        if let Some(index) = &self.index {
            meta.insert("_index".into(), Value::String(index.render(message)?));
        }
        if let Some(path) = &self.id {
            match message.get(path).map_err(|e| e.to_string())? {
                None | Some(Value::Null) => {
                    return Err(format!("the document has no `{path}` for its `_id`"));
                }
                Some(v) => {
                    meta.insert("_id".into(), Value::String(value_text(v).into_owned()));
                }
            }
        }
        let action = match self.action {
            Action::Index => "index",
            Action::Create => "create",
        };
        Ok(serde_json::json!({ action: meta }).to_string())
    }

    /// One delivery per bulk item of the answer.
    fn read_items(&self, body: &[u8]) -> Result<Vec<Delivery>, CallError> {
        let answer: Value = serde_json::from_slice(body).map_err(|e| {
            CallError::fail(format!(
                "the bulk answer is not JSON ({e}): {}",
                quote(body)
            ))
        })?;
        let items = answer["items"].as_array().ok_or_else(|| {
            CallError::fail(format!("the bulk answer has no `items`: {}", quote(body)))
        })?;
        Ok(items
            .iter()
            .map(|item| {
                let result = item.as_object().and_then(|o| o.values().next());
                let status = result.and_then(|r| r["status"].as_u64()).unwrap_or(0);
                let error = result.map(|r| &r["error"]).unwrap_or(&Value::Null);
                let why = format!(
                    "OpenSearch refused the document ({status} {}): {}",
                    error["type"].as_str().unwrap_or("error"),
                    error["reason"].as_str().unwrap_or("no reason given")
                );
                match status {
                    200..=299 => Delivery::Sent,
                    // `create` of an `_id` that exists: an earlier attempt got it there.
                    409 if self.action == Action::Create && self.id.is_some() => Delivery::Sent,
                    429 | 500..=599 => Delivery::Retry(why),
                    _ => Delivery::Failed(why),
                }
            })
            .collect())
    }
}

impl Destination for HttpDestination {
    fn call_limits(&self) -> (usize, usize) {
        (10_000, 10 * 1024 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let mut deliveries = vec![Delivery::Sent; records.len()];
            let mut body = Vec::new();
            // The records in the body, in order: the bulk answer's items follow them.
            let mut sent = Vec::with_capacity(records.len());
            for (i, m) in records.iter_mut().enumerate() {
                if self.format == Format::Bulk {
                    match self.action_line(m) {
                        Ok(line) => body.extend_from_slice(line.as_bytes()),
                        Err(why) => {
                            deliveries[i] = Delivery::Failed(why);
                            continue;
                        }
                    }
                    body.push(b'\n');
                }
                // One document a line: text that arrived pretty-printed is written compactly.
                let bytes = m.bytes();
                if !bytes.contains(&b'\n') {
                    body.extend_from_slice(&bytes);
                } else {
                    drop(bytes);
                    match m.value() {
                        Ok(v) => serde_json::to_writer(&mut body, v).expect("writing to memory"),
                        Err(e) => {
                            deliveries[i] =
                                Delivery::Failed(format!("a line of JSON is needed: {e}"));
                            continue;
                        }
                    }
                }
                body.push(b'\n');
                sent.push(i);
            }
            if sent.is_empty() {
                return Ok(deliveries);
            }
            let (url, shown) = self.url.render_fixed();
            let mut request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/x-ndjson")
                .header(http::header::ACCEPT, "application/json");
            for (name, value) in &self.headers {
                request = request.header(name, value.render_fixed().0);
            }
            let request = request
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| CallError::fail(format!("POST {shown}: {e}")))?;
            let (status, answer) = self
                .client
                .exchange(request, 64 * 1024 * 1024, self.timeout)
                .await
                .map_err(|e| CallError::retry(format!("POST {shown}: {e}")))?;
            if !status.is_success() {
                let why = format!("POST {shown} answered HTTP {status}: {}", quote(&answer));
                return Err(match status.as_u16() {
                    408 | 429 | 500..=599 => CallError::retry(why),
                    _ => CallError::fail(why),
                });
            }
            if self.format == Format::Bulk {
                let mut items = self.read_items(&answer)?.into_iter();
                for i in sent {
                    deliveries[i] = items.next().unwrap_or_else(|| {
                        Delivery::Failed("the bulk answer has no item for this document".into())
                    });
                }
            }
            Ok(deliveries)
        })
    }
}
