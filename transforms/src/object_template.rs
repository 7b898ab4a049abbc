//! `object.template`: build a document from a declarative template, in one pass.
//!
//! A mapping to a schema such as ECS is mostly "this output field comes from that input field,
//! perhaps cleaned up". Written as one transform per field, each step looks its fields up from
//! the root, writes them back through the tree, and the engine runs dozens of steps per event.
//! A template says the same in one place: `fields` maps each target path to an expression, and
//! the document is built once, by reading the input and never writing to it.
//!
//! Everything that can be done once is done when the config is built: target paths become a
//! tree with sorted keys (so each output object is built once, in one go, and only when
//! something goes in it), source paths are parsed, regexes compiled, `map` tables hashed and
//! nested conditions built. Per message, each expression reads the input in place; modifiers
//! work on the borrowed value and allocate only when they change it.
//!
//! Fields never read each other's results: each is computed from the input message as it came,
//! which keeps the order of `fields` meaningless (Jsonnet sorts object keys anyway) and lets an
//! expression be reused by name in Jsonnet wherever two fields share a derivation. Such a
//! reused expression (the same JSON) is computed once per message, and its last use takes the
//! result instead of a copy.
//!
//! When the document replaces the data, the input is thrown away afterwards, so what can be
//! moved out of it is not copied: fields that are a plain path are evaluated last, after every
//! condition and every other field has read the input, and take their values (and `rest` its
//! fields) out of it. Only fields that cannot fail are moved (no `when`, no conversion that
//! can fail): once the input is taken apart, the message could not go to the error route as
//! it came.

use crate::common::wrong_type;
use crate::object::deep_merge;
use crate::object_convert::{self, To};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sluice_core::message::value_text;
use sluice_core::path::{Root, type_name};
use sluice_core::registry::closest;
use sluice_core::{
    Builder, Condition, ConfigError, ConfigErrors, MapTransform, Message, Path, Registry,
    TransformError,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

pub fn register(r: &mut Registry) {
    r.map("object.template", |s: TemplateSettings, b| {
        Template::build(s, b)
    });
}

/// Build a document in one pass from a template: each key of `fields` is a target path in the
/// document, each value an expression that reads the input message. The document replaces the
/// data unless `target` or `merge` say otherwise; the input is only read. A field whose result
/// is null or empty (`""`, `[]`, `{}`) is left out, and so is an object left empty. Fields never
/// see each other's results, so their order does not matter. An expression is a path
/// (`"eventName"`, `"@meta.file"`) or an object with one source: `path`; `coalesce` (a list of
/// expressions: the first whose result is not null or empty); `value` (a JSON constant);
/// `original: true` (the data's text as it arrived, before any step changed it: an error once
/// one has); `sha256` (`true`: the hex SHA-256 of that text; or an expression: of its result,
/// strings as they are, other values as JSON); `array` (a list of expressions: an array of
/// their results, an array result adding its items, with nulls, empties and duplicates left
/// out). Then optional modifiers, always applied in this order: `when` (a condition, tested on
/// the input; when false the expression gives its `else` expression instead, or nothing, and
/// none of its other settings apply); `capture` (a regex: the text of its first group, or of the
/// whole match; nothing when it does not match); `split_last` (the text after the last
/// occurrence of this separator; all of it when there is none); `strip_prefix`; `strip_suffix`;
/// `lowercase` (true); `if_match` (a regex the text must match, else nothing); `if_ip` (true:
/// kept only when it is an IP address; false: only when it is not); `map` (an object: the value,
/// as text, is looked up in it and the entry found replaces it; nothing when not found);
/// `convert` (`string`, `boolean`, `integer`, `unsigned_integer`, `float` as the `object.to_*`
/// transforms convert; `json_text`: an object or array becomes its compact JSON text;
/// `rfc3339`: a time in any RFC 3339 offset becomes the pipeline's UTC form); `default` (a
/// constant for when the result is null or empty). A null value counts as absent: no modifier
/// sees it, and `default` applies. Modifiers do see empty values (`json_text` makes `{}` the
/// text `"{}"`); only the final result is left out when empty. Text modifiers pass non-strings
/// unchanged, except `capture` and `if_match`, which give nothing for them (and a non-string is
/// not an IP address). A value that `convert` cannot convert sends the message to the error
/// route as it came, naming the target field. Example:
/// `{"event.action": "eventName", "event.kind": {"value": "event"}, "user.name": {"path":
/// "userIdentity.arn", "split_last": "/"}, "source.ip": {"path": "sourceIPAddress", "if_ip":
/// true}, "related.ip": {"array": ["source.ip", "destination.ip"]}, "event.outcome": {"coalesce":
/// [{"value": "failure", "when": {"type": "exists", "source": "errorCode"}}, {"value":
/// "success"}]}}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TemplateSettings {
    /// The template: `{"target.path": expression, ...}`. Target paths are places in the built
    /// document (dots nest, `\.` keeps a dot in a key); one place cannot be both a value and
    /// the parent of other fields.
    pub fields: BTreeMap<String, Value>,
    /// Where the document goes: the whole data by default (replacing it), or a path such as
    /// `ecs` or `@meta.doc`.
    #[serde(default)]
    pub target: Path,
    /// Write the document's fields into the object already at `target` (nested objects key by
    /// key, other values replaced) instead of replacing it. E.g. add `event.kind` and
    /// `event.category` to an event that keeps all its other fields.
    #[serde(default)]
    pub merge: bool,
    /// Keep the input's top-level fields that no expression's path reads: they are copied as
    /// they are to this place in the document (`""` for its top level). A field of the template
    /// at the same place wins. Left out by default. Paths read by `when` conditions do not
    /// count as read.
    #[serde(default)]
    pub rest: Option<Path>,
    /// Write the document as its JSON text at once, while it is still in the processor's
    /// cache, rather than leave it to the output to serialize later. For a template that is
    /// the last step to read fields (usual for a mapping): about a third faster in batches of
    /// 1,024 CloudTrail events. A later step that reads a field parses the text again. Only
    /// when the document replaces the data.
    #[serde(default)]
    pub serialize: bool,
}

/// The settings an expression object may have, besides its source.
const SOURCES: [&str; 6] = ["path", "coalesce", "value", "original", "sha256", "array"];
const MODIFIERS: [&str; 12] = [
    "when",
    "else",
    "capture",
    "split_last",
    "strip_prefix",
    "strip_suffix",
    "lowercase",
    "if_match",
    "if_ip",
    "map",
    "convert",
    "default",
];

/// `convert`'s names, each with what it does.
const CONVERSIONS: [(&str, Conversion); 7] = [
    ("string", Conversion::To(To::String)),
    ("boolean", Conversion::To(To::Boolean)),
    ("integer", Conversion::To(To::Integer)),
    ("unsigned_integer", Conversion::To(To::Unsigned)),
    ("float", Conversion::To(To::Float)),
    ("json_text", Conversion::JsonText),
    ("rfc3339", Conversion::Rfc3339),
];

struct Template {
    /// The document's shape; its leaves are indexes into `leaves`.
    tree: Vec<(String, Node)>,
    leaves: Vec<Leaf>,
    /// Every top-level input field that an expression's path reads, sorted by name, with the
    /// leaves that move their value out of it instead of copying it when the document replaces
    /// the data (see `movable`).
    top: Vec<TopField>,
    /// Some leaf moves its value.
    moves: bool,
    /// For each expression that occurs more than once (computed once per message), how often
    /// it occurs.
    uses: Vec<u32>,
    target: Path,
    merge: bool,
    rest: Option<Rest>,
    serialize: bool,
}

/// A place in the document: a field, or an object holding others.
enum Node {
    Leaf(usize),
    Object(Vec<(String, Node)>),
}

/// A field of the template: its target path as written (for errors) and its expression.
struct Leaf {
    target: String,
    expr: Expr,
    /// Takes its value out of the input rather than copying it (see `movable`).
    moved: bool,
}

/// Where unread input fields go.
struct Rest {
    place: Vec<String>,
    /// Some expression reads the whole data: nothing is left over.
    reads_all: bool,
}

/// A top-level field of the input that some expression's path reads, and the leaves that move
/// a value out of it (with the rest of their path, empty for the field itself).
type TopField = (String, Vec<(usize, Path)>);

struct Expr {
    /// Where the result is kept for the other occurrences of the same expression.
    slot: Option<usize>,
    source: Source,
    when: Option<When>,
    /// The modifiers between `when` and `default`, in their documented order.
    steps: Vec<Step>,
    default: Option<Value>,
}

struct When {
    test: Box<dyn Condition>,
    otherwise: Option<Box<Expr>>,
}

/// The results of repeated expressions for one message, by slot.
type Cache = Vec<Shared>;

struct Shared {
    /// `None` until computed; `Some(None)` when it gives nothing.
    result: Option<Option<Value>>,
    /// Occurrences still to be evaluated: the last one takes the result rather than a copy.
    uses: u32,
}

enum Source {
    Path(Path),
    Coalesce(Vec<Expr>),
    Value(Value),
    Original,
    /// `None`: of the original text.
    Sha256(Option<Box<Expr>>),
    Array(Vec<Expr>),
}

enum Step {
    Capture(Regex),
    SplitLast(String),
    StripPrefix(String),
    StripSuffix(String),
    Lowercase,
    IfMatch(Regex),
    IfIp(bool),
    Map(HashMap<String, Value>),
    Convert(Conversion),
}

#[derive(Debug, Clone, Copy)]
enum Conversion {
    To(To),
    JsonText,
    Rfc3339,
}

// ---- building ------------------------------------------------------------------------------

impl Template {
    fn build(s: TemplateSettings, b: &Builder) -> Result<Template, ConfigErrors> {
        if s.fields.is_empty() {
            return Err(b.fail("field `fields`: give at least one field"));
        }
        if s.serialize && !(s.target.is_root() && s.target.root == Root::Data && !s.merge) {
            return Err(b.fail(
                "field `serialize`: only a document that replaces the data (no `target`, no `merge`) can be written as text",
            ));
        }
        let mut c = Compiler {
            b,
            read: Vec::new(),
            reads_all: false,
            repeats: HashMap::new(),
            slots: HashMap::new(),
            uses: Vec::new(),
        };
        for value in s.fields.values() {
            c.count(value);
        }
        let mut tree = Vec::new();
        let mut leaves: Vec<Leaf> = Vec::new();
        let mut errors = Vec::new();
        for (key, value) in &s.fields {
            let at = format!("fields.{key}");
            let target = Path::parse(key);
            let problem = if target.root == Root::Meta {
                Some("a target is a place in the built document, not metadata; set `target` to put the document in `@meta`".to_string())
            } else if target.is_root() {
                Some("a target must not be empty".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                errors.push(c.error(&at, problem));
                continue;
            }
            match c.expr(value, &at) {
                Ok(expr) => {
                    let keys: Vec<&str> = target.segments.iter().map(|s| s.key.as_str()).collect();
                    leaves.push(Leaf {
                        target: key.clone(),
                        expr,
                        moved: false,
                    });
                    if let Err(problem) = insert(&mut tree, &keys, leaves.len() - 1, &leaves) {
                        errors.push(c.error(&at, problem));
                    }
                }
                Err(e) => errors.extend(e.0),
            }
        }
        let rest = match &s.rest {
            None => None,
            Some(place) => match rest_place(&tree, &leaves, place) {
                Ok(place) => Some(Rest {
                    place,
                    reads_all: c.reads_all,
                }),
                Err(problem) => {
                    errors.push(b.error(format!("field `rest`: {problem}")));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        sort_tree(&mut tree);
        let mut read = std::mem::take(&mut c.read);
        read.sort();
        read.dedup();
        let mut top: Vec<TopField> = read.into_iter().map(|k| (k, Vec::new())).collect();
        let moves = movable(&leaves);
        for &i in &moves {
            leaves[i].moved = true;
            let Source::Path(path) = &leaves[i].expr.source else {
                unreachable!("`movable` takes plain paths only")
            };
            let mut inner = path.clone();
            let first = inner.segments.remove(0);
            let at = top
                .binary_search_by(|(k, _)| k.cmp(&first.key))
                .expect("every path's first key is read");
            top[at].1.push((i, inner));
        }
        Ok(Template {
            tree,
            leaves,
            top,
            moves: !moves.is_empty(),
            target: s.target,
            merge: s.merge,
            serialize: s.serialize,
            rest,
            uses: c.uses,
        })
    }
}

/// Puts leaf `id` in the target tree, refusing a place that would be both a value and an
/// object.
fn insert(
    nodes: &mut Vec<(String, Node)>,
    keys: &[&str],
    id: usize,
    leaves: &[Leaf],
) -> Result<(), String> {
    let key = &leaves[id].target;
    let (first, rest) = keys.split_first().expect("targets are not empty");
    let found = nodes.iter().position(|(k, _)| k == first);
    match (found, rest.is_empty()) {
        (None, true) => nodes.push((first.to_string(), Node::Leaf(id))),
        (None, false) => {
            let mut children = Vec::new();
            insert(&mut children, rest, id, leaves)?;
            nodes.push((first.to_string(), Node::Object(children)));
        }
        (Some(i), _) => match (&mut nodes[i].1, rest.is_empty()) {
            (Node::Object(children), false) => insert(children, rest, id, leaves)?,
            (Node::Leaf(other), _) => {
                return Err(format!(
                    "`{key}` and `{}` write the same place, or one inside the other",
                    leaves[*other].target
                ));
            }
            (Node::Object(children), true) => {
                return Err(format!(
                    "`{key}` is also the parent of other fields (such as `{}`); one place cannot be both",
                    first_leaf(children, leaves)
                ));
            }
        },
    }
    Ok(())
}

fn first_leaf<'l>(nodes: &[(String, Node)], leaves: &'l [Leaf]) -> &'l str {
    match &nodes[0].1 {
        Node::Leaf(id) => &leaves[*id].target,
        Node::Object(children) => first_leaf(children, leaves),
    }
}

/// Checks that `rest` names an object of the document (not a field or inside one).
fn rest_place(
    tree: &[(String, Node)],
    leaves: &[Leaf],
    place: &Path,
) -> Result<Vec<String>, String> {
    if place.root == Root::Meta {
        return Err("a place in the built document, not metadata".into());
    }
    let keys: Vec<String> = place.segments.iter().map(|s| s.key.clone()).collect();
    let mut nodes = tree;
    for key in &keys {
        match nodes.iter().find(|(k, _)| k == key).map(|(_, n)| n) {
            None => break,
            Some(Node::Object(children)) => nodes = children,
            Some(Node::Leaf(id)) => {
                return Err(format!(
                    "`{place}` is the field `{}` or inside it",
                    leaves[*id].target
                ));
            }
        }
    }
    Ok(keys)
}

/// The leaves whose value can be moved out of the input rather than copied, once every other
/// expression (and every `when`) has read it: a plain path into the data with no condition, not
/// shared, and no modifier that can fail (so nothing can go wrong once the input is taken
/// apart). Of two such paths where one holds the other (`userIdentity`,
/// `userIdentity.principalId`) or that are the same, only the outer or the first is moved;
/// the others are read, and copied, before it.
fn movable(leaves: &[Leaf]) -> Vec<usize> {
    let candidates: Vec<(usize, &Path)> = leaves
        .iter()
        .enumerate()
        .filter_map(|(i, leaf)| {
            let e = &leaf.expr;
            let Source::Path(path) = &e.source else {
                return None;
            };
            let plain = path.root == Root::Data
                && !path.is_root()
                // `a.0` and `a.-1` may be the same element: leave indexes alone.
                && path.segments.iter().all(|s| s.index.is_none());
            let safe = e.steps.iter().all(|s| {
                !matches!(
                    s,
                    Step::Convert(Conversion::To(_)) | Step::Convert(Conversion::Rfc3339)
                )
            });
            (plain && safe && e.when.is_none() && e.slot.is_none()).then_some((i, path))
        })
        .collect();
    let holds = |outer: &Path, inner: &Path| {
        outer.segments.len() <= inner.segments.len()
            && outer
                .segments
                .iter()
                .zip(&inner.segments)
                .all(|(a, b)| a.key == b.key)
    };
    candidates
        .iter()
        .filter(|(i, path)| {
            !candidates.iter().any(|(j, other)| {
                j != i
                    && holds(other, path)
                    && (other.segments.len() < path.segments.len() || j < i)
            })
        })
        .map(|(i, _)| *i)
        .collect()
}

/// Turns expression JSON into `Expr`s, noting which top-level input fields paths read.
struct Compiler<'b, 'a> {
    b: &'b Builder<'a>,
    read: Vec<String>,
    reads_all: bool,
    /// How often each expression object occurs, by its JSON text.
    repeats: HashMap<String, usize>,
    /// The cache slot of each expression that occurs more than once.
    slots: HashMap<String, usize>,
    /// How often the expression of each slot occurs.
    uses: Vec<u32>,
}

impl Compiler<'_, '_> {
    fn error(&self, at: &str, problem: impl std::fmt::Display) -> ConfigError {
        self.b.error(format!("field `{at}`: {problem}"))
    }

    fn fail(&self, at: &str, problem: impl std::fmt::Display) -> ConfigErrors {
        self.error(at, problem).into()
    }

    fn path(&mut self, text: &str) -> Path {
        let path = Path::parse(text);
        if path.root == Root::Data {
            match path.segments.first() {
                Some(first) => self.read.push(first.key.clone()),
                None => self.reads_all = true,
            }
        }
        path
    }

    /// Counts the expression objects in `value`. Jsonnet reuses an expression by name (a user
    /// name derived for `user.name` and again for `related.user`), which gives the same JSON;
    /// the inside of a repeated expression is counted once, since it is computed once.
    fn count(&mut self, value: &Value) {
        let Value::Object(settings) = value else {
            return;
        };
        let seen = self.repeats.entry(value.to_string()).or_default();
        *seen += 1;
        if *seen > 1 {
            return;
        }
        for (key, inner) in settings {
            match (key.as_str(), inner) {
                ("coalesce" | "array", Value::Array(items)) => {
                    items.iter().for_each(|i| self.count(i))
                }
                ("sha256" | "else", _) => self.count(inner),
                _ => {}
            }
        }
    }

    fn expr(&mut self, value: &Value, at: &str) -> Result<Expr, ConfigErrors> {
        match value {
            Value::String(text) => Ok(Expr::of(Source::Path(self.path(text)))),
            Value::Object(settings) => self.object(settings, at),
            other => Err(self.fail(
                at,
                format!(
                    "expected a path (a string) or an expression object, found {}; a constant is written {{\"value\": ...}}",
                    type_name(other)
                ),
            )),
        }
    }

    fn list(&mut self, value: &Value, at: &str) -> Result<Vec<Expr>, ConfigErrors> {
        match value {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.expr(item, &format!("{at}[{i}]")))
                .collect(),
            Value::Array(_) => Err(self.fail(at, "the list is empty")),
            other => Err(self.fail(
                at,
                format!("expected a list of expressions, found {}", type_name(other)),
            )),
        }
    }

    fn text<'v>(&self, value: &'v Value, at: &str) -> Result<&'v str, ConfigErrors> {
        value
            .as_str()
            .ok_or_else(|| self.fail(at, format!("expected a string, found {}", type_name(value))))
    }

    fn flag(&self, value: &Value, at: &str) -> Result<bool, ConfigErrors> {
        value.as_bool().ok_or_else(|| {
            self.fail(
                at,
                format!("expected true or false, found {}", type_name(value)),
            )
        })
    }

    fn regex(&self, value: &Value, at: &str) -> Result<Regex, ConfigErrors> {
        let pattern = self.text(value, at)?;
        crate::string::compile(pattern, self.b, at)
    }

    fn object(&mut self, settings: &Map<String, Value>, at: &str) -> Result<Expr, ConfigErrors> {
        for key in settings.keys() {
            if !SOURCES.contains(&key.as_str()) && !MODIFIERS.contains(&key.as_str()) {
                let known: Vec<&str> = SOURCES.iter().chain(&MODIFIERS).copied().collect();
                let hint = closest(key, &known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(self.fail(
                    at,
                    format!(
                        "unknown setting `{key}`{hint}; an expression has one source ({}) and modifiers ({})",
                        SOURCES.join(", "),
                        MODIFIERS.join(", ")
                    ),
                ));
            }
        }
        let given: Vec<&str> = SOURCES
            .iter()
            .copied()
            .filter(|s| settings.contains_key(*s))
            .collect();
        let (name, value) = match given.as_slice() {
            [one] => (*one, &settings[*one]),
            [] => {
                return Err(self.fail(at, format!("no source: give one of {}", SOURCES.join(", "))));
            }
            many => {
                return Err(self.fail(
                    at,
                    format!("more than one source ({}): give one", many.join(", ")),
                ));
            }
        };
        let here = format!("{at}.{name}");
        let source = match name {
            "path" => Source::Path(self.path(self.text(value, &here)?)),
            "coalesce" => Source::Coalesce(self.list(value, &here)?),
            "array" => Source::Array(self.list(value, &here)?),
            "value" => Source::Value(value.clone()),
            "original" => match value {
                Value::Bool(true) => Source::Original,
                _ => return Err(self.fail(&here, "must be true")),
            },
            "sha256" => match value {
                Value::Bool(true) => Source::Sha256(None),
                Value::String(_) | Value::Object(_) => {
                    Source::Sha256(Some(Box::new(self.expr(value, &here)?)))
                }
                other => {
                    return Err(self.fail(
                        &here,
                        format!(
                            "expected true (the original text) or an expression, found {}",
                            type_name(other)
                        ),
                    ));
                }
            },
            _ => unreachable!("one of SOURCES"),
        };
        let mut expr = Expr::of(source);
        let text = Value::Object(settings.clone()).to_string();
        if let Some(&n) = self.repeats.get(&text).filter(|n| **n > 1) {
            let next = self.slots.len();
            let slot = *self.slots.entry(text).or_insert(next);
            if slot == next {
                self.uses.push(u32::try_from(n).unwrap_or(u32::MAX));
            }
            expr.slot = Some(slot);
        }

        let get = |name: &str| settings.get(name).map(|v| (v, format!("{at}.{name}")));
        if let Some((v, here)) = get("when") {
            let test = self.b.condition(&here, v)?;
            let otherwise = match get("else") {
                Some((e, here)) => Some(Box::new(self.expr(e, &here)?)),
                None => None,
            };
            expr.when = Some(When { test, otherwise });
        } else if settings.contains_key("else") {
            return Err(self.fail(&format!("{at}.else"), "`else` needs a `when`"));
        }
        // Built in the documented order, whatever the order of the keys.
        if let Some((v, here)) = get("capture") {
            expr.steps.push(Step::Capture(self.regex(v, &here)?));
        }
        if let Some((v, here)) = get("split_last") {
            let separator = self.text(v, &here)?;
            if separator.is_empty() {
                return Err(self.fail(&here, "must not be empty"));
            }
            expr.steps.push(Step::SplitLast(separator.to_string()));
        }
        if let Some((v, here)) = get("strip_prefix") {
            expr.steps
                .push(Step::StripPrefix(self.text(v, &here)?.to_string()));
        }
        if let Some((v, here)) = get("strip_suffix") {
            expr.steps
                .push(Step::StripSuffix(self.text(v, &here)?.to_string()));
        }
        if let Some((v, here)) = get("lowercase")
            && self.flag(v, &here)?
        {
            expr.steps.push(Step::Lowercase);
        }
        if let Some((v, here)) = get("if_match") {
            expr.steps.push(Step::IfMatch(self.regex(v, &here)?));
        }
        if let Some((v, here)) = get("if_ip") {
            expr.steps.push(Step::IfIp(self.flag(v, &here)?));
        }
        if let Some((v, here)) = get("map") {
            let Value::Object(table) = v else {
                return Err(self.fail(&here, format!("expected an object, found {}", type_name(v))));
            };
            let table = table.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            expr.steps.push(Step::Map(table));
        }
        if let Some((v, here)) = get("convert") {
            let name = self.text(v, &here)?;
            let Some((_, conversion)) = CONVERSIONS.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = CONVERSIONS.iter().map(|(n, _)| *n).collect();
                return Err(self.fail(
                    &here,
                    format!(
                        "unknown conversion `{name}`, expected one of {}",
                        names.join(", ")
                    ),
                ));
            };
            expr.steps.push(Step::Convert(*conversion));
        }
        if let Some((v, here)) = get("default") {
            if is_empty(v) {
                return Err(self.fail(&here, "a null or empty default would be left out"));
            }
            expr.default = Some(v.clone());
        }
        Ok(expr)
    }
}

// ---- running -------------------------------------------------------------------------------

/// Null and empty values are left out of the document.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The text the data arrived as, while no step has changed it.
fn original<'m>(message: &'m Message, target: &str) -> Result<&'m [u8], TransformError> {
    message.raw().ok_or_else(|| {
        TransformError::invalid(format!(
            "`{target}`: the original text of the data is gone, an earlier step changed the data; \
             keep it first (object.copy from the whole data to @meta) and read that"
        ))
    })
}

impl Expr {
    fn of(source: Source) -> Expr {
        Expr {
            slot: None,
            source,
            when: None,
            steps: Vec::new(),
            default: None,
        }
    }

    /// The expression's result for one message: `None` when it gives nothing (or only null or
    /// an empty value). `target` names the field in errors.
    fn eval(
        &self,
        m: &mut Message,
        cache: &mut Cache,
        target: &str,
    ) -> Result<Option<Value>, TransformError> {
        let Some(slot) = self.slot else {
            return self.compute(m, cache, target);
        };
        self.share(slot, m, cache, target)?;
        let shared = &mut cache[slot];
        shared.uses = shared.uses.saturating_sub(1);
        Ok(match shared.uses {
            0 => shared.result.take().flatten(),
            _ => shared.result.clone().flatten(),
        })
    }

    /// Computes a repeated expression into its slot, unless an earlier occurrence has.
    fn share(
        &self,
        slot: usize,
        m: &mut Message,
        cache: &mut Cache,
        target: &str,
    ) -> Result<(), TransformError> {
        if cache[slot].result.is_none() {
            let result = self.compute(m, cache, target)?;
            cache[slot].result = Some(result);
        }
        Ok(())
    }

    /// The hex SHA-256 of the expression's result (strings as they are, other values as JSON),
    /// hashed in place when it is a repeated expression's.
    fn digest(
        &self,
        m: &mut Message,
        cache: &mut Cache,
        target: &str,
    ) -> Result<Option<String>, TransformError> {
        let hash = |v: &Value| hex::encode(Sha256::digest(value_text(v).as_bytes()));
        let Some(slot) = self.slot else {
            return Ok(self.compute(m, cache, target)?.as_ref().map(hash));
        };
        self.share(slot, m, cache, target)?;
        let shared = &mut cache[slot];
        let hex = shared.result.as_ref().and_then(|r| r.as_ref()).map(hash);
        shared.uses = shared.uses.saturating_sub(1);
        if shared.uses == 0 {
            shared.result = None;
        }
        Ok(hex)
    }

    fn compute(
        &self,
        m: &mut Message,
        cache: &mut Cache,
        target: &str,
    ) -> Result<Option<Value>, TransformError> {
        if let Some(when) = &self.when
            && !when.test.test(m)?
        {
            return match &when.otherwise {
                Some(e) => e.eval(m, cache, target),
                None => Ok(None),
            };
        }
        let result = match &self.source {
            // Read in place: only what the modifiers leave is cloned.
            Source::Path(path) => match m.get(path)? {
                Some(v) => self.modify(Cow::Borrowed(v), target)?,
                None => None,
            },
            Source::Value(v) => self.modify(Cow::Borrowed(v), target)?,
            Source::Coalesce(list) => {
                let mut first = None;
                for e in list {
                    if let Some(v) = e.eval(m, cache, target)? {
                        first = Some(v);
                        break;
                    }
                }
                match first {
                    Some(v) => self.modify(Cow::Owned(v), target)?,
                    None => None,
                }
            }
            Source::Original => {
                let text = std::str::from_utf8(original(m, target)?)
                    .map_err(|_| TransformError::NotUtf8)?;
                self.modify(Cow::Owned(Value::String(text.to_string())), target)?
            }
            Source::Sha256(inner) => {
                let hex = match inner {
                    None => Some(hex::encode(Sha256::digest(original(m, target)?))),
                    Some(e) => e.digest(m, cache, target)?,
                };
                match hex {
                    Some(hex) => self.modify(Cow::Owned(Value::String(hex)), target)?,
                    None => None,
                }
            }
            Source::Array(list) => {
                let mut items = Vec::new();
                for e in list {
                    match e.eval(m, cache, target)? {
                        Some(Value::Array(inner)) => {
                            for item in inner {
                                add_unique(&mut items, item);
                            }
                        }
                        Some(v) => add_unique(&mut items, v),
                        None => {}
                    }
                }
                match items.is_empty() {
                    true => None,
                    false => self.modify(Cow::Owned(Value::Array(items)), target)?,
                }
            }
        };
        Ok(result.or_else(|| self.default.clone()))
    }

    /// The modifiers and the default, for a value read by the caller (`None`: absent).
    fn finish(
        &self,
        value: Option<Cow<'_, Value>>,
        target: &str,
    ) -> Result<Option<Value>, TransformError> {
        let result = match value {
            Some(v) => self.modify(v, target)?,
            None => None,
        };
        Ok(result.or_else(|| self.default.clone()))
    }

    /// Applies the modifiers; `None` when one leaves nothing or the result is null or empty.
    fn modify<'a>(
        &'a self,
        value: Cow<'a, Value>,
        target: &str,
    ) -> Result<Option<Value>, TransformError> {
        if value.is_null() {
            return Ok(None);
        }
        let mut value = value;
        for step in &self.steps {
            match step.apply(value, target)? {
                Some(v) => value = v,
                None => return Ok(None),
            }
        }
        Ok((!is_empty(&value)).then(|| value.into_owned()))
    }
}

fn add_unique(items: &mut Vec<Value>, item: Value) {
    if !is_empty(&item) && !items.contains(&item) {
        items.push(item);
    }
}

/// The new string a text modifier makes (modifiers that change nothing pass their input on).
fn text_of(s: &str) -> Cow<'static, Value> {
    Cow::Owned(Value::String(s.to_string()))
}

impl Step {
    fn apply<'a>(
        &'a self,
        value: Cow<'a, Value>,
        target: &str,
    ) -> Result<Option<Cow<'a, Value>>, TransformError> {
        let text = value.as_str();
        Ok(match self {
            Step::Capture(regex) => text.and_then(|t| {
                let caps = regex.captures(t)?;
                let m = caps.get(1).or_else(|| caps.get(0))?;
                Some(text_of(m.as_str()))
            }),
            Step::IfMatch(regex) => text.is_some_and(|t| regex.is_match(t)).then_some(value),
            Step::SplitLast(separator) => {
                match text.and_then(|t| t.rsplit_once(separator.as_str())) {
                    Some((_, after)) => Some(text_of(after)),
                    None => Some(value),
                }
            }
            Step::StripPrefix(prefix) => match text.and_then(|t| t.strip_prefix(prefix.as_str())) {
                Some(rest) => Some(text_of(rest)),
                None => Some(value),
            },
            Step::StripSuffix(suffix) => match text.and_then(|t| t.strip_suffix(suffix.as_str())) {
                Some(rest) => Some(text_of(rest)),
                None => Some(value),
            },
            Step::Lowercase => match text {
                Some(t) if t.chars().any(char::is_uppercase) => Some(text_of(&t.to_lowercase())),
                _ => Some(value),
            },
            Step::IfIp(wanted) => {
                let is_ip = text.is_some_and(|t| crate::network::parse_ip(t).is_some());
                (is_ip == *wanted).then_some(value)
            }
            Step::Map(table) => table.get(value_text(&value).as_ref()).map(Cow::Borrowed),
            Step::Convert(conversion) => Some(Cow::Owned(convert(&value, *conversion, target)?)),
        })
    }
}

fn convert(value: &Value, conversion: Conversion, target: &str) -> Result<Value, TransformError> {
    let failed = |why: String| {
        TransformError::invalid(format!(
            "the value for `{target}` is {}, {why}",
            object_convert::shown(value)
        ))
    };
    match conversion {
        Conversion::To(to) => object_convert::convert(value, to).map_err(failed),
        Conversion::JsonText => Ok(match value {
            // Straight into bytes: `to_string` would go through `fmt` and cost twice as much.
            Value::Object(_) | Value::Array(_) => {
                Value::String(serde_json::to_string(value).expect("a JSON value serializes"))
            }
            other => other.clone(),
        }),
        Conversion::Rfc3339 => match value.as_str().map(crate::time::parse_time) {
            Some(Some(time)) => Ok(Value::String(crate::time::format_time(time))),
            Some(None) => Err(failed("which is not a time in RFC 3339".into())),
            None => Err(failed("not a time (RFC 3339 text)".into())),
        },
    }
}

/// Whether a JSON object's keys come out sorted. They do (serde_json's map is a B-tree) unless
/// serde_json's `preserve_order` is switched on; then `Fields` looks names up one by one.
static KEYS_SORTED: LazyLock<bool> = LazyLock::new(|| {
    let map: Map<String, Value> = [("b".to_string(), Value::Null), ("a".into(), Value::Null)]
        .into_iter()
        .collect();
    map.keys().next().is_some_and(|k| k == "a")
});

/// Finds an input object's keys, taken in their order, among the fields the template reads:
/// one walk along both sorted lists.
struct Fields<'t> {
    top: &'t [TopField],
    at: usize,
}

impl<'t> Fields<'t> {
    fn new(top: &'t [TopField]) -> Fields<'t> {
        Fields { top, at: 0 }
    }

    /// The moves out of this field when the template reads it; `None` when it does not.
    fn find(&mut self, key: &str) -> Option<&'t [(usize, Path)]> {
        let top = self.top;
        if !*KEYS_SORTED {
            let i = top.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
            return Some(&top[i].1);
        }
        while self.at < top.len() && top[self.at].0.as_str() < key {
            self.at += 1;
        }
        top.get(self.at)
            .filter(|(k, _)| k == key)
            .map(|(_, moves)| moves.as_slice())
    }
}

/// Puts the input's unread fields at the `rest` place of the document, where the template has
/// not put a field of the same name.
fn put_rest(doc: &mut Map<String, Value>, place: &[String], left: Vec<(String, Value)>) {
    if left.is_empty() {
        return;
    }
    let mut place_map = doc;
    for key in place {
        // `rest_place` made sure no field of the template sits on the way.
        let slot = place_map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        place_map = slot.as_object_mut().expect("rest_place checked");
    }
    for (k, v) in left {
        if !place_map.contains_key(&k) {
            place_map.insert(k, v);
        }
    }
}

/// Builds a level of the document from the leaves' values, leaving out empty objects.
///
/// The tree's keys are sorted when the config is built, and a map collected from sorted entries
/// is built in one go (a B-tree filled node by node, or an ordered map appended to) rather than
/// searched once per key.
fn assemble(nodes: &[(String, Node)], values: &mut [Option<Value>]) -> Map<String, Value> {
    let mut entries = Vec::with_capacity(nodes.len());
    for (key, node) in nodes {
        let value = match node {
            Node::Leaf(id) => values[*id].take(),
            Node::Object(children) => {
                let object = assemble(children, values);
                (!object.is_empty()).then_some(Value::Object(object))
            }
        };
        if let Some(v) = value {
            entries.push((key.clone(), v));
        }
    }
    entries.into_iter().collect()
}

/// Sorts each level of the tree by key, the order the document's maps keep them in.
fn sort_tree(nodes: &mut [(String, Node)]) {
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, node) in nodes {
        if let Node::Object(children) = node {
            sort_tree(children);
        }
    }
}

impl Template {
    /// The document replaces the data: the input may be taken apart once it has been read.
    fn replaces_data(&self) -> bool {
        self.target.is_root() && self.target.root == Root::Data && !self.merge
    }

    /// Moves the values of the moved leaves, and the unread fields for `rest`, out of the
    /// input, which is about to be replaced, in one walk along its top-level fields. Every
    /// other expression has been evaluated.
    fn take_apart(&self, input: Value, values: &mut [Option<Value>]) -> Vec<(String, Value)> {
        let mut left = Vec::new();
        let Value::Object(fields) = input else {
            return left;
        };
        let keep = self.rest.as_ref().is_some_and(|r| !r.reads_all);
        let mut read = Fields::new(&self.top);
        for (key, mut value) in fields {
            match read.find(&key) {
                Some(moves) => {
                    for (id, inner) in moves {
                        let Leaf { target, expr, .. } = &self.leaves[*id];
                        let taken = inner.get_mut(&mut value).map(Value::take);
                        values[*id] =
                            expr.finish(taken.map(Cow::Owned), target)
                                .unwrap_or_else(|e| {
                                    unreachable!("`movable` takes no step that fails: {e}")
                                });
                    }
                }
                None if keep => left.push((key, value)),
                None => {}
            }
        }
        left
    }

    /// Copies the input's unread top-level fields, for `rest` when the input stays.
    fn copy_rest(&self, m: &mut Message) -> Result<Vec<(String, Value)>, TransformError> {
        if self.rest.as_ref().is_none_or(|r| r.reads_all) {
            return Ok(Vec::new());
        }
        let Value::Object(fields) = m.value()? else {
            return Ok(Vec::new());
        };
        let mut read = Fields::new(&self.top);
        Ok(fields
            .iter()
            .filter(|(k, _)| read.find(k).is_none())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    /// Writes the document where `target` and `merge` say.
    fn write(&self, m: &mut Message, doc: Map<String, Value>) -> Result<(), TransformError> {
        let target = &self.target;
        if target.is_root() && target.root == Root::Data && !self.merge {
            match self.serialize {
                true => m.set_bytes(serde_json::to_vec(&doc).expect("a JSON map serializes")),
                false => m.set_value(Value::Object(doc)),
            }
            return Ok(());
        }
        if doc.is_empty() {
            return Ok(());
        }
        let doc = Value::Object(doc);
        if !self.merge {
            return m.set(target, doc);
        }
        if target.root == Root::Data {
            match target.get_mut(m.value_mut()?) {
                Some(existing @ Value::Object(_)) => {
                    deep_merge(existing, doc);
                    return Ok(());
                }
                Some(slot @ Value::Null) => {
                    *slot = doc;
                    return Ok(());
                }
                Some(other) => {
                    return Err(wrong_type(target, "an object to merge into", other));
                }
                None => return m.set(target, doc),
            }
        }
        // Metadata: take the object out, merge, put it back.
        match m.get(target)? {
            None | Some(Value::Null) => m.set(target, doc),
            Some(Value::Object(_)) => {
                let mut existing = m.delete(target)?.unwrap_or_default();
                deep_merge(&mut existing, doc);
                m.set(target, existing)
            }
            Some(other) => Err(wrong_type(target, "an object to merge into", other)),
        }
    }
}

impl MapTransform for Template {
    fn map(&self, m: &mut Message) -> Result<(), TransformError> {
        // Values are moved out of the input only when it is about to be replaced; otherwise
        // every leaf copies what it keeps.
        let moving = self.replaces_data() && (self.moves || self.rest.is_some());
        let mut cache: Cache = self
            .uses
            .iter()
            .map(|&uses| Shared { result: None, uses })
            .collect();
        let mut values = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            values.push(match moving && leaf.moved {
                // Until found in the input (`take_apart`).
                true => leaf.expr.default.clone(),
                false => leaf.expr.eval(m, &mut cache, &leaf.target)?,
            });
        }
        let left = match moving {
            true => {
                let input = m.take_value()?;
                self.take_apart(input, &mut values)
            }
            false => self.copy_rest(m)?,
        };
        let mut doc = assemble(&self.tree, &mut values);
        if let Some(rest) = &self.rest {
            put_rest(&mut doc, &rest.place, left);
        }
        self.write(m, doc)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, apply_raw, build_error, config};
    use serde_json::{Value, json};

    fn template(fields: Value) -> Value {
        config("object.template", json!({ "fields": fields }))
    }

    /// The document a template builds from one input.
    fn build(fields: Value, input: Value) -> Value {
        apply(template(fields), &input).remove(0)
    }

    #[test]
    fn builds_nested_targets_and_replaces_the_data() {
        let out = build(
            json!({
                "event.action": "eventName",
                "event.kind": {"value": "event"},
                "cloud.account.id": "account",
                "@timestamp": "time",
                "a\\.b": "eventName",
            }),
            json!({"eventName": "Login", "account": 12, "time": "t", "other": 1}),
        );
        assert_eq!(
            out,
            json!({
                "event": {"action": "Login", "kind": "event"},
                "cloud": {"account": {"id": 12}},
                "@timestamp": "t",
                "a.b": "Login",
            })
        );
    }

    #[test]
    fn null_and_empty_results_are_left_out_with_their_objects() {
        let out = build(
            json!({
                "a.null": "n",
                "a.empty": "e",
                "a.list": "l",
                "a.object": "o",
                "a.absent": "zz",
                "b.kept": "z",
                "c.d.e": "n",
            }),
            json!({"n": null, "e": "", "l": [], "o": {}, "z": 0}),
        );
        assert_eq!(out, json!({"b": {"kept": 0}}));
        // Nothing at all: the data becomes an empty object.
        assert_eq!(build(json!({"a": "zz"}), json!({"x": 1})), json!({}));
    }

    #[test]
    fn coalesce_takes_the_first_real_value_in_order() {
        let fields = json!({"v": {"coalesce": ["a", "b", {"value": "c"}]}});
        assert_eq!(build(fields.clone(), json!({"a": "A", "b": "B"}))["v"], "A");
        assert_eq!(
            build(fields.clone(), json!({"a": null, "b": "B"}))["v"],
            "B"
        );
        assert_eq!(build(fields.clone(), json!({"a": "", "b": "B"}))["v"], "B");
        assert_eq!(build(fields, json!({"b": {}}))["v"], "c");
        // Each candidate's own modifiers decide whether it counts.
        let fields = json!({"v": {"coalesce": [{"path": "a", "if_ip": true}, "b"]}});
        assert_eq!(build(fields.clone(), json!({"a": "x", "b": "B"}))["v"], "B");
        assert_eq!(build(fields, json!({"a": "::1", "b": "B"}))["v"], "::1");
    }

    #[test]
    fn array_dedupes_flattens_and_skips_nothing() {
        let out = build(
            json!({"related.ip": {"array": ["src", "dst", "none", "list", {"value": "10.0.0.9"}]}}),
            json!({"src": "10.0.0.1", "dst": "10.0.0.1", "none": null, "list": ["10.0.0.2", "", "10.0.0.1"]}),
        );
        assert_eq!(
            out,
            json!({"related": {"ip": ["10.0.0.1", "10.0.0.2", "10.0.0.9"]}})
        );
        assert_eq!(
            build(json!({"r": {"array": ["x", "y"]}}), json!({})),
            json!({})
        );
    }

    #[test]
    fn metadata_is_read_with_at_meta() {
        let mut c = config(
            "object.insert",
            json!({"target": "@meta.file", "value": "a.log"}),
        );
        c["transforms"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "object.template", "fields": {"log.file.path": "@meta.file"}}));
        assert_eq!(
            apply(c, &json!({"x": 1})),
            vec![json!({"log": {"file": {"path": "a.log"}}})]
        );
    }

    #[test]
    fn original_and_sha256_are_the_text_as_it_arrived() {
        let line = r#"{ "b": 2,  "a": "x" }"#;
        let c = template(json!({
            "event.original": {"original": true},
            "event.hash": {"sha256": true},
            "a_hash": {"sha256": "a"},
        }));
        let out = apply_raw(c, line).remove(0);
        assert_eq!(out["event"]["original"], line);
        // The same digest as hash.sha256 over the whole data, and over a field's text.
        let by_hash = apply_raw(config("hash.sha256", json!({})), line).remove(0);
        assert_eq!(out["event"]["hash"], by_hash);
        let field = apply(
            config("hash.sha256", json!({"source": "a", "target": "h"})),
            &json!({"a": "x"}),
        );
        assert_eq!(out["a_hash"], field[0]["h"]);
    }

    #[test]
    fn original_after_a_change_is_an_error_unless_kept_first() {
        let mut c = config("object.insert", json!({"target": "z", "value": 1}));
        c["transforms"].as_array_mut().unwrap().push(
            json!({"type": "object.template", "fields": {"event.original": {"original": true}}}),
        );
        let err = apply_err(c, &json!({"a": 1}));
        assert!(
            err.contains("`event.original`: the original text of the data is gone"),
            "{err}"
        );
        // Kept in metadata before the change, and read from there first.
        let line = r#"{"a": 1}"#;
        let c = json!({"transforms": [
            {"type": "object.copy", "target": "@meta.original"},
            {"type": "object.insert", "target": "z", "value": 1},
            {"type": "object.template", "fields": {
                "event.original": {"coalesce": ["@meta.original", {"original": true}]},
                "event.hash": {"sha256": {"coalesce": ["@meta.original", {"original": true}]}},
            }},
        ]});
        let out = apply_raw(c, line).remove(0);
        assert_eq!(out["event"]["original"], line);
        assert_eq!(
            out["event"]["hash"],
            apply_raw(config("hash.sha256", json!({})), line)[0]
        );
    }

    #[test]
    fn when_and_else() {
        let is = |v: &str| json!({"type": "string.eq", "source": "kind", "value": v});
        let fields = json!({
            "name": {
                "path": "arn", "split_last": "/", "when": is("user"),
                "else": {"value": "root", "when": is("root"), "else": "fallback"},
            },
            "flag": {"value": true, "when": is("user"), "default": false},
        });
        let run = |input: Value| build(fields.clone(), input);
        assert_eq!(
            run(json!({"kind": "user", "arn": "a/b/alice"})),
            json!({"name": "alice", "flag": true})
        );
        // A false `when` gives `else`; the expression's own modifiers and default do not apply.
        assert_eq!(
            run(json!({"kind": "root", "arn": "a/b"})),
            json!({"name": "root"})
        );
        assert_eq!(run(json!({"fallback": "x/y"})), json!({"name": "x/y"}));
    }

    #[test]
    fn a_repeated_expression_is_computed_once_per_message() {
        // A coin flip: computed twice, the two fields would disagree on about half the messages.
        let coin = json!({"value": "heads", "when": {"type": "utility.random"}, "else": {"value": "tails"}});
        let c = template(json!({"a": coin, "b": {"array": [coin]}, "c": {"coalesce": [coin]}}));
        let input: Vec<Value> = (0..64).map(|i| json!({"i": i})).collect();
        let out =
            crate::testing::outputs(&crate::testing::run(c, crate::testing::messages(&input)));
        assert_eq!(out.len(), 64);
        for doc in &out {
            assert_eq!(doc["b"], json!([doc["a"].clone()]), "{doc}");
            assert_eq!(doc["c"], doc["a"], "{doc}");
        }
        assert!(out.iter().any(|d| d["a"] == "heads") && out.iter().any(|d| d["a"] == "tails"));
    }

    #[test]
    fn values_moved_out_of_the_input_are_the_values_copied() {
        // Plain paths are moved out of the input once all else has read it: the outer of two
        // nested paths, the first of two equal ones; conditions and other fields still see
        // them. The same fields written elsewhere (so the input stays) give the same document.
        let fields = json!({
            "identity": "user",
            "user.id": "user.id",
            "user.name": {"path": "user.name", "lowercase": true},
            "copy.name": "user.name",
            "again.name": "user.name",
            "outcome": {"value": "failure", "when": {"type": "exists", "source": "error"}, "else": {"value": "success"}},
            "error.code": "error",
            "params": {"path": "params", "convert": "json_text"},
            "first": "list.0",
            "list": "list",
        });
        let input = json!({
            "user": {"id": 7, "name": "Alice"}, "error": "Denied", "params": {"b": 1, "a": [2]},
            "list": ["x", "y"], "other": true,
        });
        let expected = json!({
            "identity": {"id": 7, "name": "Alice"},
            "user": {"id": 7, "name": "alice"},
            "copy": {"name": "Alice"},
            "again": {"name": "Alice"},
            "outcome": "failure",
            "error": {"code": "Denied"},
            "params": "{\"a\":[2],\"b\":1}",
            "first": "x",
            "list": ["x", "y"],
        });
        assert_eq!(build(fields.clone(), input.clone()), expected);
        let mut with_rest = expected.clone();
        with_rest["other"] = json!(true);
        let c = config(
            "object.template",
            json!({"fields": fields.clone(), "rest": ""}),
        );
        assert_eq!(apply(c, &input).remove(0), with_rest);
        let c = config(
            "object.template",
            json!({"fields": fields, "target": "doc"}),
        );
        assert_eq!(apply(c, &input).remove(0)["doc"], expected);
    }

    #[test]
    fn text_modifiers() {
        let out = build(
            json!({
                "session": {"path": "arn", "capture": "assumed-role/[^/]+/(.+)$"},
                "whole": {"path": "arn", "capture": "role/[A-Za-z]+"},
                "nomatch": {"path": "arn", "capture": "federated-user/(.+)$"},
                "last": {"path": "arn", "split_last": "/"},
                "no_sep": {"path": "plain", "split_last": "/"},
                "service": {"path": "source", "strip_suffix": ".amazonaws.com"},
                "version": {"path": "tls", "strip_prefix": "TLSv"},
                "unchanged": {"path": "plain", "strip_prefix": "zz"},
                "lower": {"path": "answer", "lowercase": true},
                "email": {"path": "mail", "if_match": "^[^@]+@[^@]+$"},
                "not_email": {"path": "plain", "if_match": "^[^@]+@[^@]+$"},
                // Unicode is lowered as text, not as bytes.
                "unicode": {"path": "unicode", "lowercase": true},
            }),
            json!({
                "arn": "arn:aws:sts::1:assumed-role/Admin/alice/x",
                "plain": "Plain",
                "source": "iam.amazonaws.com",
                "tls": "TLSv1.3",
                "answer": "Success",
                "mail": "a@example.com",
                "unicode": "ÉCOLE",
            }),
        );
        assert_eq!(
            out,
            json!({
                "session": "alice/x",
                "whole": "role/Admin",
                "last": "x",
                "no_sep": "Plain",
                "service": "iam",
                "version": "1.3",
                "unchanged": "Plain",
                "lower": "success",
                "email": "a@example.com",
                "unicode": "école",
            })
        );
    }

    #[test]
    fn modifiers_apply_in_the_documented_order() {
        // capture, split_last, strip_prefix, strip_suffix, lowercase, if_match, if_ip, map,
        // convert, default: whatever the order of the keys.
        let out = build(
            json!({"port": {
                "path": "port", "default": 0, "convert": "integer", "map": {"https": "443"}, "if_match": "^h",
                "lowercase": true, "strip_suffix": "!", "strip_prefix": "x-", "split_last": "/",
                "capture": "proto=(\\S+)",
            }}),
            json!({"port": "proto=a/b/x-HTTPS! more"}),
        );
        assert_eq!(out["port"], 443);
        let out = build(
            json!({"port": {"path": "p", "map": {"https": 443}, "default": -1}}),
            json!({"p": "gopher"}),
        );
        assert_eq!(out["port"], -1);
    }

    #[test]
    fn non_strings_pass_text_modifiers_but_not_filters() {
        let out = build(
            json!({
                "lower": {"path": "n", "lowercase": true},
                "last": {"path": "n", "split_last": "/"},
                "captured": {"path": "n", "capture": "(.*)"},
                "matched": {"path": "n", "if_match": ".*"},
                "ip": {"path": "n", "if_ip": true},
                "not_ip": {"path": "n", "if_ip": false},
                // A number is looked up by its text.
                "mapped": {"path": "n", "map": {"42": "answer"}},
                // Null is absent: no modifier sees it, the default does.
                "null": {"path": "z", "lowercase": true, "default": "none"},
            }),
            json!({"n": 42, "z": null}),
        );
        assert_eq!(
            out,
            json!({"lower": 42, "last": 42, "not_ip": 42, "mapped": "answer", "null": "none"})
        );
    }

    #[test]
    fn if_ip_keeps_addresses_or_everything_else() {
        let fields = json!({
            "source.ip": {"path": "from", "if_ip": true},
            "source.domain": {"path": "from", "if_ip": false},
        });
        for (from, expected) in [
            ("81.2.69.160", json!({"ip": "81.2.69.160"})),
            ("2001:db8::1", json!({"ip": "2001:db8::1"})),
            ("ec2.amazonaws.com", json!({"domain": "ec2.amazonaws.com"})),
            ("10.0.0.1:80", json!({"domain": "10.0.0.1:80"})),
        ] {
            assert_eq!(
                build(fields.clone(), json!({"from": from}))["source"],
                expected
            );
        }
    }

    #[test]
    fn conversions() {
        let out = build(
            json!({
                "s": {"path": "n", "convert": "string"},
                "i": {"path": "si", "convert": "integer"},
                "u": {"path": "big", "convert": "unsigned_integer"},
                "f": {"path": "sf", "convert": "float"},
                "b": {"path": "yes", "convert": "boolean"},
                "j": {"path": "obj", "convert": "json_text"},
                "ja": {"path": "arr", "convert": "json_text"},
                "js": {"path": "yes", "convert": "json_text"},
                "je": {"path": "empty", "convert": "json_text"},
                "t": {"path": "time", "convert": "rfc3339"},
            }),
            json!({
                "n": 12, "si": "-3", "big": "18446744073709551615", "sf": "1.5", "yes": "yes",
                "obj": {"z": 1, "a": [true, null]}, "arr": [1, "x"], "empty": {},
                "time": "2026-11-23T08:02:11.120+01:00",
            }),
        );
        assert_eq!(
            out,
            json!({
                "s": "12", "i": -3, "u": 18446744073709551615u64, "f": 1.5, "b": true,
                // Keys sorted, compact; an empty object is still text.
                "j": "{\"a\":[true,null],\"z\":1}", "ja": "[1,\"x\"]", "js": "yes", "je": "{}",
                "t": "2026-11-23T07:02:11.120Z",
            })
        );
    }

    #[test]
    fn a_failed_conversion_names_the_field() {
        let c = template(json!({"@timestamp": {"path": "eventTime", "convert": "rfc3339"}}));
        let err = apply_err(c.clone(), &json!({"eventTime": "yesterday at noon"}));
        assert_eq!(
            err,
            "the value for `@timestamp` is \"yesterday at noon\", which is not a time in RFC 3339"
        );
        let err = apply_err(c, &json!({"eventTime": 1795417331}));
        assert_eq!(
            err,
            "the value for `@timestamp` is 1795417331, not a time (RFC 3339 text)"
        );
        let err = apply_err(
            template(json!({"port": {"path": "p", "convert": "integer"}})),
            &json!({"p": "http"}),
        );
        assert!(
            err.starts_with("the value for `port` is \"http\", which is not a number"),
            "{err}"
        );
        // The message goes to the error route as it came.
        let line = r#"{"p":  "http"}"#;
        let p = crate::testing::run(
            template(json!({"port": {"path": "p", "convert": "integer"}})),
            vec![sluice_core::Message::new(line)],
        );
        assert_eq!(p.errors[0].bytes().as_ref(), line.as_bytes());
    }

    #[test]
    fn target_merge_and_rest() {
        let input = json!({"event": {"kind": "event", "id": 1}, "name": "x", "keep": [1]});
        let fields = json!({"event.action": "name", "event.kind": {"value": "alert"}});
        let with = |settings: Value| {
            let mut s = settings;
            s["fields"] = fields.clone();
            apply(config("object.template", s), &input).remove(0)
        };
        // Elsewhere in the data, which stays.
        let mut expected = input.clone();
        expected["ecs"] = json!({"event": {"action": "x", "kind": "alert"}});
        assert_eq!(with(json!({"target": "ecs"})), expected);
        // Merged into the data: nested objects key by key, values replaced.
        assert_eq!(
            with(json!({"merge": true})),
            json!({"event": {"kind": "alert", "id": 1, "action": "x"}, "name": "x", "keep": [1]})
        );
        // The fields no path reads, kept at the top level; a field of the template wins.
        assert_eq!(
            with(json!({"rest": ""})),
            json!({"event": {"action": "x", "kind": "alert"}, "keep": [1]})
        );
        assert_eq!(
            with(json!({"rest": "aws.extra"})),
            json!({
                "event": {"action": "x", "kind": "alert"},
                "aws": {"extra": {"event": {"kind": "event", "id": 1}, "keep": [1]}},
            })
        );
        // As text at once: the same document, which a later step reads by parsing it again.
        let c = json!({"transforms": [
            {"type": "object.template", "serialize": true, "fields": fields},
            {"type": "object.copy", "source": "event.action", "target": "copied"},
        ]});
        let mut expected = json!({"event": {"action": "x", "kind": "alert"}});
        expected["copied"] = json!("x");
        assert_eq!(apply(c, &input).remove(0), expected);
        let p = crate::testing::run(
            config(
                "object.template",
                json!({"serialize": true, "fields": {"a": "name", "b": "keep"}}),
            ),
            vec![sluice_core::Message::new(input.to_string())],
        );
        assert_eq!(p.output[0].bytes().as_ref(), br#"{"a":"x","b":[1]}"#);
        // Into metadata, merged with what is there.
        let c = json!({"transforms": [
            {"type": "object.insert", "target": "@meta.doc.other", "value": 1},
            {"type": "object.template", "target": "@meta.doc", "merge": true, "fields": {"a": "name"}},
            {"type": "object.copy", "source": "@meta.doc", "target": "doc"},
        ]});
        assert_eq!(apply(c, &input)[0]["doc"], json!({"a": "x", "other": 1}));
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = |fields: Value| build_error(template(fields));
        let e = err(json!({"event.action": {"path": "a", "lowercse": true}}));
        assert!(
            e.contains("transforms[0] (object.template): field `fields.event.action`: unknown setting `lowercse` (did you mean `lowercase`?)"),
            "{e}"
        );
        let e = err(json!({"a": {"lowercase": true}}));
        assert!(
            e.contains("field `fields.a`: no source: give one of path, coalesce"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "value": 1}}));
        assert!(
            e.contains("field `fields.a`: more than one source (path, value)"),
            "{e}"
        );
        let e = err(json!({"a": 3}));
        assert!(
            e.contains(
                "field `fields.a`: expected a path (a string) or an expression object, found number"
            ),
            "{e}"
        );
        let e = err(json!({"a": {"coalesce": ["x", {"path": "y", "capture": "("}]}}));
        assert!(
            e.contains("field `fields.a.coalesce[1].capture`: invalid regex"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "else": "y"}}));
        assert!(
            e.contains("field `fields.a.else`: `else` needs a `when`"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "convert": "int"}}));
        assert!(
            e.contains(
                "field `fields.a.convert`: unknown conversion `int`, expected one of string"
            ),
            "{e}"
        );
        let e = err(json!({"a": {"original": false}}));
        assert!(e.contains("field `fields.a.original`: must be true"), "{e}");
        let e = err(json!({"a": {"path": "x", "when": {"type": "string.eqq", "source": "k"}}}));
        assert!(
            e.contains("fields.a.when: unknown condition type `string.eqq`"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "split_last": ""}}));
        assert!(
            e.contains("field `fields.a.split_last`: must not be empty"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "default": null}}));
        assert!(
            e.contains("field `fields.a.default`: a null or empty default"),
            "{e}"
        );
        let e = err(json!({"a": {"path": "x", "map": ["a"]}}));
        assert!(
            e.contains("field `fields.a.map`: expected an object, found array"),
            "{e}"
        );
        let e = err(json!({"user": "a", "user.name": "b"}));
        assert!(
            e.contains("field `fields.user.name`: `user.name` and `user` write the same place"),
            "{e}"
        );
        let e = err(json!({"@meta.x": "a"}));
        assert!(
            e.contains("field `fields.@meta.x`: a target is a place in the built document"),
            "{e}"
        );
        let e = err(json!({}));
        assert!(e.contains("field `fields`: give at least one field"), "{e}");
        // Every problem is reported, not just the first.
        let e = err(json!({"a": {"bad": 1}, "b": {"path": "x", "if_ip": "yes"}}));
        assert!(
            e.contains("fields.a") && e.contains("field `fields.b.if_ip`: expected true or false"),
            "{e}"
        );
        let e = build_error(config(
            "object.template",
            json!({"fields": {"user.name": "a"}, "rest": "user.name.x"}),
        ));
        assert!(
            e.contains("field `rest`: `user.name.x` is the field `user.name` or inside it"),
            "{e}"
        );
        let e = build_error(config(
            "object.template",
            json!({"fields": {"a": "b"}, "target": "x", "serialize": true}),
        ));
        assert!(
            e.contains("field `serialize`: only a document that replaces the data"),
            "{e}"
        );
        let e = build_error(config(
            "object.template",
            json!({"fields": {"a": "b"}, "tagret": ""}),
        ));
        assert!(
            e.contains("unknown field `tagret` (did you mean `target`?)"),
            "{e}"
        );
    }
}
