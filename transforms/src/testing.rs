//! Test helpers: run a one-transform config over a message and look at what comes out.

use serde_json::{Value, json};
use sluice_core::{Config, Message, Processed, Resources};

/// A config with one transform of `type_name` and these settings.
pub fn config(type_name: &str, settings: Value) -> Value {
    let mut t = settings;
    t["type"] = json!(type_name);
    json!({ "transforms": [t] })
}

/// Runs a config over raw input lines, then end of input.
pub fn run(config: Value, input: Vec<Message>) -> Processed {
    let config = Config::from_value(config, "test").expect("config shape");
    let registry = crate::registry();
    let pipeline = config
        .build(&registry, &Resources::default())
        .unwrap_or_else(|e| panic!("config does not build: {e}"));
    futures::executor::block_on(async {
        let mut p = pipeline.process(input).await.expect("run");
        let f = pipeline.flush().await.expect("flush");
        p.output.extend(f.output);
        p.errors.extend(f.errors);
        p
    })
}

fn values(p: &Processed) -> Vec<Value> {
    p.output
        .iter()
        .map(sluice_core::testing::output_value)
        .collect()
}

/// Output of a config over one JSON input; panics when anything errors.
pub fn apply(config: Value, input: &Value) -> Vec<Value> {
    apply_raw(config, &input.to_string())
}

/// Output of a config over one raw line; panics when anything errors.
pub fn apply_raw(config: Value, input: &str) -> Vec<Value> {
    let p = run(config, vec![Message::new(input)]);
    assert!(p.errors.is_empty(), "unexpected errors: {:?}", reasons(&p));
    values(&p)
}

/// The reason one JSON input was rejected; panics when it was not.
pub fn apply_err(config: Value, input: &Value) -> String {
    apply_raw_err(config, &input.to_string())
}

/// The reason one raw line was rejected; panics when it was not.
pub fn apply_raw_err(config: Value, input: &str) -> String {
    let p = run(config, vec![Message::new(input)]);
    let r = reasons(&p);
    assert_eq!(
        r.len(),
        1,
        "expected one error, output was {:?}",
        values(&p)
    );
    r[0].clone()
}

/// The error reasons of a run.
pub fn reasons(p: &Processed) -> Vec<String> {
    p.errors
        .iter()
        .map(|m| {
            m.meta()["error"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The config error text for a config that must not build.
pub fn build_error(config: Value) -> String {
    let config = Config::from_value(config, "test").expect("config shape");
    match config.build(&crate::registry(), &Resources::default()) {
        Ok(_) => panic!("config built, expected an error"),
        Err(e) => e.to_string(),
    }
}
