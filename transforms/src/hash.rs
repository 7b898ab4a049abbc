//! The hash family: hex digests of a field or of the whole data.

use crate::common::target_or;
use md5::Md5;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_core::path::Root;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.transform("hash.sha256", |s: HashSettings, _| {
        Ok(Hash { s, digest: sha256 })
    });
    r.transform("hash.md5", |s: HashSettings, _| Ok(Hash { s, digest: md5 }));
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
    use serde_json::json;

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
}
