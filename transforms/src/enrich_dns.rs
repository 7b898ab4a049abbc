//! `enrich.dns`: reverse (PTR), forward (A, AAAA) and TXT lookups through hickory-resolver.
//!
//! A batch's lookups run concurrently (at most `concurrency` at a time), each bounded by
//! `timeout`, so a slow or dead nameserver holds a batch no longer than that. One name is asked
//! once per batch however often it occurs, and answers are cached for their own TTL (at most
//! `cache.ttl`); NXDOMAIN and empty answers are cached for the zone's negative TTL (at most
//! `cache.negative_ttl`) and leave the message unchanged. Timeouts and server failures follow
//! `on_error`. Unlike Substation (the system resolver, no cache, no timeout per lookup),
//! nameservers are configurable and every answer is counted in the account:
//! `<transform> (cache) hits|misses|errors`.

use crate::batch::Duration as Setting;
use crate::common::wrong_type;
use crate::enrich::{Answer, Failure, LookupError, OnError, lookup_batch};
use crate::kv_cache::{CacheCounters, CacheSettings, TtlCache};
use futures::future::BoxFuture;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{Name, RData, Record};
use hickory_resolver::{Resolver, TokioResolver};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BatchItem, ErrorKind, Io, Message, Path, Registry, TransformError};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

pub fn register(r: &mut Registry) {
    r.io("enrich.dns", |s: DnsSettings, b| {
        if s.concurrency == 0 {
            return Err(b.fail("field `concurrency`: must be at least 1"));
        }
        let timeout = s.timeout.get();
        if timeout.is_zero() {
            return Err(b.fail("field `timeout`: must be longer than 0, e.g. `2s`"));
        }
        let resolver = resolver(&s.nameservers, timeout).map_err(|e| b.fail(e))?;
        let counters = CacheCounters::named(b, &format!("{} (cache)", b.location()));
        let timeouts = b
            .resources
            .metrics()
            .counter(&format!("{} timeouts", b.location()));
        Ok(EnrichDns {
            cache: TtlCache::new(&s.cache, counters.clone()),
            counters,
            timeouts,
            failure: Failure::new(b, s.on_error),
            resolver,
            timeout,
            s,
        })
    });
}

/// Look up `source` in the DNS and write the answer to `target`: the host name of an IP address
/// (`ptr`, e.g. `source.ip` to `source.domain`), the addresses of a name (`a`, `aaaa`) or its
/// TXT records (`txt`). The first answer is written as a string, or every answer as an array
/// with `all`. A name with no records (NXDOMAIN) leaves the message unchanged. Lookups run
/// concurrently within a batch, each bounded by `timeout`, and answers are cached for their TTL.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DnsSettings {
    /// The field to look up: an IP address for `ptr`, a host name for the others.
    pub source: Path,
    /// Where to write the answer.
    pub target: Path,
    /// The record type: `ptr` (reverse lookup, the default), `a`, `aaaa` or `txt`.
    #[serde(default)]
    pub query: Query,
    /// Nameservers as `IP` or `IP:PORT` (`10.0.0.2`, `127.0.0.1:5353`, `[fd00::2]:53`); the
    /// system's (`/etc/resolv.conf`) when empty.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// The longest one lookup may take, e.g. `500ms`; past it the lookup fails (see `on_error`).
    #[serde(default = "default_timeout")]
    pub timeout: Setting,
    /// The most lookups in flight at once within a batch.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Write every answer as an array instead of the first as a string.
    #[serde(default)]
    pub all: bool,
    /// The answer cache: `capacity` (0 turns it off), `ttl` (the longest an answer is kept,
    /// though never past its own TTL) and `negative_ttl` (for NXDOMAIN).
    #[serde(default)]
    pub cache: CacheSettings,
    /// For a lookup that times out or fails, or a value that is not an IP address (`ptr`):
    /// `route` the message to the error route, or `skip` the field.
    #[serde(default)]
    pub on_error: OnError,
}

/// The kind of DNS record `enrich.dns` asks for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// The host names of an IP address (reverse lookup).
    #[default]
    Ptr,
    /// The IPv4 addresses of a name.
    A,
    /// The IPv6 addresses of a name.
    Aaaa,
    /// The TXT records of a name.
    Txt,
}

impl Query {
    fn label(self) -> &'static str {
        match self {
            Query::Ptr => "PTR",
            Query::A => "A",
            Query::Aaaa => "AAAA",
            Query::Txt => "TXT",
        }
    }
}

fn default_timeout() -> Setting {
    Setting::from_secs(2)
}

fn default_concurrency() -> usize {
    64
}

/// A resolver for the nameservers given (or the system's), with no cache of its own.
fn resolver(nameservers: &[String], timeout: Duration) -> Result<TokioResolver, String> {
    let mut builder = if nameservers.is_empty() {
        Resolver::builder(TokioRuntimeProvider::default()).map_err(|e| {
            format!("cannot read the system's DNS configuration ({e}); set `nameservers`")
        })?
    } else {
        let mut servers = Vec::new();
        for (i, text) in nameservers.iter().enumerate() {
            let addr = text
                .parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    format!("field `nameservers[{i}]`: `{text}` is not an IP address or IP:PORT")
                })?;
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            servers.push(NameServerConfig::new(addr.ip(), true, vec![udp, tcp]));
        }
        let mut b = Resolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], servers),
            TokioRuntimeProvider::default(),
        );
        b.options_mut().use_hosts_file = ResolveHosts::Never;
        b
    };
    let options = builder.options_mut();
    options.cache_size = 0;
    options.timeout = timeout;
    options.attempts = 1;
    builder
        .build()
        .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

struct EnrichDns {
    s: DnsSettings,
    resolver: TokioResolver,
    timeout: Duration,
    cache: Option<TtlCache<Vec<String>>>,
    counters: CacheCounters,
    timeouts: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failure: Failure,
}

impl EnrichDns {
    /// What to ask: the address for `ptr` (checked), the name for the others. `None` when the
    /// field is absent.
    fn question(&self, message: &mut Message) -> Result<Option<String>, TransformError> {
        let text = match message.get(&self.s.source)? {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.trim(),
            Some(other) => return Err(wrong_type(&self.s.source, "a string", other)),
        };
        if text.is_empty() {
            return Ok(None);
        }
        if self.s.query == Query::Ptr {
            return match text.parse::<IpAddr>() {
                Ok(ip) => Ok(Some(ip.to_string())),
                Err(_) => Err(TransformError::invalid(format!(
                    "`{}` is \"{}\", not an IP address; a PTR lookup needs an IPv4 or IPv6 address",
                    self.s.source,
                    text.chars().take(100).collect::<String>()
                ))),
            };
        }
        Ok(Some(text.trim_end_matches('.').to_ascii_lowercase()))
    }

    /// Asks the nameservers, bounded by the timeout.
    async fn ask(&self, question: &str) -> Result<Answer<Vec<String>>, LookupError> {
        let what = format!("DNS {} lookup of {question}", self.s.query.label());
        let lookup = async {
            let fqdn = format!("{question}.");
            match self.s.query {
                Query::Ptr => {
                    let ip: IpAddr = question
                        .parse()
                        .map_err(|_| NetError::Message("not an IP"))?;
                    self.resolver.reverse_lookup(Name::from(ip)).await
                }
                Query::A => self.resolver.ipv4_lookup(fqdn).await,
                Query::Aaaa => self.resolver.ipv6_lookup(fqdn).await,
                Query::Txt => self.resolver.txt_lookup(fqdn).await,
            }
        };
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => {
                self.timeouts.fetch_add(1, Relaxed);
                let reason = format!("{what} timed out after {}", Setting(self.timeout));
                Err((ErrorKind::Timeout, reason))
            }
            Ok(Ok(found)) => {
                let answers = texts(found.answers());
                let ttl = found
                    .valid_until()
                    .saturating_duration_since(Instant::now());
                Ok(((!answers.is_empty()).then_some(answers), Some(ttl)))
            }
            Ok(Err(e)) if e.is_no_records_found() => {
                let ttl = match &e {
                    NetError::Dns(DnsError::NoRecordsFound(n)) => {
                        n.negative_ttl.map(|t| Duration::from_secs(t.into()))
                    }
                    _ => None,
                };
                Ok((None, ttl))
            }
            Ok(Err(NetError::Timeout)) => {
                self.timeouts.fetch_add(1, Relaxed);
                let reason = format!("{what} timed out after {}", Setting(self.timeout));
                Err((ErrorKind::Timeout, reason))
            }
            Ok(Err(e)) => Err((ErrorKind::Unavailable, format!("{what} failed: {e}"))),
        }
    }

    fn write(&self, message: &mut Message, answers: &[String]) -> Result<(), TransformError> {
        if answers.is_empty() {
            return Ok(());
        }
        let value = if self.s.all {
            Value::Array(answers.iter().map(|a| Value::String(a.clone())).collect())
        } else {
            Value::String(answers[0].clone())
        };
        message.set(&self.s.target, value)
    }
}

/// The answers of the asked type as text: names without their final dot, addresses, TXT
/// strings joined.
fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_utf8().trim_end_matches('.').to_string()),
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

impl Io for EnrichDns {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(lookup_batch(
            batch,
            |m| Ok(self.question(m)?.map(|q| (q.clone(), q))),
            self.cache.as_ref(),
            &self.counters,
            self.s.concurrency,
            move |q| async move { self.ask(&q).await },
            |m, answers| self.write(m, answers),
            &self.failure,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns_test_server::{BlackHole, TestDns, Zones};
    use crate::testing::{build_error, messages, outputs, reasons, run_async};
    use serde_json::json;

    async fn server() -> TestDns {
        Zones::new()
            .ptr("10.1.2.3".parse().unwrap(), "host1.corp.test")
            .ptr("10.1.2.4".parse().unwrap(), "host2.corp.test")
            .ptr("2001:db8::5".parse().unwrap(), "v6.corp.test")
            .addr("host1.corp.test", "10.1.2.3".parse().unwrap())
            .addr("host1.corp.test", "10.1.2.33".parse().unwrap())
            .addr("host1.corp.test", "2001:db8::1".parse().unwrap())
            .txt("info.corp.test", "v=probe1 owner=secops")
            .serve()
            .await
    }

    fn config(nameserver: &str, settings: Value) -> Value {
        let mut t = settings;
        t["type"] = json!("enrich.dns");
        t["nameservers"] = json!([nameserver]);
        json!({"transforms": [t]})
    }

    #[tokio::test]
    async fn reverse_forward_and_txt() {
        let dns = server().await;
        let ns = dns.nameserver();
        let c = config(
            &ns,
            json!({"source": "source.ip", "target": "source.domain"}),
        );
        let p = run_async(
            c,
            messages(&[
                json!({"source": {"ip": "10.1.2.3"}}),
                json!({"source": {"ip": "2001:db8::5"}}),
                json!({"source": {"ip": "10.9.9.9"}}),
                json!({"other": 1}),
            ]),
        )
        .await;
        assert!(reasons(&p).is_empty(), "{:?}", reasons(&p));
        assert_eq!(
            outputs(&p),
            vec![
                json!({"source": {"ip": "10.1.2.3", "domain": "host1.corp.test"}}),
                json!({"source": {"ip": "2001:db8::5", "domain": "v6.corp.test"}}),
                // NXDOMAIN: unchanged.
                json!({"source": {"ip": "10.9.9.9"}}),
                json!({"other": 1}),
            ]
        );

        let c = config(
            &ns,
            json!({"source": "host", "target": "ips", "query": "a", "all": true}),
        );
        let p = run_async(c, messages(&[json!({"host": "host1.corp.test"})])).await;
        let mut ips: Vec<String> = serde_json::from_value(outputs(&p)[0]["ips"].clone()).unwrap();
        ips.sort();
        assert_eq!(ips, vec!["10.1.2.3", "10.1.2.33"]);

        let c = config(
            &ns,
            json!({"source": "host", "target": "ip6", "query": "aaaa"}),
        );
        let p = run_async(c, messages(&[json!({"host": "HOST1.corp.test."})])).await;
        assert_eq!(outputs(&p)[0]["ip6"], json!("2001:db8::1"));

        let c = config(
            &ns,
            json!({"source": "host", "target": "txt", "query": "txt"}),
        );
        let p = run_async(
            c,
            messages(&[
                json!({"host": "info.corp.test"}),
                json!({"host": "none.corp.test"}),
            ]),
        )
        .await;
        assert_eq!(
            outputs(&p),
            vec![
                json!({"host": "info.corp.test", "txt": "v=probe1 owner=secops"}),
                json!({"host": "none.corp.test"})
            ]
        );
        dns.stop().await;
    }

    #[tokio::test]
    async fn one_question_per_batch_and_cached_answers() {
        let dns = server().await;
        let c = config(&dns.nameserver(), json!({"source": "ip", "target": "host"}));
        let config = sluice_core::Config::from_value(c, "test").unwrap();
        let pipeline = config
            .build(&crate::registry(), &sluice_core::Resources::default())
            .unwrap();
        let batch = || {
            messages(&[
                json!({"ip": "10.1.2.3"}),
                json!({"ip": "10.1.2.3"}),
                json!({"ip": "10.1.2.4"}),
                json!({"ip": "10.7.7.7"}),
            ])
        };
        let first = pipeline.process(batch()).await.unwrap();
        let second = pipeline.process(batch()).await.unwrap();
        assert_eq!(outputs(&first), outputs(&second));
        assert_eq!(outputs(&first)[1]["host"], json!("host1.corp.test"));
        let counters = pipeline.account().counters;
        let get = |name: &str| {
            counters
                .iter()
                .find(|(n, _)| n == &format!("transforms[0] (enrich.dns) {name}"))
                .map(|(_, v)| *v)
        };
        // First batch: 3 questions asked, one repeat. Second: all 4 from the cache,
        // the NXDOMAIN included.
        assert_eq!(get("(cache) misses"), Some(3));
        assert_eq!(get("(cache) hits"), Some(5));
        assert_eq!(get("(cache) errors"), Some(0));
        dns.stop().await;
    }

    #[tokio::test]
    async fn bad_input_and_timeouts_follow_on_error() {
        let dns = server().await;
        let hole = BlackHole::bind().await;
        // Not an IP address, and a wrong type: routed with the reason.
        let c = config(&dns.nameserver(), json!({"source": "ip", "target": "host"}));
        let p = run_async(c, messages(&[json!({"ip": "not-an-ip"}), json!({"ip": 7})])).await;
        assert_eq!(
            reasons(&p),
            vec![
                "`ip` is \"not-an-ip\", not an IP address; a PTR lookup needs an IPv4 or IPv6 address",
                "`ip` is number, expected a string"
            ]
        );

        // A nameserver that never answers: the batch ends after the timeout, not later.
        let c = config(
            &hole.addr.to_string(),
            json!({"source": "ip", "target": "host", "timeout": "150ms"}),
        );
        let started = Instant::now();
        let p = run_async(
            c,
            messages(&[json!({"ip": "10.1.2.3"}), json!({"ip": "10.1.2.4"})]),
        )
        .await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        assert_eq!(
            reasons(&p),
            vec![
                "DNS PTR lookup of 10.1.2.3 timed out after 150ms",
                "DNS PTR lookup of 10.1.2.4 timed out after 150ms"
            ]
        );

        // With skip: the messages go on without the field, the reason in their metadata.
        let c = config(
            &hole.addr.to_string(),
            json!({"source": "ip", "target": "host", "timeout": "100ms", "on_error": "skip"}),
        );
        let p = run_async(
            c,
            messages(&[json!({"ip": "10.1.2.3"}), json!({"ip": "bad"})]),
        )
        .await;
        assert!(reasons(&p).is_empty());
        assert_eq!(
            outputs(&p),
            vec![json!({"ip": "10.1.2.3"}), json!({"ip": "bad"})]
        );
        assert_eq!(
            p.output[0].meta()["enrich_errors"],
            json!(["transforms[0] (enrich.dns): DNS PTR lookup of 10.1.2.3 timed out after 100ms"])
        );
        dns.stop().await;
    }

    #[tokio::test]
    async fn a_slow_server_does_not_hold_the_fast_answers() {
        // Two nameservers would be tried in turn; instead two transforms: one dead, one live,
        // each bounded by its own timeout.
        let dns = server().await;
        let hole = BlackHole::bind().await;
        let c = json!({"transforms": [
            {"type": "enrich.dns", "source": "ip", "target": "slow", "nameservers": [hole.addr.to_string()], "timeout": "100ms", "on_error": "skip"},
            {"type": "enrich.dns", "source": "ip", "target": "host", "nameservers": [dns.nameserver()]}
        ]});
        let started = Instant::now();
        let p = run_async(c, messages(&[json!({"ip": "10.1.2.3"})])).await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        assert_eq!(
            outputs(&p),
            vec![json!({"ip": "10.1.2.3", "host": "host1.corp.test"})]
        );
        dns.stop().await;
    }

    #[test]
    fn config_errors() {
        let e = build_error(config("nope", json!({"source": "ip", "target": "host"})));
        assert!(
            e.contains("field `nameservers[0]`: `nope` is not an IP address or IP:PORT"),
            "{e}"
        );
        let e = build_error(config(
            "127.0.0.1",
            json!({"source": "ip", "target": "h", "concurrency": 0}),
        ));
        assert!(e.contains("field `concurrency`: must be at least 1"), "{e}");
        let e = build_error(config(
            "127.0.0.1",
            json!({"source": "ip", "target": "h", "query": "mx"}),
        ));
        assert!(e.contains("query"), "{e}");
    }
}
