//! `utility.random`: a weighted coin flip, for sampling (`utility.drop` when it is false keeps
//! about `probability` of the messages) and for spreading work.

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Condition, Message, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.condition("utility.random", |s: RandomSettings, b| {
        if !(0.0..=1.0).contains(&s.probability) {
            return Err(b.fail(format!(
                "field `probability`: {} is outside 0 to 1",
                s.probability
            )));
        }
        Ok(Random {
            probability: s.probability,
            rng: s
                .seed
                .map(|seed| Mutex::new(fastrand::Rng::with_seed(seed))),
        })
    });
}

/// True with the given probability, independently for each message (0 never, 1 always). Not
/// for security decisions. With `seed`, the sequence of results repeats from run to run (for
/// config tests); without it, each thread draws from its own randomly seeded generator.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RandomSettings {
    /// The chance of true, from 0 to 1 (default 0.5).
    #[serde(default = "half")]
    pub probability: f64,
    /// A seed for a repeatable sequence of results.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn half() -> f64 {
    0.5
}

struct Random {
    probability: f64,
    rng: Option<Mutex<fastrand::Rng>>,
}

impl Condition for Random {
    fn test(&self, _message: &mut Message) -> Result<bool, TransformError> {
        let draw = match &self.rng {
            Some(rng) => rng.lock().f64(),
            None => fastrand::f64(),
        };
        Ok(draw < self.probability)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{build_error, config, run};
    use serde_json::{Value, json};
    use sluice_core::Message;

    fn kept(when: Value, n: usize) -> usize {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "none", "conditions": [when]});
        let input = (0..n).map(|i| Message::new(i.to_string())).collect();
        run(c, input).output.len()
    }

    #[test]
    fn probabilities() {
        assert_eq!(
            kept(json!({"type": "utility.random", "probability": 0}), 200),
            0
        );
        assert_eq!(
            kept(json!({"type": "utility.random", "probability": 1}), 200),
            200
        );
        // 4000 fair flips: the count is within 6 standard deviations (~190) of 2000.
        let n = kept(json!({"type": "utility.random"}), 4000);
        assert!((1810..=2190).contains(&n), "{n}");
        let n = kept(json!({"type": "utility.random", "probability": 0.1}), 4000);
        assert!((280..=520).contains(&n), "{n}");
        // A seed repeats.
        let seeded = json!({"type": "utility.random", "seed": 7});
        assert_eq!(kept(seeded.clone(), 500), kept(seeded, 500));
    }

    #[test]
    fn bad_probability() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "utility.random", "probability": 1.5});
        assert!(build_error(c).contains("field `probability`: 1.5 is outside 0 to 1"));
    }
}
