//! `enrich.mmdb`: ASN, geo and anonymity of an IP address from MaxMind databases, written as
//! ECS fields (`source.as.number`, `source.geo.city_name`, ...).
//!
//! The databases are `mmdb` stores declared in the config (kv_mmdb.rs); any store whose records
//! look like MaxMind's (a cache in front of one, a table in tests) works the same. Only what a
//! database has is written: an ASN database gives `as.*`, a City database `geo.*`, a Country
//! database the country and continent. An address no database covers leaves the message
//! unchanged; a value that is not an IP address follows `on_error`.

use crate::common::wrong_type;
use crate::enrich::{Failure, OnError};
use crate::kv::{KvStore, lookup};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::path::Root;
use sluice_core::{
    BatchItem, Failed, Io, Message, Output, Path, Registry, Transform, TransformError,
};
use std::net::IpAddr;
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.transform("enrich.mmdb", |s: MmdbSettings, b| {
        if s.stores.is_empty() {
            return Err(
                b.fail("field `stores`: name at least one mmdb store (e.g. [\"asn\", \"city\"])")
            );
        }
        if s.source.is_root() {
            return Err(
                b.fail("field `source`: name the field holding the IP address, e.g. `source.ip`")
            );
        }
        let mut stores = Vec::new();
        for (i, name) in s.stores.iter().enumerate() {
            stores.push(lookup(b, &format!("stores[{i}]"), name)?);
        }
        let target = match &s.target {
            Some(t) => t.clone(),
            None => parent(&s.source),
        };
        // Local databases answer in place; a remote store is read a batch at a time.
        let local = stores.iter().all(|s| s.is_local());
        let mmdb = EnrichMmdb {
            paths: FIELDS.iter().map(|f| child(&target, f)).collect(),
            failure: Failure::new(b, s.on_error),
            s,
            stores,
        };
        Ok(match local {
            true => Transform::map(mmdb),
            false => Transform::io(mmdb),
        })
    });
}

/// Add the autonomous system (`<target>.as.number`, `<target>.as.organization.name`), the
/// place (`<target>.geo.*`: city_name, continent_code, continent_name, country_iso_code,
/// country_name, region_iso_code, region_name, location {lat, lon}, timezone, postal_code) and
/// anonymity flags (`<target>.anonymous.*`: anonymous_vpn, tor_exit_node, ...) of the IP
/// address in `source`, from MaxMind databases declared as `mmdb` stores. Only what the
/// databases have is written; an address they do not cover leaves the message unchanged.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MmdbSettings {
    /// The field holding the IP address, e.g. `source.ip`.
    pub source: Path,
    /// The object that receives `as`, `geo` and `anonymous`; by default the parent of
    /// `source` (`source` for `source.ip`), as ECS lays them out.
    #[serde(default)]
    pub target: Option<Path>,
    /// The `mmdb` stores to ask, e.g. `["asn", "city"]`; each adds what it has.
    pub stores: Vec<String>,
    /// The language of place names (the stores keep `en` unless their `languages` say more).
    #[serde(default = "default_language")]
    pub language: String,
    /// For a value that is not an IP address, or a store that fails: `route` the message to
    /// the error route, or `skip` the enrichment.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_language() -> String {
    "en".into()
}

/// The fields written below the target, in this order.
const FIELDS: &[&str] = &[
    "as.number",
    "as.organization.name",
    "geo.city_name",
    "geo.continent_code",
    "geo.continent_name",
    "geo.country_iso_code",
    "geo.country_name",
    "geo.region_iso_code",
    "geo.region_name",
    "geo.location",
    "geo.timezone",
    "geo.postal_code",
    "anonymous",
];

/// A path below `base`, e.g. `source` + `geo.city_name`.
pub fn child(base: &Path, rel: &str) -> Path {
    match (base.root, base.is_root()) {
        (Root::Data, true) => Path::parse(rel),
        (Root::Meta, true) => Path::parse(&format!("@meta.{rel}")),
        _ => Path::parse(&format!("{}.{rel}", base.as_str())),
    }
}

/// The path one level up: `source` for `source.ip`, the whole data for `ip`.
pub fn parent(path: &Path) -> Path {
    let keys: Vec<String> = path.segments[..path.segments.len().saturating_sub(1)]
        .iter()
        .map(|s| s.key.replace('\\', "\\\\").replace('.', "\\."))
        .collect();
    match path.root {
        Root::Data => Path::parse(&keys.join(".")),
        Root::Meta if keys.is_empty() => Path::parse("@meta"),
        Root::Meta => Path::parse(&format!("@meta.{}", keys.join("."))),
    }
}

struct EnrichMmdb {
    s: MmdbSettings,
    stores: Vec<Arc<dyn KvStore>>,
    paths: Vec<Path>,
    failure: Failure,
}

impl EnrichMmdb {
    /// The address to look up: `None` when absent; an error when it is not an IP address.
    fn address(&self, message: &mut Message) -> Result<Option<String>, TransformError> {
        match message.get(&self.s.source)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => match text.trim().parse::<IpAddr>() {
                Ok(ip) => Ok(Some(ip.to_string())),
                Err(_) => Err(TransformError::invalid(format!(
                    "`{}` is \"{}\", not an IP address; enrich.mmdb looks up IPv4 and IPv6 addresses",
                    self.s.source,
                    text.chars().take(100).collect::<String>()
                ))),
            },
            Some(other) => Err(wrong_type(&self.s.source, "an IP address string", other)),
        }
    }

    /// Writes what one record has.
    fn write(&self, message: &mut Message, record: &Value) -> Result<(), TransformError> {
        for (i, value) in ecs_fields(record, &self.s.language) {
            message.set(&self.paths[i], value)?;
        }
        Ok(())
    }
}

/// The ECS values a MaxMind record gives, by index into `FIELDS`.
fn ecs_fields(record: &Value, language: &str) -> Vec<(usize, Value)> {
    let mut out = Vec::new();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| Value::String(s.into()));
    let name = |v: &Value| text(v.get("names").and_then(|n| n.get(language)));
    if let Some(n) = record
        .get("autonomous_system_number")
        .filter(|n| n.is_u64())
    {
        out.push((0, n.clone()));
    }
    if let Some(o) = text(record.get("autonomous_system_organization")) {
        out.push((1, o));
    }
    if let Some(c) = record.get("city").and_then(name) {
        out.push((2, c));
    }
    if let Some(continent) = record.get("continent") {
        out.extend(text(continent.get("code")).map(|c| (3, c)));
        out.extend(name(continent).map(|c| (4, c)));
    }
    let country_code = record
        .get("country")
        .and_then(|c| c.get("iso_code"))
        .and_then(Value::as_str);
    if let Some(country) = record.get("country") {
        out.extend(country_code.map(|c| (5, Value::String(c.into()))));
        out.extend(name(country).map(|c| (6, c)));
    }
    if let Some(region) = record.get("subdivisions").and_then(|s| s.get(0)) {
        if let (Some(country), Some(code)) =
            (country_code, region.get("iso_code").and_then(Value::as_str))
        {
            out.push((7, Value::String(format!("{country}-{code}"))));
        }
        out.extend(name(region).map(|r| (8, r)));
    }
    if let Some(location) = record.get("location") {
        if let (Some(lat), Some(lon)) = (location.get("latitude"), location.get("longitude")) {
            out.push((9, json!({"lat": lat, "lon": lon})));
        }
        out.extend(text(location.get("time_zone")).map(|t| (10, t)));
    }
    if let Some(p) = record.get("postal").and_then(|p| text(p.get("code"))) {
        out.push((11, p));
    }
    if let Value::Object(fields) = record {
        let flags: Map<String, Value> = fields
            .iter()
            .filter(|(k, v)| k.starts_with("is_") && v.is_boolean())
            .map(|(k, v)| (k["is_".len()..].to_string(), v.clone()))
            .collect();
        if !flags.is_empty() {
            out.push((12, Value::Object(flags)));
        }
    }
    out
}

impl sluice_core::Map for EnrichMmdb {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let result = (|| {
            let Some(address) = self.address(&mut message)? else {
                return Ok(());
            };
            for store in &self.stores {
                let found = store.get_now(&address).ok_or_else(|| {
                    TransformError::invalid("this store must be read asynchronously")
                })?;
                if let Some(record) = found.map_err(TransformError::invalid)? {
                    self.write(&mut message, &record)?;
                }
            }
            Ok(())
        })();
        self.failure.apply(message, result, out)
    }
}

impl Io for EnrichMmdb {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(async move {
            let mut items = Vec::with_capacity(batch.len());
            for mut m in batch {
                let address = self.address(&mut m);
                items.push((m, address));
            }
            let lookups: Vec<_> = items
                .iter()
                .map(|(_, address)| async move {
                    let Ok(Some(address)) = address else {
                        return Vec::new();
                    };
                    let mut found = Vec::with_capacity(self.stores.len());
                    for store in &self.stores {
                        found.push(store.get(address).await);
                    }
                    found
                })
                .collect();
            let found: Vec<_> = stream::iter(lookups).buffered(32).collect().await;
            items
                .into_iter()
                .zip(found)
                .map(|((mut m, address), found)| {
                    let result = address.and_then(|_| {
                        for record in found {
                            if let Some(r) = record.map_err(TransformError::invalid)? {
                                self.write(&mut m, &r)?;
                            }
                        }
                        Ok(())
                    });
                    self.failure.end(m, result)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv_mmdb::test_db;
    use crate::testing::{apply, apply_err, build_error, reasons, run};
    use proptest::prelude::*;
    use sluice_core::Message;

    fn config(settings: Value) -> Value {
        let mut t = settings;
        t["type"] = json!("enrich.mmdb");
        json!({
            "stores": {
                "asn": {"type": "mmdb", "path": test_db("GeoLite2-ASN-Test.mmdb")},
                "city": {"type": "mmdb", "path": test_db("GeoLite2-City-Test.mmdb")},
                "anon": {"type": "mmdb", "path": test_db("GeoIP2-Anonymous-IP-Test.mmdb")}
            },
            "transforms": [t]
        })
    }

    #[test]
    fn writes_ecs_as_and_geo() {
        let c = config(json!({"source": "source.ip", "stores": ["asn", "city"]}));
        assert_eq!(
            apply(
                c.clone(),
                &json!({"source": {"ip": "89.160.20.112", "port": 443}})
            ),
            vec![json!({"source": {
                "ip": "89.160.20.112",
                "port": 443,
                "as": {"number": 29518, "organization": {"name": "Bredband2 AB"}},
                "geo": {
                    "city_name": "Linköping",
                    "continent_code": "EU",
                    "continent_name": "Europe",
                    "country_iso_code": "SE",
                    "country_name": "Sweden",
                    "region_iso_code": "SE-E",
                    "region_name": "Östergötland County",
                    "location": {"lat": 58.4167, "lon": 15.6167},
                    "timezone": "Europe/Stockholm"
                }
            }})]
        );
        // London: a city, no ASN record in the test ASN database.
        let out = apply(c.clone(), &json!({"source": {"ip": "81.2.69.142"}}));
        assert_eq!(out[0]["source"]["geo"]["city_name"], json!("London"));
        assert_eq!(out[0]["source"]["geo"]["country_iso_code"], json!("GB"));
        assert!(out[0]["source"].get("as").is_none());
        // IPv6, country and city from 2001:480::/43.
        let out = apply(c, &json!({"source": {"ip": "2001:480::1"}}));
        assert_eq!(out[0]["source"]["geo"]["city_name"], json!("San Diego"));
    }

    #[test]
    fn only_what_the_database_has() {
        let c = config(json!({"source": "ip", "target": "client", "stores": ["asn"]}));
        assert_eq!(
            apply(c.clone(), &json!({"ip": "216.160.83.56"})),
            vec![json!({"ip": "216.160.83.56", "client": {"as": {"number": 209}}})]
        );
        // Not covered: unchanged. Missing: unchanged.
        assert_eq!(
            apply(c.clone(), &json!({"ip": "10.1.2.3"})),
            vec![json!({"ip": "10.1.2.3"})]
        );
        assert_eq!(apply(c, &json!({"other": 1})), vec![json!({"other": 1})]);
        // A top-level `ip` writes `as` at the top by default.
        let c = config(json!({"source": "ip", "stores": ["asn"]}));
        assert_eq!(
            apply(c, &json!({"ip": "216.160.83.56"}))[0]["as"]["number"],
            json!(209)
        );
    }

    #[test]
    fn anonymous_ip_flags() {
        let c = config(json!({"source": "source.ip", "stores": ["anon"]}));
        let out = apply(c.clone(), &json!({"source": {"ip": "65.0.0.1"}}));
        assert_eq!(
            out[0]["source"]["anonymous"],
            json!({"anonymous": true, "tor_exit_node": true})
        );
        assert_eq!(
            apply(c, &json!({"source": {"ip": "8.8.8.8"}})),
            vec![json!({"source": {"ip": "8.8.8.8"}})]
        );
    }

    #[test]
    fn bad_input_routes_or_skips() {
        let c = config(json!({"source": "source.ip", "stores": ["asn", "city"]}));
        let e = apply_err(c.clone(), &json!({"source": {"ip": "not-an-ip"}}));
        assert!(
            e.contains("`source.ip` is \"not-an-ip\", not an IP address"),
            "{e}"
        );
        let e = apply_err(c, &json!({"source": {"ip": 42}}));
        assert_eq!(e, "`source.ip` is number, expected an IP address string");

        let c = config(json!({"source": "source.ip", "stores": ["asn"], "on_error": "skip"}));
        let p = run(
            c,
            vec![Message::new(
                json!({"source": {"ip": "999.1.1.1"}}).to_string(),
            )],
        );
        assert!(reasons(&p).is_empty());
        let m = &p.output[0];
        assert_eq!(
            sluice_core::testing::output_value(m),
            json!({"source": {"ip": "999.1.1.1"}})
        );
        let why = m.meta()["enrich_errors"][0].as_str().unwrap();
        assert!(
            why.starts_with("transforms[0] (enrich.mmdb): `source.ip` is \"999.1.1.1\""),
            "{why}"
        );
    }

    #[test]
    fn config_errors() {
        let e = build_error(config(json!({"source": "ip", "stores": []})));
        assert!(e.contains("field `stores`: name at least one"), "{e}");
        let e = build_error(config(json!({"source": "ip", "stores": ["asn", "geo"]})));
        assert!(e.contains("field `stores[1]`: no store named `geo`"), "{e}");
    }

    #[test]
    fn paths() {
        assert_eq!(parent(&Path::parse("source.ip")).as_str(), "source");
        assert_eq!(parent(&Path::parse("a\\.b.ip")).segments[0].key, "a.b");
        assert!(parent(&Path::parse("ip")).is_root());
        assert_eq!(child(&Path::parse(""), "as.number").as_str(), "as.number");
        assert_eq!(child(&Path::parse("@meta"), "geo").as_str(), "@meta.geo");
        assert_eq!(parent(&Path::parse("@meta.x")).root, Root::Meta);
    }

    proptest! {
        // Any IPv4 address either is covered (and gets a number) or leaves the event alone;
        // it never errors.
        #[test]
        fn any_ipv4_is_enriched_or_untouched(a: u8, b: u8, c: u8, d: u8) {
            let ip = format!("{a}.{b}.{c}.{d}");
            let out = apply(config(json!({"source": "ip", "target": "t", "stores": ["asn"]})), &json!({"ip": ip}));
            prop_assert_eq!(out.len(), 1);
            match out[0].get("t") {
                None => prop_assert_eq!(&out[0], &json!({"ip": ip})),
                Some(t) => prop_assert!(t["as"]["number"].is_u64()),
            }
        }
    }
}
