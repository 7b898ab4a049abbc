//! The time family: parse, format and convert timestamps.
//!
//! # One representation
//!
//! Inside a pipeline a time is an **RFC 3339 string in UTC**, ending in `Z`, with as many
//! fractional digits as it needs in groups of three (none, milli, micro or nano):
//! `2026-11-23T06:25:01Z`, `2026-11-23T06:25:01.123Z`, `2026-11-23T06:25:01.123456789Z`. Every
//! transform that makes a time writes this form, and every transform that reads a time reads it
//! (any RFC 3339 offset is accepted on input).
//!
//! Why a string and not Substation's integer Unix nanoseconds: ECS `@timestamp` and OpenSearch
//! `date` fields want exactly this string, so the common case (parse the event's time into
//! `@timestamp`) is one step with no conversion back; a person reading an event or a dead-letter
//! file can read it; it sorts correctly as text; and it covers any year, where i64 nanoseconds stop
//! in 2262. Nanoseconds are kept when the input had them. When a number is wanted (a duration, a
//! comparison, a DynamoDB TTL) `time.to_unix` gives one in any unit.
//!
//! # Inputs without an offset or a year
//!
//! A time written without an offset (`2026-11-23 06:25:01`) is read in the `zone` setting (an
//! IANA name like `America/New_York`; UTC by default). Of the two readings of a wall time that a
//! daylight-saving change makes ambiguous, the earlier is taken; a wall time that a change skips
//! is an error. A format with a month and day but no year (syslog's `Nov 23 06:25:01`) gets
//! the latest year that does not put the time more than 31 days in the future: in January, a
//! `Dec 31` line is last year's. [`parse_rfc3164`] exposes that for the syslog parser.

use crate::common::{get_str, target_or, wrong_type};
use chrono::Datelike as _;
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{Builder, ConfigErrors, MapTransform, Message, Path, Registry, TransformError};
use std::fmt::Write as _;

pub fn register(r: &mut Registry) {
    r.map("time.from_string", |s: FromStringSettings, b| {
        let format = InFormat::new(&s.format, s.unit, b)?;
        Ok(FromString {
            zone: zone(s.zone.as_deref(), b)?,
            format,
            source: s.source,
            target: s.target,
        })
    });
    r.map("time.to_string", |s: ToStringSettings, b| {
        let format = OutFormat::new(&s.format, b)?;
        Ok(ToText {
            zone: zone(s.zone.as_deref(), b)?,
            format,
            source: s.source,
            target: s.target,
        })
    });
    r.map("time.from_unix", |s: FromUnixSettings, _| {
        Ok(FromUnix {
            source: s.source,
            target: s.target,
            unit: s.unit,
        })
    });
    r.map("time.from_unix_milli", |s: UnixMilliSettings, _| {
        Ok(FromUnix {
            source: s.source,
            target: s.target,
            unit: Unit::Ms,
        })
    });
    r.map("time.to_unix", |s: ToUnixSettings, _| {
        Ok(ToUnix {
            source: s.source,
            target: s.target,
            unit: s.unit,
        })
    });
    r.map("time.to_unix_milli", |s: UnixMilliSettings, _| {
        Ok(ToUnix {
            source: s.source,
            target: s.target,
            unit: Unit::Ms,
        })
    });
    r.map("time.now", |s: NowSettings, _| Ok(s));
}

/// Writes a time in the pipeline's representation: RFC 3339, UTC, `Z`, 0/3/6/9 decimals.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads a time in the pipeline's representation (any RFC 3339 offset).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses an RFC 3164 (BSD syslog) timestamp such as `Nov 23 06:25:01` or `Nov  3 06:25:01`,
/// which has no year and no offset. The wall time is read in `zone`; the year is the latest
/// that puts the time no more than 31 days after `now` (so in early January a `Dec 31` line is
/// from last year, and on Dec 31 a `Jan  1` line from a clock that runs ahead is next year's).
/// The error says what was expected.
pub fn parse_rfc3164(text: &str, now: DateTime<Utc>, zone: &Tz) -> Result<DateTime<Utc>, String> {
    const FORMAT: &str = "%b %e %H:%M:%S%.f";
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text.trim(), StrftimeItems::new(FORMAT))
        .map_err(|e| format!("{text:?} is not a syslog time like \"Nov 23 06:25:01\": {e}"))?;
    resolve(&parsed, zone, now)
        .map_err(|e| format!("{text:?} is not a syslog time like \"Nov 23 06:25:01\": {e}"))
}

/// The unit of a Unix time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Seconds.
    #[default]
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl Unit {
    fn per_second(self) -> i64 {
        match self {
            Unit::S => 1,
            Unit::Ms => 1_000,
            Unit::Us => 1_000_000,
            Unit::Ns => 1_000_000_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::S => "seconds",
            Unit::Ms => "milliseconds",
            Unit::Us => "microseconds",
            Unit::Ns => "nanoseconds",
        }
    }
}

/// A Unix time (a number, or a string holding one) in `unit` as a time. Fractions are kept to
/// the nanosecond for integers; floats are as precise as a double allows.
pub fn from_unix(value: &Value, unit: Unit) -> Result<DateTime<Utc>, String> {
    let out_of_range = || format!("{value} is out of range for a Unix time in {}", unit.name());
    let (int, float) = match value {
        Value::Number(n) => (n.as_i64(), n.as_f64()),
        Value::String(s) => {
            let s = s.trim();
            (s.parse::<i64>().ok(), s.parse::<f64>().ok())
        }
        _ => (None, None),
    };
    let per = unit.per_second();
    if let Some(n) = int {
        let (secs, rest) = (n.div_euclid(per), n.rem_euclid(per));
        let nanos = rest * (1_000_000_000 / per);
        return DateTime::from_timestamp(secs, nanos as u32).ok_or_else(out_of_range);
    }
    match float {
        // A u64 beyond i64 is still a number, just far out of range.
        Some(_) if value.as_u64().is_some() => Err(out_of_range()),
        Some(x) if x.is_finite() => {
            let secs = (x / per as f64).floor();
            if secs.abs() > 1e13 {
                return Err(out_of_range());
            }
            let rest = x - secs * per as f64;
            let nanos = (rest * (1e9 / per as f64))
                .round()
                .clamp(0.0, 999_999_999.0);
            DateTime::from_timestamp(secs as i64, nanos as u32).ok_or_else(out_of_range)
        }
        _ => Err(format!("{value} is not a Unix time in {}", unit.name())),
    }
}

/// A time as an integer Unix time in `unit`, rounded down (toward the past).
pub fn to_unix(time: DateTime<Utc>, unit: Unit) -> Option<i64> {
    match unit {
        Unit::S => Some(time.timestamp()),
        Unit::Ms => Some(time.timestamp_millis()),
        Unit::Us => Some(time.timestamp_micros()),
        Unit::Ns => time.timestamp_nanos_opt(),
    }
}

fn zone(name: Option<&str>, b: &Builder) -> Result<Tz, ConfigErrors> {
    let name = name.unwrap_or("UTC");
    name.parse::<Tz>().map_err(|_| {
        b.fail(format!(
            "field `zone`: unknown time zone {name:?}; use an IANA name like \"America/New_York\", \"Europe/Berlin\" or \"UTC\""
        ))
    })
}

/// Checks a strftime format at config time and keeps its parsed items.
fn strftime(format: &str, b: &Builder) -> Result<Vec<Item<'static>>, ConfigErrors> {
    let items = StrftimeItems::new(format).parse_to_owned().map_err(|e| {
        b.fail(format!(
            "field `format`: invalid strftime format {format:?}: {e}"
        ))
    })?;
    if items.is_empty() {
        return Err(b.fail("field `format`: must not be empty"));
    }
    Ok(items)
}

/// Turns parsed fields into a time: an explicit timestamp or offset wins, else the wall time is
/// read in `zone`. A missing year is inferred relative to `now`; a missing time is midnight.
fn resolve(parsed: &Parsed, zone: &Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let has_year = parsed.year().is_some()
        || parsed.year_mod_100().is_some()
        || parsed.isoyear().is_some()
        || parsed.isoyear_mod_100().is_some();
    if has_year || parsed.timestamp().is_some() {
        return assemble(parsed, zone);
    }
    if parsed.month().is_none() || parsed.day().is_none() {
        return Err("the format has no year, and no month and day to place the time in one".into());
    }
    let this_year = now.with_timezone(zone).date_naive().year_ce().1 as i64;
    let latest = now + TimeDelta::days(31);
    let mut last_error = String::new();
    // Back up to 8 years: Feb 29 may need the last leap year (2100 is not one).
    for year in (this_year - 8..=this_year + 1).rev() {
        let mut candidate = parsed.clone();
        if candidate.set_year(year).is_err() {
            continue;
        }
        match assemble(&candidate, zone) {
            Ok(t) if t <= latest => return Ok(t),
            Ok(_) => {}
            // Feb 29 exists only in some years; try the next candidate.
            Err(e) => last_error = e,
        }
    }
    Err(if last_error.is_empty() {
        "no year puts it within a month of now".into()
    } else {
        last_error
    })
}

fn assemble(parsed: &Parsed, zone: &Tz) -> Result<DateTime<Utc>, String> {
    if parsed.timestamp().is_some() || parsed.offset().is_some() {
        return parsed
            .to_datetime_with_timezone(&Utc)
            .or_else(|_| parsed.to_datetime().map(|t| t.with_timezone(&Utc)))
            .map_err(|e| e.to_string());
    }
    let date = parsed.to_naive_date().map_err(|e| e.to_string())?;
    let time = match parsed.hour_div_12() {
        Some(_) => parsed.to_naive_time().map_err(|e| e.to_string())?,
        None => NaiveTime::MIN,
    };
    localize(&date.and_time(time), zone)
}

fn localize(wall: &NaiveDateTime, zone: &Tz) -> Result<DateTime<Utc>, String> {
    zone.from_local_datetime(wall)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("{wall} does not exist in {zone} (skipped by a daylight-saving change)")
        })
}

/// Parse a time from text into the pipeline's representation (RFC 3339 in UTC, e.g.
/// `2026-11-23T06:25:01.123Z`). `format` is `rfc3339`, `rfc2822`, `epoch` (a Unix time in
/// `unit`), or a strftime format (`%Y-%m-%d %H:%M:%S`, `%d/%b/%Y:%H:%M:%S %z`); times without an
/// offset are read in `zone`, formats without a year get one inferred. Unparseable input is an
/// error quoting the value and the format.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromStringSettings {
    /// The text to parse; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the time; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// `rfc3339` (also accepts a missing offset, read in `zone`), `rfc2822`, `epoch`, or a
    /// strftime format such as `%Y-%m-%d %H:%M:%S%.f`.
    pub format: String,
    /// IANA time zone for times written without an offset (default `UTC`).
    #[serde(default)]
    pub zone: Option<String>,
    /// With `format: epoch`: the unit, `s` (default), `ms`, `us` or `ns`.
    #[serde(default)]
    pub unit: Option<Unit>,
}

enum InFormat {
    Rfc3339,
    Rfc2822,
    Epoch(Unit),
    Strftime(Vec<Item<'static>>),
}

impl InFormat {
    fn new(format: &str, unit: Option<Unit>, b: &Builder) -> Result<InFormat, ConfigErrors> {
        let parsed = match format {
            "epoch" => return Ok(InFormat::Epoch(unit.unwrap_or_default())),
            "rfc3339" => InFormat::Rfc3339,
            "rfc2822" => InFormat::Rfc2822,
            f => InFormat::Strftime(strftime(f, b)?),
        };
        if unit.is_some() {
            return Err(b.fail("field `unit`: only used with `format: \"epoch\"`"));
        }
        Ok(parsed)
    }

    fn parse(&self, text: &str, zone: &Tz) -> Result<DateTime<Utc>, String> {
        match self {
            InFormat::Rfc3339 => parse_time(text).map_or_else(
                || {
                    // ISO 8601 without an offset: a wall time in `zone`.
                    let wall = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                        .or_else(|_| {
                            NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
                        })
                        .map_err(|e| e.to_string())?;
                    localize(&wall, zone)
                },
                Ok,
            ),
            InFormat::Rfc2822 => DateTime::parse_from_rfc2822(text.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| e.to_string()),
            InFormat::Epoch(unit) => from_unix(&Value::String(text.to_string()), *unit),
            InFormat::Strftime(items) => {
                let mut parsed = Parsed::new();
                chrono::format::parse(&mut parsed, text, items.iter())
                    .map_err(|e| e.to_string())?;
                resolve(&parsed, zone, Utc::now())
            }
        }
    }
}

struct FromString {
    source: Path,
    target: Option<Path>,
    format: InFormat,
    zone: Tz,
}

impl FromString {
    fn describe_format(&self) -> String {
        match &self.format {
            InFormat::Rfc3339 => "RFC 3339 (like 2026-11-23T06:25:01Z)".into(),
            InFormat::Rfc2822 => "RFC 2822 (like Mon, 23 Nov 2026 06:25:01 +0000)".into(),
            InFormat::Epoch(u) => format!("a Unix time in {}", u.name()),
            InFormat::Strftime(items) => {
                // Render the items back into a format string for the message.
                let mut text = String::new();
                for item in items {
                    let _ = write!(text, "{}", ItemText(item));
                }
                format!("the format {text:?}")
            }
        }
    }
}

/// Shows a strftime item as it was written (enough for error messages).
struct ItemText<'a>(&'a Item<'static>);

impl std::fmt::Display for ItemText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::format::{Fixed, Numeric};
        match self.0 {
            Item::Literal(s) | Item::Space(s) => f.write_str(s),
            Item::OwnedLiteral(s) | Item::OwnedSpace(s) => f.write_str(s),
            Item::Numeric(n, _) => f.write_str(match n {
                Numeric::Year => "%Y",
                Numeric::YearMod100 => "%y",
                Numeric::Month => "%m",
                Numeric::Day => "%d",
                Numeric::Hour => "%H",
                Numeric::Hour12 => "%I",
                Numeric::Minute => "%M",
                Numeric::Second => "%S",
                Numeric::Nanosecond => "%f",
                Numeric::Timestamp => "%s",
                Numeric::Ordinal => "%j",
                _ => "%?",
            }),
            Item::Fixed(x) => f.write_str(match x {
                Fixed::ShortMonthName => "%b",
                Fixed::LongMonthName => "%B",
                Fixed::ShortWeekdayName => "%a",
                Fixed::LongWeekdayName => "%A",
                Fixed::UpperAmPm | Fixed::LowerAmPm => "%p",
                Fixed::Nanosecond => "%.f",
                Fixed::TimezoneOffset => "%z",
                Fixed::TimezoneOffsetColon => "%:z",
                Fixed::TimezoneName => "%Z",
                Fixed::RFC3339 => "%+",
                _ => "%?",
            }),
            Item::Error => f.write_str("?"),
        }
    }
}

impl MapTransform for FromString {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        // A raw (not JSON) line as the whole data is read as text, never parsed as JSON.
        let raw_root = self.source.is_root()
            && self.source.root == sluice_core::path::Root::Data
            && !message.is_parsed();
        let number = match raw_root {
            true => None,
            false => match message.get(&self.source)? {
                None => return Ok(()),
                Some(v @ Value::Number(_)) => Some(v.clone()),
                Some(_) => None,
            },
        };
        let time = match number {
            // Epoch times are often numbers already.
            Some(v) => match &self.format {
                InFormat::Epoch(unit) => from_unix(&v, *unit)
                    .map_err(|e| TransformError::invalid(format!("`{}`: {e}", self.source)))?,
                _ => return Err(wrong_type(&self.source, "a string", &v)),
            },
            None => {
                let Some(text) = get_str(message, &self.source)? else {
                    return Ok(());
                };
                self.format.parse(&text, &self.zone).map_err(|e| {
                    TransformError::invalid(format!(
                        "`{}` is {text:?}, which is not a time in {}: {e}",
                        self.source,
                        self.describe_format()
                    ))
                })?
            }
        };
        message.set(
            target_or(&self.target, &self.source),
            Value::String(format_time(time)),
        )
    }
}

/// Reads the time at a path (RFC 3339). `Ok(None)` when absent.
fn read_time(message: &mut Message, path: &Path) -> Result<Option<DateTime<Utc>>, TransformError> {
    let Some(text) = get_str(message, path)? else {
        return Ok(None);
    };
    parse_time(&text).map(Some).ok_or_else(|| {
        TransformError::invalid(format!(
            "`{path}` is {text:?}, expected an RFC 3339 time like 2026-11-23T06:25:01Z (parse it with time.from_string first)"
        ))
    })
}

/// Format a time (RFC 3339, as the time transforms write it) as text: `rfc3339`, `rfc2822`,
/// or a strftime format such as `%Y/%m/%d %H:%M:%S %Z`, in a time zone (UTC by default).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToStringSettings {
    /// The time to format; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the text; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// `rfc3339`, `rfc2822`, or a strftime format.
    pub format: String,
    /// IANA time zone to show the time in (default `UTC`).
    #[serde(default)]
    pub zone: Option<String>,
}

enum OutFormat {
    Rfc3339,
    Rfc2822,
    Strftime(Vec<Item<'static>>),
}

impl OutFormat {
    fn new(format: &str, b: &Builder) -> Result<OutFormat, ConfigErrors> {
        Ok(match format {
            "rfc3339" => OutFormat::Rfc3339,
            "rfc2822" => OutFormat::Rfc2822,
            f => {
                let items = strftime(f, b)?;
                // Formatting a sample finds items that cannot be written (e.g. `%#z`).
                let mut sample = String::new();
                if write!(sample, "{}", Utc::now().format_with_items(items.iter())).is_err() {
                    return Err(b.fail(format!(
                        "field `format`: {f:?} has a specifier that can only be parsed, not written"
                    )));
                }
                OutFormat::Strftime(items)
            }
        })
    }
}

struct ToText {
    source: Path,
    target: Option<Path>,
    format: OutFormat,
    zone: Tz,
}

impl MapTransform for ToText {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(time) = read_time(message, &self.source)? else {
            return Ok(());
        };
        let local = time.with_timezone(&self.zone);
        let text = match &self.format {
            OutFormat::Rfc3339 => local.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            OutFormat::Rfc2822 => local.to_rfc2822(),
            OutFormat::Strftime(items) => {
                let mut text = String::new();
                write!(text, "{}", local.format_with_items(items.iter())).map_err(|_| {
                    TransformError::invalid(format!("{time} cannot be written in this format"))
                })?;
                text
            }
        };
        message.set(target_or(&self.target, &self.source), Value::String(text))
    }
}

/// Turn a Unix time (seconds by default, or `unit`) into a time (RFC 3339 in UTC). Integers and
/// numeric strings are exact to the nanosecond; floats carry fractions of the unit.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromUnixSettings {
    /// The Unix time; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the time; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// `s` (default), `ms`, `us` or `ns`.
    #[serde(default)]
    pub unit: Unit,
}

/// Turn a time into an integer Unix time in milliseconds (`time.to_unix_milli`), or a Unix time
/// in milliseconds into a time (`time.from_unix_milli`). Shorthands for `unit: ms`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UnixMilliSettings {
    /// The value to convert; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

struct FromUnix {
    source: Path,
    target: Option<Path>,
    unit: Unit,
}

impl MapTransform for FromUnix {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let time = match value {
            Value::Number(_) | Value::String(_) => from_unix(value, self.unit)
                .map_err(|e| TransformError::invalid(format!("`{}`: {e}", self.source)))?,
            other => return Err(wrong_type(&self.source, "a Unix time (a number)", other)),
        };
        message.set(
            target_or(&self.target, &self.source),
            Value::String(format_time(time)),
        )
    }
}

/// Turn a time (RFC 3339) into an integer Unix time in seconds, or in `unit`. Fractions of the
/// unit are dropped (rounded toward the past); use `ms`, `us` or `ns` to keep them.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToUnixSettings {
    /// The time; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the number; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// `s` (default), `ms`, `us` or `ns`.
    #[serde(default)]
    pub unit: Unit,
}

struct ToUnix {
    source: Path,
    target: Option<Path>,
    unit: Unit,
}

impl MapTransform for ToUnix {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(time) = read_time(message, &self.source)? else {
            return Ok(());
        };
        let n = to_unix(time, self.unit).ok_or_else(|| {
            TransformError::invalid(format!(
                "`{}` ({}) is beyond what 64-bit Unix {} can hold (1677 to 2262)",
                self.source,
                format_time(time),
                self.unit.name()
            ))
        })?;
        message.set(target_or(&self.target, &self.source), Value::from(n))
    }
}

/// Write the current time (RFC 3339 in UTC, with nanoseconds) to `target`, e.g.
/// `event.ingested`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NowSettings {
    /// Where to write the time.
    pub target: Path,
}

impl MapTransform for NowSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        message.set(&self.target, Value::String(format_time(Utc::now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, apply_err, apply_raw, build_error, config};
    use proptest::prelude::*;
    use serde_json::json;

    fn one(t: &str, settings: Value, input: Value) -> Value {
        apply(config(t, settings), &input).remove(0)
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn from_string_formats() {
        let p = |format: &str, zone: Option<&str>, v: Value| {
            let mut s = json!({"source": "t", "format": format});
            if let Some(z) = zone {
                s["zone"] = json!(z);
            }
            one("time.from_string", s, json!({"t": v}))["t"].clone()
        };
        assert_eq!(
            p("rfc3339", None, json!("2026-11-23T06:25:01Z")),
            json!("2026-11-23T06:25:01Z")
        );
        assert_eq!(
            p("rfc3339", None, json!("2026-11-23T07:25:01.123456+01:00")),
            json!("2026-11-23T06:25:01.123456Z")
        );
        assert_eq!(
            p("rfc3339", None, json!("2026-11-23T06:25:01.123456789Z")),
            json!("2026-11-23T06:25:01.123456789Z")
        );
        assert_eq!(
            p(
                "rfc3339",
                Some("America/New_York"),
                json!("2026-11-23T01:25:01")
            ),
            json!("2026-11-23T06:25:01Z")
        );
        assert_eq!(
            p("rfc2822", None, json!("Mon, 23 Nov 2026 06:25:01 +0000")),
            json!("2026-11-23T06:25:01Z")
        );
        assert_eq!(
            p("epoch", None, json!(1700000000)),
            json!("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            p("epoch", None, json!("1700000000")),
            json!("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            p(
                "%Y-%m-%d %H:%M:%S",
                Some("Europe/Berlin"),
                json!("2026-07-01 12:00:00")
            ),
            json!("2026-07-01T10:00:00Z")
        );
        assert_eq!(
            p(
                "%d/%b/%Y:%H:%M:%S %z",
                None,
                json!("23/Nov/2026:06:25:01 -0500")
            ),
            json!("2026-11-23T11:25:01Z")
        );
        assert_eq!(
            p("%Y-%m-%d", None, json!("2026-11-23")),
            json!("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            p("%s", None, json!("1700000000")),
            json!("2023-11-14T22:13:20Z")
        );
        let mut epoch_ms = json!({"source": "t", "format": "epoch", "unit": "ms"});
        assert_eq!(
            one(
                "time.from_string",
                epoch_ms.clone(),
                json!({"t": 1700000000123u64})
            )["t"],
            json!("2023-11-14T22:13:20.123Z")
        );
        epoch_ms["format"] = json!("rfc3339");
        let e = build_error(config("time.from_string", epoch_ms));
        assert!(e.contains("field `unit`: only used with"), "{e}");
    }

    #[test]
    fn from_string_errors() {
        let e = apply_err(
            config(
                "time.from_string",
                json!({"source": "t", "format": "%Y-%m-%d %H:%M:%S"}),
            ),
            &json!({"t": "23 Nov 2026"}),
        );
        assert_eq!(
            e,
            "`t` is \"23 Nov 2026\", which is not a time in the format \"%Y-%m-%d %H:%M:%S\": input contains invalid characters"
        );
        let e = apply_err(
            config(
                "time.from_string",
                json!({"source": "t", "format": "rfc3339"}),
            ),
            &json!({"t": "yesterday"}),
        );
        assert!(
            e.starts_with("`t` is \"yesterday\", which is not a time in RFC 3339"),
            "{e}"
        );
        let e = apply_err(
            config(
                "time.from_string",
                json!({"source": "t", "format": "rfc3339"}),
            ),
            &json!({"t": 5}),
        );
        assert!(e.contains("`t` is number, expected a string"), "{e}");
        // A wall time skipped by a daylight-saving change.
        let e = apply_err(
            config(
                "time.from_string",
                json!({"source": "t", "format": "%Y-%m-%d %H:%M", "zone": "Europe/Berlin"}),
            ),
            &json!({"t": "2026-03-29 02:30"}),
        );
        assert!(e.contains("does not exist in Europe/Berlin"), "{e}");
        // A raw line as the whole data.
        assert_eq!(
            apply_raw(
                config("time.from_string", json!({"format": "%b %d %Y %H:%M:%S"})),
                "Nov 23 2026 06:25:01"
            ),
            vec![json!("2026-11-23T06:25:01Z")]
        );
        // Missing source passes.
        assert_eq!(
            one(
                "time.from_string",
                json!({"source": "t", "format": "rfc3339"}),
                json!({"a": 1})
            ),
            json!({"a": 1})
        );
    }

    #[test]
    fn bad_config() {
        let e = build_error(config(
            "time.from_string",
            json!({"format": "rfc3339", "zone": "Mars/Olympus"}),
        ));
        assert!(
            e.contains("field `zone`: unknown time zone \"Mars/Olympus\""),
            "{e}"
        );
        let e = build_error(config("time.from_string", json!({"format": "%Y-%Q"})));
        assert!(e.contains("field `format`: invalid strftime format"), "{e}");
        let e = build_error(config("time.to_string", json!({"format": ""})));
        assert!(e.contains("field `format`"), "{e}");
        let e = build_error(config("time.to_unix", json!({"unit": "minutes"})));
        assert!(e.contains("field `unit`"), "{e}");
        let e = build_error(config("time.now", json!({})));
        assert!(e.contains("target"), "{e}");
    }

    #[test]
    fn to_string_in_zones() {
        let input = json!({"t": "2026-11-23T06:25:01.5Z"});
        let f = |format: &str, zone: &str| {
            one(
                "time.to_string",
                json!({"source": "t", "target": "s", "format": format, "zone": zone}),
                input.clone(),
            )["s"]
                .clone()
        };
        assert_eq!(
            f("%Y/%m/%d %H:%M:%S %Z", "America/New_York"),
            json!("2026/11/23 01:25:01 EST")
        );
        assert_eq!(
            f("rfc3339", "Asia/Kolkata"),
            json!("2026-11-23T11:55:01.500+05:30")
        );
        assert_eq!(
            f("rfc2822", "UTC"),
            json!("Mon, 23 Nov 2026 06:25:01 +0000")
        );
        assert_eq!(f("%b %e %H:%M:%S", "UTC"), json!("Nov 23 06:25:01"));
        let e = apply_err(
            config("time.to_string", json!({"source": "t", "format": "%Y"})),
            &json!({"t": "soon"}),
        );
        assert!(e.contains("expected an RFC 3339 time"), "{e}");
        let e = apply_err(
            config("time.to_string", json!({"source": "t", "format": "%Y"})),
            &json!({"t": [1]}),
        );
        assert!(e.contains("`t` is array, expected a string"), "{e}");
    }

    #[test]
    fn unix_conversions() {
        let f = |t: &str, s: Value, v: Value| one(t, s, json!({"t": v}))["t"].clone();
        assert_eq!(
            f("time.from_unix", json!({"source": "t"}), json!(0)),
            json!("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            f("time.from_unix", json!({"source": "t"}), json!(-1)),
            json!("1969-12-31T23:59:59Z")
        );
        assert_eq!(
            f("time.from_unix", json!({"source": "t"}), json!(1.5)),
            json!("1970-01-01T00:00:01.500Z")
        );
        assert_eq!(
            f(
                "time.from_unix",
                json!({"source": "t", "unit": "ns"}),
                json!(i64::MAX)
            ),
            json!("2262-04-11T23:47:16.854775807Z")
        );
        assert_eq!(
            f("time.from_unix_milli", json!({"source": "t"}), json!(-1)),
            json!("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(
            f(
                "time.to_unix",
                json!({"source": "t"}),
                json!("1969-12-31T23:59:59.999Z")
            ),
            json!(-1)
        );
        assert_eq!(
            f(
                "time.to_unix_milli",
                json!({"source": "t"}),
                json!("2023-11-14T22:13:20.123456Z")
            ),
            json!(1700000000123u64)
        );
        assert_eq!(
            f(
                "time.to_unix",
                json!({"source": "t", "unit": "us"}),
                json!("2023-11-14T23:13:20.123456+01:00")
            ),
            json!(1700000000123456u64)
        );
        let e = apply_err(
            config("time.from_unix", json!({"source": "t"})),
            &json!({"t": u64::MAX}),
        );
        assert_eq!(
            e,
            "`t`: 18446744073709551615 is out of range for a Unix time in seconds"
        );
        let e = apply_err(
            config("time.from_unix", json!({"source": "t"})),
            &json!({"t": "abc"}),
        );
        assert!(e.contains("\"abc\" is not a Unix time in seconds"), "{e}");
        let e = apply_err(
            config("time.from_unix", json!({"source": "t"})),
            &json!({"t": true}),
        );
        assert!(e.contains("`t` is boolean"), "{e}");
        let e = apply_err(
            config("time.to_unix", json!({"source": "t", "unit": "ns"})),
            &json!({"t": "2300-01-01T00:00:00Z"}),
        );
        assert!(
            e.contains("beyond what 64-bit Unix nanoseconds can hold"),
            "{e}"
        );
        // Raw whole data.
        assert_eq!(
            apply_raw(config("time.from_unix", json!({})), "1700000000"),
            vec![json!("2023-11-14T22:13:20Z")]
        );
    }

    #[test]
    fn now_and_when() {
        let mut c = config("time.now", json!({"target": "event.ingested"}));
        c["transforms"][0]["when"] = json!({"type": "exists", "source": "a"});
        let out = apply(c.clone(), &json!({"a": 1})).remove(0);
        let t = parse_time(out["event"]["ingested"].as_str().unwrap()).unwrap();
        assert!((Utc::now() - t).num_seconds().abs() < 60);
        assert_eq!(apply(c, &json!({"b": 1})), vec![json!({"b": 1})]);
    }

    #[test]
    fn syslog_year_inference() {
        let utc = chrono_tz::UTC;
        let now = at("2026-11-23T07:00:00Z");
        assert_eq!(
            parse_rfc3164("Nov 23 06:25:01", now, &utc).unwrap(),
            at("2026-11-23T06:25:01Z")
        );
        assert_eq!(
            parse_rfc3164("Nov  3 06:25:01", now, &utc).unwrap(),
            at("2026-11-03T06:25:01Z")
        );
        // A little in the future (clock skew) stays this year; far in the future is last year.
        assert_eq!(
            parse_rfc3164("Dec 20 00:00:00", now, &utc).unwrap(),
            at("2026-12-20T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3164("Dec 30 00:00:00", now, &utc).unwrap(),
            at("2025-12-30T00:00:00Z")
        );
        // Around New Year.
        let jan = at("2027-01-01T00:00:10Z");
        assert_eq!(
            parse_rfc3164("Dec 31 23:59:59", jan, &utc).unwrap(),
            at("2026-12-31T23:59:59Z")
        );
        let dec = at("2026-12-31T23:59:50Z");
        assert_eq!(
            parse_rfc3164("Jan  1 00:00:05", dec, &utc).unwrap(),
            at("2027-01-01T00:00:05Z")
        );
        // Feb 29 goes to the last leap year that is not in the future.
        assert_eq!(
            parse_rfc3164("Feb 29 12:00:00", at("2026-03-01T00:00:00Z"), &utc).unwrap(),
            at("2024-02-29T12:00:00Z")
        );
        // Zones and fractions.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            parse_rfc3164("Nov 23 01:25:01.250", now, &ny).unwrap(),
            at("2026-11-23T06:25:01.25Z")
        );
        let e = parse_rfc3164("23 Nov 06:25:01", now, &utc).unwrap_err();
        assert!(
            e.starts_with("\"23 Nov 06:25:01\" is not a syslog time"),
            "{e}"
        );
        // The strftime path uses the same inference.
        let out = one(
            "time.from_string",
            json!({"source": "t", "format": "%b %e %H:%M:%S"}),
            json!({"t": "Jan  1 00:00:00"}),
        );
        let year = Utc::now().year();
        let got = out["t"].as_str().unwrap();
        assert!(
            got.starts_with(&year.to_string()) || got.starts_with(&(year + 1).to_string()),
            "{got}"
        );
    }

    #[test]
    fn example_config() {
        crate::aggregate::tests::check_example("time");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// time.to_unix then time.from_unix gives the time back, in every unit that can hold it.
        #[test]
        fn to_unix_then_from_unix_is_identity(secs in -5_000_000_000i64..8_000_000_000, nanos in 0u32..1_000_000_000, unit in 0usize..4) {
            let units = [(Unit::S, "s", 1_000_000_000), (Unit::Ms, "ms", 1_000_000), (Unit::Us, "us", 1_000), (Unit::Ns, "ns", 1)];
            let (_, name, step) = units[unit];
            // A time with no precision finer than the unit.
            let t = DateTime::from_timestamp(secs, nanos / step * step).unwrap();
            let text = format_time(t);
            let input = json!({"t": text});
            let mut c = config("time.to_unix", json!({"source": "t", "target": "n", "unit": name}));
            c["transforms"].as_array_mut().unwrap().push(json!({"type": "time.from_unix", "source": "n", "target": "back", "unit": name}));
            let out = apply(c, &input).remove(0);
            prop_assert_eq!(&out["back"], &input["t"]);
            // And the other way: a Unix integer comes back as itself.
            let n = out["n"].clone();
            let mut c = config("time.from_unix", json!({"source": "n", "target": "t", "unit": name}));
            c["transforms"].as_array_mut().unwrap().push(json!({"type": "time.to_unix", "source": "t", "target": "n2", "unit": name}));
            let out = apply(c, &json!({"n": n})).remove(0);
            prop_assert_eq!(&out["n2"], &out["n"]);
        }
    }
}
