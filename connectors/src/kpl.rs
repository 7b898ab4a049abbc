//! The Kinesis Producer Library's aggregated record format: many user records in one Kinesis
//! record, and back.
//!
//! An aggregated record is the magic `F3 89 9A C2`, then a protobuf `AggregatedRecord` (proto2:
//! a partition key table, an explicit hash key table, and records that point into the tables by
//! index), then the MD5 of the protobuf bytes. The KPL, the KCL, and the awslabs
//! `kinesis-aggregation` libraries (Python `aws_kinesis_agg`, Java, Node, Go) all read and write
//! this format. For the same user records in the same order, [`Aggregator`] writes the same bytes
//! as `aws_kinesis_agg`: keys are deduplicated and the tables keep the order of first use.
//!
//! - [`Aggregator`] packs user records into one aggregate at a time. It counts sizes exactly, so an
//!   aggregate never exceeds its limit (by default 1 MiB of data plus partition key, the Kinesis
//!   record limit).
//! - [`GroupedAggregator`] keeps one aggregator per destination, following a [`Grouping`] (see
//!   below). A Kinesis sink should use this one.
//! - [`deaggregate`] turns a Kinesis record back into user records. It checks the magic and the
//!   MD5. A record without the magic passes through as one user record. A record with the magic
//!   but a bad MD5 or a bad protobuf also passes through unchanged, as `aws_kinesis_agg` does,
//!   and [`RecordKind`] tells the caller which case it was, so the caller can count it.
//!
//! # Where an aggregate goes: hot shards and data loss
//!
//! Kinesis routes an aggregated record as a single record, using the partition key and explicit
//! hash key passed to PutRecords (the *outer* keys). Each [`Aggregate`] takes its outer keys from
//! its first user record: the partition key as given, and the explicit hash key as given or
//! computed from MD5(partition key), as the Java aggregator does. So the aggregate lands on the
//! shard that its first user record would have used. The other user records keep their own keys
//! in the tables, and consumers get those keys back.
//!
//! KCL 2.x deaggregates and then **silently drops user records whose own hash key falls outside
//! the shard's range** (awslabs `potential_data_loss.md`). So an aggregate that mixes keys from
//! different shards loses records on those consumers. The [`Grouping`] decides which records may
//! share an aggregate:
//!
//! - [`Grouping::PartitionKey`] (the default) puts only records with the same routing key in one
//!   aggregate: the same partition key, or the same explicit hash key. This is always safe, and
//!   the load spreads across shards exactly as the keys do. Aggregation only helps when many
//!   events share a key, for example a per-account or per-source key. With a random key per event,
//!   every aggregate holds one record.
//! - [`Grouping::Shards`] puts records together if their hash keys fall in the same shard of a
//!   [`ShardMap`] built from ListShards. This packs almost as densely as `Single` and stays safe,
//!   but only while the map is current. While a stream reshards, aggregates built with the old map
//!   can straddle a child shard's boundary, and KCL 2.x drops the part outside it. Refresh the map
//!   periodically and when PutRecords reports a changed shard. Replacing the map with
//!   [`GroupedAggregator::set_grouping`] flushes the old groups first.
//! - [`Grouping::Single`] packs everything into one aggregate at a time, as the awslabs libraries
//!   do. It is only safe when the stream has one shard or no consumer filters by shard: Lambda
//!   with `aws_kinesis_agg`, KCL 1.x, or Sluice's own Kinesis source. Each aggregate goes to the
//!   shard of its first user record.
//!
//! No mode gives a whole batch a single key, which was Substation's hot-shard bug: the outer key
//! is always a real user record's own key.
//!
//! # Use in a sink
//!
//! ```text
//! let mut agg = GroupedAggregator::new(Grouping::PartitionKey, DEFAULT_MAX_RECORD_BYTES);
//! for event in batch {
//!     match agg.add(&pk, None, &event.bytes()) {
//!         Ok(Some(full)) => entries.push(put_records_entry(full)),   // full.partition_key,
//!         Ok(None) => {}                                              // full.explicit_hash_key,
//!         Err(e) => error_route(event, e),                            // full.data
//!     }
//! }
//! entries.extend(agg.flush().into_iter().map(put_records_entry));     // on flush/tick/end
//! ```

use bytes::Bytes;
use md5::{Digest, Md5};
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use std::collections::HashMap;

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
/// Length of the MD5 trailer.
pub const DIGEST_LEN: usize = 16;
/// What the format adds around the protobuf: the magic and the MD5 trailer.
pub const OVERHEAD: usize = MAGIC.len() + DIGEST_LEN;
/// The Kinesis limit for one record, data plus partition key: 1 MiB, the default for every stream.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The largest record a stream accepts after its maximum record size is raised (10 MiB).
pub const LARGEST_MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;
/// The longest partition key that Kinesis accepts, in characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// Why a user record cannot be aggregated, or why a shard map is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    #[error("the partition key is empty; Kinesis needs 1 to 256 characters")]
    EmptyPartitionKey,
    #[error(
        "the partition key has {chars} characters (it starts {start:?}); Kinesis allows at most 256"
    )]
    PartitionKeyTooLong { chars: usize, start: String },
    #[error(
        "explicit hash key {0:?} is not a decimal integer from 0 to 2^128-1 without leading zeros"
    )]
    BadExplicitHashKey(String),
    #[error(
        "a user record of {size} bytes (data, keys and framing) does not fit in an aggregated record of at most {limit} bytes; send it unaggregated or raise the limit"
    )]
    RecordTooLarge { size: usize, limit: usize },
    #[error("shard map: {0}")]
    BadShardMap(String),
}

/// The protobuf messages of the format, from the KPL's `messages.proto` (proto2).
///
/// The proto declares `partition_key_index` and `data` as `required`. They are `Option`s here so
/// that the decoder can notice when one is missing. `Record.tags` (field 4) is left out because
/// neither the KPL nor the KCL implements it, so the decoder skips it as an unknown field.
pub mod proto {
    use bytes::Bytes;

    /// Field 1: partition keys, field 2: explicit hash keys, field 3: the user records.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AggregatedRecord {
        #[prost(string, repeated, tag = "1")]
        pub partition_key_table: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub explicit_hash_key_table: Vec<String>,
        #[prost(message, repeated, tag = "3")]
        pub records: Vec<Record>,
    }

    /// One user record: indexes into the tables, and its data.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Record {
        #[prost(uint64, optional, tag = "1")]
        pub partition_key_index: Option<u64>,
        #[prost(uint64, optional, tag = "2")]
        pub explicit_hash_key_index: Option<u64>,
        #[prost(bytes = "bytes", optional, tag = "3")]
        pub data: Option<Bytes>,
    }
}

// Field numbers in the protobuf messages above.
const TABLE_PK: u32 = 1;
const TABLE_EHK: u32 = 2;
const RECORDS: u32 = 3;
const RECORD_PK_INDEX: u32 = 1;
const RECORD_EHK_INDEX: u32 = 2;
const RECORD_DATA: u32 = 3;

/// One finished aggregated record, ready for PutRecords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The PutRecords partition key: the first user record's own key.
    pub partition_key: String,
    /// The PutRecords explicit hash key. It is the first user record's explicit hash key, or
    /// MD5(partition key) in decimal, so the aggregate goes to that record's shard.
    pub explicit_hash_key: String,
    /// The record data: magic, protobuf, MD5.
    pub data: Vec<u8>,
    /// How many user records it holds.
    pub user_records: usize,
}

impl Aggregate {
    /// The size that Kinesis counts against its record limit: the data plus the partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Packs user records into aggregated records of at most a given size.
///
/// [`add`](Aggregator::add) returns a finished aggregate when the new record does not fit in the
/// current one. The new record then starts the next aggregate. [`flush`](Aggregator::flush)
/// finishes a partial one. Buffers are reused from one aggregate to the next, so the only
/// allocations are the finished aggregate's data and one entry for each new key.
#[derive(Debug)]
pub struct Aggregator {
    max_bytes: usize,
    /// The encoded protobuf, one buffer per field, so each table grows on its own. The tables
    /// come first in the finished aggregate.
    pk_table: Vec<u8>,
    ehk_table: Vec<u8>,
    records: Vec<u8>,
    pks: KeyTable,
    ehks: KeyTable,
    count: usize,
    /// The first user record's keys: the outer keys.
    partition_key: String,
    explicit_hash_key: Option<String>,
}

impl Default for Aggregator {
    fn default() -> Self {
        Aggregator::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

impl Aggregator {
    /// An aggregator whose aggregates are at most `max_bytes`, counted as Kinesis counts a record:
    /// the data (magic, protobuf, MD5) plus the outer partition key. Use the stream's maximum
    /// record size, [`DEFAULT_MAX_RECORD_BYTES`] unless it was raised.
    pub fn new(max_bytes: usize) -> Aggregator {
        Aggregator {
            max_bytes,
            pk_table: Vec::new(),
            ehk_table: Vec::new(),
            records: Vec::new(),
            pks: KeyTable::default(),
            ehks: KeyTable::default(),
            count: 0,
            partition_key: String::new(),
            explicit_hash_key: None,
        }
    }

    /// The size limit given to [`new`](Aggregator::new).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// User records in the current aggregate.
    pub fn user_records(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The current aggregate's size if it were finished now, counted like
    /// [`Aggregate::size`]. This is 0 when it is empty.
    pub fn size(&self) -> usize {
        if self.count == 0 {
            return 0;
        }
        OVERHEAD
            + self.partition_key.len()
            + self.pk_table.len()
            + self.ehk_table.len()
            + self.records.len()
    }

    /// Adds a user record. Returns the finished aggregate if the record did not fit; the record
    /// then starts the next aggregate.
    ///
    /// Errors, which leave the aggregator unchanged: the partition key is empty or longer than
    /// 256 characters, the explicit hash key is not a decimal 128-bit integer, or the record
    /// cannot fit even in an empty aggregate.
    pub fn add(
        &mut self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) -> Result<Option<Aggregate>, KplError> {
        check_partition_key(partition_key)?;
        if let Some(ehk) = explicit_hash_key {
            parse_explicit_hash_key(ehk)?;
        }
        self.add_checked(partition_key, explicit_hash_key, data)
    }

    /// [`add`](Aggregator::add) for keys that are already validated.
    fn add_checked(
        &mut self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) -> Result<Option<Aggregate>, KplError> {
        let alone = OVERHEAD
            + partition_key.len()
            + entry_len(partition_key.len())
            + explicit_hash_key.map_or(0, |e| entry_len(e.len()))
            + record_len(0, explicit_hash_key.map(|_| 0), data.len());
        if alone > self.max_bytes {
            return Err(KplError::RecordTooLarge {
                size: alone,
                limit: self.max_bytes,
            });
        }
        if self.count == 0 {
            self.push(partition_key, explicit_hash_key, data, None, None);
            return Ok(None);
        }
        let pk_index = self.pks.get(partition_key);
        let ehk_index = explicit_hash_key.and_then(|e| self.ehks.get(e));
        let grow = pk_index.map_or(entry_len(partition_key.len()), |_| 0)
            + match (explicit_hash_key, ehk_index) {
                (Some(e), None) => entry_len(e.len()),
                _ => 0,
            }
            + record_len(
                pk_index.unwrap_or(self.pks.len()),
                explicit_hash_key.map(|_| ehk_index.unwrap_or(self.ehks.len())),
                data.len(),
            );
        if self.size() + grow > self.max_bytes {
            let full = self.take();
            self.push(partition_key, explicit_hash_key, data, None, None);
            return Ok(Some(full));
        }
        self.push(partition_key, explicit_hash_key, data, pk_index, ehk_index);
        Ok(None)
    }

    /// Appends a record that fits. `pk_index` and `ehk_index` are the keys' indexes if the keys
    /// are already in the tables.
    fn push(
        &mut self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
        pk_index: Option<u64>,
        ehk_index: Option<u64>,
    ) {
        let pk_index = pk_index.unwrap_or_else(|| {
            write_entry(&mut self.pk_table, TABLE_PK, partition_key);
            self.pks.insert(partition_key)
        });
        self.pks.remember(partition_key, pk_index);
        let ehk_index = explicit_hash_key.map(|ehk| {
            let index = ehk_index.unwrap_or_else(|| {
                write_entry(&mut self.ehk_table, TABLE_EHK, ehk);
                self.ehks.insert(ehk)
            });
            self.ehks.remember(ehk, index);
            index
        });

        let out = &mut self.records;
        let body = record_body_len(pk_index, ehk_index, data.len());
        out.reserve(1 + encoded_len_varint(body as u64) + body);
        encode_key(RECORDS, WireType::LengthDelimited, out);
        encode_varint(body as u64, out);
        encode_key(RECORD_PK_INDEX, WireType::Varint, out);
        encode_varint(pk_index, out);
        if let Some(index) = ehk_index {
            encode_key(RECORD_EHK_INDEX, WireType::Varint, out);
            encode_varint(index, out);
        }
        encode_key(RECORD_DATA, WireType::LengthDelimited, out);
        encode_varint(data.len() as u64, out);
        out.extend_from_slice(data);

        if self.count == 0 {
            self.partition_key.push_str(partition_key);
            self.explicit_hash_key = explicit_hash_key.map(str::to_owned);
        }
        self.count += 1;
        debug_assert!(self.size() <= self.max_bytes);
    }

    /// Finishes the current aggregate, if it holds any user record. The aggregator stays usable.
    pub fn flush(&mut self) -> Option<Aggregate> {
        (self.count > 0).then(|| self.take())
    }

    /// Finishes the current aggregate, if it holds any user record, and drops the aggregator.
    pub fn finish(mut self) -> Option<Aggregate> {
        self.flush()
    }

    fn take(&mut self) -> Aggregate {
        let body = self.pk_table.len() + self.ehk_table.len() + self.records.len();
        let mut data = Vec::with_capacity(OVERHEAD + body);
        data.extend_from_slice(&MAGIC);
        data.extend_from_slice(&self.pk_table);
        data.extend_from_slice(&self.ehk_table);
        data.extend_from_slice(&self.records);
        let digest = Md5::digest(&data[MAGIC.len()..]);
        data.extend_from_slice(&digest);

        let partition_key = std::mem::take(&mut self.partition_key);
        let explicit_hash_key = self
            .explicit_hash_key
            .take()
            .unwrap_or_else(|| explicit_hash_key_for(&partition_key));
        let user_records = self.count;
        self.count = 0;
        self.pk_table.clear();
        self.ehk_table.clear();
        self.records.clear();
        self.pks.clear();
        self.ehks.clear();
        Aggregate {
            partition_key,
            explicit_hash_key,
            data,
            user_records,
        }
    }
}

/// Table indexes of the keys in one aggregate. It remembers the last key used, so a run of
/// records with the same key costs one string comparison each instead of a hash lookup.
#[derive(Debug, Default)]
struct KeyTable {
    index: HashMap<String, u64>,
    last: String,
    last_index: Option<u64>,
}

impl KeyTable {
    fn len(&self) -> u64 {
        self.index.len() as u64
    }

    fn get(&self, key: &str) -> Option<u64> {
        if self.last_index.is_some() && self.last == key {
            return self.last_index;
        }
        self.index.get(key).copied()
    }

    fn insert(&mut self, key: &str) -> u64 {
        let index = self.len();
        self.index.insert(key.to_owned(), index);
        index
    }

    fn remember(&mut self, key: &str, index: u64) {
        if self.last_index != Some(index) {
            self.last.clear();
            self.last.push_str(key);
            self.last_index = Some(index);
        }
    }

    fn clear(&mut self) {
        self.index.clear();
        self.last_index = None;
    }
}

/// Bytes that a key table entry takes: a tag, the length, and the key.
fn entry_len(key_len: usize) -> usize {
    1 + encoded_len_varint(key_len as u64) + key_len
}

fn write_entry(out: &mut Vec<u8>, field: u32, key: &str) {
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(key.len() as u64, out);
    out.extend_from_slice(key.as_bytes());
}

/// Bytes inside a `Record` message.
fn record_body_len(pk_index: u64, ehk_index: Option<u64>, data_len: usize) -> usize {
    1 + encoded_len_varint(pk_index)
        + ehk_index.map_or(0, |i| 1 + encoded_len_varint(i))
        + 1
        + encoded_len_varint(data_len as u64)
        + data_len
}

/// Bytes that a record takes in the `records` field: a tag, the length, and the message.
fn record_len(pk_index: u64, ehk_index: Option<u64>, data_len: usize) -> usize {
    let body = record_body_len(pk_index, ehk_index, data_len);
    1 + encoded_len_varint(body as u64) + body
}

/// Checks a partition key against the Kinesis rule: 1 to 256 characters.
pub fn check_partition_key(partition_key: &str) -> Result<(), KplError> {
    if partition_key.is_empty() {
        return Err(KplError::EmptyPartitionKey);
    }
    // A key of at most 256 bytes has at most 256 characters, so most keys skip the count.
    if partition_key.len() > MAX_PARTITION_KEY_CHARS {
        let chars = partition_key.chars().count();
        if chars > MAX_PARTITION_KEY_CHARS {
            let start = partition_key.chars().take(32).collect();
            return Err(KplError::PartitionKeyTooLong { chars, start });
        }
    }
    Ok(())
}

/// Parses an explicit hash key the way Kinesis accepts it: a decimal integer from 0 to 2^128-1
/// without a sign or leading zeros.
pub fn parse_explicit_hash_key(key: &str) -> Result<u128, KplError> {
    let digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = key.len() > 1 && key.starts_with('0');
    match key.parse::<u128>() {
        Ok(value) if digits && !leading_zero => Ok(value),
        _ => {
            let shown: String = key.chars().take(64).collect();
            Err(KplError::BadExplicitHashKey(shown))
        }
    }
}

/// The hash key that Kinesis routes a partition key by: MD5(key) read as a big-endian 128-bit
/// integer.
pub fn partition_key_hash(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// The explicit hash key that routes like `partition_key`, in decimal. The Java aggregator uses
/// this to fill in a missing explicit hash key.
pub fn explicit_hash_key_for(partition_key: &str) -> String {
    partition_key_hash(partition_key).to_string()
}

/// The hash key that a record is routed by: its explicit hash key if it has one, otherwise
/// MD5(partition key).
pub fn hash_key(partition_key: &str, explicit_hash_key: Option<&str>) -> Result<u128, KplError> {
    match explicit_hash_key {
        Some(ehk) => parse_explicit_hash_key(ehk),
        None => Ok(partition_key_hash(partition_key)),
    }
}

/// The hash key ranges of a stream's open shards, for [`Grouping::Shards`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    /// Range starts, ascending.
    starts: Vec<u128>,
    /// For each start, the range's position in the list given to `new`.
    shards: Vec<usize>,
}

impl ShardMap {
    /// Builds a map from the inclusive `(start, end)` hash key ranges of the open shards, in any
    /// order (ListShards with the `AT_LATEST` filter gives them, as decimal strings that
    /// [`parse_explicit_hash_key`] reads). Together the ranges must cover 0 to 2^128-1 without
    /// gaps or overlaps, as a stream's open shards always do.
    pub fn new(ranges: &[(u128, u128)]) -> Result<ShardMap, KplError> {
        if ranges.is_empty() {
            return Err(KplError::BadShardMap("no shards".into()));
        }
        let mut order: Vec<usize> = (0..ranges.len()).collect();
        order.sort_by_key(|&i| ranges[i].0);
        let mut next = Some(0u128);
        for &i in &order {
            let (start, end) = ranges[i];
            if start > end {
                return Err(KplError::BadShardMap(format!(
                    "shard {i} starts at {start}, after its end {end}"
                )));
            }
            match next {
                Some(expected) if start == expected => {}
                Some(expected) if start > expected => {
                    return Err(KplError::BadShardMap(format!(
                        "no shard covers hash keys {expected} to {}",
                        start - 1
                    )));
                }
                _ => {
                    return Err(KplError::BadShardMap(format!(
                        "shard {i} overlaps another at hash key {start}"
                    )));
                }
            }
            next = end.checked_add(1);
        }
        if let Some(expected) = next {
            return Err(KplError::BadShardMap(format!(
                "no shard covers hash keys {expected} to 2^128-1"
            )));
        }
        Ok(ShardMap {
            starts: order.iter().map(|&i| ranges[i].0).collect(),
            shards: order,
        })
    }

    /// The shard that owns a hash key, as a position in the list given to [`new`](ShardMap::new).
    pub fn shard_for(&self, hash_key: u128) -> usize {
        let at = self.starts.partition_point(|&start| start <= hash_key);
        // The first start is 0, so `at` is at least 1.
        self.shards[at - 1]
    }

    /// How many shards the map has.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

/// Which user records may share an aggregate. See the module documentation for the trade-offs.
#[derive(Debug, Clone, Default)]
pub enum Grouping {
    /// Only records with the same routing key: the same explicit hash key, or without one, the
    /// same partition key. Always safe.
    #[default]
    PartitionKey,
    /// Records whose hash keys fall in the same shard of the map. Safe while the map is current.
    Shards(ShardMap),
    /// Any records. Safe only for one-shard streams or consumers that do not filter by shard.
    Single,
}

/// One [`Aggregator`] per destination, chosen by a [`Grouping`].
#[derive(Debug)]
pub struct GroupedAggregator {
    grouping: Grouping,
    max_bytes: usize,
    /// Open groups, in order of first use.
    groups: Vec<Aggregator>,
    /// PartitionKey: records without an explicit hash key, by partition key.
    by_key: HashMap<String, usize>,
    /// PartitionKey: records with an explicit hash key, by its value. Shards: by shard.
    by_hash: HashMap<u128, usize>,
    /// The last partition key hashed for `Shards`, and its hash.
    last_key: String,
    last_hash: Option<u128>,
}

impl GroupedAggregator {
    /// Aggregates of at most `max_bytes` each (see [`Aggregator::new`]), grouped by `grouping`.
    pub fn new(grouping: Grouping, max_bytes: usize) -> GroupedAggregator {
        GroupedAggregator {
            grouping,
            max_bytes,
            groups: Vec::new(),
            by_key: HashMap::new(),
            by_hash: HashMap::new(),
            last_key: String::new(),
            last_hash: None,
        }
    }

    pub fn grouping(&self) -> &Grouping {
        &self.grouping
    }

    /// Replaces the grouping, for example with a fresh shard map. Returns the partial aggregates
    /// of the old groups, which must be sent before anything added afterwards.
    pub fn set_grouping(&mut self, grouping: Grouping) -> Vec<Aggregate> {
        let partial = self.flush();
        self.grouping = grouping;
        partial
    }

    /// Adds a user record to its group's aggregate. Returns that group's finished aggregate if
    /// the record did not fit. Errors as for [`Aggregator::add`].
    pub fn add(
        &mut self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) -> Result<Option<Aggregate>, KplError> {
        check_partition_key(partition_key)?;
        let ehk = explicit_hash_key.map(parse_explicit_hash_key).transpose()?;
        let group = match &self.grouping {
            Grouping::Single => {
                if self.groups.is_empty() {
                    self.groups.push(Aggregator::new(self.max_bytes));
                }
                0
            }
            Grouping::PartitionKey => match ehk {
                Some(hash) => group_for(&mut self.by_hash, &mut self.groups, self.max_bytes, hash),
                None => match self.by_key.get(partition_key) {
                    Some(&group) => group,
                    None => {
                        let group = new_group(&mut self.groups, self.max_bytes);
                        self.by_key.insert(partition_key.to_owned(), group);
                        group
                    }
                },
            },
            Grouping::Shards(map) => {
                let hash = match (ehk, self.last_hash) {
                    (Some(hash), _) => hash,
                    (None, Some(hash)) if self.last_key == partition_key => hash,
                    (None, _) => {
                        let hash = partition_key_hash(partition_key);
                        self.last_key.clear();
                        self.last_key.push_str(partition_key);
                        self.last_hash = Some(hash);
                        hash
                    }
                };
                let shard = map.shard_for(hash) as u128;
                group_for(&mut self.by_hash, &mut self.groups, self.max_bytes, shard)
            }
        };
        self.groups[group].add_checked(partition_key, explicit_hash_key, data)
    }

    /// Finishes every partial aggregate, in the order their groups were first used, and forgets
    /// the groups.
    pub fn flush(&mut self) -> Vec<Aggregate> {
        self.by_key.clear();
        self.by_hash.clear();
        self.groups
            .drain(..)
            .filter_map(|mut g| g.flush())
            .collect()
    }

    /// User records waiting in partial aggregates.
    pub fn user_records(&self) -> usize {
        self.groups.iter().map(Aggregator::user_records).sum()
    }

    /// Total size of the partial aggregates, counted like [`Aggregate::size`].
    pub fn size(&self) -> usize {
        self.groups.iter().map(Aggregator::size).sum()
    }

    /// Open groups.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.user_records() == 0
    }
}

fn new_group(groups: &mut Vec<Aggregator>, max_bytes: usize) -> usize {
    groups.push(Aggregator::new(max_bytes));
    groups.len() - 1
}

fn group_for(
    by: &mut HashMap<u128, usize>,
    groups: &mut Vec<Aggregator>,
    max_bytes: usize,
    key: u128,
) -> usize {
    *by.entry(key)
        .or_insert_with(|| new_group(groups, max_bytes))
}

/// A user record from [`deaggregate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    /// Present only if the producer gave one; never filled in from the partition key.
    pub explicit_hash_key: Option<String>,
    /// A slice of the Kinesis record's data, without a copy.
    pub data: Bytes,
    /// The position in the aggregate, from 0. It is 0 for a record that passed through.
    pub sub_sequence: u64,
}

/// What [`deaggregate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// No magic: an ordinary record, passed through as one user record.
    Plain,
    /// A valid aggregated record.
    Aggregated,
    /// The magic, but the MD5 trailer is missing or does not match. Passed through unchanged.
    BadDigest,
    /// The magic and a matching MD5, but the protobuf does not decode, a required field is
    /// missing, or a key index points outside its table. Passed through unchanged.
    BadProtobuf,
}

/// The user records of one Kinesis record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deaggregated {
    pub kind: RecordKind,
    pub records: Vec<UserRecord>,
}

/// Whether data starts with the aggregated record magic.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// Splits a Kinesis record into its user records. `partition_key` is the Kinesis record's own
/// key, which is kept for a record that passes through.
///
/// An explicit hash key index with an empty table counts as no explicit hash key. The awslabs Go
/// test aggregates look like that, and the Go deaggregator ignores explicit hash keys.
pub fn deaggregate(partition_key: &str, data: impl Into<Bytes>) -> Deaggregated {
    let data = data.into();
    let kind = match check(&data) {
        Ok(()) => match decode(&data) {
            Some(records) => {
                return Deaggregated {
                    kind: RecordKind::Aggregated,
                    records,
                };
            }
            None => RecordKind::BadProtobuf,
        },
        Err(kind) => kind,
    };
    let record = UserRecord {
        partition_key: partition_key.to_owned(),
        explicit_hash_key: None,
        data,
        sub_sequence: 0,
    };
    Deaggregated {
        kind,
        records: vec![record],
    }
}

/// Checks the magic and the MD5.
fn check(data: &[u8]) -> Result<(), RecordKind> {
    if !is_aggregated(data) {
        return Err(RecordKind::Plain);
    }
    // Like aws_kinesis_agg: a body that is no longer than the digest is not an aggregate.
    if data.len() <= OVERHEAD {
        return Err(RecordKind::BadDigest);
    }
    let (protobuf, digest) = data[MAGIC.len()..].split_at(data.len() - OVERHEAD);
    if Md5::digest(protobuf).as_slice() != digest {
        return Err(RecordKind::BadDigest);
    }
    Ok(())
}

/// Decodes a checked aggregate. `None` if the protobuf is bad.
fn decode(data: &Bytes) -> Option<Vec<UserRecord>> {
    let protobuf = data.slice(MAGIC.len()..data.len() - DIGEST_LEN);
    let message = proto::AggregatedRecord::decode(protobuf).ok()?;
    let pks = &message.partition_key_table;
    let ehks = &message.explicit_hash_key_table;
    let mut records = Vec::with_capacity(message.records.len());
    for (i, record) in message.records.into_iter().enumerate() {
        let partition_key = pks
            .get(usize::try_from(record.partition_key_index?).ok()?)?
            .clone();
        let explicit_hash_key = match record.explicit_hash_key_index {
            Some(_) if ehks.is_empty() => None,
            Some(index) => Some(ehks.get(usize::try_from(index).ok()?)?.clone()),
            None => None,
        };
        records.push(UserRecord {
            partition_key,
            explicit_hash_key,
            data: record.data?,
            sub_sequence: i as u64,
        });
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    /// aws_kinesis_agg 1.2.3: (pk-a, {"a":1}), (pk-b, {"b":2}), (pk-c, {"c":3}).
    const PYTHON_3: &str = "f3899ac20a04706b2d610a04706b2d620a04706b2d631a0b08001a077b2261223a317d1a0b08011a077b2262223a327d1a0b08021a077b2263223a337d506cf8952713d01e4450cc3bc87b65e4";
    /// aws_kinesis_agg 1.2.3: (pk1, hello), (pk2, world, ehk 2^127), (pk1, !).
    const PYTHON_EHK: &str = "f3899ac20a03706b310a03706b3212273137303134313138333436303436393233313733313638373330333731353838343130353732381a0908001a0568656c6c6f1a0b080110001a05776f726c641a0508001a01217f093cf43a88b936f0e60ffbd5ed26a3";

    // Aggregates written by the real KPL, from awslabs/kinesis-aggregation
    // python/test/test_deagg.py (Apache-2.0): with explicit hash keys, and without.
    const KPL_WITH_EHKS: &str = concat!(
        "84mawgokZmMwM2RkODgtM2U3OS00NDhhLWIwMWEtN2NmMWJkNDdiNzg0CiRjYWU0MWIxYy1lYTYxLTQzZjItOTBiZS1iODc1NWViZj",
        "g4ZTIKJGQ0OTA2OTBjLWU3NGQtNGRiMi1hM2M4LWQ4ZjJmMTg0ZmQyMwokYzkyNGJjMDktYjg1ZS00N2YxLWIzMmUtMzM2NTIyZWU1",
        "M2M4EiYzODQ4NjQ5NTg2NzUwODM5OTA3ODE1OTcyMzg0NjA1MTgwNzAyMBInMTkzNzg3NjAwMDM3NjgxNzA2OTUyMTQzMzU3MDcxOT",
        "E2MzUyNjA0EicyNjY4ODA0MzY5NjQ5MzI0MjQyNjU0NjY5MTY3MzQwNjg2ODQ0MzkSJzMzOTYwNjYwMDk0Mjk2NzM5MTg1NDYwMzU1",
        "MjQwMjAyMTg0NzI5MhomCAAQABogUkVDT1JEIDIyIHBlZW9iaGN6YnpkbXNrYm91cGd5cQoaJggBEAEaIFJFQ09SRCAyMyB1c3dreG",
        "Z0eHJvZXVzc2N4c2pobm8KGiYIAhACGiBSRUNPUkQgMjQgY2FzZWhkZ2l2ZmF4ZXVzdGx5c3p5ChomCAMQAxogUkVDT1JEIDI1IG52",
        "ZmZ2cG11b2dkb3BqaGFtZXZyawpRwVPQ3go0yp4Y6kvM0q3V",
    );
    const KPL_NO_EHKS: &str = concat!(
        "84mawgokNzhmZWIxMmEtZGJhMC00NWNhLWE5MWUtYmIxZjJmMTgxOWI0CiRjMmE3NTc4Ny00NjliLTQzMTAtODQwZC1kNDg2ZGNhN2",
        "ViNWUKJDY1MGU5MzYyLTU3MmItNDQyNy1iM2ZjLTEzNTQ5ZDdlNWFlNQokMWQ4ZDk2MDAtMDBiNy00NmYzLWE5ODMtZGU4MzQ3NzU0",
        "MGMwCiRmMmU3MThhMC0zODliLTQ5NGEtYjc5Ni0zMzU1YjA3NTY5Y2MKJDk2NWI4ZGE0LWE2YmQtNDc1NS04MWM5LWU3MTgxYWI3ZG",
        "M5YQokZDY5M2M1ZjAtNTc3Mi00NmM5LThkODYtMDhjNzA1NWJkYjc1CiQ4ZDkyNDc2Yi1lYjg5LTRlODEtOTlmYi1jMmJhNjNhZDZk",
        "OTAaJAgAGiBSRUNPUkQgMTggaWtscnBzdnloeG5lcm9kZmVoZXJ1ChokCAEaIFJFQ09SRCAxOSBsbm1udWR5aHZwdmNncm9rZm16ZG",
        "gKGiQIAhogUkVDT1JEIDIwIHBqcXJjZmJ4YWZ6ZG5kem1iZ2FuZQoaJAgDGiBSRUNPUkQgMjEgYWFmcmV5cm50d3V3eGxpeWdrYmhr",
        "ChokCAQaIFJFQ09SRCAyMiBxc2FhZGhic2dtdnFnZGlmZ3V5b3UKGiQIBRogUkVDT1JEIDIzIHdqb2tvaXd2enpobGZ0bHpocWZqaw",
        "oaJAgGGiBSRUNPUkQgMjQgem9wY2FzY3J0aGJicG5qaXd1aGpiChokCAcaIFJFQ09SRCAyNSB0eGJidm5venJ3c2JveHVvbXFib3EK",
        "vV1rrLdU+Sy2v8xkgZ5YaA==",
    );

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn unbase64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// (partition key, explicit hash key, data) of each user record.
    type Plain = (String, Option<String>, Vec<u8>);

    fn plain(records: &[UserRecord]) -> Vec<Plain> {
        records
            .iter()
            .map(|r| {
                (
                    r.partition_key.clone(),
                    r.explicit_hash_key.clone(),
                    r.data.to_vec(),
                )
            })
            .collect()
    }

    fn owned(records: &[(&str, Option<&str>, &[u8])]) -> Vec<Plain> {
        records
            .iter()
            .map(|(pk, ehk, data)| (pk.to_string(), ehk.map(str::to_owned), data.to_vec()))
            .collect()
    }

    /// Aggregates everything into one aggregate, as a reference.
    fn aggregate_all(records: &[Plain]) -> Aggregate {
        let mut agg = Aggregator::new(usize::MAX);
        for (pk, ehk, data) in records {
            assert_eq!(agg.add(pk, ehk.as_deref(), data), Ok(None));
        }
        agg.flush().unwrap()
    }

    /// Frames a protobuf as an aggregated record with the right digest.
    fn frame(protobuf: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(protobuf);
        out.extend_from_slice(&Md5::digest(protobuf));
        out
    }

    fn sequence(records: &[UserRecord]) -> Vec<u64> {
        records.iter().map(|r| r.sub_sequence).collect()
    }

    #[test]
    fn python_golden_blob_decodes() {
        let blob = unhex(PYTHON_3);
        assert_eq!(blob.len(), 77);
        let out = deaggregate("pk-a", blob);
        assert_eq!(out.kind, RecordKind::Aggregated);
        let expected: &[(&str, Option<&str>, &[u8])] = &[
            ("pk-a", None, br#"{"a":1}"#),
            ("pk-b", None, br#"{"b":2}"#),
            ("pk-c", None, br#"{"c":3}"#),
        ];
        assert_eq!(plain(&out.records), owned(expected));
        assert_eq!(sequence(&out.records), [0, 1, 2]);
    }

    #[test]
    fn python_golden_blob_is_what_we_write() {
        let mut agg = Aggregator::default();
        for (pk, data) in [
            ("pk-a", r#"{"a":1}"#),
            ("pk-b", r#"{"b":2}"#),
            ("pk-c", r#"{"c":3}"#),
        ] {
            assert_eq!(agg.add(pk, None, data.as_bytes()), Ok(None));
        }
        assert_eq!(agg.size(), 77 + 4);
        let out = agg.flush().unwrap();
        assert_eq!(hex::encode(&out.data), PYTHON_3);
        assert_eq!(out.partition_key, "pk-a");
        assert_eq!(
            out.explicit_hash_key,
            "37734456349525827306212900493151175156"
        );
        assert_eq!(out.user_records, 3);
        assert_eq!(out.size(), 81);
        assert!(agg.is_empty());
        assert_eq!(agg.flush(), None);
    }

    #[test]
    fn explicit_hash_keys_use_presence_not_index_zero() {
        let ehk = "170141183460469231731687303715884105728";
        let expected: &[(&str, Option<&str>, &[u8])] = &[
            ("pk1", None, b"hello"),
            ("pk2", Some(ehk), b"world"),
            ("pk1", None, b"!"),
        ];
        let out = deaggregate("pk1", unhex(PYTHON_EHK));
        assert_eq!(out.kind, RecordKind::Aggregated);
        // aws_kinesis_agg itself would give records 0 and 2 the table's first key here.
        assert_eq!(plain(&out.records), owned(expected));

        let written = aggregate_all(&owned(expected));
        assert_eq!(hex::encode(&written.data), PYTHON_EHK);
        assert_eq!(written.partition_key, "pk1");
        assert_eq!(written.explicit_hash_key, explicit_hash_key_for("pk1"));

        // An explicit hash key on the first record becomes the outer one.
        let first = aggregate_all(&owned(&[("pk2", Some(ehk), b"x"), ("pk1", None, b"y")]));
        assert_eq!(first.explicit_hash_key, ehk);
    }

    #[test]
    fn real_kpl_aggregates_decode_and_are_rewritten_byte_for_byte() {
        let with = deaggregate("a", unbase64(KPL_WITH_EHKS));
        assert_eq!(with.kind, RecordKind::Aggregated);
        let expected: &[(&str, Option<&str>, &[u8])] = &[
            (
                "fc03dd88-3e79-448a-b01a-7cf1bd47b784",
                Some("38486495867508399078159723846051807020"),
                b"RECORD 22 peeobhczbzdmskboupgyq\n",
            ),
            (
                "cae41b1c-ea61-43f2-90be-b8755ebf88e2",
                Some("193787600037681706952143357071916352604"),
                b"RECORD 23 uswkxftxroeusscxsjhno\n",
            ),
            (
                "d490690c-e74d-4db2-a3c8-d8f2f184fd23",
                Some("266880436964932424265466916734068684439"),
                b"RECORD 24 casehdgivfaxeustlyszy\n",
            ),
            (
                "c924bc09-b85e-47f1-b32e-336522ee53c8",
                Some("339606600942967391854603552402021847292"),
                b"RECORD 25 nvffvpmuogdopjhamevrk\n",
            ),
        ];
        assert_eq!(plain(&with.records), owned(expected));
        assert_eq!(
            aggregate_all(&plain(&with.records)).data,
            unbase64(KPL_WITH_EHKS)
        );

        let without = deaggregate("a", unbase64(KPL_NO_EHKS));
        assert_eq!(without.kind, RecordKind::Aggregated);
        assert_eq!(without.records.len(), 8);
        assert_eq!(
            without.records[0].partition_key,
            "78feb12a-dba0-45ca-a91e-bb1f2f1819b4"
        );
        assert_eq!(
            &without.records[7].data[..],
            b"RECORD 25 txbbvnozrwsboxuomqboq\n"
        );
        assert!(
            without
                .records
                .iter()
                .all(|r| r.explicit_hash_key.is_none())
        );
        assert_eq!(sequence(&without.records), (0..8).collect::<Vec<_>>());
        assert_eq!(
            aggregate_all(&plain(&without.records)).data,
            unbase64(KPL_NO_EHKS)
        );
    }

    #[test]
    fn plain_records_pass_through() {
        for data in [&b"hello"[..], b"", b"\xf3\x89\x9a", br#"{"a":1}"#] {
            let out = deaggregate("key", data.to_vec());
            assert_eq!(out.kind, RecordKind::Plain);
            assert_eq!(plain(&out.records), owned(&[("key", None, data)]));
            assert_eq!(out.records[0].sub_sequence, 0);
        }
        assert!(!is_aggregated(b"hello"));
        assert!(is_aggregated(&unhex(PYTHON_3)));
    }

    #[test]
    fn bad_digests_pass_through_unchanged() {
        let mut blob = unhex(PYTHON_3);
        *blob.last_mut().unwrap() ^= 1;
        let mut body_changed = unhex(PYTHON_3);
        body_changed[10] ^= 0x20;
        let short = [&MAGIC[..], &[0; 10]].concat();
        // An empty protobuf with its (correct) digest: aws_kinesis_agg does not take it either.
        let empty = frame(b"");
        for data in [blob, body_changed, short, empty, MAGIC.to_vec()] {
            let out = deaggregate("outer", data.clone());
            assert_eq!(out.kind, RecordKind::BadDigest, "{}", hex::encode(&data));
            assert_eq!(plain(&out.records), owned(&[("outer", None, &data)]));
        }
    }

    #[test]
    fn bad_protobufs_pass_through_unchanged() {
        use proto::{AggregatedRecord, Record};
        let record = |pk: Option<u64>, ehk: Option<u64>, data: Option<&'static [u8]>| Record {
            partition_key_index: pk,
            explicit_hash_key_index: ehk,
            data: data.map(Bytes::from_static),
        };
        let message = |records: Vec<Record>, ehks: &[&str]| AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: ehks.iter().map(|s| s.to_string()).collect(),
            records,
        };
        let bad = [
            frame(b"\xff\xff\xff"),
            frame(&[0x0a, 0x02, 0xff, 0xfe]), // a key that is not UTF-8
            frame(&message(vec![record(Some(1), None, Some(b"x"))], &[]).encode_to_vec()),
            frame(&message(vec![record(None, None, Some(b"x"))], &[]).encode_to_vec()),
            frame(&message(vec![record(Some(0), None, None)], &[]).encode_to_vec()),
            frame(&message(vec![record(Some(0), Some(1), Some(b"x"))], &["7"]).encode_to_vec()),
        ];
        for data in bad {
            let out = deaggregate("outer", data.clone());
            assert_eq!(out.kind, RecordKind::BadProtobuf, "{}", hex::encode(&data));
            assert_eq!(plain(&out.records), owned(&[("outer", None, &data)]));
        }

        // An index into an empty explicit hash key table (the Go tests' aggregates) is no key.
        let go = frame(&message(vec![record(Some(0), Some(3), Some(b"x"))], &[]).encode_to_vec());
        let out = deaggregate("outer", go);
        assert_eq!(out.kind, RecordKind::Aggregated);
        assert_eq!(plain(&out.records), owned(&[("a", None, b"x")]));

        // Tags (field 4 of Record) are skipped.
        let mut tagged = message(vec![], &[]).encode_to_vec();
        tagged.extend_from_slice(&[
            0x1a, 0x0b, 0x08, 0x00, 0x1a, 0x01, b'x', 0x22, 0x04, 0x0a, 0x02, b'k', b'v',
        ]);
        let out = deaggregate("outer", frame(&tagged));
        assert_eq!(out.kind, RecordKind::Aggregated);
        assert_eq!(plain(&out.records), owned(&[("a", None, b"x")]));
    }

    #[test]
    fn deaggregated_data_is_not_copied() {
        let blob = Bytes::from(unhex(PYTHON_3));
        let range = blob.as_ptr_range();
        let out = deaggregate("pk-a", blob.clone());
        for r in &out.records {
            assert!(range.contains(&r.data.as_ptr()));
        }
    }

    #[test]
    fn the_limit_is_exact() {
        let records = owned(&[
            ("k1", None, &[1; 100]),
            ("k2", None, &[2; 100]),
            ("k1", None, &[3; 100]),
        ]);
        let two = aggregate_all(&records[..2]).size();

        // Exactly two fit.
        let mut agg = Aggregator::new(two);
        assert_eq!(agg.add("k1", None, &[1; 100]), Ok(None));
        assert_eq!(agg.add("k2", None, &[2; 100]), Ok(None));
        assert_eq!(agg.size(), two);
        let full = agg.add("k1", None, &[3; 100]).unwrap().unwrap();
        assert_eq!(full.size(), two);
        assert_eq!(plain(&deaggregate("k1", full.data).records), records[..2]);
        assert_eq!(agg.user_records(), 1);

        // One byte less, and the second starts a new aggregate.
        let mut agg = Aggregator::new(two - 1);
        assert_eq!(agg.add("k1", None, &[1; 100]), Ok(None));
        let full = agg.add("k2", None, &[2; 100]).unwrap().unwrap();
        assert_eq!(full.user_records, 1);
        assert_eq!(agg.finish().unwrap().partition_key, "k2");
    }

    #[test]
    fn a_record_too_large_for_an_empty_aggregate_is_an_error_and_changes_nothing() {
        let mut agg = Aggregator::new(200);
        assert_eq!(agg.add("k", None, &[0; 50]), Ok(None));
        let before = agg.size();
        // 20 framing + 1 outer key + 3 table entry + 3 record header + 2 key index
        // + 3 data header + 169 data = 201.
        assert_eq!(
            agg.add("k", None, &[0; 169]),
            Err(KplError::RecordTooLarge {
                size: 201,
                limit: 200
            })
        );
        assert_eq!((agg.size(), agg.user_records()), (before, 1));
        // 168 bytes fit alone, exactly, so the first aggregate is finished.
        assert_eq!(
            agg.add("k", None, &[0; 168]).unwrap().unwrap().user_records,
            1
        );
        assert_eq!(agg.size(), 200);
    }

    #[test]
    fn keys_are_validated() {
        let mut agg = Aggregator::default();
        assert_eq!(agg.add("", None, b"x"), Err(KplError::EmptyPartitionKey));
        let long = "é".repeat(257);
        assert!(matches!(
            agg.add(&long, None, b"x"),
            Err(KplError::PartitionKeyTooLong { chars: 257, .. })
        ));
        assert_eq!(agg.add(&"é".repeat(256), None, b"x"), Ok(None));
        for bad in [
            "",
            "abc",
            "-1",
            "+1",
            "01",
            " 1",
            "340282366920938463463374607431768211456",
        ] {
            assert_eq!(
                agg.add("k", Some(bad), b"x"),
                Err(KplError::BadExplicitHashKey(bad.into())),
                "{bad:?}"
            );
        }
        for good in ["0", "7", "340282366920938463463374607431768211455"] {
            assert_eq!(agg.add("k", Some(good), b"x"), Ok(None));
        }
        assert_eq!(agg.user_records(), 4);
        let text = agg.add("k", Some("01"), b"x").unwrap_err().to_string();
        assert!(
            text.contains("\"01\"") && text.contains("decimal"),
            "{text}"
        );
    }

    #[test]
    fn hash_keys_follow_md5_of_the_partition_key() {
        // The Java sample event's EHK table holds the key computed for its partition key "abc".
        assert_eq!(
            explicit_hash_key_for("abc"),
            "191415658344158766168031473277922803570"
        );
        assert_eq!(
            hash_key("abc", None),
            Ok(191415658344158766168031473277922803570)
        );
        assert_eq!(hash_key("abc", Some("5")), Ok(5));
        assert!(hash_key("abc", Some("x")).is_err());
    }

    #[test]
    fn shard_maps_cover_every_hash_key() {
        let half = 1u128 << 127;
        let map = ShardMap::new(&[(half, u128::MAX), (0, half - 1)]).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.shard_for(0), 1);
        assert_eq!(map.shard_for(half - 1), 1);
        assert_eq!(map.shard_for(half), 0);
        assert_eq!(map.shard_for(u128::MAX), 0);
        assert_eq!(
            ShardMap::new(&[(0, u128::MAX)]).unwrap().shard_for(12345),
            0
        );

        for (ranges, why) in [
            (vec![], "no shards"),
            (
                vec![(0, 10), (12, u128::MAX)],
                "no shard covers hash keys 11 to 11",
            ),
            (vec![(0, 10), (10, u128::MAX)], "overlaps"),
            (vec![(1, u128::MAX)], "no shard covers hash keys 0 to 0"),
            (vec![(0, 10)], "no shard covers hash keys 11 to 2^128-1"),
            (vec![(0, 10), (11, 5)], "after its end"),
        ] {
            let err = ShardMap::new(&ranges).unwrap_err().to_string();
            assert!(err.contains(why), "{ranges:?}: {err}");
        }
    }

    #[test]
    fn grouping_by_partition_key_never_mixes_routes() {
        let ehk = "12345";
        let mut agg = GroupedAggregator::new(Grouping::PartitionKey, DEFAULT_MAX_RECORD_BYTES);
        for (pk, ehk) in [
            ("a", None),
            ("b", None),
            ("a", Some(ehk)),
            ("a", None),
            ("c", Some(ehk)),
            ("b", None),
        ] {
            assert_eq!(agg.add(pk, ehk, pk.as_bytes()), Ok(None));
        }
        assert_eq!((agg.groups(), agg.user_records()), (3, 6));
        let out = agg.flush();
        assert!(agg.is_empty() && agg.groups() == 0);
        let routes: Vec<_> = out
            .iter()
            .map(|a| {
                let records = deaggregate(&a.partition_key, a.data.clone()).records;
                let keys: Vec<_> = records
                    .iter()
                    .map(|r| (r.partition_key.clone(), r.explicit_hash_key.clone()))
                    .collect();
                (a.partition_key.clone(), a.explicit_hash_key.clone(), keys)
            })
            .collect();
        let a = explicit_hash_key_for("a");
        let b = explicit_hash_key_for("b");
        let key = |pk: &str, ehk: Option<&str>| (pk.to_string(), ehk.map(str::to_owned));
        assert_eq!(
            routes,
            [
                ("a".into(), a, vec![key("a", None), key("a", None)]),
                ("b".into(), b, vec![key("b", None), key("b", None)]),
                (
                    "a".into(),
                    ehk.into(),
                    vec![key("a", Some(ehk)), key("c", Some(ehk))]
                ),
            ]
        );
    }

    #[test]
    fn grouping_by_shard_keeps_each_aggregate_on_one_shard() {
        let quarter = 1u128 << 126;
        let ranges: Vec<_> = (0..4u128)
            .map(|i| (i * quarter, i * quarter + (quarter - 1)))
            .collect();
        let map = ShardMap::new(&ranges).unwrap();
        let mut agg = GroupedAggregator::new(Grouping::Shards(map.clone()), 4096);
        let mut out = Vec::new();
        for i in 0..1000 {
            let pk = format!("key-{}", i % 97);
            out.extend(agg.add(&pk, None, &[i as u8; 40]).unwrap());
        }
        assert!(agg.groups() <= 4);
        out.extend(agg.flush());
        assert_eq!(out.iter().map(|a| a.user_records).sum::<usize>(), 1000);
        for a in &out {
            assert!(a.size() <= 4096);
            let shard = map.shard_for(parse_explicit_hash_key(&a.explicit_hash_key).unwrap());
            for r in deaggregate(&a.partition_key, a.data.clone()).records {
                assert_eq!(map.shard_for(partition_key_hash(&r.partition_key)), shard);
            }
        }

        // A new map flushes the old groups.
        let mut agg = GroupedAggregator::new(Grouping::Shards(map), 4096);
        agg.add("k", None, b"x").unwrap();
        let flushed = agg.set_grouping(Grouping::Single);
        assert_eq!(flushed.len(), 1);
        assert!(matches!(agg.grouping(), Grouping::Single));
        for pk in ["a", "b", "c"] {
            agg.add(pk, None, b"x").unwrap();
        }
        assert_eq!(agg.groups(), 1);
        assert_eq!(agg.flush()[0].user_records, 3);
    }

    #[test]
    fn grouped_errors_leave_no_records_behind() {
        let mut agg = GroupedAggregator::new(Grouping::default(), 100);
        assert_eq!(agg.add("", None, b"x"), Err(KplError::EmptyPartitionKey));
        assert!(agg.add("k", Some("x"), b"x").is_err());
        assert!(matches!(
            agg.add("k", None, &[0; 100]),
            Err(KplError::RecordTooLarge { .. })
        ));
        assert!(agg.is_empty());
        assert_eq!(agg.flush(), vec![]);
    }

    fn user_record() -> impl Strategy<Value = Plain> {
        let pk = prop_oneof![
            prop::sample::select(vec!["a", "bb", "ключ", "k-3"]).prop_map(str::to_owned),
            "[a-z0-9é]{1,12}",
        ];
        let ehk = prop::option::weighted(
            0.3,
            prop_oneof![
                prop::sample::select(vec!["0", "7", "340282366920938463463374607431768211455"])
                    .prop_map(str::to_owned),
                any::<u128>().prop_map(|n| n.to_string()),
            ],
        );
        let data = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 100..300),
        ];
        (pk, ehk, data)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Any records round-trip in order; no aggregate exceeds the limit; an aggregate is only
        /// finished when the next record would not have fit; the encoding is prost's.
        #[test]
        fn aggregation_round_trips_within_the_limit(
            records in prop::collection::vec(user_record(), 0..60),
            max in 40usize..2500,
        ) {
            let mut agg = Aggregator::new(max);
            let mut finished: Vec<(Aggregate, Option<Plain>)> = Vec::new();
            let mut kept = Vec::new();
            for record in &records {
                let (pk, ehk, data) = record;
                match agg.add(pk, ehk.as_deref(), data) {
                    Ok(Some(full)) => {
                        finished.push((full, Some(record.clone())));
                        kept.push(record.clone());
                    }
                    Ok(None) => kept.push(record.clone()),
                    Err(KplError::RecordTooLarge { size, limit }) => {
                        prop_assert!(size > limit);
                        prop_assert!(aggregate_all(std::slice::from_ref(record)).size() > max);
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
            if let Some(last) = agg.flush() {
                finished.push((last, None));
            }

            let mut back = Vec::new();
            for (aggregate, next) in &finished {
                prop_assert!(aggregate.size() <= max);
                let out = deaggregate(&aggregate.partition_key, aggregate.data.clone());
                prop_assert_eq!(out.kind, RecordKind::Aggregated);
                prop_assert_eq!(out.records.len(), aggregate.user_records);
                prop_assert_eq!(sequence(&out.records), (0..aggregate.user_records as u64).collect::<Vec<_>>());
                let first = &out.records[0];
                prop_assert_eq!(&aggregate.partition_key, &first.partition_key);
                prop_assert_eq!(
                    parse_explicit_hash_key(&aggregate.explicit_hash_key),
                    hash_key(&first.partition_key, first.explicit_hash_key.as_deref())
                );
                let decoded = proto::AggregatedRecord::decode(&aggregate.data[4..aggregate.data.len() - 16]).unwrap();
                prop_assert_eq!(&decoded.encode_to_vec()[..], &aggregate.data[4..aggregate.data.len() - 16]);
                let mut with_next = plain(&out.records);
                back.extend(with_next.clone());
                if let Some(next) = next {
                    with_next.push(next.clone());
                    prop_assert!(aggregate_all(&with_next).size() > max);
                }
            }
            prop_assert_eq!(back, kept);
        }
    }
}
