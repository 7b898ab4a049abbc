//! The object family: copy, move, delete, insert and rename fields.
//!
//! These are the bread and butter of normalization. A missing source is not an error (CloudTrail
//! events leave out fields freely): the message passes on unchanged. Use `when` with `exists`, or
//! `utility.err`, to demand a field.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.transform("object.copy", |s: CopySettings, _| Ok(s));
    r.transform("object.move", |s: MoveSettings, _| Ok(s));
    r.transform("object.delete", |s: DeleteSettings, _| Ok(s));
    r.transform("object.insert", |s: InsertSettings, _| Ok(s));
    r.transform("object.rename", |s: RenameSettings, _| {
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
            // Copying the whole data keeps raw text as a string (e.g. into `event.original`).
            let value = match message.is_parsed() {
                true => message.value()?.clone(),
                false => Value::String(
                    String::from_utf8(message.bytes().into_owned())
                        .map_err(|_| TransformError::NotUtf8)?,
                ),
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

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, config};
    use serde_json::json;

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
}
