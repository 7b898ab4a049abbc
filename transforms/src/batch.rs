//! Batching and durations: the `batch: {count, bytes, duration}` settings shared by the aggregate
//! transforms, `utility.control` and the `send.*` sinks, and the buffers behind them.
//!
//! A [`Duration`] setting is text like `"500ms"`, `"5s"`, `"1m"`, `"1h"` or `"1h30m"`. A
//! [`Batcher`] keeps one buffer per batch key and hands back the buffers that must be emitted:
//! when a message would push a buffer past `bytes`, when a buffer reaches `count`, when a buffer
//! is older than `duration` (checked on every add and on every tick, so it is a real timer), and
//! on flush. Unlike Substation, the age is measured from the buffer's first message, not from
//! the previous add, so a steady trickle cannot hold a batch back forever.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

/// A length of time written as text: a number and a unit (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`),
/// possibly several (`1h30m`) and with a fraction (`1.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub fn get(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses `"500ms"`, `"5s"`, `"1m"`, `"1h30m"`, `"1.5s"`. The error says what is wrong.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            return Err(format!("expected a number at {after:?}"));
        }
        let units = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(units);
        if unit.is_empty() {
            return Err(format!("`{number}` has no unit (write e.g. `{number}s`)"));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit `{unit}` (use ns, us, ms, s, m, h or d)"
            ));
        };
        total = total
            .checked_add(scaled(number, scale)?)
            .ok_or("duration is too long")?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "duration is too long")?;
    Ok(std::time::Duration::new(
        secs,
        (total % 1_000_000_000) as u32,
    ))
}

/// `number` (digits with at most one `.`) times `scale` nanoseconds, exactly.
fn scaled(number: &str, scale: u128) -> Result<u128, String> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(format!("`{number}` is not a number"));
    }
    let too_long = || "duration is too long".to_string();
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_long())?
    };
    let mut nanos = whole.checked_mul(scale).ok_or_else(too_long)?;
    let mut place = scale;
    for digit in fraction.bytes() {
        place /= 10;
        nanos += u128::from(digit - b'0') * place;
    }
    Ok(nanos)
}

impl fmt::Display for Duration {
    /// The largest unit that divides the duration evenly: `1m`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        let (unit, scale) = UNITS
            .iter()
            .rev()
            .filter(|(u, _)| *u != "µs")
            .find(|(_, scale)| nanos.is_multiple_of(*scale))
            .expect("nanoseconds divide everything");
        write!(f, "{}{unit}", nanos / scale)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_duration(&text).map(Duration).map_err(|why| {
            serde::de::Error::custom(format!(
                "expected a duration like \"500ms\", \"5s\", \"1m\" or \"1h\", found {text:?}: {why}"
            ))
        })
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h, d), e.g. \"500ms\", \"5s\", \"1m\", \"1h30m\".",
        })
    }
}

/// When a batch is emitted: whichever limit is reached first.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The most messages in one batch.
    #[serde(default = "default_count")]
    pub count: usize,
    /// The most bytes of message data in one batch.
    #[serde(default = "default_bytes")]
    pub bytes: usize,
    /// The longest a batch waits, from its first message, before it is emitted.
    #[serde(default = "default_duration")]
    pub duration: Duration,
}

fn default_count() -> usize {
    1000
}

fn default_bytes() -> usize {
    1024 * 1024
}

fn default_duration() -> Duration {
    Duration::from_secs(60)
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            count: default_count(),
            bytes: default_bytes(),
            duration: default_duration(),
        }
    }
}

impl Batch {
    /// Checks the limits; the error names the field under `batch`.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("field `batch.count`: must be at least 1".into());
        }
        if self.bytes == 0 {
            return Err("field `batch.bytes`: must be at least 1".into());
        }
        if self.duration.is_zero() {
            return Err("field `batch.duration`: must be longer than 0s".into());
        }
        Ok(())
    }
}

/// One batch being filled.
#[derive(Debug)]
pub struct Buffer<T> {
    /// The batch key this buffer collects (empty without a key).
    pub key: String,
    pub items: Vec<T>,
    /// The sum of the sizes given with each item.
    pub bytes: usize,
    /// The metadata of the first message.
    pub meta: Value,
    started: Instant,
    order: u64,
}

/// Why an item was not added to any batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the message is {size} bytes, more than `batch.bytes` ({limit}) on its own; raise the limit or split the message first"
)]
pub struct TooLarge {
    pub size: usize,
    pub limit: usize,
}

/// Buffers by batch key, with the limits of a [`Batch`].
#[derive(Debug)]
pub struct Batcher<T> {
    limits: Batch,
    buffers: HashMap<String, Buffer<T>>,
    next: u64,
}

impl<T> Batcher<T> {
    pub fn new(limits: Batch) -> Batcher<T> {
        Batcher {
            limits,
            buffers: HashMap::new(),
            next: 0,
        }
    }

    pub fn limits(&self) -> &Batch {
        &self.limits
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }

    /// Adds an item of `size` bytes under `key`, pushing to `ready` the buffers that are due:
    /// first the key's old buffer when the item does not fit or the buffer is too old, then the
    /// new buffer when the item filled it to `count`.
    pub fn add(
        &mut self,
        key: &str,
        item: T,
        size: usize,
        meta: &Value,
        now: Instant,
        ready: &mut Vec<Buffer<T>>,
    ) -> Result<(), TooLarge> {
        if size > self.limits.bytes {
            return Err(TooLarge {
                size,
                limit: self.limits.bytes,
            });
        }
        let due = self.buffers.get(key).is_some_and(|b| {
            b.bytes + size > self.limits.bytes
                || now.duration_since(b.started) >= self.limits.duration.0
        });
        if due {
            ready.extend(self.buffers.remove(key));
        }
        let buffer = match self.buffers.get_mut(key) {
            Some(b) => b,
            None => {
                self.next += 1;
                self.buffers.entry(key.to_string()).or_insert(Buffer {
                    key: key.to_string(),
                    items: Vec::new(),
                    bytes: 0,
                    meta: meta.clone(),
                    started: now,
                    order: self.next,
                })
            }
        };
        buffer.items.push(item);
        buffer.bytes += size;
        if buffer.items.len() >= self.limits.count {
            ready.extend(self.buffers.remove(key));
        }
        Ok(())
    }

    /// Removes and returns the buffers at least `duration` old, oldest first.
    pub fn expired(&mut self, now: Instant) -> Vec<Buffer<T>> {
        let limit = self.limits.duration.0;
        let keys: Vec<String> = self
            .buffers
            .iter()
            .filter(|(_, b)| now.duration_since(b.started) >= limit)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Buffer<T>> = keys.iter().filter_map(|k| self.buffers.remove(k)).collect();
        out.sort_by_key(|b| b.order);
        out
    }

    /// Removes and returns every buffer, oldest first.
    pub fn drain(&mut self) -> Vec<Buffer<T>> {
        let mut out: Vec<Buffer<T>> = self.buffers.drain().map(|(_, b)| b).collect();
        out.sort_by_key(|b| b.order);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration as Std;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms"), Ok(Std::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Std::from_secs(5)));
        assert_eq!(parse_duration(" 1m "), Ok(Std::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Ok(Std::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Std::from_millis(1500)));
        assert_eq!(parse_duration(".25s"), Ok(Std::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Std::from_secs(172_800)));
        assert_eq!(parse_duration("10µs"), Ok(Std::from_micros(10)));
        assert_eq!(parse_duration("0s"), Ok(Std::ZERO));
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "1.2.3s",
            "-1s",
            "5 s",
            "99999999999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} parsed");
        }
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
    }

    #[test]
    fn duration_setting_errors_name_the_problem() {
        let err = serde_json::from_value::<Duration>(serde_json::json!("10 minutes")).unwrap_err();
        assert!(
            err.to_string().contains("expected a duration like"),
            "{err}"
        );
        assert_eq!(Duration(Std::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Duration::from_secs(3600).to_string(), "1h");
        assert_eq!(Duration(Std::ZERO).to_string(), "0s");
    }

    fn limits(count: usize, bytes: usize, secs: u64) -> Batch {
        Batch {
            count,
            bytes,
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn emits_on_count_bytes_and_age() {
        let t0 = Instant::now();
        let meta = Value::Null;
        let mut b = Batcher::new(limits(2, 10, 60));
        let mut ready = Vec::new();
        b.add("", 1, 4, &meta, t0, &mut ready).unwrap();
        assert!(ready.is_empty());
        b.add("", 2, 4, &meta, t0, &mut ready).unwrap();
        assert_eq!(ready.remove(0).items, vec![1, 2]);
        // Bytes: 6 + 6 > 10, so the first goes out alone.
        b.add("", 3, 6, &meta, t0, &mut ready).unwrap();
        b.add("", 4, 6, &meta, t0, &mut ready).unwrap();
        assert_eq!(ready.remove(0).items, vec![3]);
        assert_eq!(
            b.add("", 5, 11, &meta, t0, &mut ready),
            Err(TooLarge {
                size: 11,
                limit: 10
            })
        );
        // Age: the buffer holding 4 is due a minute later, on tick or on the next add.
        assert!(b.expired(t0 + Std::from_secs(59)).is_empty());
        b.add("k", 6, 1, &meta, t0 + Std::from_secs(30), &mut ready)
            .unwrap();
        let due = b.expired(t0 + Std::from_secs(60));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].items, vec![4]);
        b.add("k", 7, 1, &meta, t0 + Std::from_secs(95), &mut ready)
            .unwrap();
        assert_eq!(ready.remove(0).items, vec![6]);
        assert_eq!(b.drain()[0].items, vec![7]);
        assert!(b.is_empty());
    }

    proptest! {
        #[test]
        fn durations_print_and_parse_back(nanos in any::<u64>()) {
            let d = Duration(Std::from_nanos(nanos));
            prop_assert_eq!(parse_duration(&d.to_string()), Ok(d.0));
        }

        #[test]
        fn batches_keep_every_item_in_order(
            sizes in prop::collection::vec(0usize..20, 0..60),
            count in 1usize..8,
        ) {
            let mut b = Batcher::new(limits(count, 20, 60));
            let mut ready = Vec::new();
            let now = Instant::now();
            for (i, size) in sizes.iter().enumerate() {
                b.add("", i, *size, &Value::Null, now, &mut ready).unwrap();
            }
            ready.extend(b.drain());
            for batch in &ready {
                prop_assert!(!batch.items.is_empty() && batch.items.len() <= count);
                prop_assert!(batch.bytes <= 20);
            }
            let all: Vec<usize> = ready.into_iter().flat_map(|b| b.items).collect();
            prop_assert_eq!(all, (0..sizes.len()).collect::<Vec<_>>());
        }
    }
}
