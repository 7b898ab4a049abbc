//! Config files: JSON, or Jsonnet evaluated with jrsonnet, into the `Config` shape, and from
//! there into a running `Pipeline`.
//!
//! Jsonnet imports resolve relative to the importing file, then in every `configs/`-style folder
//! above the config that holds `sluice.libsonnet`, then to the copy of `sluice.libsonnet` built
//! into the binary, so `import 'sluice.libsonnet'` works from anywhere. Everything is checked
//! before any input is read: a config either builds completely or lists all of its problems.

use crate::error::{ConfigError, ConfigErrors};
use crate::pipeline::{OnError, Pipeline};
use crate::registry::{Builder, Registry, Resources};
use jrsonnet_evaluator::{
    AsPathLike, FileImportResolver, ImportResolver, SourcePath, SourceVirtual, State,
    manifest::JsonFormat, trace::PathResolver,
};
use jrsonnet_gcmodule::Acyclic;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The library of constructors, shipped inside the binary.
pub const LIBSONNET: &str = include_str!("../../configs/sluice.libsonnet");

/// A pipeline config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The transforms every message goes through, in order.
    #[serde(default)]
    pub transforms: Vec<Value>,
    /// The error route: transforms run over messages that failed, each carrying `@meta.error`.
    #[serde(default)]
    pub errors: Vec<Value>,
    /// `route` (default) sends failures to the error route; `fail` stops the run.
    #[serde(default)]
    pub on_error: OnError,
    /// Named pipelines that `meta.pipeline` runs by name.
    #[serde(default)]
    pub pipelines: BTreeMap<String, Vec<Value>>,
    /// Named stores (memory, file, mmdb, dynamodb...) that transforms refer to.
    #[serde(default)]
    pub stores: BTreeMap<String, Value>,
    /// Settings shared by every AWS client of the run (region, endpoint, retries); read by
    /// sluice-connectors, opaque here.
    #[serde(default)]
    pub aws: Option<Value>,
    /// Settings for `sluice lambda` (which handler, where output goes); read by
    /// sluice-connectors, opaque here.
    #[serde(default)]
    pub lambda: Option<Value>,
    /// Tests that travel with the config; `sluice test` runs them.
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

/// One config test: input messages and the output they must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// Input messages: a string is one raw line; any other value is sent as its JSON text.
    #[serde(default)]
    pub input: Vec<Value>,
    /// Expected output, in order; outputs that are JSON are compared as JSON.
    #[serde(default)]
    pub expect: Vec<Value>,
    /// How many messages must reach the error route (default: none).
    #[serde(default)]
    pub errors: usize,
}

impl Config {
    /// Reads and evaluates a config file (`.jsonnet`/`.libsonnet` through Jsonnet, else JSON).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let value = evaluate(path)?;
        Config::from_value(value, &path.display().to_string())
    }

    /// Checks a config's shape; `origin` names it in errors.
    pub fn from_value(value: Value, origin: &str) -> Result<Config, ConfigErrors> {
        serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let location = if path == "." {
                origin.to_string()
            } else {
                format!("{origin}: {path}")
            };
            ConfigError::new(location, inner).into()
        })
    }

    /// Builds the pipeline, reporting every problem in the config at once.
    pub fn build(
        &self,
        registry: &Registry,
        resources: &Resources,
    ) -> Result<Pipeline, ConfigErrors> {
        let mut with_stores = resources.clone();
        if let Some(aws) = &self.aws {
            with_stores.set_section("aws", aws.clone());
        }
        // Stores see the config's sections too (a DynamoDB store uses its `aws` settings).
        let mut store_errors = Vec::new();
        let mut stores = Vec::new();
        {
            let builder = Builder::new(registry, &with_stores, &self.pipelines);
            for (name, value) in &self.stores {
                match builder.store(name, value) {
                    Ok(store) => stores.push((name.clone(), store)),
                    Err(e) => store_errors.extend(e.0),
                }
            }
        }
        for (name, store) in stores {
            with_stores.insert_shared(name, store);
        }
        let builder = Builder::new(registry, &with_stores, &self.pipelines);
        let steps = builder.steps("transforms", &self.transforms);
        let errors = builder.steps("errors", &self.errors);
        let mut problems = store_errors;
        for (name, pipeline) in &self.pipelines {
            if let Err(e) = builder.steps(&format!("pipelines.{name}"), pipeline) {
                problems.extend(e.0);
            }
        }
        match (steps, errors) {
            (Ok(s), Ok(e)) if problems.is_empty() => {
                Ok(Pipeline::new(s, e, self.on_error).with_metrics(with_stores.metrics().clone()))
            }
            (s, e) => {
                let mut all = Vec::new();
                all.extend(s.err().map(|e| e.0).unwrap_or_default());
                all.extend(e.err().map(|e| e.0).unwrap_or_default());
                all.extend(problems);
                Err(ConfigErrors(all))
            }
        }
    }
}

/// Evaluates a config file to JSON (what `sluice build` prints).
pub fn evaluate(path: &Path) -> Result<Value, ConfigError> {
    let origin = path.display().to_string();
    let is_jsonnet = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonnet" | "libsonnet")
    );
    if !is_jsonnet {
        let text = std::fs::read(path).map_err(|e| ConfigError::new(&origin, e))?;
        return serde_json::from_slice(&text)
            .map_err(|e| ConfigError::new(&origin, format!("not valid JSON: {e}")));
    }
    let text = evaluate_jsonnet(path).map_err(|e| ConfigError::new(&origin, e))?;
    serde_json::from_str(&text).map_err(|e| ConfigError::new(&origin, e))
}

fn evaluate_jsonnet(path: &Path) -> Result<String, String> {
    let mut jpath = Vec::new();
    let canonical = path.canonicalize().map_err(|e| e.to_string())?;
    for dir in canonical.ancestors().skip(1) {
        if dir.join("sluice.libsonnet").is_file() {
            jpath.push(dir.to_path_buf());
        }
        if dir.join("configs/sluice.libsonnet").is_file() {
            jpath.push(dir.join("configs"));
        }
    }
    let mut builder = State::builder();
    builder.import_resolver(LibraryResolver {
        files: FileImportResolver::new(jpath),
    });
    builder.context_initializer(jrsonnet_stdlib::ContextInitializer::new(
        PathResolver::new_cwd_fallback(),
    ));
    let state = builder.build();
    let _entered = state.enter();
    let format_error = |e: jrsonnet_evaluator::Error| {
        let mut text = String::new();
        let _ = jrsonnet_evaluator::trace::TraceFormat::write_trace(
            &jrsonnet_evaluator::trace::CompactFormat::default(),
            &mut text,
            &e,
        );
        text.trim().to_string()
    };
    let value = state.import(canonical.as_path()).map_err(format_error)?;
    value.manifest(JsonFormat::cli(0)).map_err(format_error)
}

/// File imports, with `sluice.libsonnet` served from the binary when no file of that name is
/// found on the import path.
#[derive(Acyclic)]
struct LibraryResolver {
    files: FileImportResolver,
}

impl ImportResolver for LibraryResolver {
    fn resolve_from(
        &self,
        from: &SourcePath,
        path: &dyn AsPathLike,
    ) -> jrsonnet_evaluator::Result<SourcePath> {
        match self.files.resolve_from(from, path) {
            Ok(found) => Ok(found),
            Err(_) if is_library(path) => {
                Ok(SourcePath::new(SourceVirtual("sluice.libsonnet".into())))
            }
            Err(e) => Err(e),
        }
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        if resolved.downcast_ref::<SourceVirtual>().is_some() {
            return Ok(LIBSONNET.as_bytes().to_vec());
        }
        self.files.load_file_contents(resolved)
    }
}

fn is_library(path: &dyn AsPathLike) -> bool {
    let name = match path.as_path() {
        jrsonnet_evaluator::ResolvePath::Str(s) => s.rsplit('/').next().map(str::to_string),
        jrsonnet_evaluator::ResolvePath::Path(p) => {
            p.file_name().map(|n| n.to_string_lossy().into_owned())
        }
    };
    name.as_deref() == Some("sluice.libsonnet")
}

/// Finds config files under a directory (for `sluice test DIR`): `.jsonnet` and `.json`.
pub fn find_configs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            found.extend(find_configs(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonnet" | "json")
        ) {
            found.push(path);
        }
    }
    found
}
