//! The number family: arithmetic, maximum and minimum, and rounding of numeric fields.
//!
//! Every operation works either over an array at `source` (folded left to right: `[a, b, c]`
//! gives `(a op b) op c`), or on the number at `source` and a second operand, a constant `value`
//! or the number at `value_from`. Numeric strings (`"4096"`, as split log lines give them) count
//! as numbers; the result is always a JSON number.
//!
//! Integers stay exact. Two integers are added, subtracted and multiplied as 64-bit integers
//! (through i128, so `u64` IDs and `i64` values mix freely), and a result that does not fit in
//! 64 bits is an error, never a silent wrap or a float. Dividing integers gives an integer when
//! the division is exact, else a float. Only when a float is involved is the arithmetic done in
//! floating point. Division by zero, and any result that is not a finite number, is an error.
//! `number.maximum` and `number.minimum` compare exactly and return one of their operands as it
//! was, so `2^64-1` comes out as `2^64-1`. `number.round` leaves integers alone.

use crate::common::{target_or, wrong_type};
use crate::conditions::number::compare;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Number, Value};
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    macro_rules! math {
        ($name:literal, $settings:ty, $op:expr) => {
            r.map($name, |s: $settings, b| {
                if s.value.is_some() && s.value_from.is_some() {
                    return Err(b.fail("give at most one of `value` and `value_from`"));
                }
                Ok(Math {
                    source: s.source,
                    target: s.target,
                    value: s.value,
                    value_from: s.value_from,
                    op: $op,
                })
            });
        };
    }
    math!("number.add", AddSettings, Op::Add);
    math!("number.subtract", SubtractSettings, Op::Subtract);
    math!("number.multiply", MultiplySettings, Op::Multiply);
    math!("number.divide", DivideSettings, Op::Divide);
    math!("number.maximum", MaximumSettings, Op::Maximum);
    math!("number.minimum", MinimumSettings, Op::Minimum);
    r.map("number.round", |s: RoundSettings, b| {
        if s.decimals > MAX_DECIMALS {
            return Err(b.fail(format!(
                "field `decimals`: at most {MAX_DECIMALS} (a 64-bit float holds about 15 decimal digits), found {}",
                s.decimals
            )));
        }
        Ok(s)
    });
}

/// The most decimals `number.round` accepts.
const MAX_DECIMALS: u32 = 15;

/// Declares the settings of one arithmetic type; only the description differs between them.
macro_rules! math_settings {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Deserialize, JsonSchema)]
        pub struct $name {
            /// The number, or the array of numbers to fold; the whole data by default.
            #[serde(default)]
            pub source: Path,
            /// Where to write the result; defaults to the source.
            #[serde(default)]
            pub target: Option<Path>,
            /// A constant second operand. Without `value` or `value_from`, `source` must be an
            /// array, folded left to right.
            #[serde(default)]
            pub value: Option<Number>,
            /// A field holding the second operand; when it is absent the message passes unchanged.
            #[serde(default)]
            pub value_from: Option<Path>,
        }
    };
}

math_settings!(
    AddSettings,
    "Add numbers: the elements of an array (an empty array sums to 0), or a number and `value`. Integers stay exact; a sum beyond 64 bits is an error."
);
math_settings!(
    SubtractSettings,
    "Subtract numbers: the first element of an array minus the rest, or the number minus `value`. Integers stay exact; overflow is an error."
);
math_settings!(
    MultiplySettings,
    "Multiply numbers: the elements of an array (an empty array gives 1), or a number and `value`. Integers stay exact; a product beyond 64 bits is an error."
);
math_settings!(
    DivideSettings,
    "Divide numbers: the first element of an array by the rest, or the number by `value` (bytes to kilobytes: `value: 1024`). Exact integer division gives an integer, otherwise a float; division by zero is an error."
);
math_settings!(
    MaximumSettings,
    "The largest number: of an array, or of the number and `value` (a floor: `value: 0` turns negatives into 0). Compares exactly and returns the winning number unchanged."
);
math_settings!(
    MinimumSettings,
    "The smallest number: of an array, or of the number and `value` (a cap: `value: 65535`). Compares exactly and returns the winning number unchanged."
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Maximum,
    Minimum,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Subtract => "-",
            Op::Multiply => "*",
            Op::Divide => "/",
            Op::Maximum => "max",
            Op::Minimum => "min",
        }
    }

    /// What folding an empty array gives, when that has a meaning.
    fn identity(self) -> Option<Number> {
        match self {
            Op::Add => Some(Number::from(0u8)),
            Op::Multiply => Some(Number::from(1u8)),
            _ => None,
        }
    }
}

struct Math {
    source: Path,
    target: Option<Path>,
    value: Option<Number>,
    value_from: Option<Path>,
    op: Op,
}

/// A number as an integer that holds every i64 and u64, or `None` for floats.
fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// An integer back into a JSON number, when it fits in 64 bits (u64 or i64).
fn fit(v: i128) -> Option<Number> {
    if v >= 0 {
        u64::try_from(v).ok().map(Number::from)
    } else {
        i64::try_from(v).ok().map(Number::from)
    }
}

/// Applies one operation to two numbers, exactly when both are integers.
fn combine(op: Op, a: &Number, b: &Number) -> Result<Number, TransformError> {
    let describe = |why: &str| TransformError::invalid(format!("{a} {} {b} {why}", op.symbol()));
    match op {
        Op::Maximum | Op::Minimum => {
            let order = compare(a, b).ok_or_else(|| describe("cannot be compared"))?;
            let first = match op {
                Op::Maximum => order != Ordering::Less,
                _ => order != Ordering::Greater,
            };
            return Ok(if first { a.clone() } else { b.clone() });
        }
        _ => {}
    }
    if let (Some(x), Some(y)) = (integer(a), integer(b)) {
        let exact = match op {
            Op::Add => x.checked_add(y),
            Op::Subtract => x.checked_sub(y),
            Op::Multiply => x.checked_mul(y),
            Op::Divide if y == 0 => return Err(describe("is a division by zero")),
            Op::Divide if x % y != 0 => return float(x as f64 / y as f64, describe),
            Op::Divide => Some(x / y),
            Op::Maximum | Op::Minimum => unreachable!("handled above"),
        };
        return exact
            .and_then(fit)
            .ok_or_else(|| describe("overflows a 64-bit integer"));
    }
    // At least one float: floating-point arithmetic.
    let (x, y) = (to_f64(a), to_f64(b));
    let result = match op {
        Op::Add => x + y,
        Op::Subtract => x - y,
        Op::Multiply => x * y,
        Op::Divide if y == 0.0 => return Err(describe("is a division by zero")),
        Op::Divide => x / y,
        Op::Maximum | Op::Minimum => unreachable!("handled above"),
    };
    float(result, describe)
}

fn to_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

fn float(v: f64, describe: impl Fn(&str) -> TransformError) -> Result<Number, TransformError> {
    Number::from_f64(v).ok_or_else(|| describe("is not a finite number"))
}

/// The number in a value: a JSON number, or a string that holds one.
fn operand(value: &Value, path: &str) -> Result<Number, TransformError> {
    match value {
        Value::Number(n) => Ok(n.clone()),
        Value::String(s) => s.trim().parse::<Number>().map_err(|_| {
            TransformError::invalid(format!("`{path}` is the string {s:?}, expected a number"))
        }),
        other => Err(TransformError::WrongType {
            path: path.to_string(),
            expected: "a number or a numeric string",
            found: sluice_core::path::type_name(other),
        }),
    }
}

impl Math {
    fn fold(&self, items: &[Value]) -> Result<Number, TransformError> {
        let mut iter = items.iter().enumerate();
        let Some((_, first)) = iter.next() else {
            return self.op.identity().ok_or_else(|| {
                TransformError::invalid(format!(
                    "`{}` is an empty array: there is nothing to {}",
                    self.source,
                    match self.op {
                        Op::Subtract => "subtract from",
                        Op::Divide => "divide",
                        Op::Maximum => "take the maximum of",
                        _ => "take the minimum of",
                    }
                ))
            });
        };
        let at = |i: usize| format!("{}.{i}", self.source);
        let mut acc = operand(first, &at(0))?;
        for (i, item) in iter {
            acc = combine(self.op, &acc, &operand(item, &at(i))?)?;
        }
        Ok(acc)
    }
}

impl MapTransform for Math {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let result = match (&self.value, &self.value_from) {
            (None, None) => match value {
                Value::Array(items) => self.fold(items)?,
                other => {
                    return Err(TransformError::invalid(format!(
                        "`{}` is {}, expected an array of numbers (or set `value` to combine it with a constant)",
                        self.source,
                        describe_value(other)
                    )));
                }
            },
            (Some(constant), _) => {
                combine(self.op, &operand(value, self.source.as_str())?, constant)?
            }
            (None, Some(from)) => {
                let a = operand(value, self.source.as_str())?;
                let Some(other) = message.get(from)? else {
                    return Ok(());
                };
                combine(self.op, &a, &operand(other, from.as_str())?)?
            }
        };
        message.set(target_or(&self.target, &self.source), Value::Number(result))
    }
}

/// A short description of a value for error messages: its type, and the value when short.
fn describe_value(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("the string {s:?}"),
        other => sluice_core::path::type_name(other).to_string(),
    }
}

/// Round a number to `decimals` places (half away from zero). Integers pass unchanged; with 0
/// decimals the result is an integer when it fits in 64 bits. Numeric strings become numbers.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RoundSettings {
    /// The number to round; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Decimal places to keep, 0 to 15.
    #[serde(default)]
    pub decimals: u32,
}

/// Rounds a number to `decimals` places; integers come back as they were.
pub fn round(n: &Number, decimals: u32) -> Number {
    if integer(n).is_some() {
        return n.clone();
    }
    let x = to_f64(n);
    if decimals == 0 {
        let r = x.round();
        // Every integer-valued f64 below 2^63 in magnitude converts exactly.
        if r.abs() < 9.223_372_036_854_776e18 {
            return Number::from(r as i64);
        }
        return Number::from_f64(r).unwrap_or_else(|| n.clone());
    }
    let scale = 10f64.powi(decimals as i32);
    let r = (x * scale).round() / scale;
    // A number so large that scaling overflows has no fractional digits to round.
    Number::from_f64(r).unwrap_or_else(|| n.clone())
}

impl MapTransform for RoundSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let n = match value {
            Value::Number(_) | Value::String(_) => operand(value, self.source.as_str())?,
            other => return Err(wrong_type(&self.source, "a number", other)),
        };
        let rounded = round(&n, self.decimals);
        message.set(
            target_or(&self.target, &self.source),
            Value::Number(rounded),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, build_error, config};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn one(t: &str, settings: Value, input: Value) -> Value {
        apply(config(t, settings), &input).remove(0)
    }

    #[test]
    fn fold_arrays_left_to_right() {
        let input = json!({"n": [10, 4, 2]});
        let s = json!({"source": "n", "target": "r"});
        for (t, expected) in [
            ("number.add", json!(16)),
            ("number.subtract", json!(4)),
            ("number.multiply", json!(80)),
            ("number.divide", json!(1.25)),
            ("number.maximum", json!(10)),
            ("number.minimum", json!(2)),
        ] {
            assert_eq!(one(t, s.clone(), input.clone())["r"], expected, "{t}");
        }
        // Mixed integers, floats and numeric strings.
        let mixed = json!({"n": [1, "2", 0.5]});
        assert_eq!(one("number.add", s.clone(), mixed.clone())["r"], json!(3.5));
        assert_eq!(one("number.maximum", s, mixed)["r"], json!(2));
    }

    #[test]
    fn constants_and_fields() {
        let input = json!({"bytes": 4096, "pkts": 3, "s": " 1536 "});
        assert_eq!(
            one(
                "number.divide",
                json!({"source": "bytes", "target": "kb", "value": 1024}),
                input.clone()
            )["kb"],
            json!(4)
        );
        assert_eq!(
            one(
                "number.divide",
                json!({"source": "s", "value": 1024}),
                input.clone()
            )["s"],
            json!(1.5)
        );
        assert_eq!(
            one(
                "number.divide",
                json!({"source": "bytes", "target": "avg", "value_from": "pkts"}),
                input.clone()
            )["avg"],
            json!(4096.0 / 3.0)
        );
        assert_eq!(
            one(
                "number.subtract",
                json!({"source": "bytes", "value": 0.5}),
                input.clone()
            )["bytes"],
            json!(4095.5)
        );
        assert_eq!(
            one(
                "number.maximum",
                json!({"source": "pkts", "value": 5}),
                input.clone()
            )["pkts"],
            json!(5)
        );
        assert_eq!(
            one(
                "number.minimum",
                json!({"source": "pkts", "value": 5}),
                input.clone()
            )["pkts"],
            json!(3)
        );
        // An absent operand field or source leaves the message alone.
        for s in [
            json!({"source": "bytes", "value_from": "zz"}),
            json!({"source": "zz", "value": 1}),
        ] {
            assert_eq!(one("number.add", s, input.clone()), input);
        }
    }

    #[test]
    fn integers_stay_exact_and_overflow_is_an_error() {
        let max = u64::MAX;
        let input = json!({"a": max, "b": i64::MIN, "c": i64::MAX});
        assert_eq!(
            one(
                "number.subtract",
                json!({"source": "a", "value": 1}),
                input.clone()
            )["a"],
            json!(max - 1)
        );
        assert_eq!(
            one(
                "number.add",
                json!({"source": "c", "value": 1}),
                input.clone()
            )["c"],
            json!(i64::MAX as u64 + 1)
        );
        assert_eq!(
            one(
                "number.divide",
                json!({"source": "b", "value": -1}),
                input.clone()
            )["b"],
            json!(1u64 << 63)
        );
        let e = apply_err(
            config("number.add", json!({"source": "a", "value": 1})),
            &input,
        );
        assert_eq!(e, "18446744073709551615 + 1 overflows a 64-bit integer");
        let e = apply_err(
            config("number.multiply", json!({"source": "b", "value": 2})),
            &input,
        );
        assert!(e.contains("overflows a 64-bit integer"), "{e}");
        let e = apply_err(
            config("number.subtract", json!({"source": "b", "value": 1})),
            &input,
        );
        assert!(e.contains("overflows"), "{e}");
    }

    #[test]
    fn division_by_zero_and_non_finite_results() {
        let e = apply_err(
            config("number.divide", json!({"source": "a", "value": 0})),
            &json!({"a": 5}),
        );
        assert_eq!(e, "5 / 0 is a division by zero");
        let e = apply_err(
            config("number.divide", json!({"source": "a", "value": 0.0})),
            &json!({"a": 5.5}),
        );
        assert!(e.contains("division by zero"), "{e}");
        let e = apply_err(
            config("number.multiply", json!({"source": "a", "value": 1e300})),
            &json!({"a": 1e300}),
        );
        assert!(e.contains("is not a finite number"), "{e}");
    }

    #[test]
    fn empty_arrays_missing_and_wrong_types() {
        let s = json!({"source": "n"});
        assert_eq!(
            one("number.add", s.clone(), json!({"n": []})),
            json!({"n": 0})
        );
        assert_eq!(
            one("number.multiply", s.clone(), json!({"n": []})),
            json!({"n": 1})
        );
        let e = apply_err(config("number.maximum", s.clone()), &json!({"n": []}));
        assert_eq!(
            e,
            "`n` is an empty array: there is nothing to take the maximum of"
        );
        let e = apply_err(config("number.add", s.clone()), &json!({"n": 5}));
        assert!(
            e.contains("expected an array of numbers (or set `value`"),
            "{e}"
        );
        let e = apply_err(config("number.add", s.clone()), &json!({"n": [1, "x"]}));
        assert_eq!(e, "`n.1` is the string \"x\", expected a number");
        let e = apply_err(
            config("number.add", s.clone()),
            &json!({"n": [1, {"a": 1}]}),
        );
        assert!(e.contains("`n.1` is object, expected a number"), "{e}");
        let e = apply_err(
            config("number.add", json!({"source": "n", "value": 1})),
            &json!({"n": "ünï"}),
        );
        assert!(e.contains("\"ünï\""), "{e}");
        assert_eq!(one("number.add", s, json!({"x": 1})), json!({"x": 1}));
    }

    #[test]
    fn rounding() {
        let r = |n: Value, d: u32| {
            one(
                "number.round",
                json!({"source": "n", "decimals": d}),
                json!({"n": n}),
            )["n"]
                .clone()
        };
        assert_eq!(r(json!(2.5), 0), json!(3));
        assert_eq!(r(json!(-2.5), 0), json!(-3));
        assert_eq!(r(json!(1.23456), 2), json!(1.23));
        assert_eq!(r(json!("7.77"), 1), json!(7.8));
        assert_eq!(r(json!(u64::MAX), 0), json!(u64::MAX));
        assert_eq!(r(json!(1e300), 3), json!(1e300));
        assert_eq!(r(json!(1e20), 0), json!(1e20));
        let e = apply_err(
            config("number.round", json!({"source": "n"})),
            &json!({"n": true}),
        );
        assert!(e.contains("`n` is boolean, expected a number"), "{e}");
        let e = build_error(config("number.round", json!({"decimals": 16})));
        assert!(e.contains("field `decimals`: at most 15"), "{e}");
    }

    #[test]
    fn bad_config_and_when() {
        let e = build_error(config("number.add", json!({"value": 1, "value_from": "x"})));
        assert!(e.contains("at most one of `value` and `value_from`"), "{e}");
        let e = build_error(config("number.add", json!({"value": "one"})));
        assert!(e.contains("field `value`"), "{e}");
        let mut c = config("number.multiply", json!({"source": "n", "value": 8}));
        c["transforms"][0]["when"] = json!({"type": "exists", "source": "bits"});
        assert_eq!(apply(c.clone(), &json!({"n": 2})), vec![json!({"n": 2})]);
        assert_eq!(
            apply(c, &json!({"n": 2, "bits": true})),
            vec![json!({"n": 16, "bits": true})]
        );
    }

    #[test]
    fn summaries_are_distinct() {
        let r = crate::registry();
        let add = r.transforms().find(|s| s.name == "number.add").unwrap();
        assert!(add.summary.starts_with("Add numbers"), "{}", add.summary);
        assert!(add.fields.iter().any(|f| f.name == "value_from"));
    }

    #[test]
    fn example_config() {
        crate::aggregate::tests::check_example("number");
    }

    fn big_integer() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(i64::MAX)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(i64::MAX as u64 + 1)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Large integers (2^63-1, 64-bit unsigned IDs) come through every identity unchanged.
        #[test]
        fn large_integers_survive(n in big_integer()) {
            let input = json!({"id": n});
            let identities = [
                ("object.copy", json!({"source": "id", "target": "out"})),
                ("object.move", json!({"source": "id", "target": "out"})),
                ("number.add", json!({"source": "id", "target": "out", "value": 0})),
                ("number.subtract", json!({"source": "id", "target": "out", "value": 0})),
                ("number.multiply", json!({"source": "id", "target": "out", "value": 1})),
                ("number.divide", json!({"source": "id", "target": "out", "value": 1})),
                ("number.maximum", json!({"source": "id", "target": "out", "value_from": "id"})),
                ("number.minimum", json!({"source": "id", "target": "out", "value": n.clone()})),
                ("number.round", json!({"source": "id", "target": "out", "decimals": 2})),
                ("number.add", json!({"source": "arr", "target": "out"})),
            ];
            for (t, s) in identities {
                let mut input = input.clone();
                input["arr"] = json!([n.clone()]);
                let out = apply(config(t, s), &input).remove(0);
                prop_assert_eq!(&out["out"], &n, "{}", t);
                // Exact in the serialized text, too.
                let text = format!(":{n}");
                prop_assert!(out.to_string().contains(&text));
            }
        }
    }
}
