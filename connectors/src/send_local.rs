//! `send.file` and `send.stdout`: sinks on this machine, one message per line.

use crate::sink::{CallError, Common, Delivery, Destination, Sink};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Message, Registry};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

pub fn register(r: &mut Registry) {
    r.io("send.file", |s: FileSettings, b| {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.path)
            .map_err(|e| {
                b.fail(format!(
                    "field `path`: cannot open {} for writing: {e}",
                    s.path
                ))
            })?;
        let destination = FileDestination {
            path: s.path,
            file: Mutex::new(BufWriter::new(file)),
        };
        Sink::new(destination, s.common, b)
    });
    r.io("send.stdout", |s: StdoutSettings, b| {
        Sink::new(StdoutDestination, s.common, b)
    });
}

/// Append messages to a file, one per line (created if missing).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FileSettings {
    /// The file to append to.
    pub path: String,
    #[serde(flatten)]
    pub common: Common,
}

/// Write messages to standard output, one per line.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StdoutSettings {
    #[serde(flatten)]
    pub common: Common,
}

struct FileDestination {
    path: String,
    file: Mutex<BufWriter<File>>,
}

fn write_lines(w: &mut impl Write, records: &[Message]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(records.len() * 256);
    for m in records {
        m.write_to(&mut buf);
        buf.push(b'\n');
    }
    w.write_all(&buf)?;
    w.flush()
}

impl Destination for FileDestination {
    fn call_limits(&self) -> (usize, usize) {
        (usize::MAX, usize::MAX)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        let result = write_lines(&mut *self.file.lock(), records)
            .map(|()| vec![Delivery::Sent; records.len()])
            .map_err(|e| CallError::fail(format!("writing {}: {e}", self.path)));
        Box::pin(std::future::ready(result))
    }
}

struct StdoutDestination;

impl Destination for StdoutDestination {
    fn call_limits(&self) -> (usize, usize) {
        (usize::MAX, usize::MAX)
    }

    fn send<'a>(
        &'a self,
        records: &'a mut [Message],
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, CallError>> {
        let result = write_lines(&mut std::io::stdout().lock(), records)
            .map(|()| vec![Delivery::Sent; records.len()])
            .map_err(|e| CallError::fail(format!("writing to stdout: {e}")));
        Box::pin(std::future::ready(result))
    }
}
