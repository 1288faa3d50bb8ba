//! Every document path through simd-json and the validators: the same bytes as a layout's
//! index.json, an index, a manifest, a config, a registry revision (sniffed, including
//! Docker schema 1), an `oci-layout` file and a lone descriptor. Findings are data; the
//! only failure is a panic, an overflow or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_audit::check::document::{self, Context, Expect};
use oci_audit::model::digest::Digest;

fuzz_target!(|data: &[u8]| {
    let digest =
        Digest::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .ok();
    for expect in [
        Expect::LayoutIndex,
        Expect::ZotIndex,
        Expect::Index,
        Expect::Manifest,
        Expect::ArtifactManifest,
        Expect::Config,
        Expect::Revision,
    ] {
        let mut bytes = data.to_vec();
        let mut findings = Vec::new();
        let mut cx = Context {
            path: &"blobs/sha256/fuzz".into(),
            digest: digest.as_ref(),
            findings: &mut findings,
        };
        let _ = document::parse(&mut bytes, expect, &mut cx);
    }
    let mut findings = Vec::new();
    let mut cx = Context {
        path: &"oci-layout".into(),
        digest: None,
        findings: &mut findings,
    };
    let _ = document::layout_header(&mut data.to_vec(), &mut cx);
    let _ = document::standalone_descriptor(&mut data.to_vec(), &mut cx);
});
