//! Read-only stores loaded once at start: `file` (CSV, JSON, JSON lines or a text list) and
//! `table` (a JSON object written in the config itself).
//!
//! These are the lookup tables of enrichment: VPC, subnet and account ids to names, event names
//! to ECS categories, known-bad IP lists. A bad file fails the config before any input is read.

use crate::kv::{ReadOnly, Store};
use crate::kv_cache::CacheSettings;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::registry::SharedResource;
use sluice_core::{Builder, ConfigErrors, Registry};
use std::collections::HashMap;
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.store("file", |s: FileSettings, b| {
        let entries = load(&s, b)?;
        Ok(shared(b, entries, s.cache.as_ref()))
    });
    r.store("table", |s: TableSettings, b| {
        let entries = s.values.into_iter().collect();
        Ok(shared(b, entries, s.cache.as_ref()))
    });
}

fn shared(
    b: &Builder,
    entries: HashMap<String, Value>,
    cache: Option<&CacheSettings>,
) -> SharedResource {
    let name = b.location().to_string();
    let store = Arc::new(ReadOnly {
        name: name.clone(),
        what: "loaded from a file or the config",
        inner: entries,
    });
    Arc::new(Store {
        name,
        store: crate::kv_cache::wrap(b, store, cache),
    })
}

/// The layout of a `file` store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// A header row, then one row per key; the value is an object of the other columns (or
    /// the `value` column alone).
    #[default]
    Csv,
    /// One JSON object: keys to values.
    Json,
    /// One JSON object per line, each holding its key in the `key` field.
    Jsonl,
    /// One key per line; the value is `true` (a set, e.g. known-bad addresses).
    Text,
}

/// A lookup table loaded once from a file (path relative to the working directory).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FileSettings {
    /// The file to load.
    pub path: String,
    /// `csv`, `json`, `jsonl` or `text`.
    #[serde(default)]
    pub format: FileFormat,
    /// The CSV column or JSON-lines field holding the key; the first CSV column by default.
    #[serde(default)]
    pub key: Option<String>,
    /// The CSV column or JSON-lines field to use as the value; the whole row by default.
    #[serde(default)]
    pub value: Option<String>,
    /// A memory cache in front (`{capacity, ttl, negative_ttl}`); rarely useful for a table
    /// that is already in memory, but it counts hits and misses in the account.
    #[serde(default)]
    pub cache: Option<CacheSettings>,
}

/// A lookup table written in the config: `{"values": {"ConsoleLogin": {...}, ...}}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TableSettings {
    /// Keys to values.
    pub values: Map<String, Value>,
    /// A memory cache in front (`{capacity, ttl, negative_ttl}`); see the `file` store.
    #[serde(default)]
    pub cache: Option<CacheSettings>,
}

fn load(s: &FileSettings, b: &Builder) -> Result<HashMap<String, Value>, ConfigErrors> {
    let text = std::fs::read_to_string(&s.path)
        .map_err(|e| b.fail(format!("field `path`: cannot read {}: {e}", s.path)))?;
    let bad = |line: usize, why: String| b.fail(format!("{} line {line}: {why}", s.path));
    let pick =
        |mut row: Map<String, Value>, line: usize| -> Result<(String, Value), ConfigErrors> {
            let key_field = s.key.as_deref().unwrap_or("key");
            let key = match row.remove(key_field) {
                Some(Value::String(k)) => k,
                Some(other) => other.to_string(),
                None => return Err(bad(line, format!("no `{key_field}` field"))),
            };
            let value = match &s.value {
                Some(v) => row
                    .remove(v)
                    .ok_or_else(|| bad(line, format!("no `{v}` field")))?,
                None => Value::Object(row),
            };
            Ok((key, value))
        };
    let mut entries = HashMap::new();
    match s.format {
        FileFormat::Json => {
            let object: Map<String, Value> = serde_json::from_str(&text)
                .map_err(|e| bad(e.line(), format!("expected one JSON object: {e}")))?;
            entries.extend(object);
        }
        FileFormat::Jsonl => {
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let row: Map<String, Value> =
                    serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
                let (k, v) = pick(row, i + 1)?;
                entries.insert(k, v);
            }
        }
        FileFormat::Text => {
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                entries.insert(line.to_string(), Value::Bool(true));
            }
        }
        FileFormat::Csv => {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
            let key_column = s
                .key
                .clone()
                .unwrap_or_else(|| headers.get(0).unwrap_or("").to_string());
            if !headers.iter().any(|h| h == key_column) {
                return Err(b.fail(format!(
                    "{}: no column `{key_column}` in the header",
                    s.path
                )));
            }
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| bad(i + 2, e.to_string()))?;
                let row: Map<String, Value> = headers
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                    .collect();
                let mut row = row;
                let key = row
                    .remove(&key_column)
                    .map(|k| k.as_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                let value = match &s.value {
                    Some(v) => row
                        .remove(v)
                        .ok_or_else(|| bad(i + 2, format!("no `{v}` column")))?,
                    None => Value::Object(row),
                };
                entries.insert(key, value);
            }
        }
    }
    Ok(entries)
}
