//! Object queries: `object.jq` (a jq filter, through the jaq crates) and `object.jsonpath` (an
//! RFC 9535 JSONPath query, through jsonpath-rust) over a field or the whole data.
//!
//! Both compile their program once, when the config is built: a filter or query that does not
//! parse is a config error naming the `filter` or `query` field, found by `sluice vet` before any
//! data is read. At run time the result replaces `target` (the source by default).
//!
//! How many results: jq filters and JSONPath queries give zero, one or several results. One jq
//! output is written as it is; several are collected into an array (nothing is dropped); zero
//! leave the message unchanged, like an absent source (so `select(...)` reads as "only when").
//! `array: true` always writes an array, even of zero or one outputs, for a fixed shape.
//! JSONPath always writes the array of matches, or with `first: true` the first match alone; no
//! match leaves the message unchanged.
//!
//! Numbers keep their exactness through jq: integers go in and come out as 64-bit integers (jaq
//! computes with big integers), and an integer result beyond 64 bits is an error rather than a
//! rounded float. jq's standard library is there (`test`, `sub`, `@base64d`, `todate`...) except
//! `input`/`inputs`, which have no meaning on one message.

use crate::common::target_or;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, DataT, Vars};
use jaq_json::{Num, Val};
use jsonpath_rust::parser::model::JpQuery;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use sluice_core::{Builder, ConfigErrors, MapTransform, Message, Path, Registry, TransformError};

pub fn register(r: &mut Registry) {
    r.map("object.jq", |s: JqSettings, b| {
        Ok(Jq {
            filter: compile_jq(&s.filter, b)?,
            s,
        })
    });
    r.map("object.jsonpath", |s: JsonPathSettings, b| {
        let query = jsonpath_rust::parser::parse_json_path(&s.query).map_err(|e| {
            b.fail(format!(
                "field `query`: invalid JSONPath {:?}: {e} (a query starts with `$`, like `$.Records[*].eventName`)",
                s.query
            ))
        })?;
        Ok(JsonPath { query, s })
    });
}

/// The most outputs one jq run may give before it is stopped (a runaway `repeat` or `range`).
const MAX_JQ_OUTPUTS: usize = 100_000;

/// Run a jq filter (jaq) over a field, or the whole data, and write its output to `target`.
/// One output is written as is, several become an array, none leave the message unchanged
/// (`array: true` always writes an array). The filter is compiled when the config is built.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JqSettings {
    /// The jq filter, e.g. `{user: .userIdentity.arn, ip: .sourceIPAddress}`.
    pub filter: String,
    /// The value the filter reads as `.`; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the output; defaults to the source (the whole data replaces the data).
    #[serde(default)]
    pub target: Option<Path>,
    /// Always write an array of all outputs, even of zero or one.
    #[serde(default)]
    pub array: bool,
}

/// jq programs run on jaq's own JSON values, with only the compiled program as global data.
struct JqData;

impl DataT for JqData {
    type V<'a> = Val;
    type Data<'a> = &'a jaq_core::Lut<JqData>;
}

type JqFilter = jaq_core::Filter<JqData>;

struct Jq {
    s: JqSettings,
    filter: JqFilter,
}

fn compile_jq(code: &str, b: &Builder) -> Result<JqFilter, ConfigErrors> {
    let fail = |why: String| b.fail(format!("field `filter`: invalid jq filter {code:?}: {why}"));
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errors| {
            let mut why = Vec::new();
            for (_, error) in errors {
                match error {
                    jaq_core::load::Error::Io(items) => why.extend(
                        items
                            .into_iter()
                            .map(|(path, e)| format!("cannot import {path:?}: {e}")),
                    ),
                    jaq_core::load::Error::Lex(items) => {
                        why.extend(items.into_iter().map(|(expect, at)| {
                            let what = match &expect {
                                jaq_core::load::lex::Expect::Delim(d) => {
                                    format!("a closing delimiter for `{d}`")
                                }
                                other => other.as_str().to_string(),
                            };
                            format!("expected {what} {}", position(code, at))
                        }))
                    }
                    jaq_core::load::Error::Parse(items) => {
                        why.extend(items.into_iter().map(|(expect, at)| {
                            format!("expected {} {}", expect.as_str(), position(code, at))
                        }))
                    }
                }
            }
            fail(why.join("; "))
        })?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            let why: Vec<String> = errors
                .into_iter()
                .flat_map(|(_, e)| e)
                .map(|(name, undefined)| {
                    format!(
                        "undefined {} `{name}` {}",
                        undefined.as_str(),
                        position(code, name)
                    )
                })
                .collect();
            fail(why.join("; "))
        })
}

/// "at character N (found `...`)" for a slice of the filter's code.
fn position(code: &str, at: &str) -> String {
    let start = code.as_ptr() as usize;
    let here = at.as_ptr() as usize;
    if here < start || here > start + code.len() {
        return String::new();
    }
    let offset = code[..here - start].chars().count();
    let found: String = at.chars().take(12).collect();
    if found.is_empty() {
        format!("at the end (character {offset})")
    } else {
        format!("at character {offset} (found `{found}`)")
    }
}

impl Jq {
    fn run(&self, input: &Value) -> Result<Vec<Value>, TransformError> {
        let input = Val::deserialize(input).map_err(|e| TransformError::invalid(e.to_string()))?;
        let ctx = Ctx::<JqData>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for out in self.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr) {
            let out = out.map_err(|e| {
                TransformError::invalid(format!("jq filter failed on `{}`: {e}", self.s.source))
            })?;
            if outputs.len() == MAX_JQ_OUTPUTS {
                return Err(TransformError::invalid(format!(
                    "jq filter gave more than {MAX_JQ_OUTPUTS} outputs for one message; stopped"
                )));
            }
            outputs.push(to_json(&out).map_err(|e| {
                TransformError::invalid(format!("jq filter output on `{}`: {e}", self.s.source))
            })?);
        }
        Ok(outputs)
    }
}

/// A jaq value as JSON. Byte strings become text (lossily), integers must fit in 64 bits.
fn to_json(v: &Val) -> Result<Value, String> {
    Ok(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(Num::Float(f)) if f.is_nan() => Value::Null,
        Val::Num(n) => Value::Number(number(n)?),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Val::Obj(map) => {
            let mut out = Map::new();
            for (k, v) in map.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => return Err(format!("object key {other} is not a string")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
    })
}

fn number(n: &Num) -> Result<Number, String> {
    match n {
        Num::Int(i) => Ok(Number::from(*i as i64)),
        Num::BigInt(big) => {
            let text = big.to_string();
            text.parse::<i64>()
                .map(Number::from)
                .or_else(|_| text.parse::<u64>().map(Number::from))
                .map_err(|_| format!("the integer {text} does not fit in 64 bits"))
        }
        // Infinities have no JSON form; jq itself writes them as ±1.797e308 (and NaN as null,
        // handled by the caller).
        Num::Float(f) if f.is_infinite() => {
            Ok(Number::from_f64(f.signum() * f64::MAX).expect("finite"))
        }
        Num::Float(f) => Number::from_f64(*f).ok_or_else(|| "NaN".to_string()),
        Num::Dec(text) => text
            .parse::<Number>()
            .map_err(|_| format!("{text} is not a JSON number")),
    }
}

impl MapTransform for Jq {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(input) = message.get(&self.s.source)? else {
            return Ok(());
        };
        let mut outputs = self.run(input)?;
        let result = match (outputs.len(), self.s.array) {
            (_, true) => Value::Array(outputs),
            (0, false) => return Ok(()),
            (1, false) => outputs.pop().expect("one output"),
            (_, false) => Value::Array(outputs),
        };
        let target = target_or(&self.s.target, &self.s.source);
        if target.is_root() && target.root == sluice_core::path::Root::Data {
            // A string output stays JSON (`"text"`), not raw text, so the data is still JSON.
            message.set_value(result);
            return Ok(());
        }
        message.set(target, result)
    }
}

/// Run a JSONPath query (RFC 9535, e.g. `$.Records[*].userIdentity.arn`) over a field or the
/// whole data and write the array of matches (or only the first, with `first`) to `target`.
/// No match leaves the message unchanged. The query is compiled when the config is built.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JsonPathSettings {
    /// The JSONPath query; `$` is the source value.
    pub query: String,
    /// The value the query runs on; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the result; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Write only the first match instead of the array of all matches.
    #[serde(default)]
    pub first: bool,
}

struct JsonPath {
    s: JsonPathSettings,
    query: JpQuery,
}

impl MapTransform for JsonPath {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(input) = message.get(&self.s.source)? else {
            return Ok(());
        };
        let found = jsonpath_rust::query::js_path_process(&self.query, input).map_err(|e| {
            TransformError::invalid(format!(
                "JSONPath {:?} failed on `{}`: {e}",
                self.s.query, self.s.source
            ))
        })?;
        let result = match (self.s.first, found.first()) {
            (_, None) => return Ok(()),
            (true, Some(first)) => first.val.clone(),
            (false, Some(_)) => Value::Array(found.into_iter().map(|r| r.val.clone()).collect()),
        };
        let target = target_or(&self.s.target, &self.s.source);
        if target.is_root() && target.root == sluice_core::path::Root::Data {
            message.set_value(result);
            return Ok(());
        }
        message.set(target, result)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{apply, apply_err, build_error, config};
    use serde_json::{Value, json};

    fn jq(filter: &str, extra: Value, input: Value) -> Vec<Value> {
        let mut s = json!({"filter": filter});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        apply(config("object.jq", s), &input)
    }

    #[test]
    fn jq_outputs() {
        let input = json!({"a": {"b": [1, 2, 3]}, "u": "Alice"});
        assert_eq!(
            jq(".a.b | add", json!({"target": "sum"}), input.clone())[0]["sum"],
            json!(6)
        );
        assert_eq!(
            jq(".a.b[]", json!({"target": "each"}), input.clone())[0]["each"],
            json!([1, 2, 3])
        );
        assert_eq!(
            jq(
                ".a.b[0]",
                json!({"target": "one", "array": true}),
                input.clone()
            )[0]["one"],
            json!([1])
        );
        assert_eq!(
            jq("empty", json!({"target": "x"}), input.clone()),
            vec![input.clone()]
        );
        assert_eq!(
            jq(
                "empty",
                json!({"target": "x", "array": true}),
                input.clone()
            )[0]["x"],
            json!([])
        );
        // Whole data in, whole data out (a string output stays a JSON string).
        assert_eq!(
            jq("{user: .u | ascii_downcase}", json!({}), input.clone()),
            vec![json!({"user": "alice"})]
        );
        assert_eq!(jq(".u", json!({}), input.clone()), vec![json!("Alice")]);
        // A field as `.`.
        assert_eq!(
            jq("length", json!({"source": "a.b"}), input.clone())[0]["a"]["b"],
            json!(3)
        );
        // Standard library: regex and base64.
        assert_eq!(
            jq(
                ".u | test(\"^al\"; \"i\")",
                json!({"target": "t"}),
                input.clone()
            )[0]["t"],
            json!(true)
        );
        assert_eq!(
            jq("\"aGk=\" | @base64d", json!({"target": "d"}), input.clone())[0]["d"],
            json!("hi")
        );
        // Missing source passes unchanged; unicode survives.
        assert_eq!(
            jq(".", json!({"source": "zz", "target": "y"}), input.clone()),
            vec![input]
        );
        assert_eq!(
            jq(".k", json!({"target": "v"}), json!({"k": "Ünï ✓"}))[0]["v"],
            json!("Ünï ✓")
        );
    }

    #[test]
    fn jq_keeps_big_integers() {
        let input = json!({"id": u64::MAX, "n": i64::MIN, "f": 1.5});
        let out = jq("{id, n, f, m: (.id - 1)}", json!({"target": "o"}), input).remove(0);
        assert_eq!(
            out["o"],
            json!({"id": u64::MAX, "n": i64::MIN, "f": 1.5, "m": u64::MAX - 1})
        );
        let e = apply_err(
            config("object.jq", json!({"filter": ".id * 4", "target": "o"})),
            &json!({"id": u64::MAX}),
        );
        assert!(e.contains("does not fit in 64 bits"), "{e}");
    }

    #[test]
    fn jq_errors() {
        let e = apply_err(
            config("object.jq", json!({"filter": ".a + 1"})),
            &json!({"a": "x"}),
        );
        assert!(e.starts_with("jq filter failed on `(whole data)`: "), "{e}");
        let e = apply_err(
            config("object.jq", json!({"filter": "error(\"no user\")"})),
            &json!({}),
        );
        assert!(e.contains("no user"), "{e}");
        let e = apply_err(
            config("object.jq", json!({"filter": "repeat(1)", "target": "x"})),
            &json!({}),
        );
        assert!(e.contains("more than 100000 outputs"), "{e}");
        let e = build_error(config("object.jq", json!({"filter": ".a | "})));
        assert!(e.contains("transforms[0] (object.jq): field `filter`: invalid jq filter \".a | \": expected term at the end"), "{e}");
        let e = build_error(config("object.jq", json!({"filter": "nosuchfn(1)"})));
        assert!(
            e.contains("undefined filter `nosuchfn` at character 0"),
            "{e}"
        );
        let e = build_error(config("object.jq", json!({"filter": "{a: 1"})));
        assert!(e.contains("field `filter`"), "{e}");
        let e = build_error(config("object.jq", json!({"filter": "$x"})));
        assert!(e.contains("undefined variable"), "{e}");
    }

    #[test]
    fn jsonpath() {
        let input = json!({"Records": [{"eventName": "A", "n": 1}, {"eventName": "B", "n": 2}]});
        let q = |s: Value| apply(config("object.jsonpath", s), &input).remove(0);
        assert_eq!(
            q(json!({"query": "$.Records[*].eventName", "target": "names"}))["names"],
            json!(["A", "B"])
        );
        assert_eq!(
            q(json!({"query": "$.Records[?@.n > 1].eventName", "target": "x", "first": true}))["x"],
            json!("B")
        );
        assert_eq!(q(json!({"query": "$.Nope", "target": "x"})), input);
        assert_eq!(
            q(json!({"query": "$[0].eventName", "source": "Records", "target": "first"}))["first"],
            json!(["A"])
        );
        assert_eq!(
            apply(
                config("object.jsonpath", json!({"query": "$.Records[1]"})),
                &input
            ),
            vec![json!([{"eventName": "B", "n": 2}])]
        );
        let e = build_error(config("object.jsonpath", json!({"query": "Records[*"})));
        assert!(
            e.contains("field `query`: invalid JSONPath \"Records[*\""),
            "{e}"
        );
        let e = crate::testing::apply_raw_err(
            config("object.jsonpath", json!({"query": "$.a"})),
            "not json",
        );
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn compiled_filter_is_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::Jq>();
        send_sync::<super::JsonPath>();
    }
}
