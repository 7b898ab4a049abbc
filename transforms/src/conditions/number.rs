//! Number inspectors: compare a field with a constant or another field. Integers compare
//! exactly (a 64-bit ID never goes through a float); numeric strings count as numbers.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Number, Value};
use sluice_core::{Condition, Message, Path, Registry, TransformError};
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    let ops: [(&str, Compare); 5] = [
        ("number.eq", Ordering::is_eq),
        ("number.lt", Ordering::is_lt),
        ("number.gt", Ordering::is_gt),
        ("number.le", Ordering::is_le),
        ("number.ge", Ordering::is_ge),
    ];
    for (name, op) in ops {
        r.condition(name, move |s: NumberSettings, b| {
            if s.value.is_none() == s.value_from.is_none() {
                return Err(b.fail("give exactly one of `value` and `value_from`"));
            }
            Ok(NumberTest { s, op })
        });
    }
}

/// How a comparison reads an ordering.
type Compare = fn(Ordering) -> bool;

/// Compare a field's number with a constant or another field's number.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NumberSettings {
    /// The field to test.
    pub source: Path,
    /// The constant to compare with.
    #[serde(default)]
    pub value: Option<Number>,
    /// A field to compare with, instead of a constant.
    #[serde(default)]
    pub value_from: Option<Path>,
}

struct NumberTest {
    s: NumberSettings,
    op: Compare,
}

/// A value as a number: numbers as they are, and strings that parse as one.
pub fn as_number(v: &Value) -> Option<Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => s.trim().parse::<Number>().ok(),
        _ => None,
    }
}

/// Orders two numbers exactly when both are integers, else as floats.
pub fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    // One is a u64 above i64::MAX and the other a negative i64.
    if a.as_u64().is_some() && b.as_i64().is_some() {
        return Some(Ordering::Greater);
    }
    if a.as_i64().is_some() && b.as_u64().is_some() {
        return Some(Ordering::Less);
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

impl Condition for NumberTest {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        let other = match (&self.s.value, &self.s.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(p)) => match message.get(p)?.and_then(as_number) {
                Some(n) => n,
                None => return Ok(false),
            },
            (None, None) => return Ok(false),
        };
        let Some(n) = message.get(&self.s.source)?.and_then(as_number) else {
            return Ok(false);
        };
        Ok(compare(&n, &other).is_some_and(self.op))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, config};
    use serde_json::{Value, json};

    fn test(when: Value, input: Value) -> bool {
        let mut c = config("object.insert", json!({"target": "hit", "value": true}));
        c["transforms"][0]["when"] = when;
        apply(c, &input)[0].get("hit").is_some()
    }

    #[test]
    fn comparisons() {
        let input = json!({"n": 5, "s": "7", "f": 2.5, "big": 18446744073709551615u64, "big2": 18446744073709551614u64});
        let t = |ty: &str, src: &str, v: Value| json!({"type": ty, "source": src, "value": v});
        assert!(test(t("number.eq", "n", json!(5)), input.clone()));
        assert!(test(t("number.gt", "s", json!(6)), input.clone()));
        assert!(test(t("number.lt", "f", json!(3)), input.clone()));
        assert!(test(t("number.ge", "n", json!(5.0)), input.clone()));
        assert!(test(t("number.le", "n", json!(5)), input.clone()));
        assert!(test(
            json!({"type": "number.gt", "source": "big", "value_from": "big2"}),
            input.clone()
        ));
        assert!(!test(
            t("number.eq", "big", json!(18446744073709551614u64)),
            input.clone()
        ));
        assert!(!test(t("number.gt", "missing", json!(0)), input.clone()));
        assert!(!test(t("number.gt", "zz", json!(0)), json!({"zz": "abc"})));
    }
}
