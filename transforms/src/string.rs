//! The string family: case, replace, split and capture on text fields (or the whole data).

use crate::common::{map_str, target_or};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{Builder, ConfigErrors, MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("string.to_lower", |s: CaseSettings, _| {
        Ok(Case { s, upper: false })
    });
    r.map("string.to_upper", |s: CaseSettings, _| {
        Ok(Case { s, upper: true })
    });
    r.map("string.replace", |s: ReplaceSettings, b| {
        let regex = s
            .regex
            .then(|| compile(&s.pattern, b, "pattern"))
            .transpose()?;
        Ok(Replace { s, regex })
    });
    r.map("string.split", |s: SplitSettings, b| {
        if s.separator.is_empty() {
            return Err(b.fail("field `separator`: must not be empty"));
        }
        Ok(s)
    });
    r.map("string.capture", |s: CaptureSettings, b| {
        let regex = compile(&s.pattern, b, "pattern")?;
        if s.mode == CaptureMode::Named && regex.capture_names().flatten().next().is_none() {
            return Err(
                b.fail("field `pattern`: mode `named` needs named groups like (?P<user>\\w+)")
            );
        }
        Ok(Capture { s, regex })
    });
}

/// Compiles a regex setting, naming the field in the error.
pub fn compile(pattern: &str, b: &Builder, field: &str) -> Result<Regex, ConfigErrors> {
    Regex::new(pattern).map_err(|e| {
        // The regex crate's message spans lines with a caret diagram; keep the error on one line.
        let text = e.to_string();
        let why = text
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ");
        b.fail(format!("field `{field}`: invalid regex {pattern:?}: {why}"))
    })
}

/// Change the case of a string.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CaseSettings {
    /// The string to change; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

struct Case {
    s: CaseSettings,
    upper: bool,
}

impl MapTransform for Case {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_str(message, &self.s.source, &self.s.target, |t| {
            Ok(Value::String(if self.upper {
                t.to_uppercase()
            } else {
                t.to_lowercase()
            }))
        })
    }
}

/// Replace every match of a literal string (or a regex, with `regex: true`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReplaceSettings {
    /// The string to change; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// What to look for.
    pub pattern: String,
    /// What to put instead; with `regex`, `$1` and `$name` refer to groups.
    #[serde(default)]
    pub replacement: String,
    /// Treat `pattern` as a regular expression.
    #[serde(default)]
    pub regex: bool,
}

struct Replace {
    s: ReplaceSettings,
    regex: Option<Regex>,
}

impl MapTransform for Replace {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_str(message, &self.s.source, &self.s.target, |t| {
            Ok(Value::String(match &self.regex {
                Some(r) => r.replace_all(t, self.s.replacement.as_str()).into_owned(),
                None => t.replace(&self.s.pattern, &self.s.replacement),
            }))
        })
    }
}

/// Split a string into an array on a separator.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SplitSettings {
    /// The string to split; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the array; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// The separator.
    pub separator: String,
}

impl MapTransform for SplitSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let target = target_or(&self.target, &self.source);
        if target.is_root() {
            // An array is JSON, so the whole data becomes JSON.
            let Some(t) = crate::common::get_str(message, &self.source)? else {
                return Ok(());
            };
            let parts: Vec<Value> = t
                .split(&self.separator)
                .map(|p| Value::String(p.into()))
                .collect();
            message.set_value(Value::Array(parts));
            return Ok(());
        }
        map_str(message, &self.source, &self.target, |t| {
            Ok(Value::Array(
                t.split(&self.separator)
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ))
        })
    }
}

/// How `string.capture` shapes its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// The first group of the first match (or the whole match when there is no group).
    #[default]
    First,
    /// The first group of every match, as an array (up to `count`).
    All,
    /// The named groups of the first match, as an object.
    Named,
}

/// Extract parts of a string with a regular expression.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CaptureSettings {
    /// The string to search; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// The regular expression.
    pub pattern: String,
    /// `first`, `all` or `named`.
    #[serde(default)]
    pub mode: CaptureMode,
    /// With `all`: the most matches to keep (0 = no limit).
    #[serde(default)]
    pub count: usize,
}

struct Capture {
    s: CaptureSettings,
    regex: Regex,
}

impl Capture {
    fn capture(&self, text: &str) -> Option<Value> {
        let group = |c: &regex::Captures| {
            c.get(1)
                .or_else(|| c.get(0))
                .map(|m| Value::String(m.as_str().into()))
        };
        match self.s.mode {
            CaptureMode::First => self.regex.captures(text).and_then(|c| group(&c)),
            CaptureMode::All => {
                let limit = if self.s.count == 0 {
                    usize::MAX
                } else {
                    self.s.count
                };
                let found: Vec<Value> = self
                    .regex
                    .captures_iter(text)
                    .take(limit)
                    .filter_map(|c| group(&c))
                    .collect();
                Some(Value::Array(found))
            }
            CaptureMode::Named => {
                let c = self.regex.captures(text)?;
                let mut object = Map::new();
                for name in self.regex.capture_names().flatten() {
                    if let Some(m) = c.name(name) {
                        object.insert(name.to_string(), Value::String(m.as_str().into()));
                    }
                }
                Some(Value::Object(object))
            }
        }
    }
}

impl MapTransform for Capture {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(text) = crate::common::get_str(message, &self.s.source)? else {
            return Ok(());
        };
        // No match leaves the message as it was; `when` with `string.match` can demand one.
        let Some(result) = self.capture(&text) else {
            return Ok(());
        };
        let target = target_or(&self.s.target, &self.s.source);
        if target.is_root() && !result.is_string() {
            message.set_value(result);
            return Ok(());
        }
        message.set(target, result)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, apply_raw, build_error, config};
    use serde_json::json;

    #[test]
    fn case_and_unicode() {
        let input = json!({"a": "ÉvÉnT Ñame"});
        assert_eq!(
            apply(config("string.to_lower", json!({"source": "a"})), &input),
            vec![json!({"a": "évént ñame"})]
        );
        assert_eq!(
            apply(
                config("string.to_upper", json!({"source": "a", "target": "b"})),
                &input
            ),
            vec![json!({"a": "ÉvÉnT Ñame", "b": "ÉVÉNT ÑAME"})]
        );
        assert_eq!(
            apply_raw(config("string.to_upper", json!({})), "plain"),
            vec![json!("PLAIN")]
        );
    }

    #[test]
    fn replace_literal_and_regex() {
        let input = json!({"a": "a.b.c"});
        assert_eq!(
            apply(
                config(
                    "string.replace",
                    json!({"source": "a", "pattern": ".", "replacement": "-"})
                ),
                &input
            ),
            vec![json!({"a": "a-b-c"})]
        );
        assert_eq!(
            apply(
                config(
                    "string.replace",
                    json!({"source": "a", "pattern": "^(\\w)\\.", "replacement": "$1:", "regex": true})
                ),
                &input
            ),
            vec![json!({"a": "a:b.c"})]
        );
    }

    #[test]
    fn split_and_capture() {
        assert_eq!(
            apply(
                config("string.split", json!({"source": "a", "separator": ","})),
                &json!({"a": "x,y,"})
            ),
            vec![json!({"a": ["x", "y", ""]})]
        );
        let line = json!({"m": "Failed password for root from 10.0.0.1 port 22"});
        assert_eq!(
            apply(
                config(
                    "string.capture",
                    json!({"source": "m", "target": "u", "pattern": "for (\\S+) from"})
                ),
                &line
            ),
            vec![json!({"m": line["m"], "u": "root"})]
        );
        assert_eq!(
            apply(
                config(
                    "string.capture",
                    json!({"source": "m", "target": "p", "pattern": "(?P<user>\\S+) from (?P<ip>\\S+)", "mode": "named"})
                ),
                &line
            ),
            vec![json!({"m": line["m"], "p": {"user": "root", "ip": "10.0.0.1"}})]
        );
        assert_eq!(
            apply(
                config(
                    "string.capture",
                    json!({"source": "m", "target": "n", "pattern": "(\\d+)", "mode": "all", "count": 2})
                ),
                &line
            ),
            vec![json!({"m": line["m"], "n": ["10", "0"]})]
        );
    }

    #[test]
    fn bad_input_and_bad_config() {
        assert!(
            apply_err(
                config("string.to_lower", json!({"source": "a"})),
                &json!({"a": 1})
            )
            .contains("expected a string")
        );
        assert_eq!(
            apply(
                config("string.to_lower", json!({"source": "zz"})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        let e = build_error(config("string.capture", json!({"pattern": "(unclosed"})));
        assert!(
            e.contains("transforms[0] (string.capture): field `pattern`: invalid regex"),
            "{e}"
        );
        let e = build_error(config("string.split", json!({"separator": 5})));
        assert!(e.contains("field `separator`: invalid type"), "{e}");
    }
}
