//! The parse family: turn raw text into structured data.
//!
//! `parse.json` is the usual first step. With `expand`, one input line that holds many events
//! (a JSON array, or CloudTrail's `{"Records": [...]}` S3 files) becomes one message per event.
//! Expansion only scans the outer document: each event keeps its own bytes and is parsed when a
//! later transform first reads it, so nothing is parsed twice.

use crate::common::target_or;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_core::{Failed, Map, Message, Output, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("parse.json", |s: ParseJsonSettings, b| {
        if s.expand && !(s.source.is_root() && s.target.is_none()) {
            return Err(
                b.fail("`expand` works on the whole data only; leave out source and target")
            );
        }
        let quoted_key = format!("\"{}\"", s.records_key);
        Ok(ParseJson { s, quoted_key })
    });
}

/// Parse text as JSON. The whole data by default, or a string field holding JSON.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ParseJsonSettings {
    /// A string field holding JSON; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to put the parsed value; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Split a top-level array, or an object's `records_key` array, into one message per element.
    #[serde(default)]
    pub expand: bool,
    /// The array key that `expand` splits when the data is an object.
    #[serde(default = "records_key")]
    pub records_key: String,
    /// With `expand`, parse a single event (one that is not a list) at once, for pipelines
    /// whose next steps read its fields: by default its text is only checked, and the first
    /// transform that reads a field parses it (so events that pass on unread are never
    /// parsed, but events that are read are scanned twice).
    #[serde(default)]
    pub parse_now: bool,
}

fn records_key() -> String {
    "Records".into()
}

struct ParseJson {
    s: ParseJsonSettings,
    /// `"Records"`, searched for before the costlier split.
    quoted_key: String,
}

impl Map for ParseJson {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        if self.s.expand {
            return self.expand(message, out);
        }
        match self.parse(&mut message) {
            Ok(()) => {
                out.push(message);
                Ok(())
            }
            Err(error) => Err(Failed::new(message, error)),
        }
    }
}

impl ParseJson {
    fn parse(&self, message: &mut Message) -> Result<(), TransformError> {
        let s = &self.s;
        if s.source.is_root() && s.target.is_none() {
            return message.value().map(|_| ());
        }
        let Some(text) = crate::common::get_str(message, &s.source)? else {
            return Ok(());
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(TransformError::NotJson)?;
        message.set(target_or(&s.target, &s.source), value)
    }

    fn expand(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let elements = {
            let bytes = message.bytes();
            split_elements(&bytes, &self.s.records_key, &self.quoted_key)
        };
        match elements {
            Ok(Some(items)) => {
                for raw in items {
                    let mut m = Message::new(raw);
                    if !message.meta().is_null() {
                        *m.meta_mut() = message.meta().as_object().cloned().unwrap_or_default();
                    }
                    out.push(m);
                }
                Ok(())
            }
            // A single event: checked here, parsed by the first transform that reads a field
            // (a one-pass mapper such as `ecs.cloudtrail` reads the text without a tree).
            Ok(None) if self.s.parse_now => match message.value() {
                Ok(_) => {
                    out.push(message);
                    Ok(())
                }
                Err(e) => Err(Failed::new(message, e)),
            },
            Ok(None) => match check_json(&message.bytes()) {
                Ok(_) => {
                    out.push(message);
                    Ok(())
                }
                Err(e) => Err(Failed::new(message, TransformError::NotJson(e))),
            },
            Err(e) => Err(Failed::new(message, TransformError::NotJson(e))),
        }
    }
}

/// Checks that `bytes` are JSON through and through (escapes and surrogates too, which
/// `IgnoredAny` skips) without building a tree: strings are decoded into serde_json's scratch
/// buffer and let go.
pub fn check_json(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Valid>(bytes).map(|_| ())
}

struct Valid;

impl<'de> serde::Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Valid, D::Error> {
        d.deserialize_any(ValidVisitor)
    }
}

struct ValidVisitor;

impl<'de> serde::de::Visitor<'de> for ValidVisitor {
    type Value = Valid;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

/// The raw text of each element when the data is an array or holds one under `key`.
fn split_elements(
    bytes: &[u8],
    key: &str,
    quoted_key: &str,
) -> Result<Option<Vec<Vec<u8>>>, serde_json::Error> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let raw: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(bytes)?,
        Some(b'{') => {
            // Most lines are single events: when the key is nowhere in the text, only validate.
            if memchr::memmem::find(bytes, quoted_key.as_bytes()).is_none() {
                return Ok(None);
            }
            let object: std::collections::HashMap<&str, &RawValue> =
                match serde_json::from_slice(bytes) {
                    Ok(o) => o,
                    // Keys with escapes cannot be borrowed; such objects are single events.
                    Err(e) if e.is_data() => return Ok(None),
                    Err(e) => return Err(e),
                };
            match object.get(key) {
                Some(records) if records.get().starts_with('[') => {
                    serde_json::from_str(records.get())?
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(
        raw.into_iter()
            .map(|r| r.get().as_bytes().to_vec())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_raw, apply_raw_err, config};
    use serde_json::json;

    #[test]
    fn parses_a_line_and_a_field() {
        assert_eq!(
            apply_raw(config("parse.json", json!({})), r#"{"a":1}"#),
            vec![json!({"a": 1})]
        );
        assert_eq!(
            apply(
                config("parse.json", json!({"source": "s", "target": "p"})),
                &json!({"s": "[1,2]"})
            ),
            vec![json!({"s": "[1,2]", "p": [1, 2]})]
        );
    }

    #[test]
    fn expands_arrays_and_records() {
        let c = config("parse.json", json!({"expand": true}));
        assert_eq!(
            apply_raw(c.clone(), r#"[{"a":1},{"a":2}]"#),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
        assert_eq!(
            apply_raw(
                c.clone(),
                r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#
            ),
            vec![json!({"eventName": "A"}), json!({"eventName": "B"})]
        );
        assert_eq!(
            apply_raw(c.clone(), r#"{"eventName":"A"}"#),
            vec![json!({"eventName": "A"})]
        );
        assert_eq!(
            apply_raw(c, r#"{"Records":[]}"#),
            Vec::<serde_json::Value>::new()
        );
    }

    #[test]
    fn parse_now_gives_the_same_messages_and_errors() {
        let lines = [
            r#"{ "eventName": "A",  "n": 18446744073709551615 }"#,
            r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": tru"#,
            "[1,2]",
            "42",
        ];
        for line in lines {
            let run = |settings| {
                let p = crate::testing::run(
                    config("parse.json", settings),
                    vec![sluice_core::Message::new(line)],
                );
                let raw: Vec<Vec<u8>> = p.output.iter().map(|m| m.bytes().into_owned()).collect();
                (raw, crate::testing::reasons(&p))
            };
            let parsed = run(json!({"expand": true, "parse_now": true}));
            assert_eq!(parsed, run(json!({"expand": true})), "{line}");
        }
    }

    #[test]
    fn keeps_big_integers_exact() {
        let out = apply_raw(
            config("parse.json", json!({})),
            r#"{"id":18446744073709551615,"n":9223372036854775807}"#,
        );
        assert_eq!(out[0]["id"].as_u64(), Some(u64::MAX));
        assert_eq!(out[0]["n"].as_i64(), Some(i64::MAX));
    }

    #[test]
    fn bad_json_is_an_error_with_the_reason() {
        let err = apply_raw_err(config("parse.json", json!({})), r#"{"a": tru"#);
        assert!(err.starts_with("data is not valid JSON"), "{err}");
        let err = apply_raw_err(
            config("parse.json", json!({"expand": true})),
            r#"[{"a":1},"#,
        );
        assert!(err.starts_with("data is not valid JSON"), "{err}");
        let err = apply_raw_err(config("parse.json", json!({"source": "s"})), r#"{"s": 5}"#);
        assert!(err.contains("expected a string"), "{err}");
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let p = crate::testing::run(config("parse.json", json!({})), vec![]);
        assert!(p.output.is_empty() && p.errors.is_empty());
    }
}
