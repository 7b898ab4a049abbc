//! `ecs.cloudtrail`: a CloudTrail record to Elastic Common Schema in one pass.
//!
//! The same mapping can be written with the general transforms (configs/examples/
//! cloudtrail_generic.jsonnet does, and passes the same tests), but that is about forty steps
//! that each look fields up by path in a parsed tree. Here the record's top level is read once
//! into borrowed slices of its text, each field is written straight to its ECS place in the
//! output text, and nothing else is parsed: only the four parameter objects that ECS keeps as
//! JSON text are parsed, to write them with sorted keys as the rest of Sluice does. The event-name
//! tables for `event.category` and `event.type` stay in the config, as stores.
//!
//! Input: one record, or an EventBridge envelope (`detail-type`, the record in `detail`).
//! `{"Records": [...]}` files are split by `parse.json` with `expand` first. Top-level fields
//! this mapping does not know are kept as they are.

use crate::kv::{KvStore, lookup};
use crate::network::parse_ip;
use crate::time::{format_time, parse_time};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sluice_core::{Builder, ConfigErrors, MapTransform, Message, Registry, TransformError};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

pub fn register(r: &mut Registry) {
    r.map("ecs.cloudtrail", |s: CloudTrailSettings, b| {
        Ok(CloudTrail {
            categories: table(b, "categories", &s.categories)?,
            verbs: table(b, "verbs", &s.verbs)?,
            original: s.original,
        })
    });
}

/// Map a CloudTrail record (or an EventBridge envelope holding one) to ECS in one pass:
/// `@timestamp`; `event.*` (action, provider, id, kind, outcome from the error code or the
/// console sign-in's answer; category and type from the `verbs` and `categories` tables, else
/// `configuration`/`info`); `cloud.*`; `user.*` by identity type (assumed role: session name
/// and role; federated user; root; AWS service; IAM user; e-mail addresses also as
/// `user.email`); `source.ip` or `source.domain`; `tls.*`; `error.*`; `user_agent.original`;
/// `related.*`; the rest under `aws.cloudtrail.*`, request and response parameters as JSON
/// text. A message that is not a CloudTrail record goes to the error route saying why.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CloudTrailSettings {
    /// Keep the record's text in `event.original` and its SHA-256 in `event.hash`.
    #[serde(default = "yes")]
    pub original: bool,
    /// A store (a `table` or `file`) from event names to fields merged into `event`, e.g.
    /// `{"ConsoleLogin": {"category": ["authentication"], "type": ["start"]}}`.
    #[serde(default)]
    pub categories: Option<String>,
    /// A store from the verb an event name starts with (`Create`, `Delete`, `Put`...) to its
    /// `event.type`, for names the `categories` table does not know.
    #[serde(default)]
    pub verbs: Option<String>,
}

fn yes() -> bool {
    true
}

/// A store read in place: the tables must be local (file, table, memory).
fn table(
    b: &Builder,
    field: &str,
    name: &Option<String>,
) -> Result<Option<Arc<dyn KvStore>>, ConfigErrors> {
    let Some(name) = name else { return Ok(None) };
    let store = lookup(b, field, name)?;
    if !store.is_local() {
        return Err(b.fail(format!(
            "field `{field}`: store `{name}` is remote; use a table or file store"
        )));
    }
    Ok(Some(store))
}

struct CloudTrail {
    categories: Option<Arc<dyn KvStore>>,
    verbs: Option<Arc<dyn KvStore>>,
    original: bool,
}

/// A JSON object's members as slices of its text.
type Fields<'a> = BTreeMap<&'a str, &'a RawValue>;

/// The top-level fields that move under `aws.cloudtrail`, with their ECS names. The last four
/// become JSON text: their shapes differ per API and would explode an index's mapping.
const AWS_FIELDS: [(&str, &str); 16] = [
    ("eventVersion", "event_version"),
    ("eventType", "event_type"),
    ("eventCategory", "event_category"),
    ("readOnly", "read_only"),
    ("managementEvent", "management_event"),
    ("recipientAccountId", "recipient_account_id"),
    ("requestID", "request_id"),
    ("resources", "resources"),
    ("sharedEventID", "shared_event_id"),
    ("vpcEndpointId", "vpc_endpoint_id"),
    (
        "sessionCredentialFromConsole",
        "session_credential_from_console",
    ),
    ("userIdentity", "user_identity"),
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_eventdata"),
    ("serviceEventDetails", "service_event_details"),
];
const AS_TEXT: usize = 12;

/// Top-level fields with an ECS place of their own (besides `AWS_FIELDS`).
const MAPPED: [&str; 10] = [
    "eventTime",
    "eventName",
    "eventSource",
    "eventID",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "tlsDetails",
];

/// The top-level names of the output; an unknown input field by one of these names moves under
/// `aws.cloudtrail` instead of clashing.
const OUTPUT: [&str; 11] = [
    "@timestamp",
    "aws",
    "cloud",
    "error",
    "event",
    "related",
    "source",
    "tls",
    "user",
    "user_agent",
    "@meta",
];

static ASSUMED_ROLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("assumed-role/([^/]+)/(.+)$").expect("a valid pattern"));
static FEDERATED_USER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("federated-user/(.+)$").expect("a valid pattern"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").expect("a valid pattern"));

fn not_a_record(why: &str) -> TransformError {
    TransformError::invalid(format!("not a CloudTrail record: {why}"))
}

/// The members of an object's text; `None` when it is not an object.
fn object<'a>(raw: &'a RawValue) -> Option<Fields<'a>> {
    match raw.get().as_bytes().first() {
        Some(b'{') => serde_json::from_str(raw.get()).ok(),
        _ => None,
    }
}

/// A string's value, borrowed unless it has escapes; `None` when it is not a string.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Writes JSON objects member by member into a buffer.
struct Writer {
    out: Vec<u8>,
    /// Whether the innermost open object has no member yet.
    empty: Vec<bool>,
}

impl Writer {
    fn open(&mut self) {
        self.out.push(b'{');
        self.empty.push(true);
    }

    fn close(&mut self) {
        self.out.push(b'}');
        self.empty.pop();
    }

    fn key(&mut self, key: &str) {
        let empty = self.empty.last_mut().expect("an object is open");
        if !std::mem::replace(empty, false) {
            self.out.push(b',');
        }
        self.text(key);
        self.out.push(b':');
    }

    fn text(&mut self, text: &str) {
        serde_json::to_writer(&mut self.out, text).expect("writing to memory");
    }

    fn raw(&mut self, key: &str, raw: &RawValue) {
        self.key(key);
        self.out.extend_from_slice(raw.get().as_bytes());
    }

    fn str(&mut self, key: &str, text: &str) {
        self.key(key);
        self.text(text);
    }

    fn value(&mut self, key: &str, value: &Value) {
        self.key(key);
        serde_json::to_writer(&mut self.out, value).expect("writing to memory");
    }

    fn list(&mut self, key: &str, text: &str) {
        self.key(key);
        self.out.push(b'[');
        self.text(text);
        self.out.push(b']');
    }

    /// Opens the object `key` when `any` of its members will be written.
    fn open_if(&mut self, key: &str, any: bool) -> bool {
        if any {
            self.key(key);
            self.open();
        }
        any
    }
}

/// What a record says about its identity.
#[derive(Default)]
struct Who<'a> {
    id: Option<&'a RawValue>,
    name: Option<Cow<'a, str>>,
    /// `name` as JSON when it is not a string (an odd `userName`), written as it is.
    name_raw: Option<&'a RawValue>,
    role: Option<String>,
    account: Option<&'a RawValue>,
}

fn identity<'a>(fields: &Fields<'a>) -> Who<'a> {
    let mut who = Who::default();
    let Some(user) = fields.get("userIdentity").copied().and_then(object) else {
        return who;
    };
    who.id = user.get("principalId").copied();
    who.account = user.get("accountId").copied();
    let arn = user.get("arn").and_then(|a| string(a));
    let named = |field: &str| user.get(field).copied();
    let from = match user.get("type").and_then(|t| string(t)).as_deref() {
        Some("AssumedRole") => {
            if let Some(c) = arn.as_deref().and_then(|a| ASSUMED_ROLE.captures(a)) {
                who.name = Some(Cow::Owned(c[2].to_string()));
                who.role = Some(c[1].to_string());
            }
            None
        }
        Some("FederatedUser") => {
            if let Some(c) = arn.as_deref().and_then(|a| FEDERATED_USER.captures(a)) {
                who.name = Some(Cow::Owned(c[1].to_string()));
            }
            None
        }
        Some("Root") => {
            who.name = Some(Cow::Borrowed("root"));
            None
        }
        Some("AWSService") => named("invokedBy"),
        _ => named("userName"),
    };
    if let Some(raw) = from {
        match string(raw) {
            Some(name) => who.name = Some(name),
            None => who.name_raw = Some(raw),
        }
    }
    who
}

/// The verb an event name starts with: its shortest leading run of words (`Put` of
/// `PutBucketPolicy`) found in `verbs`.
fn verb_type(verbs: &dyn KvStore, action: &str) -> Option<Value> {
    let ends = action
        .char_indices()
        .skip(1)
        .filter(|(_, c)| c.is_ascii_uppercase())
        .map(|(i, _)| i)
        .chain([action.len()]);
    for end in ends {
        if let Some(Ok(Some(v))) = verbs.get_now(&action[..end]) {
            return Some(v);
        }
    }
    None
}

impl MapTransform for CloudTrail {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        // The text the record arrived as (records split from an S3 file keep theirs too).
        let text = match message.raw() {
            Some(raw) => std::str::from_utf8(raw)
                .map_err(|_| TransformError::NotUtf8)?
                .to_string(),
            None => message.value()?.to_string(),
        };
        let envelope: Fields = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                return Err(match serde_json::from_str::<Value>(&text) {
                    Err(_) => TransformError::NotJson(e),
                    Ok(Value::Object(_)) => not_a_record("a top-level key has escape sequences"),
                    Ok(_) => not_a_record("eventTime, eventName or eventSource is missing"),
                });
            }
        };
        let fields = match envelope.contains_key("detail-type") {
            false => envelope,
            true => envelope
                .get("detail")
                .copied()
                .and_then(object)
                .ok_or_else(|| not_a_record("the EventBridge envelope has no `detail` object"))?,
        };
        let (Some(time), Some(action), Some(provider)) = (
            fields.get("eventTime"),
            fields.get("eventName"),
            fields.get("eventSource"),
        ) else {
            return Err(not_a_record(
                "eventTime, eventName or eventSource is missing",
            ));
        };
        if fields
            .get("userIdentity")
            .is_some_and(|u| !u.get().starts_with('{'))
        {
            return Err(not_a_record("userIdentity is not an object"));
        }
        let timestamp = match string(time).as_deref().map(|t| (t, parse_time(t))) {
            Some((_, Some(t))) => format_time(t),
            Some((t, None)) => {
                return Err(TransformError::invalid(format!(
                    "`@timestamp` is {t:?}, which is not a time in RFC 3339"
                )));
            }
            None => {
                return Err(TransformError::invalid(format!(
                    "`@timestamp` is {}, not a time",
                    time.get()
                )));
            }
        };

        let who = identity(&fields);
        let action_text = string(action);
        let tls = fields.get("tlsDetails").copied().and_then(object);
        let tls_field = |name: &str| tls.as_ref().and_then(|t| t.get(name).copied());
        let tls_version = tls_field("tlsVersion").and_then(string).and_then(|v| {
            v.strip_prefix("TLSv")
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        });
        let address = fields.get("sourceIPAddress").copied();
        let ip = address.and_then(string).filter(|a| parse_ip(a).is_some());
        // A console sign-in says how it went in its response (read while that becomes text).
        let mut console_login: Option<Value> = None;

        let mut w = Writer {
            out: Vec::with_capacity(text.len() * 2 + 512),
            empty: Vec::new(),
        };
        w.open();
        w.str("@timestamp", &timestamp);

        // aws.cloudtrail: the record's own fields, and those this mapping does not know.
        w.key("aws");
        w.open();
        w.key("cloudtrail");
        w.open();
        for (i, (from, to)) in AWS_FIELDS.iter().enumerate() {
            let Some(raw) = fields.get(from) else {
                continue;
            };
            if i >= AS_TEXT && raw.get().starts_with('{') {
                // Sorted keys, as everywhere else in Sluice.
                let mut value: Value =
                    serde_json::from_str(raw.get()).map_err(TransformError::NotJson)?;
                w.str(to, &value.to_string());
                if *from == "responseElements" {
                    console_login = value.get_mut("ConsoleLogin").map(Value::take);
                }
            } else if !(i >= AS_TEXT && is_null(raw)) {
                w.raw(to, raw);
            }
        }
        for (name, raw) in &fields {
            let known = MAPPED.contains(name) || AWS_FIELDS.iter().any(|(f, _)| f == name);
            if !known && OUTPUT.contains(name) {
                w.raw(name, raw);
            }
        }
        w.close();
        w.close();

        w.key("cloud");
        w.open();
        if let Some(account) = who
            .account
            .or_else(|| fields.get("recipientAccountId").copied())
        {
            w.key("account");
            w.open();
            w.raw("id", account);
            w.close();
        }
        w.str("provider", "aws");
        if let Some(region) = fields.get("awsRegion") {
            w.raw("region", region);
        }
        if let Some(p) = string(provider) {
            w.key("service");
            w.open();
            w.str("name", &p.replace(".amazonaws.com", ""));
            w.close();
        }
        w.close();

        let (code, message_text) = (fields.get("errorCode"), fields.get("errorMessage"));
        if w.open_if("error", code.is_some() || message_text.is_some()) {
            code.inspect(|c| w.raw("code", c));
            message_text.inspect(|m| w.raw("message", m));
            w.close();
        }

        // event: what happened and did it work; category and type from the tables.
        let mut event = Map::new();
        event.insert(
            "category".into(),
            Value::Array(vec!["configuration".into()]),
        );
        event.insert("type".into(), Value::Array(vec!["info".into()]));
        if let (Some(verbs), Some(a)) = (&self.verbs, &action_text)
            && let Some(t) = verb_type(verbs.as_ref(), a)
        {
            event.insert("type".into(), t);
        }
        if let (Some(categories), Some(a)) = (&self.categories, &action_text)
            && let Some(Ok(Some(Value::Object(found)))) = categories.get_now(a)
        {
            event.extend(found);
        }
        let outcome = match console_login {
            Some(Value::String(answer)) => Value::String(answer.to_lowercase()),
            Some(other) => other,
            None if code.is_some() => "failure".into(),
            None => "success".into(),
        };
        // What the tables give wins over what the mapping says.
        let ours = |name: &str| !event.contains_key(name);
        w.key("event");
        w.open();
        if ours("action") {
            w.raw("action", action);
        }
        if self.original && ours("hash") {
            w.str("hash", &hex::encode(Sha256::digest(text.as_bytes())));
        }
        if let Some(id) = fields.get("eventID").filter(|_| ours("id")) {
            w.raw("id", id);
        }
        if ours("kind") {
            w.str("kind", "event");
        }
        if self.original && ours("original") {
            w.str("original", &text);
        }
        if ours("outcome") {
            w.value("outcome", &outcome);
        }
        if ours("provider") {
            w.raw("provider", provider);
        }
        for (name, value) in &event {
            w.value(name, value);
        }
        w.close();

        let user_name = who.name.as_deref();
        if w.open_if("related", ip.is_some() || user_name.is_some()) {
            ip.as_deref().inspect(|ip| w.list("ip", ip));
            user_name.inspect(|n| w.list("user", n));
            w.close();
        }
        if w.open_if("source", address.is_some()) {
            let address = address.expect("checked");
            w.raw("address", address);
            match &ip {
                Some(ip) => w.str("ip", ip),
                None => w.raw("domain", address),
            }
            w.close();
        }
        let (cipher, host) = (
            tls_field("cipherSuite"),
            tls_field("clientProvidedHostHeader"),
        );
        if w.open_if(
            "tls",
            cipher.is_some() || host.is_some() || tls_version.is_some(),
        ) {
            cipher.inspect(|c| w.raw("cipher", c));
            if let Some(host) = host {
                w.key("client");
                w.open();
                w.raw("server_name", host);
                w.close();
            }
            if let Some(v) = &tls_version {
                w.str("version", v);
                w.str("version_protocol", "tls");
            }
            w.close();
        }
        let any_user = who.id.is_some() || user_name.is_some() || who.name_raw.is_some();
        if w.open_if("user", any_user) {
            if let Some(n) = user_name.filter(|n| EMAIL.is_match(n)) {
                w.str("email", n);
            }
            who.id.inspect(|id| w.raw("id", id));
            user_name.inspect(|n| w.str("name", n));
            who.name_raw.inspect(|n| w.raw("name", n));
            who.role.as_deref().inspect(|r| w.list("roles", r));
            w.close();
        }
        if let Some(agent) = fields.get("userAgent") {
            w.key("user_agent");
            w.open();
            w.raw("original", agent);
            w.close();
        }
        // Top-level fields this mapping does not know stay where they are.
        for (name, raw) in &fields {
            let known = MAPPED.contains(name) || AWS_FIELDS.iter().any(|(f, _)| f == name);
            if !known && !OUTPUT.contains(name) {
                w.raw(name, raw);
            }
        }
        w.close();
        message.set_bytes(w.out);
        Ok(())
    }
}
