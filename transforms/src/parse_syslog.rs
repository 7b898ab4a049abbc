//! `parse.syslog`: read a syslog line's header into ECS fields.
//!
//! Three shapes are told apart by their first characters:
//!
//! - RFC 3164 (BSD): `<38>Nov 23 06:25:01 bastion-1 sshd[2411]: message`. The `<PRI>` is
//!   optional, the day may be space-padded (`Nov  3`), and the form with a year that some
//!   devices write (`Nov 23 2026 06:25:01`) is read too. With no year and no offset, the wall
//!   time is read in `timezone` and the year is inferred by [`crate::time::parse_rfc3164`]
//!   (the latest year that puts the time no more than 31 days after the reference time).
//! - RFC 5424: `<38>1 2026-11-23T06:30:14.118022+00:00 bastion-2 sshd 3120 - - message`, with
//!   structured data.
//! - The ISO-timestamp form that rsyslog (`RSYSLOG_FileFormat`) and journald's forwarding
//!   write: `2026-11-23T06:40:11.482913+00:00 bastion-3 sshd[1236]: message`, `<PRI>` optional.
//!
//! The output uses ECS names, so a pipeline needs no renames: `@timestamp` (RFC 3339 in UTC),
//! `host.hostname`, `process.name`, `process.pid` (an integer), `message`, and `log.syslog.*`
//! (priority, facility and severity codes and names, and RFC 5424's version, msgid,
//! non-numeric procid and structured data) when the line has them.
//!
//! The parser is strict wherever leniency would put wrong values into fields. A host name that
//! is missing (the tag right after the timestamp), a tag without its `:`, a process id that is
//! not a number, an impossible date (`Feb 30`) or a priority above 191 is an error that says
//! what was expected. It never yields `host.hostname: "sshd[2452]:"`, and never a time quietly
//! set to now.

use crate::common::get_str;
use crate::parse_regex::excerpt;
use crate::time::{format_time, parse_rfc3164, parse_time};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::path::Root;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("parse.syslog", |s: SyslogSettings, b| {
        let timezone = s.timezone.parse::<Tz>().map_err(|_| {
            b.fail(format!(
                "field `timezone`: unknown time zone {:?}; use an IANA name like \"UTC\", \"Europe/Berlin\" or \"America/New_York\"",
                s.timezone
            ))
        })?;
        let reference_time = match &s.reference_time {
            None => None,
            Some(t) => Some(parse_time(t).ok_or_else(|| {
                b.fail(format!(
                    "field `reference_time`: {t:?} is not an RFC 3339 time like \"2026-11-23T07:00:00Z\""
                ))
            })?),
        };
        Ok(ParseSyslog {
            source: s.source,
            target: s.target,
            timezone,
            reference_time,
        })
    });
}

/// Parse a syslog line (RFC 3164, RFC 5424, or the ISO-timestamp form rsyslog and journald
/// write) into ECS fields: `@timestamp` (RFC 3339, UTC), `host.hostname`, `process.name`,
/// `process.pid`, `message`, and `log.syslog.*` (priority, facility, severity; RFC 5424's
/// version, msgid and structured data). RFC 3164 times have no year: it is inferred relative to
/// the current time (or `reference_time`). A line that is not syslog, or whose header is
/// broken, is an error that says what was expected.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SyslogSettings {
    /// The line to parse; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the parsed object; by default it replaces the whole data.
    #[serde(default)]
    pub target: Option<Path>,
    /// The IANA time zone of timestamps written without an offset (always so for RFC 3164).
    #[serde(default = "utc")]
    pub timezone: String,
    /// The time RFC 3164 years are inferred from, as RFC 3339; the current time by default. Set
    /// it to replay old logs, or to pin the year in tests.
    #[serde(default)]
    pub reference_time: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

struct ParseSyslog {
    source: Path,
    target: Option<Path>,
    timezone: Tz,
    reference_time: Option<DateTime<Utc>>,
}

impl MapTransform for ParseSyslog {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let value = {
            let Some(line) = get_str(message, &self.source)? else {
                return Ok(());
            };
            parse(&line, &self.timezone, self.reference_time)
                .map_err(TransformError::Invalid)?
                .into_value()
        };
        match &self.target {
            None => {
                message.set_value(value);
                Ok(())
            }
            Some(target) => {
                if target.root == Root::Data && !message.is_parsed() {
                    // The source was the raw line: the data becomes an object around the result.
                    message.set_value(Value::Object(Map::new()));
                }
                message.set(target, value)
            }
        }
    }
}

/// The parts of a syslog line. Absent parts (RFC 5424's `-`) are `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Syslog<'a> {
    pub priority: Option<u8>,
    /// RFC 5424's version (always 1); `None` for the other shapes.
    pub version: Option<u8>,
    pub timestamp: Option<DateTime<Utc>>,
    pub hostname: Option<&'a str>,
    /// The tag (RFC 3164) or APP-NAME (RFC 5424).
    pub app_name: Option<&'a str>,
    pub pid: Option<u64>,
    /// An RFC 5424 PROCID that is not a number.
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Option<Map<String, Value>>,
    pub message: &'a str,
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

impl Syslog<'_> {
    /// The ECS-shaped object `parse.syslog` writes.
    pub fn into_value(self) -> Value {
        let mut doc = Map::new();
        if let Some(t) = self.timestamp {
            doc.insert("@timestamp".into(), Value::String(format_time(t)));
        }
        if let Some(h) = self.hostname {
            doc.insert("host".into(), json!({ "hostname": h }));
        }
        let mut process = Map::new();
        if let Some(name) = self.app_name {
            process.insert("name".into(), Value::String(name.into()));
        }
        if let Some(pid) = self.pid {
            process.insert("pid".into(), Value::from(pid));
        }
        if !process.is_empty() {
            doc.insert("process".into(), Value::Object(process));
        }
        let mut syslog = Map::new();
        if let Some(pri) = self.priority {
            let (facility, severity) = (pri / 8, pri % 8);
            syslog.insert("priority".into(), Value::from(pri));
            syslog.insert(
                "facility".into(),
                json!({"code": facility, "name": FACILITIES[usize::from(facility)]}),
            );
            syslog.insert(
                "severity".into(),
                json!({"code": severity, "name": SEVERITIES[usize::from(severity)]}),
            );
        }
        if let Some(v) = self.version {
            syslog.insert("version".into(), Value::from(v));
        }
        if let Some(m) = self.msgid {
            syslog.insert("msgid".into(), Value::String(m.into()));
        }
        if let Some(p) = self.procid {
            syslog.insert("procid".into(), Value::String(p.into()));
        }
        if let Some(sd) = self.structured_data {
            syslog.insert("structured_data".into(), Value::Object(sd));
        }
        if !syslog.is_empty() {
            doc.insert("log".into(), json!({ "syslog": syslog }));
        }
        doc.insert("message".into(), Value::String(self.message.into()));
        Value::Object(doc)
    }
}

/// Parses one syslog line. `reference` is the time RFC 3164 years are inferred from (now when
/// `None`); `zone` reads timestamps that have no offset. The error is the reason, worded for
/// the person reading the error route.
pub fn parse<'a>(
    line: &'a str,
    zone: &Tz,
    reference: Option<DateTime<Utc>>,
) -> Result<Syslog<'a>, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Err("not a syslog line: the line is empty".into());
    }
    let (priority, rest) = split_priority(line)?;
    let first = rest.bytes().next();
    let digits = leading_digits(rest);
    let mut parsed = if priority.is_some()
        && (1..=2).contains(&digits)
        && rest.as_bytes().get(digits) == Some(&b' ')
    {
        rfc5424(rest, digits, zone)?
    } else if digits == 4 && rest.as_bytes().get(4) == Some(&b'-') {
        iso(rest, zone)?
    } else if first.is_some_and(|b| b.is_ascii_alphabetic()) {
        bsd(rest, zone, reference)?
    } else {
        return Err(format!(
            "not a syslog line: expected `<PRI>`, a timestamp like `Nov 23 06:25:01` or `2026-11-23T06:25:01Z`, or `<PRI>1 ` (RFC 5424) at the start, found {}",
            excerpt(line)
        ));
    };
    parsed.priority = priority;
    Ok(parsed)
}

fn leading_digits(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

/// `<PRI>` at the start of the line, if any, and the rest.
fn split_priority(line: &str) -> Result<(Option<u8>, &str), String> {
    let Some(rest) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let digits = leading_digits(rest);
    if !(1..=3).contains(&digits) || rest.as_bytes().get(digits) != Some(&b'>') {
        return Err(format!(
            "bad syslog priority: expected `<0>` to `<191>` at the start of the line, found {}",
            excerpt(line)
        ));
    }
    let pri: u16 = rest[..digits].parse().expect("1 to 3 digits");
    if pri > 191 {
        return Err(format!(
            "bad syslog priority `<{pri}>`: the highest is `<191>` (facility local7, severity debug)"
        ));
    }
    Ok((Some(pri as u8), &rest[digits + 1..]))
}

/// RFC 3164: `Mmm dd hh:mm:ss host tag[pid]: message`.
fn bsd<'a>(
    text: &'a str,
    zone: &Tz,
    reference: Option<DateTime<Utc>>,
) -> Result<Syslog<'a>, String> {
    let Some((stamp, has_year)) = bsd_timestamp(text) else {
        return Err(format!(
            "not a syslog line: expected an RFC 3164 timestamp like `Nov 23 06:25:01` at the start, found {}",
            excerpt(text)
        ));
    };
    let timestamp = if has_year {
        let wall = NaiveDateTime::parse_from_str(stamp, "%b %e %Y %H:%M:%S%.f")
            .map_err(|e| format!("bad timestamp `{stamp}`: {e}"))?;
        localize(&wall, zone)?
    } else {
        parse_rfc3164(stamp, reference.unwrap_or_else(Utc::now), zone)
            .map_err(|e| format!("bad timestamp: {e}"))?
    };
    host_and_tag(timestamp, stamp, &text[stamp.len()..])
}

/// The span of an RFC 3164 timestamp at the start of `text` (`Nov 23 06:25:01`, `Nov  3
/// 06:25:01.250`, `Nov 23 2026 06:25:01`), and whether it has a year. Only the shape is checked
/// here; the values are checked when the time is built.
fn bsd_timestamp(text: &str) -> Option<(&str, bool)> {
    let b = text.as_bytes();
    let digits_at = |i: usize| {
        b.get(i..)
            .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_alphabetic) || b[3] != b' ' {
        return None;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let day = digits_at(i);
    if !(1..=2).contains(&day) || b.get(i + day) != Some(&b' ') {
        return None;
    }
    i += day + 1;
    let mut has_year = false;
    if digits_at(i) == 4 && b.get(i + 4) == Some(&b' ') {
        has_year = true;
        i += 5;
    }
    for part in 0..3 {
        if digits_at(i) != 2 {
            return None;
        }
        i += 2;
        if part < 2 {
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') && digits_at(i + 1) > 0 {
        i += 1 + digits_at(i + 1);
    }
    Some((&text[..i], has_year))
}

/// The rsyslog/journald form: `2026-11-23T06:40:11.482913+00:00 host tag[pid]: message`.
fn iso<'a>(text: &'a str, zone: &Tz) -> Result<Syslog<'a>, String> {
    let stamp = text.split(' ').next().unwrap_or(text);
    let timestamp = iso_time(stamp, zone)?;
    host_and_tag(timestamp, stamp, &text[stamp.len()..])
}

/// An ISO 8601 / RFC 3339 time; without an offset it is read in `zone`.
fn iso_time(stamp: &str, zone: &Tz) -> Result<DateTime<Utc>, String> {
    match DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(e) => match NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f") {
            Ok(wall) => localize(&wall, zone),
            Err(_) => Err(format!(
                "bad timestamp {}: expected an ISO 8601 time like `2026-11-23T06:25:01.123456+00:00` ({e})",
                excerpt(stamp)
            )),
        },
    }
}

fn localize(wall: &NaiveDateTime, zone: &Tz) -> Result<DateTime<Utc>, String> {
    zone.from_local_datetime(wall)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("bad timestamp: {wall} does not exist in {zone} (skipped by a daylight-saving change)")
        })
}

/// ` host tag[pid]: message` after an RFC 3164 or ISO timestamp (`stamp`, read as `timestamp`).
fn host_and_tag<'a>(
    timestamp: DateTime<Utc>,
    stamp: &str,
    rest: &'a str,
) -> Result<Syslog<'a>, String> {
    let truncated = || {
        format!(
            "truncated syslog line: nothing after the timestamp `{stamp}`; expected ` host tag[pid]: message`"
        )
    };
    let Some(rest) = rest.strip_prefix(' ') else {
        return Err(if rest.is_empty() {
            truncated()
        } else {
            format!(
                "bad timestamp: expected a space after `{stamp}`, found {}",
                excerpt(rest)
            )
        });
    };
    let rest = rest.trim_start_matches(' ');
    if rest.is_empty() {
        return Err(truncated());
    }
    let (host, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if host.ends_with(':') {
        return Err(format!(
            "the host name is missing: the tag `{host}` follows the timestamp; expected `{stamp} host {host} message`"
        ));
    }
    if rest.is_empty() {
        return Err(format!(
            "truncated syslog line: nothing after the host `{host}`; expected a tag like `sshd[1234]: message`"
        ));
    }
    let (name, pid, message) = split_tag(rest)?;
    Ok(Syslog {
        timestamp: Some(timestamp),
        hostname: Some(host),
        app_name: Some(name),
        pid,
        message,
        ..Syslog::default()
    })
}

/// `tag[pid]: message` or `tag: message`.
fn split_tag(text: &str) -> Result<(&str, Option<u64>, &str), String> {
    let end = text
        .find(|c: char| c == '[' || c == ':' || c.is_whitespace())
        .unwrap_or(text.len());
    let name = &text[..end];
    if name.is_empty() {
        return Err(format!(
            "expected a tag like `sshd[1234]:` after the host, found {}",
            excerpt(text)
        ));
    }
    let mut rest = &text[end..];
    let mut pid = None;
    if let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(format!(
                "the tag has no closing `]`: expected `{name}[1234]: message`, found {}",
                excerpt(text)
            ));
        };
        let id = &inner[..close];
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the process id in `{name}[{id}]` is not a number"));
        }
        pid = Some(
            id.parse::<u64>()
                .map_err(|_| format!("the process id in `{name}[{id}]` is too large"))?,
        );
        rest = &inner[close + 1..];
    }
    let Some(message) = rest.strip_prefix(':') else {
        return Err(format!(
            "expected `:` after the tag `{}`, found {}",
            &text[..text.len() - rest.len()],
            excerpt(rest)
        ));
    };
    Ok((name, pid, message.strip_prefix(' ').unwrap_or(message)))
}

/// RFC 5424 after the PRI: `1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
fn rfc5424<'a>(text: &'a str, version_len: usize, zone: &Tz) -> Result<Syslog<'a>, String> {
    let version = &text[..version_len];
    if version != "1" {
        return Err(format!(
            "unsupported RFC 5424 version `{version}`: only version 1 exists"
        ));
    }
    let mut fields = text[version_len + 1..].splitn(6, ' ');
    let mut next = |what: &str| match fields.next() {
        Some(f) if !f.is_empty() => Ok(f),
        _ => Err(format!(
            "truncated RFC 5424 header: expected `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA` after the version, each separated by one space, but the {what} is missing in {}",
            excerpt(text)
        )),
    };
    let nil = |f: &'a str| (f != "-").then_some(f);
    let stamp = next("TIMESTAMP")?;
    let host = next("HOSTNAME")?;
    let app = next("APP-NAME")?;
    let procid = next("PROCID")?;
    let msgid = next("MSGID")?;
    let rest = next("STRUCTURED-DATA")?;
    let timestamp = match stamp {
        "-" => None,
        t => Some(iso_time(t, zone)?),
    };
    let (structured_data, rest) = structured_data(rest)?;
    let message = match rest.strip_prefix(' ') {
        Some(m) => m.strip_prefix('\u{feff}').unwrap_or(m),
        None if rest.is_empty() => "",
        None => {
            return Err(format!(
                "expected a space and the message after the structured data, found {}",
                excerpt(rest)
            ));
        }
    };
    let (pid, procid) = match procid.parse::<u64>() {
        Ok(pid) if procid.bytes().all(|b| b.is_ascii_digit()) => (Some(pid), None),
        _ => (None, nil(procid)),
    };
    Ok(Syslog {
        version: Some(1),
        timestamp,
        hostname: nil(host),
        app_name: nil(app),
        pid,
        procid,
        msgid: nil(msgid),
        structured_data,
        message,
        ..Syslog::default()
    })
}

/// RFC 5424 structured data as `{id: {name: value}}`.
type Elements = Map<String, Value>;

/// RFC 5424 structured data: `-`, or `[id name="value" ...]` elements; and the rest of the line.
fn structured_data(text: &str) -> Result<(Option<Elements>, &str), String> {
    if let Some(rest) = text.strip_prefix('-') {
        return Ok((None, rest));
    }
    let bad = |why: &str| format!("bad RFC 5424 structured data: {why}, in {}", excerpt(text));
    if !text.starts_with('[') {
        return Err(bad("expected `-` or `[id name=\"value\"]` after the MSGID"));
    }
    let mut elements = Map::new();
    let mut rest = text;
    while let Some(inner) = rest.strip_prefix('[') {
        let id_end = inner
            .find([' ', ']'])
            .ok_or_else(|| bad("an element is not closed with `]`"))?;
        let id = &inner[..id_end];
        if id.is_empty() || id.contains(['=', '"']) {
            return Err(bad("an element has no valid SD-ID"));
        }
        let mut params = Map::new();
        let mut r = &inner[id_end..];
        loop {
            if let Some(after) = r.strip_prefix(']') {
                r = after;
                break;
            }
            let Some(after) = r.strip_prefix(' ') else {
                return Err(bad("expected ` name=\"value\"` or `]`"));
            };
            let eq = after
                .find('=')
                .ok_or_else(|| bad("a parameter has no `=`"))?;
            let name = &after[..eq];
            if name.is_empty() || name.contains([' ', ']', '"']) {
                return Err(bad("a parameter has no valid name"));
            }
            let Some(quoted) = after[eq + 1..].strip_prefix('"') else {
                return Err(bad("a parameter value is not in double quotes"));
            };
            let mut value = String::new();
            let mut end = None;
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| bad("a parameter value has no closing `\"`"))?;
            params.insert(name.to_string(), Value::String(value));
            r = &quoted[end + 1..];
        }
        match elements.get_mut(id) {
            Some(Value::Object(existing)) => existing.extend(params),
            _ => {
                elements.insert(id.to_string(), Value::Object(params));
            }
        }
        rest = r;
    }
    Ok((Some(elements), rest))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::testing::{apply, apply_err, apply_raw, apply_raw_err, build_error, config};
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const NOW: &str = "2026-11-23T07:00:00Z";

    fn syslog() -> Value {
        config("parse.syslog", json!({"reference_time": NOW}))
    }

    fn at(t: &str) -> Option<DateTime<Utc>> {
        Some(crate::time::parse_time(t).unwrap())
    }

    #[test]
    fn rfc3164_without_a_year() {
        let out = apply_raw(
            syslog(),
            "Nov 23 06:25:03 bastion-1 sshd[2411]: Failed password for root from 89.160.20.156 port 41240 ssh2",
        );
        assert_eq!(
            out,
            vec![json!({
                "@timestamp": "2026-11-23T06:25:03Z",
                "host": {"hostname": "bastion-1"},
                "process": {"name": "sshd", "pid": 2411},
                "message": "Failed password for root from 89.160.20.156 port 41240 ssh2"
            })]
        );
        // No pid, and the message keeps its own leading spaces.
        let out = apply_raw(
            syslog(),
            "Nov 23 06:22:10 bastion-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice",
        );
        assert_eq!(out[0]["process"], json!({"name": "sudo"}));
        assert_eq!(out[0]["message"], "   alice : TTY=pts/0 ; PWD=/home/alice");
    }

    #[test]
    fn rfc3164_variants_priority_padding_year_and_fraction() {
        let out = apply_raw(syslog(), "<38>Nov  3 06:25:01.250 bastion-1 sshd[7]: hi");
        assert_eq!(
            out[0],
            json!({
                "@timestamp": "2026-11-03T06:25:01.250Z",
                "host": {"hostname": "bastion-1"},
                "process": {"name": "sshd", "pid": 7},
                "log": {"syslog": {
                    "priority": 38,
                    "facility": {"code": 4, "name": "auth"},
                    "severity": {"code": 6, "name": "informational"}
                }},
                "message": "hi"
            })
        );
        let out = apply_raw(syslog(), "Nov 23 2019 06:25:01 fw01 kernel: x");
        assert_eq!(out[0]["@timestamp"], "2019-11-23T06:25:01Z");
        // An old line, read around New Year, belongs to last year.
        let c = config(
            "parse.syslog",
            json!({"reference_time": "2027-01-01T00:00:10Z"}),
        );
        let out = apply_raw(c, "Dec 31 23:59:59 h app: x");
        assert_eq!(out[0]["@timestamp"], "2026-12-31T23:59:59Z");
    }

    #[test]
    fn time_zones() {
        let c = config(
            "parse.syslog",
            json!({"reference_time": NOW, "timezone": "America/New_York"}),
        );
        let out = apply_raw(c.clone(), "Nov 23 01:25:03 h sshd[1]: x");
        assert_eq!(out[0]["@timestamp"], "2026-11-23T06:25:03Z");
        // An ISO time without an offset is read in the zone too; one with an offset is not.
        let out = apply_raw(c.clone(), "2026-11-23T01:25:03.5 h sshd[1]: x");
        assert_eq!(out[0]["@timestamp"], "2026-11-23T06:25:03.500Z");
        let out = apply_raw(c, "2026-11-23T01:25:03+01:00 h sshd[1]: x");
        assert_eq!(out[0]["@timestamp"], "2026-11-23T00:25:03Z");
        // A wall time that a daylight-saving change skips does not exist.
        let c = config("parse.syslog", json!({"timezone": "Europe/Berlin"}));
        let e = apply_raw_err(c, "2026-03-29T02:30:00 h sshd[1]: x");
        assert!(e.contains("does not exist in Europe/Berlin"), "{e}");
    }

    #[test]
    fn iso_form() {
        let out = apply_raw(
            syslog(),
            "2026-11-23T06:40:11.482913+00:00 bastion-3 sshd[1236]: Accepted publickey for bob",
        );
        assert_eq!(
            out[0],
            json!({
                "@timestamp": "2026-11-23T06:40:11.482913Z",
                "host": {"hostname": "bastion-3"},
                "process": {"name": "sshd", "pid": 1236},
                "message": "Accepted publickey for bob"
            })
        );
        let out = apply_raw(syslog(), "<86>2026-11-23T06:40:11Z bastion-3 CRON: x");
        assert_eq!(out[0]["log"]["syslog"]["facility"]["name"], "authpriv");
        assert_eq!(out[0]["log"]["syslog"]["severity"]["name"], "informational");
    }

    #[test]
    fn rfc5424() {
        let out = apply_raw(
            syslog(),
            "<38>1 2026-11-23T06:30:14.118022+00:00 bastion-2 sshd 3120 - - Failed password for root",
        );
        assert_eq!(
            out[0],
            json!({
                "@timestamp": "2026-11-23T06:30:14.118022Z",
                "host": {"hostname": "bastion-2"},
                "process": {"name": "sshd", "pid": 3120},
                "log": {"syslog": {
                    "priority": 38, "version": 1,
                    "facility": {"code": 4, "name": "auth"},
                    "severity": {"code": 6, "name": "informational"}
                }},
                "message": "Failed password for root"
            })
        );
        // Structured data with escapes, a BOM before the message, nil and non-numeric fields.
        let out = apply_raw(
            syslog(),
            "<165>1 - - app worker-7 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Appl\\\"ication\\]\"][origin ip=\"10.0.0.1\"] \u{feff}BOMmsg ✓",
        );
        assert_eq!(
            out[0],
            json!({
                "process": {"name": "app"},
                "log": {"syslog": {
                    "priority": 165, "version": 1,
                    "facility": {"code": 20, "name": "local4"},
                    "severity": {"code": 5, "name": "notice"},
                    "msgid": "ID47", "procid": "worker-7",
                    "structured_data": {
                        "exampleSDID@32473": {"iut": "3", "eventSource": "Appl\"ication]"},
                        "origin": {"ip": "10.0.0.1"}
                    }
                }},
                "message": "BOMmsg ✓"
            })
        );
        // No message at all is an empty one.
        let out = apply_raw(syslog(), "<0>1 2026-11-23T06:30:14Z h a 1 - -");
        assert_eq!(out[0]["message"], "");
        assert_eq!(out[0]["log"]["syslog"]["severity"]["name"], "emergency");
    }

    #[test]
    fn broken_lines_say_what_was_expected() {
        let cases = [
            ("", "the line is empty"),
            ("{\"MESSAGE\":\"x\"}", "not a syslog line: expected `<PRI>`"),
            (
                "Foo 99 99:99:99 bastion-1 sshd[2451]: x",
                "bad timestamp: \"Foo 99 99:99:99\" is not a syslog time",
            ),
            (
                "Feb 30 06:27:10 bastion-1 sshd[2456]: x",
                "bad timestamp: \"Feb 30 06:27:10\"",
            ),
            (
                "Nov 23 06:27:04 sshd[2452]: Failed password",
                "the host name is missing: the tag `sshd[2452]:` follows the timestamp",
            ),
            (
                "Nov 23 06:27:05 bastion-1 sshd[abc]: x",
                "the process id in `sshd[abc]` is not a number",
            ),
            (
                "Nov 23 06:27:09",
                "truncated syslog line: nothing after the timestamp `Nov 23 06:27:09`",
            ),
            (
                "Nov 23 06:27:09 bastion-1",
                "nothing after the host `bastion-1`",
            ),
            (
                "Nov 23 06:27:09 bastion-1 sshd[12",
                "the tag has no closing `]`",
            ),
            (
                "Nov 23 06:27:21 bastion-1 sshd[2463] Failed password",
                "expected `:` after the tag `sshd[2463]`, found ` Failed password`",
            ),
            (
                "Nov 2x 06:27:21 h a: x",
                "expected an RFC 3164 timestamp like `Nov 23 06:25:01`",
            ),
            (
                "<38 1 2026-11-23T06:27:11.000000+00:00 bastion-2 sshd 3201 - - x",
                "bad syslog priority: expected `<0>` to `<191>`",
            ),
            (
                "<999>1 2026-11-23T06:27:12.000000+00:00 bastion-2 sshd 3202 - - x",
                "bad syslog priority `<999>`: the highest is `<191>`",
            ),
            (
                "2026-13-45T25:61:00.000000+00:00 bastion-3 sshd[1301]: x",
                "bad timestamp `2026-13-45T25:61:00.000000+00:00`: expected an ISO 8601 time",
            ),
            (
                "<38>2 2026-11-23T06:30:14Z h a 1 - - x",
                "unsupported RFC 5424 version `2`",
            ),
            (
                "<38>1 2026-11-23T06:30:14Z h a",
                "truncated RFC 5424 header",
            ),
            (
                "<38>1 2026-11-23T06:30:14Z h a 1 - [x a=\"1] m",
                "a parameter value has no closing `\"`",
            ),
            (
                "<38>1 2026-11-23T06:30:14Z h a 1 - x m",
                "expected `-` or `[id name=\"value\"]`",
            ),
            (
                "<38>1 2026-11-23T06:30:14Z h a 1 - -x",
                "expected a space and the message",
            ),
        ];
        for (line, reason) in cases {
            let e = apply_raw_err(syslog(), line);
            assert!(e.contains(reason), "{line:?}: {e}");
        }
    }

    #[test]
    fn source_target_and_missing_fields() {
        let c = config(
            "parse.syslog",
            json!({"reference_time": NOW, "source": "line", "target": "syslog"}),
        );
        let out = apply(
            c.clone(),
            &json!({"line": "Nov 23 06:25:03 h a: m", "k": 1}),
        );
        assert_eq!(out[0]["k"], 1);
        assert_eq!(out[0]["syslog"]["host"]["hostname"], "h");
        assert_eq!(apply(c.clone(), &json!({"k": 1})), vec![json!({"k": 1})]);
        let e = apply_err(c, &json!({"line": 5}));
        assert!(e.contains("`line` is number, expected a string"), "{e}");
        // A raw line parsed into a target becomes an object around it.
        let c = config(
            "parse.syslog",
            json!({"reference_time": NOW, "target": "s"}),
        );
        let out = apply_raw(c, "Nov 23 06:25:03 h a: m");
        assert_eq!(out[0]["s"]["message"], "m");
        // `when` decides which messages are parsed.
        let mut c = syslog();
        c["transforms"][0]["when"] = json!({"type": "string.starts_with", "value": "Nov"});
        assert_eq!(apply_raw(c, "not syslog"), vec![json!("not syslog")]);
    }

    #[test]
    fn example_config() {
        crate::aggregate::tests::check_example("syslog");
    }

    #[test]
    fn config_errors() {
        let e = build_error(config("parse.syslog", json!({"timezone": "Mars/Olympus"})));
        assert!(
            e.contains("field `timezone`: unknown time zone \"Mars/Olympus\""),
            "{e}"
        );
        let e = build_error(config(
            "parse.syslog",
            json!({"reference_time": "yesterday"}),
        ));
        assert!(
            e.contains("field `reference_time`: \"yesterday\" is not an RFC 3339 time"),
            "{e}"
        );
    }

    #[test]
    fn the_whole_sample_auth_log_parses() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/sshd/auth.log"),
        )
        .unwrap();
        let tz = chrono_tz::UTC;
        for line in text.lines() {
            let p = parse(line, &tz, at(NOW)).unwrap_or_else(|e| panic!("{line}: {e}"));
            let t = p.timestamp.unwrap();
            assert!(
                t >= at("2026-11-23T06:17:01Z").unwrap()
                    && t <= at("2026-11-23T06:58:03Z").unwrap(),
                "{line}"
            );
            assert!(p.hostname.unwrap().starts_with("bastion-"), "{line}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// A line built from header parts parses back into the same parts, in every shape.
        #[test]
        fn header_round_trip(
            host in "[a-z][a-z0-9.-]{0,20}",
            tag in "[A-Za-z][A-Za-z0-9_./-]{0,15}",
            pid in any::<u32>(),
            message in "[^\n\r\u{feff}]{0,60}",
            second in 0u32..60,
            pri in 0u8..192,
        ) {
            let tz = chrono_tz::UTC;
            let expect_time = at(&format!("2026-11-23T06:25:{second:02}Z"));
            let lines = [
                format!("Nov 23 06:25:{second:02} {host} {tag}[{pid}]: {message}"),
                format!("<{pri}>2026-11-23T06:25:{second:02}Z {host} {tag}[{pid}]: {message}"),
                format!("<{pri}>1 2026-11-23T06:25:{second:02}+00:00 {host} {tag} {pid} - - {message}"),
            ];
            for line in &lines {
                let p = parse(line, &tz, at(NOW)).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
                prop_assert_eq!(p.timestamp, expect_time);
                prop_assert_eq!(p.hostname, Some(host.as_str()));
                prop_assert_eq!(p.app_name, Some(tag.as_str()));
                prop_assert_eq!(p.pid, Some(u64::from(pid)));
                prop_assert_eq!(p.message, message.as_str());
            }
        }

        /// Any text either parses or gives a reason; nothing panics.
        #[test]
        fn never_panics(line in "(<[0-9]{1,4}>)?(1 )?[ -~\u{a7}\u{1b}\t]{0,80}") {
            let _ = parse(&line, &chrono_tz::UTC, at(NOW));
        }
    }
}
