//! Files and stdin as a source of lines.
//!
//! Inputs are paths, globs, or `-` for stdin. Gzip is recognised by its magic bytes, not the
//! file name, and a truncated or corrupt gzip stream is an error for that input, never a silent
//! short read. Lines longer than a limit are not buffered whole: they are reported with their
//! size so that one bad line cannot exhaust memory.

use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// Default longest line: large enough for a 10 MB CloudTrail digest or Records file.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024 * 1024;

/// Where lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Size on disk, for progress; unknown for stdin.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        }
    }
}

/// Why inputs could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}: no such file, and no file matches it as a glob")]
    NotFound(String),
    #[error("{0}: invalid glob pattern: {1}")]
    BadGlob(String, String),
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
}

/// Expands the command line's inputs: `-` is stdin, existing paths are files, others are globs.
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = PathBuf::from(arg);
        if path.exists() {
            inputs.push(Input::File(path));
            continue;
        }
        let matches =
            glob::glob(arg).map_err(|e| InputError::BadGlob(arg.clone(), e.to_string()))?;
        let mut found: Vec<PathBuf> = matches
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(InputError::NotFound(arg.clone()));
        }
        found.sort();
        inputs.extend(found.into_iter().map(Input::File));
    }
    Ok(inputs)
}

/// Opens an input, transparently decompressing gzip.
pub fn open(input: &Input) -> Result<Box<dyn BufRead + Send>, InputError> {
    let io_err = |source| InputError::Io {
        name: input.name(),
        source,
    };
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(p) => Box::new(File::open(p).map_err(io_err)?),
    };
    decompressed(BufReader::with_capacity(256 * 1024, raw)).map_err(io_err)
}

/// The reader itself, or a gzip decoder over it when its first bytes are gzip's magic.
pub fn decompressed<R: BufRead + Send + 'static>(
    mut reader: R,
) -> io::Result<Box<dyn BufRead + Send>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// One line read from an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// A line over the limit: its first bytes and its full length.
    TooLong {
        head: Vec<u8>,
        len: usize,
    },
}

/// Reads newline-delimited lines with a length limit; `\r\n` endings are trimmed. Blank lines
/// are skipped.
pub struct LineReader<R> {
    reader: R,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R, max: usize) -> LineReader<R> {
        LineReader { reader, max }
    }

    /// The next line, `Ok(None)` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            let mut line = Vec::new();
            let mut len = 0usize;
            let mut ended = false;
            loop {
                let buf = self.reader.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                let (chunk, found) = match memchr_newline(buf) {
                    Some(i) => (&buf[..i], true),
                    None => (buf, false),
                };
                let room = self.max.saturating_sub(line.len());
                line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                len += chunk.len();
                let used = chunk.len() + usize::from(found);
                self.reader.consume(used);
                if found {
                    ended = true;
                    break;
                }
            }
            if len == 0 && !ended {
                return Ok(None);
            }
            if line.last() == Some(&b'\r') && len <= self.max {
                line.pop();
                len -= 1;
            }
            if len == 0 || line.iter().all(u8::is_ascii_whitespace) && len <= self.max {
                continue;
            }
            if len > self.max {
                line.truncate(1024);
                return Ok(Some(Line::TooLong { head: line, len }));
            }
            return Ok(Some(Line::Text(line)));
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(text: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(io::Cursor::new(text.to_vec()), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn splits_lines_and_skips_blanks() {
        assert_eq!(
            lines(b"a\r\n\nb\n  \nc", 100),
            vec![
                Line::Text(b"a".to_vec()),
                Line::Text(b"b".to_vec()),
                Line::Text(b"c".to_vec())
            ]
        );
        assert!(lines(b"", 100).is_empty());
    }

    #[test]
    fn long_lines_are_reported_not_buffered() {
        let mut text = vec![b'x'; 5000];
        text.extend_from_slice(b"\nshort\n");
        let got = lines(&text, 100);
        assert!(matches!(&got[0], Line::TooLong { head, len: 5000 } if head.len() == 100));
        assert_eq!(got[1], Line::Text(b"short".to_vec()));
    }

    #[test]
    fn gzip_is_detected_and_truncation_is_an_error() {
        let dir = std::env::temp_dir().join(format!("sluice-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(gz, "line {i} with some padding to make it longer").unwrap();
        }
        let bytes = gz.finish().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let mut r = LineReader::new(open(&Input::File(path.clone())).unwrap(), 1000);
        let mut n = 0;
        while r.next_line().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2000);
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let mut r = LineReader::new(open(&Input::File(path)).unwrap(), 1000);
        let result = (0..3000).try_for_each(|_| r.next_line().map(|_| ()));
        assert!(result.is_err(), "a truncated gzip must be an error");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
