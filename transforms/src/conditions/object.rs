//! Field inspectors: `exists` and `type_of`.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::path::type_name;
use sluice_core::{Condition, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.condition("exists", |s: ExistsSettings, _| Ok(s));
    r.condition("type_of", |s: TypeOfSettings, _| Ok(s));
}

/// True when the field is present (even when it is `null`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExistsSettings {
    /// The field to look for.
    pub source: Path,
}

impl Condition for ExistsSettings {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(message.get(&self.source)?.is_some())
    }
}

/// The JSON types `type_of` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

/// True when the field holds a value of this JSON type.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TypeOfSettings {
    /// The field to test.
    pub source: Path,
    /// `null`, `boolean`, `number`, `string`, `array` or `object`.
    pub value: JsonType,
}

impl Condition for TypeOfSettings {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        let wanted = match self.value {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        };
        Ok(message
            .get(&self.source)?
            .is_some_and(|v| type_name(v) == wanted))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, build_error, config};
    use serde_json::{Value, json};

    fn test(when: Value, input: Value) -> bool {
        let mut c = config("object.insert", json!({"target": "hit", "value": true}));
        c["transforms"][0]["when"] = when;
        apply(c, &input)[0].get("hit").is_some()
    }

    #[test]
    fn exists_and_type() {
        let input = json!({"a": null, "b": [1], "c": {"d": "x"}});
        assert!(test(
            json!({"type": "exists", "source": "a"}),
            input.clone()
        ));
        assert!(test(
            json!({"type": "exists", "source": "c.d"}),
            input.clone()
        ));
        assert!(!test(
            json!({"type": "exists", "source": "c.e"}),
            input.clone()
        ));
        assert!(test(
            json!({"type": "type_of", "source": "b", "value": "array"}),
            input.clone()
        ));
        assert!(test(
            json!({"type": "type_of", "source": "c.d", "value": "string"}),
            input.clone()
        ));
        assert!(!test(
            json!({"type": "type_of", "source": "a", "value": "string"}),
            input
        ));
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "type_of", "source": "a", "value": "str"});
        assert!(build_error(c).contains("field `value`: unknown variant `str`"));
    }
}
