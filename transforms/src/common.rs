//! Helpers shared by the transform families: reading a field as text, reporting a wrong type,
//! and the `source`/`target` convention (the target defaults to the source).

use serde_json::Value;
use sluice_core::path::type_name;
use sluice_core::{Message, Path, TransformError};
use std::borrow::Cow;

/// The path to write to: `target` when given, else back to `source`.
pub fn target_or<'a>(target: &'a Option<Path>, source: &'a Path) -> &'a Path {
    target.as_ref().unwrap_or(source)
}

/// A "wrong type" error for the value found at a path.
pub fn wrong_type(path: &Path, expected: &'static str, found: &Value) -> TransformError {
    TransformError::WrongType {
        path: path.to_string(),
        expected,
        found: type_name(found),
    }
}

/// The string at a path. The root of non-JSON data is its text. `Ok(None)` when absent;
/// an error when the value is not a string.
pub fn get_str<'m>(
    message: &'m mut Message,
    path: &Path,
) -> Result<Option<Cow<'m, str>>, TransformError> {
    if path.is_root() && path.root == sluice_core::path::Root::Data && !message.is_parsed() {
        return message.get_text(path);
    }
    match message.get(path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s.as_str()))),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

/// Reads the string at `source`, maps it, and writes the result to `target`; absent is a no-op.
pub fn map_str(
    message: &mut Message,
    source: &Path,
    target: &Option<Path>,
    f: impl FnOnce(&str) -> Result<Value, TransformError>,
) -> Result<(), TransformError> {
    let Some(text) = get_str(message, source)? else {
        return Ok(());
    };
    let result = f(&text)?;
    message.set(target_or(target, source), result)
}

/// The bytes a hash or encoding works on: the whole data for the root path, else the field's
/// text (strings as they are, other values as compact JSON). `None` when absent.
pub fn get_bytes(message: &mut Message, path: &Path) -> Result<Option<Vec<u8>>, TransformError> {
    if path.is_root() && path.root == sluice_core::path::Root::Data {
        return Ok(Some(message.bytes().into_owned()));
    }
    Ok(message.get_text(path)?.map(|t| t.into_owned().into_bytes()))
}
