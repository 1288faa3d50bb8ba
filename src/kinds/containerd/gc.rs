//! containerd's garbage collector, simulated over `meta.db` (containerd's
//! `metadata/gc.go`): per namespace, the roots are its images' targets, the content its
//! leases keep (until they expire) and content labelled `containerd.io/gc.root`; from a
//! content record the collector follows its `containerd.io/gc.ref.content*` labels, and
//! nothing else: it never reads a manifest. A record nothing marks is deleted, and a blob
//! whose every record is gone (or that none ever named) is then deleted from the content
//! store.

use std::collections::HashSet;

use crate::kinds::containerd::metadata::{Namespace, Record};
use crate::model::digest::Digest;

/// The label prefix of a reference from a content record to content.
const CONTENT_REF: &str = "containerd.io/gc.ref.content";
/// The label that makes content a root.
const ROOT: &str = "containerd.io/gc.root";

/// What the collector keeps in `namespace`: every digest it marks.
pub fn kept(namespace: &Namespace) -> HashSet<&Digest> {
    let record = |digest: &Digest| -> Option<&Record> {
        let at = namespace
            .content
            .binary_search_by(|r| r.digest.cmp(digest))
            .ok()?;
        Some(&namespace.content[at])
    };
    let mut stack: Vec<&Digest> = namespace
        .images
        .iter()
        .map(|image| &image.digest)
        .chain(&namespace.leased)
        .chain(
            namespace
                .content
                .iter()
                .filter(|r| r.labels.iter().any(|(key, _)| key == ROOT))
                .map(|r| &r.digest),
        )
        .collect();
    let mut kept = HashSet::new();
    while let Some(digest) = stack.pop() {
        if !kept.insert(digest) {
            continue;
        }
        let Some(own) = record(digest) else {
            continue;
        };
        for (key, value) in &own.labels {
            if !key.starts_with(CONTENT_REF) {
                continue;
            }
            // The record's own copy of the digest is kept: one this namespace does not
            // record has no labels to follow and no record to delete.
            if let Some(child) = Digest::parse(value).ok().and_then(|d| record(&d)) {
                stack.push(&child.digest);
            }
        }
    }
    kept
}
