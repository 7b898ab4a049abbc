//! Format inspectors: is the data (or a field) JSON, and what kind of content is it by its
//! magic bytes (gzip, zstd, bzip2, snappy, zip, xz, text or other binary).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::path::Root;
use sluice_core::{Condition, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.condition("format.json", |s: JsonSettings, _| Ok(s));
    r.condition("format.mime", |s: MimeSettings, _| Ok(s));
}

fn is_data_root(path: &Path) -> bool {
    path.is_root() && path.root == Root::Data
}

/// True when the whole data is valid JSON (any JSON value), or when a string field holds valid
/// JSON text. A field holding any other value is JSON already and passes; an absent one fails.
/// Testing the whole data parses it once, so later transforms do not parse it again.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JsonSettings {
    /// The field to test; the whole data by default.
    #[serde(default)]
    pub source: Path,
}

impl Condition for JsonSettings {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        if is_data_root(&self.source) {
            return Ok(message.value().is_ok());
        }
        Ok(match message.get(&self.source)? {
            None => false,
            Some(Value::String(text)) => crate::parse::check_json(text.as_bytes()).is_ok(),
            Some(_) => true,
        })
    }
}

/// The kinds of content `format.mime` tells apart. Substation's MIME names are accepted too
/// (`application/x-gzip`, `application/zstd`, `text/plain; charset=utf-8`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mime {
    /// Starts with 1f 8b.
    #[serde(alias = "application/gzip", alias = "application/x-gzip")]
    Gzip,
    /// A zstd frame (28 b5 2f fd).
    #[serde(alias = "application/zstd", alias = "application/x-zstd")]
    Zstd,
    /// Starts with `BZh`.
    #[serde(alias = "application/x-bzip2")]
    Bzip2,
    /// The snappy framing format's stream identifier (ff 06 00 00 `sNaPpY`).
    #[serde(alias = "application/x-snappy-framed")]
    Snappy,
    /// A zip archive (`PK` 03 04, or 05 06 when empty).
    #[serde(alias = "application/zip")]
    Zip,
    /// xz (fd `7zXZ` 00).
    #[serde(alias = "application/x-xz")]
    Xz,
    /// UTF-8 text without binary control bytes (the empty data counts as text).
    #[serde(alias = "text/plain", alias = "text/plain; charset=utf-8")]
    Text,
    /// Anything else.
    #[serde(alias = "application/octet-stream")]
    Binary,
}

/// How much of the data the text check looks at, as Go's `http.DetectContentType` does.
const SNIFF_LEN: usize = 512;

/// The kind of content, from its first bytes.
pub fn detect(bytes: &[u8]) -> Mime {
    const MAGIC: &[(&[u8], Mime)] = &[
        (&[0x1f, 0x8b], Mime::Gzip),
        (&[0x28, 0xb5, 0x2f, 0xfd], Mime::Zstd),
        (b"BZh", Mime::Bzip2),
        (b"\xff\x06\x00\x00sNaPpY", Mime::Snappy),
        (b"PK\x03\x04", Mime::Zip),
        (b"PK\x05\x06", Mime::Zip),
        (b"\xfd7zXZ\x00", Mime::Xz),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(m, _)| bytes.starts_with(m)) {
        return *kind;
    }
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    let binary_byte = head
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f));
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut at the sniffing limit is still text.
        Err(e) => e.error_len().is_none() && bytes.len() > SNIFF_LEN,
    };
    if utf8 && !binary_byte {
        Mime::Text
    } else {
        Mime::Binary
    }
}

/// True when the content (whole data by default, or a field's text) is of kind `value`, judged
/// by its magic bytes: `gzip`, `zstd`, `bzip2`, `snappy` (framed), `zip`, `xz`, `text` (UTF-8
/// without binary control bytes) or `binary` (anything else). Use it to route mixed inputs to
/// the right `format.from_*` decoder.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MimeSettings {
    /// The field to test; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// The expected kind.
    pub value: Mime,
}

impl Condition for MimeSettings {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        if is_data_root(&self.source) {
            return Ok(detect(&message.bytes()) == self.value);
        }
        Ok(message
            .get_text(&self.source)?
            .is_some_and(|t| detect(t.as_bytes()) == self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{build_error, config, run};
    use serde_json::json;

    fn passes(when: Value, input: impl Into<Vec<u8>>) -> bool {
        let mut c = config(
            "object.insert",
            json!({"target": "@meta.hit", "value": true}),
        );
        c["transforms"][0]["when"] = when;
        let p = run(c, vec![Message::new(input)]);
        assert!(p.errors.is_empty(), "{:?}", crate::testing::reasons(&p));
        p.output[0].meta().get("hit").is_some()
    }

    #[test]
    fn json() {
        let t = json!({"type": "format.json"});
        assert!(passes(t.clone(), r#"{"a": [1, "é"]}"#));
        assert!(passes(t.clone(), "42"));
        assert!(!passes(t.clone(), "{nope"));
        // A lone surrogate is not JSON that anything downstream can decode.
        let field = json!({"type": "format.json", "source": "s"});
        assert!(!passes(
            field.clone(),
            json!({"s": "\"\\ud800\""}).to_string()
        ));
        assert!(passes(field, json!({"s": "[1, \"\\u00e9\"]"}).to_string()));
        assert!(!passes(t.clone(), ""));
        assert!(!passes(t, vec![0xff, 0xfe]));
        let f = json!({"type": "format.json", "source": "m"});
        assert!(passes(f.clone(), r#"{"m": "{\"x\":1}"}"#));
        assert!(!passes(f.clone(), r#"{"m": "x=1"}"#));
        assert!(passes(f.clone(), r#"{"m": {"x": 1}}"#));
        assert!(!passes(f, r#"{"z": 1}"#));
    }

    #[test]
    fn detects_magic_bytes() {
        assert_eq!(detect(&crate::format::gzip(b"x", 6)), Mime::Gzip);
        assert_eq!(
            detect(&ruzstd::encoding::compress_to_vec(
                &b"x"[..],
                ruzstd::encoding::CompressionLevel::Fastest
            )),
            Mime::Zstd
        );
        assert_eq!(detect(b"BZh91AY&SY"), Mime::Bzip2);
        assert_eq!(detect(b"\xff\x06\x00\x00sNaPpY\x00"), Mime::Snappy);
        assert_eq!(detect(b"PK\x03\x04\x14\x00"), Mime::Zip);
        assert_eq!(detect(b"\xfd7zXZ\x00\x00"), Mime::Xz);
        assert_eq!(detect(b""), Mime::Text);
        assert_eq!(detect("plain ünïcode\ttext\r\n".as_bytes()), Mime::Text);
        assert_eq!(detect(b"\x00\x01\x02"), Mime::Binary);
        assert_eq!(detect(b"caf\xe9"), Mime::Binary);
        // A multi-byte character cut at the sniffing limit is still text.
        let mut long = vec![b'a'; SNIFF_LEN - 1];
        long.extend("é and more".as_bytes());
        assert_eq!(detect(&long), Mime::Text);
    }

    #[test]
    fn mime_condition() {
        let gz = crate::format::gzip(b"hello", 6);
        assert!(passes(
            json!({"type": "format.mime", "value": "gzip"}),
            gz.clone()
        ));
        assert!(passes(
            json!({"type": "format.mime", "value": "application/x-gzip"}),
            gz.clone()
        ));
        assert!(!passes(json!({"type": "format.mime", "value": "text"}), gz));
        assert!(passes(
            json!({"type": "format.mime", "value": "text/plain; charset=utf-8"}),
            "a line"
        ));
        assert!(passes(
            json!({"type": "format.mime", "source": "m", "value": "text"}),
            r#"{"m": "x"}"#
        ));
        assert!(!passes(
            json!({"type": "format.mime", "source": "zz", "value": "text"}),
            r#"{"m": "x"}"#
        ));
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "format.mime", "value": "gzipped"});
        assert!(build_error(c).contains("unknown variant `gzipped`"));
    }
}
