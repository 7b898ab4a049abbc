//! The `sluice` command: run, build, vet, test and list pipelines.
//!
//! Each subcommand is a thin layer over sluice-core: it loads a config, builds it against the
//! full registry (built-ins plus connectors), and reports in words a responder can act on.

mod catalogue;
mod run;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};
use sluice_core::{Config, Registry, Resources};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Turn raw security logs into clean, enriched events."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline over files, globs or stdin (`-`); output goes to stdout as JSON lines.
    Run(run::RunArgs),
    /// Evaluate a Jsonnet config and print its JSON.
    Build {
        /// The config file (.jsonnet or .json).
        config: PathBuf,
    },
    /// Check a config: every problem is listed; exits non-zero if there is any.
    Vet {
        /// The config file (.jsonnet or .json).
        config: PathBuf,
    },
    /// Run the tests that configs carry; a directory is searched for configs.
    Test {
        /// Config files or directories (default: configs/).
        paths: Vec<PathBuf>,
    },
    /// List every transform and condition with its settings.
    List {
        /// Print Markdown (docs/transforms.md is this output).
        #[arg(long, conflicts_with = "libsonnet")]
        markdown: bool,
        /// Print the generated part of configs/sluice.libsonnet.
        #[arg(long)]
        libsonnet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Build { config } => {
            let value = sluice_core::config::evaluate(&config)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Vet { config } => vet(&config),
        Command::Test { paths } => test::test(paths),
        Command::List {
            markdown,
            libsonnet,
        } => {
            let registry = sluice_connectors::registry();
            let text = if markdown {
                catalogue::markdown(&registry)
            } else if libsonnet {
                catalogue::libsonnet(&registry)
            } else {
                catalogue::text(&registry)
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads and builds a config, or describes every problem in it.
pub fn load(path: &Path, registry: &Registry) -> Result<(Config, sluice_core::Pipeline), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let pipeline = config
        .build(registry, &Resources::default())
        .map_err(|e| e.to_string())?;
    Ok((config, pipeline))
}

fn vet(path: &Path) -> Result<ExitCode> {
    let registry = sluice_connectors::registry();
    match load(path, &registry) {
        Ok((config, pipeline)) => {
            println!(
                "{}: ok ({} transforms, {} on the error route, {} tests)",
                path.display(),
                pipeline.steps().len(),
                config.errors.len(),
                config.tests.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for line in problems.lines() {
                println!("{}: {line}", path.display());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
