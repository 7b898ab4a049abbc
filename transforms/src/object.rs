//! The object family: copy, move, delete, insert and rename fields; flatten and deep-merge
//! objects. Type conversions live in `object_convert`, jq and JSONPath in `object_query`.
//!
//! These are the bread and butter of normalization. A missing source is not an error (CloudTrail
//! events leave out fields freely): the message passes on unchanged. Use `when` with `exists`, or
//! `utility.err`, to demand a field.
//!
//! `object.flatten` turns `{"a": {"b": 1}}` into `{"a.b": 1}`. A key that itself contains the
//! separator, or a backslash, is escaped with a backslash (`{"a": {"b.c": 1}}` gives
//! `{"a.b\.c": 1}`), so with the default `.` separator every flattened key is the path of its
//! leaf in the original object, and flattening never merges two leaves into one key. Arrays and
//! empty objects are leaves (kept whole), so no value is lost. (A top-level key that is empty or
//! starts with `@meta` cannot be read back as a path, since those spell the root and metadata.)

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("object.copy", |s: CopySettings, _| Ok(s));
    r.map("object.move", |s: MoveSettings, _| Ok(s));
    r.map("object.delete", |s: DeleteSettings, _| Ok(s));
    r.map("object.insert", |s: InsertSettings, _| Ok(s));
    r.map("object.flatten", |s: FlattenSettings, b| {
        if s.separator.is_empty() {
            return Err(b.fail("field `separator`: must not be empty"));
        }
        Ok(s)
    });
    r.map("object.merge", |s: MergeSettings, b| {
        match (&s.source, &s.value) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(b.fail("give exactly one of `source` and `value`"));
            }
            (None, Some(v)) if !v.is_object() => {
                return Err(b.fail(format!(
                    "field `value`: must be an object to merge, found {}",
                    sluice_core::path::type_name(v)
                )));
            }
            _ => {}
        }
        Ok(s)
    });
    crate::object_convert::register(r);
    crate::object_query::register(r);
    crate::object_template::register(r);
    r.map("object.rename", |s: RenameSettings, _| {
        Ok(Rename {
            pairs: s
                .fields
                .iter()
                .map(|(from, to)| (Path::parse(from), Path::parse(to)))
                .collect(),
        })
    });
}

/// Copy the value at `source` to `target`, leaving the source in place.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CopySettings {
    /// Where to read; the empty path is the whole data.
    #[serde(default)]
    pub source: Path,
    /// Where to write; the empty path replaces the whole data.
    #[serde(default)]
    pub target: Path,
}

impl MapTransform for CopySettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        if self.source.is_root() && self.source.root == sluice_core::path::Root::Data {
            // Copying the whole data keeps the text it arrived as (e.g. into `event.original`),
            // even after parsing, as long as nothing has changed it since.
            let value = match message.raw() {
                Some(raw) => Value::String(
                    String::from_utf8(raw.to_vec()).map_err(|_| TransformError::NotUtf8)?,
                ),
                None => message.value()?.clone(),
            };
            return message.set(&self.target, value);
        }
        match message.get(&self.source)? {
            Some(v) => {
                let v = v.clone();
                message.set(&self.target, v)
            }
            None => Ok(()),
        }
    }
}

/// Move the value at `source` to `target`: copy, then delete the source.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MoveSettings {
    /// Where to read (and then remove).
    pub source: Path,
    /// Where to write.
    pub target: Path,
}

impl MapTransform for MoveSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        match message.delete(&self.source)? {
            Some(v) => message.set(&self.target, v),
            None => Ok(()),
        }
    }
}

/// Delete the value at `source` (or at each of `sources`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteSettings {
    /// The field to delete.
    #[serde(default)]
    pub source: Option<Path>,
    /// Several fields to delete.
    #[serde(default)]
    pub sources: Vec<Path>,
}

impl MapTransform for DeleteSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        for path in self.source.iter().chain(&self.sources) {
            if path.is_root() {
                return Err(TransformError::invalid(
                    "object.delete cannot delete the whole data; use utility.drop",
                ));
            }
            message.delete(path)?;
        }
        Ok(())
    }
}

/// Insert a constant value at `target`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct InsertSettings {
    /// Where to write.
    pub target: Path,
    /// The value: any JSON.
    pub value: Value,
}

impl MapTransform for InsertSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        message.set(&self.target, self.value.clone())
    }
}

/// Move many fields at once: each key of `fields` is a source path, its value the target path.
/// Sources that are absent are skipped. Faster and easier to read than a chain of moves.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RenameSettings {
    /// `{"source.path": "target.path", ...}`, applied in key order.
    pub fields: std::collections::BTreeMap<String, String>,
}

struct Rename {
    pairs: Vec<(Path, Path)>,
}

impl MapTransform for Rename {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        for (from, to) in &self.pairs {
            if let Some(v) = message.delete(from)? {
                message.set(to, v)?;
            }
        }
        Ok(())
    }
}

/// Flatten a nested object into one level of joined keys: `{"a": {"b": 1}}` becomes
/// `{"a.b": 1}`. Keys containing the separator or a backslash are escaped with a backslash, so
/// (with the default `.`) each key is the path of its leaf. Arrays and empty objects are kept
/// whole as leaves.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FlattenSettings {
    /// The object to flatten; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the flat object; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// What joins the keys of nested objects.
    #[serde(default = "dot")]
    pub separator: String,
}

fn dot() -> String {
    ".".into()
}

/// Flattens `value` into `out`, prefixing keys with `prefix` (already escaped).
pub fn flatten_into(
    value: &Map<String, Value>,
    prefix: &str,
    separator: &str,
    out: &mut Map<String, Value>,
) {
    for (key, v) in value {
        let mut escaped = String::with_capacity(prefix.len() + separator.len() + key.len());
        if !prefix.is_empty() {
            escaped.push_str(prefix);
            escaped.push_str(separator);
        }
        escape_key(key, separator, &mut escaped);
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                flatten_into(inner, &escaped, separator, out)
            }
            leaf => {
                out.insert(escaped, leaf.clone());
            }
        }
    }
}

/// Appends `key` with each backslash and each occurrence of `separator` escaped by a backslash.
fn escape_key(key: &str, separator: &str, out: &mut String) {
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(separator) {
            out.push('\\');
            out.push_str(separator);
            rest = after;
        } else {
            let c = rest.chars().next().expect("not empty");
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
}

impl MapTransform for FlattenSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let flat = match message.get(&self.source)? {
            None => return Ok(()),
            Some(Value::Object(map)) => {
                let mut out = Map::new();
                flatten_into(map, "", &self.separator, &mut out);
                out
            }
            Some(other) => return Err(crate::common::wrong_type(&self.source, "an object", other)),
        };
        message.set(
            crate::common::target_or(&self.target, &self.source),
            Value::Object(flat),
        )
    }
}

/// Deep-merge an object into the object at `target` (the whole data by default): the object at
/// `source`, or the constant `value`. Nested objects merge key by key; anything else (arrays
/// included) replaces what the target had. A missing target is created.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MergeSettings {
    /// Where the object to merge is read.
    #[serde(default)]
    pub source: Option<Path>,
    /// A constant object to merge, instead of `source`.
    #[serde(default)]
    pub value: Option<Value>,
    /// The object to merge into; the whole data by default.
    #[serde(default)]
    pub target: Path,
}

/// Merges `incoming` into `into`: objects key by key, recursively; other values replace.
pub fn deep_merge(into: &mut Value, incoming: Value) {
    match (into, incoming) {
        (Value::Object(existing), Value::Object(incoming)) => {
            for (k, v) in incoming {
                match existing.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        existing.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

impl MapTransform for MergeSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let incoming = match (&self.source, &self.value) {
            (Some(source), _) => match message.get(source)? {
                None => return Ok(()),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(other) => return Err(crate::common::wrong_type(source, "an object", other)),
            },
            (None, Some(v)) => v.clone(),
            (None, None) => return Ok(()),
        };
        if self.target.root == sluice_core::path::Root::Data {
            let root = message.value_mut()?;
            match self.target.get_mut(root) {
                Some(existing @ Value::Object(_)) => {
                    deep_merge(existing, incoming);
                    return Ok(());
                }
                Some(slot @ Value::Null) => {
                    *slot = incoming;
                    return Ok(());
                }
                Some(other) => {
                    return Err(crate::common::wrong_type(
                        &self.target,
                        "an object to merge into",
                        other,
                    ));
                }
                None => return message.set(&self.target, incoming),
            }
        }
        // Metadata: take the object out, merge, put it back.
        match message.get(&self.target)? {
            None | Some(Value::Null) => message.set(&self.target, incoming),
            Some(Value::Object(_)) => {
                let mut existing = message.delete(&self.target)?.unwrap_or_default();
                deep_merge(&mut existing, incoming);
                message.set(&self.target, existing)
            }
            Some(other) => Err(crate::common::wrong_type(
                &self.target,
                "an object to merge into",
                other,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, config};
    use serde_json::json;
    use sluice_core::Path;

    #[test]
    fn copy_move_delete_insert_rename() {
        let input = json!({"a": {"b": 1}, "c": "x", "d": [1, 2]});
        assert_eq!(
            apply(
                config("object.copy", json!({"source": "a.b", "target": "z.y"})),
                &input
            ),
            vec![json!({"a": {"b": 1}, "c": "x", "d": [1, 2], "z": {"y": 1}})]
        );
        assert_eq!(
            apply(
                config("object.move", json!({"source": "c", "target": "e.c"})),
                &input
            ),
            vec![json!({"a": {"b": 1}, "d": [1, 2], "e": {"c": "x"}})]
        );
        assert_eq!(
            apply(
                config("object.delete", json!({"sources": ["a", "d.0"]})),
                &input
            ),
            vec![json!({"c": "x", "d": [2]})]
        );
        assert_eq!(
            apply(
                config("object.insert", json!({"target": "k", "value": {"n": 1}})),
                &input
            ),
            vec![json!({"a": {"b": 1}, "c": "x", "d": [1, 2], "k": {"n": 1}})]
        );
        assert_eq!(
            apply(
                config(
                    "object.rename",
                    json!({"fields": {"c": "event.action", "a.b": "n"}})
                ),
                &input
            ),
            vec![json!({"a": {}, "d": [1, 2], "event": {"action": "x"}, "n": 1})]
        );
    }

    #[test]
    fn missing_source_passes_unchanged() {
        let input = json!({"a": 1});
        for (t, s) in [
            ("object.copy", json!({"source": "zz", "target": "y"})),
            ("object.move", json!({"source": "zz", "target": "y"})),
            ("object.delete", json!({"source": "zz"})),
        ] {
            assert_eq!(apply(config(t, s), &input), vec![input.clone()]);
        }
    }

    #[test]
    fn copy_of_raw_whole_data_is_a_string() {
        use sluice_core::{MapTransform, Message, Path};
        let copy = super::CopySettings {
            source: Path::default(),
            target: Path::parse("@meta.original"),
        };
        let mut m = Message::new("plain text");
        copy.map(&mut m).unwrap();
        assert_eq!(m.meta()["original"], json!("plain text"));
    }

    #[test]
    fn bad_input_is_an_error() {
        // Writing below a string, and any path into data that is not JSON.
        let err = apply_err(
            config("object.copy", json!({"source": "a", "target": "a.b"})),
            &json!({"a": "x"}),
        );
        assert!(err.contains("cannot set `a.b`"), "{err}");
        let err = crate::testing::apply_raw_err(
            config("object.move", json!({"source": "a", "target": "b"})),
            "not json",
        );
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn unicode_keys_and_values() {
        let input = json!({"clé": "Ünïcødé ✓"});
        assert_eq!(
            apply(
                config("object.move", json!({"source": "clé", "target": "値"})),
                &input
            ),
            vec![json!({"値": "Ünïcødé ✓"})]
        );
    }

    #[test]
    fn flatten_with_escapes() {
        let input = json!({"requestParameters": {"bucketName": "logs", "Host": "s3.amazonaws.com", "filter": {"a.b": 1, "c\\d": [1, 2], "e": {}}}});
        let out = apply(
            config(
                "object.flatten",
                json!({"source": "requestParameters", "target": "flat"}),
            ),
            &input,
        )
        .remove(0);
        assert_eq!(
            out["flat"],
            json!({"bucketName": "logs", "Host": "s3.amazonaws.com", "filter.a\\.b": 1, "filter.c\\\\d": [1, 2], "filter.e": {}})
        );
        // Each flat key is the path of its leaf.
        for (k, v) in out["flat"].as_object().unwrap() {
            assert_eq!(
                Path::parse(k).get(&input["requestParameters"]),
                Some(v),
                "{k}"
            );
        }
        assert_eq!(
            apply(
                config("object.flatten", json!({"separator": "_"})),
                &json!({"a": {"b_c": {"d": "ü"}}})
            ),
            vec![json!({"a_b\\_c_d": "ü"})]
        );
        let e = apply_err(
            config("object.flatten", json!({"source": "a"})),
            &json!({"a": [1]}),
        );
        assert!(e.contains("`a` is array, expected an object"), "{e}");
        assert_eq!(
            apply(
                config("object.flatten", json!({"source": "zz"})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        assert_eq!(
            apply(config("object.flatten", json!({})), &json!({})),
            vec![json!({})]
        );
        let e = crate::testing::build_error(config("object.flatten", json!({"separator": ""})));
        assert!(e.contains("field `separator`: must not be empty"), "{e}");
    }

    #[test]
    fn merge_deep() {
        let input = json!({"user": {"name": "alice", "roles": ["a"], "ids": {"uid": 1}}, "extra": {"user": {"roles": ["b"], "ids": {"gid": 2}}}});
        assert_eq!(
            apply(config("object.merge", json!({"source": "extra"})), &input)[0]["user"],
            json!({"name": "alice", "roles": ["b"], "ids": {"uid": 1, "gid": 2}})
        );
        assert_eq!(
            apply(
                config(
                    "object.merge",
                    json!({"value": {"ecs": {"version": "8.11"}}, "target": "x"})
                ),
                &json!({"x": {"a": 1}})
            ),
            vec![json!({"x": {"a": 1, "ecs": {"version": "8.11"}}})]
        );
        // Missing target is created, missing source passes, metadata works.
        assert_eq!(
            apply(
                config("object.merge", json!({"value": {"b": 1}, "target": "n.m"})),
                &json!({})
            ),
            vec![json!({"n": {"m": {"b": 1}}})]
        );
        assert_eq!(
            apply(
                config("object.merge", json!({"source": "zz"})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        let mut c = config(
            "object.merge",
            json!({"value": {"k": {"v": 1}}, "target": "@meta"}),
        );
        c["transforms"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "object.merge", "value": {"k": {"w": 2}}, "target": "@meta"}));
        c["transforms"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "object.copy", "source": "@meta.k", "target": "k"}));
        assert_eq!(apply(c, &json!({})), vec![json!({"k": {"v": 1, "w": 2}})]);
        let e = apply_err(
            config("object.merge", json!({"source": "a", "target": "b"})),
            &json!({"a": {"x": 1}, "b": "s"}),
        );
        assert!(
            e.contains("`b` is string, expected an object to merge into"),
            "{e}"
        );
        let e = apply_err(
            config("object.merge", json!({"source": "a"})),
            &json!({"a": 5}),
        );
        assert!(e.contains("`a` is number, expected an object"), "{e}");
        let e = crate::testing::build_error(config("object.merge", json!({"value": [1]})));
        assert!(e.contains("field `value`: must be an object"), "{e}");
        let e = crate::testing::build_error(config("object.merge", json!({})));
        assert!(e.contains("exactly one of `source` and `value`"), "{e}");
    }

    use proptest::prelude::*;

    fn json_tree() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(json!(null)),
            any::<bool>().prop_map(|b| json!(b)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            "[a-z.\\\\é ]{0,4}".prop_map(|s| json!(s)),
            Just(json!([1, "x"])),
            Just(json!({})),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop::collection::btree_map("[a-z0-9.\\\\é]{1,4}", inner, 1..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
        })
    }

    fn leaves(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => m.values().map(leaves).sum(),
            _ => 1,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Flattening keeps every leaf: one key per leaf, and each key is the leaf's path.
        #[test]
        fn flatten_keeps_every_leaf(top in prop::collection::btree_map("[a-z0-9.\\\\é]{1,4}", json_tree(), 0..5)) {
            let tree = serde_json::Value::Object(top.into_iter().collect());
            let input = json!({"t": tree});
            let out = apply(config("object.flatten", json!({"source": "t", "target": "f"})), &input).remove(0);
            match &input["t"] {
                serde_json::Value::Object(m) if !m.is_empty() => {
                    let flat = out["f"].as_object().unwrap();
                    prop_assert_eq!(flat.len(), leaves(&input["t"]));
                    for (k, v) in flat {
                        prop_assert_eq!(Path::parse(k).get(&input["t"]), Some(v));
                    }
                }
                _ => prop_assert_eq!(&out["f"], &json!({})),
            }
        }

        /// Copying a field somewhere new and deleting the copy gives the original back.
        #[test]
        fn copy_then_delete_restores(tree in json_tree(), key in "[a-z]{1,3}") {
            let input = json!({"orig": tree, "keep": u64::MAX});
            let target = format!("copy_{key}");
            let mut c = config("object.copy", json!({"source": "orig", "target": target}));
            c["transforms"].as_array_mut().unwrap().push(json!({"type": "object.delete", "source": target}));
            prop_assert_eq!(apply(c, &input), vec![input.clone()]);
        }
    }
}
