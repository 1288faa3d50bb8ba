//! The JSON layer under every document: parses with simd-json into a borrowed DOM, describes
//! a document that does not parse (RFC 8259), and reports duplicate member names, which
//! I-JSON (RFC 7493) forbids and simd-json keeps.

use std::borrow::Cow;

use simd_json::borrowed::Value;

use super::{Context, pointer};
use crate::rules::Rule;

/// Parses `bytes` with simd-json and hands the DOM to `check`; a document that does not
/// parse is reported instead. Describing the error needs `bytes` again, so the DOM (which
/// borrows them) must be gone first: hence a callback rather than a returned DOM.
pub(super) fn with_json<T>(
    bytes: &mut [u8],
    cx: &mut Context,
    check: impl FnOnce(&Value, &mut Context) -> Option<T>,
) -> Option<T> {
    let error = match simd_json::to_borrowed_value(bytes) {
        Ok(value) => return check(&value, cx),
        Err(error) => error,
    };
    cx.report(Rule::DocumentJsonInvalid, "", json_error(&error, bytes));
    None
}

/// A message for a document that does not parse. simd-json locates structural errors at
/// character 0, so the error is described (not located) by a second, slow parse with
/// serde_json; this runs only for broken documents.
fn json_error(error: &simd_json::Error, bytes: &[u8]) -> String {
    use simd_json::ErrorType;
    match error.error() {
        ErrorType::DepthLimitExceeded => {
            return format!("nested deeper than {} levels", simd_json::DEFAULT_MAX_DEPTH);
        }
        ErrorType::InvalidUtf8 => return "not valid UTF-8".to_owned(),
        _ if std::str::from_utf8(bytes).is_err() => return "not valid UTF-8".to_owned(),
        _ => {}
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(serde_error) => {
            let text = serde_error.to_string();
            let what = text.split(" at line ").next().unwrap_or(&text);
            format!("not valid JSON: {what}")
        }
        // serde_json accepts what simd-json refused: in practice a number that does not
        // fit 64 bits, which I-JSON (RFC 7493) also rules out.
        Ok(_) if *error.error() == ErrorType::InvalidNumber => {
            "a number does not fit 64 bits (I-JSON)".to_owned()
        }
        Ok(_) => format!("not valid JSON: {:?}", error.error()),
    }
}

/// I-JSON (RFC 7493) forbids duplicate member names; simd-json keeps both, so a reader's
/// choice between them is arbitrary (most parsers let the last win). Walks every object
/// and array; the JSON pointer of a level is only built when a duplicate is found, since
/// nearly every document has none.
pub(super) fn check_duplicate_keys(value: &Value, cx: &mut Context) {
    let mut path = Vec::new();
    walk_duplicate_keys(value, &mut path, cx);
}

/// One step of a JSON pointer, kept unformatted until needed.
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

fn pointer_of(path: &[Step]) -> String {
    path.iter().fold(String::new(), |at, step| match step {
        Step::Key(key) => pointer(&at, key),
        Step::Index(i) => pointer(&at, i),
    })
}

fn walk_duplicate_keys<'v>(value: &'v Value<'v>, path: &mut Vec<Step<'v>>, cx: &mut Context) {
    match value {
        Value::Object(object) => {
            // Few keys (the common case): compare pairs, no allocation. Many: sort.
            let mut few = [""; 16];
            let keys: std::borrow::Cow<'_, [&str]> = if object.len() <= few.len() {
                for (slot, key) in few.iter_mut().zip(object.keys()) {
                    *slot = key;
                }
                std::borrow::Cow::Borrowed(&few[..object.len()])
            } else {
                let mut all: Vec<&str> = object.keys().map(Cow::as_ref).collect();
                all.sort_unstable();
                std::borrow::Cow::Owned(all)
            };
            let sorted = object.len() > few.len();
            for (i, key) in keys.iter().enumerate() {
                let duplicate = if sorted {
                    keys.get(i + 1) == Some(key)
                } else {
                    keys[i + 1..].contains(key)
                };
                if duplicate {
                    path.push(Step::Key(key));
                    let at = pointer_of(path);
                    path.pop();
                    cx.report(
                        Rule::DocumentJsonInvalid,
                        &at,
                        format!("duplicate member name {key:?} (I-JSON forbids it)"),
                    );
                }
            }
            for (key, child) in object.iter() {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    path.push(Step::Key(key));
                    walk_duplicate_keys(child, path, cx);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    path.push(Step::Index(i));
                    walk_duplicate_keys(child, path, cx);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}
