//! The utility family: drop, and (in the catalogue issue) control, delay, metrics and sampling.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Failed, Message, Output, Registry, Transform};

pub fn register(r: &mut Registry) {
    r.transform("utility.drop", |s: DropSettings, _| Ok(s));
}

/// Drop every message that reaches it (give it a `when` to filter). Counted as dropped by rule.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DropSettings {}

impl Transform for DropSettings {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        out.drop_message(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{config, run};
    use serde_json::json;
    use sluice_core::Message;

    #[test]
    fn drops_what_matches_and_counts_it() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "string.eq", "source": "a", "value": "x"});
        let p = run(
            c,
            vec![Message::new(r#"{"a":"x"}"#), Message::new(r#"{"a":"y"}"#)],
        );
        assert_eq!(p.output.len(), 1);
        assert!(p.errors.is_empty());
    }
}
