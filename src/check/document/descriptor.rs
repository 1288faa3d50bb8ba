//! Descriptor checks (descriptor.md; schema/content-descriptor.json): `mediaType`, `digest`,
//! `size`, `urls`, `annotations`, `artifactType`, `platform` and `data`, each reported at its
//! own JSON pointer. `size`: "REQUIRED … int64 … MUST NOT be negative"; `urls`: each "MUST
//! conform to RFC 3986"; `data`: "MUST be base64 (RFC 4648 §4)".

use base64::Engine as _;
use simd_json::StaticNode;
use simd_json::borrowed::{Object, Value};
use simd_json::prelude::ValueAsScalar as _;

use super::annotations::{
    ANNOTATION_REF_NAME, ANNOTATION_REFERENCE_DIGEST, ANNOTATION_REFERENCE_TYPE, annotations, kept,
    predicate_type,
};
use super::fields::{optional_media_type, optional_string, required_string, string_array};
use super::{Context, pointer};
use crate::hash;
use crate::model::digest::Digest;
use crate::model::document::{ATTESTATION_MANIFEST, Descriptor, DescriptorExtras, ReferrerExtras};
use crate::model::media_type;
use crate::model::platform::Platform;
use crate::model::text::Text;
use crate::rules::Rule;

/// A descriptor (descriptor.md). Returns what was valid of it; `None` if it is not an object.
pub fn descriptor(value: &Value, at: &str, cx: &mut Context) -> Option<Descriptor> {
    let Value::Object(object) = value else {
        cx.wrong_type(at, "object (a descriptor)", value);
        return None;
    };
    let mut out = Descriptor {
        pointer: Text::new(at),
        ..Descriptor::default()
    };
    match object.get("mediaType") {
        None => cx.missing(&pointer(at, "mediaType")),
        Some(Value::String(s)) => {
            if !media_type::is_valid(s) {
                cx.report(
                    Rule::DescriptorMediaTypeInvalid,
                    &pointer(at, "mediaType"),
                    format!("mediaType {s:?} breaks the RFC 6838 grammar"),
                );
            }
            out.media_type = Some(Text::new(s));
        }
        Some(value) => cx.wrong_type(&pointer(at, "mediaType"), "string", value),
    }
    match object.get("digest") {
        None => cx.missing(&pointer(at, "digest")),
        Some(Value::String(s)) => match Digest::parse(s) {
            Ok(digest) => out.digest = Some(digest),
            Err(error) => {
                cx.report(
                    Rule::DescriptorDigestInvalid,
                    &pointer(at, "digest"),
                    format!("invalid digest: {error}"),
                );
            }
        },
        Some(value) => cx.wrong_type(&pointer(at, "digest"), "string", value),
    }
    match object.get("size") {
        None => cx.missing(&pointer(at, "size")),
        Some(value) => out.size = size(value, &pointer(at, "size"), cx).into(),
    }
    out.extras = extras(object, at, cx);
    if let Some(value) = object.get("platform") {
        out.platform = platform(value, &pointer(at, "platform"), cx).map(Platform::shared);
    }
    if let Some(value) = object.get("data") {
        data(value, &out, &pointer(at, "data"), cx);
    }
    Some(out)
}

/// The fields few descriptors have, kept boxed apart (`None` when there are none): whether
/// `urls` lists any, the `ref.name`, attestation and predicate-type annotations, and
/// `artifactType` (with the annotations, for an entry of a referrers list). Checks
/// `urls`, `annotations` and `artifactType`, in that order.
fn extras(object: &Object, at: &str, cx: &mut Context) -> Option<Box<DescriptorExtras>> {
    let mut extras = DescriptorExtras::default();
    if let Some(value) = object.get("urls") {
        extras.has_urls = urls(value, &pointer(at, "urls"), cx);
    }
    let annotation_map = annotations(object.get("annotations"), &pointer(at, "annotations"), cx);
    if let Some(map) = annotation_map {
        extras.ref_name = map
            .get(ANNOTATION_REF_NAME)
            .and_then(Value::as_str)
            .map(str::to_owned);
        extras.attestation_annotated = map.get(ANNOTATION_REFERENCE_TYPE).and_then(Value::as_str)
            == Some(ATTESTATION_MANIFEST);
    }
    extras.artifact_type = optional_media_type(object, at, "artifactType", cx);
    let referrer = ReferrerExtras {
        reference_digest: annotation_map
            .filter(|_| extras.attestation_annotated)
            .and_then(|map| map.get(ANNOTATION_REFERENCE_DIGEST)?.as_str())
            .and_then(|d| Digest::parse(d).ok()),
        predicate_type: annotation_map.and_then(predicate_type),
        annotations: annotation_map
            .filter(|_| extras.artifact_type.is_some())
            .map(kept),
    };
    if referrer != ReferrerExtras::default() {
        extras.referrer = Some(Box::new(referrer));
    }
    (extras != DescriptorExtras::default()).then(|| Box::new(extras))
}

/// `size`: "REQUIRED … int64 … MUST NOT be negative" (JSON schema: integer, minimum 0).
fn size(value: &Value, at: &str, cx: &mut Context) -> Option<u64> {
    match value {
        Value::Static(StaticNode::I64(n)) if *n >= 0 => Some(n.unsigned_abs()),
        Value::Static(StaticNode::U64(n)) if i64::try_from(*n).is_ok() => Some(*n),
        Value::Static(StaticNode::I64(n)) => {
            cx.schema(at, "size must not be negative")
                .set_expected_found(">= 0", n);
            None
        }
        Value::Static(StaticNode::U64(n)) => {
            cx.schema(at, "size does not fit int64")
                .set_expected_found("<= 9223372036854775807", n);
            None
        }
        value => {
            cx.wrong_type(at, "integer", value);
            None
        }
    }
}

/// `urls`: each "MUST conform to RFC 3986". Returns whether any URL is listed.
fn urls(value: &Value, at: &str, cx: &mut Context) -> bool {
    let Value::Array(items) = value else {
        cx.wrong_type(at, "array of strings", value);
        return false;
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if is_uri(s) => {}
            Value::String(s) => {
                cx.schema(&pointer(at, i), format!("url {s:?} is not an RFC 3986 URI"));
            }
            other => cx.wrong_type(&pointer(at, i), "string", other),
        }
    }
    !items.is_empty()
}

/// RFC 3986 `URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, checked for its
/// scheme and character repertoire (percent-escapes well formed, at most one `#`).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || rest.matches('#').count() > 1 {
        return false;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#[]".contains(&b);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

/// `platform`: `architecture` and `os` REQUIRED strings; `os.version`, `variant` strings;
/// `os.features`, `features` arrays of strings.
fn platform(value: &Value, at: &str, cx: &mut Context) -> Option<Platform> {
    let Value::Object(object) = value else {
        cx.wrong_type(at, "object", value);
        return None;
    };
    let os = required_string(object, at, "os", cx);
    let architecture = required_string(object, at, "architecture", cx);
    let variant = optional_string(object, at, "variant", cx);
    let os_version = optional_string(object, at, "os.version", cx);
    for key in ["os.features", "features"] {
        string_array(object, at, key, cx);
    }
    Some(Platform::new(os?, architecture?, variant, os_version))
}

/// `data`: "MUST be base64 (RFC 4648 §4)"; decoded, "MUST be identical to the referenced
/// content and SHOULD be verified against the digest and size fields".
fn data(value: &Value, descriptor: &Descriptor, at: &str, cx: &mut Context) {
    let Value::String(text) = value else {
        cx.wrong_type(at, "string (base64)", value);
        return;
    };
    let decoded = match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
        Ok(decoded) => decoded,
        Err(error) => {
            cx.schema(at, format!("data is not canonical base64: {error}"));
            return;
        }
    };
    if let Some(size) = descriptor.size() {
        if decoded.len() as u64 != size {
            cx.report(
                Rule::DescriptorDataMismatch,
                at,
                "embedded data length differs from size",
            )
            .set_expected_found(size, decoded.len());
            return;
        }
    }
    if let Some(digest) = &descriptor.digest {
        if let Some(actual) = hash::digest_bytes(digest.algorithm(), &decoded) {
            if &actual != digest {
                cx.report(
                    Rule::DescriptorDataMismatch,
                    at,
                    "embedded data does not hash to digest",
                )
                .set_expected_found(digest, actual);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        for ok in [
            "https://example.com/x",
            "http://a/b?c=d#e",
            "urn:isbn:0451450523",
            "https://[::1]:80/%20",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "value",
            "://x",
            "http://a b",
            "http://a/%zz",
            "1http://x",
            "http://a#b#c",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}
