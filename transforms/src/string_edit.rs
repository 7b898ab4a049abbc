//! String edits: append and prepend, snake_case and camelCase, trim, truncate, and new UUIDs.
//! (Case, replace, split and capture are in `string`.)
//!
//! Like the rest of the string family these work on a text field or on the whole data (a raw
//! line stays a raw line). Lengths count Unicode characters (scalar values), never bytes, so a
//! cut never splits a UTF-8 sequence; it can still separate a base letter from a combining accent
//! or split an emoji sequence joined by ZWJ.

use crate::common::{map_str, target_or};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("string.append", |s: AffixSettings, b| affix(s, false, b));
    r.map("string.prepend", |s: AffixSettings, b| affix(s, true, b));
    r.map("string.to_snake", |s: WordCaseSettings, _| {
        Ok(WordCase { s, camel: false })
    });
    r.map("string.to_camel", |s: WordCaseSettings, _| {
        Ok(WordCase { s, camel: true })
    });
    r.map("string.trim", |s: TrimSettings, b| {
        if s.characters.as_deref() == Some("") {
            return Err(
                b.fail("field `characters`: must not be empty (leave it out to trim whitespace)")
            );
        }
        Ok(s)
    });
    r.map("string.truncate", |s: TruncateSettings, b| {
        let suffix_len = s.suffix.chars().count();
        if s.length == 0 {
            return Err(b.fail("field `length`: must be at least 1"));
        }
        if suffix_len >= s.length {
            return Err(b.fail(format!(
                "field `suffix`: {suffix_len} characters leave no room within `length` {}",
                s.length
            )));
        }
        Ok(s)
    });
    r.map("string.uuid", |s: UuidSettings, _| Ok(s));
}

fn affix(
    s: AffixSettings,
    prepend: bool,
    b: &sluice_core::Builder,
) -> Result<Affix, sluice_core::ConfigErrors> {
    if s.value.is_some() == s.value_from.is_some() {
        return Err(b.fail("give exactly one of `value` and `value_from`"));
    }
    Ok(Affix { s, prepend })
}

/// Add text to the end (`string.append`) or the start (`string.prepend`) of a string: a
/// constant `value`, or the text of the field `value_from` (numbers and other values as their
/// JSON text).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AffixSettings {
    /// The string to extend; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// The constant text to add.
    #[serde(default)]
    pub value: Option<String>,
    /// A field whose text to add; when it is absent the message passes unchanged.
    #[serde(default)]
    pub value_from: Option<Path>,
}

struct Affix {
    s: AffixSettings,
    prepend: bool,
}

impl MapTransform for Affix {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let extra = match (&self.s.value, &self.s.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match message.get_text(from)? {
                Some(text) => text.into_owned(),
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        map_str(message, &self.s.source, &self.s.target, |t| {
            let mut out = String::with_capacity(t.len() + extra.len());
            if self.prepend {
                out.push_str(&extra);
                out.push_str(t);
            } else {
                out.push_str(t);
                out.push_str(&extra);
            }
            Ok(Value::String(out))
        })
    }
}

/// Rewrite a string in snake_case (`string.to_snake`: `eventSource` → `event_source`,
/// `HTTPServer` → `http_server`) or camelCase (`string.to_camel`: `event_source` →
/// `eventSource`). Words break at case changes, digits-to-letters stay together, and spaces,
/// dashes, dots and other punctuation separate words.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WordCaseSettings {
    /// The string to rewrite; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

struct WordCase {
    s: WordCaseSettings,
    camel: bool,
}

/// Splits text into words: at non-alphanumeric characters, before an upper-case letter that
/// follows a lower-case letter or digit, and before the last capital of an acronym followed by
/// a lower-case letter (`HTTPServer` → `HTTP`, `Server`).
pub fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// snake_case of a text.
pub fn to_snake(text: &str) -> String {
    words(text)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// camelCase of a text.
pub fn to_camel(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in words(text).iter().enumerate() {
        let lower = word.to_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

impl MapTransform for WordCase {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_str(message, &self.s.source, &self.s.target, |t| {
            Ok(Value::String(if self.camel {
                to_camel(t)
            } else {
                to_snake(t)
            }))
        })
    }
}

/// Which ends `string.trim` trims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Both ends.
    #[default]
    Both,
    /// Only the start.
    Start,
    /// Only the end.
    End,
}

/// Remove whitespace (Unicode), or any of the given `characters`, from the ends of a string.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrimSettings {
    /// The string to trim; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Characters to remove instead of whitespace, e.g. `"\"' "` for quotes and spaces.
    #[serde(default)]
    pub characters: Option<String>,
    /// `both` (default), `start` or `end`.
    #[serde(default)]
    pub side: Side,
}

impl MapTransform for TrimSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        map_str(message, &self.source, &self.target, |t| {
            let strip = |c: char| match &self.characters {
                Some(set) => set.contains(c),
                None => c.is_whitespace(),
            };
            let out = match self.side {
                Side::Both => t.trim_matches(strip),
                Side::Start => t.trim_start_matches(strip),
                Side::End => t.trim_end_matches(strip),
            };
            Ok(Value::String(out.to_string()))
        })
    }
}

/// Shorten a string to at most `length` characters (Unicode scalar values, so never inside a
/// UTF-8 sequence). With a `suffix` (like `...`), a shortened string ends with it and the
/// suffix counts within `length`. Shorter strings pass unchanged.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TruncateSettings {
    /// The string to shorten; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// The most characters to keep, suffix included.
    pub length: usize,
    /// Text to end a shortened string with, e.g. `...`.
    #[serde(default)]
    pub suffix: String,
}

/// Cuts `text` to at most `length` characters, ending a cut text with `suffix`.
pub fn truncate(text: &str, length: usize, suffix: &str) -> Option<String> {
    // The byte offset of character `length`, if the text is longer than that.
    let (cut, _) = text.char_indices().nth(length)?;
    let keep = length - suffix.chars().count();
    let end = text.char_indices().nth(keep).map_or(cut, |(i, _)| i);
    Some(format!("{}{suffix}", &text[..end]))
}

impl MapTransform for TruncateSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let target = target_or(&self.target, &self.source);
        let Some(text) = crate::common::get_str(message, &self.source)? else {
            return Ok(());
        };
        let Some(short) = truncate(&text, self.length, &self.suffix) else {
            if target == &self.source {
                return Ok(());
            }
            let same = Value::String(text.into_owned());
            return message.set(target, same);
        };
        message.set(target, Value::String(short))
    }
}

/// Write a new random UUID (version 4, like `0b4f3c8e-6c1d-4a7e-9f3a-2d5e8c7b1a90`) to
/// `target`, e.g. an event ID or an idempotency key. Use `when` to write one only where needed.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UuidSettings {
    /// Where to write the UUID.
    pub target: Path,
}

impl MapTransform for UuidSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let id = uuid::Uuid::new_v4();
        let mut buf = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut buf);
        message.set(&self.target, Value::String(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, apply_err, apply_raw, build_error, config};
    use proptest::prelude::*;
    use serde_json::json;

    fn one(t: &str, settings: Value, input: Value) -> Value {
        apply(config(t, settings), &input).remove(0)
    }

    #[test]
    fn append_and_prepend() {
        let input = json!({"user": "alice", "acct": 123456789012u64, "s": "ünï"});
        assert_eq!(
            one(
                "string.append",
                json!({"source": "user", "value": "@corp"}),
                input.clone()
            )["user"],
            json!("alice@corp")
        );
        assert_eq!(
            one(
                "string.prepend",
                json!({"source": "user", "target": "arn", "value_from": "acct"}),
                input.clone()
            )["arn"],
            json!("123456789012alice")
        );
        assert_eq!(
            one(
                "string.append",
                json!({"source": "s", "value": "✓"}),
                input.clone()
            )["s"],
            json!("ünï✓")
        );
        // Absent source or value_from: unchanged.
        for s in [
            json!({"source": "zz", "value": "x"}),
            json!({"source": "user", "value_from": "zz"}),
        ] {
            assert_eq!(one("string.append", s, input.clone()), input);
        }
        assert_eq!(
            apply_raw(config("string.prepend", json!({"value": "> "})), "line"),
            vec![json!("> line")]
        );
        let e = apply_err(
            config("string.append", json!({"source": "acct", "value": "x"})),
            &input,
        );
        assert!(e.contains("`acct` is number, expected a string"), "{e}");
        let e = build_error(config(
            "string.append",
            json!({"value": "a", "value_from": "b"}),
        ));
        assert!(e.contains("exactly one of `value` and `value_from`"), "{e}");
        let e = build_error(config("string.prepend", json!({})));
        assert!(e.contains("exactly one of"), "{e}");
    }

    #[test]
    fn snake_and_camel() {
        for (input, snake, camel) in [
            ("eventSource", "event_source", "eventSource"),
            ("ConsoleLogin", "console_login", "consoleLogin"),
            ("HTTPServerError", "http_server_error", "httpServerError"),
            ("userID", "user_id", "userId"),
            ("ipv4Address", "ipv4_address", "ipv4Address"),
            (
                "already_snake_case",
                "already_snake_case",
                "alreadySnakeCase",
            ),
            ("  x-amz-request id ", "x_amz_request_id", "xAmzRequestId"),
            ("Ünïcode Wörds", "ünïcode_wörds", "ünïcodeWörds"),
            ("", "", ""),
            ("---", "", ""),
        ] {
            assert_eq!(to_snake(input), snake, "{input}");
            assert_eq!(to_camel(input), camel, "{input}");
        }
        assert_eq!(
            one(
                "string.to_snake",
                json!({"source": "a", "target": "b"}),
                json!({"a": "GetObject"})
            )["b"],
            json!("get_object")
        );
        assert_eq!(
            one(
                "string.to_camel",
                json!({"source": "a"}),
                json!({"a": "get_object"})
            )["a"],
            json!("getObject")
        );
    }

    #[test]
    fn trim() {
        let t = |s: Value, v: &str| one("string.trim", s, json!({"v": v}))["v"].clone();
        assert_eq!(t(json!({"source": "v"}), " \t x y \n"), json!("x y"));
        assert_eq!(
            t(json!({"source": "v"}), "\u{3000}全角\u{3000}"),
            json!("全角")
        );
        assert_eq!(
            t(
                json!({"source": "v", "characters": "\"' "}),
                "\" 'quoted' \""
            ),
            json!("quoted")
        );
        assert_eq!(
            t(
                json!({"source": "v", "side": "end", "characters": "."}),
                "..a.."
            ),
            json!("..a")
        );
        assert_eq!(
            t(json!({"source": "v", "side": "start"}), "  a  "),
            json!("a  ")
        );
        assert_eq!(t(json!({"source": "v"}), "   "), json!(""));
        let e = build_error(config("string.trim", json!({"characters": ""})));
        assert!(e.contains("field `characters`: must not be empty"), "{e}");
        let e = build_error(config("string.trim", json!({"side": "left"})));
        assert!(e.contains("field `side`"), "{e}");
    }

    #[test]
    fn truncate_on_char_boundaries() {
        assert_eq!(truncate("abcdef", 4, ""), Some("abcd".into()));
        assert_eq!(truncate("abcdef", 4, "..."), Some("a...".into()));
        assert_eq!(truncate("abcd", 4, "..."), None);
        assert_eq!(truncate("ééééé", 3, ""), Some("ééé".into()));
        assert_eq!(
            truncate("日本語のテキスト", 5, "…"),
            Some("日本語の…".into())
        );
        let t = |s: Value, v: &str| one("string.truncate", s, json!({"v": v}));
        assert_eq!(
            t(json!({"source": "v", "length": 3}), "Mozilla/5.0")["v"],
            json!("Moz")
        );
        assert_eq!(
            t(json!({"source": "v", "target": "w", "length": 30}), "short")["w"],
            json!("short")
        );
        assert_eq!(
            t(json!({"source": "v", "length": 30}), "short"),
            json!({"v": "short"})
        );
        let e = build_error(config(
            "string.truncate",
            json!({"length": 3, "suffix": "..."}),
        ));
        assert!(
            e.contains("field `suffix`: 3 characters leave no room"),
            "{e}"
        );
        let e = build_error(config("string.truncate", json!({"length": 0})));
        assert!(e.contains("field `length`: must be at least 1"), "{e}");
        let e = build_error(config("string.truncate", json!({})));
        assert!(e.contains("length"), "{e}");
    }

    #[test]
    fn uuid_v4_and_when() {
        let out = one("string.uuid", json!({"target": "event.id"}), json!({}));
        let id = out["event"]["id"].as_str().unwrap();
        let parsed = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id, id.to_lowercase());
        let other = one("string.uuid", json!({"target": "event.id"}), json!({}));
        assert_ne!(out, other);
        let mut c = config("string.uuid", json!({"target": "id"}));
        c["transforms"][0]["when"] = json!({"type": "exists", "source": "needs_id"});
        assert_eq!(apply(c.clone(), &json!({"a": 1})), vec![json!({"a": 1})]);
        assert!(apply(c, &json!({"needs_id": true}))[0]["id"].is_string());
    }

    #[test]
    fn example_config() {
        crate::aggregate::tests::check_example("string");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// A truncated string is a prefix of the input (plus the suffix) within the length;
        /// snake_case (of ASCII names) and trimming are idempotent.
        #[test]
        fn laws(text in "\\PC{0,40}", length in 2usize..30, name in "[a-zA-Z0-9 _.-]{0,30}") {
            match truncate(&text, length, "…") {
                Some(short) => {
                    prop_assert!(short.chars().count() <= length);
                    let kept = short.strip_suffix('…').unwrap();
                    prop_assert!(text.starts_with(kept));
                }
                None => prop_assert!(text.chars().count() <= length),
            }
            let snake = to_snake(&name);
            prop_assert_eq!(to_snake(&snake), snake.clone());
            let trimmed = text.trim().to_string();
            prop_assert_eq!(trimmed.trim(), trimmed.as_str());
        }
    }
}
