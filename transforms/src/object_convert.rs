//! Object conversions: change the JSON type of a field (or of the whole data) to a boolean, a
//! float, a signed or unsigned 64-bit integer, or a string.
//!
//! Logs carry numbers and flags as text (`"443"`, `"true"`, `"yes"`), and ECS wants them typed.
//! Conversions are exact where the target type allows: `"18446744073709551615"` becomes that
//! unsigned integer, never a float. A value that cannot be converted (out of range, not a number,
//! not a recognised boolean word) is an error that quotes the value; an absent source passes the
//! message unchanged.
//!
//! Floats become integers by truncation toward zero (`2.9` → `2`, `-2.9` → `-2`), as in Go,
//! Vector and Substation; booleans become `1`/`0`.

use crate::common::target_or;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Number, Value};
use sluice_core::path::type_name;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    macro_rules! convert {
        ($name:literal, $settings:ty, $to:expr) => {
            r.map($name, |s: $settings, _| {
                Ok(Convert {
                    source: s.source,
                    target: s.target,
                    to: $to,
                })
            });
        };
    }
    convert!("object.to_boolean", ToBooleanSettings, To::Boolean);
    convert!("object.to_float", ToFloatSettings, To::Float);
    convert!("object.to_integer", ToIntegerSettings, To::Integer);
    convert!(
        "object.to_unsigned_integer",
        ToUnsignedIntegerSettings,
        To::Unsigned
    );
    convert!("object.to_string", ToStringSettings, To::String);
}

macro_rules! convert_settings {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Deserialize, JsonSchema)]
        pub struct $name {
            /// The value to convert; the whole data by default.
            #[serde(default)]
            pub source: Path,
            /// Where to write the result; defaults to the source.
            #[serde(default)]
            pub target: Option<Path>,
        }
    };
}

convert_settings!(
    ToBooleanSettings,
    "Convert to a boolean: the strings true/false, 1/0 and yes/no (any case, surrounding spaces ignored), and numbers (non-zero is true). Anything else is an error."
);
convert_settings!(
    ToFloatSettings,
    "Convert to a float: numbers, numeric strings (`\"1.5\"`, `\"1e3\"`) and booleans (1/0). NaN and infinities are errors."
);
convert_settings!(
    ToIntegerSettings,
    "Convert to a signed 64-bit integer: integers, numeric strings (exact), floats (truncated toward zero) and booleans (1/0). A value outside the i64 range or not a number is an error."
);
convert_settings!(
    ToUnsignedIntegerSettings,
    "Convert to an unsigned 64-bit integer (IDs up to 18446744073709551615): integers, numeric strings (exact), floats (truncated toward zero) and booleans (1/0). Negative, too large or non-numeric values are errors."
);
convert_settings!(
    ToStringSettings,
    "Convert to a string: strings stay as they are, numbers and booleans become their text (integers exactly), objects, arrays and null their compact JSON."
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum To {
    Boolean,
    Float,
    Integer,
    Unsigned,
    String,
}

struct Convert {
    source: Path,
    target: Option<Path>,
    to: To,
}

impl MapTransform for Convert {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let converted = convert(value, self.to).map_err(|why| {
            TransformError::invalid(format!("`{}` is {}, {why}", self.source, shown(value)))
        })?;
        message.set(target_or(&self.target, &self.source), converted)
    }
}

/// A value as quoted in an error: strings and numbers in full (up to 60 characters), other
/// values by type.
pub(crate) fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 60 => format!("{s:?}"),
        Value::String(s) => format!("{:?}...", s.chars().take(60).collect::<String>()),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => type_name(other).to_string(),
    }
}

/// Converts one value; the error says why, to follow "`path` is VALUE, ".
pub(crate) fn convert(value: &Value, to: To) -> Result<Value, String> {
    match to {
        To::String => Ok(match value {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        }),
        To::Boolean => to_boolean(value).map(Value::Bool),
        To::Float => to_float(value)
            .map(|f| Value::Number(Number::from_f64(f).expect("to_float returns finite numbers"))),
        To::Integer => integer(
            value,
            i64::MIN as i128,
            i64::MAX as i128,
            "a signed 64-bit integer",
        ),
        To::Unsigned => integer(value, 0, u64::MAX as i128, "an unsigned 64-bit integer"),
    }
}

fn to_boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i != 0,
            (_, Some(u)) => u != 0,
            _ => n.as_f64().is_some_and(|f| f != 0.0),
        }),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err("expected true/false, 1/0 or yes/no".into()),
        },
        _ => Err("which cannot be converted to a boolean".into()),
    }
}

fn to_float(value: &Value) -> Result<f64, String> {
    let f = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "which is not a number".to_string())?,
        _ => return Err("which cannot be converted to a float".into()),
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err("which is not a finite number".into())
    }
}

/// Converts to an integer within `[min, max]` (i64 or u64), exactly for integers and integer
/// strings, truncating floats toward zero.
fn integer(value: &Value, min: i128, max: i128, what: &str) -> Result<Value, String> {
    let exact: Option<i128> = match value {
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => return Err(format!("which cannot be converted to {what}")),
    };
    let n = match exact {
        Some(n) => n,
        None => {
            let f = match value {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("which is not a number, so not {what}"))?,
                _ => f64::NAN,
            };
            let t = f.trunc();
            // Every f64 in (-2^65, 2^65) truncates to an exact i128; beyond is out of range.
            if !t.is_finite() || t.abs() >= 3.6893488147419103e19 {
                return Err(format!("out of range for {what}"));
            }
            t as i128
        }
    };
    if n < min || n > max {
        return Err(format!("out of range for {what}"));
    }
    Ok(if n >= 0 {
        Value::from(n as u64)
    } else {
        Value::from(n as i64)
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, apply_raw, config};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn conv(t: &str, v: Value) -> Value {
        apply(config(t, json!({"source": "v"})), &json!({"v": v})).remove(0)["v"].clone()
    }

    fn err(t: &str, v: Value) -> String {
        apply_err(config(t, json!({"source": "v"})), &json!({"v": v}))
    }

    #[test]
    fn booleans() {
        for (v, b) in [
            (json!("TRUE"), true),
            (json!(" yes "), true),
            (json!("1"), true),
            (json!("No"), false),
            (json!("0"), false),
            (json!("false"), false),
            (json!(2), true),
            (json!(0), false),
            (json!(0.0), false),
            (json!(-0.5), true),
            (json!(u64::MAX), true),
            (json!(true), true),
        ] {
            assert_eq!(conv("object.to_boolean", v.clone()), json!(b), "{v}");
        }
        assert_eq!(
            err("object.to_boolean", json!("maybe")),
            "`v` is \"maybe\", expected true/false, 1/0 or yes/no"
        );
        assert!(err("object.to_boolean", json!(null)).contains("`v` is null, which cannot"));
    }

    #[test]
    fn floats() {
        assert_eq!(conv("object.to_float", json!("1.5")), json!(1.5));
        assert_eq!(conv("object.to_float", json!(" 1e3 ")), json!(1000.0));
        assert_eq!(conv("object.to_float", json!(3)), json!(3.0));
        assert_eq!(conv("object.to_float", json!(false)), json!(0.0));
        assert_eq!(
            err("object.to_float", json!("NaN")),
            "`v` is \"NaN\", which is not a finite number"
        );
        assert_eq!(
            err("object.to_float", json!("1e999")),
            "`v` is \"1e999\", which is not a finite number"
        );
        assert_eq!(
            err("object.to_float", json!("abc")),
            "`v` is \"abc\", which is not a number"
        );
        assert!(err("object.to_float", json!([1])).contains("`v` is array"));
    }

    #[test]
    fn integers() {
        assert_eq!(conv("object.to_integer", json!("443")), json!(443));
        assert_eq!(
            conv("object.to_integer", json!(" -9223372036854775808 ")),
            json!(i64::MIN)
        );
        assert_eq!(conv("object.to_integer", json!(2.9)), json!(2));
        assert_eq!(conv("object.to_integer", json!("-2.9")), json!(-2));
        assert_eq!(conv("object.to_integer", json!(true)), json!(1));
        assert_eq!(
            err("object.to_integer", json!(u64::MAX)),
            "`v` is 18446744073709551615, out of range for a signed 64-bit integer"
        );
        assert_eq!(
            err("object.to_integer", json!("9223372036854775808")),
            "`v` is \"9223372036854775808\", out of range for a signed 64-bit integer"
        );
        assert_eq!(
            err("object.to_integer", json!("four")),
            "`v` is \"four\", which is not a number, so not a signed 64-bit integer"
        );
        assert!(err("object.to_integer", json!(1e19)).contains("out of range"));
        assert_eq!(
            conv("object.to_unsigned_integer", json!("18446744073709551615")),
            json!(u64::MAX)
        );
        assert_eq!(
            conv("object.to_unsigned_integer", json!(1.8e19)),
            json!(18000000000000000000u64)
        );
        assert_eq!(conv("object.to_unsigned_integer", json!(-0.5)), json!(0));
        assert_eq!(
            err("object.to_unsigned_integer", json!(-1)),
            "`v` is -1, out of range for an unsigned 64-bit integer"
        );
        assert!(
            err("object.to_unsigned_integer", json!("18446744073709551616"))
                .contains("out of range")
        );
        assert!(
            err("object.to_unsigned_integer", json!({"a": 1}))
                .contains("`v` is object, which cannot")
        );
    }

    #[test]
    fn strings_whole_data_missing_and_when() {
        assert_eq!(
            conv("object.to_string", json!(u64::MAX)),
            json!("18446744073709551615")
        );
        assert_eq!(conv("object.to_string", json!(1.5)), json!("1.5"));
        assert_eq!(
            conv("object.to_string", json!({"a": [1]})),
            json!("{\"a\":[1]}")
        );
        assert_eq!(conv("object.to_string", json!(null)), json!("null"));
        assert_eq!(conv("object.to_string", json!("Ünï")), json!("Ünï"));
        assert_eq!(
            apply_raw(config("object.to_integer", json!({})), "42"),
            vec![json!(42)]
        );
        let input = json!({"a": "1"});
        assert_eq!(
            apply(config("object.to_integer", json!({"source": "zz"})), &input),
            vec![input.clone()]
        );
        let mut c = config("object.to_integer", json!({"source": "a", "target": "b"}));
        c["transforms"][0]["when"] = json!({"type": "exists", "source": "go"});
        assert_eq!(apply(c.clone(), &input), vec![input.clone()]);
        assert_eq!(apply(c, &json!({"a": "1", "go": 1}))[0]["b"], json!(1));
    }

    #[test]
    fn example_config() {
        crate::aggregate::tests::check_example("object");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Integers survive to_string and back exactly, in both integer types.
        #[test]
        fn integers_round_trip_through_text(i in any::<i64>(), u in any::<u64>()) {
            let mut c = config("object.to_string", json!({"source": "i"}));
            let list = c["transforms"].as_array_mut().unwrap();
            list.push(json!({"type": "object.to_string", "source": "u"}));
            list.push(json!({"type": "object.to_integer", "source": "i"}));
            list.push(json!({"type": "object.to_unsigned_integer", "source": "u"}));
            list.push(json!({"type": "object.to_integer", "source": "i", "target": "i2"}));
            let out = apply(c, &json!({"i": i, "u": u})).remove(0);
            prop_assert_eq!(&out, &json!({"i": i, "u": u, "i2": i}));
        }
    }
}
