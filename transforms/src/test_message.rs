//! The test family: `test.message`, which makes input for config tests.
//!
//! (The module is `test_message` because `test` would clash with Rust's `#[test]` attribute.)

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{Failed, Message, Output, Registry, Stateful, TransformError};

pub fn register(r: &mut Registry) {
    r.stateful("test.message", |s: MessageSettings, _| Ok(s));
}

/// Emit `value` as a new message whenever a control message arrives (and so at the end of
/// input); other messages pass unchanged. Gives config tests and examples an event without
/// an input file. A string value becomes raw text, anything else JSON.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MessageSettings {
    /// The message's data: any JSON.
    pub value: Value,
}

impl Stateful for MessageSettings {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.push(message);
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        let message = match &self.value {
            Value::String(text) => Message::new(text.as_str()),
            other => Message::from_value(other.clone()),
        };
        out.push(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, config, run};
    use serde_json::json;
    use sluice_core::Message;
    use sluice_core::testing::output_value;

    #[test]
    fn example_config_passes() {
        crate::aggregate::tests::check_example("test");
    }

    #[test]
    fn emits_its_value_on_control_after_the_input() {
        let c = config(
            "test.message",
            json!({"value": {"eventName": "ConsoleLogin", "n": 1}}),
        );
        assert_eq!(
            apply(c, &json!({"a": 1})),
            vec![
                json!({"a": 1}),
                json!({"eventName": "ConsoleLogin", "n": 1})
            ]
        );
        let c = config("test.message", json!({"value": "raw line ✓"}));
        let p = run(c, vec![]);
        assert_eq!(p.output[0].bytes().as_ref(), "raw line ✓".as_bytes());
        // Every control message emits it again.
        let c = config("test.message", json!({"value": 7}));
        let p = run(c, vec![Message::new("x"), Message::control()]);
        let out: Vec<_> = p.output.iter().map(output_value).collect();
        assert_eq!(out, vec![json!("x"), json!(7), json!(7)]);
    }
}
