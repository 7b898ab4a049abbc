//! `parse.vpc_flow`: AWS VPC flow log records (versions 2 to 8, default or custom formats) to
//! typed fields, written straight to their ECS places.
//!
//! A record is a line of space-separated values in the order of the log's format. S3 delivery
//! starts every file with a header line naming the fields; the transform reads it and uses that
//! order for the lines after it (the header itself is dropped by rule and counted). Without a
//! header the order comes from `fields`, the v2 default format unless configured. `-` means
//! absent. Numbers become integers; `ecs` adds the fields ECS derives from the record
//! (transport name, outcome, event type, timestamps, related IPs). Everything is written in one
//! pass, without an intermediate object, because flow logs come by the billion.

use crate::kv::{KvStore, lookup};
use crate::parse_vpc_flow_ecs::{DERIVED, derive_ecs, derive_slots, validate};
use crate::vpc_flow_doc::{Slot, Template};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sluice_core::message::value_text;
use sluice_core::{Failed, Message, Output, Path, Registry, Stateful, TransformError};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.stateful("parse.vpc_flow", |s: VpcFlowSettings, b| {
        let names = match &s.names {
            None => None,
            Some(n) => {
                let store = lookup(b, "names.store", &n.store)?;
                if !store.is_local() {
                    return Err(b.fail(format!(
                        "field `names.store`: store `{}` is remote; use a table or file store",
                        n.store
                    )));
                }
                Some(store)
            }
        };
        let layout =
            Layout::new(&s.fields, &s).map_err(|e| b.fail(format!("field `fields`: {e}")))?;
        Ok(VpcFlow {
            default: Arc::new(layout),
            state: Mutex::new(HeaderState::default()),
            names,
            s,
        })
    });
}

/// The v2 default format, in order.
pub const DEFAULT_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Every field name AWS documents (v2 to v8); a header naming anything else is not a header.
const KNOWN_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-id",
    "encryption-status",
    "interface-type",
    "next-hop-type",
    "next-hop-id",
    "transit-gateway-id",
    "transit-gateway-attachment-id",
    "resource-type",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

const INTEGER_FIELDS: &[&str] = &[
    "version",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "tcp-flags",
    "traffic-path",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

/// Parse a VPC flow log record into typed fields at their ECS places.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct VpcFlowSettings {
    /// The record; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the parsed object; by default it replaces the data.
    #[serde(default)]
    pub target: Path,
    /// The field order when no header line has been seen (hyphenated names as in AWS's format
    /// strings); the v2 default format by default.
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
    /// Where each flow field goes; fields not listed go to `aws.vpcflow.<name_with_underscores>`.
    #[serde(default = "default_mapping")]
    pub mapping: BTreeMap<String, String>,
    /// Add what ECS derives from a record: `network.transport` and `network.iana_number`,
    /// `event.action`/`outcome`/`type`/`category`, `event.start`/`end` and `@timestamp`, `source.ip`,
    /// `destination.ip`, `network.type`, `related.ip`, `cloud.provider`.
    #[serde(default = "yes")]
    pub ecs: bool,
    /// Names for ids, looked up in a local store (table or file) as the record is written:
    /// `{store, fields: {"cloud.account.id": "cloud.account.name", ...}}` (the same as an
    /// `enrich.kv_get` per pair after this transform, without walking the document again).
    #[serde(default)]
    pub names: Option<NamesSettings>,
    /// Keep the line in `event.original` and its SHA-256 in `event.hash`.
    #[serde(default)]
    pub original: bool,
}

/// Ids to names in `parse.vpc_flow`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamesSettings {
    /// The store's name in the config's `stores`.
    pub store: String,
    /// Each id's place and where its name goes.
    pub fields: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn default_fields() -> Vec<String> {
    DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect()
}

/// The ECS places of the fields that have one (Elastic's VPC flow mapping).
pub fn default_mapping() -> BTreeMap<String, String> {
    [
        ("account-id", "cloud.account.id"),
        ("srcaddr", "source.address"),
        ("dstaddr", "destination.address"),
        ("srcport", "source.port"),
        ("dstport", "destination.port"),
        ("packets", "source.packets"),
        ("bytes", "source.bytes"),
        ("instance-id", "cloud.instance.id"),
        ("region", "cloud.region"),
        ("az-id", "cloud.availability_zone"),
        ("flow-direction", "network.direction"),
        ("reject-reason", "event.reason"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// A field order, with each column's destination resolved once.
struct Layout {
    names: Vec<String>,
    columns: Vec<Column>,
    /// The document as text, when every place is a plain object key (see `vpc_flow_doc`).
    doc: Option<Doc>,
}

struct Column {
    target: Path,
    integer: bool,
}

/// The slots of a layout's document template.
struct Doc {
    template: Template,
    columns: Vec<usize>,
    /// The slot of each of `DERIVED`, when `ecs` is on.
    derived: Vec<usize>,
    /// (id slot, name slot) pairs.
    names: Vec<(usize, usize)>,
    /// (original, hash) slots.
    original: Option<(usize, usize)>,
}

/// A path's keys, when it is plain object keys in the data.
fn keys(path: &Path) -> Option<Vec<String>> {
    if path.root != sluice_core::path::Root::Data || path.is_root() {
        return None;
    }
    path.segments
        .iter()
        .map(|s| s.index.is_none().then(|| s.key.clone()))
        .collect()
}

impl Doc {
    fn new(columns: &[Column], s: &VpcFlowSettings) -> Option<Doc> {
        if !s.target.is_root() {
            return None;
        }
        let mut paths: Vec<Vec<String>> = columns
            .iter()
            .map(|c| keys(&c.target))
            .collect::<Option<_>>()?;
        if s.ecs {
            paths.extend(
                DERIVED
                    .iter()
                    .map(|p| keys(&Path::parse(p)).expect("plain keys")),
            );
        }
        let names: Vec<(Vec<String>, Vec<String>)> = match &s.names {
            None => Vec::new(),
            Some(n) => n
                .fields
                .iter()
                .map(|(id, name)| Some((keys(&Path::parse(id))?, keys(&Path::parse(name))?)))
                .collect::<Option<_>>()?,
        };
        let name_start = paths.len();
        paths.extend(names.iter().map(|(_, name)| name.clone()));
        let original_start = paths.len();
        if s.original {
            paths.push(vec!["event".into(), "original".into()]);
            paths.push(vec!["event".into(), "hash".into()]);
        }
        let (template, slots) = Template::new(&paths).ok()?;
        let derived_end = columns.len() + if s.ecs { DERIVED.len() } else { 0 };
        let id_slot = |id: &Vec<String>| paths.iter().position(|p| p == id).map(|i| slots[i]);
        Some(Doc {
            columns: slots[..columns.len()].to_vec(),
            derived: slots[columns.len()..derived_end].to_vec(),
            names: names
                .iter()
                .enumerate()
                .filter_map(|(i, (id, _))| Some((id_slot(id)?, slots[name_start + i])))
                .collect(),
            original: s
                .original
                .then(|| (slots[original_start], slots[original_start + 1])),
            template,
        })
    }
}

impl Layout {
    fn new(fields: &[String], s: &VpcFlowSettings) -> Result<Layout, String> {
        if fields.is_empty() {
            return Err("no fields".into());
        }
        let columns: Vec<Column> = fields
            .iter()
            .map(|f| {
                if !KNOWN_FIELDS.contains(&f.as_str()) {
                    return Err(format!("`{f}` is not a VPC flow log field"));
                }
                let target = match s.mapping.get(f) {
                    Some(t) => Path::parse(t),
                    None => Path::parse(&format!("aws.vpcflow.{}", f.replace('-', "_"))),
                };
                Ok(Column {
                    target,
                    integer: INTEGER_FIELDS.contains(&f.as_str()),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Layout {
            names: fields.to_vec(),
            doc: Doc::new(&columns, s),
            columns,
        })
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

struct VpcFlow {
    s: VpcFlowSettings,
    default: Arc<Layout>,
    state: Mutex<HeaderState>,
    names: Option<Arc<dyn KvStore>>,
}

/// A parsed record: a tree for a target inside the data, or the document's text.
enum Record {
    Tree(Map<String, Value>),
    Text(Vec<u8>),
}

#[derive(Default)]
struct HeaderState {
    /// The layout from the header of the current input, if it had one.
    layout: Option<Arc<Layout>>,
    /// Whether any line was seen since the start (or the last flush).
    seen_any: bool,
}

/// Runners mark the first line of each input with `@meta.input.line = 1`.
fn message_is_first_line(meta: &Value) -> bool {
    meta.get("input")
        .and_then(|i| i.get("line"))
        .and_then(Value::as_u64)
        == Some(1)
}

impl Stateful for VpcFlow {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let first_of_input = message_is_first_line(message.meta());
        let parsed = {
            let text = match crate::common::get_str(&mut message, &self.s.source) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    out.push(message);
                    return Ok(());
                }
                Err(e) => return Err(Failed::new(message, e)),
            };
            let original = &*text;
            let text = text.trim_end_matches(['\r', '\n']);
            let mut state = self.state.lock();
            let seen = std::mem::replace(&mut state.seen_any, true);
            match self.header(text) {
                // A header belongs at the top of a file; in mid-stream it means two formats
                // were mixed, and switching silently would misread every line after it.
                Some(layout) if first_of_input || !seen => {
                    state.layout = Some(Arc::new(layout));
                    None
                }
                Some(_) => Some(Err(TransformError::invalid(
                    "a header line in the middle of the input: flow logs of two formats are mixed",
                ))),
                None => {
                    if first_of_input {
                        // A new input without a header: back to the configured order.
                        state.layout = None;
                    }
                    let layout = state.layout.clone().unwrap_or_else(|| self.default.clone());
                    drop(state);
                    Some(self.parse(text, original, &layout))
                }
            }
        };
        match parsed {
            None => {
                out.drop_message(message);
                Ok(())
            }
            Some(Ok(record)) => {
                let result = match record {
                    Record::Text(text) => {
                        message.set_bytes(text);
                        Ok(())
                    }
                    Record::Tree(tree) if self.s.target.is_root() => {
                        message.set_value(Value::Object(tree));
                        Ok(())
                    }
                    Record::Tree(tree) => message.set(&self.s.target, Value::Object(tree)),
                };
                match result {
                    Ok(()) => {
                        out.push(message);
                        Ok(())
                    }
                    Err(e) => Err(Failed::new(message, e)),
                }
            }
            Some(Err(e)) => Err(Failed::new(message, e)),
        }
    }

    fn flush(&self, _out: &mut Output) -> Result<(), TransformError> {
        // A header belongs to its file; the next input starts over.
        *self.state.lock() = HeaderState::default();
        Ok(())
    }
}

impl VpcFlow {
    /// A header line: every token is a known field name and the first is not a number.
    fn header(&self, line: &str) -> Option<Layout> {
        let first = line.split(' ').next()?;
        if first.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
        let names: Vec<String> = line.split(' ').map(str::to_string).collect();
        names
            .iter()
            .all(|n| KNOWN_FIELDS.contains(&n.as_str()))
            .then(|| Layout::new(&names, &self.s).ok())
            .flatten()
    }

    fn parse(&self, line: &str, original: &str, layout: &Layout) -> Result<Record, TransformError> {
        // AWS writes exactly one space between fields; anything else is not a flow log.
        let values: Vec<&str> = line.split(' ').collect();
        if values.len() != layout.columns.len() {
            return Err(TransformError::invalid(format!(
                "a VPC flow record needs {} fields ({}), found {}",
                layout.columns.len(),
                layout.names.join(" "),
                values.len()
            )));
        }
        match &layout.doc {
            Some(doc) => self.text(&values, original, layout, doc).map(Record::Text),
            None => self.tree(&values, original, layout).map(Record::Tree),
        }
    }

    /// A column's value: `None` for `-`.
    fn column<'a>(
        raw: &'a str,
        column: &Column,
        name: &str,
    ) -> Result<Option<Slot<'a>>, TransformError> {
        if raw == "-" {
            return Ok(None);
        }
        if raw.is_empty() {
            return Err(TransformError::invalid(format!(
                "{name} is empty: fields must be separated by exactly one space"
            )));
        }
        if !column.integer {
            return Ok(Some(Slot::Str(raw)));
        }
        // ECS stores these as `long`: a value past i64::MAX cannot be kept faithfully.
        let n: i64 = raw.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
            TransformError::invalid(format!(
                "{name} `{raw}` is not a whole number from 0 to 2^63-1"
            ))
        })?;
        Ok(Some(Slot::Int(n)))
    }

    /// The document as text, from the layout's template.
    fn text(
        &self,
        values: &[&str],
        original: &str,
        layout: &Layout,
        doc: &Doc,
    ) -> Result<Vec<u8>, TransformError> {
        let mut slots = doc.template.slots();
        for (((raw, column), name), slot) in values
            .iter()
            .zip(&layout.columns)
            .zip(&layout.names)
            .zip(&doc.columns)
        {
            if let Some(value) = Self::column(raw, column, name)? {
                slots[*slot] = value;
            }
        }
        let get = |name: &str| layout.index(name).map(|i| values[i]).filter(|v| *v != "-");
        validate(get)?;
        if self.s.ecs {
            derive_slots(&mut slots, &doc.derived, get);
        }
        if let Some(store) = &self.names {
            for &(id, name) in &doc.names {
                let found = slots[id].key_text().and_then(|k| store.get_now(&k));
                match found {
                    Some(Ok(Some(v))) => slots[name] = Slot::Json(v),
                    Some(Err(e)) => return Err(TransformError::invalid(e)),
                    _ => {}
                }
            }
        }
        if let Some((text, hash)) = doc.original {
            slots[hash] = Slot::Text(hex::encode(Sha256::digest(original.as_bytes())));
            slots[text] = Slot::Str(original);
        }
        let mut out = Vec::with_capacity(original.len() * 6);
        doc.template.write(&slots, &mut out);
        Ok(out)
    }

    /// The document as a tree, for a target inside the data (or mappings to odd places).
    fn tree(
        &self,
        values: &[&str],
        original: &str,
        layout: &Layout,
    ) -> Result<Map<String, Value>, TransformError> {
        let mut record = Value::Object(Map::new());
        for ((raw, column), name) in values.iter().zip(&layout.columns).zip(&layout.names) {
            let value = match Self::column(raw, column, name)? {
                None => continue,
                Some(Slot::Int(n)) => Value::from(n),
                Some(_) => Value::String((*raw).to_string()),
            };
            set(&mut record, &column.target, value)?;
        }
        let get = |name: &str| layout.index(name).map(|i| values[i]).filter(|v| *v != "-");
        validate(get)?;
        if self.s.ecs {
            derive_ecs(&mut record, get)?;
        }
        if let (Some(store), Some(names)) = (&self.names, &self.s.names) {
            for (id, name) in &names.fields {
                let key = Path::parse(id)
                    .get(&record)
                    .map(|v| value_text(v).into_owned());
                match key.and_then(|k| store.get_now(&k)) {
                    Some(Ok(Some(v))) => set(&mut record, &Path::parse(name), v)?,
                    Some(Err(e)) => return Err(TransformError::invalid(e)),
                    _ => {}
                }
            }
        }
        if self.s.original {
            let hash = hex::encode(Sha256::digest(original.as_bytes()));
            set(
                &mut record,
                &Path::parse("event.original"),
                Value::String(original.into()),
            )?;
            set(&mut record, &Path::parse("event.hash"), Value::String(hash))?;
        }
        match record {
            Value::Object(map) => Ok(map),
            _ => unreachable!("built as an object"),
        }
    }
}

fn set(record: &mut Value, path: &Path, value: Value) -> Result<(), TransformError> {
    path.set(record, value).map_err(TransformError::Set)
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply_raw, apply_raw_err, config, run};
    use serde_json::json;
    use sluice_core::Message;

    const V2: &str = "2 123456789012 eni-0a1b2c3d 10.0.1.5 89.160.20.156 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK";

    #[test]
    fn default_format_to_ecs() {
        let out = apply_raw(config("parse.vpc_flow", json!({})), V2);
        assert_eq!(
            out,
            vec![json!({
                "@timestamp": "2023-11-14T22:14:20Z",
                "aws": {"vpcflow": {"version": 2, "interface_id": "eni-0a1b2c3d", "protocol": 6, "end": 1700000060, "start": 1700000000, "action": "ACCEPT", "log_status": "OK"}},
                "cloud": {"account": {"id": "123456789012"}, "provider": "aws"},
                "source": {"address": "10.0.1.5", "ip": "10.0.1.5", "port": 443, "packets": 10, "bytes": 840},
                "destination": {"address": "89.160.20.156", "ip": "89.160.20.156", "port": 49152},
                "network": {"type": "ipv4", "iana_number": "6", "transport": "tcp", "packets": 10, "bytes": 840},
                "event": {"kind": "event", "category": ["network"], "action": "accept", "outcome": "success", "type": ["connection", "allowed"], "start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:14:20Z"},
                "related": {"ip": ["10.0.1.5", "89.160.20.156"]}
            })]
        );
    }

    #[test]
    fn header_sets_the_order_and_is_dropped() {
        let p = run(
            config("parse.vpc_flow", json!({})),
            vec![
                Message::new("version srcaddr dstaddr action log-status flow-direction"),
                Message::new("5 10.0.0.1 10.0.0.2 REJECT OK ingress"),
            ],
        );
        assert!(p.errors.is_empty());
        assert_eq!(p.output.len(), 1);
        let v = sluice_core::testing::output_value(&p.output[0]);
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["event"]["outcome"], "failure");
    }

    #[test]
    fn a_header_in_mid_stream_is_an_error() {
        let p = run(
            config("parse.vpc_flow", json!({})),
            vec![
                Message::new(V2),
                Message::new(DEFAULT_HEADER),
                Message::new(V2),
            ],
        );
        assert_eq!(p.output.len(), 2);
        assert_eq!(
            crate::testing::reasons(&p),
            vec!["a header line in the middle of the input: flow logs of two formats are mixed"]
        );
    }

    const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    /// The document written as text (target: the whole data) and as a tree (a target inside
    /// it) are the same, field for field, for every kind of record.
    #[test]
    fn the_text_and_the_tree_agree() {
        let v5 = [
            "version",
            "vpc-id",
            "subnet-id",
            "instance-id",
            "interface-id",
            "account-id",
            "type",
            "srcaddr",
            "dstaddr",
            "srcport",
            "dstport",
            "pkt-srcaddr",
            "pkt-dstaddr",
            "protocol",
            "bytes",
            "packets",
            "start",
            "end",
            "action",
            "tcp-flags",
            "log-status",
            "region",
            "az-id",
            "flow-direction",
            "traffic-path",
        ];
        let cases = [
            (json!(null), V2),
            (
                json!(null),
                "2 123456789012 eni-0a1b2c3d - - - - - - - 1700000000 1700000060 - NODATA",
            ),
            (
                json!(null),
                "2 123456789012 eni-1 2001:db8::1 2001:db8::2 22 50000 17 3 300 1700000000 1700000001 REJECT OK",
            ),
            (
                json!(v5),
                "5 vpc-1 subnet-2 i-3 eni-4 123456789012 IPv4 10.0.0.1 10.0.0.2 443 50000 10.0.0.1 10.0.0.2 6 840 10 1700000000 1700000060 ACCEPT 19 OK us-east-1 use1-az1 ingress 1",
            ),
        ];
        for (fields, line) in cases {
            let mut settings = json!({"original": true, "source": "line"});
            if !fields.is_null() {
                settings["fields"] = fields;
            }
            let input = json!({ "line": line }).to_string();
            let text = apply_raw(config("parse.vpc_flow", settings.clone()), &input);
            settings["target"] = json!("flow");
            let tree = apply_raw(config("parse.vpc_flow", settings), &input);
            assert_eq!(text[0], tree[0]["flow"], "{line}");
            assert_eq!(text[0]["event"]["original"], json!(line));
        }
    }

    #[test]
    fn nodata_is_kept_and_marked() {
        let out = apply_raw(
            config("parse.vpc_flow", json!({})),
            "2 123456789012 eni-0a1b2c3d - - - - - - - 1700000000 1700000060 - NODATA",
        );
        assert_eq!(out[0]["tags"], json!(["vpcflow-nodata"]));
        assert!(out[0].get("source").is_none());
    }

    #[test]
    fn malformed_records_are_errors_with_reasons() {
        let c = config("parse.vpc_flow", json!({}));
        let cases = [
            ("2 123456789012 eni-1 10.0.0.1", "needs 14 fields"),
            (
                &V2.replace(" 443 ", " abc "),
                "srcport `abc` is not a whole number",
            ),
            (
                &V2.replace(" 443 ", " 70000 "),
                "srcport `70000` is not a port",
            ),
            (
                &V2.replace("10.0.1.5", "10.0.0.999"),
                "srcaddr `10.0.0.999` is not an IP address",
            ),
            (&V2.replace("ACCEPT", "MAYBE"), "action `MAYBE` is neither"),
            (
                &V2.replace(" 840 ", " -5 "),
                "bytes `-5` is not a whole number",
            ),
            (
                &V2.replace(" 840 ", " 18446744073709551616 "),
                "is not a whole number",
            ),
            (&V2.replace(" 443 ", "  443 "), "needs 14 fields"),
            (&V2.replace("OK", "BROKEN"), "log-status `BROKEN`"),
            (&V2.replace("123456789012", "12345678901"), "12-digit"),
            (
                &V2.replace("1700000000 1700000060", "1700000060 1700000000"),
                "is after end",
            ),
        ];
        for (line, why) in cases {
            let err = apply_raw_err(c.clone(), line);
            assert!(err.contains(why), "{line}: {err}");
        }
    }

    #[test]
    fn unknown_field_in_config_is_a_config_error() {
        let e = crate::testing::build_error(config(
            "parse.vpc_flow",
            json!({"fields": ["version", "srcadr"]}),
        ));
        assert!(
            e.contains("field `fields`: `srcadr` is not a VPC flow log field"),
            "{e}"
        );
    }
}
