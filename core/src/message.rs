//! The message: the unit that flows through a pipeline.
//!
//! `data` is the event. It arrives as bytes and is parsed to a JSON value only when a transform
//! first needs a field, then serialized once when it leaves; a pipeline that never looks inside
//! (gzip, base64, a plain-text line) never pays for JSON. `meta` is a JSON object that travels
//! with the event and is never written out unless a transform copies it into the data.
//! A control message carries no data: it tells batching transforms and sinks to flush.

use crate::error::TransformError;
use crate::path::{Path, Root};
use serde_json::{Map, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
enum Data {
    Bytes(Vec<u8>),
    /// Parsed. `raw` keeps the bytes it was parsed from until the value first changes, so the
    /// original text can be kept (`event.original`) and an unchanged event is written out
    /// without serializing it again.
    Json {
        value: Value,
        raw: Option<Vec<u8>>,
    },
}

/// One event and its metadata, or a control (flush) signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    data: Data,
    meta: Value,
    control: bool,
}

impl Message {
    /// A data message from raw bytes (a line of a file, a Kinesis record...).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Message {
        Message {
            data: Data::Bytes(bytes.into()),
            meta: Value::Null,
            control: false,
        }
    }

    /// A data message that is already a JSON value.
    pub fn from_value(value: Value) -> Message {
        Message {
            data: Data::Json { value, raw: None },
            meta: Value::Null,
            control: false,
        }
    }

    /// A control message: flush what you hold.
    pub fn control() -> Message {
        Message {
            data: Data::Bytes(Vec::new()),
            meta: Value::Null,
            control: true,
        }
    }

    pub fn is_control(&self) -> bool {
        self.control
    }

    /// True when the data has been parsed (or was built) as JSON.
    pub fn is_parsed(&self) -> bool {
        matches!(self.data, Data::Json { .. })
    }

    /// The data as bytes: the original bytes, or the JSON value serialized.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.data {
            Data::Bytes(b) | Data::Json { raw: Some(b), .. } => Cow::Borrowed(b),
            Data::Json { value, raw: None } => Cow::Owned(to_bytes(value)),
        }
    }

    /// Consumes the message, giving its data as bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.data {
            Data::Bytes(b) | Data::Json { raw: Some(b), .. } => b,
            Data::Json { value, raw: None } => to_bytes(&value),
        }
    }

    /// Appends the data to `out` (serializing straight into it), for writers that batch lines.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.data {
            Data::Bytes(b) | Data::Json { raw: Some(b), .. } => out.extend_from_slice(b),
            Data::Json {
                value: Value::String(s),
                ..
            } => out.extend_from_slice(s.as_bytes()),
            Data::Json { value, .. } => {
                serde_json::to_writer(out, value).expect("writing JSON to memory")
            }
        }
    }

    /// The bytes the data arrived as, while they still describe it: before parsing, or parsed
    /// but unchanged since. `None` once the data has been changed.
    pub fn raw(&self) -> Option<&[u8]> {
        match &self.data {
            Data::Bytes(b) | Data::Json { raw: Some(b), .. } => Some(b),
            Data::Json { raw: None, .. } => None,
        }
    }

    /// Replaces the data with raw bytes.
    pub fn set_bytes(&mut self, bytes: impl Into<Vec<u8>>) {
        self.data = Data::Bytes(bytes.into());
    }

    /// Replaces the data with a JSON value.
    pub fn set_value(&mut self, value: Value) {
        self.data = Data::Json { value, raw: None };
    }

    /// The data as JSON, parsing the bytes on first access.
    pub fn value(&mut self) -> Result<&Value, TransformError> {
        self.parse()?;
        match &self.data {
            Data::Json { value, .. } => Ok(value),
            Data::Bytes(_) => unreachable!("parsed above"),
        }
    }

    /// Mutable JSON data, parsing the bytes on first access. The raw bytes are let go: the
    /// caller is about to change the value.
    pub fn value_mut(&mut self) -> Result<&mut Value, TransformError> {
        self.parse()?;
        match &mut self.data {
            Data::Json { value, raw } => {
                *raw = None;
                Ok(value)
            }
            Data::Bytes(_) => unreachable!("parsed above"),
        }
    }

    fn parse(&mut self) -> Result<(), TransformError> {
        if let Data::Bytes(bytes) = &mut self.data {
            let value = serde_json::from_slice(bytes).map_err(TransformError::NotJson)?;
            let raw = std::mem::take(bytes);
            self.data = Data::Json {
                value,
                raw: Some(raw),
            };
        }
        Ok(())
    }

    /// Takes the JSON data out of the message, leaving `null`.
    pub fn take_value(&mut self) -> Result<Value, TransformError> {
        self.value_mut().map(std::mem::take)
    }

    /// The metadata object (empty until something is written to it).
    pub fn meta(&self) -> &Value {
        &self.meta
    }

    pub fn meta_mut(&mut self) -> &mut Map<String, Value> {
        if !self.meta.is_object() {
            self.meta = Value::Object(Map::new());
        }
        self.meta.as_object_mut().expect("made an object above")
    }

    fn root_mut(&mut self, root: Root) -> Result<&mut Value, TransformError> {
        match root {
            Root::Meta => {
                self.meta_mut();
                Ok(&mut self.meta)
            }
            Root::Data => self.value_mut(),
        }
    }

    /// The value at a path (parsing the data if needed). `Ok(None)` when it is absent.
    pub fn get(&mut self, path: &Path) -> Result<Option<&Value>, TransformError> {
        let root: &Value = match path.root {
            Root::Meta => &self.meta,
            Root::Data => self.value()?,
        };
        Ok(path.get(root))
    }

    /// The value at a path as text: strings as they are, other values as JSON. For the root
    /// of data that is not JSON, the raw bytes (which must be UTF-8).
    pub fn get_text(&mut self, path: &Path) -> Result<Option<Cow<'_, str>>, TransformError> {
        if path.is_root() && path.root == Root::Data {
            return match &self.data {
                Data::Bytes(b) => std::str::from_utf8(b)
                    .map(|s| Some(Cow::Borrowed(s)))
                    .map_err(|_| TransformError::NotUtf8),
                Data::Json { value, .. } => Ok(Some(value_text(value))),
            };
        }
        Ok(self.get(path)?.map(value_text))
    }

    /// Writes a value at a path. Writing a string to the root of data makes the data that text.
    pub fn set(&mut self, path: &Path, value: Value) -> Result<(), TransformError> {
        if path.is_root() && path.root == Root::Data {
            match value {
                Value::String(s) => self.set_bytes(s),
                v => self.set_value(v),
            }
            return Ok(());
        }
        let root = self.root_mut(path.root)?;
        path.set(root, value).map_err(TransformError::Set)
    }

    /// Removes the value at a path, returning it.
    pub fn delete(&mut self, path: &Path) -> Result<Option<Value>, TransformError> {
        if path.root == Root::Data && !path.is_root() && !self.is_parsed() {
            self.value_mut()?;
        }
        Ok(path.delete(self.root_mut(path.root)?))
    }
}

/// Text form of a value: a string's own text, or compact JSON for anything else.
pub fn value_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        v => serde_json::to_vec(v).expect("serializing a JSON value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_lazily_and_serializes_once() {
        let mut m = Message::new(br#"{"a":1}"#.to_vec());
        assert!(!m.is_parsed());
        assert_eq!(m.bytes().as_ref(), br#"{"a":1}"#);
        m.set(&Path::parse("b.c"), json!("x")).unwrap();
        assert_eq!(m.into_bytes(), br#"{"a":1,"b":{"c":"x"}}"#.to_vec());
    }

    #[test]
    fn raw_bytes_are_kept_until_the_value_changes() {
        let mut m = Message::new(br#"{ "a": 1 }"#.to_vec());
        assert_eq!(m.get(&Path::parse("a")).unwrap(), Some(&json!(1)));
        assert_eq!(m.raw(), Some(&br#"{ "a": 1 }"#[..]));
        assert_eq!(m.bytes().as_ref(), br#"{ "a": 1 }"#);
        m.set(&Path::parse("b"), json!(2)).unwrap();
        assert_eq!(m.raw(), None);
        assert_eq!(m.bytes().as_ref(), br#"{"a":1,"b":2}"#);
    }

    #[test]
    fn meta_paths_do_not_touch_data() {
        let mut m = Message::new("not json");
        m.set(&Path::parse("@meta.source"), json!("file.log"))
            .unwrap();
        assert_eq!(
            m.get(&Path::parse("@meta.source")).unwrap(),
            Some(&json!("file.log"))
        );
        assert_eq!(m.bytes().as_ref(), b"not json");
    }

    #[test]
    fn root_text_of_raw_and_json_data() {
        let mut m = Message::new("plain line");
        assert_eq!(m.get_text(&Path::default()).unwrap().unwrap(), "plain line");
        let mut m = Message::from_value(json!({"a": 1}));
        assert_eq!(m.get_text(&Path::default()).unwrap().unwrap(), r#"{"a":1}"#);
        let mut bad = Message::new(vec![0xff, 0xfe]);
        assert!(bad.get_text(&Path::default()).is_err());
    }

    #[test]
    fn non_json_data_is_a_typed_error() {
        let mut m = Message::new("nope");
        let err = m.get(&Path::parse("a")).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}
