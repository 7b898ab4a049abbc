//! The hash family: hex digests of a field or of the whole data. SHA-256, SHA-1 and MD5 are
//! for matching indicators and for `event.hash`; xxHash (XXH3, 64-bit) is not cryptographic and
//! is for fast dedupe and sampling keys.

use crate::common::target_or;
use md5::Md5;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_core::path::Root;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("hash.sha256", |s: HashSettings, _| {
        Ok(Hash { s, digest: sha256 })
    });
    r.map("hash.md5", |s: HashSettings, _| Ok(Hash { s, digest: md5 }));
    r.map("hash.sha1", |s: HashSettings, _| {
        Ok(Hash { s, digest: sha1 })
    });
    r.map("hash.xxhash", |s: HashSettings, _| {
        Ok(Hash { s, digest: xxhash })
    });
}

/// Hex digest of a field's text (strings as they are, other values as compact JSON), or of the
/// whole data's bytes.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HashSettings {
    /// What to hash; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the hex digest; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

struct Hash {
    s: HashSettings,
    digest: fn(&[u8]) -> String,
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn md5(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

pub fn sha1(bytes: &[u8]) -> String {
    hex::encode(<sha1::Sha1 as sha1::Digest>::digest(bytes))
}

/// XXH3 64-bit with seed 0, as 16 hex digits (big-endian, the way `xxhsum -H3` prints it).
pub fn xxhash(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

impl MapTransform for Hash {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let source = &self.s.source;
        let hex = if source.is_root() && source.root == Root::Data {
            (self.digest)(&message.bytes())
        } else {
            match message.get_text(source)? {
                Some(text) => (self.digest)(text.as_bytes()),
                None => return Ok(()),
            }
        };
        message.set(target_or(&self.s.target, source), Value::String(hex))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_raw, config};
    use serde_json::{Value, json};

    #[test]
    fn digests_fields_and_whole_data() {
        let out = apply(
            config("hash.sha256", json!({"source": "a", "target": "h"})),
            &json!({"a": "abc"}),
        );
        assert_eq!(
            out[0]["h"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let out = apply(
            config("hash.md5", json!({"source": "a", "target": "h"})),
            &json!({"a": "abc"}),
        );
        assert_eq!(out[0]["h"], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            apply_raw(config("hash.md5", json!({})), "abc"),
            vec![json!("900150983cd24fb0d6963f7d28e17f72")]
        );
        // Absent fields pass unchanged; non-strings hash their JSON text.
        assert_eq!(
            apply(
                config("hash.md5", json!({"source": "zz"})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        let out = apply(
            config("hash.md5", json!({"source": "a", "target": "h"})),
            &json!({"a": 1}),
        );
        assert_eq!(out[0]["h"], "c4ca4238a0b923820dcc509a6f75849b");
    }

    #[test]
    fn example_config() {
        crate::network::run_example("hash.jsonnet");
    }

    #[test]
    fn sha1_and_xxhash() {
        let h = |ty: &str, input: &Value| {
            apply(config(ty, json!({"source": "a", "target": "h"})), input)[0]["h"].clone()
        };
        assert_eq!(
            h("hash.sha1", &json!({"a": "abc"})),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            h("hash.sha1", &json!({"a": ""})),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        // XXH3-64 reference values (xxhsum -H3): the empty input and "abc".
        assert_eq!(h("hash.xxhash", &json!({"a": ""})), "2d06800538d394c2");
        assert_eq!(h("hash.xxhash", &json!({"a": "abc"})), "78af5f94892f3950");
        // Unicode hashes its UTF-8 bytes; the whole raw data hashes as it is.
        assert_eq!(
            h("hash.sha1", &json!({"a": "é"})),
            super::sha1("é".as_bytes())
        );
        assert_eq!(
            apply_raw(config("hash.xxhash", json!({})), "abc"),
            vec![json!("78af5f94892f3950")]
        );
        assert_eq!(
            apply(config("hash.sha1", json!({"source": "zz"})), &json!({})),
            vec![json!({})]
        );
    }
}
