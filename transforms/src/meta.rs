//! The meta family: transforms that run other transforms (`meta.switch` now; for_each, err,
//! retry and pipeline in the catalogue issue).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::transform::Mode;
use sluice_core::{Condition, Failed, Message, Output, Registry, Steps, Transform};

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
                (Ok(when), Ok(steps)) if steps.is_async() => {
                    let _ = when;
                    errors.push(b.error(format!(
                        "cases[{i}].transforms: transforms that wait on the network cannot run inside meta.switch yet; put them at the top level with a `when`"
                    )));
                }
                (Ok(when), Ok(steps)) => cases.push((when, steps)),
                (w, s) => {
                    errors.extend(w.err().map(|e| e.0).unwrap_or_default());
                    errors.extend(s.err().map(|e| e.0).unwrap_or_default());
                }
            }
        }
        if errors.is_empty() {
            Ok(Switch { cases })
        } else {
            Err(sluice_core::ConfigErrors(errors))
        }
    });
}

/// Run the transforms of the first case whose `when` matches (a case without `when` always
/// matches); a message that matches no case passes unchanged.
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

impl Transform for Switch {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        for (when, steps) in &self.cases {
            let matched = match when {
                Some(c) => c
                    .test(&mut message)
                    .map_err(|e| Failed::new(message.clone(), e))?,
                None => true,
            };
            if matched {
                return match steps.run_sync(vec![message]) {
                    Ok(o) => {
                        out.append(o);
                        Ok(())
                    }
                    Err((m, e)) => Err(Failed::new(m, e)),
                };
            }
        }
        out.push(message);
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), sluice_core::TransformError> {
        for (_, steps) in &self.cases {
            match steps.run_sync(vec![Message::control()]) {
                Ok(o) => o
                    .into_messages()
                    .into_iter()
                    .filter(|m| !m.is_control())
                    .for_each(|m| out.push(m)),
                Err((_, e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn mode(&self) -> Mode {
        self.cases
            .iter()
            .map(|(_, s)| s.mode())
            .fold(
                Mode::Parallel,
                |a, m| if m == Mode::Parallel { a } else { m },
            )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, build_error, config};
    use serde_json::json;

    fn switch() -> serde_json::Value {
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
            Vec::<serde_json::Value>::new()
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
}
