//! `enrich.http`: ask a JSON API about a message (a user directory, a threat-intel service,
//! an asset inventory) and write its answer into the message.
//!
//! The URL (and headers) are templates: `${user.name}` is the value of a field, URL-encoded
//! in the URL; `${SECRET:id}` is a secret declared in the config (never printed: errors show
//! the template form). A POST sends the value of `body`. Each distinct request is sent once per
//! batch, `concurrency` at a time, each bounded by `timeout`; answers are cached by request for
//! `cache.ttl`, and 404s for `cache.negative_ttl`. A 404 leaves the message unchanged; any other
//! status outside 2xx, a timeout or a broken connection follows `on_error` with the status and
//! the start of the body as the reason. Unlike Substation, status codes are checked, there is a
//! timeout, and responses are cached.
//!
//! `http://` URLs use plain TCP; `https://` URLs use rustls (aws-lc-rs) with the system's root
//! certificates, the TLS stack the AWS connectors already build.

use crate::batch::Duration as Setting;
use crate::enrich::{Answer, Failure, LookupError, OnError, lookup_batch};
use crate::http::{HttpClient, Template};
use crate::kv_cache::{CacheCounters, CacheSettings, TtlCache};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BatchItem, ErrorKind, Io, Message, Path, Registry, TransformError};
use std::collections::BTreeMap;

pub fn register(r: &mut Registry) {
    r.io("enrich.http", |s: HttpSettings, b| {
        let url = Template::parse(&s.url, b.resources).map_err(|e| b.fail(format!("field `url`: {e}")))?;
        let literal = url.literal_prefix().to_ascii_lowercase();
        if !(literal.starts_with("http://") || literal.starts_with("https://")) {
            return Err(b.fail(
                "field `url`: must start with `http://` or `https://` (placeholders may follow the host)",
            ));
        }
        let mut headers = Vec::new();
        for (name, value) in &s.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| b.fail(format!("field `headers`: `{name}` is not a valid header name")))?;
            let value = Template::parse(value, b.resources)
                .map_err(|e| b.fail(format!("field `headers.{name}`: {e}")))?;
            headers.push((name, value));
        }
        if s.concurrency == 0 {
            return Err(b.fail("field `concurrency`: must be at least 1"));
        }
        if s.timeout.is_zero() {
            return Err(b.fail("field `timeout`: must be longer than 0, e.g. `5s`"));
        }
        if s.method == Method::Get && s.body.is_some() {
            return Err(b.fail("field `body`: only a POST sends a body; set `method: \"post\"`"));
        }
        let client = HttpClient::for_url(&literal).map_err(|e| b.fail(format!("field `url`: {e}")))?;
        let counters = CacheCounters::named(b, &format!("{} (cache)", b.location()));
        Ok(EnrichHttp {
            cache: TtlCache::new(&s.cache, counters.clone()),
            counters,
            failure: Failure::new(b, s.on_error),
            url,
            headers,
            client,
            s,
        })
    });
}

/// Send a GET (or a POST with the value of `body`) to a JSON API, the URL built from the
/// message (`http://users.internal/v1/users/${user.name}`), and write the JSON answer to
/// `target` (text that is not JSON is written as a string). A 404 leaves the message
/// unchanged; other errors, timeouts and broken connections follow `on_error`. Answers are
/// cached per request; requests of a batch run concurrently, each bounded by `timeout`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HttpSettings {
    /// The URL: `${path}` is replaced by the value of that field (URL-encoded), `${SECRET:id}`
    /// by a secret. A message lacking a field the URL names passes unchanged.
    pub url: String,
    /// `get` or `post`.
    #[serde(default)]
    pub method: Method,
    /// For a POST, the field whose value is sent (text as is, anything else as JSON). A message
    /// without it passes unchanged.
    #[serde(default)]
    pub body: Option<Path>,
    /// Request headers; values may use `${path}` and `${SECRET:id}`. A POST of JSON gets
    /// `content-type: application/json` unless given here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Where to write the answer.
    pub target: Path,
    /// The longest one request may take, from connecting to the last byte, e.g. `2s`.
    #[serde(default = "default_timeout")]
    pub timeout: Setting,
    /// The most requests in flight at once within a batch.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The answer cache by request: `capacity` (0 turns it off), `ttl`, and `negative_ttl`
    /// for 404s.
    #[serde(default)]
    pub cache: CacheSettings,
    /// The largest answer accepted, in bytes; a larger one is an error.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// For a failed request (a status other than 2xx or 404, a timeout, a refused connection):
    /// `route` the message to the error route, or `skip` the field.
    #[serde(default)]
    pub on_error: OnError,
}

/// The HTTP method of `enrich.http`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    #[default]
    Get,
    Post,
}

fn default_timeout() -> Setting {
    Setting::from_secs(5)
}

fn default_concurrency() -> usize {
    16
}

fn default_max_bytes() -> usize {
    1 << 20
}

/// One request to send.
struct Request {
    url: String,
    shown: String,
    headers: Vec<(http::HeaderName, String)>,
    body: Option<Bytes>,
}

struct EnrichHttp {
    s: HttpSettings,
    url: Template,
    headers: Vec<(http::HeaderName, Template)>,
    client: HttpClient,
    cache: Option<TtlCache<Value>>,
    counters: CacheCounters,
    failure: Failure,
}

impl EnrichHttp {
    /// The request for a message and its cache key; `None` when a field it needs is absent.
    fn request(&self, message: &mut Message) -> Result<Option<(String, Request)>, TransformError> {
        let Some((url, shown)) = self.url.render(message, true)? else {
            return Ok(None);
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, template) in &self.headers {
            let Some((value, _)) = template.render(message, false)? else {
                return Ok(None);
            };
            headers.push((name.clone(), value));
        }
        let body = match &self.s.body {
            None => None,
            Some(path) => match message.get(path)? {
                None => return Ok(None),
                Some(Value::String(s)) => Some(Bytes::from(s.clone())),
                Some(v) => Some(Bytes::from(v.to_string())),
            },
        };
        let mut key = format!("{:?} {url}", self.s.method);
        for (n, v) in &headers {
            key.push_str(&format!("\n{n}: {v}"));
        }
        if let Some(b) = &body {
            key.push('\n');
            key.push_str(&String::from_utf8_lossy(b));
        }
        Ok(Some((
            key,
            Request {
                url,
                shown,
                headers,
                body,
            },
        )))
    }

    async fn ask(&self, r: Request) -> Result<Answer<Value>, LookupError> {
        let method = match self.s.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        };
        let what = format!("{method} {}", r.shown);
        let mut builder = http::Request::builder().method(method).uri(&r.url);
        let mut has_type = false;
        for (name, value) in &r.headers {
            has_type |= name == http::header::CONTENT_TYPE;
            builder = builder.header(name, value);
        }
        if r.body.is_some() && !has_type {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        builder = builder.header(http::header::ACCEPT, "application/json");
        let request = builder
            .body(Full::new(r.body.unwrap_or_default()))
            .map_err(|e| {
                let reason = format!("{what}: cannot build the request: {e}");
                (ErrorKind::InvalidValue, reason)
            })?;
        let timeout = self.s.timeout.get();
        let (status, body) = match self
            .client
            .exchange(request, self.s.max_bytes, timeout)
            .await
        {
            Err(e) if e.starts_with("timed out") => {
                let reason = format!("{what} timed out after {}", self.s.timeout);
                return Err((ErrorKind::Timeout, reason));
            }
            Err(e) => return Err((ErrorKind::Unavailable, format!("{what} failed: {e}"))),
            Ok(answer) => answer,
        };
        if status == http::StatusCode::NOT_FOUND {
            return Ok((None, None));
        }
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            let kind = match status.as_u16() {
                429 => ErrorKind::Throttled,
                500.. => ErrorKind::Unavailable,
                _ => ErrorKind::Refused,
            };
            return Err((
                kind,
                format!("{what} answered HTTP {status}: {}", text.trim()),
            ));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok((None, None));
        }
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((Some(value), None))
    }
}

impl Io for EnrichHttp {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(lookup_batch(
            batch,
            |m| self.request(m),
            self.cache.as_ref(),
            &self.counters,
            self.s.concurrency,
            |r| self.ask(r),
            |m, v| m.set(&self.s.target, v.clone()),
            &self.failure,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::url_encode;
    use crate::testing::{build_error, messages, outputs, reasons, run_async};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A tiny HTTP/1.1 server on 127.0.0.1 answering from a function of (method, path, body);
    /// it keeps the requests it saw.
    struct Server {
        addr: std::net::SocketAddr,
        seen: Arc<Mutex<Vec<String>>>,
        count: Arc<AtomicUsize>,
    }

    type Handler = fn(&str, &str, &str) -> (u16, &'static str, u64);

    async fn serve(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (seen2, count2) = (seen.clone(), count.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, count) = (seen2.clone(), count2.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // Read one request: headers, then content-length bytes.
                        let mut chunk = [0u8; 4096];
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(head_end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let head = &text[..head_end];
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() < head_end + 4 + length {
                            continue;
                        }
                        let body = text[head_end + 4..head_end + 4 + length].to_string();
                        let mut first = head.lines().next().unwrap().split(' ');
                        let (method, path) = (
                            first.next().unwrap().to_string(),
                            first.next().unwrap().to_string(),
                        );
                        seen.lock().unwrap().push(format!("{head}\n\n{body}"));
                        count.fetch_add(1, Relaxed);
                        let (status, answer, delay_ms) = handler(&method, &path, &body);
                        if delay_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                        }
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        buf.drain(..head_end + 4 + length);
                    }
                });
            }
        });
        Server { addr, seen, count }
    }

    fn users(method: &str, path: &str, body: &str) -> (u16, &'static str, u64) {
        let path = path.split('?').next().unwrap_or(path);
        match (method, path) {
            ("GET", "/users/alice") => {
                (200, r#"{"full_name": "Alice Doe", "roles": ["admin"]}"#, 0)
            }
            ("GET", "/users/bob%20smith") => (200, r#""plain text""#, 0),
            ("GET", "/users/slow") => (200, "{}", 2000),
            ("GET", "/users/broken") => (500, "database is down", 0),
            ("GET", "/users/text") => (200, "not json", 0),
            ("POST", "/lookup") if body.contains("evil") => (200, r#"{"verdict": "malicious"}"#, 0),
            ("POST", "/lookup") => (200, r#"{"verdict": "clean"}"#, 0),
            _ => (404, "{}", 0),
        }
    }

    fn config(addr: std::net::SocketAddr, settings: Value) -> Value {
        let mut t = settings;
        t["type"] = json!("enrich.http");
        if let Some(u) = t["url"].as_str() {
            t["url"] = json!(u.replace("ADDR", &addr.to_string()));
        }
        json!({"transforms": [t]})
    }

    #[tokio::test]
    async fn get_with_a_field_in_the_url() {
        let server = serve(users).await;
        let c = config(
            server.addr,
            json!({"url": "http://ADDR/users/${user.name}", "target": "user.details"}),
        );
        let p = run_async(
            c,
            messages(&[
                json!({"user": {"name": "alice"}}),
                json!({"user": {"name": "alice"}}),
                json!({"user": {"name": "bob smith"}}),
                json!({"user": {"name": "nobody"}}),
                json!({"user": {"name": "text"}}),
                json!({"user": {}}),
            ]),
        )
        .await;
        assert!(reasons(&p).is_empty(), "{:?}", reasons(&p));
        assert_eq!(
            outputs(&p),
            vec![
                json!({"user": {"name": "alice", "details": {"full_name": "Alice Doe", "roles": ["admin"]}}}),
                json!({"user": {"name": "alice", "details": {"full_name": "Alice Doe", "roles": ["admin"]}}}),
                json!({"user": {"name": "bob smith", "details": "plain text"}}),
                // 404: unchanged.
                json!({"user": {"name": "nobody"}}),
                json!({"user": {"name": "text", "details": "not json"}}),
                json!({"user": {}}),
            ]
        );
        // alice asked once.
        assert_eq!(server.count.load(Relaxed), 4);
    }

    #[tokio::test]
    async fn post_a_field_with_headers_and_secrets() {
        let server = serve(users).await;
        // SAFETY: a variable only this test reads.
        unsafe { std::env::set_var("SLUICE_TEST_HTTP_TOKEN", "s3cret") };
        let mut c = config(
            server.addr,
            json!({
                "url": "http://ADDR/lookup",
                "method": "post",
                "body": "indicator",
                "headers": {"authorization": "Bearer ${SECRET:token}", "x-user": "${user}"},
                "target": "intel"
            }),
        );
        c["stores"] = json!({"token": {"type": "secret", "env": "SLUICE_TEST_HTTP_TOKEN"}});
        let p = run_async(
            c,
            messages(&[
                json!({"indicator": {"domain": "evil.test"}, "user": "u1"}),
                json!({"indicator": "good.test", "user": "u1"}),
            ]),
        )
        .await;
        assert_eq!(outputs(&p)[0]["intel"], json!({"verdict": "malicious"}));
        assert_eq!(outputs(&p)[1]["intel"], json!({"verdict": "clean"}));
        let seen = server.seen.lock().unwrap().join("\n---\n");
        assert!(seen.contains("authorization: Bearer s3cret"), "{seen}");
        assert!(seen.contains("x-user: u1"), "{seen}");
        assert!(seen.contains("content-type: application/json"), "{seen}");
        assert!(seen.contains(r#"{"domain":"evil.test"}"#), "{seen}");
    }

    #[tokio::test]
    async fn http_500_timeouts_and_refusals_follow_on_error() {
        let server = serve(users).await;
        let c = config(
            server.addr,
            json!({"url": "http://ADDR/users/${name}?token=${SECRET:token}", "target": "d", "timeout": "200ms"}),
        );
        let mut c = c;
        unsafe { std::env::set_var("SLUICE_TEST_HTTP_TOKEN2", "hidden") };
        c["stores"] = json!({"token": {"type": "secret", "env": "SLUICE_TEST_HTTP_TOKEN2"}});
        let started = std::time::Instant::now();
        let p = run_async(
            c.clone(),
            messages(&[
                json!({"name": "broken"}),
                json!({"name": "slow"}),
                json!({"name": "alice"}),
            ]),
        )
        .await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        let addr = server.addr;
        assert_eq!(
            reasons(&p),
            vec![
                format!(
                    "GET http://{addr}/users/broken?token=${{SECRET:token}} answered HTTP 500 Internal Server Error: database is down"
                ),
                format!(
                    "GET http://{addr}/users/slow?token=${{SECRET:token}} timed out after 200ms"
                ),
            ]
        );
        let kinds: Vec<&Value> = p
            .errors
            .iter()
            .map(|m| &m.meta()["error"]["kind"])
            .collect();
        assert_eq!(kinds, [&json!("unavailable"), &json!("timeout")]);
        assert_eq!(outputs(&p)[0]["d"]["full_name"], json!("Alice Doe"));
        assert!(!reasons(&p).concat().contains("hidden"));

        // skip: the message goes on, the reason in its metadata.
        c["transforms"][0]["on_error"] = json!("skip");
        let p = run_async(c, messages(&[json!({"name": "broken"})])).await;
        assert!(reasons(&p).is_empty());
        assert_eq!(outputs(&p), vec![json!({"name": "broken"})]);
        assert!(
            p.output[0].meta()["enrich_errors"][0]
                .as_str()
                .unwrap()
                .contains("HTTP 500")
        );

        // Nobody listening.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let c = config(closed, json!({"url": "http://ADDR/x/${a}", "target": "d"}));
        let p = run_async(c, messages(&[json!({"a": 1})])).await;
        assert!(
            reasons(&p)[0].starts_with(&format!("GET http://{closed}/x/1 failed: ")),
            "{:?}",
            reasons(&p)
        );
    }

    /// Fails the first two requests, then answers.
    fn flaky(_: &str, _: &str, _: &str) -> (u16, &'static str, u64) {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        match CALLS.fetch_add(1, Relaxed) {
            0 | 1 => (503, "try later", 0),
            _ => (200, r#"{"verdict": "clean"}"#, 0),
        }
    }

    #[tokio::test]
    async fn retry_around_a_lookup_that_fails_twice_then_answers() {
        let server = serve(flaky).await;
        let lookup = config(
            server.addr,
            json!({"url": "http://ADDR/check/${ip}", "target": "verdict"}),
        );
        let c = json!({"transforms": [{
            "type": "meta.retry", "attempts": 3, "initial_delay": "1ms", "max_delay": "2ms",
            "error_kinds": ["unavailable"],
            "transforms": lookup["transforms"].clone()
        }]});
        let p = run_async(c, messages(&[json!({"ip": "192.0.2.1"})])).await;
        assert!(reasons(&p).is_empty(), "{:?}", reasons(&p));
        assert_eq!(
            outputs(&p),
            vec![json!({"ip": "192.0.2.1", "verdict": {"verdict": "clean"}})]
        );
        assert_eq!(server.count.load(Relaxed), 3);
    }

    #[tokio::test]
    async fn answers_are_cached_across_batches() {
        let server = serve(users).await;
        let c = config(
            server.addr,
            json!({"url": "http://ADDR/users/${u}", "target": "d"}),
        );
        let config = sluice_core::Config::from_value(c, "test").unwrap();
        let pipeline = config
            .build(&crate::registry(), &sluice_core::Resources::default())
            .unwrap();
        for _ in 0..3 {
            let p = pipeline
                .process(messages(&[json!({"u": "alice"}), json!({"u": "nobody"})]))
                .await
                .unwrap();
            assert_eq!(outputs(&p)[0]["d"]["full_name"], json!("Alice Doe"));
        }
        assert_eq!(server.count.load(Relaxed), 2);
        let counters = pipeline.account().counters;
        assert!(
            counters.contains(&("transforms[0] (enrich.http) (cache) hits".into(), 4)),
            "{counters:?}"
        );
    }

    #[test]
    fn templates_and_config_errors() {
        assert_eq!(url_encode("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = build_error(config(addr, json!({"url": "ftp://x/${a}", "target": "t"})));
        assert!(
            e.contains("field `url`: must start with `http://` or `https://`"),
            "{e}"
        );
        let e = build_error(config(addr, json!({"url": "http://x/${a", "target": "t"})));
        assert!(e.contains("without a closing"), "{e}");
        let e = build_error(config(
            addr,
            json!({"url": "http://x/${SECRET:nope}", "target": "t"}),
        ));
        assert!(e.contains("no secret `nope`"), "{e}");
        let e = build_error(config(
            addr,
            json!({"url": "http://x/", "target": "t", "body": "b"}),
        ));
        assert!(e.contains("field `body`: only a POST sends a body"), "{e}");
        let e = build_error(config(
            addr,
            json!({"url": "http://x/", "target": "t", "headers": {"bad header": "v"}}),
        ));
        assert!(e.contains("not a valid header name"), "{e}");
    }
}
