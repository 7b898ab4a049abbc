//! JSON to DynamoDB attribute values and back, for the DynamoDB store, sink and lookups.
//!
//! Numbers travel as DynamoDB's decimal strings, so 64-bit integers survive the round trip.
//! Sets come back as arrays; binary values as base64 text.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(to_item(map)),
    }
}

pub fn to_item(map: &Map<String, Value>) -> HashMap<String, AttributeValue> {
    map.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

fn number(text: &str) -> Value {
    text.parse::<Number>()
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

fn blob(b: &Blob) -> Value {
    use base64::Engine;
    Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
}

pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => from_item(map),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(items.iter().map(|n| number(n)).collect()),
        AttributeValue::B(b) => blob(b),
        AttributeValue::Bs(items) => Value::Array(items.iter().map(blob).collect()),
        _ => Value::Null,
    }
}

pub fn from_item(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json_with_big_integers() {
        let v = json!({"id": 18446744073709551615u64, "n": -9223372036854775807i64, "f": 1.5, "s": "x", "b": true, "z": null, "l": [1, "a"], "m": {"k": "v"}});
        let item = to_item(v.as_object().unwrap());
        assert_eq!(from_item(&item), v);
    }
}
