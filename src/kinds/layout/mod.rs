//! One OCI image layout: its `oci-layout` and `index.json`, inventory, documents and
//! graph, and the blobs nothing reaches.

pub mod listing;

use std::collections::HashSet;

use crate::audit::{Checked, Options, read_error};
use crate::backend::{Backend, ReadError};
use crate::check::document::{self, Context, Expect};
use crate::check::documents::{hashed_flags, load_documents};
use crate::check::graph::{self, Graph};
use crate::finding::{Finding, Location};
use crate::kinds::layout::listing as layout;
use crate::model::digest::Digest;
use crate::model::document::{Document, Index};
use crate::report::Coverage;
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory, LayoutRoot, Lookup, Own};

/// Largest `oci-layout` file read; it is a one-line JSON object.
const MAX_LAYOUT_HEADER: u64 = 64 * 1024;

/// What one layout's first phases leave for the rest.
pub(crate) struct LayoutAudit {
    pub(crate) layout: LayoutRoot,
    pub(crate) inventory: Inventory,
    /// Per blob of the inventory: what is known of its content before the verify phase.
    pub(crate) hashed: Vec<Checked>,
    pub(crate) coverage: Vec<Coverage>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) documents: u64,
    pub(crate) bytes_hashed: u64,
}

/// Structure, inventory, documents and graph of one layout.
pub(crate) fn audit_layout(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    options: &Options,
) -> LayoutAudit {
    let mut findings = Vec::new();
    let inventory = layout::inventory(backend, layout, &mut findings).unwrap_or_default();
    let blobs = Own {
        inventory: &inventory,
        paths: layout,
    };
    let checked = check_layout(
        backend,
        layout,
        &blobs,
        Expect::LayoutIndex,
        options,
        &mut findings,
    );
    if let Some(reachable) = &checked.reachable {
        report_unreferenced(layout, &inventory, reachable, "", &mut findings);
    }
    LayoutAudit {
        layout: layout.clone(),
        hashed: checked.hashed,
        documents: checked.documents,
        inventory,
        coverage: checked.coverage,
        findings,
        bytes_hashed: checked.bytes_hashed,
    }
}

/// What checking a layout's documents leaves (the documents themselves are dropped).
pub(crate) struct LayoutCheck {
    /// What is known of each blob of the lookup's inventory: documents were hashed as
    /// they were read.
    pub(crate) hashed: Vec<Checked>,
    /// Documents parsed.
    pub(crate) documents: u64,
    /// Bytes hashed while reading them.
    pub(crate) bytes_hashed: u64,
    /// Platform coverage of each `index.json` entry.
    pub(crate) coverage: Vec<Coverage>,
    /// Every digest a descriptor names, when that is known for sure: `None` when a
    /// document that could name blobs was not read (an unreadable `index.json`, a manifest
    /// that does not parse, a descriptor whose type is unreadable), since then no blob can
    /// honestly be called unreferenced.
    pub(crate) reachable: Option<HashSet<Digest>>,
}

/// `oci-layout`, `index.json` (read as `index`), every document it reaches through
/// `blobs`, and the graph: edges, cycles, cross-checks, coverage.
pub(crate) fn check_layout(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    blobs: &dyn Lookup,
    index: Expect,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> LayoutCheck {
    check_header(backend, layout, findings);
    let (index_json, index_json_read) = read_index_json(backend, layout, index, options, findings);
    let frontier = index_json
        .iter()
        .flat_map(|index| index.manifests.iter().chain(index.subject.as_deref()))
        .filter_map(|d| Some((d.digest.clone()?, graph::expect_for(d, false)?)))
        .collect();
    let (docs, bytes_hashed) = load_documents(backend, frontier, blobs, options, findings);
    let index_path = layout.key("index.json");
    let graph = Graph {
        blobs,
        index_json: index_json.as_ref(),
        index_path: &index_path,
        docs: &docs,
    };
    let reachability = graph.check_edges(findings);
    graph.check_cycles(findings);
    graph.check_consistency(findings);
    let coverage = graph.coverage();
    let complete =
        index_json_read && docs.values().all(|l| l.document.is_some()) && !reachability.opaque;
    LayoutCheck {
        hashed: hashed_flags(blobs.inventory(), &docs),
        documents: docs.values().filter(|l| l.document.is_some()).count() as u64,
        bytes_hashed,
        coverage,
        reachable: complete.then_some(reachability.reachable),
    }
}

/// `oci-layout`: present, a JSON object, `imageLayoutVersion` 1.0.0.
fn check_header(backend: &dyn Backend, layout: &LayoutRoot, findings: &mut Vec<Finding>) {
    let display = layout.key("oci-layout");
    let mut bytes = match backend.read_small(&display, MAX_LAYOUT_HEADER) {
        Ok(bytes) => bytes,
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::LayoutMarkerMissing,
                Location::path(display),
                "oci-layout does not exist",
            ));
            return;
        }
        Err(error) => return findings.push(read_error(&display, &error)),
    };
    let mut cx = Context {
        path: &display,
        digest: None,
        findings,
    };
    if let Some(version) = document::layout_header(&mut bytes, &mut cx) {
        if version != "1.0.0" {
            findings.push(
                Finding::new(
                    Rule::LayoutVersionUnsupported,
                    Location::path(&display).via(&display, "/imageLayoutVersion"),
                    format!("imageLayoutVersion {version:?} is not 1.0.0"),
                )
                .expected_found("1.0.0", version),
            );
        }
    }
}

/// Reads and parses `index.json`. The flag is false when it exists but could not be used,
/// which leaves the layout's reachability unknown.
fn read_index_json(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    expect: Expect,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> (Option<Index>, bool) {
    let display = layout.key("index.json");
    let mut bytes = match backend.read_small(&display, options.max_document_size) {
        Ok(bytes) => bytes,
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::IndexJsonMissing,
                Location::path(display),
                "index.json does not exist",
            ));
            return (None, true);
        }
        Err(error @ (ReadError::TooLarge { .. } | ReadError::Grew(_))) => {
            findings.push(Finding::new(
                Rule::DocumentTooLarge,
                Location::path(display),
                format!("index.json not parsed: {error}"),
            ));
            return (None, false);
        }
        Err(error) => {
            findings.push(read_error(&display, &error));
            return (None, false);
        }
    };
    let mut cx = Context {
        path: &display,
        digest: None,
        findings,
    };
    match document::parse(&mut bytes, expect, &mut cx) {
        Some(Document::Index(index)) => (Some(*index), true),
        _ => (None, false),
    }
}

/// `blob-unreferenced` for every blob of a layout that `index.json` does not reach.
/// `what_then` says what becomes of such a blob (for a zot repository: its garbage
/// collection), starting with "; ", or is empty.
pub(crate) fn report_unreferenced(
    layout: &LayoutRoot,
    inventory: &Inventory,
    reachable: &HashSet<Digest>,
    what_then: &str,
    findings: &mut Vec<Finding>,
) {
    for (digest, len) in inventory.iter() {
        if !reachable.contains(digest) {
            findings.push(
                Finding::new(
                    Rule::BlobUnreferenced,
                    Location::path(layout.blob_key(digest)).with_digest(Some(digest.clone())),
                    format!(
                        "not reachable from {}index.json ({len} bytes){what_then}",
                        layout.prefix.prefix()
                    ),
                )
                .with_bytes(len),
            );
        }
    }
}
