//! DynamoDB as a store: `stores: {x: {type: "dynamodb", table: ...}}`. (The sink is
//! `send_dynamodb`, the query lookup `enrich_dynamodb`.)
//!
//! The store keeps each key in one item: the key in `key_attribute` (with a sort key, fixed or
//! taken from the key), the value in `value_attribute` or, for tables that others write (a user
//! directory), the whole item; the expiry (Unix seconds) in `ttl_attribute` for DynamoDB's TTL
//! to delete. TTL deletion runs late (up to days), so reads also treat an expired item as
//! absent. A batch's reads are one BatchGetItem per 100 keys. Counters use atomic `ADD`, "set if
//! absent" a conditional put: several Lambda invocations sharing a table count together and act
//! once.

use crate::aws::{AwsContext, AwsSettings};
use crate::dynamodb_item::{from_attribute, to_attribute, to_item};
use crate::sink::Retry;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Registry;
use sluice_core::registry::SharedResource;
use sluice_transforms::kv::{KvStore, Store, StoreError, StoreResult};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.store("dynamodb", |s: StoreSettings, b| {
        if s.table.is_empty() {
            return Err(b.fail("field `table`: name the table"));
        }
        let sort_key = SortKey::from_settings(&s).map_err(|e| b.fail(e))?;
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let name = b.location().to_string();
        let cache = s.cache.clone();
        let store = DynamoStore {
            s,
            sort_key,
            aws,
            client: OnceCell::new(),
            name: name.clone(),
        };
        // Reads that hit the cache never leave the process; writes go through to the table.
        let store = sluice_transforms::kv_cache::wrap(b, Arc::new(store), cache.as_ref());
        Ok(Arc::new(Store { name, store }) as SharedResource)
    });
}

/// A DynamoDB table as a key-value store, shared by every process that names it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct StoreSettings {
    /// The table. Its partition key is a string attribute named by `key_attribute`.
    pub table: String,
    /// The partition key attribute.
    #[serde(default = "default_key")]
    pub key_attribute: String,
    /// The sort key attribute (a string), when the table has one. Say which sort key each key
    /// means with `sort_key_value` or `sort_key_separator`.
    #[serde(default)]
    pub sort_key_attribute: Option<String>,
    /// One sort key value for every key (e.g. `profile`).
    #[serde(default)]
    pub sort_key_value: Option<String>,
    /// The key carries its own sort key: `PARTITION<separator>SORT`, split at the first
    /// separator (e.g. `|`: `alice@example.com|2026-11` reads partition `alice@example.com`,
    /// sort key `2026-11`). Build such keys with `string.format` before the lookup.
    #[serde(default)]
    pub sort_key_separator: Option<String>,
    /// The attribute that holds the value.
    #[serde(default = "default_value")]
    pub value_attribute: String,
    /// Reads give the whole item, without its key and TTL attributes, as an object; writes of
    /// an object store its fields as attributes. For tables that something else writes (a user
    /// directory with `full_name` and `roles`). Counters and sets still use `value_attribute`.
    #[serde(default)]
    pub whole_item: bool,
    /// The table's TTL attribute (Unix seconds).
    #[serde(default = "default_ttl")]
    pub ttl_attribute: String,
    /// Strongly consistent reads (twice the read cost).
    #[serde(default)]
    pub consistent_read: bool,
    /// A memory cache in front of the table: `{capacity, ttl, negative_ttl}`.
    #[serde(default)]
    pub cache: Option<sluice_transforms::kv_cache::CacheSettings>,
    /// AWS settings for this store, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
}

fn default_key() -> String {
    "pk".into()
}
fn default_value() -> String {
    "value".into()
}
fn default_ttl() -> String {
    "expires_at".into()
}

/// Which sort key a key means.
enum SortKey {
    None,
    Fixed {
        attribute: String,
        value: String,
    },
    FromKey {
        attribute: String,
        separator: String,
    },
}

impl SortKey {
    fn from_settings(s: &StoreSettings) -> Result<SortKey, String> {
        let attribute = s.sort_key_attribute.clone();
        match (attribute, &s.sort_key_value, &s.sort_key_separator) {
            (None, None, None) => Ok(SortKey::None),
            (None, _, _) => Err("field `sort_key_attribute`: name the table's sort key attribute; `sort_key_value` and `sort_key_separator` need it".into()),
            (Some(_), Some(_), Some(_)) => Err("field `sort_key_separator`: give either `sort_key_value` (one sort key for all) or `sort_key_separator` (each key carries its own), not both".into()),
            (Some(_), None, None) => Err("field `sort_key_attribute`: say which sort key each key means: `sort_key_value` (one for all) or `sort_key_separator` (taken from the key)".into()),
            (Some(_), _, Some(sep)) if sep.is_empty() => Err("field `sort_key_separator`: must not be empty".into()),
            (Some(attribute), Some(value), None) => Ok(SortKey::Fixed { attribute, value: value.clone() }),
            (Some(attribute), None, Some(separator)) => Ok(SortKey::FromKey { attribute, separator: separator.clone() }),
        }
    }
}

struct DynamoStore {
    s: StoreSettings,
    sort_key: SortKey,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_dynamodb::Client>,
    name: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoStore {
    async fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.client.get_or_init(|| self.aws.dynamodb()).await
    }

    /// The item's key attributes for `key`.
    fn key(&self, key: &str) -> StoreResult<HashMap<String, AttributeValue>> {
        let (partition, sort) = match &self.sort_key {
            SortKey::None => (key, None),
            SortKey::Fixed { attribute, value } => (key, Some((attribute, value.as_str()))),
            SortKey::FromKey {
                attribute,
                separator,
            } => match key.split_once(separator.as_str()) {
                Some((p, s)) => (p, Some((attribute, s))),
                None => {
                    return Err(StoreError::Failed {
                        store: self.name.clone(),
                        problem: format!(
                            "the key `{key}` has no `{separator}` between partition and sort key"
                        ),
                    });
                }
            },
        };
        // DynamoDB refuses a whole request for one bad key: refuse it here, alone.
        let bad = |what: &str| StoreError::Failed {
            store: self.name.clone(),
            problem: format!("the key `{key}` {what}"),
        };
        if partition.is_empty() {
            return Err(bad("has an empty partition key"));
        }
        if partition.len() > 2048 {
            return Err(bad("has a partition key over DynamoDB's 2048 bytes"));
        }
        match sort {
            Some((_, "")) => return Err(bad("has an empty sort key")),
            Some((_, s)) if s.len() > 1024 => {
                return Err(bad("has a sort key over DynamoDB's 1024 bytes"));
            }
            _ => {}
        }
        let mut k = HashMap::from([(
            self.s.key_attribute.clone(),
            AttributeValue::S(partition.to_string()),
        )]);
        if let Some((attribute, value)) = sort {
            k.insert(attribute.clone(), AttributeValue::S(value.to_string()));
        }
        Ok(k)
    }

    /// The key text of an item read back: the inverse of `key`.
    fn key_of(&self, item: &HashMap<String, AttributeValue>) -> Option<String> {
        let partition = item.get(&self.s.key_attribute)?.as_s().ok()?;
        match &self.sort_key {
            SortKey::FromKey {
                attribute,
                separator,
            } => Some(format!(
                "{partition}{separator}{}",
                item.get(attribute)?.as_s().ok()?
            )),
            _ => Some(partition.clone()),
        }
    }

    /// What a read gives for an item: its value, or the whole item without key and TTL.
    fn value_of(&self, item: &HashMap<String, AttributeValue>) -> Option<Value> {
        if self.expired(item) {
            return None;
        }
        if !self.s.whole_item {
            return item.get(&self.s.value_attribute).map(from_attribute);
        }
        let sort = match &self.sort_key {
            SortKey::None => None,
            SortKey::Fixed { attribute, .. } | SortKey::FromKey { attribute, .. } => {
                Some(attribute)
            }
        };
        let fields = item
            .iter()
            .filter(|(name, _)| {
                **name != self.s.key_attribute
                    && **name != self.s.ttl_attribute
                    && Some(*name) != sort
            })
            .map(|(name, v)| (name.clone(), from_attribute(v)))
            .collect();
        Some(Value::Object(fields))
    }

    /// One BatchGetItem of at most 100 distinct keys, asking again for the keys DynamoDB left
    /// unprocessed (throughput) with backoff; what is still unprocessed after the last attempt
    /// is an error for those keys.
    async fn batch_get(&self, keys: &[&str]) -> Vec<(String, StoreResult<Option<Value>>)> {
        let mut answers = Vec::with_capacity(keys.len());
        let mut request = Vec::with_capacity(keys.len());
        for k in keys {
            match self.key(k) {
                Ok(attributes) => request.push(attributes),
                Err(e) => answers.push((k.to_string(), Err(e))),
            }
        }
        let retry = Retry::default();
        let mut found: HashMap<String, Value> = HashMap::new();
        let mut attempt = 0;
        while !request.is_empty() {
            attempt += 1;
            let ask = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut request)))
                .consistent_read(self.s.consistent_read)
                .build()
                .expect("keys are set");
            let out = match self
                .client()
                .await
                .batch_get_item()
                .request_items(&self.s.table, ask.clone())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let e = self.fail(
                        "BatchGetItem",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                    );
                    for k in ask.keys() {
                        answers.push((self.key_of(k).unwrap_or_default(), Err(e.clone())));
                    }
                    break;
                }
            };
            for item in out
                .responses()
                .and_then(|r| r.get(&self.s.table))
                .into_iter()
                .flatten()
            {
                if let (Some(k), Some(v)) = (self.key_of(item), self.value_of(item)) {
                    found.insert(k, v);
                }
            }
            request = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.s.table))
                .map(|u| u.keys().to_vec())
                .unwrap_or_default();
            if request.is_empty() {
                break;
            }
            if attempt >= retry.attempts {
                let e = self.fail(
                    "BatchGetItem",
                    format!("keys still unprocessed after {attempt} attempts (throughput)"),
                );
                for k in &request {
                    answers.push((self.key_of(k).unwrap_or_default(), Err(e.clone())));
                }
                break;
            }
            tokio::time::sleep(retry.delay(attempt)).await;
        }
        let mut answered: HashMap<String, StoreResult<Option<Value>>> =
            answers.into_iter().collect();
        keys.iter()
            .map(|k| {
                let answer = answered.remove(*k).unwrap_or_else(|| Ok(found.remove(*k)));
                (k.to_string(), answer)
            })
            .collect()
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Failed {
            store: self.name.clone(),
            problem: format!("DynamoDB {what} on table `{}`: {e}", self.s.table),
        }
    }

    fn expired(&self, item: &HashMap<String, AttributeValue>) -> bool {
        matches!(item.get(&self.s.ttl_attribute), Some(AttributeValue::N(t)) if t.parse::<u64>().is_ok_and(|t| t <= now()))
    }

    fn expiry(ttl: Option<Duration>) -> Option<AttributeValue> {
        ttl.map(|t| n(now() + t.as_secs().max(1)))
    }

    /// `attribute_not_exists(key) OR ttl <= :now`: absent, or present only as an expired item.
    fn absent_condition(&self) -> (String, HashMap<String, String>) {
        (
            "attribute_not_exists(#k) OR #t <= :now".into(),
            HashMap::from([
                ("#k".into(), self.s.key_attribute.clone()),
                ("#t".into(), self.s.ttl_attribute.clone()),
            ]),
        )
    }

    async fn put(
        &self,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
        only_if_absent: bool,
    ) -> StoreResult<bool> {
        let mut item = self.key(key)?;
        match (&value, self.s.whole_item) {
            (Value::Object(fields), true) => item.extend(to_item(fields)),
            _ => {
                item.insert(self.s.value_attribute.clone(), to_attribute(&value));
            }
        }
        if let Some(e) = Self::expiry(ttl) {
            item.insert(self.s.ttl_attribute.clone(), e);
        }
        let mut put = self
            .client()
            .await
            .put_item()
            .table_name(&self.s.table)
            .set_item(Some(item));
        if only_if_absent {
            let (condition, names) = self.absent_condition();
            put = put
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .expression_attribute_values(":now", n(now()));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail("PutItem", aws_sdk_dynamodb::error::DisplayErrorContext(&e))),
        }
    }
}

impl KvStore for DynamoStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Value>>> {
        async move {
            let out = self
                .client()
                .await
                .get_item()
                .table_name(&self.s.table)
                .set_key(Some(self.key(key)?))
                .consistent_read(self.s.consistent_read)
                .send()
                .await
                .map_err(|e| {
                    self.fail("GetItem", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
                })?;
            Ok(out.item().and_then(|item| self.value_of(item)))
        }
        .boxed()
    }

    /// BatchGetItem takes at most 100 distinct keys a call; the calls run `concurrency` at once.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        concurrency: usize,
    ) -> BoxFuture<'a, Vec<StoreResult<Option<Value>>>> {
        async move {
            let mut distinct: Vec<&str> = keys.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            let mut calls = Vec::new();
            for chunk in distinct.chunks(100) {
                calls.push(self.batch_get(chunk));
            }
            let answers: Vec<Vec<_>> = stream::iter(calls)
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
            let answered: HashMap<String, StoreResult<Option<Value>>> =
                answers.into_iter().flatten().collect();
            keys.iter()
                .map(|k| answered.get(*k).cloned().unwrap_or(Ok(None)))
                .collect()
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        async move { self.put(key, value, ttl, false).await.map(|_| ()) }.boxed()
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.put(key, value, ttl, true).boxed()
    }

    fn add_to_set<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        async move {
            // A string set of the values' JSON text; the condition makes "was it new?" exact.
            let element = value.to_string();
            let mut update = self
                .client()
                .await
                .update_item()
                .table_name(&self.s.table)
                .set_key(Some(self.key(key)?))
                .update_expression(if ttl.is_some() {
                    "ADD #v :e SET #t = :exp"
                } else {
                    "ADD #v :e"
                })
                .condition_expression("attribute_not_exists(#v) OR NOT contains(#v, :one)")
                .expression_attribute_names("#v", &self.s.value_attribute)
                .expression_attribute_values(":e", AttributeValue::Ss(vec![element.clone()]))
                .expression_attribute_values(":one", AttributeValue::S(element));
            if let Some(e) = Self::expiry(ttl) {
                update = update
                    .expression_attribute_names("#t", &self.s.ttl_attribute)
                    .expression_attribute_values(":exp", e);
            }
            match update.send().await {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(self.fail(
                    "UpdateItem (ADD to set)",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                )),
            }
        }
        .boxed()
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        async move {
            // Count in the live item; an expired one (TTL deletes late) starts a fresh count.
            let (condition, mut names) = self.absent_condition();
            names.insert("#v".into(), self.s.value_attribute.clone());
            let live = format!("NOT ({condition})");
            let mut update = self
                .client()
                .await
                .update_item()
                .table_name(&self.s.table)
                .set_key(Some(self.key(key)?))
                .update_expression("ADD #v :by")
                .condition_expression(format!("attribute_not_exists(#k) OR {live}"))
                .set_expression_attribute_names(Some(names.clone()))
                .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
                .expression_attribute_values(":now", n(now()))
                .return_values(ReturnValue::AllNew);
            if let Some(e) = Self::expiry(ttl) {
                update = update
                    .update_expression("ADD #v :by SET #t = if_not_exists(#t, :exp)")
                    .expression_attribute_values(":exp", e);
            }
            match update.send().await {
                Ok(out) => {
                    let value = out
                        .attributes()
                        .and_then(|a| a.get(&self.s.value_attribute))
                        .map(from_attribute);
                    value
                        .and_then(|v| v.as_i64())
                        .ok_or_else(|| StoreError::WrongType {
                            store: self.name.clone(),
                            key: key.to_string(),
                            expected: "counter",
                        })
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    // The item had expired: replace it, unless another writer just did.
                    if self.put(key, Value::from(by), ttl, true).await? {
                        Ok(by)
                    } else {
                        self.increment(key, by, ttl).await
                    }
                }
                Err(e) => Err(self.fail(
                    "UpdateItem (ADD)",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                )),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        async move {
            self.client()
                .await
                .delete_item()
                .table_name(&self.s.table)
                .set_key(Some(self.key(key)?))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    self.fail(
                        "DeleteItem",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                    )
                })
        }
        .boxed()
    }
}
