//! Length inspectors: compare the length of a string (in bytes or characters) or of an array
//! with a constant.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::path::Root;
use sluice_core::{Condition, Message, Path, Registry, TransformError};
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    let ops: [(&str, Ordering); 3] = [
        ("number.length_eq", Ordering::Equal),
        ("number.length_lt", Ordering::Less),
        ("number.length_gt", Ordering::Greater),
    ];
    for (name, wanted) in ops {
        r.condition(name, move |s: LengthSettings, _| Ok(Length { s, wanted }));
    }
}

/// What a string's length counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    /// UTF-8 bytes.
    #[default]
    Byte,
    /// Unicode characters (code points).
    Char,
}

/// Compare a length with `value`: `number.length_eq`, `_lt` (shorter than) or `_gt` (longer
/// than). An array's length is its number of elements; a string's is its bytes or characters
/// (`measurement`); any other value is measured as its compact JSON text, and the whole raw
/// data as its bytes (or characters). An absent field is false.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LengthSettings {
    /// The field to measure; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// The length to compare with.
    pub value: u64,
    /// `byte` (default) or `char`.
    #[serde(default)]
    pub measurement: Measurement,
}

struct Length {
    s: LengthSettings,
    wanted: Ordering,
}

fn measure(text: &[u8], m: Measurement) -> usize {
    match m {
        Measurement::Byte => text.len(),
        Measurement::Char => String::from_utf8_lossy(text).chars().count(),
    }
}

impl Length {
    fn length(&self, message: &mut Message) -> Result<Option<usize>, TransformError> {
        let source = &self.s.source;
        let m = self.s.measurement;
        if source.is_root() && source.root == Root::Data && !message.is_parsed() {
            return Ok(Some(measure(&message.bytes(), m)));
        }
        Ok(match message.get(source)? {
            None => None,
            Some(Value::Array(items)) => Some(items.len()),
            Some(Value::String(s)) => Some(measure(s.as_bytes(), m)),
            Some(other) => Some(measure(other.to_string().as_bytes(), m)),
        })
    }
}

impl Condition for Length {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(self
            .length(message)?
            .is_some_and(|n| (n as u64).cmp(&self.s.value) == self.wanted))
    }
}

#[cfg(test)]
mod tests {
    use crate::conditions::network::when_passes as test;
    use crate::testing::{apply_raw, build_error, config};
    use serde_json::{Value, json};

    fn len(ty: &str, field: Value, value: u64, measurement: Option<&str>) -> bool {
        let mut when =
            json!({"type": format!("number.length_{ty}"), "source": "f", "value": value});
        if let Some(m) = measurement {
            when["measurement"] = json!(m);
        }
        test(when, json!({ "f": field }))
    }

    #[test]
    fn strings_arrays_and_others() {
        assert!(len("eq", json!("abc"), 3, None));
        assert!(len("eq", json!("héllo"), 6, None));
        assert!(len("eq", json!("héllo"), 5, Some("char")));
        assert!(len("eq", json!("日本"), 2, Some("char")));
        assert!(len("lt", json!("日本"), 7, Some("byte")));
        assert!(len("gt", json!("abcd"), 3, None));
        assert!(!len("gt", json!("abc"), 3, None));
        assert!(len("eq", json!([]), 0, None));
        assert!(len("eq", json!([1, "two", [3]]), 3, None));
        assert!(len("eq", json!(""), 0, Some("char")));
        assert!(len("eq", json!(12345), 5, None));
        assert!(len("eq", json!({"a": 1}), 7, None));
        assert!(!test(
            json!({"type": "number.length_eq", "source": "zz", "value": 0}),
            json!({})
        ));
    }

    #[test]
    fn whole_data_and_bad_config() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] =
            json!({"type": "number.length_gt", "value": 5, "measurement": "char"});
        assert!(apply_raw(c.clone(), "ééééééé").is_empty());
        assert_eq!(apply_raw(c, "éé").len(), 1);
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] =
            json!({"type": "number.length_eq", "value": 1, "measurement": "rune"});
        assert!(build_error(c).contains("unknown variant `rune`"));
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "number.length_eq", "value": -1});
        assert!(build_error(c).contains("field `value`"));
    }
}
