//! What ECS derives from a VPC flow record (transport, outcome, event type, times, related
//! IPs, TCP flag names) and the checks that need more than one field, for both ways
//! `parse.vpc_flow` writes a document: into a tree, or into the slots of its text template.
//! Each function reads the record through `get`: a field's text by name, `None` for `-`.

use crate::vpc_flow_doc::Slot;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};
use sluice_core::TransformError;
use std::net::IpAddr;

/// What `ecs` adds, in the order of `Derived`.
pub const DERIVED: [&str; 19] = [
    "source.ip",
    "destination.ip",
    "network.type",
    "network.iana_number",
    "network.transport",
    "network.packets",
    "network.bytes",
    "event.kind",
    "event.category",
    "event.action",
    "event.outcome",
    "event.type",
    "event.start",
    "@timestamp",
    "event.end",
    "tags",
    "cloud.provider",
    "related.ip",
    "aws.vpcflow.tcp_flags_array",
];

/// Indexes into `DERIVED`.
#[derive(Clone, Copy)]
pub enum Derived {
    SourceIp,
    DestinationIp,
    NetworkType,
    IanaNumber,
    Transport,
    Packets,
    Bytes,
    Kind,
    Category,
    Action,
    Outcome,
    Type,
    Start,
    Timestamp,
    End,
    Tags,
    Provider,
    Related,
    TcpFlags,
}

/// Checks that need more than one field or a range: ports, addresses, actions, times.
pub fn validate<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<(), TransformError> {
    for port in ["srcport", "dstport"] {
        if let Some(p) = get(port)
            && p.parse::<u64>().is_ok_and(|p| p > 65535)
        {
            return Err(TransformError::invalid(format!(
                "{port} `{p}` is not a port (0 to 65535)"
            )));
        }
    }
    for addr in ["srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"] {
        if let Some(a) = get(addr)
            && a.parse::<IpAddr>().is_err()
        {
            return Err(TransformError::invalid(format!(
                "{addr} `{a}` is not an IP address"
            )));
        }
    }
    if let Some(a) = get("action")
        && a != "ACCEPT"
        && a != "REJECT"
    {
        return Err(TransformError::invalid(format!(
            "action `{a}` is neither ACCEPT nor REJECT"
        )));
    }
    if let Some(p) = get("protocol")
        && p.parse::<u64>().is_ok_and(|p| p > 255)
    {
        return Err(TransformError::invalid(format!(
            "protocol `{p}` is not an IANA protocol number (0 to 255)"
        )));
    }
    if let Some(a) = get("account-id")
        && (a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(TransformError::invalid(format!(
            "account-id `{a}` is not a 12-digit AWS account id"
        )));
    }
    if let Some(st) = get("log-status")
        && !matches!(st, "OK" | "NODATA" | "SKIPDATA")
    {
        return Err(TransformError::invalid(format!(
            "log-status `{st}` is not OK, NODATA or SKIPDATA"
        )));
    }
    if let (Some(s), Some(e)) = (get("start"), get("end"))
        && s.parse::<u64>().ok() > e.parse::<u64>().ok()
    {
        return Err(TransformError::invalid(format!(
            "start `{s}` is after end `{e}`"
        )));
    }
    Ok(())
}

/// The transport name ECS uses for an IANA protocol number.
pub fn transport(protocol: u64) -> Option<&'static str> {
    Some(match protocol {
        0 => "hopopt",
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        8 => "egp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

pub fn rfc3339(seconds: u64) -> Option<String> {
    let t = DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)?;
    Some(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub fn derive_ecs<'a>(
    record: &mut Value,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<(), TransformError> {
    let map = record.as_object_mut().expect("an object");
    let mut related = Vec::with_capacity(2);
    for (field, side) in [("srcaddr", "source"), ("dstaddr", "destination")] {
        if let Some(addr) = get(field) {
            entry(map, side).insert("ip".into(), Value::String(addr.into()));
            if !related.contains(&addr) {
                related.push(addr);
            }
        }
    }
    let mut network = Map::new();
    if let Some(addr) = get("srcaddr") {
        let kind = if addr.contains(':') { "ipv6" } else { "ipv4" };
        network.insert("type".into(), json!(kind));
    }
    if let Some(p) = get("protocol").and_then(|p| p.parse::<u64>().ok()) {
        network.insert("iana_number".into(), Value::String(p.to_string()));
        if let Some(name) = transport(p) {
            network.insert("transport".into(), json!(name));
        }
    }
    for (field, key) in [("packets", "packets"), ("bytes", "bytes")] {
        if let Some(n) = get(field).and_then(|n| n.parse::<u64>().ok()) {
            network.insert(key.into(), json!(n));
        }
    }
    if !network.is_empty() {
        entry(map, "network").extend(network);
    }

    let mut event = Map::new();
    event.insert("kind".into(), json!("event"));
    event.insert("category".into(), json!(["network"]));
    match get("action") {
        Some("ACCEPT") => {
            event.insert("action".into(), json!("accept"));
            event.insert("outcome".into(), json!("success"));
            event.insert("type".into(), json!(["connection", "allowed"]));
        }
        Some(_) => {
            event.insert("action".into(), json!("reject"));
            event.insert("outcome".into(), json!("failure"));
            event.insert("type".into(), json!(["connection", "denied"]));
        }
        None => {
            event.insert("type".into(), json!(["connection"]));
        }
    }
    if let Some(start) = get("start").and_then(|s| s.parse().ok()).and_then(rfc3339) {
        event.insert("start".into(), Value::String(start));
    }
    if let Some(end) = get("end").and_then(|s| s.parse().ok()).and_then(rfc3339) {
        map.insert("@timestamp".into(), Value::String(end.clone()));
        event.insert("end".into(), Value::String(end));
    }
    if let Some(status @ ("NODATA" | "SKIPDATA")) = get("log-status") {
        // Kept, not dropped: a gap in the record is itself worth seeing.
        map.insert(
            "tags".into(),
            json!([format!("vpcflow-{}", status.to_ascii_lowercase())]),
        );
    }
    entry(map, "event").extend(event);
    entry(map, "cloud").insert("provider".into(), json!("aws"));
    if !related.is_empty() {
        let ips = related
            .into_iter()
            .map(|a| Value::String(a.into()))
            .collect();
        entry(map, "related").insert("ip".into(), Value::Array(ips));
    }
    if let Some(flags) = get("tcp-flags").and_then(|f| f.parse::<u64>().ok()) {
        let names = tcp_flag_names(flags);
        let aws = entry(map, "aws");
        let vpcflow = aws
            .entry("vpcflow")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(v) = vpcflow {
            v.insert("tcp_flags_array".into(), Value::Array(names));
        }
    }
    Ok(())
}

/// `derive_ecs` for the text path: the same fields, into their slots.
pub fn derive_slots<'a>(
    slots: &mut [Slot<'a>],
    at: &[usize],
    get: impl Fn(&str) -> Option<&'a str>,
) {
    let mut put = |which: Derived, value: Slot<'a>| slots[at[which as usize]] = value;
    let mut related = Vec::with_capacity(2);
    for (field, side) in [
        ("srcaddr", Derived::SourceIp),
        ("dstaddr", Derived::DestinationIp),
    ] {
        if let Some(addr) = get(field) {
            put(side, Slot::Str(addr));
            if !related.contains(&addr) {
                related.push(addr);
            }
        }
    }
    if let Some(addr) = get("srcaddr") {
        let kind = if addr.contains(':') {
            "\"ipv6\""
        } else {
            "\"ipv4\""
        };
        put(Derived::NetworkType, Slot::Raw(kind));
    }
    if let Some(p) = get("protocol").and_then(|p| p.parse::<u64>().ok()) {
        put(Derived::IanaNumber, Slot::Text(p.to_string()));
        if let Some(name) = transport(p) {
            put(Derived::Transport, Slot::Str(name));
        }
    }
    for (field, which) in [("packets", Derived::Packets), ("bytes", Derived::Bytes)] {
        if let Some(n) = get(field).and_then(|n| n.parse::<i64>().ok()) {
            put(which, Slot::Int(n));
        }
    }
    put(Derived::Kind, Slot::Raw("\"event\""));
    put(Derived::Category, Slot::Raw("[\"network\"]"));
    let (action, outcome, kind) = match get("action") {
        Some("ACCEPT") => ("\"accept\"", "\"success\"", "[\"connection\",\"allowed\"]"),
        Some(_) => ("\"reject\"", "\"failure\"", "[\"connection\",\"denied\"]"),
        None => ("", "", "[\"connection\"]"),
    };
    if !action.is_empty() {
        put(Derived::Action, Slot::Raw(action));
        put(Derived::Outcome, Slot::Raw(outcome));
    }
    put(Derived::Type, Slot::Raw(kind));
    if let Some(start) = get("start").and_then(|s| s.parse().ok()).and_then(rfc3339) {
        put(Derived::Start, Slot::Text(start));
    }
    if let Some(end) = get("end").and_then(|s| s.parse().ok()).and_then(rfc3339) {
        put(Derived::Timestamp, Slot::Text(end.clone()));
        put(Derived::End, Slot::Text(end));
    }
    match get("log-status") {
        // Kept, not dropped: a gap in the record is itself worth seeing.
        Some("NODATA") => put(Derived::Tags, Slot::Raw("[\"vpcflow-nodata\"]")),
        Some("SKIPDATA") => put(Derived::Tags, Slot::Raw("[\"vpcflow-skipdata\"]")),
        _ => {}
    }
    put(Derived::Provider, Slot::Raw("\"aws\""));
    if !related.is_empty() {
        let ips = related
            .into_iter()
            .map(|a| Value::String(a.into()))
            .collect();
        put(Derived::Related, Slot::Json(Value::Array(ips)));
    }
    if let Some(flags) = get("tcp-flags").and_then(|f| f.parse::<u64>().ok()) {
        put(
            Derived::TcpFlags,
            Slot::Json(Value::Array(tcp_flag_names(flags))),
        );
    }
}

/// The names of the TCP flags set in `flags`.
fn tcp_flag_names(flags: u64) -> Vec<Value> {
    [
        (1, "fin"),
        (2, "syn"),
        (4, "rst"),
        (8, "psh"),
        (16, "ack"),
        (32, "urg"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| json!(n))
    .collect()
}

/// The object under `key`, created when absent.
fn entry<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    if !map.get(key).is_some_and(Value::is_object) {
        map.insert(key.to_string(), Value::Object(Map::new()));
    }
    match map.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("inserted above"),
    }
}
