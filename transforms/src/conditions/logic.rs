//! `all`, `any` and `none`: combine conditions, over the message or over each element of an array.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{Condition, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    for (name, op) in [("all", Op::All), ("any", Op::Any), ("none", Op::None)] {
        r.condition(name, move |s: LogicSettings, b| {
            Ok(Logic {
                op,
                source: s.source,
                conditions: b.conditions("conditions", &s.conditions)?,
            })
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    All,
    Any,
    None,
}

/// Combine conditions. With `source` naming an array, the conditions test each element (paths
/// inside them are relative to the element): `all` needs every element to pass, `any` one,
/// `none` none.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogicSettings {
    /// The conditions to combine.
    pub conditions: Vec<Value>,
    /// An array to test element by element, instead of the message.
    #[serde(default)]
    pub source: Option<Path>,
}

struct Logic {
    op: Op,
    source: Option<Path>,
    conditions: Vec<Box<dyn Condition>>,
}

impl Logic {
    fn combine(
        &self,
        mut test: impl FnMut(&dyn Condition) -> Result<bool, TransformError>,
    ) -> Result<bool, TransformError> {
        let mut results = self.conditions.iter().map(|c| test(c.as_ref()));
        Ok(match self.op {
            Op::All => results.try_fold(true, |acc, r| r.map(|b| acc && b))?,
            Op::Any => results.try_fold(false, |acc, r| r.map(|b| acc || b))?,
            Op::None => !results.try_fold(false, |acc, r| r.map(|b| acc || b))?,
        })
    }
}

impl Condition for Logic {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        let Some(source) = &self.source else {
            return self.combine(|c| c.test(message));
        };
        let elements = match message.get(source)? {
            Some(Value::Array(items)) => items.clone(),
            _ => return Ok(false),
        };
        let mut passes = elements.into_iter().map(|e| {
            let mut element = Message::from_value(e);
            self.combine(|c| c.test(&mut element))
        });
        // Each element passes when the combined conditions hold for it.
        Ok(match self.op {
            Op::All => passes.try_fold(true, |acc, r| r.map(|b| acc && b))?,
            Op::Any | Op::None => passes.try_fold(false, |acc, r| r.map(|b| acc || b))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, config};
    use serde_json::{Value, json};

    fn kept(when: Value, input: Value) -> bool {
        let mut c = config("object.insert", json!({"target": "hit", "value": true}));
        c["transforms"][0]["when"] = when;
        apply(c, &input)[0].get("hit").is_some()
    }

    #[test]
    fn combinators() {
        let a = json!({"type": "string.eq", "source": "a", "value": "x"});
        let b = json!({"type": "exists", "source": "b"});
        let input = json!({"a": "x"});
        assert!(!kept(
            json!({"type": "all", "conditions": [a, b]}),
            input.clone()
        ));
        assert!(kept(
            json!({"type": "any", "conditions": [a, b]}),
            input.clone()
        ));
        assert!(!kept(
            json!({"type": "none", "conditions": [a, b]}),
            input.clone()
        ));
        assert!(kept(
            json!({"type": "none", "conditions": [b]}),
            input.clone()
        ));
        assert!(kept(json!({"type": "all", "conditions": []}), input));
    }

    #[test]
    fn over_array_elements() {
        let input = json!({"ports": [{"p": 22}, {"p": 443}]});
        let gt = |v: i64| json!({"type": "number.gt", "source": "p", "value": v});
        assert!(kept(
            json!({"type": "all", "source": "ports", "conditions": [gt(10)]}),
            input.clone()
        ));
        assert!(!kept(
            json!({"type": "all", "source": "ports", "conditions": [gt(100)]}),
            input.clone()
        ));
        assert!(kept(
            json!({"type": "any", "source": "ports", "conditions": [gt(100)]}),
            input.clone()
        ));
        assert!(kept(
            json!({"type": "none", "source": "ports", "conditions": [gt(1000)]}),
            input.clone()
        ));
        assert!(!kept(
            json!({"type": "any", "source": "missing", "conditions": [gt(0)]}),
            input
        ));
    }
}
