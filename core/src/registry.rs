//! The registry: type names (`object.copy`, `string.eq`) mapped to constructors, and the
//! `Builder` that turns config JSON into running steps.
//!
//! Each component registers a typed settings struct. The same struct gives three things, so they
//! cannot drift apart: the settings parse (unknown fields rejected, type errors naming the
//! field), the catalogue that `sluice list` prints (from its JSON schema and doc comments), and
//! the constructor's input. The connectors crate and embedding services add their own types to
//! the same registry.

use crate::error::{ConfigError, ConfigErrors};
use crate::pipeline::{Step, Steps};
use crate::transform::{Condition, Io, Map as MapStep, Stateful, Transform, TransformKind};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Settings every transform accepts besides its own.
pub const COMMON_TRANSFORM_FIELDS: &[&str] = &["type", "when", "name"];

/// What a registered type builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Condition,
    Store,
}

/// A shared, named thing built from the config's `stores` section.
pub type SharedResource = Arc<dyn Any + Send + Sync>;

/// One documented setting of a component.
#[derive(Debug, Clone)]
pub struct FieldDoc {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub default: Option<String>,
    pub description: String,
}

type BuildFn<T> = Box<dyn Fn(Value, &Builder) -> Result<T, ConfigErrors> + Send + Sync>;

/// A registered component: its documentation and its constructor.
pub struct Spec<T> {
    pub name: String,
    pub summary: String,
    pub fields: Vec<FieldDoc>,
    /// For transforms: how the type is scheduled.
    pub scheduling: Option<Scheduling>,
    build: BuildFn<T>,
}

/// How a transform type is scheduled: fixed by its type, or chosen from its settings (a
/// `meta.*` transform takes the strictest kind of the steps it holds; a store-backed one is
/// I/O only with a remote store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    Fixed(TransformKind),
    BySettings,
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduling::Fixed(k) => write!(f, "{k}"),
            Scheduling::BySettings => f.write_str("by settings"),
        }
    }
}

/// Every transform and condition type a config may name.
#[derive(Default)]
pub struct Registry {
    transforms: BTreeMap<String, Spec<Transform>>,
    conditions: BTreeMap<String, Spec<Box<dyn Condition>>>,
    stores: BTreeMap<String, Spec<SharedResource>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a per-message transform type whose settings are `S`.
    pub fn map<S, T, F>(&mut self, name: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        T: MapStep + 'static,
        F: Fn(S, &Builder) -> Result<T, ConfigErrors> + Send + Sync + 'static,
    {
        let kind = Scheduling::Fixed(TransformKind::Map);
        self.add_transform::<S>(name, kind, move |s, b| build(s, b).map(Transform::map));
    }

    /// Registers a stateful transform type whose settings are `S`.
    pub fn stateful<S, T, F>(&mut self, name: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        T: Stateful + 'static,
        F: Fn(S, &Builder) -> Result<T, ConfigErrors> + Send + Sync + 'static,
    {
        let kind = Scheduling::Fixed(TransformKind::Stateful);
        self.add_transform::<S>(name, kind, move |s, b| build(s, b).map(Transform::stateful));
    }

    /// Registers an I/O transform type whose settings are `S`.
    pub fn io<S, T, F>(&mut self, name: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        T: Io + 'static,
        F: Fn(S, &Builder) -> Result<T, ConfigErrors> + Send + Sync + 'static,
    {
        let kind = Scheduling::Fixed(TransformKind::Io);
        self.add_transform::<S>(name, kind, move |s, b| build(s, b).map(Transform::io));
    }

    /// Registers a transform type whose kind its settings decide (see [`Scheduling`]).
    pub fn transform<S, F>(&mut self, name: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        F: Fn(S, &Builder) -> Result<Transform, ConfigErrors> + Send + Sync + 'static,
    {
        self.add_transform::<S>(name, Scheduling::BySettings, build);
    }

    fn add_transform<S: DeserializeOwned + JsonSchema + 'static>(
        &mut self,
        name: &str,
        scheduling: Scheduling,
        build: impl Fn(S, &Builder) -> Result<Transform, ConfigErrors> + Send + Sync + 'static,
    ) {
        self.refuse_twice(name, self.transforms.contains_key(name));
        let mut spec = Spec::new::<S>(name, build);
        spec.scheduling = Some(scheduling);
        self.transforms.insert(name.to_string(), spec);
    }

    /// A type name registered twice is a programming error: the second would silently win.
    /// Call [`Registry::unregister`] first to replace a type on purpose.
    fn refuse_twice(&self, name: &str, taken: bool) {
        assert!(
            !taken,
            "`{name}` is registered twice; unregister the first to replace it on purpose"
        );
    }

    /// Removes a registered type of any kind, so that another may take its name.
    pub fn unregister(&mut self, name: &str) {
        self.transforms.remove(name);
        self.conditions.remove(name);
        self.stores.remove(name);
    }

    /// Registers a condition type whose settings are `S`.
    pub fn condition<S, C, F>(&mut self, name: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        C: Condition + 'static,
        F: Fn(S, &Builder) -> Result<C, ConfigErrors> + Send + Sync + 'static,
    {
        self.refuse_twice(name, self.conditions.contains_key(name));
        let spec = Spec::new::<S>(name, move |settings, builder| {
            build(settings, builder).map(|c| Box::new(c) as Box<dyn Condition>)
        });
        self.conditions.insert(name.to_string(), spec);
    }

    /// Registers a store kind (`memory`, `file`, `dynamodb`...) whose settings are `S`. The
    /// built value is looked up by transforms with [`Resources::get`].
    pub fn store<S, F>(&mut self, kind: &str, build: F)
    where
        S: DeserializeOwned + JsonSchema + 'static,
        F: Fn(S, &Builder) -> Result<SharedResource, ConfigErrors> + Send + Sync + 'static,
    {
        self.refuse_twice(kind, self.stores.contains_key(kind));
        self.stores
            .insert(kind.to_string(), Spec::new::<S>(kind, build));
    }

    pub fn stores(&self) -> impl Iterator<Item = &Spec<SharedResource>> {
        self.stores.values()
    }

    pub fn transforms(&self) -> impl Iterator<Item = &Spec<Transform>> {
        self.transforms.values()
    }

    pub fn conditions(&self) -> impl Iterator<Item = &Spec<Box<dyn Condition>>> {
        self.conditions.values()
    }

    pub fn has_transform(&self, name: &str) -> bool {
        self.transforms.contains_key(name)
    }

    pub fn has_condition(&self, name: &str) -> bool {
        self.conditions.contains_key(name)
    }
}

impl<T> Spec<T> {
    fn new<S: DeserializeOwned + JsonSchema + 'static>(
        name: &str,
        build: impl Fn(S, &Builder) -> Result<T, ConfigErrors> + Send + Sync + 'static,
    ) -> Spec<T> {
        let schema = schemars::schema_for!(S);
        let schema = schema.as_value();
        let summary = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ");
        let fields = field_docs(schema);
        let known: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        Spec {
            name: name.to_string(),
            summary,
            fields,
            scheduling: None,
            build: Box::new(move |value, builder| {
                let settings: S = decode(value, &known, builder)?;
                build(settings, builder)
            }),
        }
    }
}

/// Parses settings: unknown fields are named with the accepted ones; type errors name the field.
fn decode<S: DeserializeOwned>(
    value: Value,
    known: &[String],
    builder: &Builder,
) -> Result<S, ConfigErrors> {
    if let Value::Object(map) = &value {
        let mut errors = Vec::new();
        for key in map.keys().filter(|k| !known.contains(k)) {
            let mut expected: Vec<&str> = known.iter().map(String::as_str).collect();
            if builder.kind == Kind::Transform {
                expected.extend(COMMON_TRANSFORM_FIELDS.iter().filter(|f| **f != "type"));
            }
            let hint = closest(key, &expected)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            errors.push(builder.error(format!(
                "unknown field `{key}`{hint}, expected one of {}",
                if expected.is_empty() {
                    "no settings".to_string()
                } else {
                    expected.join(", ")
                }
            )));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
    }
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let problem = if path == "." || path.is_empty() {
            inner
        } else {
            format!("field `{path}`: {inner}")
        };
        ConfigErrors(vec![builder.error(problem)])
    })
}

/// The known name nearest to a misspelt one, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn field_docs(schema: &Value) -> Vec<FieldDoc> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let defs = schema.get("$defs").and_then(Value::as_object);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| FieldDoc {
            name: name.clone(),
            ty: type_label(prop, defs),
            required: required.contains(&name.as_str()),
            default: prop
                .get("default")
                .filter(|d| !d.is_null())
                .map(|d| d.to_string()),
            description: prop
                .get("description")
                .and_then(Value::as_str)
                .map(|d| d.replace('\n', " "))
                .unwrap_or_default(),
        })
        .collect()
}

/// A short human label for a JSON schema: `string`, `path`, `array of string`, `"a" | "b"`.
fn type_label(schema: &Value, defs: Option<&Map<String, Value>>) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match defs.and_then(|d| d.get(name)) {
            Some(def) if def.get("enum").is_some() || def.get("oneOf").is_some() => {
                type_label(def, defs)
            }
            _ => name.to_string(),
        };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let labels: Vec<String> = options
                .iter()
                .map(|o| type_label(o, defs))
                .filter(|l| l != "null")
                .collect();
            return labels.join(" | ");
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("path") {
        return "path".into();
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => match schema.get("items") {
            Some(items) => format!("array of {}", type_label(items, defs)),
            None => "array".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ if schema.as_bool() == Some(true) || schema.as_object().is_some_and(Map::is_empty) => {
            "any".into()
        }
        _ => "any".into(),
    }
}

/// Shared, named things that transforms refer to (stores, named pipelines), set up before the
/// transforms are built.
#[derive(Default, Clone)]
pub struct Resources {
    items: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
    metrics: Metrics,
    sections: BTreeMap<String, Value>,
}

/// Named counters that components keep (cache hits and misses, lookups that timed out); the
/// run's account prints them after the per-step lines.
#[derive(Default, Clone)]
pub struct Metrics {
    counters: Arc<parking_lot::Mutex<BTreeMap<String, Arc<AtomicU64>>>>,
}

impl Metrics {
    /// The counter of this name, created at zero the first time it is asked for.
    pub fn counter(&self, name: &str) -> Arc<AtomicU64> {
        self.counters
            .lock()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Every counter and its value, by name.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.counters
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }
}

impl Resources {
    /// A top-level config section that components share (e.g. `aws`).
    pub fn section(&self, name: &str) -> Option<&Value> {
        self.sections.get(name)
    }

    pub fn set_section(&mut self, name: &str, value: Value) {
        self.sections.insert(name.to_string(), value);
    }

    /// The run's named counters, shared by every copy of these resources.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn insert<T: Any + Send + Sync>(&mut self, name: impl Into<String>, item: Arc<T>) {
        self.items.insert(name.into(), item);
    }

    pub fn insert_shared(&mut self, name: impl Into<String>, item: SharedResource) {
        self.items.insert(name.into(), item);
    }

    /// The resource of this name if it has type `T`.
    pub fn get<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.items.get(name)?.clone().downcast::<T>().ok()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }
}

/// Builds steps and conditions from config JSON, tracking where in the config it is so every
/// error names its place.
pub struct Builder<'a> {
    pub registry: &'a Registry,
    pub resources: &'a Resources,
    /// Named pipelines declared at the top of the config (`pipelines: {name: [...]}`).
    pub pipelines: &'a BTreeMap<String, Vec<Value>>,
    location: String,
    kind: Kind,
}

impl<'a> Builder<'a> {
    pub fn new(
        registry: &'a Registry,
        resources: &'a Resources,
        pipelines: &'a BTreeMap<String, Vec<Value>>,
    ) -> Builder<'a> {
        Builder {
            registry,
            resources,
            pipelines,
            location: String::new(),
            kind: Kind::Transform,
        }
    }

    /// Where this builder is in the config, e.g. `transforms[2] (meta.switch)`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A config error at this builder's location.
    pub fn error(&self, problem: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(self.location.clone(), problem)
    }

    /// The same, as the `ConfigErrors` that constructors return.
    pub fn fail(&self, problem: impl std::fmt::Display) -> ConfigErrors {
        self.error(problem).into()
    }

    fn child(&self, location: String, kind: Kind) -> Builder<'a> {
        Builder {
            registry: self.registry,
            resources: self.resources,
            pipelines: self.pipelines,
            location,
            kind,
        }
    }

    fn join(&self, field: &str) -> String {
        match (self.location.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => self.location.clone(),
            (false, false) => format!("{}.{field}", self.location),
        }
    }

    /// Builds a list of transforms found under `field` (e.g. `transforms`, `cases[0].transforms`),
    /// collecting every error rather than stopping at the first.
    pub fn steps(&self, field: &str, values: &[Value]) -> Result<Steps, ConfigErrors> {
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match self.step(&format!("{}[{i}]", self.join(field)), value) {
                Ok(step) => steps.push(step),
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok(Steps::new(steps))
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn step(&self, base: &str, value: &Value) -> Result<Step, ConfigErrors> {
        let here = self.child(base.to_string(), Kind::Transform);
        let (type_name, mut settings) = split_type(value, &here, Kind::Transform)?;
        let Some(spec) = self.registry.transforms.get(&type_name) else {
            let names: Vec<&str> = self
                .registry
                .transforms
                .keys()
                .map(String::as_str)
                .collect();
            return Err(here.fail(unknown_type("transform", &type_name, &names)));
        };
        let here = self.child(format!("{base} ({type_name})"), Kind::Transform);
        let mut errors = Vec::new();
        let when = match settings.remove("when") {
            Some(c) => match here.condition("when", &c) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.extend(e.0);
                    None
                }
            },
            None => None,
        };
        let name = match settings.remove("name") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                errors.push(here.error("field `name`: expected a string"));
                None
            }
        };
        let transform = (spec.build)(Value::Object(settings), &here);
        match transform {
            Ok(t) if errors.is_empty() => {
                let location = match name {
                    Some(n) => format!("{base} ({type_name} \"{n}\")"),
                    None => here.location.clone(),
                };
                Ok(Step::new(location, type_name, t, when))
            }
            Ok(_) => Err(ConfigErrors(errors)),
            Err(e) => {
                errors.extend(e.0);
                Err(ConfigErrors(errors))
            }
        }
    }

    /// Builds the condition found under `field` (e.g. `when`, `cases[1].when`).
    pub fn condition(
        &self,
        field: &str,
        value: &Value,
    ) -> Result<Box<dyn Condition>, ConfigErrors> {
        let base = self.join(field);
        let here = self.child(base.clone(), Kind::Condition);
        let (type_name, settings) = split_type(value, &here, Kind::Condition)?;
        let Some(spec) = self.registry.conditions.get(&type_name) else {
            let names: Vec<&str> = self
                .registry
                .conditions
                .keys()
                .map(String::as_str)
                .collect();
            return Err(here.fail(unknown_type("condition", &type_name, &names)));
        };
        let here = self.child(format!("{base} ({type_name})"), Kind::Condition);
        (spec.build)(Value::Object(settings), &here)
    }

    /// Builds a store declared under `stores.<name>`.
    pub fn store(&self, name: &str, value: &Value) -> Result<SharedResource, ConfigErrors> {
        let base = format!("stores.{name}");
        let here = self.child(base.clone(), Kind::Store);
        let (type_name, settings) = split_type(value, &here, Kind::Store)?;
        let Some(spec) = self.registry.stores.get(&type_name) else {
            let names: Vec<&str> = self.registry.stores.keys().map(String::as_str).collect();
            return Err(here.fail(unknown_type("store", &type_name, &names)));
        };
        let here = self.child(format!("{base} ({type_name})"), Kind::Store);
        (spec.build)(Value::Object(settings), &here)
    }

    /// Builds each condition of a list (for `all`, `any`, `none`).
    pub fn conditions(
        &self,
        field: &str,
        values: &[Value],
    ) -> Result<Vec<Box<dyn Condition>>, ConfigErrors> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match self.condition(&format!("{field}[{i}]"), v) {
                Ok(c) => out.push(c),
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

fn split_type(
    value: &Value,
    here: &Builder,
    kind: Kind,
) -> Result<(String, Map<String, Value>), ConfigErrors> {
    let what = match kind {
        Kind::Transform => "transform",
        Kind::Condition => "condition",
        Kind::Store => "store",
    };
    let Value::Object(map) = value else {
        return Err(here.fail(format!(
            "expected a {what} object like {{\"type\": \"...\"}}, found {}",
            crate::path::type_name(value)
        )));
    };
    let mut map = map.clone();
    match map.remove("type") {
        Some(Value::String(t)) => Ok((t, map)),
        Some(other) => Err(here.fail(format!(
            "`type` must be a string, found {}",
            crate::path::type_name(&other)
        ))),
        None => Err(here.fail(format!("missing `type`: every {what} names its type"))),
    }
}

fn unknown_type(what: &str, name: &str, known: &[&str]) -> String {
    match closest(name, known) {
        Some(c) => format!("unknown {what} type `{name}` (did you mean `{c}`?)"),
        None => format!("unknown {what} type `{name}`; `sluice list` shows them all"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        assert_eq!(closest("tagret", &["source", "target"]), Some("target"));
        assert_eq!(closest("zzzzzz", &["source", "target"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
