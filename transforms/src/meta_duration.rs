//! `meta.metric_duration`: how long nested transforms take, as a metric and/or per message.
//!
//! The metric follows the shape of the `utility.metric_*` transforms (see `utility.rs`): on every
//! control message one message `{"name", "value", "attributes"}` with `@meta.metric` set goes
//! out, and metric messages passing through are not measured.

use crate::meta::{Wrap, append_data, flush_inner, nesting, run_inner};
use crate::utility::Metric;
use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{
    BatchItem, Failed, Message, Output, Path, Registry, Steps, TransformError, TransformKind,
};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

pub fn register(r: &mut Registry) {
    r.transform("meta.metric_duration", |s: DurationSettings, b| {
        if s.metric.is_none() && s.target.is_none() {
            return Err(b.fail(
                "set `metric` (a total emitted on every control message), `target` (each message's own duration, e.g. `@meta.duration_ns`), or both",
            ));
        }
        if s.metric.as_ref().is_some_and(|m| m.name.trim().is_empty()) {
            return Err(b.fail("field `metric.name`: must not be empty"));
        }
        Ok(nesting(Timed {
            steps: b.steps("transforms", &s.transforms)?,
            metric: s.metric,
            target: s.target,
            total: AtomicU64::new(0),
        }))
    });
}

/// Run `transforms` and measure how long they take, in nanoseconds (exact integers). With
/// `metric`, the time spent in them since the last control message is emitted on every control
/// message and at end of input as a metric message, like `utility.metric_count` (pair the two
/// for an average). With `target`, every message they produce also carries its own duration
/// (e.g. `@meta.duration_ns`, never written out unless copied into the data). Set at least one.
/// A message the inner transforms drop carries no duration, but its time is counted.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DurationSettings {
    /// The transforms to time.
    pub transforms: Vec<Value>,
    /// The metric to add the time to, e.g. `{"name": "geoip_ns"}`.
    #[serde(default)]
    pub metric: Option<Metric>,
    /// Where to write each message's duration.
    #[serde(default)]
    pub target: Option<Path>,
}

struct Timed {
    steps: Steps,
    metric: Option<Metric>,
    target: Option<Path>,
    total: AtomicU64,
}

fn nanos_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Wrap for Timed {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    /// A total must be emitted after the messages before the control message, not while
    /// another thread still times part of the batch.
    fn least_kind(&self) -> TransformKind {
        match self.metric {
            Some(_) => TransformKind::Stateful,
            None => TransformKind::Map,
        }
    }

    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem> {
        async move {
            if message.meta().get("metric").is_some() {
                return run_inner(&self.steps, message).await;
            }
            let started = Instant::now();
            let inner = run_inner(&self.steps, message).await?;
            let nanos = nanos_since(started);
            self.total.fetch_add(nanos, Relaxed);
            let Some(target) = &self.target else {
                return Ok(inner);
            };
            let dropped = inner.dropped();
            let mut messages = inner.into_messages();
            for i in 0..messages.len() {
                if let Err(e) = messages[i].set(target, Value::from(nanos)) {
                    return Err(Failed::new(messages.swap_remove(i), e));
                }
            }
            let mut out = Output::new();
            append_data(&mut out, messages, dropped);
            Ok(out)
        }
        .boxed()
    }

    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        async move {
            let mut out = Output::new();
            let started = Instant::now();
            let released = flush_inner(&self.steps, &mut out).await;
            self.total.fetch_add(nanos_since(started), Relaxed);
            released?;
            if let Some(metric) = &self.metric {
                let mut m = Message::from_value(json!({
                    "name": metric.name,
                    "value": self.total.swap(0, Relaxed),
                    "attributes": metric.attributes,
                }));
                m.meta_mut().insert("metric".into(), json!(metric.name));
                out.push(m);
            }
            Ok(out)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, build_error, config, run};
    use serde_json::{Value, json};
    use sluice_core::Message;

    #[test]
    fn attaches_each_duration() {
        let c = json!({"transforms": [
            {"type": "meta.metric_duration", "target": "@meta.duration_ns",
             "transforms": [{"type": "string.to_upper", "source": "a"}]},
            {"type": "object.copy", "source": "@meta.duration_ns", "target": "took"}
        ]});
        let out = apply(c, &json!({"a": "ü"}));
        assert_eq!(out[0]["a"], "Ü");
        assert!(out[0]["took"].is_u64(), "{out:?}");
        let c = config(
            "meta.metric_duration",
            json!({"target": "t", "transforms": [{"type": "utility.drop"}]}),
        );
        assert_eq!(apply(c, &json!({})), Vec::<Value>::new());
    }

    #[test]
    fn emits_the_total_as_a_metric() {
        let c = config(
            "meta.metric_duration",
            json!({"metric": {"name": "upper_ns", "attributes": {"step": "upper"}},
                   "transforms": [{"type": "string.to_upper", "source": "a"}]}),
        );
        let p = run(
            c,
            vec![Message::new(r#"{"a":"x"}"#), Message::new(r#"{"a":"y"}"#)],
        );
        assert!(p.errors.is_empty());
        assert_eq!(p.output.len(), 3);
        let metric = sluice_core::testing::output_value(&p.output[2]);
        assert_eq!(metric["name"], "upper_ns");
        assert_eq!(metric["attributes"], json!({"step": "upper"}));
        assert!(metric["value"].is_u64(), "{metric}");
        assert_eq!(p.output[2].meta()["metric"], "upper_ns");
        // The data is untouched when there is no target.
        assert_eq!(
            sluice_core::testing::output_value(&p.output[0]),
            json!({"a": "X"})
        );
    }

    #[test]
    fn settings_are_checked() {
        let e = build_error(config("meta.metric_duration", json!({"transforms": []})));
        assert!(e.contains("set `metric`"), "{e}");
        let e = build_error(config(
            "meta.metric_duration",
            json!({"metric": {"name": " "}, "transforms": []}),
        ));
        assert!(e.contains("field `metric.name`: must not be empty"), "{e}");
    }
}
