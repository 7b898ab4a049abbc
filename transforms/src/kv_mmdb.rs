//! The `mmdb` store: a MaxMind DB file (GeoLite2/GeoIP2 ASN, City, Country, Anonymous IP, or
//! any database in the MaxMind DB format), looked up by IP address.
//!
//! The key is an IP address; the value is the database's record for the network holding it, as
//! JSON (`{"autonomous_system_number": 29518, ...}`, `{"city": {"names": {"en": ...}}, ...}`).
//! An address the database does not cover is not found, like a missing key; a key that is not an
//! IP address is an error. The file is read once when the config is built; a missing or corrupt
//! file fails the config. `enrich.mmdb` turns these records into ECS `as.*` and `geo.*` fields;
//! `enrich.kv_get` gives the raw record.

use crate::kv::{Lookup, ReadOnly, Store, StoreError, StoreResult};
use crate::kv_cache::CacheSettings;
use maxminddb::Reader;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Registry;
use sluice_core::registry::SharedResource;
use std::net::IpAddr;
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.store("mmdb", |s: MmdbSettings, b| {
        let reader = Reader::open_readfile(&s.path)
            .map_err(|e| b.fail(format!("field `path`: cannot open {}: {e}", s.path)))?;
        let name = b.location().to_string();
        let store = Arc::new(ReadOnly {
            name: name.clone(),
            what: "a MaxMind database",
            inner: MmdbStore {
                name: name.clone(),
                database: reader.metadata().database_type.clone(),
                reader,
                languages: s.languages,
            },
        });
        Ok(Arc::new(Store {
            name,
            store: crate::kv_cache::wrap(b, store, s.cache.as_ref()),
        }) as SharedResource)
    });
}

/// A MaxMind DB file (`.mmdb`: GeoLite2/GeoIP2 ASN, City, Country, Anonymous IP...) looked up
/// by IP address; the value is the record of the network holding the address, as JSON. An
/// address outside the database is not found. Read once when the config is built; read-only.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MmdbSettings {
    /// The database file (path relative to the working directory).
    pub path: String,
    /// The languages of place names to keep (`names` objects in City and Country records);
    /// an empty list keeps all of them.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// A memory cache of decoded records in front (`{capacity, ttl, negative_ttl}`): worth it
    /// when the same addresses come back often, as decoding a City record costs microseconds.
    #[serde(default)]
    pub cache: Option<CacheSettings>,
}

fn default_languages() -> Vec<String> {
    vec!["en".into()]
}

pub struct MmdbStore {
    name: String,
    database: String,
    reader: Reader<Vec<u8>>,
    languages: Vec<String>,
}

impl MmdbStore {
    /// The database type from its metadata, e.g. `GeoLite2-City`.
    pub fn database(&self) -> &str {
        &self.database
    }

    fn fail(&self, problem: String) -> StoreError {
        StoreError::Failed {
            store: self.name.clone(),
            problem,
        }
    }

    /// The record for an address: `Ok(None)` when the database does not cover it (or holds an
    /// empty record for it, as Anonymous IP databases do for ordinary addresses).
    pub fn lookup(&self, key: &str) -> StoreResult<Option<Value>> {
        let ip: IpAddr = key.trim().parse().map_err(|_| {
            self.fail(format!(
                "`{key}` is not an IP address; an mmdb store is looked up by IPv4 or IPv6 address"
            ))
        })?;
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            // An IPv4-only database knows nothing about IPv6 addresses.
            return Ok(None);
        }
        let result = self
            .reader
            .lookup(ip)
            .map_err(|e| self.fail(format!("lookup of {ip} in {}: {e}", self.database)))?;
        let record: Option<Value> = result
            .decode()
            .map_err(|e| self.fail(format!("decoding the record for {ip}: {e}")))?;
        Ok(match record {
            Some(Value::Object(m)) if m.is_empty() => None,
            Some(mut v) => {
                if !self.languages.is_empty() {
                    keep_languages(&mut v, &self.languages);
                }
                Some(v)
            }
            None => None,
        })
    }
}

/// Drops the place names in languages not asked for, so records stay small.
fn keep_languages(v: &mut Value, languages: &[String]) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::Object(names) if k == "names" => {
                        names.retain(|lang, _| languages.iter().any(|l| l == lang));
                    }
                    _ => keep_languages(child, languages),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| keep_languages(i, languages)),
        _ => {}
    }
}

impl Lookup for MmdbStore {
    fn lookup(&self, key: &str) -> StoreResult<Option<Value>> {
        MmdbStore::lookup(self, key)
    }
}

/// The MaxMind test databases shipped in `testdata/mmdb/`, for tests in this crate.
#[cfg(test)]
pub(crate) fn test_db(name: &str) -> String {
    format!("{}/../testdata/mmdb/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvStore;
    use crate::testing::{apply, apply_err, build_error};
    use serde_json::json;

    fn config(db: &str, extra: Value) -> Value {
        let mut store = json!({"type": "mmdb", "path": test_db(db)});
        if let (Value::Object(s), Value::Object(e)) = (&mut store, extra) {
            s.extend(e);
        }
        json!({
            "stores": {"geo": store},
            "transforms": [{"type": "enrich.kv_get", "source": "ip", "target": "rec", "store": "geo"}]
        })
    }

    #[test]
    fn asn_records_by_address() {
        let c = config("GeoLite2-ASN-Test.mmdb", json!({}));
        assert_eq!(
            apply(c.clone(), &json!({"ip": "89.160.20.112"})),
            vec![json!({"ip": "89.160.20.112", "rec": {
                "autonomous_system_number": 29518,
                "autonomous_system_organization": "Bredband2 AB"
            }})]
        );
        // 12.81.96.0/19 has a number and no organization.
        assert_eq!(
            apply(c.clone(), &json!({"ip": "12.81.96.1"})),
            vec![json!({"ip": "12.81.96.1", "rec": {"autonomous_system_number": 7018}})]
        );
        assert_eq!(
            apply(c.clone(), &json!({"ip": "2600:7000::1"}))[0]["rec"]["autonomous_system_number"],
            json!(6939)
        );
        // Outside the database: not found, the event is unchanged.
        assert_eq!(
            apply(c.clone(), &json!({"ip": "10.0.0.1"})),
            vec![json!({"ip": "10.0.0.1"})]
        );
        let e = apply_err(c, &json!({"ip": "not-an-ip"}));
        assert!(e.contains("`not-an-ip` is not an IP address"), "{e}");
    }

    #[test]
    fn city_records_keep_the_asked_languages() {
        let c = config("GeoLite2-City-Test.mmdb", json!({}));
        let out = apply(c, &json!({"ip": "89.160.20.112"}));
        let rec = &out[0]["rec"];
        assert_eq!(rec["city"]["names"], json!({"en": "Linköping"}));
        assert_eq!(rec["country"]["iso_code"], json!("SE"));
        let c = config("GeoLite2-City-Test.mmdb", json!({"languages": []}));
        let out = apply(c, &json!({"ip": "89.160.20.112"}));
        assert!(out[0]["rec"]["city"]["names"].as_object().unwrap().len() > 1);
    }

    #[test]
    fn anonymous_ip_empty_records_are_not_found() {
        let c = config("GeoIP2-Anonymous-IP-Test.mmdb", json!({}));
        assert_eq!(
            apply(c.clone(), &json!({"ip": "81.2.69.1"}))[0]["rec"]["is_tor_exit_node"],
            json!(true)
        );
        // An ordinary public address holds `{}` in this database: treated as not found.
        assert_eq!(
            apply(c, &json!({"ip": "8.8.8.8"})),
            vec![json!({"ip": "8.8.8.8"})]
        );
    }

    #[test]
    fn bad_files_fail_the_config_and_writes_are_refused() {
        let e = build_error(
            json!({"stores": {"geo": {"type": "mmdb", "path": "/nonexistent.mmdb"}}, "transforms": []}),
        );
        assert!(
            e.contains("stores.geo (mmdb): field `path`: cannot open /nonexistent.mmdb"),
            "{e}"
        );
        let e = build_error(
            json!({"stores": {"geo": {"type": "mmdb", "path": test_db("LICENSE-MaxMind-DB.txt")}}, "transforms": []}),
        );
        assert!(e.contains("field `path`: cannot open"), "{e}");
        let store = ReadOnly {
            name: "t".into(),
            what: "a MaxMind database",
            inner: MmdbStore {
                name: "t".into(),
                database: String::new(),
                reader: Reader::open_readfile(test_db("GeoLite2-ASN-Test.mmdb")).unwrap(),
                languages: vec![],
            },
        };
        assert_eq!(store.inner.database(), "");
        let e = futures::executor::block_on(store.set("1.1.1.1", json!(1), None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "store `t`: this store is read-only (a MaxMind database)"
        );
        // An IPv6 address in an IPv4-only database would be not found, not an error.
        assert_eq!(store.get_now("2001:db8::1").unwrap().unwrap(), None);
    }

    #[test]
    fn cache_in_front_counts_in_the_account() {
        let c = config(
            "GeoLite2-ASN-Test.mmdb",
            json!({"cache": {"capacity": 100, "ttl": "1m"}}),
        );
        let config = sluice_core::Config::from_value(c, "test").unwrap();
        let pipeline = config
            .build(&crate::registry(), &sluice_core::Resources::default())
            .unwrap();
        let input = ["89.160.20.112", "89.160.20.112", "10.0.0.1", "10.0.0.1"]
            .iter()
            .map(|ip| sluice_core::Message::new(json!({"ip": ip}).to_string()))
            .collect();
        futures::executor::block_on(pipeline.process(input)).unwrap();
        let counters = pipeline.account().counters;
        assert!(
            counters.contains(&("stores.geo (cache) hits".into(), 2)),
            "{counters:?}"
        );
        assert!(
            counters.contains(&("stores.geo (cache) misses".into(), 2)),
            "{counters:?}"
        );
    }
}
