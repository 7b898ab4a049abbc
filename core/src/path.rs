//! Paths: how a config names a field inside a message.
//!
//! `a.b.0.c` walks objects by key and arrays by index; `\.` keeps a dot inside a key; a negative
//! index counts from the end (`-1` is the last element, and appends when setting). The empty path
//! is the whole data. A path that starts with `@meta` addresses the message's metadata instead.
//! Paths are parsed once when the config is built, so the hot path never splits strings.

use serde_json::{Map, Value};
use std::fmt;

/// Which half of a message a path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Data,
    Meta,
}

/// One step of a path: a key, which is also an array index when it is an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub key: String,
    pub index: Option<i64>,
}

/// A parsed path.
#[derive(Clone, PartialEq, Eq)]
pub struct Path {
    pub root: Root,
    pub segments: Vec<Segment>,
    text: String,
}

/// Why a value could not be written at a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot set `{path}`: `{at}` holds {found}, not an object or array")]
pub struct SetError {
    pub path: String,
    pub at: String,
    pub found: &'static str,
}

impl Path {
    /// Parses a path. Any string is a valid path; `\` escapes the next character.
    pub fn parse(text: &str) -> Path {
        let (root, rest) = if text == "@meta" {
            (Root::Meta, "")
        } else if let Some(rest) = text.strip_prefix("@meta.") {
            (Root::Meta, rest)
        } else {
            (Root::Data, text)
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let mut key = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => key.extend(chars.next()),
                    '.' => segments.push(Segment::new(std::mem::take(&mut key))),
                    c => key.push(c),
                }
            }
            segments.push(Segment::new(key));
        }
        Path {
            root,
            segments,
            text: text.to_string(),
        }
    }

    /// The path as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for the empty path: the whole data (or the whole metadata for `@meta`).
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Reads the value at this path below `value` (the root of data or of metadata).
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.segments.iter().try_fold(value, |v, s| s.get(v))
    }

    /// Mutable access to the value at this path, if it exists.
    pub fn get_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        self.segments.iter().try_fold(value, |v, s| s.get_mut(v))
    }

    /// Writes `new` at this path, creating intermediate objects (and turning `null` into one).
    pub fn set(&self, root: &mut Value, new: Value) -> Result<(), SetError> {
        let mut current = root;
        for (depth, segment) in self.segments.iter().enumerate() {
            if current.is_null() {
                // `-1` appends, so a missing list is created for it; anything else makes an object.
                *current = if segment.index == Some(-1) {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
            }
            current = match current {
                Value::Object(map) => {
                    // Look up first so an existing key costs no allocation.
                    if map.contains_key(&segment.key) {
                        map.get_mut(&segment.key).expect("key checked above")
                    } else {
                        map.entry(segment.key.clone()).or_insert(Value::Null)
                    }
                }
                Value::Array(items) => match segment.array_slot(items.len(), true) {
                    Some(i) if i == items.len() => {
                        items.push(Value::Null);
                        &mut items[i]
                    }
                    Some(i) => &mut items[i],
                    None => return Err(self.set_error(depth, "an array without that index")),
                },
                other => return Err(self.set_error(depth, type_name(other))),
            };
        }
        *current = new;
        Ok(())
    }

    /// Removes and returns the value at this path. The root path takes the whole value.
    pub fn delete(&self, root: &mut Value) -> Option<Value> {
        let Some((last, parents)) = self.segments.split_last() else {
            return Some(std::mem::take(root));
        };
        let parent = parents.iter().try_fold(root, |v, s| s.get_mut(v))?;
        match parent {
            Value::Object(map) => map.remove(&last.key),
            Value::Array(items) => {
                let i = last.array_slot(items.len(), false)?;
                Some(items.remove(i))
            }
            _ => None,
        }
    }

    fn set_error(&self, depth: usize, found: &'static str) -> SetError {
        let at = self.segments[..depth.max(1)]
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(".");
        SetError {
            path: self.text.clone(),
            at: if depth == 0 { "(root)".into() } else { at },
            found,
        }
    }
}

impl Segment {
    fn new(key: String) -> Segment {
        let index = key.parse::<i64>().ok();
        Segment { key, index }
    }

    /// The array position this segment names; `append` allows one past the end (and `-1`).
    fn array_slot(&self, len: usize, append: bool) -> Option<usize> {
        let i = self.index?;
        if i >= 0 {
            let i = i as usize;
            (i < len || (append && i == len)).then_some(i)
        } else if append && i == -1 {
            Some(len)
        } else {
            len.checked_sub(i.unsigned_abs() as usize)
        }
    }

    fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        match value {
            Value::Object(map) => map.get(&self.key),
            Value::Array(items) => items.get(self.array_slot(items.len(), false)?),
            _ => None,
        }
    }

    fn get_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        match value {
            Value::Object(map) => map.get_mut(&self.key),
            Value::Array(items) => {
                let i = self.array_slot(items.len(), false)?;
                items.get_mut(i)
            }
            _ => None,
        }
    }
}

/// The JSON type name of a value, for error messages and the `type_of` condition.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({:?})", self.text)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.text.is_empty() {
            "(whole data)"
        } else {
            &self.text
        })
    }
}

impl<'de> serde::Deserialize<'de> for Path {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Path, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Path::parse(&text))
    }
}

impl serde::Serialize for Path {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl schemars::JsonSchema for Path {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Path".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "path"})
    }
    fn inline_schema() -> bool {
        true
    }
}

impl Default for Path {
    fn default() -> Path {
        Path::parse("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn parses_escapes_meta_and_indices() {
        let p = Path::parse(r"a\.b.c.0");
        let keys: Vec<_> = p.segments.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["a.b", "c", "0"]);
        assert_eq!(p.segments[2].index, Some(0));
        assert_eq!(Path::parse("@meta.x").root, Root::Meta);
        assert!(Path::parse("@meta").is_root());
        assert!(Path::parse("").is_root());
    }

    #[test]
    fn gets_through_objects_and_arrays() {
        let v = json!({"a": {"b": [1, {"c": "x"}]}, "k.d": 2});
        assert_eq!(Path::parse("a.b.1.c").get(&v), Some(&json!("x")));
        assert_eq!(Path::parse("a.b.-1.c").get(&v), Some(&json!("x")));
        assert_eq!(Path::parse(r"k\.d").get(&v), Some(&json!(2)));
        assert_eq!(Path::parse("a.b.5").get(&v), None);
        assert_eq!(Path::parse("a.b.1.c.d").get(&v), None);
        assert_eq!(Path::parse("").get(&v), Some(&v));
    }

    #[test]
    fn set_creates_objects_and_appends() {
        let mut v = Value::Null;
        Path::parse("a.b.c").set(&mut v, json!(1)).unwrap();
        Path::parse("a.list").set(&mut v, json!([])).unwrap();
        Path::parse("a.list.-1").set(&mut v, json!("x")).unwrap();
        Path::parse("a.list.1").set(&mut v, json!("y")).unwrap();
        Path::parse("a.new.-1").set(&mut v, json!("z")).unwrap();
        assert_eq!(Path::parse("a.new").get(&v), Some(&json!(["z"])));
        Path::parse("a.new").delete(&mut v);
        assert_eq!(v, json!({"a": {"b": {"c": 1}, "list": ["x", "y"]}}));
        let err = Path::parse("a.b.c.d").set(&mut v, json!(2)).unwrap_err();
        assert_eq!(err.at, "a.b.c");
        assert_eq!(err.found, "number");
    }

    #[test]
    fn delete_removes_keys_and_elements() {
        let mut v = json!({"a": {"b": 1, "c": [1, 2, 3]}});
        assert_eq!(Path::parse("a.b").delete(&mut v), Some(json!(1)));
        assert_eq!(Path::parse("a.c.0").delete(&mut v), Some(json!(1)));
        assert_eq!(Path::parse("a.zz").delete(&mut v), None);
        assert_eq!(v, json!({"a": {"c": [2, 3]}}));
    }

    fn key() -> impl Strategy<Value = String> {
        // Keys with dots (escaped below) and unicode, but not integers: an integer key
        // would address an array slot when the parent is an array.
        "[a-zé.]{1,6}"
    }

    fn escape(k: &str) -> String {
        k.replace('.', r"\.")
    }

    proptest! {
        #[test]
        fn set_then_get_returns_the_value(keys in prop::collection::vec(key(), 1..5), n in any::<i64>()) {
            let text = keys.iter().map(|k| escape(k)).collect::<Vec<_>>().join(".");
            let path = Path::parse(&text);
            let mut v = json!({"other": true});
            path.set(&mut v, json!(n)).unwrap();
            prop_assert_eq!(path.get(&v), Some(&json!(n)));
        }

        #[test]
        fn delete_then_get_returns_nothing(keys in prop::collection::vec(key(), 1..5)) {
            let text = keys.iter().map(|k| escape(k)).collect::<Vec<_>>().join(".");
            let path = Path::parse(&text);
            let mut v = Value::Null;
            path.set(&mut v, json!("x")).unwrap();
            prop_assert_eq!(path.delete(&mut v), Some(json!("x")));
            prop_assert_eq!(path.get(&v), None);
        }
    }
}
