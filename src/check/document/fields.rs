//! Field helpers shared by every kind of document: a required or optional string, an
//! optional array of strings, and an optional media-type-valued field such as
//! `artifactType` (RFC 6838 grammar). Each reports a missing field or a wrong JSON type at
//! the field's own JSON pointer.

use simd_json::borrowed::{Object, Value};

use super::{Context, pointer};
use crate::model::media_type;
use crate::rules::Rule;

pub(super) fn required_string(
    object: &Object,
    at: &str,
    key: &str,
    cx: &mut Context,
) -> Option<String> {
    if object.contains_key(key) {
        optional_string(object, at, key, cx)
    } else {
        cx.missing(&pointer(at, key));
        None
    }
}

pub(super) fn optional_string(
    object: &Object,
    at: &str,
    key: &str,
    cx: &mut Context,
) -> Option<String> {
    match object.get(key)? {
        Value::String(s) => Some(s.to_string()),
        value => {
            cx.wrong_type(&pointer(at, key), "string", value);
            None
        }
    }
}

/// An optional array of strings; returns the strings that are strings.
pub(super) fn string_array<'v>(
    object: &'v Object<'v>,
    at: &str,
    key: &str,
    cx: &mut Context,
) -> Option<Vec<&'v str>> {
    let value = object.get(key)?;
    let Value::Array(items) = value else {
        cx.wrong_type(&pointer(at, key), "array of strings", value);
        return None;
    };
    let at = pointer(at, key);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.as_ref()),
            other => cx.wrong_type(&pointer(&at, i), "string", other),
        }
    }
    Some(out)
}

/// An optional media-type-valued field `key` (such as `artifactType`) of the object at
/// pointer `base`.
pub(super) fn optional_media_type(
    object: &Object,
    base: &str,
    key: &str,
    cx: &mut Context,
) -> Option<String> {
    let at = &pointer(base, key);
    match object.get(key)? {
        Value::String(s) => {
            if media_type::is_valid(s) {
                Some(s.to_string())
            } else {
                cx.report(
                    Rule::DescriptorMediaTypeInvalid,
                    at,
                    format!("{key} {s:?} breaks the RFC 6838 grammar"),
                );
                None
            }
        }
        value => {
            cx.wrong_type(at, "string", value);
            None
        }
    }
}
