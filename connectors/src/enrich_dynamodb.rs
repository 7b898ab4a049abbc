//! `enrich.dynamodb_query`: look events up in a DynamoDB table by a key condition (a user by
//! e-mail through an index, an asset by id), with a memory cache in front.
//!
//! The lookups of one batch run concurrently (bounded), each with a timeout. A key with no item
//! leaves the event as it was; a failed query goes to the error route or is skipped, as
//! `on_error` says.

use crate::aws::{AwsContext, AwsSettings};
use crate::dynamodb_item::{from_item, to_attribute};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::message::value_text;
use sluice_core::{BatchItem, Failed, Io, Message, Output, Path, Registry, TransformError};
use sluice_transforms::batch::Duration;
use sluice_transforms::kv_cache::{CacheCounters, CacheSettings, TtlCache};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub fn register(r: &mut Registry) {
    r.io("enrich.dynamodb_query", |s: QuerySettings, b| {
        if s.table.is_empty() || s.partition_key.is_empty() {
            return Err(b.fail("fields `table` and `partition_key`: both must be given"));
        }
        if s.limit == 0 || s.concurrency == 0 {
            return Err(b.fail("fields `limit` and `concurrency`: must be at least 1"));
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let counters = CacheCounters::named(b, &format!("{} (cache)", b.location()));
        let cache = s.cache.as_ref().and_then(|c| TtlCache::new(c, counters));
        Ok(Query {
            s,
            aws,
            client: OnceCell::new(),
            cache,
        })
    });
}

/// What to do when a lookup fails (not when it finds nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send the message to the error route with the reason.
    #[default]
    Route,
    /// Pass the message on without the field.
    Skip,
}

/// Query a DynamoDB table (or one of its indexes) by the value of a field and write the items
/// found to `target`: the first item, or an array with `limit` above 1.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QuerySettings {
    /// The field whose value is the partition key value.
    pub source: Path,
    /// Where to write what is found.
    pub target: Path,
    /// The table.
    pub table: String,
    /// A global or local secondary index to query instead of the table.
    #[serde(default)]
    pub index: Option<String>,
    /// The partition key attribute (of the index, when one is named).
    pub partition_key: String,
    /// The most items to return; 1 writes the item itself, more write an array.
    #[serde(default = "one")]
    pub limit: usize,
    /// Newest first (descending sort key) when false.
    #[serde(default = "yes")]
    pub scan_index_forward: bool,
    /// A memory cache of answers: `{capacity, ttl, negative_ttl}`.
    #[serde(default)]
    pub cache: Option<CacheSettings>,
    /// The longest one query may take.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Queries of one batch in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// `route` (default) or `skip`, when a query fails.
    #[serde(default)]
    pub on_error: OnError,
    /// AWS settings for this lookup, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_concurrency() -> usize {
    16
}

struct Query {
    s: QuerySettings,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_dynamodb::Client>,
    cache: Option<TtlCache<Value>>,
}

impl Query {
    async fn lookup(&self, key: &Value) -> Result<Option<Value>, String> {
        let cache_key = key.to_string();
        if let Some(cache) = &self.cache
            && let Some(found) = cache.get(&cache_key, true)
        {
            return Ok(found);
        }
        let client = self.client.get_or_init(|| self.aws.dynamodb()).await;
        let mut query = client
            .query()
            .table_name(&self.s.table)
            .key_condition_expression("#pk = :v")
            .expression_attribute_names("#pk", &self.s.partition_key)
            .expression_attribute_values(":v", to_attribute(key))
            .limit(self.s.limit.min(i32::MAX as usize) as i32)
            .scan_index_forward(self.s.scan_index_forward);
        if let Some(index) = &self.s.index {
            query = query.index_name(index);
        }
        let answer = tokio::time::timeout(self.s.timeout.get(), query.send())
            .await
            .map_err(|_| {
                format!(
                    "DynamoDB query on `{}` took longer than {:?}",
                    self.s.table,
                    self.s.timeout.get()
                )
            })?
            .map_err(|e| {
                format!(
                    "DynamoDB query on `{}` failed: {}",
                    self.s.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
        let items: Vec<Value> = answer.items().iter().map(from_item).collect();
        let found = match (self.s.limit, items.is_empty()) {
            (_, true) => None,
            (1, false) => items.into_iter().next(),
            (_, false) => Some(Value::Array(items)),
        };
        if let Some(cache) = &self.cache {
            cache.put(&cache_key, found.clone(), None);
        }
        Ok(found)
    }

    async fn enrich(&self, mut message: Message) -> BatchItem {
        let key = match message.get(&self.s.source) {
            Ok(Some(v)) if !v.is_null() => match v {
                Value::String(_) | Value::Number(_) => v.clone(),
                other => Value::String(value_text(other).into_owned()),
            },
            Ok(_) => return Ok(single(message)),
            Err(e) => return Err(Failed::new(message, e)),
        };
        match self.lookup(&key).await {
            Ok(Some(found)) => match message.set(&self.s.target, found) {
                Ok(()) => Ok(single(message)),
                Err(e) => Err(Failed::new(message, e)),
            },
            Ok(None) => Ok(single(message)),
            Err(_) if self.s.on_error == OnError::Skip => Ok(single(message)),
            Err(why) => Err(Failed::new(message, TransformError::invalid(why))),
        }
    }
}

fn single(message: Message) -> Output {
    let mut out = Output::new();
    out.push(message);
    out
}

impl Io for Query {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(
            stream::iter(batch)
                .map(|m| self.enrich(m))
                .buffered(self.s.concurrency)
                .collect(),
        )
    }
}
