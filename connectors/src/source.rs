//! Sources: where `sluice run` reads from. Files and stdin (see [`crate::file`]), S3 prefixes
//! (`s3://bucket/prefix`) and Kinesis streams (`kinesis://stream`).
//!
//! Every source sends [`SourceEvent`]s over one bounded channel, so a slow pipeline slows the
//! reading and memory stays flat. The first line of each input (file, S3 object) carries
//! `@meta.input = {name, line: 1}`, so transforms that care where an input starts can tell. One
//! input's batches are sent together, never interleaved with another's.

use crate::file::{Line, LineReader};
use sluice_core::Message;
use std::io::BufRead;
use tokio::sync::mpsc;

/// What a source hands the runner.
pub enum SourceEvent {
    Batch(Vec<Message>),
    /// A record that cannot enter the pipeline (a line over the size limit), with the reason.
    Refused(Message, String),
    /// One input is finished: how much it gave, or why it failed part-way.
    Done(InputReport),
}

/// The account of one input.
#[derive(Debug, Clone, Default)]
pub struct InputReport {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    /// Why the input could not be read to its end (the lines before were processed).
    pub error: Option<String>,
}

/// Reads newline-delimited records from a reader and sends them in batches. Blocking: call it
/// from a thread, or from `spawn_blocking`.
pub fn send_lines(
    name: &str,
    reader: impl BufRead,
    batch_size: usize,
    max_line: usize,
    tx: &mpsc::Sender<SourceEvent>,
    mut progress: impl FnMut(u64),
) -> InputReport {
    let mut lines = LineReader::new(reader, max_line);
    let mut report = InputReport {
        name: name.to_string(),
        ..InputReport::default()
    };
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        match lines.next_line() {
            Ok(Some(Line::Text(bytes))) => {
                report.messages += 1;
                report.bytes += bytes.len() as u64 + 1;
                progress(bytes.len() as u64 + 1);
                let mut message = Message::new(bytes);
                if report.messages == 1 {
                    message
                        .meta_mut()
                        .insert("input".into(), serde_json::json!({"name": name, "line": 1}));
                }
                batch.push(message);
                if batch.len() >= batch_size {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                    if tx.blocking_send(SourceEvent::Batch(full)).is_err() {
                        return report;
                    }
                }
            }
            Ok(Some(Line::TooLong { head, len })) => {
                report.messages += 1;
                report.bytes += len as u64 + 1;
                progress(len as u64 + 1);
                let reason = format!(
                    "{name}: line {} is {len} bytes, over the {max_line}-byte limit (--max-line-bytes); its first {} bytes are kept",
                    report.messages,
                    head.len()
                );
                if tx
                    .blocking_send(SourceEvent::Refused(Message::new(head), reason))
                    .is_err()
                {
                    return report;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "truncated input (a gzip stream ended early)".to_string()
                } else {
                    e.to_string()
                };
                report.error = Some(format!(
                    "{name}: {what} after line {}; the lines before it were processed",
                    report.messages
                ));
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(SourceEvent::Batch(batch));
    }
    report
}
