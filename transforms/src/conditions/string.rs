//! String inspectors: equality, order, containment, prefix, suffix and regex match.

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Condition, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    let ops: [(&str, StrOp); 6] = [
        ("string.eq", |a, b| a == b),
        ("string.lt", |a, b| a < b),
        ("string.gt", |a, b| a > b),
        ("string.contains", |a, b| a.contains(b)),
        ("string.starts_with", |a, b| a.starts_with(b)),
        ("string.ends_with", |a, b| a.ends_with(b)),
    ];
    for (name, op) in ops {
        r.condition(name, move |s: StringSettings, b| {
            if s.value.is_none() == s.value_from.is_none() {
                return Err(b.fail("give exactly one of `value` and `value_from`"));
            }
            Ok(StringTest { s, op })
        });
    }
    r.condition("string.match", |s: MatchSettings, b| {
        let regex = crate::string::compile(&s.pattern, b, "pattern")?;
        Ok(MatchTest {
            source: s.source,
            regex,
        })
    });
}

type StrOp = fn(&str, &str) -> bool;

/// Compare a field's text (or the whole data's) with a constant or another field.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StringSettings {
    /// The field to test; the whole data by default. Non-strings compare as JSON text.
    #[serde(default)]
    pub source: Path,
    /// The constant to compare with.
    #[serde(default)]
    pub value: Option<String>,
    /// A field to compare with, instead of a constant.
    #[serde(default)]
    pub value_from: Option<Path>,
}

struct StringTest {
    s: StringSettings,
    op: StrOp,
}

impl Condition for StringTest {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        // A constant is compared in place; only a value from another field is copied out.
        let from_field;
        let other: &str = match (&self.s.value, &self.s.value_from) {
            (Some(v), _) => v,
            (None, Some(p)) => match message.get_text(p)? {
                Some(t) => {
                    from_field = t.into_owned();
                    &from_field
                }
                None => return Ok(false),
            },
            (None, None) => return Ok(false),
        };
        Ok(match message.get_text(&self.s.source)? {
            Some(text) => (self.op)(&text, other),
            None => false,
        })
    }
}

/// True when a field's text (or the whole data's) matches a regular expression.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MatchSettings {
    /// The field to test; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// The regular expression (unanchored; use `^...$` for a full match).
    pub pattern: String,
}

struct MatchTest {
    source: Path,
    regex: Regex,
}

impl Condition for MatchTest {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(message
            .get_text(&self.source)?
            .is_some_and(|t| self.regex.is_match(&t)))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_raw, build_error, config};
    use serde_json::{Value, json};

    fn test(when: Value, input: Value) -> bool {
        let mut c = config("object.insert", json!({"target": "hit", "value": true}));
        c["transforms"][0]["when"] = when;
        apply(c, &input)[0].get("hit").is_some()
    }

    #[test]
    fn inspectors() {
        let input = json!({"a": "ConsoleLogin", "b": "ConsoleLogin", "n": 5});
        let t = |ty: &str, v: &str| json!({"type": ty, "source": "a", "value": v});
        assert!(test(t("string.eq", "ConsoleLogin"), input.clone()));
        assert!(!test(t("string.eq", "consolelogin"), input.clone()));
        assert!(test(t("string.contains", "eLog"), input.clone()));
        assert!(test(t("string.starts_with", "Console"), input.clone()));
        assert!(test(t("string.ends_with", "Login"), input.clone()));
        assert!(test(t("string.lt", "D"), input.clone()));
        assert!(test(t("string.gt", "A"), input.clone()));
        assert!(test(
            json!({"type": "string.eq", "source": "a", "value_from": "b"}),
            input.clone()
        ));
        assert!(test(
            json!({"type": "string.match", "source": "a", "pattern": "^Con.*n$"}),
            input.clone()
        ));
        assert!(test(
            json!({"type": "string.eq", "source": "n", "value": "5"}),
            input.clone()
        ));
        assert!(!test(
            json!({"type": "string.eq", "source": "zz", "value": ""}),
            input
        ));
    }

    #[test]
    fn whole_raw_data() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "string.contains", "value": "CRON"});
        assert!(apply_raw(c.clone(), "host CRON[1]: job").is_empty());
        assert_eq!(apply_raw(c, "host sshd[1]: x").len(), 1);
    }

    #[test]
    fn bad_config() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "string.eq", "source": "a"});
        assert!(
            build_error(c)
                .contains("transforms[0] (utility.drop).when (string.eq): give exactly one of")
        );
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "string.equals", "source": "a", "value": "x"});
        assert!(build_error(c).contains("unknown condition type `string.equals`"));
    }
}
