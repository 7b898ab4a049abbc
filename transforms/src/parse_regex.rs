//! `parse.regex`: turn free text into fields with a list of named-group regular expressions;
//! the first pattern that matches wins.
//!
//! This is the general tool for log formats that are a family of sentences rather than one
//! grammar (sshd, sudo, PAM, firewall messages). Each pattern names its groups after the fields
//! they fill (`(?P<source__ip>\S+)` writes `source.ip`: `__` separates path segments), may set
//! constant fields when it matches (`event.action`, `event.outcome`), converts groups to
//! integers, IP addresses or ports, and may instead reject a shape known to be broken with a
//! reason of its own, so that it reaches the error route rather than becoming a wrong event.
//!
//! Every pattern is compiled when the config is built, and a bad one is a config error naming
//! `patterns[i].pattern`. The regex engine runs in time linear in the input, so
//! attacker-controlled text (an 8 KiB user name) cannot make a pattern backtrack.
//! Patterns are tried in order. Anchored patterns (`^Accepted ...`) that do not apply are
//! rejected at the first bytes, so a list of a dozen costs little more than one.

use crate::common::get_str;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use sluice_core::path::Root;
use sluice_core::{
    Builder, ConfigError, ConfigErrors, MapTransform, Message, Path, Registry, TransformError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub fn register(r: &mut Registry) {
    r.map("parse.regex", ParseRegex::new);
}

/// Parse text with a list of regular expressions tried in order: the first that matches writes
/// its named groups as fields under `target`. A group name with `__` is a nested path
/// (`(?P<source__ip>\S+)` writes `source.ip`); groups that capture nothing are left out. A
/// pattern can also `set` constant fields when it matches, `convert` groups to typed values, or
/// send the message to the error route with its own `error` reason. When the source is a raw
/// line, the data becomes an object holding the fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RegexSettings {
    /// The text to parse; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where the fields go: group and `set` paths are relative to it. The root of the data by
    /// default (added to the event, or making a new object of a raw line).
    #[serde(default)]
    pub target: Path,
    /// The patterns, tried in order: `[{"pattern": "^Invalid user (?P<user__name>.*) from
    /// (?P<source__ip>\\S+)$", "set": {"event.outcome": "failure"}}, ...]`.
    pub patterns: Vec<PatternSettings>,
    /// Conversions that apply to these groups in every pattern: `{"source.port": "port"}`.
    #[serde(default)]
    pub convert: BTreeMap<String, Conversion>,
    /// When no pattern matches: `pass` the message on unchanged, or send it to the `error` route.
    #[serde(default)]
    pub on_no_match: NoMatch,
}

/// One pattern of `parse.regex`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternSettings {
    /// The regular expression, with named groups such as `(?P<user__name>\S+)`. It is not
    /// anchored: write `^...$` to match the whole text.
    pub pattern: String,
    /// Constant fields written when this pattern matches: `{"event.outcome": "failure"}`.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Conversions for this pattern's groups, added to (and overriding) the top-level `convert`.
    #[serde(default)]
    pub convert: BTreeMap<String, Conversion>,
    /// Reject a message this pattern matches, with this reason (the text is quoted after it),
    /// instead of writing fields: for shapes known to be broken, such as a truncated line.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a group's text becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Conversion {
    /// A whole number (64-bit, signed or unsigned).
    Integer,
    /// A finite floating-point number.
    Float,
    /// `true` or `false`, in any case.
    Boolean,
    /// An IPv4 or IPv6 address, written in its canonical form (`2001:DB8::0:1` -> `2001:db8::1`).
    Ip,
    /// A TCP or UDP port: an integer from 0 to 65535.
    Port,
}

/// What `parse.regex` does with text that no pattern matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoMatch {
    /// Pass the message on unchanged.
    #[default]
    Pass,
    /// Send it to the error route, quoting the text.
    Error,
}

struct ParseRegex {
    source: Path,
    target: Path,
    patterns: Vec<Pattern>,
    on_no_match: NoMatch,
}

struct Pattern {
    regex: Regex,
    groups: Vec<Group>,
    set: Vec<(Path, Value)>,
    error: Option<String>,
}

/// A named group: where its text goes and what it becomes.
struct Group {
    index: usize,
    field: String,
    path: Path,
    convert: Option<Conversion>,
}

impl ParseRegex {
    fn new(s: RegexSettings, b: &Builder) -> Result<ParseRegex, ConfigErrors> {
        if s.patterns.is_empty() {
            return Err(b.fail("field `patterns`: give at least one pattern"));
        }
        let mut errors: Vec<ConfigError> = Vec::new();
        let mut patterns = Vec::new();
        let mut every_field = BTreeSet::new();
        for (i, p) in s.patterns.iter().enumerate() {
            match compile(i, p, &s, b) {
                Ok(pattern) => {
                    every_field.extend(pattern.groups.iter().map(|g| g.field.clone()));
                    patterns.push(pattern);
                }
                Err(e) => errors.extend(e.0),
            }
        }
        for key in s.convert.keys() {
            let field = key.replace("__", ".");
            if errors.is_empty() && !every_field.contains(&field) {
                errors.push(b.error(format!(
                    "field `convert`: `{key}` is not a named group of any pattern (groups: {})",
                    list(&every_field)
                )));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(ParseRegex {
            source: s.source,
            target: s.target,
            patterns,
            on_no_match: s.on_no_match,
        })
    }

    /// The writes of the first pattern that matches, `None` when none does.
    fn first_match(&self, text: &str) -> Result<Option<Vec<(&Path, Value)>>, TransformError> {
        for (i, p) in self.patterns.iter().enumerate() {
            let Some(caps) = p.regex.captures(text) else {
                continue;
            };
            if let Some(reason) = &p.error {
                return Err(TransformError::invalid(format!(
                    "{reason}: {}",
                    excerpt(text)
                )));
            }
            let mut writes = Vec::with_capacity(p.groups.len() + p.set.len());
            for g in &p.groups {
                let Some(m) = caps.get(g.index).filter(|m| !m.is_empty()) else {
                    continue;
                };
                let value = match g.convert {
                    None => Value::String(m.as_str().to_string()),
                    Some(c) => convert(c, m.as_str()).map_err(|why| {
                        TransformError::invalid(format!(
                            "`{}` is {}, {why} (patterns[{i}] matched {})",
                            g.field,
                            excerpt(m.as_str()),
                            excerpt(text)
                        ))
                    })?,
                };
                writes.push((&g.path, value));
            }
            writes.extend(p.set.iter().map(|(path, v)| (path, v.clone())));
            return Ok(Some(writes));
        }
        Ok(None)
    }
}

fn compile(
    i: usize,
    p: &PatternSettings,
    s: &RegexSettings,
    b: &Builder,
) -> Result<Pattern, ConfigErrors> {
    let at = format!("patterns[{i}]");
    let regex = crate::string::compile(&p.pattern, b, &format!("{at}.pattern"))?;
    let mut groups = Vec::new();
    for (index, name) in regex.capture_names().enumerate() {
        let Some(name) = name else { continue };
        let parts: Vec<&str> = name.split("__").collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Err(b.fail(format!(
                "field `{at}.pattern`: group `{name}` makes an empty path segment; `__` separates the parts of a path (`source__ip` writes `source.ip`)"
            )));
        }
        let field = parts.join(".");
        groups.push(Group {
            index,
            path: join(&s.target, &field),
            field,
            convert: None,
        });
    }
    let fields: BTreeSet<String> = groups.iter().map(|g| g.field.clone()).collect();
    for (key, conversion) in s.convert.iter().chain(&p.convert) {
        let field = key.replace("__", ".");
        match groups.iter_mut().find(|g| g.field == field) {
            Some(g) => g.convert = Some(*conversion),
            None if p.convert.contains_key(key) => {
                return Err(b.fail(format!(
                    "field `{at}.convert`: `{key}` is not a named group of this pattern (groups: {})",
                    list(&fields)
                )));
            }
            None => {}
        }
    }
    if let Some(reason) = &p.error {
        if reason.trim().is_empty() {
            return Err(b.fail(format!("field `{at}.error`: give the reason as text")));
        }
        if !p.set.is_empty() || !p.convert.is_empty() {
            return Err(b.fail(format!(
                "field `{at}.error`: a pattern with `error` rejects what it matches, so its `set` and `convert` would never apply; remove them"
            )));
        }
    }
    Ok(Pattern {
        regex,
        groups,
        set: p
            .set
            .iter()
            .map(|(k, v)| (join(&s.target, k), v.clone()))
            .collect(),
        error: p.error.clone(),
    })
}

/// `target` + `field`, as one path (`field` is relative to the target).
fn join(target: &Path, field: &str) -> Path {
    if target.as_str().is_empty() {
        Path::parse(field)
    } else {
        Path::parse(&format!("{}.{field}", target.as_str()))
    }
}

fn list(fields: &BTreeSet<String>) -> String {
    if fields.is_empty() {
        "none".into()
    } else {
        fields.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Converts a group's text; the error completes "its group `x` is `text`, ...".
fn convert(c: Conversion, text: &str) -> Result<Value, String> {
    let digits = |t: &str| {
        let t = t.strip_prefix('-').unwrap_or(t);
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
    };
    match c {
        Conversion::Integer => {
            let n = digits(text)
                .then(|| {
                    text.parse::<i64>()
                        .map(Number::from)
                        .or_else(|_| text.parse::<u64>().map(Number::from))
                        .ok()
                })
                .flatten();
            n.map(Value::Number)
                .ok_or_else(|| "not a 64-bit integer".to_string())
        }
        Conversion::Float => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "not a finite number".to_string()),
        Conversion::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("not `true` or `false`".into()),
        },
        Conversion::Ip => text
            .parse::<IpAddr>()
            .map(|ip| Value::String(ip.to_string()))
            .map_err(|_| "not an IPv4 or IPv6 address".into()),
        Conversion::Port => (text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u16>().ok())
            .flatten()
            .map(|p| Value::Number(p.into()))
            .ok_or_else(|| "not a port number (0 to 65535)".into()),
    }
}

/// A short, quoted excerpt of `text` for an error reason: at most 80 characters, control
/// characters escaped so that a dead-letter file stays one line per record and a terminal
/// shows what was there.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::with_capacity(text.len().min(MAX) + 8);
    out.push('`');
    for (n, c) in text.chars().enumerate() {
        if n == MAX {
            out.push_str("`... (");
            out.push_str(&text.chars().count().to_string());
            out.push_str(" characters)");
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

impl MapTransform for ParseRegex {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let writes = {
            let Some(text) = get_str(message, &self.source)? else {
                return Ok(());
            };
            match self.first_match(&text)? {
                Some(writes) => writes,
                None if self.on_no_match == NoMatch::Pass => return Ok(()),
                None => {
                    let what = if self.source.is_root() {
                        "the data".to_string()
                    } else {
                        format!("`{}`", self.source)
                    };
                    return Err(TransformError::invalid(format!(
                        "none of the {} patterns matches {what}: {}",
                        self.patterns.len(),
                        excerpt(&text)
                    )));
                }
            }
        };
        if self.target.root == Root::Data && !message.is_parsed() {
            // The source was a raw line: the fields make a new object.
            message.set_value(Value::Object(Map::new()));
        }
        for (path, value) in writes {
            message.set(path, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Conversion, convert, excerpt};
    use crate::testing::{apply, apply_err, apply_raw, apply_raw_err, build_error, config};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn sshd() -> Value {
        config(
            "parse.regex",
            json!({
                "source": "message",
                "patterns": [
                    {"pattern": r"^Failed (?P<method>\S+) for (?:invalid user )?(?P<user__name>.*) from (?P<source__ip>\S+) port (?P<source__port>\d+) ssh2$",
                     "set": {"event.action": "ssh_login", "event.outcome": "failure", "event.category": ["authentication"]}},
                    {"pattern": r"^Invalid user (?P<user__name>.*) from (?P<source__ip>\S+) port (?P<source__port>\d+)$",
                     "set": {"event.action": "ssh_invalid_user"}},
                    {"pattern": r"^Failed ", "error": "truncated sshd `Failed` message"}
                ],
                "convert": {"source.port": "port", "source__ip": "ip"}
            }),
        )
    }

    #[test]
    fn first_match_writes_groups_set_and_conversions() {
        let out = apply(
            sshd(),
            &json!({"message": "Failed password for root from 89.160.20.156 port 41240 ssh2"}),
        );
        assert_eq!(
            out,
            vec![json!({
                "message": "Failed password for root from 89.160.20.156 port 41240 ssh2",
                "method": "password",
                "user": {"name": "root"},
                "source": {"ip": "89.160.20.156", "port": 41240},
                "event": {"action": "ssh_login", "outcome": "failure", "category": ["authentication"]}
            })]
        );
        let out = apply(
            sshd(),
            &json!({"message": "Invalid user admin from 2001:DB8::0:25 port 22"}),
        );
        assert_eq!(out[0]["source"], json!({"ip": "2001:db8::25", "port": 22}));
        assert_eq!(out[0]["event"], json!({"action": "ssh_invalid_user"}));
    }

    #[test]
    fn anchored_greedy_patterns_resist_log_injection() {
        // The user name carries a fake `from ... port ... ssh2` tail; the real one is last.
        let out = apply(
            sshd(),
            &json!({"message": "Failed password for invalid user x from 10.9.9.9 port 22 ssh2 from 89.160.20.156 port 41411 ssh2"}),
        );
        assert_eq!(out[0]["user"]["name"], "x from 10.9.9.9 port 22 ssh2");
        assert_eq!(out[0]["source"]["ip"], "89.160.20.156");
        assert_eq!(out[0]["source"]["port"], 41411);
    }

    #[test]
    fn empty_groups_are_left_out_and_unicode_and_escapes_kept() {
        let out = apply(
            sshd(),
            &json!({"message": "Invalid user  from 89.160.20.156 port 41408"}),
        );
        assert!(out[0].get("user").is_none(), "{}", out[0]);
        let out = apply(
            sshd(),
            &json!({"message": "Invalid user \u{1b}[31mJosé✓\u{1b}[0m from 10.0.0.1 port 1"}),
        );
        assert_eq!(out[0]["user"]["name"], "\u{1b}[31mJosé✓\u{1b}[0m");
        // A long attacker-chosen name is fine (linear-time matching).
        let long = "A".repeat(8192);
        let out = apply(
            sshd(),
            &json!({"message": format!("Invalid user {long} from 10.0.0.1 port 1")}),
        );
        assert_eq!(out[0]["user"]["name"].as_str().unwrap().len(), 8192);
    }

    #[test]
    fn bad_conversions_and_error_patterns_reach_the_error_route() {
        let e = apply_err(
            sshd(),
            &json!({"message": "Failed password for root from 89.160.20.156 port 70000 ssh2"}),
        );
        assert!(
            e.contains("`source.port` is `70000`, not a port number (0 to 65535) (patterns[0] matched `Failed password for root from 89.160.20.156 port 70000 ssh2`)"),
            "{e}"
        );
        let e = apply_err(
            sshd(),
            &json!({"message": "Failed password for root from 999.1.1.1 port 22 ssh2"}),
        );
        assert!(
            e.contains("`source.ip` is `999.1.1.1`, not an IPv4 or IPv6 address"),
            "{e}"
        );
        let e = apply_err(sshd(), &json!({"message": "Failed password for ro"}));
        assert_eq!(
            e,
            "truncated sshd `Failed` message: `Failed password for ro`"
        );
    }

    #[test]
    fn no_match_passes_or_errors() {
        let input = json!({"message": "Server listening on 0.0.0.0 port 22."});
        assert_eq!(apply(sshd(), &input), vec![input.clone()]);
        let mut c = sshd();
        c["transforms"][0]["on_no_match"] = json!("error");
        let e = apply_err(c, &input);
        assert_eq!(
            e,
            "none of the 3 patterns matches `message`: `Server listening on 0.0.0.0 port 22.`"
        );
    }

    #[test]
    fn missing_source_passes_and_wrong_type_is_an_error() {
        assert_eq!(apply(sshd(), &json!({"a": 1})), vec![json!({"a": 1})]);
        let e = apply_err(sshd(), &json!({"message": 5}));
        assert!(e.contains("`message` is number, expected a string"), "{e}");
    }

    #[test]
    fn raw_lines_become_objects_and_targets_nest() {
        let c = config(
            "parse.regex",
            json!({"patterns": [{"pattern": r"^(?P<k>\w+)=(?P<v>\d+)$"}], "convert": {"v": "integer"}}),
        );
        assert_eq!(
            apply_raw(c.clone(), "count=42"),
            vec![json!({"k": "count", "v": 42})]
        );
        // No match on a raw line leaves it as it was.
        assert_eq!(apply_raw(c, "no match here"), vec![json!("no match here")]);
        let c = config(
            "parse.regex",
            json!({"source": "m", "target": "parsed", "patterns": [
                {"pattern": r"(?P<a__b>x+)", "set": {"kind": "xs"}}]}),
        );
        assert_eq!(
            apply(c, &json!({"m": "--xxx--"})),
            vec![json!({"m": "--xxx--", "parsed": {"a": {"b": "xxx"}, "kind": "xs"}})]
        );
        let c = config(
            "parse.regex",
            json!({"target": "@meta.p", "patterns": [{"pattern": r"(?P<n>\d+)"}]}),
        );
        // Writing to metadata leaves the raw line as it was.
        assert_eq!(apply_raw(c, "abc 12"), vec![json!("abc 12")]);
    }

    #[test]
    fn the_when_path() {
        let mut c = sshd();
        c["transforms"][0]["when"] =
            json!({"type": "string.eq", "source": "program", "value": "sshd"});
        let input = json!({"program": "cron", "message": "Invalid user a from 10.0.0.1 port 1"});
        assert_eq!(apply(c, &input), vec![input.clone()]);
    }

    #[test]
    fn config_errors_name_the_pattern() {
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "ok"}, {"pattern": "(?P<x>["}]}),
        ));
        assert!(
            e.contains("field `patterns[1].pattern`: invalid regex"),
            "{e}"
        );
        let e = build_error(config("parse.regex", json!({"patterns": []})));
        assert!(e.contains("give at least one pattern"), "{e}");
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "(?P<a____b>x)"}]}),
        ));
        assert!(
            e.contains("group `a____b` makes an empty path segment"),
            "{e}"
        );
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "(?P<port>x)", "convert": {"prot": "port"}}]}),
        ));
        assert!(
            e.contains("field `patterns[0].convert`: `prot` is not a named group of this pattern (groups: port)"),
            "{e}"
        );
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "(?P<port>x)"}], "convert": {"prt": "port"}}),
        ));
        assert!(
            e.contains("field `convert`: `prt` is not a named group of any pattern"),
            "{e}"
        );
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "x", "error": "bad", "set": {"a": 1}}]}),
        ));
        assert!(e.contains("field `patterns[0].error`"), "{e}");
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "x", "sett": {}}]}),
        ));
        assert!(e.contains("unknown field `sett`"), "{e}");
        let e = build_error(config(
            "parse.regex",
            json!({"patterns": [{"pattern": "x"}], "on_no_match": "drop"}),
        ));
        assert!(e.contains("on_no_match"), "{e}");
    }

    #[test]
    fn conversions() {
        assert_eq!(convert(Conversion::Integer, "-42"), Ok(json!(-42)));
        assert_eq!(
            convert(Conversion::Integer, "18446744073709551615"),
            Ok(json!(u64::MAX))
        );
        assert!(convert(Conversion::Integer, "+1").is_err());
        assert!(convert(Conversion::Integer, "1.5").is_err());
        assert_eq!(convert(Conversion::Float, "1.5"), Ok(json!(1.5)));
        assert!(convert(Conversion::Float, "NaN").is_err());
        assert_eq!(convert(Conversion::Boolean, "TRUE"), Ok(json!(true)));
        assert!(convert(Conversion::Boolean, "yes").is_err());
        assert_eq!(convert(Conversion::Ip, "10.0.0.1"), Ok(json!("10.0.0.1")));
        assert!(convert(Conversion::Ip, "010.0.0.1").is_err());
        assert_eq!(convert(Conversion::Port, "0"), Ok(json!(0)));
        assert_eq!(convert(Conversion::Port, "65535"), Ok(json!(65535)));
        assert!(convert(Conversion::Port, "65536").is_err());
        assert!(convert(Conversion::Port, "-1").is_err());
        assert!(convert(Conversion::Port, "+1").is_err());
    }

    #[test]
    fn excerpts_are_short_and_one_line() {
        assert_eq!(excerpt("a\nb\u{1b}"), "`a\\nb\\u{1b}`");
        let e = excerpt(&"x".repeat(100));
        assert!(e.ends_with("`... (100 characters)"), "{e}");
        assert_eq!(
            apply_raw_err(
                config(
                    "parse.regex",
                    json!({"patterns": [{"pattern": "^a", "error": "starts with a"}]})
                ),
                "abc"
            ),
            "starts with a: `abc`"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the user name, a line built from parts parses back into the same parts
        /// (the patterns are anchored at the end, so injected tails cannot move the source).
        #[test]
        fn parts_round_trip(user in "[^\n]{0,40}", ip in any::<std::net::IpAddr>(), port in any::<u16>()) {
            let line = format!("Failed password for {user} from {ip} port {port} ssh2");
            let out = apply(sshd(), &json!({"message": line}));
            let expected_user = user.strip_prefix("invalid user ").unwrap_or(&user);
            prop_assert_eq!(&out[0]["source"]["ip"], &json!(ip.to_string()));
            prop_assert_eq!(&out[0]["source"]["port"], &json!(port));
            if expected_user.is_empty() {
                prop_assert!(out[0].get("user").is_none());
            } else {
                prop_assert_eq!(&out[0]["user"]["name"], &json!(expected_user));
            }
        }
    }
}
