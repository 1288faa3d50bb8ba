//! Image archives: any bytes at all, as a file or a pipe would hand them over (plain tar,
//! or gzip or zstd of one). Reading never panics, never allocates by a header's word,
//! and whatever it indexes audits without panicking.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use oci_audit::archive::{self, ReadOptions};
use oci_audit::audit::audit_backend;
use oci_audit::{NoProgress, Options};

fuzz_target!(|data: &[u8]| {
    let read = ReadOptions {
        threads: 2,
        max_document_size: 1 << 20,
        max_members: 4096,
        max_kept: 64 << 20,
    };
    let Ok(backend) = archive::read_from("fuzz.tar", Cursor::new(data), read, &|_| {}) else {
        return;
    };
    let mut options = Options::default();
    options.run.settle = std::time::Duration::ZERO;
    options.run.threads = 1;
    let _ = audit_backend(&backend, "fuzz.tar", &options, &NoProgress);
});
