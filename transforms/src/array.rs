//! The array family: join, zip, flatten, dedupe and measure arrays inside a message.
//!
//! Each reads the array at `source` (the whole data by default) and writes its result to
//! `target` (the source by default). A missing source passes the message unchanged; a value
//! that is not an array is an error naming what was found.

use crate::common::{target_or, wrong_type};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::message::value_text;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

pub fn register(r: &mut Registry) {
    r.map("array.join", |s: JoinSettings, _| Ok(s));
    r.map("array.zip", |s: ZipSettings, _| Ok(s));
    r.map("array.flatten", |s: FlattenSettings, b| {
        if s.depth == 0 {
            return Err(b.fail("field `depth`: must be at least 1"));
        }
        Ok(s)
    });
    r.map("array.dedupe", |s: DedupeSettings, _| Ok(s));
    r.map("array.length", |s: LengthSettings, _| Ok(s));
}

/// Reads the array at `source`, maps it, writes the result to `target`; absent is a no-op.
fn map_array(
    message: &mut Message,
    source: &Path,
    target: &Option<Path>,
    f: impl FnOnce(&[Value]) -> Result<Value, TransformError>,
) -> Result<(), TransformError> {
    let result = match message.get(source)? {
        None => return Ok(()),
        Some(Value::Array(items)) => f(items)?,
        Some(other) => return Err(wrong_type(source, "an array", other)),
    };
    message.set(target_or(target, source), result)
}

/// Join the elements of an array into one string: strings as they are, other values as
/// compact JSON, `null` as an empty string.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JoinSettings {
    /// The array; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the string; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// What goes between elements.
    #[serde(default = "comma")]
    pub separator: String,
}

fn comma() -> String {
    ",".into()
}

impl MapTransform for JoinSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_array(message, &self.source, &self.target, |items| {
            let mut text = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    text.push_str(&self.separator);
                }
                if !item.is_null() {
                    text.push_str(&value_text(item));
                }
            }
            Ok(Value::String(text))
        })
    }
}

/// Transpose an array of arrays: `[[a, b], [1, 2]]` becomes `[[a, 1], [b, 2]]` (parallel
/// arrays, such as CloudTrail resource names and ARNs, into pairs). Shorter arrays are padded
/// with `null` so that positions stay aligned. With `keys`, each group becomes an object:
/// `keys: ["name", "arn"]` gives `[{"name": a, "arn": 1}, ...]`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ZipSettings {
    /// The array of arrays; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Names for the inner arrays, in order; one per inner array.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
}

impl MapTransform for ZipSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_array(message, &self.source, &self.target, |rows| {
            let mut columns: Vec<&[Value]> = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                match row {
                    Value::Array(items) => columns.push(items),
                    other => {
                        return Err(TransformError::invalid(format!(
                            "`{}` element {i} is {}, expected an array (array.zip needs an array of arrays)",
                            self.source,
                            sluice_core::path::type_name(other)
                        )));
                    }
                }
            }
            if let Some(keys) = &self.keys
                && keys.len() != columns.len()
            {
                return Err(TransformError::invalid(format!(
                    "`{}` holds {} arrays but `keys` names {}",
                    self.source,
                    columns.len(),
                    keys.len()
                )));
            }
            let longest = columns.iter().map(|c| c.len()).max().unwrap_or(0);
            let at = |c: &[Value], i: usize| c.get(i).cloned().unwrap_or(Value::Null);
            let groups = (0..longest).map(|i| match &self.keys {
                Some(keys) => Value::Object(
                    keys.iter()
                        .zip(&columns)
                        .map(|(k, c)| (k.clone(), at(c, i)))
                        .collect::<Map<String, Value>>(),
                ),
                None => Value::Array(columns.iter().map(|c| at(c, i)).collect()),
            });
            Ok(Value::Array(groups.collect()))
        })
    }
}

/// Flatten nested arrays: `[[1, [2]], 3]` becomes `[1, [2], 3]` with the default depth of 1,
/// and `[1, 2, 3]` with `depth: 2`. Elements that are not arrays stay as they are.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FlattenSettings {
    /// The array; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// How many levels of nesting to remove.
    #[serde(default = "one")]
    pub depth: u32,
}

fn one() -> u32 {
    1
}

fn flatten_into(items: &[Value], depth: u32, out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(inner) if depth > 0 => flatten_into(inner, depth - 1, out),
            other => out.push(other.clone()),
        }
    }
}

impl MapTransform for FlattenSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_array(message, &self.source, &self.target, |items| {
            let mut out = Vec::with_capacity(items.len());
            flatten_into(items, self.depth, &mut out);
            Ok(Value::Array(out))
        })
    }
}

/// Remove repeated elements, keeping the first of each in its place. Elements are compared as
/// JSON values (objects equal whatever their key order; `1` and `1.0` differ).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DedupeSettings {
    /// The array; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

/// Hashes a JSON value so that equal values (in `Value`'s sense) hash equally.
fn hash_value(value: &Value, h: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            items.iter().for_each(|v| hash_value(v, h));
        }
        Value::Object(map) => {
            // Sorted keys, so that key order never matters whatever map type serde_json uses.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(k, _)| *k);
            (5u8, entries.len()).hash(h);
            for (k, v) in entries {
                k.hash(h);
                hash_value(v, h);
            }
        }
    }
}

/// The first occurrence of each distinct value, in order.
pub fn dedupe(items: &[Value]) -> Vec<Value> {
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::with_capacity(items.len());
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hash_value(item, &mut h);
        let slots = seen.entry(h.finish()).or_default();
        if slots.iter().any(|&i| out[i] == *item) {
            continue;
        }
        slots.push(out.len());
        out.push(item.clone());
    }
    out
}

impl MapTransform for DedupeSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_array(message, &self.source, &self.target, |items| {
            Ok(Value::Array(dedupe(items)))
        })
    }
}

/// The number of elements of an array, as a number.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LengthSettings {
    /// The array; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the length; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

impl MapTransform for LengthSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_array(message, &self.source, &self.target, |items| {
            Ok(Value::from(items.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::dedupe;
    use crate::testing::{apply, apply_err, build_error, config};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    #[test]
    fn example_config_passes() {
        crate::aggregate::tests::check_example("array");
    }

    fn one(type_name: &str, settings: Value, input: Value) -> Value {
        let out = apply(config(type_name, settings), &input);
        assert_eq!(out.len(), 1);
        out.into_iter().next().unwrap()
    }

    #[test]
    fn join() {
        let s = json!({"source": "a", "target": "j", "separator": " | "});
        assert_eq!(
            one(
                "array.join",
                s.clone(),
                json!({"a": ["x", 1, null, {"k": "é"}, true]})
            ),
            json!({"a": ["x", 1, null, {"k": "é"}, true], "j": "x | 1 |  | {\"k\":\"é\"} | true"})
        );
        assert_eq!(
            one("array.join", json!({}), json!(["a", "b"])),
            json!("a,b")
        );
        assert_eq!(
            one("array.join", s, json!({"a": []})),
            json!({"a": [], "j": ""})
        );
    }

    #[test]
    fn zip() {
        assert_eq!(
            one("array.zip", json!({}), json!([["a", "b", "c"], [1, 2, 3]])),
            json!([["a", 1], ["b", 2], ["c", 3]])
        );
        // Shorter arrays are padded so positions stay aligned.
        assert_eq!(
            one("array.zip", json!({}), json!([["a", "b"], [1]])),
            json!([["a", 1], ["b", null]])
        );
        assert_eq!(
            one(
                "array.zip",
                json!({"source": "r", "target": "resources", "keys": ["name", "arn"]}),
                json!({"r": [["b1", "b2"], ["arn:aws:s3:::b1", "arn:aws:s3:::b2"]]})
            ),
            json!({
                "r": [["b1", "b2"], ["arn:aws:s3:::b1", "arn:aws:s3:::b2"]],
                "resources": [
                    {"name": "b1", "arn": "arn:aws:s3:::b1"},
                    {"name": "b2", "arn": "arn:aws:s3:::b2"}
                ]
            })
        );
        assert_eq!(one("array.zip", json!({}), json!([])), json!([]));
        let err = apply_err(
            config("array.zip", json!({"source": "a"})),
            &json!({"a": [[1], 2]}),
        );
        assert_eq!(
            err,
            "`a` element 1 is number, expected an array (array.zip needs an array of arrays)"
        );
        let err = apply_err(
            config("array.zip", json!({"keys": ["x"]})),
            &json!([[1], [2]]),
        );
        assert!(err.contains("holds 2 arrays but `keys` names 1"), "{err}");
    }

    #[test]
    fn flatten() {
        let input = json!([[1, [2, [3]]], 4, []]);
        assert_eq!(
            one("array.flatten", json!({}), input.clone()),
            json!([1, [2, [3]], 4])
        );
        assert_eq!(
            one("array.flatten", json!({"depth": 5}), input),
            json!([1, 2, 3, 4])
        );
        let err = build_error(config("array.flatten", json!({"depth": 0})));
        assert!(err.contains("field `depth`: must be at least 1"), "{err}");
    }

    #[test]
    fn dedupe_keeps_first_occurrences() {
        assert_eq!(
            one(
                "array.dedupe",
                json!({"source": "ips"}),
                json!({"ips": ["10.0.0.1", "10.0.0.2", "10.0.0.1", {"a": 1, "b": 2}, {"b": 2, "a": 1}, 1, 1.0]})
            ),
            json!({"ips": ["10.0.0.1", "10.0.0.2", {"a": 1, "b": 2}, 1, 1.0]})
        );
    }

    #[test]
    fn length() {
        assert_eq!(
            one(
                "array.length",
                json!({"source": "a", "target": "n"}),
                json!({"a": [1, 2, "ü"]})
            ),
            json!({"a": [1, 2, "ü"], "n": 3})
        );
        assert_eq!(one("array.length", json!({}), json!([])), json!(0));
    }

    #[test]
    fn missing_source_passes_and_wrong_type_fails() {
        for t in [
            "array.join",
            "array.zip",
            "array.flatten",
            "array.dedupe",
            "array.length",
        ] {
            let c = config(t, json!({"source": "a"}));
            assert_eq!(
                apply(c.clone(), &json!({"b": 1})),
                vec![json!({"b": 1})],
                "{t}"
            );
            let err = apply_err(c, &json!({"a": "x"}));
            assert_eq!(err, "`a` is string, expected an array", "{t}");
        }
        let err = crate::testing::apply_raw_err(config("array.length", json!({})), "not json");
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn when_limits_the_transform() {
        let mut c = config("array.length", json!({"source": "a"}));
        c["transforms"][0]["when"] = json!({"type": "exists", "source": "count_me"});
        assert_eq!(
            apply(c.clone(), &json!({"a": [1]})),
            vec![json!({"a": [1]})]
        );
        assert_eq!(
            apply(c, &json!({"a": [1], "count_me": true})),
            vec![json!({"a": 1, "count_me": true})]
        );
    }

    fn small() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0i64..4).prop_map(Value::from),
            "[ab]".prop_map(Value::from),
            Just(json!({"k": [1]})),
            Just(Value::Null),
        ]
    }

    proptest! {
        #[test]
        fn dedupe_is_idempotent_and_keeps_every_distinct_value(
            items in prop::collection::vec(small(), 0..20),
        ) {
            let once = dedupe(&items);
            prop_assert_eq!(dedupe(&once), once.clone());
            for item in &items {
                prop_assert_eq!(once.iter().filter(|v| *v == item).count(), 1);
            }
        }

        #[test]
        fn zip_twice_is_identity_on_rectangles(
            rows in 1usize..5,
            cols in 1usize..5,
            seed in any::<u32>(),
        ) {
            let m: Vec<Value> = (0..rows)
                .map(|r| Value::Array((0..cols).map(|c| json!(seed as usize + r * 10 + c)).collect()))
                .collect();
            let once = one("array.zip", json!({}), Value::Array(m.clone()));
            prop_assert_eq!(one("array.zip", json!({}), once), Value::Array(m));
        }

        #[test]
        fn flatten_keeps_the_leaves(items in prop::collection::vec(small(), 0..10), split in 0usize..10) {
            let split = split.min(items.len());
            let nested = json!([items[..split], [items[split..]]]);
            let flat = one("array.flatten", json!({"depth": 3}), nested);
            prop_assert_eq!(flat, Value::Array(items));
        }
    }
}
