//! `sluice run`: read inputs, run the pipeline, write output and errors, print the account.
//!
//! Sources (files and stdin on a reader thread, S3 prefixes and Kinesis streams as async tasks)
//! send batches over one bounded channel, so a slow pipeline slows the reading (memory stays
//! flat) and the pipeline's timers keep firing while input is idle. The config is fully built
//! before the first byte is read.

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_connectors::aws::AwsContext;
use sluice_connectors::file::{self, Input};
use sluice_connectors::source::{InputReport, SourceEvent, send_lines};
use sluice_connectors::source_kinesis::{KinesisStart, KinesisStream};
use sluice_connectors::source_s3::{self, S3Prefix};
use sluice_core::Processed;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline config (.jsonnet or .json).
    #[arg(short, long)]
    config: PathBuf,
    /// Inputs: files, globs, `-` for stdin (the default), `s3://bucket/prefix`, `kinesis://stream`.
    inputs: Vec<String>,
    /// Where output goes: a file, `-` for stdout, or `none`.
    #[arg(short, long, default_value = "-")]
    output: String,
    /// Where messages on the error route go: a file, `-` for stdout, or stderr by default.
    #[arg(long)]
    errors: Option<String>,
    /// Messages per batch handed to the pipeline.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Longest line accepted; longer lines go to the error route with their size.
    #[arg(long, default_value_t = file::DEFAULT_MAX_LINE)]
    max_line_bytes: usize,
    /// S3 objects read at the same time.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Kinesis: where to start reading: `trim_horizon`, `latest`, or an RFC 3339 time.
    #[arg(long, default_value = "trim_horizon")]
    kinesis_start: String,
    /// Kinesis: stop at the stream's current end instead of waiting for new records.
    #[arg(long)]
    until_now: bool,
    /// Write the account of every input (one JSON line each) to this file.
    #[arg(long)]
    input_report: Option<PathBuf>,
    /// No progress bar and no account on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// Inputs are listed one per line in the account when there are at most this many.
const LIST_INPUTS: usize = 50;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let registry = sluice_connectors::registry();
    let (config, pipeline) = match crate::load(&args.config, &registry) {
        Ok(p) => p,
        Err(problems) => {
            for line in problems.lines() {
                eprintln!("sluice: {}: {line}", args.config.display());
            }
            eprintln!("sluice: the config has problems; no input was read");
            return Ok(ExitCode::from(2));
        }
    };
    let raw = if args.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };
    let (remote, local): (Vec<String>, Vec<String>) = raw
        .into_iter()
        .partition(|i| i.starts_with("s3://") || i.starts_with("kinesis://"));
    let local = if local.is_empty() {
        Vec::new()
    } else {
        file::expand_inputs(&local)?
    };
    let mut s3 = Vec::new();
    let mut kinesis = Vec::new();
    for url in &remote {
        if let Some(p) = S3Prefix::parse(url) {
            s3.push(p);
        } else if let Some(k) = KinesisStream::parse(url) {
            kinesis.push(k);
        } else {
            anyhow::bail!("{url}: expected s3://bucket/prefix or kinesis://stream");
        }
    }
    let start = KinesisStart::parse(&args.kinesis_start).map_err(anyhow::Error::msg)?;
    let aws = if remote.is_empty() {
        None
    } else {
        Some(AwsContext::from_section(config.aws.as_ref()).map_err(anyhow::Error::msg)?)
    };
    let mut output = open_writer(&args.output, false)?;
    let mut errors = open_writer(args.errors.as_deref().unwrap_or(""), true)?;
    let progress = Arc::new(Bar::new(&local, args.quiet));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(4);
    let (batch_size, max_line) = (args.batch_size.max(1), args.max_line_bytes);
    let reader = {
        let (tx, progress) = (tx.clone(), progress.clone());
        std::thread::spawn(move || read_local(local, batch_size, max_line, &progress, &tx))
    };
    for prefix in s3 {
        let (aws, tx, progress) = (
            aws.clone().expect("made for remote inputs"),
            tx.clone(),
            progress.clone(),
        );
        runtime.spawn(source_s3::read(
            aws,
            prefix,
            args.concurrency,
            batch_size,
            max_line,
            tx,
            progress,
        ));
    }
    for stream in kinesis {
        let (aws, tx) = (aws.clone().expect("made for remote inputs"), tx.clone());
        let (start, until_now) = (start.clone(), args.until_now);
        runtime.spawn(async move { stream.read(aws, start, until_now, batch_size, tx).await });
    }
    drop(tx);

    let mut reports: Vec<InputReport> = Vec::new();
    let mut fatal = None;
    let embed_errors = config.errors.is_empty();
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                event = rx.recv() => match event {
                    Some(SourceEvent::Batch(batch)) => {
                        progress.events(batch.len() as u64);
                        pipeline.process(batch).await
                    }
                    Some(SourceEvent::Refused(message, reason)) => pipeline.reject_input(message, reason).await,
                    Some(SourceEvent::Done(report)) => {
                        progress.input_done();
                        reports.push(report);
                        continue;
                    }
                    None => break,
                },
                _ = ticker.tick() => pipeline.tick().await,
            };
            match result {
                Ok(p) => write(&p, &mut output, &mut errors, embed_errors)?,
                Err(e) => {
                    fatal = Some(e);
                    return Ok::<(), anyhow::Error>(());
                }
            }
        }
        match pipeline.flush().await {
            Ok(p) => write(&p, &mut output, &mut errors, embed_errors)?,
            Err(e) => fatal = Some(e),
        }
        Ok(())
    })?;
    // A run stopped early leaves sources blocked on a full channel: dropping the receiver and
    // the runtime releases them.
    drop(rx);
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = reader.join();
    progress.bar.finish_and_clear();
    output.flush()?;
    errors.flush()?;

    let failed: Vec<&InputReport> = reports.iter().filter(|r| r.error.is_some()).collect();
    if let Some(path) = &args.input_report {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for r in &reports {
            let line = serde_json::json!({"input": r.name, "messages": r.messages, "bytes": r.bytes, "error": r.error});
            writeln!(f, "{line}")?;
        }
    }
    if !args.quiet {
        eprint!("{}", pipeline.account());
        if reports.len() > 1 || !failed.is_empty() {
            eprintln!(
                "inputs: {} read, {} failed",
                reports.len() - failed.len(),
                failed.len()
            );
            if reports.len() <= LIST_INPUTS {
                for r in &reports {
                    let status = r.error.as_deref().unwrap_or("done");
                    eprintln!(
                        "  {}  {} messages, {} bytes: {status}",
                        r.name, r.messages, r.bytes
                    );
                }
            }
        }
    }
    for r in &failed {
        eprintln!("sluice: input error: {}", r.error.as_deref().unwrap_or(""));
    }
    if let Some(e) = fatal {
        eprintln!("sluice: stopped (on_error: fail): {e}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_local(
    inputs: Vec<Input>,
    batch_size: usize,
    max_line: usize,
    progress: &Bar,
    tx: &mpsc::Sender<SourceEvent>,
) {
    for input in inputs {
        let name = input.name();
        let report = match file::open(&input) {
            Ok(reader) => send_lines(&name, reader, batch_size, max_line, tx, |n| {
                progress.bar.inc(n)
            }),
            Err(e) => InputReport {
                name,
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        if tx.blocking_send(SourceEvent::Done(report)).is_err() {
            return;
        }
    }
}

fn write(
    p: &Processed,
    output: &mut Box<dyn Write>,
    errors: &mut Box<dyn Write>,
    embed: bool,
) -> Result<()> {
    let mut buf = Vec::with_capacity(p.output.len() * 256);
    for m in &p.output {
        m.write_to(&mut buf);
        buf.push(b'\n');
    }
    output.write_all(&buf).context("writing output")?;
    for m in &p.errors {
        let line = if embed {
            // No error route configured: keep the reason and the data together on one line.
            let data = sluice_core::testing::output_value(m);
            serde_json::json!({"error": m.meta().get("error"), "data": data}).to_string()
        } else {
            String::from_utf8_lossy(&m.bytes()).into_owned()
        };
        writeln!(errors, "{line}").context("writing errors")?;
    }
    Ok(())
}

fn open_writer(target: &str, is_errors: bool) -> Result<Box<dyn Write>> {
    Ok(match target {
        "" if is_errors => Box::new(std::io::stderr()),
        "-" => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        )),
        "none" => Box::new(std::io::sink()),
        path => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {path}"))?,
        )),
    })
}

/// The progress bar: bytes, inputs and events, on a terminal only.
struct Bar {
    bar: ProgressBar,
    inputs: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
    events: std::sync::atomic::AtomicU64,
}

impl Bar {
    fn new(local: &[Input], quiet: bool) -> Bar {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(local.iter().filter_map(Input::size).sum());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        };
        Bar {
            bar,
            inputs: (local.len() as u64).into(),
            done: 0.into(),
            events: 0.into(),
        }
    }

    fn refresh(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.bar.set_message(format!(
            "inputs {}/{}  events {}",
            self.done.load(Relaxed),
            self.inputs.load(Relaxed),
            self.events.load(Relaxed)
        ));
    }

    fn events(&self, n: u64) {
        self.events
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.refresh();
    }

    fn input_done(&self) {
        self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.refresh();
    }
}

impl source_s3::Progress for Bar {
    fn objects_found(&self, count: u64, bytes: u64) {
        self.inputs
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        self.bar.inc_length(bytes);
        self.refresh();
    }

    fn bytes_read(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}
