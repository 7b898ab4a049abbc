//! `sluice run`: read inputs, run the pipeline, write output and errors, print the account.
//!
//! A reader thread turns inputs into batches and hands them over a bounded channel, so a slow
//! pipeline slows the reader (memory stays flat) and the pipeline's timers keep firing while
//! input is idle. The config is fully built before the first byte is read.

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_connectors::file::{self, Input, Line, LineReader};
use sluice_core::{Message, Processed};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline config (.jsonnet or .json).
    #[arg(short, long)]
    config: PathBuf,
    /// Inputs: files, globs, or `-` for stdin (the default).
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
    /// No progress bar and no account on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// What the reader thread sends: batches of input, a line it had to refuse, or a failed input.
enum Event {
    Batch(Vec<Message>),
    Refused(Message, String),
    InputFailed(String),
}

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
    let raw_inputs = if args.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };
    let inputs = file::expand_inputs(&raw_inputs)?;
    let mut output = open_writer(&args.output, false)?;
    let default_errors = args.errors.clone().unwrap_or_default();
    let mut errors = open_writer(&default_errors, true)?;
    let progress = progress_bar(&inputs, args.quiet);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = mpsc::channel::<Event>(4);
    let reader = {
        let (batch_size, max_line, progress) = (
            args.batch_size.max(1),
            args.max_line_bytes,
            progress.clone(),
        );
        std::thread::spawn(move || read_inputs(inputs, batch_size, max_line, progress, tx))
    };

    let mut input_failures = Vec::new();
    let mut fatal = None;
    let embed_errors = config.errors.is_empty();
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                event = rx.recv() => match event {
                    Some(Event::Batch(batch)) => pipeline.process(batch).await,
                    Some(Event::Refused(message, reason)) => pipeline.reject_input(message, reason).await,
                    Some(Event::InputFailed(problem)) => {
                        input_failures.push(problem);
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
    // When the run stopped early the reader may be blocked on a full channel: dropping the
    // receiver (with the runtime) releases it.
    drop(rx);
    drop(runtime);
    let _ = reader.join();
    progress.finish_and_clear();
    output.flush()?;
    errors.flush()?;

    if !args.quiet {
        eprint!("{}", pipeline.account());
    }
    for problem in &input_failures {
        eprintln!("sluice: input error: {problem}");
    }
    if let Some(e) = fatal {
        eprintln!("sluice: stopped (on_error: fail): {e}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if input_failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_inputs(
    inputs: Vec<Input>,
    batch_size: usize,
    max_line: usize,
    progress: ProgressBar,
    tx: mpsc::Sender<Event>,
) {
    for input in inputs {
        let name = input.name();
        let reader = match file::open(&input) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Event::InputFailed(e.to_string()));
                continue;
            }
        };
        let mut lines = LineReader::new(reader, max_line);
        let mut batch = Vec::with_capacity(batch_size);
        let mut number = 0u64;
        loop {
            match lines.next_line() {
                Ok(Some(Line::Text(bytes))) => {
                    number += 1;
                    progress.inc(bytes.len() as u64 + 1);
                    let mut message = Message::new(bytes);
                    if number == 1 {
                        // Only the first line is marked: transforms that care where an input
                        // starts (a flow-log header) can tell, at no cost to the other lines.
                        message
                            .meta_mut()
                            .insert("input".into(), serde_json::json!({"name": name, "line": 1}));
                    }
                    batch.push(message);
                    if batch.len() >= batch_size
                        && tx
                            .blocking_send(Event::Batch(std::mem::replace(
                                &mut batch,
                                Vec::with_capacity(batch_size),
                            )))
                            .is_err()
                    {
                        return;
                    }
                }
                Ok(Some(Line::TooLong { head, len })) => {
                    number += 1;
                    progress.inc(len as u64 + 1);
                    let reason = format!(
                        "{name}: line {number} is {len} bytes, over the {max_line}-byte limit (--max-line-bytes); its first {} bytes are kept",
                        head.len()
                    );
                    if tx
                        .blocking_send(Event::Refused(Message::new(head), reason))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        "truncated input (a gzip stream ended early)".to_string()
                    } else {
                        e.to_string()
                    };
                    let _ = tx.blocking_send(Event::InputFailed(format!(
                        "{name}: {what} after line {number}; the lines before it were processed"
                    )));
                    break;
                }
            }
        }
        if !batch.is_empty() && tx.blocking_send(Event::Batch(batch)).is_err() {
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

fn progress_bar(inputs: &[Input], quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: u64 = inputs.iter().filter_map(Input::len).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
