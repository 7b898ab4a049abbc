//! DynamoDB as a store (`stores: {x: {type: "dynamodb", table: ...}}`), as a sink
//! (`send.dynamodb`) and as a lookup (`enrich.dynamodb_query`).
//!
//! The store keeps each key in one item: the key in `key_attribute`, the value in
//! `value_attribute`, the expiry (Unix seconds) in `ttl_attribute` for DynamoDB's TTL to delete.
//! TTL deletion runs late (up to days), so reads also treat an expired item as absent. Counters
//! use atomic `ADD`, "set if absent" a conditional put: several Lambda invocations sharing a
//! table count together and act once.

use crate::aws::{AwsContext, AwsSettings};
use crate::dynamodb_item::{from_attribute, from_item, to_attribute, to_item};
use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use futures::future::{BoxFuture, FutureExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::registry::SharedResource;
use sluice_core::{Message, Registry};
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
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let name = b.location().to_string();
        let cache = s.cache.clone();
        let store = DynamoStore {
            s,
            aws,
            client: OnceCell::new(),
            name: name.clone(),
        };
        // Reads that hit the cache never leave the process; writes go through to the table.
        let store = sluice_transforms::kv_cache::wrap(b, Arc::new(store), cache.as_ref());
        Ok(Arc::new(Store { name, store }) as SharedResource)
    });
    r.transform("send.dynamodb", |s: SendSettings, b| {
        if s.table.is_empty() {
            return Err(b.fail("field `table`: name the table"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        Sink::new(
            DynamoDestination {
                table: s.table,
                aws,
                client: OnceCell::new(),
            },
            s.common,
            b,
        )
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
    /// A sort key attribute, when the table has one; every item uses `sort_key_value`.
    #[serde(default)]
    pub sort_key_attribute: Option<String>,
    /// The sort key value written and read with every key.
    #[serde(default)]
    pub sort_key_value: Option<String>,
    /// The attribute that holds the value.
    #[serde(default = "default_value")]
    pub value_attribute: String,
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

struct DynamoStore {
    s: StoreSettings,
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

    fn key(&self, key: &str) -> HashMap<String, AttributeValue> {
        let mut k = HashMap::from([(
            self.s.key_attribute.clone(),
            AttributeValue::S(key.to_string()),
        )]);
        if let Some(sk) = &self.s.sort_key_attribute {
            k.insert(
                sk.clone(),
                AttributeValue::S(self.s.sort_key_value.clone().unwrap_or_default()),
            );
        }
        k
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
        let mut item = self.key(key);
        item.insert(self.s.value_attribute.clone(), to_attribute(&value));
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
                .set_key(Some(self.key(key)))
                .consistent_read(self.s.consistent_read)
                .send()
                .await
                .map_err(|e| {
                    self.fail("GetItem", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
                })?;
            Ok(out
                .item()
                .filter(|item| !self.expired(item))
                .and_then(|item| item.get(&self.s.value_attribute))
                .map(from_attribute))
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
                .set_key(Some(self.key(key)))
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
                .set_key(Some(self.key(key)))
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
                .set_key(Some(self.key(key)))
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

/// Write each message (a JSON object holding the table's key attributes) as an item
/// (BatchWriteItem, 25 items a call, with retries of unprocessed items).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendSettings {
    /// The table.
    pub table: String,
    /// AWS settings for this sink, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
    #[serde(flatten)]
    pub common: Common,
}

struct DynamoDestination {
    table: String,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_dynamodb::Client>,
}

impl Destination for DynamoDestination {
    fn call_limits(&self) -> (usize, usize) {
        (25, 16 * 1024 * 1024)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        Box::pin(async move {
            let mut deliveries = vec![Delivery::Sent; records.len()];
            let mut requests = Vec::new();
            let mut index = Vec::new();
            for (i, m) in records.iter_mut().enumerate() {
                match m.value() {
                    Ok(Value::Object(map)) => {
                        let put = PutRequest::builder().set_item(Some(to_item(map))).build();
                        match put {
                            Ok(p) => {
                                requests.push(WriteRequest::builder().put_request(p).build());
                                index.push(i);
                            }
                            Err(e) => {
                                deliveries[i] =
                                    Delivery::Failed(format!("building a DynamoDB item: {e}"))
                            }
                        }
                    }
                    Ok(_) => {
                        deliveries[i] =
                            Delivery::Failed("a DynamoDB item must be a JSON object".into())
                    }
                    Err(e) => deliveries[i] = Delivery::Failed(e.to_string()),
                }
            }
            if requests.is_empty() {
                return Ok(deliveries);
            }
            let client = self.client.get_or_init(|| self.aws.dynamodb()).await;
            let out = client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| {
                    let why = format!(
                        "DynamoDB BatchWriteItem to `{}` failed: {}",
                        self.table,
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    );
                    match e.as_service_error() {
                        Some(s) if s.is_resource_not_found_exception() => CallError::fail(why),
                        _ => CallError::retry(why),
                    }
                })?;
            // Unprocessed items come back as the requests themselves: match them to records.
            let unprocessed: Vec<Value> = out
                .unprocessed_items()
                .and_then(|u| u.get(&self.table))
                .into_iter()
                .flatten()
                .filter_map(|w| w.put_request().map(|p| from_item(p.item())))
                .collect();
            for i in index {
                if let Ok(v) = records[i].value()
                    && unprocessed.contains(v)
                {
                    deliveries[i] =
                        Delivery::Retry("DynamoDB left the item unprocessed (throughput)".into());
                }
            }
            Ok(deliveries)
        })
    }
}
