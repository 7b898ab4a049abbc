//! Bitwise number inspectors, with Substation's semantics: `and`, `or` and `xor` combine the
//! field with a constant and are true when the result is not zero; `not` is true when the
//! field's complement is not zero (the field is not all ones). The usual use is flag fields,
//! such as VPC flow logs' `tcp-flags` (`and` with 2 means SYN is set).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Number, Value};
use sluice_core::path::Root;
use sluice_core::{Condition, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    let ops: [(&str, BitOp); 3] = [
        ("number.bitwise_and", |a, b| a & b),
        ("number.bitwise_or", |a, b| a | b),
        ("number.bitwise_xor", |a, b| a ^ b),
    ];
    for (name, op) in ops {
        r.condition(name, move |s: BitwiseSettings, b| {
            let value = bits_of_number(&s.value).ok_or_else(|| {
                b.fail(format!(
                    "field `value`: {} is not an integer; bitwise tests need a 64-bit integer",
                    s.value
                ))
            })?;
            Ok(Bitwise {
                source: s.source,
                value,
                op,
            })
        });
    }
    r.condition("number.bitwise_not", |s: BitwiseNotSettings, _| Ok(s));
}

type BitOp = fn(u64, u64) -> u64;

/// The 64 bits of an integer: signed values in two's complement, unsigned as they are.
fn bits_of_number(n: &Number) -> Option<u64> {
    n.as_i64().map(|i| i as u64).or_else(|| n.as_u64())
}

/// The bits of a field: a JSON integer, or a string holding a decimal or `0x` hex integer.
/// `None` for anything else (floats, other text, other types).
fn bits_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => bits_of_number(n),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s
                    .parse::<i64>()
                    .map(|i| i as u64)
                    .or_else(|_| s.parse::<u64>())
                    .ok(),
            }
        }
        _ => None,
    }
}

fn read_bits(message: &mut Message, source: &Path) -> Result<Option<u64>, TransformError> {
    if source.is_root() && source.root == Root::Data && !message.is_parsed() {
        // Raw data such as a bare number on a line.
        let text = std::str::from_utf8(&message.bytes())
            .ok()
            .map(str::to_string);
        return Ok(text.and_then(|t| bits_of(&Value::String(t))));
    }
    Ok(message.get(source)?.and_then(bits_of))
}

/// True when `field OP value` is not zero, for the bitwise AND, OR or XOR of the field's integer
/// (a JSON integer, or a string with a decimal or `0x` hex integer) and the constant. `and` asks
/// "is any of these bits set". A field that is absent or not an integer is false.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BitwiseSettings {
    /// The field to test; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// The constant (a 64-bit integer; negative values are two's complement).
    pub value: Number,
}

struct Bitwise {
    source: Path,
    value: u64,
    op: BitOp,
}

impl Condition for Bitwise {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(read_bits(message, &self.source)?.is_some_and(|bits| (self.op)(bits, self.value) != 0))
    }
}

/// True when the bitwise NOT of the field's integer is not zero, i.e. the field is not -1 (all
/// 64 bits set). A field that is absent or not an integer is false.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BitwiseNotSettings {
    /// The field to test; the whole data by default.
    #[serde(default)]
    pub source: Path,
}

impl Condition for BitwiseNotSettings {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(read_bits(message, &self.source)?.is_some_and(|bits| !bits != 0))
    }
}

#[cfg(test)]
mod tests {
    use crate::conditions::network::when_passes as test;
    use crate::testing::{apply_raw, build_error, config};
    use serde_json::{Value, json};

    fn op(ty: &str, field: Value, value: Value) -> bool {
        test(
            json!({"type": format!("number.bitwise_{ty}"), "source": "f", "value": value}),
            json!({ "f": field }),
        )
    }

    #[test]
    fn substation_semantics() {
        // tcp-flags 18 = SYN (2) + ACK (16).
        assert!(op("and", json!(18), json!(2)));
        assert!(!op("and", json!(18), json!(1)));
        assert!(op("and", json!("18"), json!(16)));
        assert!(op("and", json!("0x12"), json!(2)));
        assert!(op("or", json!(0), json!(1)));
        assert!(!op("or", json!(0), json!(0)));
        assert!(op("xor", json!(5), json!(4)));
        assert!(!op("xor", json!(5), json!(5)));
        // Exact 64-bit values, signed and unsigned.
        assert!(op("and", json!(u64::MAX), json!(i64::MIN)));
        assert!(op("and", json!(-1), json!(1u64 << 63)));
        assert!(!op("xor", json!(-1), json!(u64::MAX)));
        // Absent, floats and text are false.
        assert!(!op("and", json!(2.5), json!(2)));
        assert!(!op("and", json!("abc"), json!(2)));
        assert!(!test(
            json!({"type": "number.bitwise_and", "source": "zz", "value": 1}),
            json!({})
        ));
        let not = |v: Value| {
            test(
                json!({"type": "number.bitwise_not", "source": "f"}),
                json!({ "f": v }),
            )
        };
        assert!(not(json!(0)));
        assert!(not(json!(7)));
        assert!(!not(json!(-1)));
        assert!(!not(json!(u64::MAX)));
        assert!(!not(json!(null)));
    }

    #[test]
    fn example_config() {
        crate::network::run_example("conditions.jsonnet");
    }

    #[test]
    fn whole_data_and_bad_config() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "number.bitwise_and", "value": 4});
        assert!(apply_raw(c.clone(), "6").is_empty());
        assert_eq!(apply_raw(c, "3").len(), 1);
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "number.bitwise_and", "value": 1.5});
        assert!(build_error(c).contains("field `value`: 1.5 is not an integer"));
    }
}
