//! Distribution link files and `startedat`: any bytes at all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_audit::kinds::distribution::checks as registry;
use oci_audit::model::time;

fuzz_target!(|data: &[u8]| {
    if let Ok(digest) = registry::parse_link(data) {
        // What a link accepts is exactly one digest, with nothing around it.
        assert_eq!(digest.to_string().as_bytes(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(seconds) = time::parse_rfc3339(text) {
            // Four-digit years: within 0000..=9999 (± a day of offset).
            assert!((-62_167_305_600..=253_402_387_200).contains(&seconds));
        }
    }
});
