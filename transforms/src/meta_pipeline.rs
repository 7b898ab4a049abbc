//! `meta.pipeline`: run a pipeline declared once under the config's `pipelines` section, so
//! that switch cases, loops and the error route share one definition.
//!
//! Each use builds its own copy of the steps when the config is built. A pipeline that runs
//! itself (directly or through others) is found by reading the config before anything is
//! built, so a cycle is a config error, never a stack overflow.

use crate::meta::{Wrap, nesting, run_inner};
use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BatchItem, Message, Registry, Steps};
use std::collections::BTreeMap;

pub fn register(r: &mut Registry) {
    r.transform("meta.pipeline", |s: PipelineSettings, b| {
        let Some(values) = b.pipelines.get(&s.pipeline) else {
            let known: Vec<&str> = b.pipelines.keys().map(String::as_str).collect();
            return Err(b.fail(format!(
                "field `pipeline`: no pipeline named `{}` (declared pipelines: {})",
                s.pipeline,
                if known.is_empty() {
                    "none; declare them under `pipelines` at the top of the config".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        if let Some(cycle) = pipeline_cycle(b.pipelines, &s.pipeline) {
            return Err(b.fail(format!(
                "field `pipeline`: pipeline `{}` would run itself ({})",
                s.pipeline,
                cycle.join(" -> ")
            )));
        }
        match b.steps(&format!("pipelines.{}", s.pipeline), values) {
            // The config lists the problems of every declared pipeline once, under its own name.
            Err(_) => Err(b.fail(format!(
                "field `pipeline`: pipeline `{0}` does not build (its problems are listed under `pipelines.{0}`)",
                s.pipeline
            ))),
            Ok(steps) => Ok(nesting(Nested { steps })),
        }
    });
}

/// Run the named pipeline declared once under the config's `pipelines` section, e.g.
/// `pipelines: {normalize_ip: [...]}`, so that several places (switch cases, the error route)
/// share one definition. Each use builds its own copy: counters and state are per use. An
/// unknown name, or a pipeline that would run itself, is a config error.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PipelineSettings {
    /// The pipeline's name: a key of the config's `pipelines`.
    pub pipeline: String,
}

/// Nested steps run as one transform (`meta.pipeline`).
struct Nested {
    steps: Steps,
}

impl Wrap for Nested {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem> {
        run_inner(&self.steps, message).boxed()
    }
}

/// The chain of names by which pipeline `start` reaches itself through `meta.pipeline`, if it
/// does (the config is checked before anything is built, so a cycle never recurses).
fn pipeline_cycle(pipelines: &BTreeMap<String, Vec<Value>>, start: &str) -> Option<Vec<String>> {
    fn uses(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("meta.pipeline")
                    && let Some(name) = map.get("pipeline").and_then(Value::as_str)
                {
                    found.push(name.to_string());
                }
                map.values().for_each(|v| uses(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| uses(v, found)),
            _ => {}
        }
    }
    fn walk(
        pipelines: &BTreeMap<String, Vec<Value>>,
        start: &str,
        chain: &mut Vec<String>,
    ) -> bool {
        let current = chain.last().cloned().unwrap_or_default();
        let mut next = Vec::new();
        if let Some(steps) = pipelines.get(&current) {
            steps.iter().for_each(|v| uses(v, &mut next));
        }
        for name in next {
            if name == start {
                chain.push(name);
                return true;
            }
            if chain.contains(&name) {
                continue;
            }
            chain.push(name);
            if walk(pipelines, start, chain) {
                return true;
            }
            chain.pop();
        }
        false
    }
    let mut chain = vec![start.to_string()];
    walk(pipelines, start, &mut chain).then_some(chain)
}

#[cfg(test)]
mod tests {
    use crate::meta::tests::json_value;
    use crate::testing::{apply, build_error};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn with_pipelines(transforms: Value, pipelines: Value) -> Value {
        json!({"transforms": transforms, "pipelines": pipelines})
    }

    #[test]
    fn pipeline_runs_a_named_list() {
        let mark = json!({"type": "meta.pipeline", "pipeline": "mark"});
        let c = with_pipelines(
            json!([{"type": "meta.switch", "cases": [
                {"when": {"type": "string.eq", "source": "k", "value": "a"},
                 "transforms": [mark, {"type": "object.insert", "target": "case", "value": "a"}]},
                {"transforms": [mark]}
            ]}]),
            json!({"mark": [
                {"type": "object.insert", "target": "seen", "value": true},
                {"type": "string.to_upper", "source": "k"}
            ]}),
        );
        assert_eq!(
            apply(c.clone(), &json!({"k": "a"})),
            vec![json!({"k": "A", "seen": true, "case": "a"})]
        );
        assert_eq!(
            apply(c, &json!({"k": "b"})),
            vec![json!({"k": "B", "seen": true})]
        );
    }

    #[test]
    fn pipeline_config_errors() {
        let e = build_error(with_pipelines(
            json!([{"type": "meta.pipeline", "pipeline": "nrmalize"}]),
            json!({"normalize": [], "enrich": []}),
        ));
        assert_eq!(
            e,
            "transforms[0] (meta.pipeline): field `pipeline`: no pipeline named `nrmalize` (declared pipelines: enrich, normalize)"
        );
        let e = build_error(with_pipelines(
            json!([{"type": "meta.pipeline", "pipeline": "a"}]),
            json!({
                "a": [{"type": "meta.switch", "cases": [{"transforms": [{"type": "meta.pipeline", "pipeline": "b"}]}]}],
                "b": [{"type": "meta.pipeline", "pipeline": "a"}]
            }),
        ));
        assert!(
            e.contains("field `pipeline`: pipeline `a` would run itself (a -> b -> a)"),
            "{e}"
        );
        // A broken pipeline's problem is reported once, under its own name.
        let e = build_error(with_pipelines(
            json!([{"type": "meta.pipeline", "pipeline": "a"}]),
            json!({"a": [{"type": "object.copy", "tagret": "x"}]}),
        ));
        assert_eq!(e.matches("tagret").count(), 1, "{e}");
        assert!(
            e.contains("pipelines.a[0] (object.copy): unknown field `tagret`"),
            "{e}"
        );
        assert!(e.contains("pipeline `a` does not build"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// An empty named pipeline is the identity.
        #[test]
        fn empty_pipeline_is_the_identity(v in json_value()) {
            let input = json!({"v": v});
            let c = with_pipelines(json!([{"type": "meta.pipeline", "pipeline": "p"}]), json!({"p": []}));
            prop_assert_eq!(apply(c, &input), vec![input]);
        }
    }
}
