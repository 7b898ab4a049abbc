//! The aggregate family: split one message into many (`from_array`, `from_string`) and batch
//! many into one (`to_array`, `to_string`).
//!
//! Batching keeps one buffer per `batch_key` value and emits a buffer when it reaches
//! `batch.count` messages, when the next message would take it past `batch.bytes`, when it is
//! `batch.duration` old (a real timer: the runner's tick releases it without waiting for more
//! input), on a control message, and at end of input. Splitting keeps the metadata on every piece.

use crate::batch::{Batch, Batcher, Buffer};
use crate::common::wrong_type;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sluice_core::path::Root;
use sluice_core::{
    Builder, ConfigErrors, Failed, Map, Message, Output, Path, Registry, Stateful, TransformError,
};
use std::time::Instant;

pub fn register(r: &mut Registry) {
    r.map("aggregate.from_array", |s: FromArraySettings, b| {
        data_path(b, "source", Some(&s.source))?;
        data_path(b, "target", s.target.as_ref())?;
        Ok(s)
    });
    r.map("aggregate.from_string", |s: FromStringSettings, b| {
        if s.separator.is_empty() {
            return Err(b.fail("field `separator`: must not be empty"));
        }
        Ok(s)
    });
    r.stateful("aggregate.to_array", |s: ToArraySettings, b| {
        s.batch.validate().map_err(|e| b.fail(e))?;
        data_path(b, "target", s.target.as_ref())?;
        if s.target.as_ref().is_some_and(Path::is_root) {
            return Err(b.fail(
                "field `target`: must name a field (leave it out to emit the array itself)",
            ));
        }
        Ok(Aggregate::new(
            s.batch,
            s.batch_key,
            Emit::Array { target: s.target },
        ))
    });
    r.stateful("aggregate.to_string", |s: ToStringSettings, b| {
        s.batch.validate().map_err(|e| b.fail(e))?;
        Ok(Aggregate::new(
            s.batch,
            s.batch_key,
            Emit::Text {
                separator: s.separator.into_bytes(),
            },
        ))
    });
}

/// Rejects a `@meta` path where only data makes sense.
fn data_path(b: &Builder, field: &str, path: Option<&Path>) -> Result<(), ConfigErrors> {
    match path {
        Some(p) if p.root == Root::Meta => Err(b.fail(format!(
            "field `{field}`: must be a path into the data, not metadata"
        ))),
        _ => Ok(()),
    }
}

/// Split an array into one message per element; every piece keeps the metadata. With a
/// `source` field, the rest of the object travels with each element: object elements are merged
/// into it (the element's fields win), other elements are written at `source`; with `target`,
/// every element is written there instead. An empty array leaves nothing (counted as dropped).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromArraySettings {
    /// The array to split; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where each element goes in its message (see above for the default).
    #[serde(default)]
    pub target: Option<Path>,
}

impl FromArraySettings {
    /// One message per element, or `None` when the source is absent. On an error the message
    /// is left as it was, for the error route.
    fn pieces(&self, message: &mut Message) -> Result<Option<Vec<Message>>, TransformError> {
        match message.get(&self.source)? {
            None => return Ok(None),
            Some(Value::Array(_)) => {}
            Some(other) => return Err(wrong_type(&self.source, "an array", other)),
        }
        let mut rest = message.take_value()?;
        let Some(Value::Array(items)) = self.source.delete(&mut rest) else {
            unreachable!("checked to be an array above");
        };
        // Where elements get written must be writable in the rest of the data; the answer is
        // the same for every element, so it is tried once.
        let slot = match &self.target {
            Some(target) => Some(target),
            None => (!self.source.is_root()).then_some(&self.source),
        };
        if let Some(Err(e)) = slot.map(|p| p.set(&mut rest.clone(), Value::Null)) {
            self.source
                .set(&mut rest, Value::Array(items))
                .expect("the source was there");
            message.set_value(rest);
            return Err(e.into());
        }
        let meta = message.meta();
        Ok(Some(
            items
                .into_iter()
                .map(|item| with_meta(self.piece(item, &rest), meta))
                .collect(),
        ))
    }

    fn piece(&self, item: Value, rest: &Value) -> Value {
        let mut data = rest.clone();
        let written = match (&self.target, item) {
            (Some(target), item) => target.set(&mut data, item),
            (None, item) if self.source.is_root() => {
                data = item;
                Ok(())
            }
            (None, Value::Object(fields)) if data.is_object() => {
                let map = data.as_object_mut().expect("checked to be an object");
                map.extend(fields);
                Ok(())
            }
            (None, item) => self.source.set(&mut data, item),
        };
        written.expect("the slot was tried before splitting");
        data
    }
}

impl Map for FromArraySettings {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let pieces = self.pieces(&mut message);
        emit_pieces(message, pieces, out)
    }
}

/// A new message with this data (a string becomes raw text) and a copy of `meta`.
fn with_meta(data: Value, meta: &Value) -> Message {
    let mut message = match data {
        Value::String(text) => Message::new(text),
        other => Message::from_value(other),
    };
    copy_meta(&mut message, meta);
    message
}

fn copy_meta(message: &mut Message, meta: &Value) {
    if let Value::Object(map) = meta {
        *message.meta_mut() = map.clone();
    }
}

/// Passes on the pieces a message was split into. An absent source passes the message itself;
/// no pieces at all (an empty array or text) counts it as dropped by rule.
#[allow(clippy::result_large_err)] // `Failed` is what `Transform::apply` returns too.
fn emit_pieces(
    message: Message,
    pieces: Result<Option<Vec<Message>>, TransformError>,
    out: &mut Output,
) -> Result<(), Failed> {
    match pieces {
        Err(e) => return Err(Failed::new(message, e)),
        Ok(None) => out.push(message),
        Ok(Some(pieces)) if pieces.is_empty() => out.drop_message(message),
        Ok(Some(pieces)) => pieces.into_iter().for_each(|p| out.push(p)),
    }
    Ok(())
}

/// Split text on a separator into one message per piece (JSON Lines into events, say). Empty
/// pieces, such as after a trailing newline, are skipped; every piece keeps the metadata.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromStringSettings {
    /// The text to split; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// What separates the pieces.
    #[serde(default = "newline")]
    pub separator: String,
}

fn newline() -> String {
    "\n".into()
}

impl FromStringSettings {
    fn pieces(&self, message: &mut Message) -> Result<Option<Vec<Message>>, TransformError> {
        let sep = self.separator.as_bytes();
        let meta = message.meta().clone();
        let split = |bytes: &[u8]| -> Vec<Message> {
            split_bytes(bytes, sep)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let mut piece = Message::new(p);
                    copy_meta(&mut piece, &meta);
                    piece
                })
                .collect()
        };
        if self.source.is_root() && self.source.root == Root::Data && !message.is_parsed() {
            return Ok(Some(split(&message.bytes())));
        }
        Ok(crate::common::get_str(message, &self.source)?.map(|t| split(t.as_bytes())))
    }
}

/// The pieces of `bytes` between occurrences of `sep` (which is not empty).
fn split_bytes<'a>(bytes: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&current[i + sep.len()..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

impl Map for FromStringSettings {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let pieces = self.pieces(&mut message);
        emit_pieces(message, pieces, out)
    }
}

/// Buffer messages and emit each batch as one JSON array (JSON data as it is, other text as a
/// string). A batch goes out when it holds `batch.count` messages, when the next message would
/// take it past `batch.bytes` (elements plus commas), when it is `batch.duration` old (on a
/// timer), on a control message and at end of input. The output keeps the metadata of the
/// batch's first message. A message larger than `batch.bytes` on its own is an error.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToArraySettings {
    /// When to emit a batch.
    #[serde(default)]
    pub batch: Batch,
    /// One batch per value of this field (e.g. `@meta.account`); all together by default.
    #[serde(default)]
    pub batch_key: Option<Path>,
    /// Emit `{target: [...]}` instead of the bare array.
    #[serde(default)]
    pub target: Option<Path>,
}

/// Buffer messages and emit each batch as one message: the data joined by `separator` (with
/// the default newline, JSON Lines). Batches go out on the same limits as `aggregate.to_array`;
/// `batch.bytes` counts the data plus separators. The output keeps the metadata of the batch's
/// first message.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToStringSettings {
    /// When to emit a batch.
    #[serde(default)]
    pub batch: Batch,
    /// One batch per value of this field (e.g. `@meta.account`); all together by default.
    #[serde(default)]
    pub batch_key: Option<Path>,
    /// What goes between messages.
    #[serde(default = "newline")]
    pub separator: String,
}

enum Emit {
    Array { target: Option<Path> },
    Text { separator: Vec<u8> },
}

/// `aggregate.to_array` and `aggregate.to_string`: buffers of encoded messages.
struct Aggregate {
    batch_key: Option<Path>,
    emit: Emit,
    buffers: Mutex<Batcher<Vec<u8>>>,
}

impl Aggregate {
    fn new(batch: Batch, batch_key: Option<Path>, emit: Emit) -> Aggregate {
        Aggregate {
            batch_key,
            emit,
            buffers: Mutex::new(Batcher::new(batch)),
        }
    }

    /// The message's data as it goes into a batch.
    fn encode(&self, message: &mut Message) -> Result<Vec<u8>, TransformError> {
        match self.emit {
            Emit::Array { .. } => json_element(message),
            Emit::Text { .. } => Ok(message.bytes().into_owned()),
        }
    }

    fn key(&self, message: &mut Message) -> Result<String, TransformError> {
        match &self.batch_key {
            Some(path) => Ok(message
                .get_text(path)?
                .map(|t| t.into_owned())
                .unwrap_or_default()),
            None => Ok(String::new()),
        }
    }

    fn render(&self, buffer: Buffer<Vec<u8>>) -> Message {
        let mut data = Vec::with_capacity(buffer.bytes + 2);
        let separator: &[u8] = match &self.emit {
            Emit::Array { .. } => b",",
            Emit::Text { separator } => separator,
        };
        for (i, item) in buffer.items.iter().enumerate() {
            if i > 0 {
                data.extend_from_slice(separator);
            }
            data.extend_from_slice(item);
        }
        if let Emit::Array { target } = &self.emit {
            data.insert(0, b'[');
            data.push(b']');
            if let Some(target) = target {
                data = wrap(target, data);
            }
        }
        let mut message = Message::new(data);
        copy_meta(&mut message, &buffer.meta);
        message
    }

    fn separator_len(&self) -> usize {
        match &self.emit {
            Emit::Array { .. } => 1,
            Emit::Text { separator } => separator.len(),
        }
    }
}

/// A JSON array element for a message: JSON data as it is, other UTF-8 text as a JSON string.
fn json_element(message: &mut Message) -> Result<Vec<u8>, TransformError> {
    if message.is_parsed() {
        return Ok(serde_json::to_vec(message.value()?).expect("serializing a JSON value"));
    }
    let bytes = message.bytes();
    if let Ok(raw) = serde_json::from_slice::<&RawValue>(&bytes) {
        return Ok(raw.get().as_bytes().to_vec());
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| TransformError::NotUtf8)?;
    Ok(serde_json::to_vec(text).expect("serializing a string"))
}

/// `{"a":{"b":<inner>}}` for the path `a.b`.
fn wrap(target: &Path, inner: Vec<u8>) -> Vec<u8> {
    let mut data = inner;
    for segment in target.segments.iter().rev() {
        let key = serde_json::to_vec(&segment.key).expect("serializing a string");
        let mut outer = Vec::with_capacity(data.len() + key.len() + 3);
        outer.push(b'{');
        outer.extend_from_slice(&key);
        outer.push(b':');
        outer.extend_from_slice(&data);
        outer.push(b'}');
        data = outer;
    }
    data
}

impl Stateful for Aggregate {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let prepared = self
            .key(&mut message)
            .and_then(|k| Ok((k, self.encode(&mut message)?)));
        let (key, item) = match prepared {
            Ok(p) => p,
            Err(e) => return Err(Failed::new(message, e)),
        };
        let size = item.len() + self.separator_len();
        let mut ready = Vec::new();
        let added =
            self.buffers
                .lock()
                .add(&key, item, size, message.meta(), Instant::now(), &mut ready);
        for buffer in ready {
            out.push(self.render(buffer));
        }
        match added {
            Ok(()) => Ok(()),
            Err(e) => Err(Failed::new(message, TransformError::invalid(e))),
        }
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        let buffers = self.buffers.lock().drain();
        for buffer in buffers {
            out.push(self.render(buffer));
        }
        Ok(())
    }

    fn tick(&self, out: &mut Output) -> Result<(), TransformError> {
        let buffers = self.buffers.lock().expired(Instant::now());
        for buffer in buffers {
            out.push(self.render(buffer));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::testing::{apply, apply_err, apply_raw, build_error, config, reasons, run};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_core::{Config, Message, Resources};

    /// Runs the tests inside `configs/examples/<family>.jsonnet` against this crate's registry.
    pub(crate) fn check_example(family: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/examples")
            .join(format!("{family}.jsonnet"));
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.tests.is_empty(), "{family}.jsonnet has no tests");
        let reports = futures::executor::block_on(sluice_core::testing::run_tests(
            &config,
            &crate::registry(),
            &Resources::default(),
        ));
        for r in reports {
            assert!(
                r.passed,
                "{family}.jsonnet test `{}`:\n{}",
                r.name, r.detail
            );
        }
    }

    #[test]
    fn example_config_passes() {
        check_example("aggregate");
    }

    fn lines(input: &[&str]) -> Vec<Message> {
        input.iter().map(|l| Message::new(*l)).collect()
    }

    fn texts(out: &[Message]) -> Vec<String> {
        out.iter()
            .map(|m| String::from_utf8(m.bytes().into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn from_array_splits_whole_data_and_keeps_meta() {
        let c = config("aggregate.from_array", json!({}));
        assert_eq!(
            apply(c.clone(), &json!([{"a": 1}, "x", 3, [4]])),
            vec![json!({"a": 1}), json!("x"), json!(3), json!([4])]
        );
        let mut m = Message::new(r#"[1,2]"#);
        m.meta_mut().insert("bucket".into(), json!("logs"));
        let p = run(c, vec![m]);
        assert_eq!(p.output.len(), 2);
        assert!(p.output.iter().all(|m| m.meta()["bucket"] == "logs"));
        // A string element becomes raw text, not a quoted JSON string.
        assert_eq!(texts(&p.output), ["1", "2"]);
    }

    #[test]
    fn from_array_with_source_merges_the_rest() {
        let c = config("aggregate.from_array", json!({"source": "items"}));
        assert_eq!(
            apply(
                c.clone(),
                &json!({"a": 1, "items": [{"b": 1}, {"b": 2, "a": 9}]})
            ),
            vec![json!({"a": 1, "b": 1}), json!({"a": 9, "b": 2})]
        );
        // Elements that are not objects stay at the source key.
        assert_eq!(
            apply(c, &json!({"a": 1, "items": ["10.0.0.1", null]})),
            vec![
                json!({"a": 1, "items": "10.0.0.1"}),
                json!({"a": 1, "items": null})
            ]
        );
        let c = config(
            "aggregate.from_array",
            json!({"source": "Records", "target": "record"}),
        );
        assert_eq!(
            apply(c, &json!({"bucket": "b", "Records": [{"k": "é"}, 2]})),
            vec![
                json!({"bucket": "b", "record": {"k": "é"}}),
                json!({"bucket": "b", "record": 2})
            ]
        );
        let c = config("aggregate.from_array", json!({"target": "n"}));
        assert_eq!(
            apply(c, &json!([1, 2])),
            vec![json!({"n": 1}), json!({"n": 2})]
        );
    }

    #[test]
    fn from_array_edge_cases() {
        let c = config("aggregate.from_array", json!({"source": "items"}));
        // Missing source: unchanged. Empty array: dropped by rule, not an error.
        assert_eq!(apply(c.clone(), &json!({"a": 1})), vec![json!({"a": 1})]);
        let p = run(c.clone(), vec![Message::new(r#"{"items":[]}"#)]);
        assert!(p.output.is_empty() && p.errors.is_empty());
        let err = apply_err(c, &json!({"items": "nope"}));
        assert_eq!(err, "`items` is string, expected an array");
        let err = crate::testing::apply_raw_err(config("aggregate.from_array", json!({})), "x");
        assert!(err.contains("not valid JSON"), "{err}");
        // A target that cannot be written leaves the message whole for the error route.
        let c = config(
            "aggregate.from_array",
            json!({"source": "items", "target": "a.b"}),
        );
        let p = run(c, vec![Message::new(r#"{"a":"x","items":[1,2]}"#)]);
        assert_eq!(
            reasons(&p),
            ["cannot set `a.b`: `a` holds string, not an object or array"]
        );
        assert_eq!(
            sluice_core::testing::output_value(&p.errors[0]),
            json!({"a": "x", "items": [1, 2]})
        );
        let err = build_error(config("aggregate.from_array", json!({"source": "@meta.x"})));
        assert!(
            err.contains("field `source`: must be a path into the data"),
            "{err}"
        );
    }

    #[test]
    fn from_string_splits_and_skips_empty_pieces() {
        let c = config("aggregate.from_string", json!({}));
        let p = run(c.clone(), lines(&["{\"a\":1}\n\nplain ✓\n"]));
        assert_eq!(texts(&p.output), ["{\"a\":1}", "plain ✓"]);
        let c2 = config(
            "aggregate.from_string",
            json!({"source": "body", "separator": "||"}),
        );
        assert_eq!(
            apply(c2.clone(), &json!({"body": "a||b||"})),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(apply(c2.clone(), &json!({"x": 1})), vec![json!({"x": 1})]);
        let err = apply_err(c2, &json!({"body": 5}));
        assert!(err.contains("expected a string"), "{err}");
        let p = run(c, lines(&[""]));
        assert!(p.output.is_empty() && p.errors.is_empty());
        let err = build_error(config("aggregate.from_string", json!({"separator": ""})));
        assert!(
            err.contains("field `separator`: must not be empty"),
            "{err}"
        );
        // Metadata travels with every piece.
        let mut m = Message::new("a\nb");
        m.meta_mut().insert("file".into(), json!("f.log"));
        let p = run(config("aggregate.from_string", json!({})), vec![m]);
        assert!(p.output.iter().all(|m| m.meta()["file"] == "f.log"));
    }

    #[test]
    fn to_array_batches_by_count_and_at_end() {
        let c = config("aggregate.to_array", json!({"batch": {"count": 2}}));
        let p = run(c, lines(&[r#"{"a":1}"#, "plain", r#" {"b":"é"} "#]));
        assert_eq!(texts(&p.output), [r#"[{"a":1},"plain"]"#, r#"[{"b":"é"}]"#]);
    }

    #[test]
    fn to_array_target_and_batch_key() {
        let c = config(
            "aggregate.to_array",
            json!({"batch_key": "acct", "target": "events.list"}),
        );
        let p = run(
            c,
            lines(&[
                r#"{"acct":"1","n":1}"#,
                r#"{"acct":"2","n":2}"#,
                r#"{"acct":"1","n":3}"#,
                r#"{"n":4}"#,
            ]),
        );
        let out: Vec<Value> = p
            .output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect();
        assert_eq!(
            out,
            vec![
                json!({"events": {"list": [{"acct": "1", "n": 1}, {"acct": "1", "n": 3}]}}),
                json!({"events": {"list": [{"acct": "2", "n": 2}]}}),
                json!({"events": {"list": [{"n": 4}]}}),
            ]
        );
        let err = build_error(config("aggregate.to_array", json!({"target": ""})));
        assert!(err.contains("field `target`: must name a field"), "{err}");
    }

    #[test]
    fn to_array_keeps_first_meta_and_rejects_oversize() {
        let c = config("aggregate.to_array", json!({"batch": {"bytes": 10}}));
        let mut first = Message::new("1");
        first.meta_mut().insert("k".into(), json!("v"));
        let p = run(
            c,
            vec![first, Message::new("2"), Message::new("12345678901")],
        );
        assert_eq!(texts(&p.output), ["[1,2]"]);
        assert_eq!(p.output[0].meta()["k"], "v");
        let r = reasons(&p);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("more than `batch.bytes` (10)"), "{}", r[0]);
        let bad = Message::new(vec![0xff, 0xfe]);
        let p = run(config("aggregate.to_array", json!({})), vec![bad]);
        assert_eq!(reasons(&p), ["data is not valid UTF-8 text"]);
    }

    #[test]
    fn to_string_joins_and_splits_on_bytes() {
        let c = config(
            "aggregate.to_string",
            json!({"batch": {"bytes": 8}, "separator": ";"}),
        );
        let p = run(c, lines(&["abc", "def", "gh", "ü"]));
        assert_eq!(texts(&p.output), ["abc;def", "gh;ü"]);
        assert_eq!(
            apply_raw(config("aggregate.to_string", json!({})), "only"),
            vec![json!("only")]
        );
    }

    #[test]
    fn batch_settings_are_checked() {
        let err = build_error(config("aggregate.to_array", json!({"batch": {"count": 0}})));
        assert!(
            err.contains("field `batch.count`: must be at least 1"),
            "{err}"
        );
        let err = build_error(config(
            "aggregate.to_string",
            json!({"batch": {"duration": "soon"}}),
        ));
        assert!(
            err.contains("batch.duration") && err.contains("expected a duration"),
            "{err}"
        );
        let err = build_error(config("aggregate.to_string", json!({"batch": {"size": 1}})));
        assert!(err.contains("unknown field `size`"), "{err}");
    }

    /// A built pipeline, for tests that drive ticks and flushes themselves.
    pub(crate) fn build(config: Value) -> sluice_core::Pipeline {
        Config::from_value(config, "test")
            .and_then(|c| c.build(&crate::registry(), &Resources::default()))
            .unwrap_or_else(|e| panic!("config does not build: {e}"))
    }

    /// The output texts of one call to the pipeline.
    pub(crate) fn outputs(
        result: impl std::future::Future<
            Output = Result<sluice_core::Processed, sluice_core::PipelineError>,
        >,
    ) -> Vec<String> {
        let p = futures::executor::block_on(result).expect("run");
        assert!(p.errors.is_empty(), "unexpected errors: {:?}", reasons(&p));
        texts(&p.output)
    }

    #[test]
    fn ticks_release_old_batches_without_new_input() {
        let p = build(json!({"transforms": [
            {"type": "aggregate.to_string", "batch": {"duration": "20ms"}},
            {"type": "object.insert", "target": "later", "value": true},
        ]}));
        assert!(outputs(p.process(lines(&["{}"]))).is_empty());
        assert!(outputs(p.tick()).is_empty(), "released too early");
        std::thread::sleep(std::time::Duration::from_millis(25));
        // Released by the timer and run through the later steps.
        assert_eq!(outputs(p.tick()), [r#"{"later":true}"#]);
        assert!(outputs(p.tick()).is_empty());
        assert!(outputs(p.flush()).is_empty());
    }

    fn event() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-zé ]{0,8}".prop_map(|s| json!({"msg": s})),
            prop::collection::vec(any::<u32>(), 0..3).prop_map(|v| json!({"n": v})),
        ]
    }

    proptest! {
        #[test]
        fn to_array_then_from_array_is_identity(
            events in prop::collection::vec(event(), 1..30),
            count in 1usize..10,
        ) {
            let c = json!({"transforms": [
                {"type": "aggregate.to_array", "batch": {"count": count}},
                {"type": "aggregate.from_array"},
            ]});
            let input = events.iter().map(|v| Message::new(v.to_string())).collect();
            let p = run(c, input);
            let out: Vec<Value> = p.output.iter().map(sluice_core::testing::output_value).collect();
            prop_assert_eq!(out, events);
        }

        #[test]
        fn to_string_then_from_string_is_identity(
            lines in prop::collection::vec("line [a-z0-9é{}\":]{0,12}", 1..30),
            bytes in 64usize..200,
        ) {
            let c = json!({"transforms": [
                {"type": "aggregate.to_string", "batch": {"bytes": bytes}},
                {"type": "aggregate.from_string"},
            ]});
            let input = lines.iter().map(|l| Message::new(l.as_str())).collect();
            let p = run(c, input);
            prop_assert_eq!(texts(&p.output), lines);
        }
    }
}
