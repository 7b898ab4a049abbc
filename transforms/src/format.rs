//! The format family: encodings of data and fields. JSON text (`to_json`, `from_json`), base64,
//! gzip, zstd and zip archives, and multi-line pretty-printed JSON put back together.
//!
//! Binary results go to the whole data, which holds any bytes. A field holds text, so a
//! decoded or decompressed field must be UTF-8 (else the message is rejected, never mangled),
//! and a compressed field is stored as base64, which is also what the `from_*` decompressors
//! read from a field. Every decompressor stops at `max_bytes` of output, so a small
//! decompression bomb cannot take the process's memory.

use crate::common::{get_bytes, get_str, target_or, wrong_type};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::path::Root;
use sluice_core::{
    Failed, Map, MapTransform, Message, Output, Path, Registry, Stateful, TransformError,
};
use std::io::{Cursor, Read, Write};

pub fn register(r: &mut Registry) {
    r.map("format.json", |s: FormatJsonSettings, _| Ok(s));
    r.map("format.to_json", |s: FormatJsonSettings, _| Ok(s));
    r.map("format.from_json", |s: FromJsonSettings, _| Ok(s));
    r.map("format.from_base64", |s: FromBase64Settings, _| Ok(s));
    r.map("format.to_base64", |s: ToBase64Settings, _| Ok(s));
    r.map("format.from_gzip", |s: DecompressSettings, b| {
        check_max(s.max_bytes, b)?;
        Ok(Decompress {
            s,
            codec: Codec::Gzip,
        })
    });
    r.map("format.from_zstd", |s: DecompressSettings, b| {
        check_max(s.max_bytes, b)?;
        Ok(Decompress {
            s,
            codec: Codec::Zstd,
        })
    });
    r.map("format.to_gzip", |s: ToGzipSettings, b| {
        if s.level > 9 {
            return Err(b.fail(format!(
                "field `level`: {} is out of range; gzip levels are 0 (store) to 9 (smallest)",
                s.level
            )));
        }
        Ok(s)
    });
    r.map("format.from_zip", |s: FromZipSettings, b| {
        check_max(s.max_bytes, b)?;
        Ok(s)
    });
    r.stateful("format.from_pretty_print", |s: PrettyPrintSettings, b| {
        check_max(s.max_bytes, b)?;
        Ok(PrettyPrint {
            max_bytes: s.max_bytes,
            state: Mutex::new(PrettyState::default()),
        })
    });
}

fn check_max(max: u64, b: &sluice_core::Builder) -> Result<(), sluice_core::ConfigErrors> {
    if max == 0 {
        return Err(b.fail("field `max_bytes`: must be above 0"));
    }
    Ok(())
}

fn is_data_root(path: &Path) -> bool {
    path.is_root() && path.root == Root::Data
}

/// How an error names where a value came from: "the data" or "`field`".
fn subject(path: &Path) -> String {
    if is_data_root(path) {
        "the data".into()
    } else {
        format!("`{path}`")
    }
}

// ---- JSON text -----------------------------------------------------------------------------

/// Serialize a value to JSON text: the whole data by default, or a field into a string field.
/// (`format.json` and `format.to_json` are the same transform.)
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FormatJsonSettings {
    /// What to serialize; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the text; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// Indent the output.
    #[serde(default)]
    pub pretty: bool,
}

impl MapTransform for FormatJsonSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(value) = message.get(&self.source)? else {
            return Ok(());
        };
        let text = if self.pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        }
        .map_err(TransformError::invalid)?;
        let target = target_or(&self.target, &self.source);
        if target.is_root() {
            message.set_bytes(text);
            Ok(())
        } else {
            message.set(target, Value::String(text))
        }
    }
}

/// Parse JSON text held in a string field into a value (or parse the whole data). A string
/// that is not JSON is an error; so is a field that is not a string.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromJsonSettings {
    /// The string field holding JSON text; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to put the value; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

impl MapTransform for FromJsonSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        if is_data_root(&self.source) {
            message.value()?;
            if let Some(target) = self.target.as_ref().filter(|t| !is_data_root(t)) {
                let value = message.take_value()?;
                message.set(target, value)?;
            }
            return Ok(());
        }
        let value = match message.get(&self.source)? {
            None => return Ok(()),
            Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|e| {
                TransformError::invalid(format!(
                    "`{}` does not hold valid JSON text: {e}",
                    self.source
                ))
            })?,
            Some(other) => return Err(wrong_type(&self.source, "a string holding JSON", other)),
        };
        message.set(target_or(&self.target, &self.source), value)
    }
}

// ---- Base64 --------------------------------------------------------------------------------

/// Standard alphabet; padding optional, so unpadded input decodes too.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64, allowing missing padding and line breaks (MIME-style wrapping).
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    let trimmed = text.trim_ascii();
    match BASE64_LENIENT.decode(trimmed) {
        Ok(bytes) => Ok(bytes),
        Err(e) if trimmed.iter().any(u8::is_ascii_whitespace) => {
            let compact: Vec<u8> = trimmed
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            BASE64_LENIENT.decode(compact).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Writes decoded bytes: raw to the whole data, or as a string to a field when they are UTF-8.
fn write_decoded(
    message: &mut Message,
    target: &Path,
    bytes: Vec<u8>,
    what: &str,
) -> Result<(), TransformError> {
    if is_data_root(target) {
        message.set_bytes(bytes);
        return Ok(());
    }
    match String::from_utf8(bytes) {
        Ok(text) => message.set(target, Value::String(text)),
        Err(e) => Err(TransformError::invalid(format!(
            "the {what} data is binary (not UTF-8 text at byte {}), so it cannot be stored in \
             field `{target}`; write it to the whole data instead (leave out `target`, or use \
             the whole data as the source)",
            e.utf8_error().valid_up_to()
        ))),
    }
}

/// Writes binary output: raw to the whole data, or base64 text to a field.
fn write_binary(
    message: &mut Message,
    target: &Path,
    bytes: Vec<u8>,
) -> Result<(), TransformError> {
    if is_data_root(target) {
        message.set_bytes(bytes);
        Ok(())
    } else {
        message.set(target, Value::String(STANDARD.encode(bytes)))
    }
}

/// Reads binary input: the whole data's bytes, or a string field holding base64.
fn read_binary(message: &mut Message, source: &Path) -> Result<Option<Vec<u8>>, TransformError> {
    if is_data_root(source) {
        return Ok(Some(message.bytes().into_owned()));
    }
    match message.get(source)? {
        None => Ok(None),
        Some(Value::String(text)) => decode_base64(text.as_bytes()).map(Some).map_err(|e| {
            TransformError::invalid(format!(
                "`{source}` should hold base64 (binary data in a field is base64): {e}"
            ))
        }),
        Some(other) => Err(wrong_type(source, "a base64 string", other)),
    }
}

/// Decode base64 (standard alphabet; missing padding and line breaks are accepted). Decoding
/// the whole data gives raw bytes, which may be binary (e.g. a gzipped Kinesis payload for
/// `format.from_gzip`). Decoding into a field gives a string, so the result must be UTF-8
/// text; binary output at a field is an error, never mangled.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromBase64Settings {
    /// What to decode: a string field, or the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the decoded data; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

impl MapTransform for FromBase64Settings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let source = &self.source;
        let decoded = if is_data_root(source) {
            decode_base64(&message.bytes())
        } else {
            match get_str(message, source)? {
                None => return Ok(()),
                Some(text) => decode_base64(text.as_bytes()),
            }
        }
        .map_err(|e| {
            TransformError::invalid(format!("{} is not valid base64: {e}", subject(source)))
        })?;
        write_decoded(message, target_or(&self.target, source), decoded, "decoded")
    }
}

/// Encode as base64 (standard alphabet, padded). A field's text is encoded (other values as
/// compact JSON); the whole data's bytes are encoded as they are.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToBase64Settings {
    /// What to encode; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the base64 text; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

impl MapTransform for ToBase64Settings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(bytes) = get_bytes(message, &self.source)? else {
            return Ok(());
        };
        let text = STANDARD.encode(bytes);
        let target = target_or(&self.target, &self.source);
        if is_data_root(target) {
            message.set_bytes(text);
            Ok(())
        } else {
            message.set(target, Value::String(text))
        }
    }
}

// ---- Compression ---------------------------------------------------------------------------

fn default_max_bytes() -> u64 {
    64 * 1024 * 1024
}

#[derive(Debug, Clone, Copy)]
enum Codec {
    Gzip,
    Zstd,
}

/// Decompress gzip (`format.from_gzip`, concatenated members too) or zstd (`format.from_zstd`,
/// every frame, skippable frames skipped): the whole data by default, or a string field holding
/// the compressed bytes as base64. The output goes to the whole data as raw bytes, or to a
/// field as text (which must then be UTF-8). Output above `max_bytes` is an error, not a
/// truncation, so a decompression bomb is rejected with its size named.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DecompressSettings {
    /// The compressed data: the whole data by default, or a field holding it as base64.
    #[serde(default)]
    pub source: Path,
    /// Where to write the decompressed data; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
    /// The most bytes one message may decompress to (default 64 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

struct Decompress {
    s: DecompressSettings,
    codec: Codec,
}

fn too_big(what: &str, max: u64) -> TransformError {
    TransformError::invalid(format!(
        "{what} decompresses to more than max_bytes ({max} bytes); this may be a decompression \
         bomb, or raise `max_bytes` if data this large is expected"
    ))
}

/// Reads a decompressing reader into `out`, failing once `out` would exceed `max` bytes.
fn read_capped(
    reader: impl Read,
    out: &mut Vec<u8>,
    max: u64,
    what: &str,
) -> Result<(), TransformError> {
    let room = max.saturating_sub(out.len() as u64);
    let read = reader
        .take(room + 1)
        .read_to_end(out)
        .map_err(|e| TransformError::invalid(format!("{what} data is corrupt: {e}")))?;
    if read as u64 > room {
        return Err(too_big(what, max));
    }
    Ok(())
}

pub fn gunzip(data: &[u8], max: u64) -> Result<Vec<u8>, TransformError> {
    if data.is_empty() {
        return Err(TransformError::invalid("data is not gzip: it is empty"));
    }
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Err(TransformError::invalid(format!(
            "data is not gzip: it does not start with the gzip magic bytes 1f 8b (it starts with {})",
            hex::encode(&data[..data.len().min(4)])
        )));
    }
    let mut out = Vec::new();
    read_capped(
        flate2::read::MultiGzDecoder::new(data),
        &mut out,
        max,
        "gzip",
    )?;
    Ok(out)
}

pub fn unzstd(data: &[u8], max: u64) -> Result<Vec<u8>, TransformError> {
    use ruzstd::decoding::StreamingDecoder;
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    let mut input = data;
    let mut out = Vec::new();
    if input.is_empty() {
        return Err(TransformError::invalid("data is not zstd: it is empty"));
    }
    while !input.is_empty() {
        match StreamingDecoder::new(&mut input) {
            Ok(decoder) => read_capped(decoder, &mut out, max, "zstd")?,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                input = input.get(length as usize..).ok_or_else(|| {
                    TransformError::invalid("zstd data is corrupt: a skippable frame is truncated")
                })?;
            }
            Err(e) => {
                return Err(TransformError::invalid(if out.is_empty() {
                    format!("data is not zstd (or is corrupt): {e}")
                } else {
                    format!(
                        "zstd data is corrupt after {} decoded bytes: {e}",
                        out.len()
                    )
                }));
            }
        }
    }
    Ok(out)
}

impl MapTransform for Decompress {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let source = &self.s.source;
        let out = if is_data_root(source) {
            let data = message.bytes();
            self.decompress(&data)?
        } else {
            match read_binary(message, source)? {
                None => return Ok(()),
                Some(data) => self.decompress(&data)?,
            }
        };
        write_decoded(
            message,
            target_or(&self.s.target, source),
            out,
            "decompressed",
        )
    }
}

impl Decompress {
    fn decompress(&self, data: &[u8]) -> Result<Vec<u8>, TransformError> {
        match self.codec {
            Codec::Gzip => gunzip(data, self.s.max_bytes),
            Codec::Zstd => unzstd(data, self.s.max_bytes),
        }
    }
}

fn default_level() -> u32 {
    6
}

/// Compress with gzip: the whole data's bytes by default (the result is raw gzip), or a field's
/// text (other values as compact JSON), written to a field as base64.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToGzipSettings {
    /// What to compress; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write; defaults to the source. A field gets base64 text.
    #[serde(default)]
    pub target: Option<Path>,
    /// Compression level, 0 (store) to 9 (smallest); 6 by default.
    #[serde(default = "default_level")]
    pub level: u32,
}

pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 32),
        flate2::Compression::new(level),
    );
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

impl MapTransform for ToGzipSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let compressed = if is_data_root(&self.source) {
            gzip(&message.bytes(), self.level)
        } else {
            match get_bytes(message, &self.source)? {
                None => return Ok(()),
                Some(data) => gzip(&data, self.level),
            }
        };
        write_binary(message, target_or(&self.target, &self.source), compressed)
    }
}

// ---- Zip -----------------------------------------------------------------------------------

/// Unpack a zip archive (stored or deflated entries): each non-empty file becomes one message
/// holding that file's bytes, with its path in `@meta.zip.name` and the archive's metadata
/// kept. Directories and empty files are skipped. The archive is the whole data by default, or
/// a string field holding it as base64. A corrupt or encrypted archive, an entry compressed
/// another way (bzip2, lzma...), or more than `max_bytes` in total fails the whole message.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FromZipSettings {
    /// The archive: the whole data by default, or a field holding it as base64.
    #[serde(default)]
    pub source: Path,
    /// The most bytes all files of one archive may unpack to (default 64 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl FromZipSettings {
    fn unzip(&self, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TransformError> {
        let mut archive = zip::ZipArchive::new(Cursor::new(data))
            .map_err(|e| TransformError::invalid(format!("data is not a zip archive: {e}")))?;
        let mut files = Vec::new();
        let mut total = 0u64;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|e| {
                TransformError::invalid(format!("zip entry {i} cannot be read: {e}"))
            })?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().to_string();
            if entry.encrypted() {
                return Err(TransformError::invalid(format!(
                    "zip entry `{name}` is encrypted; encrypted archives are not supported"
                )));
            }
            let mut bytes = Vec::new();
            let room = self.max_bytes - total;
            let read = entry.take(room + 1).read_to_end(&mut bytes).map_err(|e| {
                TransformError::invalid(format!("zip entry `{name}` is corrupt: {e}"))
            })?;
            if read as u64 > room {
                return Err(too_big("the zip archive", self.max_bytes));
            }
            total += read as u64;
            if !bytes.is_empty() {
                files.push((name, bytes));
            }
        }
        Ok(files)
    }
}

impl Map for FromZipSettings {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let files = if is_data_root(&self.source) {
            let data = message.bytes();
            self.unzip(&data)
        } else {
            match read_binary(&mut message, &self.source) {
                Ok(None) => {
                    out.push(message);
                    return Ok(());
                }
                Ok(Some(data)) => self.unzip(&data),
                Err(e) => Err(e),
            }
        };
        let files = match files {
            Ok(f) => f,
            Err(error) => return Err(Failed::new(message, error)),
        };
        if files.is_empty() {
            // An archive with no files: counted as dropped, so the account shows it.
            out.drop_message(message);
            return Ok(());
        }
        let meta = message.meta().as_object().cloned().unwrap_or_default();
        for (name, bytes) in files {
            let mut m = Message::new(bytes);
            let m_meta = m.meta_mut();
            m_meta.extend(meta.clone());
            m_meta.insert("zip".into(), serde_json::json!({ "name": name }));
            out.push(m);
        }
        Ok(())
    }
}

// ---- Pretty-printed JSON -------------------------------------------------------------------

/// Put multi-line (pretty-printed) JSON objects back together when each line arrived as its own
/// message: lines are joined until the braces that open an object close again (braces inside
/// strings do not count), then the object is emitted as one message holding the parsed value,
/// with the metadata of its first line. Whitespace, commas and brackets between objects are
/// skipped, so a pretty-printed array of objects gives one message per object. Other text
/// between objects is an error for that line (nothing is consumed). An object that is not valid
/// JSON once closed, that grows past `max_bytes`, or that is still open at a flush (end of
/// input, or a control message) goes to the error route as one message holding its lines so
/// far, with the reason: nothing is lost or passed on half-built.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PrettyPrintSettings {
    /// The most bytes one object may span before it is given up as an error (default 64 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

#[derive(Debug, Default)]
struct PrettyState {
    /// The text of the object being assembled (lines joined by newlines).
    buf: Vec<u8>,
    /// Brace depth; 0 between objects.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Metadata of the object's first line.
    meta: Value,
}

struct PrettyPrint {
    max_bytes: u64,
    state: Mutex<PrettyState>,
}

/// What scanning one line found.
enum Scan {
    /// Byte offset and character of text found between objects.
    Stray(usize, char),
    Ok,
}

impl PrettyState {
    /// Checks a line against the current state without changing it.
    fn check(&self, bytes: &[u8]) -> Scan {
        let (mut depth, mut in_string, mut escaped) = (self.depth, self.in_string, self.escaped);
        for (i, &b) in bytes.iter().enumerate() {
            if depth == 0 {
                match b {
                    b'{' => depth = 1,
                    b',' | b'[' | b']' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ => {
                        let c = String::from_utf8_lossy(&bytes[i..])
                            .chars()
                            .next()
                            .unwrap_or('?');
                        return Scan::Stray(i, c);
                    }
                }
                continue;
            }
            step(b, &mut depth, &mut in_string, &mut escaped);
        }
        Scan::Ok
    }
}

/// Advances the brace scanner by one byte inside an object.
fn step(b: u8, depth: &mut usize, in_string: &mut bool, escaped: &mut bool) {
    if *in_string {
        if *escaped {
            *escaped = false;
        } else if b == b'\\' {
            *escaped = true;
        } else if b == b'"' {
            *in_string = false;
        }
        return;
    }
    match b {
        b'"' => *in_string = true,
        b'{' => *depth += 1,
        b'}' => *depth -= 1,
        _ => {}
    }
}

impl PrettyPrint {
    /// The message for one closed object: its parsed value, or its text with the reason.
    fn object_message(text: Vec<u8>, meta: Value) -> Result<Message, Failed> {
        let mut m = match serde_json::from_slice::<Value>(&text) {
            Ok(v) => Message::from_value(v),
            Err(e) => {
                let mut m = Message::new(text);
                set_meta(&mut m, meta);
                return Err(Failed::new(
                    m,
                    TransformError::invalid(format!(
                        "the pretty-printed object is not valid JSON once its lines are joined: {e}"
                    )),
                ));
            }
        };
        set_meta(&mut m, meta);
        Ok(m)
    }
}

fn set_meta(m: &mut Message, meta: Value) {
    if let Value::Object(map) = meta {
        m.meta_mut().extend(map);
    }
}

impl Stateful for PrettyPrint {
    fn apply(&self, message: Message, out: &mut Output) -> Result<(), Failed> {
        let mut st = self.state.lock();
        let bytes = message.bytes().into_owned();
        if let Scan::Stray(at, c) = st.check(&bytes) {
            return Err(Failed::new(
                message,
                TransformError::invalid(format!(
                    "text outside a JSON object at byte {at} ({c:?}); expected the lines of \
                     pretty-printed JSON objects"
                )),
            ));
        }
        let mut done: Vec<(Vec<u8>, Value)> = Vec::new();
        let mut start = None;
        for (i, &b) in bytes.iter().enumerate() {
            if st.depth == 0 {
                if b == b'{' {
                    st.depth = 1;
                    start = Some(i);
                    st.meta = message.meta().clone();
                }
                continue;
            }
            let s = &mut *st;
            step(b, &mut s.depth, &mut s.in_string, &mut s.escaped);
            if s.depth == 0 {
                let from = start.take().unwrap_or(0);
                s.buf.extend_from_slice(&bytes[from..=i]);
                done.push((std::mem::take(&mut s.buf), std::mem::take(&mut s.meta)));
            }
        }
        if st.depth > 0 {
            let from = start.unwrap_or(0);
            let s = &mut *st;
            s.buf.extend_from_slice(&bytes[from..]);
            s.buf.push(b'\n');
        }
        let overflowed = (st.buf.len() as u64 > self.max_bytes).then(|| std::mem::take(&mut *st));
        drop(st);

        for (text, meta) in done {
            match PrettyPrint::object_message(text, meta) {
                Ok(m) => out.push(m),
                Err(Failed { message, error }) => out.reject(message, error),
            }
        }
        if let Some(state) = overflowed {
            let mut m = Message::new(state.buf);
            set_meta(&mut m, state.meta);
            out.reject(
                m,
                TransformError::invalid(format!(
                    "a pretty-printed object grew past max_bytes ({} bytes) without closing; \
                     its lines so far are this message",
                    self.max_bytes
                )),
            );
        }
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        let state = std::mem::take(&mut *self.state.lock());
        if state.buf.is_empty() {
            return Ok(());
        }
        let mut m = Message::new(state.buf);
        set_meta(&mut m, state.meta);
        out.reject(
            m,
            TransformError::invalid(
                "a pretty-printed object was still open at a flush (end of input or a control \
                 message): its braces never closed; its lines so far are this message",
            ),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        apply, apply_err, apply_raw, apply_raw_err, build_error, config, reasons, run,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn run_bytes(config: Value, input: Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
        let p = run(config, vec![Message::new(input)]);
        let r = reasons(&p);
        if !r.is_empty() {
            return Err(r.join("; "));
        }
        Ok(p.output.iter().map(|m| m.bytes().into_owned()).collect())
    }

    #[test]
    fn formats_fields_and_whole_data() {
        assert_eq!(
            apply(
                config("format.json", json!({"source": "a", "target": "t"})),
                &json!({"a": {"b": [1]}})
            ),
            vec![json!({"a": {"b": [1]}, "t": "{\"b\":[1]}"})]
        );
        assert_eq!(
            apply(
                config("format.json", json!({"pretty": true})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        assert_eq!(
            apply(
                config("format.to_json", json!({"source": "a", "target": "t"})),
                &json!({"a": [1, "é"]})
            ),
            vec![json!({"a": [1, "é"], "t": "[1,\"é\"]"})]
        );
    }

    #[test]
    fn not_json_data_is_an_error() {
        assert!(apply_raw_err(config("format.json", json!({})), "abc").contains("not valid JSON"));
    }

    #[test]
    fn from_json() {
        let c = config("format.from_json", json!({"source": "m", "target": "p"}));
        assert_eq!(
            apply(c.clone(), &json!({"m": "{\"id\":18446744073709551615}"})),
            vec![
                json!({"m": "{\"id\":18446744073709551615}", "p": {"id": 18446744073709551615u64}})
            ]
        );
        assert_eq!(apply(c.clone(), &json!({"x": 1})), vec![json!({"x": 1})]);
        assert!(apply_err(c.clone(), &json!({"m": "{nope"})).contains("does not hold valid JSON"));
        assert!(apply_err(c, &json!({"m": 3})).contains("expected a string holding JSON"));
        let whole = config("format.from_json", json!({}));
        assert_eq!(
            apply_raw(whole.clone(), r#"{"a":1}"#),
            vec![json!({"a": 1})]
        );
        assert!(apply_raw_err(whole, "nope").contains("not valid JSON"));
        assert_eq!(
            apply_raw(config("format.from_json", json!({"target": "e"})), "[1]"),
            vec![json!({"e": [1]})]
        );
    }

    #[test]
    fn base64_fields_and_whole_data() {
        let c = config("format.from_base64", json!({"source": "d", "target": "t"}));
        assert_eq!(
            apply(c.clone(), &json!({"d": "aGVsbG8gd29ybGQ="}))[0]["t"],
            "hello world"
        );
        // Unpadded, wrapped and unicode text decode.
        assert_eq!(apply(c.clone(), &json!({"d": "aGVsbG8"}))[0]["t"], "hello");
        assert_eq!(
            apply(c.clone(), &json!({"d": "aGVs\nbG8="}))[0]["t"],
            "hello"
        );
        assert_eq!(apply(c.clone(), &json!({"d": "w6k="}))[0]["t"], "é");
        assert_eq!(apply(c.clone(), &json!({"x": 1})), vec![json!({"x": 1})]);
        assert!(apply_err(c.clone(), &json!({"d": "!!!"})).contains("not valid base64"));
        assert!(apply_err(c.clone(), &json!({"d": 1})).contains("expected a string"));
        let err = apply_err(c, &json!({"d": "//79"}));
        assert!(
            err.contains("binary") && err.contains("whole data"),
            "{err}"
        );
        // The whole data decodes to raw bytes, binary included.
        let raw = config("format.from_base64", json!({}));
        assert_eq!(
            run_bytes(raw.clone(), b"//79\n".to_vec()).unwrap(),
            vec![vec![0xff, 0xfe, 0xfd]]
        );
        assert_eq!(run_bytes(raw, Vec::new()).unwrap(), vec![Vec::<u8>::new()]);

        let enc = config("format.to_base64", json!({"source": "d", "target": "t"}));
        assert_eq!(apply(enc.clone(), &json!({"d": "é"}))[0]["t"], "w6k=");
        assert_eq!(
            apply(enc.clone(), &json!({"d": {"a": 1}}))[0]["t"],
            "eyJhIjoxfQ=="
        );
        assert_eq!(
            run_bytes(
                config("format.to_base64", json!({})),
                vec![0xff, 0xfe, 0xfd]
            )
            .unwrap(),
            vec![b"//79".to_vec()]
        );
    }

    #[test]
    fn gzip_round_trips_and_caps() {
        let data = b"line one\nline two\n".repeat(100);
        let gz = gzip(&data, 6);
        let from = config("format.from_gzip", json!({}));
        assert_eq!(
            run_bytes(from.clone(), gz.clone()).unwrap(),
            vec![data.clone()]
        );
        // Concatenated members (as some writers produce) decode as one stream.
        let mut two = gzip(b"a\n", 1);
        two.extend(gzip(b"b\n", 9));
        assert_eq!(
            run_bytes(from.clone(), two).unwrap(),
            vec![b"a\nb\n".to_vec()]
        );
        let err = run_bytes(from.clone(), b"plain text".to_vec()).unwrap_err();
        assert!(
            err.contains("not gzip") && err.contains("706c6169"),
            "{err}"
        );
        let err = run_bytes(from, gz[..gz.len() / 2].to_vec()).unwrap_err();
        assert!(err.contains("gzip data is corrupt"), "{err}");
        // A bomb: 10 MB of zeros against a 1 MB cap.
        let bomb = gzip(&vec![0u8; 10_000_000], 9);
        let capped = config("format.from_gzip", json!({"max_bytes": 1_000_000}));
        let err = run_bytes(capped.clone(), bomb).unwrap_err();
        assert!(err.contains("max_bytes (1000000 bytes)"), "{err}");
        // Exactly at the cap is fine.
        assert!(run_bytes(capped, gzip(&vec![b'x'; 1_000_000], 1)).is_ok());
        // Fields hold base64.
        let to = config("format.to_gzip", json!({"source": "m", "target": "z"}));
        let out = apply(to, &json!({"m": "héllo"}));
        let z = out[0]["z"].as_str().unwrap().to_string();
        let from = config("format.from_gzip", json!({"source": "z", "target": "m2"}));
        let back = apply(from.clone(), &json!({ "z": z }));
        assert_eq!(back[0]["m2"], "héllo");
        assert!(apply_err(from.clone(), &json!({"z": "%%%"})).contains("should hold base64"));
        // Binary output cannot go in a field.
        let binary = STANDARD.encode(gzip(&[0xff, 0x00], 6));
        assert!(apply_err(from, &json!({ "z": binary })).contains("binary"));
        assert!(
            build_error(config("format.to_gzip", json!({"level": 12})))
                .contains("field `level`: 12 is out of range")
        );
        assert!(
            build_error(config("format.from_gzip", json!({"max_bytes": 0})))
                .contains("field `max_bytes`: must be above 0")
        );
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn zstd_frames_and_caps() {
        let data = b"{\"a\":1}\n".repeat(50);
        let from = config("format.from_zstd", json!({}));
        assert_eq!(
            run_bytes(from.clone(), zstd(&data)).unwrap(),
            vec![data.clone()]
        );
        // Two frames with a skippable frame between them.
        let mut frames = zstd(b"one ");
        frames.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        frames.extend(zstd(b"two"));
        assert_eq!(
            run_bytes(from.clone(), frames).unwrap(),
            vec![b"one two".to_vec()]
        );
        assert!(
            run_bytes(from.clone(), b"nope".to_vec())
                .unwrap_err()
                .contains("not zstd")
        );
        assert!(run_bytes(from, Vec::new()).unwrap_err().contains("empty"));
        let capped = config("format.from_zstd", json!({"max_bytes": 100}));
        let err = run_bytes(capped, zstd(&[7u8; 5000])).unwrap_err();
        assert!(err.contains("max_bytes (100 bytes)"), "{err}");
        let field = config("format.from_zstd", json!({"source": "z", "target": "t"}));
        let out = apply(
            field,
            &json!({"z": STANDARD.encode(zstd("ünï".as_bytes()))}),
        );
        assert_eq!(out[0]["t"], "ünï");
    }

    fn zip_archive(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, data) in files {
            if name.ends_with('/') {
                w.add_directory(*name, options).unwrap();
            } else {
                w.start_file(*name, options).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unzips_each_file() {
        let archive = zip_archive(
            &[
                ("logs/", b""),
                ("logs/a.json", b"{\"a\":1}"),
                ("empty.txt", b""),
                ("logs/b.txt", "ünicode\n".as_bytes()),
            ],
            zip::CompressionMethod::Deflated,
        );
        let mut input = Message::new(archive.clone());
        input.meta_mut().insert("bucket".into(), json!("b1"));
        let p = run(config("format.from_zip", json!({})), vec![input]);
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        assert_eq!(p.output.len(), 2);
        assert_eq!(p.output[0].bytes().as_ref(), b"{\"a\":1}");
        assert_eq!(
            p.output[0].meta(),
            &json!({"bucket": "b1", "zip": {"name": "logs/a.json"}})
        );
        assert_eq!(p.output[1].bytes().as_ref(), "ünicode\n".as_bytes());
        assert_eq!(p.output[1].meta()["zip"]["name"], "logs/b.txt");
        // Stored entries, and an archive in a base64 field.
        let stored = zip_archive(&[("x", b"y")], zip::CompressionMethod::Stored);
        let out = apply_raw(
            config("format.from_zip", json!({"source": "z"})),
            &json!({"z": STANDARD.encode(stored)}).to_string(),
        );
        assert_eq!(out, vec![json!("y")]);
        // An archive with no files gives no messages; a missing field passes.
        let none = zip_archive(&[], zip::CompressionMethod::Stored);
        assert_eq!(
            run_bytes(config("format.from_zip", json!({})), none)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            apply(
                config("format.from_zip", json!({"source": "z"})),
                &json!({"a": 1})
            ),
            vec![json!({"a": 1})]
        );
        // Not a zip, and a bomb.
        let err = run_bytes(config("format.from_zip", json!({})), b"PK nope".to_vec()).unwrap_err();
        assert!(err.contains("not a zip archive"), "{err}");
        let big = zip_archive(
            &[("a", &[0u8; 600]), ("b", &[0u8; 600])],
            zip::CompressionMethod::Deflated,
        );
        let err =
            run_bytes(config("format.from_zip", json!({"max_bytes": 1000})), big).unwrap_err();
        assert!(
            err.contains("the zip archive decompresses to more than max_bytes (1000"),
            "{err}"
        );
    }

    fn pretty(lines: &[&str]) -> sluice_core::Processed {
        run(
            config("format.from_pretty_print", json!({})),
            lines.iter().map(|l| Message::new(*l)).collect(),
        )
    }

    fn values(p: &sluice_core::Processed) -> Vec<Value> {
        p.output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect()
    }

    #[test]
    fn reassembles_pretty_printed_objects() {
        let p = pretty(&[
            "{",
            r#"  "msg": "a } inside { a string \" with an escaped quote","#,
            r#"  "nested": {"#,
            r#"    "list": [1, {"x": "y"}]"#,
            "  }",
            "}",
            r#"{"one": "line"} {"two": 2}"#,
        ]);
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        assert_eq!(
            values(&p),
            vec![
                json!({"msg": "a } inside { a string \" with an escaped quote", "nested": {"list": [1, {"x": "y"}]}}),
                json!({"one": "line"}),
                json!({"two": 2}),
            ]
        );
        // A pretty-printed array of objects: one message per object.
        let p = pretty(&["[", "  {", "    \"a\": 1", "  },", "  {\"a\": 2}", "]", ""]);
        assert_eq!(values(&p), vec![json!({"a": 1}), json!({"a": 2})]);
        assert!(p.errors.is_empty());
    }

    #[test]
    fn pretty_print_bad_input_is_kept() {
        // Stray text between objects is rejected, and the state is untouched.
        let p = pretty(&["{", "\"a\": 1", "}", "hello", "{\"b\":", "2}"]);
        assert_eq!(values(&p), vec![json!({"a": 1}), json!({"b": 2})]);
        assert_eq!(reasons(&p).len(), 1);
        assert!(reasons(&p)[0].contains("text outside a JSON object at byte 0 ('h')"));
        assert_eq!(p.errors[0].bytes().as_ref(), b"hello");
        // Balanced braces that are not JSON go to the error route with their text; the next
        // object on the same line still comes out.
        let p = pretty(&["{", "\"a\" 1", "} {\"ok\": true}"]);
        assert_eq!(values(&p), vec![json!({"ok": true})]);
        assert!(reasons(&p)[0].contains("not valid JSON once its lines are joined"));
        assert_eq!(p.errors[0].bytes().as_ref(), b"{\n\"a\" 1\n}");
        // An object still open at the flush goes to the error route with its lines and the
        // metadata of its first line.
        let mut first = Message::new("{");
        first.meta_mut().insert("file".into(), json!("x.json"));
        let p = run(
            config("format.from_pretty_print", json!({})),
            vec![first, Message::new("  \"a\": [1,")],
        );
        assert!(p.output.is_empty());
        assert!(
            reasons(&p)[0].contains("still open at a flush"),
            "{:?}",
            reasons(&p)
        );
        assert_eq!(p.errors[0].bytes().as_ref(), b"{\n  \"a\": [1,\n");
        assert_eq!(p.errors[0].meta()["file"], "x.json");
        // An object that never closes is given up at max_bytes, keeping its text.
        let p = run(
            config("format.from_pretty_print", json!({"max_bytes": 10})),
            vec![
                Message::new("{"),
                Message::new("\"a\": \"0123456789\","),
                Message::new("}"),
            ],
        );
        // (Rejections from `apply` and from `out.reject` reach the route in that order.)
        let r = reasons(&p);
        assert_eq!(r.len(), 2, "the lone closing brace is stray text: {r:?}");
        let i = r
            .iter()
            .position(|r| r.contains("grew past max_bytes (10 bytes)"))
            .unwrap();
        assert_eq!(p.errors[i].bytes().as_ref(), b"{\n\"a\": \"0123456789\",\n");
    }

    #[test]
    fn example_config() {
        crate::network::run_example("format.jsonnet");
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let encoded = run_bytes(config("format.to_base64", json!({})), data.clone()).unwrap();
            let back = run_bytes(config("format.from_base64", json!({})), encoded[0].clone()).unwrap();
            prop_assert_eq!(&back[0], &data);
        }

        #[test]
        fn base64_round_trips_in_fields(text in "\\PC{0,40}") {
            let c = json!({"transforms": [
                {"type": "format.to_base64", "source": "a", "target": "b"},
                {"type": "format.from_base64", "source": "b", "target": "c"},
            ]});
            let out = apply(c, &json!({ "a": text }));
            prop_assert_eq!(&out[0]["c"], &json!(text));
        }

        #[test]
        fn gzip_round_trips(data in prop::collection::vec(any::<u8>(), 0..2000), level in 0u32..=9) {
            let c = json!({"transforms": [
                {"type": "format.to_gzip", "level": level},
                {"type": "format.from_gzip"},
            ]});
            prop_assert_eq!(run_bytes(c, data.clone()).unwrap(), vec![data]);
        }
    }
}
