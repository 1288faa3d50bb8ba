//! The grammars: digests (and their round trip through Display), media types, repository
//! names, tags, RFC 3339 times.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_audit::kinds::distribution::checks as registry;
use oci_audit::model::digest::Digest;
use oci_audit::model::{media_type, time};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(digest) = Digest::parse(text) {
        // A parsed digest prints as what was parsed, and parses again to itself.
        assert_eq!(digest.to_string(), text);
        assert_eq!(Digest::parse(&digest.to_string()).ok(), Some(digest));
    }
    let _ = media_type::is_valid(text);
    let _ = media_type::kind(text);
    let _ = media_type::is_filesystem_layer(text);
    let _ = registry::is_repository_name(text);
    let _ = registry::is_tag(text);
    assert_eq!(time::is_rfc3339(text), time::parse_rfc3339(text).is_some());
});
