//! The format family: encodings of data and fields (JSON text now; base64, gzip, zstd and zip
//! in the catalogue issue).

use crate::common::target_or;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.transform("format.json", |s: FormatJsonSettings, _| Ok(s));
}

/// Serialize a value to JSON text: the whole data by default, or a field into a string field.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FormatJsonSettings {
    /// What to serialize; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the text; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Indent the output.
    #[serde(default)]
    pub pretty: bool,
}

impl MapTransform for FormatJsonSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let text = if self.pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        }
        .map_err(TransformError::invalid)?;
        let target = target_or(&self.target, &self.source);
        if target.is_root() {
            message.set_bytes(text);
            Ok(())
        } else {
            message.set(target, Value::String(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_raw_err, config};
    use serde_json::json;

    #[test]
    fn formats_fields_and_whole_data() {
        assert_eq!(
            apply(
                config("format.json", json!({"source": "a", "target": "t"})),
                &json!({"a": {"b": [1]}})
            ),
            vec![json!({"a": {"b": [1]}, "t": "{\"b\":[1]}"})]
        );
        assert_eq!(
            apply(
                config("format.json", json!({"pretty": true})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
    }

    #[test]
    fn not_json_data_is_an_error() {
        assert!(apply_raw_err(config("format.json", json!({})), "abc").contains("not valid JSON"));
    }
}
