//! The meta family: transforms that run other transforms.
//!
//! This file holds branching and looping (`meta.switch`, `meta.for_each`) and what every meta
//! transform shares; named pipelines (`meta.pipeline`) are in `meta_pipeline.rs`, failure
//! handling (`meta.err`, `meta.retry`) in `meta_failure.rs`, the exactly-once guard
//! (`meta.kv_store_lock`) in `meta_lock.rs`, and timing (`meta.metric_duration`) in
//! `meta_duration.rs`.
//!
//! Any transform may nest inside any meta transform, I/O steps included. A meta transform says
//! what it does for one message ([`Wrap::run`], which may await nested I/O) and [`nesting`]
//! makes it a transform of the strictest kind among what it holds: a map around map steps (run
//! in place, on any thread), stateful around stateful steps, I/O around I/O steps (a batch's
//! messages then go through concurrently, up to [`NESTED_CONCURRENCY`] at once, in order). A
//! failure inside names its full place, e.g.
//! `transforms[2] (meta.for_each).transforms[0] (string.to_lower)`.

use crate::common::{target_or, wrong_type};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{
    BatchItem, Condition, ConfigErrors, Failed, Io, Map, Message, Output, Path, Registry, Stateful,
    Steps, Transform, TransformError, TransformKind,
};

pub fn register(r: &mut Registry) {
    r.transform("meta.switch", |s: SwitchSettings, b| {
        let mut cases = Vec::new();
        let mut errors = Vec::new();
        for (i, case) in s.cases.iter().enumerate() {
            let when = case
                .when
                .as_ref()
                .map(|w| b.condition(&format!("cases[{i}].when"), w))
                .transpose();
            let steps = b.steps(&format!("cases[{i}].transforms"), &case.transforms);
            match (when, steps) {
                (Ok(when), Ok(steps)) => cases.push((when, steps)),
                (w, s) => {
                    errors.extend(w.err().map(|e| e.0).unwrap_or_default());
                    errors.extend(s.err().map(|e| e.0).unwrap_or_default());
                }
            }
        }
        if errors.is_empty() {
            Ok(nesting(Switch { cases }))
        } else {
            Err(ConfigErrors(errors))
        }
    });
    r.transform("meta.for_each", |s: ForEachSettings, b| {
        Ok(nesting(ForEach {
            steps: b.steps("transforms", &s.transforms)?,
            settings: s,
        }))
    });
}

/// How many messages of a batch an I/O meta transform has in flight at once.
pub(crate) const NESTED_CONCURRENCY: usize = 64;

/// What a meta transform does around the steps it holds.
pub(crate) trait Wrap: Send + Sync + 'static {
    /// The step lists inside, for the kind and the account.
    fn nested(&self) -> Vec<&Steps>;

    /// Handles one message. Nested steps without I/O never wait, so for a map or stateful
    /// wrapper this future is ready at once.
    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem>;

    /// What the nested steps release on a control message (buffers of stateful steps, sends).
    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        async move {
            let mut out = Output::new();
            for steps in self.nested() {
                flush_inner(steps, &mut out).await?;
            }
            Ok(out)
        }
        .boxed()
    }

    /// The least kind this wrapper needs whatever it holds (waiting between tries is I/O).
    fn least_kind(&self) -> TransformKind {
        TransformKind::Map
    }
}

/// A meta transform as a transform of the strictest kind among what it holds.
pub(crate) fn nesting<W: Wrap>(w: W) -> Transform {
    let kind = w
        .nested()
        .iter()
        .map(|s| s.kind())
        .fold(w.least_kind(), Ord::max);
    match kind {
        TransformKind::Map => Transform::map(Nest(w)),
        TransformKind::Stateful => Transform::stateful(Nest(w)),
        TransformKind::Io => Transform::io(Nest(w)),
    }
}

struct Nest<W>(W);

impl<W: Wrap> Nest<W> {
    /// Runs a future that cannot wait: the kind was chosen because nothing inside does I/O.
    fn now<T>(future: BoxFuture<'_, T>) -> T {
        future
            .now_or_never()
            .expect("nested steps without I/O never wait")
    }
}

impl<W: Wrap> Map for Nest<W> {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.append(Self::now(self.0.run(message))?);
        Ok(())
    }

    fn nested(&self) -> Vec<&Steps> {
        self.0.nested()
    }
}

impl<W: Wrap> Stateful for Nest<W> {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.append(Self::now(self.0.run(message))?);
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        out.append(Self::now(self.0.flush())?);
        Ok(())
    }

    fn nested(&self) -> Vec<&Steps> {
        self.0.nested()
    }
}

impl<W: Wrap> Io for Nest<W> {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        // `buffered` keeps the input order while up to NESTED_CONCURRENCY run at once.
        futures::stream::iter(batch)
            .map(|m| self.0.run(m))
            .buffered(NESTED_CONCURRENCY)
            .collect()
            .boxed()
    }

    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        self.0.flush()
    }

    fn nested(&self) -> Vec<&Steps> {
        self.0.nested()
    }
}

/// Runs one message through nested steps; a failure keeps the inner place in its reason.
pub(crate) async fn run_inner(steps: &Steps, message: Message) -> BatchItem {
    steps
        .run_nested(vec![message])
        .await
        .map_err(|(m, e)| Failed::new(m, e))
}

/// Sends a control message through nested steps and passes on what their buffers release.
pub(crate) async fn flush_inner(steps: &Steps, out: &mut Output) -> Result<(), TransformError> {
    let released = steps
        .run_nested(vec![Message::control()])
        .await
        .map_err(|(_, e)| e)?;
    let dropped = released.dropped();
    append_data(out, released.into_messages(), dropped);
    Ok(())
}

/// Adds data messages (control messages left out) and a drop count to an output.
pub(crate) fn append_data(out: &mut Output, messages: Vec<Message>, dropped: u64) {
    messages
        .into_iter()
        .filter(|m| !m.is_control())
        .for_each(|m| out.push(m));
    out.count_dropped(dropped);
}

/// Run the transforms of the first case whose `when` matches (a case without `when` always
/// matches); a message that matches no case passes unchanged. Cases may hold any transform,
/// lookups and sends included: only the matching messages reach them.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SwitchSettings {
    /// `[{"when": condition, "transforms": [...]}, ...]`, tried in order.
    pub cases: Vec<Case>,
}

/// One case of `meta.switch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The condition; leave it out for a default case.
    #[serde(default)]
    pub when: Option<Value>,
    /// What to run on matching messages.
    pub transforms: Vec<Value>,
}

struct Switch {
    cases: Vec<(Option<Box<dyn Condition>>, Steps)>,
}

impl Wrap for Switch {
    fn nested(&self) -> Vec<&Steps> {
        self.cases.iter().map(|(_, s)| s).collect()
    }

    fn run(&self, mut message: Message) -> BoxFuture<'_, BatchItem> {
        async move {
            for (when, steps) in &self.cases {
                let matched = match when {
                    Some(c) => match c.test(&mut message) {
                        Ok(m) => m,
                        Err(e) => return Err(Failed::new(message, e)),
                    },
                    None => true,
                };
                if matched {
                    return run_inner(steps, message).await;
                }
            }
            let mut out = Output::new();
            out.push(message);
            Ok(out)
        }
        .boxed()
    }
}

/// Run `transforms` on each element of the array at `source` and write what comes out, in
/// order, as an array to `target`. Each element runs as a message of its own whose data is the
/// element (it starts with a copy of the message's metadata; changes to that copy are
/// discarded). An element the inner transforms drop is left out, one they split gives several
/// elements, and what stateful inner transforms hold is released at the end of each array. An
/// element whose data the transforms turn into text (string transforms, `format.json`,
/// `aggregate.*`) goes back as a string; end with `parse.json` to make it JSON again. If
/// the inner transforms fail on any element, the whole message fails, with the element's index
/// and the inner transform's place in the reason. A missing source passes the message
/// unchanged; a source that is not an array is an error. Inner lookups (DNS, HTTP, stores) see
/// the elements of one array as one batch.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForEachSettings {
    /// The array to walk; the empty path is the whole data.
    #[serde(default)]
    pub source: Path,
    /// Where to write the new array; defaults to `source`.
    #[serde(default)]
    pub target: Option<Path>,
    /// What to run on each element; with none, the array is copied as it is.
    #[serde(default)]
    pub transforms: Vec<Value>,
}

struct ForEach {
    settings: ForEachSettings,
    steps: Steps,
}

impl ForEach {
    async fn map_items(
        &self,
        items: Vec<Value>,
        meta: &Value,
    ) -> Result<Vec<Value>, TransformError> {
        let source = &self.settings.source;
        let mut results = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let mut element = Message::from_value(item);
            if let Value::Object(m) = meta {
                *element.meta_mut() = m.clone();
            }
            let out = self
                .steps
                .run_nested(vec![element])
                .await
                .map_err(|(_, e)| TransformError::Nested {
                    location: format!("element {i} of `{source}`"),
                    source: Box::new(e),
                })?;
            for m in out.into_messages() {
                results.push(element_value(m, i)?);
            }
        }
        if self.steps.kind() != TransformKind::Map {
            let released = self
                .steps
                .run_nested(vec![Message::control()])
                .await
                .map_err(|(_, e)| TransformError::Nested {
                    location: format!("end of `{source}`"),
                    source: Box::new(e),
                })?;
            for m in released.into_messages() {
                if !m.is_control() {
                    results.push(element_value(m, results.len())?);
                }
            }
        }
        Ok(results)
    }
}

/// What an element became, as a JSON value: its JSON data, or its text.
fn element_value(mut m: Message, index: usize) -> Result<Value, TransformError> {
    if m.is_parsed() {
        return m.take_value();
    }
    String::from_utf8(m.into_bytes())
        .map(Value::String)
        .map_err(|_| {
            TransformError::invalid(format!(
                "element {index}: the inner transforms made binary data, which cannot go into a JSON array; encode it (e.g. base64) inside the loop"
            ))
        })
}

impl Wrap for ForEach {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    fn run(&self, mut message: Message) -> BoxFuture<'_, BatchItem> {
        async move {
            let source = &self.settings.source;
            let items = match message.get(source) {
                Ok(None) => {
                    let mut out = Output::new();
                    out.push(message);
                    return Ok(out);
                }
                Ok(Some(Value::Array(items))) => Ok(items.clone()),
                Ok(Some(other)) => Err(wrong_type(source, "an array", other)),
                Err(e) => Err(e),
            };
            let result = match items {
                Ok(items) => self.map_items(items, message.meta()).await,
                Err(e) => Err(e),
            }
            .and_then(|new| {
                message.set(target_or(&self.settings.target, source), Value::Array(new))
            });
            match result {
                Ok(()) => {
                    let mut out = Output::new();
                    out.push(message);
                    Ok(out)
                }
                Err(e) => Err(Failed::new(message, e)),
            }
        }
        .boxed()
    }

    /// Each array's inner state is released at its end; nothing is left for a control message.
    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        futures::future::ready(Ok(Output::new())).boxed()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::testing::{apply, apply_err, build_error, config, run};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_core::Message;

    #[test]
    fn example_config_passes() {
        crate::aggregate::tests::check_example("meta");
    }

    fn switch() -> Value {
        config(
            "meta.switch",
            json!({"cases": [
                {"when": {"type": "string.eq", "source": "k", "value": "a"},
                 "transforms": [{"type": "object.insert", "target": "hit", "value": "a"}]},
                {"when": {"type": "number.gt", "source": "n", "value": 10},
                 "transforms": [{"type": "object.insert", "target": "hit", "value": "big"}, {"type": "utility.drop", "when": {"type": "number.gt", "source": "n", "value": 100}}]},
                {"transforms": [{"type": "object.insert", "target": "hit", "value": "default"}]}
            ]}),
        )
    }

    #[test]
    fn first_matching_case_runs() {
        assert_eq!(
            apply(switch(), &json!({"k": "a", "n": 50})),
            vec![json!({"k": "a", "n": 50, "hit": "a"})]
        );
        assert_eq!(
            apply(switch(), &json!({"k": "b", "n": 50})),
            vec![json!({"k": "b", "n": 50, "hit": "big"})]
        );
        assert_eq!(
            apply(switch(), &json!({"k": "b", "n": 500})),
            Vec::<Value>::new()
        );
        assert_eq!(
            apply(switch(), &json!({"k": "b"})),
            vec![json!({"k": "b", "hit": "default"})]
        );
    }

    #[test]
    fn nested_errors_name_their_place() {
        let e = build_error(config(
            "meta.switch",
            json!({"cases": [{"transforms": [{"type": "object.copy", "tagret": "x"}]}]}),
        ));
        assert!(e.contains("transforms[0] (meta.switch).cases[0].transforms[0] (object.copy): unknown field `tagret` (did you mean `target`?)"), "{e}");
    }

    fn lower_each(source: &str, target: Option<&str>) -> Value {
        let mut c = config(
            "meta.for_each",
            json!({"source": source, "transforms": [{"type": "string.to_lower"}]}),
        );
        if let Some(t) = target {
            c["transforms"][0]["target"] = json!(t);
        }
        c
    }

    #[test]
    fn for_each_maps_every_element() {
        assert_eq!(
            apply(
                lower_each("arns", None),
                &json!({"arns": ["A", "Ünï", "c"]})
            ),
            vec![json!({"arns": ["a", "ünï", "c"]})]
        );
        assert_eq!(
            apply(
                lower_each("arns", Some("lower")),
                &json!({"arns": ["A"], "x": 1})
            ),
            vec![json!({"arns": ["A"], "x": 1, "lower": ["a"]})]
        );
        // The whole data as the array.
        assert_eq!(
            apply(lower_each("", None), &json!(["X", "Y"])),
            vec![json!(["x", "y"])]
        );
    }

    #[test]
    fn for_each_over_objects_drops_and_splits() {
        let c = config(
            "meta.for_each",
            json!({"source": "resources", "transforms": [
                {"type": "utility.drop", "when": {"type": "string.eq", "source": "type", "value": "skip"}},
                {"type": "string.to_lower", "source": "ARN"}
            ]}),
        );
        assert_eq!(
            apply(
                c,
                &json!({"resources": [{"ARN": "ARN:AWS:S3:::B", "type": "AWS::S3::Bucket"}, {"type": "skip"}, {"ARN": "X"}]})
            ),
            vec![
                json!({"resources": [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}, {"ARN": "x"}]})
            ]
        );
    }

    #[test]
    fn for_each_edges() {
        // Missing source passes unchanged; an empty array stays empty.
        assert_eq!(
            apply(lower_each("arns", None), &json!({"x": 1})),
            vec![json!({"x": 1})]
        );
        assert_eq!(
            apply(lower_each("arns", Some("out")), &json!({"arns": []})),
            vec![json!({"arns": [], "out": []})]
        );
        let e = apply_err(lower_each("arns", None), &json!({"arns": "A"}));
        assert_eq!(e, "`arns` is string, expected an array");
        // An inner failure fails the whole message and says which element.
        let e = apply_err(lower_each("arns", None), &json!({"arns": ["A", 7]}));
        assert!(
            e.starts_with("element 1 of `arns`: transforms[0] (meta.for_each).transforms[0] (string.to_lower): "),
            "{e}"
        );
        let e = apply_err(lower_each("arns", None), &json!({"arns": [1]}));
        assert!(e.contains("expected a string"), "{e}");
        // Not JSON at all.
        let p = run(lower_each("arns", None), vec![Message::new("not json")]);
        assert_eq!(p.errors.len(), 1);
    }

    #[test]
    fn for_each_elements_see_the_message_metadata() {
        let c = json!({"transforms": [
            {"type": "object.insert", "target": "@meta.account", "value": "123"},
            {"type": "meta.for_each", "source": "ids", "transforms": [
                {"type": "object.copy", "source": "@meta.account", "target": "account"},
                {"type": "object.insert", "target": "@meta.account", "value": "changed"}
            ]},
            {"type": "object.copy", "source": "@meta.account", "target": "after"}
        ]});
        assert_eq!(
            apply(c, &json!({"ids": [{"id": "a"}, {"id": 2}]})),
            vec![
                json!({"ids": [{"id": "a", "account": "123"}, {"id": 2, "account": "123"}], "after": "123"})
            ]
        );
    }

    #[test]
    fn stateful_inner_transforms_are_flushed_per_array_and_at_end_of_input() {
        // Text stays text: aggregate.to_array gives JSON text, which parse.json turns back.
        let chunk = json!({"type": "aggregate.to_array", "batch": {"count": 2}});
        let c = config(
            "meta.for_each",
            json!({"source": "l", "transforms": [chunk, {"type": "parse.json"}]}),
        );
        let p = run(
            c,
            vec![
                Message::new(r#"{"l":[1,2,3]}"#),
                Message::new(r#"{"l":["a"]}"#),
            ],
        );
        let out: Vec<Value> = p
            .output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect();
        assert_eq!(
            out,
            vec![json!({"l": [[1, 2], [3]]}), json!({"l": [["a"]]})]
        );
        // meta.switch releases what its cases hold when the input ends.
        let c = config(
            "meta.switch",
            json!({"cases": [{"transforms": [{"type": "aggregate.to_array", "batch": {"count": 5}}]}]}),
        );
        let p = run(c, vec![Message::new("1"), Message::new("2")]);
        assert_eq!(p.output.len(), 1);
        assert_eq!(
            sluice_core::testing::output_value(&p.output[0]),
            json!([1, 2])
        );
    }

    #[test]
    fn nested_transforms_that_wait_run_in_order_with_their_own_account() {
        // meta.retry waits between tries, so it is an I/O transform; nested, it makes the
        // switch an I/O step that keeps the input order.
        let retry = json!({"type": "meta.retry", "attempts": 2, "initial_delay": "1ms",
            "max_delay": "1ms", "error_kinds": ["invalid_json"],
            "transforms": [{"type": "parse.json", "source": "body", "target": "parsed"}]});
        let c = json!({"transforms": [{"type": "meta.switch", "cases": [
            {"when": {"type": "exists", "source": "body"}, "transforms": [retry]}
        ]}]});
        let input: Vec<Message> = (0..200)
            .map(|i| match i % 3 {
                0 => Message::new(json!({"n": i}).to_string()),
                1 => Message::new(json!({"n": i, "body": "{\"ok\":1}"}).to_string()),
                _ => Message::new(json!({"n": i, "body": "nope"}).to_string()),
            })
            .collect();
        let config = sluice_core::Config::from_value(c, "test").unwrap();
        let pipeline = config
            .build(&crate::registry(), &sluice_core::Resources::default())
            .unwrap();
        assert_eq!(
            pipeline.steps().iter().next().unwrap().kind(),
            sluice_core::TransformKind::Io
        );
        let p = futures::executor::block_on(pipeline.process(input)).unwrap();
        let numbers: Vec<u64> = p
            .output
            .iter()
            .map(|m| sluice_core::testing::output_value(m)["n"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (0..200).filter(|i| i % 3 != 2).collect();
        assert_eq!(numbers, expected, "order is kept");
        assert_eq!(p.errors.len(), 66);
        let error = p.errors[0].meta()["error"].clone();
        assert_eq!(error["kind"], "invalid_json");
        assert_eq!(error["type"], "meta.retry", "the step that gave up");
        let account = pipeline.account();
        let steps: Vec<(&str, u64, u64, u64)> = account
            .steps
            .iter()
            .map(|(l, c)| (l.as_str(), c.input, c.output, c.errored))
            .collect();
        assert_eq!(
            steps,
            vec![
                ("transforms[0] (meta.switch)", 200, 134, 66),
                (
                    "transforms[0] (meta.switch).cases[0].transforms[0] (meta.retry)",
                    133,
                    67,
                    66
                ),
                (
                    "transforms[0] (meta.switch).cases[0].transforms[0] (meta.retry).transforms[0] (parse.json)",
                    199,
                    67,
                    132
                ),
            ]
        );
    }

    /// Any JSON value, a few levels deep (for property tests of the meta family).
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// meta.for_each with no inner transforms is the identity.
        #[test]
        fn for_each_without_transforms_is_the_identity(items in prop::collection::vec(json_value(), 0..6)) {
            let input = json!({"list": items});
            let c = config("meta.for_each", json!({"source": "list"}));
            prop_assert_eq!(apply(c, &input), vec![input]);
        }

        /// Lower-casing each element equals lower-casing the elements one by one.
        #[test]
        fn for_each_is_elementwise(items in prop::collection::vec(".{0,8}", 0..6)) {
            let expected: Vec<String> = items.iter().map(|s| s.to_lowercase()).collect();
            prop_assert_eq!(
                apply(lower_each("l", None), &json!({"l": items})),
                vec![json!({"l": expected})]
            );
        }
    }
}
