//! Failure handling for nested transforms: `meta.err` tolerates expected failures, `meta.retry`
//! tries again with exponential backoff. Both match failures by their kind (`timeout`,
//! `throttled`, `invalid_json`..., the same kind a responder reads in `@meta.error.kind`) and/or
//! by their reason text (which includes the inner transform's place).

use crate::batch::Duration as Setting;
use crate::meta::{Wrap, append_data, nesting, run_inner};
use futures::FutureExt;
use futures::future::BoxFuture;
use regex::RegexSet;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{
    BatchItem, Builder, Condition, ConfigErrors, ErrorKind, Failed, Message, Output, Path,
    Registry, Steps, TransformError, TransformKind,
};
use std::time::Duration;

pub fn register(r: &mut Registry) {
    r.transform("meta.err", |s: ErrSettings, b| {
        Ok(nesting(Tolerate {
            steps: b.steps("transforms", &s.transforms)?,
            matcher: Matcher::new(b, &s.error_messages, s.error_kinds)?,
            error_target: s.error_target,
        }))
    });
    r.transform("meta.retry", |s: RetrySettings, b| {
        if s.attempts == 0 {
            return Err(b.fail("field `attempts`: must be at least 1 (the first try counts)"));
        }
        let (initial, max) = (s.initial_delay.get(), s.max_delay.get());
        if initial > max {
            return Err(b.fail(format!(
                "field `max_delay`: {} is shorter than `initial_delay` ({})",
                s.max_delay, s.initial_delay
            )));
        }
        Ok(nesting(Retry {
            steps: b.steps("transforms", &s.transforms)?,
            matcher: Matcher::new(b, &s.error_messages, s.error_kinds)?,
            condition: s
                .condition
                .as_ref()
                .map(|c| b.condition("condition", c))
                .transpose()?,
            attempts: s.attempts,
            backoff: Backoff { initial, max },
        }))
    });
}

/// Which failures `meta.err` and `meta.retry` act on: those of one of `kinds` (if any are
/// given) whose reason matches one of `patterns` (if any are given). Neither: every failure.
struct Matcher {
    patterns: Option<RegexSet>,
    kinds: Vec<ErrorKind>,
}

impl Matcher {
    fn new(
        b: &Builder,
        patterns: &[String],
        kinds: Vec<ErrorKind>,
    ) -> Result<Matcher, ConfigErrors> {
        for (i, p) in patterns.iter().enumerate() {
            if let Err(e) = regex::Regex::new(p) {
                return Err(b.fail(format!(
                    "field `error_messages[{i}]`: not a valid regular expression: {e}"
                )));
            }
        }
        let patterns = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(patterns)
                    .map_err(|e| b.fail(format!("field `error_messages`: {e}")))?,
            )
        };
        Ok(Matcher { patterns, kinds })
    }

    fn matches(&self, error: &TransformError) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&error.kind()))
            && self
                .patterns
                .as_ref()
                .is_none_or(|m| m.is_match(&error.to_string()))
    }
}

/// Run `transforms`; when they fail with a reason that matches one of `error_messages`, pass
/// the original message on unchanged instead, as if they had not run. Failures that match
/// none go to the error route as usual. Use it around work on optional fields that are
/// sometimes malformed (a `requestParameters` that is not JSON, a timestamp in an odd format),
/// so that one bad field does not cost the whole event. Set `error_target` to keep a note of
/// what was tolerated.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ErrSettings {
    /// The transforms whose failures to tolerate.
    pub transforms: Vec<Value>,
    /// Regular expressions matched against the failure reason (as it would read in
    /// `@meta.error.reason`, inner transform's place included); a failure matching any of them
    /// is tolerated. Empty (the default) tolerates every failure.
    #[serde(default)]
    pub error_messages: Vec<String>,
    /// Failure kinds to tolerate, e.g. `["invalid_json", "missing_field"]` (see
    /// `@meta.error.kind`); with `error_messages` too, a failure must match both. Empty (the
    /// default) accepts any kind.
    #[serde(default)]
    pub error_kinds: Vec<ErrorKind>,
    /// Where to write the reason of a tolerated failure, e.g. `@meta.tolerated_error`; left
    /// out, nothing is written.
    #[serde(default)]
    pub error_target: Option<Path>,
}

struct Tolerate {
    steps: Steps,
    matcher: Matcher,
    error_target: Option<Path>,
}

impl Wrap for Tolerate {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem> {
        async move {
            let original = message.clone();
            let failed = match run_inner(&self.steps, message).await {
                Ok(out) => return Ok(out),
                Err(failed) => failed,
            };
            if !self.matcher.matches(&failed.error) {
                return Err(failed);
            }
            let mut original = original;
            if let Some(t) = &self.error_target
                && let Err(e) = original.set(t, Value::String(failed.error.to_string()))
            {
                return Err(Failed::new(original, e));
            }
            let mut out = Output::new();
            out.push(original);
            Ok(out)
        }
        .boxed()
    }

    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        async move {
            let mut out = Output::new();
            match crate::meta::flush_inner(&self.steps, &mut out).await {
                // There is no message to hand back at a flush: a tolerated failure is skipped.
                Err(e) if self.matcher.matches(&e) => Ok(out),
                Err(e) => Err(e),
                Ok(()) => Ok(out),
            }
        }
        .boxed()
    }
}

/// Run `transforms`, and run them again on the original message when they fail with a reason
/// matching `error_messages`, or while `condition` is false for what they produce (a scan
/// that is not finished yet). The wait before try n+1 is `initial_delay` doubled n-1 times,
/// capped at `max_delay`, with jitter (between half and all of it) so that retries from many
/// messages do not arrive together. Messages of a batch wait concurrently. After `attempts`
/// tries the original message goes to the error route with the number of tries and the last
/// reason; a failure that does not match `error_messages` goes there at once.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RetrySettings {
    /// The transforms to try.
    pub transforms: Vec<Value>,
    /// How many tries in all, the first included (at least 1).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The wait before the second try, e.g. `100ms`; each later wait doubles.
    #[serde(default = "default_initial_delay")]
    pub initial_delay: Setting,
    /// The longest wait between two tries, e.g. `5s`.
    #[serde(default = "default_max_delay")]
    pub max_delay: Setting,
    /// Regular expressions matched against the failure reason; only matching failures are
    /// retried. Empty (the default) retries every failure.
    #[serde(default)]
    pub error_messages: Vec<String>,
    /// Failure kinds to retry, e.g. `["timeout", "throttled", "unavailable"]` (see
    /// `@meta.error.kind`); with `error_messages` too, a failure must match both. Empty (the
    /// default) retries any kind.
    #[serde(default)]
    pub error_kinds: Vec<ErrorKind>,
    /// A condition every message the transforms produce must meet; while it is false, try
    /// again. Left out, any success is final.
    #[serde(default)]
    pub condition: Option<Value>,
}

fn default_attempts() -> u32 {
    3
}

fn default_initial_delay() -> Setting {
    Setting(Duration::from_millis(100))
}

fn default_max_delay() -> Setting {
    Setting::from_secs(5)
}

/// Exponential backoff with "equal jitter": half the delay is fixed, half is random.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// The wait after the `retry`-th failed try (0-based), before jitter.
    fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let nanos = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

struct Retry {
    steps: Steps,
    matcher: Matcher,
    condition: Option<Box<dyn Condition>>,
    attempts: u32,
    backoff: Backoff,
}

/// Why one try did not count.
enum Miss {
    Failed(TransformError),
    NotYet,
}

impl Wrap for Retry {
    fn nested(&self) -> Vec<&Steps> {
        vec![&self.steps]
    }

    /// Waiting between tries is waiting, whatever the nested steps are.
    fn least_kind(&self) -> TransformKind {
        TransformKind::Io
    }

    fn run(&self, message: Message) -> BoxFuture<'_, BatchItem> {
        async move {
            let mut last = Miss::NotYet;
            for attempt in 0..self.attempts {
                if attempt > 0 {
                    futures_timer::Delay::new(self.backoff.delay(attempt - 1)).await;
                }
                match run_inner(&self.steps, message.clone()).await {
                    Ok(out) => match self.accepts(out)? {
                        Some(out) => return Ok(out),
                        None => last = Miss::NotYet,
                    },
                    Err(failed) => {
                        if !self.matcher.matches(&failed.error) {
                            return Err(failed);
                        }
                        last = Miss::Failed(failed.error);
                    }
                }
            }
            let tries = match self.attempts {
                1 => "1 try".to_string(),
                n => format!("{n} tries"),
            };
            // The give-up keeps the kind of the last failure, so the error route can tell a
            // timeout that outlasted its retries from a scan that never finished.
            let error = match last {
                Miss::Failed(e) => TransformError::of_kind(
                    e.kind(),
                    format!("gave up after {tries}; the last failure was: {e}"),
                ),
                Miss::NotYet => TransformError::invalid(format!(
                    "gave up after {tries}; the `condition` was still false"
                )),
            };
            Err(Failed::new(message, error))
        }
        .boxed()
    }
}

impl Retry {
    /// The output when every message meets the condition; `None` to try again.
    #[allow(clippy::result_large_err)] // `Failed` is what `Transform::apply` returns too.
    fn accepts(&self, out: Output) -> Result<Option<Output>, Failed> {
        let Some(condition) = &self.condition else {
            return Ok(Some(out));
        };
        let dropped = out.dropped();
        let mut messages = out.into_messages();
        for i in 0..messages.len() {
            match condition.test(&mut messages[i]) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(Failed::new(messages.swap_remove(i), e)),
            }
        }
        let mut kept = Output::new();
        append_data(&mut kept, messages, dropped);
        Ok(Some(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use crate::testing::{apply, apply_err, build_error, config, reasons, run};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sluice_core::Message;
    use std::time::Duration;

    fn err(patterns: Value) -> Value {
        config(
            "meta.err",
            json!({"error_messages": patterns, "transforms": [
                {"type": "object.insert", "target": "touched", "value": true},
                {"type": "parse.json", "source": "extra", "target": "extra_parsed"}
            ]}),
        )
    }

    #[test]
    fn err_returns_the_original_on_a_matching_failure() {
        assert_eq!(
            apply(err(json!([])), &json!({"extra": "not json"})),
            vec![json!({"extra": "not json"})]
        );
        assert_eq!(
            apply(
                err(json!(["not valid JSON"])),
                &json!({"extra": "{\"a\":1}"})
            ),
            vec![json!({"extra": "{\"a\":1}", "touched": true, "extra_parsed": {"a": 1}})]
        );
        // A failure matching nothing still fails, with the inner place.
        let e = apply_err(err(json!(["timeout"])), &json!({"extra": "nope"}));
        assert!(
            e.starts_with("transforms[0] (meta.err).transforms[1] (parse.json): "),
            "{e}"
        );
    }

    #[test]
    fn err_can_note_what_it_tolerated() {
        let c = json!({"transforms": [
            {"type": "meta.err", "error_target": "@meta.tolerated", "transforms": [
                {"type": "string.to_lower", "source": "n"}]},
            {"type": "object.copy", "source": "@meta.tolerated", "target": "note"}
        ]});
        let out = apply(c, &json!({"n": 5}));
        assert_eq!(
            out,
            vec![
                json!({"n": 5, "note": "transforms[0] (meta.err).transforms[0] (string.to_lower): `n` is number, expected a string"})
            ]
        );
    }

    #[test]
    fn err_settings_are_checked() {
        let e = build_error(config(
            "meta.err",
            json!({"error_messages": ["ok", "(unclosed"], "transforms": []}),
        ));
        assert!(
            e.contains("field `error_messages[1]`: not a valid regular expression"),
            "{e}"
        );
    }

    fn retry(settings: Value) -> Value {
        let mut c = config("meta.retry", settings);
        let t = &mut c["transforms"][0];
        t["initial_delay"] = json!("1ms");
        t["max_delay"] = json!("2ms");
        c
    }

    #[test]
    fn retry_gives_up_after_the_attempts() {
        let c =
            retry(json!({"attempts": 3, "transforms": [{"type": "parse.json", "source": "x"}]}));
        let e = apply_err(c, &json!({"x": "{"}));
        assert!(
            e.starts_with("gave up after 3 tries; the last failure was: transforms[0] (meta.retry).transforms[0] (parse.json): "),
            "{e}"
        );
        // Non-matching failures are not retried.
        let c = retry(
            json!({"error_messages": ["throttl"], "transforms": [{"type": "parse.json", "source": "x"}]}),
        );
        let e = apply_err(c, &json!({"x": "{"}));
        assert!(e.starts_with("transforms[0] (meta.retry)"), "{e}");
    }

    #[test]
    fn retry_passes_successes_and_checks_the_condition() {
        let c = retry(json!({"transforms": [{"type": "string.to_upper", "source": "s"}]}));
        assert_eq!(apply(c, &json!({"s": "a"})), vec![json!({"s": "A"})]);
        let cond = json!({"type": "string.eq", "source": "status", "value": "done"});
        let c = retry(json!({"attempts": 2, "condition": cond, "transforms": []}));
        assert_eq!(
            apply(c.clone(), &json!({"status": "done"})),
            vec![json!({"status": "done"})]
        );
        let p = run(
            c,
            vec![
                Message::new(r#"{"status":"pending"}"#),
                Message::new(r#"{"status":"done"}"#),
            ],
        );
        assert_eq!(p.output.len(), 1);
        assert_eq!(
            reasons(&p),
            vec!["gave up after 2 tries; the `condition` was still false"]
        );
    }

    #[test]
    fn retry_settings_are_checked() {
        let e = build_error(config(
            "meta.retry",
            json!({"attempts": 0, "transforms": []}),
        ));
        assert!(e.contains("field `attempts`: must be at least 1"), "{e}");
        let e = build_error(config(
            "meta.retry",
            json!({"initial_delay": "10", "transforms": []}),
        ));
        assert!(
            e.contains("field `initial_delay`: expected a duration"),
            "{e}"
        );
        let e = build_error(config(
            "meta.retry",
            json!({"initial_delay": "10s", "max_delay": "1s", "transforms": []}),
        ));
        assert!(e.contains("field `max_delay`: 1s is shorter"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        let ceilings: Vec<u128> = (0..8).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(5));
    }

    proptest! {
        /// Every wait lies between half the ceiling and the ceiling, and never over the cap.
        #[test]
        fn jittered_delay_stays_in_bounds(initial in 1u64..10_000, max in 10_000u64..100_000, n in 0u32..40) {
            let b = Backoff { initial: Duration::from_micros(initial), max: Duration::from_micros(max) };
            let d = b.delay(n);
            prop_assert!(d <= b.ceiling(n) && d >= b.ceiling(n) / 2 && d <= b.max);
        }

        /// meta.err with no inner transforms is the identity.
        #[test]
        fn err_without_transforms_is_the_identity(s in ".{0,12}", n in any::<i64>()) {
            let input = json!({"s": s, "n": n});
            prop_assert_eq!(apply(config("meta.err", json!({"transforms": []})), &input), vec![input]);
        }
    }
}
