//! Annotation checks (annotations.md): `annotations` "MUST be a key-value map where both the
//! key and value MUST be strings"; `org.opencontainers.image.created` is an RFC 3339
//! date-time; `org.opencontainers.image.ref.name` follows the ref grammar
//! (`ref ::= component ("/" component)*`).

use simd_json::borrowed::{Object, Value};

use simd_json::prelude::ValueAsScalar as _;

use super::{Context, pointer};
use crate::model::document::Annotations;
use crate::model::time::is_rfc3339;
use crate::rules::Rule;

pub(super) const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub(super) const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub(super) const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The in-toto predicate type of an attestation layer: cosign's, then BuildKit's.
const ANNOTATION_PREDICATE_TYPES: [&str; 2] = ["predicateType", "in-toto.io/predicate-type"];
/// The predicate type of a Sigstore bundle, on the manifest that carries it.
const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// The map's string values, sorted by key, to keep (non-strings were reported).
pub(super) fn kept(map: &Object) -> Annotations {
    let mut pairs: Vec<(String, String)> = map
        .iter()
        .filter_map(|(key, value)| Some((key.to_string(), value.as_str()?.to_owned())))
        .collect();
    pairs.sort_unstable();
    pairs.into_boxed_slice()
}

/// The in-toto predicate type a layer's annotations name.
pub(super) fn predicate_type(map: &Object) -> Option<String> {
    ANNOTATION_PREDICATE_TYPES
        .iter()
        .find_map(|key| map.get(*key).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The predicate type a manifest carrying a Sigstore bundle names.
pub(super) fn bundle_predicate_type(map: &Object) -> Option<String> {
    map.get(ANNOTATION_BUNDLE_PREDICATE_TYPE)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `annotations`: "MUST be a key-value map where both the key and value MUST be strings".
/// Checks `created`'s format here; `ref.name` is checked on `index.json` entries only,
/// where it "SHOULD only be considered" (annotations.md). Returns the map when it is one.
pub(super) fn annotations<'v>(
    value: Option<&'v Value<'v>>,
    at: &str,
    cx: &mut Context,
) -> Option<&'v Object<'v>> {
    let value = value?;
    let Value::Object(map) = value else {
        cx.wrong_type(at, "object of strings", value);
        return None;
    };
    for (key, item) in map.iter() {
        let Value::String(text) = item else {
            cx.wrong_type(&pointer(at, key), "string", item);
            continue;
        };
        if key == ANNOTATION_CREATED && !is_rfc3339(text) {
            cx.report(
                Rule::AnnotationValueInvalid,
                &pointer(at, key),
                format!("{key} {text:?} is not an RFC 3339 date-time"),
            );
        }
    }
    Some(map)
}

/// annotations.md: `ref ::= component ("/" component)*`,
/// `component ::= alphanum (separator alphanum)*`, `alphanum ::= [A-Za-z0-9]+`,
/// `separator ::= [-._:@+] | "--"`.
pub(super) fn is_ref_name(s: &str) -> bool {
    s.split('/').all(|component| {
        let bytes = component.as_bytes();
        if bytes.is_empty()
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphanumeric() {
                i += 1;
            } else if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            } else if b"-._:@+".contains(&bytes[i]) {
                i += 1;
                if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            } else {
                return false;
            }
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        for ok in [
            "2023-01-02T03:04:05Z",
            "2015-10-31T22:22:56.015925234Z",
            "2019-07-23T08:21:48+02:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2023-01-02",
            "2023-13-02T03:04:05Z",
            "2023-01-02T03:04:05",
            "yesterday",
            "2023-01-02T03:04:05.Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn ref_names() {
        for ok in [
            "v1.0",
            "stable-release",
            "latest",
            "a/b:c",
            "1.0--rc1",
            "sha256-abc",
        ] {
            assert!(is_ref_name(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "a//b", "a b", "a..b", "tag!"] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }
}
