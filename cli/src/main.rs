//! The `sluice` command: run, build, vet, test and list pipelines, and serve one as a Lambda
//! function.
//!
//! Each subcommand is a thin layer over sluice-core: it loads a config, builds it against the
//! full registry (built-ins plus connectors), and reports in words a responder can act on.

mod catalogue;
mod run;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};
use sluice_core::{Config, Registry, Resources};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// Events are many small JSON trees built and freed per batch; mimalloc's thread-local free
// lists make that pattern markedly cheaper than the system allocator (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the pipeline as an AWS Lambda function (the custom runtime's `bootstrap`; a binary
    /// named `bootstrap` runs this with no arguments). See docs/deploy.md.
    Lambda {
        /// The config: a path, s3://bucket/key or an http(s) URL (default: $SLUICE_CONFIG, else
        /// sluice.json in the deployment package).
        #[arg(long)]
        config: Option<String>,
        /// The event source handler (default: $SLUICE_HANDLER, else the config's
        /// `lambda.handler`, else auto).
        #[arg(long)]
        handler: Option<String>,
    },
}

fn main() -> ExitCode {
    // Lambda's custom runtime runs the deployment package's `bootstrap` with no arguments.
    let cli = if invoked_as_bootstrap() {
        Cli {
            command: Command::Lambda {
                config: None,
                handler: None,
            },
        }
    } else {
        Cli::parse()
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
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

fn invoked_as_bootstrap() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .is_some_and(|p| p.file_name().is_some_and(|n| n == "bootstrap"))
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Lambda { config, handler } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            match runtime.block_on(sluice_connectors::lambda::run(config, handler)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                // Already logged, and reported to the Runtime API.
                Err(e) if e.is::<sluice_connectors::lambda::InitFailed>() => Ok(ExitCode::FAILURE),
                Err(e) => anyhow::bail!("lambda: {e}"),
            }
        }
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
    let built = config.build(registry, &Resources::default());
    // The `lambda` section is only read by `sluice lambda`; a mistake in it is still found here.
    let lambda = sluice_connectors::lambda::Settings::from_config(&config).err();
    match (built, lambda) {
        (Ok(pipeline), None) => Ok((config, pipeline)),
        (Ok(_), Some(problem)) => Err(problem),
        (Err(e), None) => Err(e.to_string()),
        (Err(e), Some(problem)) => Err(format!("{e}\n{problem}")),
    }
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
