//! The OCI image layout kind (image-layout.md): recognised by its `oci-layout` file, or an
//! `index.json` image index beside `blobs/`; its `oci-layout` and `index.json`, inventory,
//! documents and graph, and the blobs nothing reaches. A tree of layouts (zot's
//! repositories, nested names) is many stores of this kind.

pub(crate) mod gc;
pub mod listing;

use std::collections::HashSet;

use crate::assemble::{BeforeVerify, BlobSet, StorePart};
use crate::backend::{Backend, Entry, ReadError};
use crate::check::document::{self, Context, Expect};
use crate::check::documents::{hashed_flags, load_documents};
use crate::check::graph::referrers::{Members, Referrers, Require, Scope, TagRef};
use crate::check::graph::{self, Graph};
use crate::finding::{Finding, Location};
use crate::hash::HashResult;
use crate::kinds::detect::{any_kind, has, is_dir, is_image_index};
use crate::kinds::layout::gc::Collection;
use crate::kinds::{self, CheckOptions, Kind, Look, Recognised, Store, Then};
use crate::model::coverage::Coverage;
use crate::model::digest::Digest;
use crate::model::document::{Document, Index};
use crate::model::key::Key;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::model::supply_chain::SupplyChain;
use crate::rules::Rule;
use crate::store::{Inventory, LayoutRoot, Lookup, OwnBlobs, StoreKind, read_error};

/// Largest `oci-layout` file read; it is a one-line JSON object.
const MAX_LAYOUT_HEADER: u64 = 64 * 1024;

/// The OCI image layout kind.
pub struct Layout;

impl Kind for Layout {
    fn name(&self) -> StoreKind {
        StoreKind::OciLayout
    }

    fn recognise(
        &self,
        look: &Look,
        dir: &Key,
        entries: &[Entry],
        _findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        is_layout(look.backend, dir, entries).then(|| Recognised {
            store: Box::new(LayoutRoot {
                prefix: dir.clone(),
            }),
            // A layout's own blobs are not searched; its other subdirectories are (zot
            // keeps repository a/b inside repository a).
            then: Then::SkipChild(b"blobs"),
        })
    }

    fn is_confirmable(&self, finding: &Finding) -> bool {
        // The tools that write layouts write index.json last.
        finding.rule == Rule::IndexJsonMissing
    }

    fn recheck(&self, backend: &dyn Backend, finding: &Finding) -> Option<String> {
        backend
            .stat(&finding.location.path)
            .is_ok()
            .then(|| "index.json is there now (written during the audit)".into())
    }
}

/// Whether `dir` (listed as `entries`) holds an OCI image layout: an `oci-layout` file,
/// or an `index.json` that is an image index beside a `blobs/` directory.
pub fn is_layout(backend: &dyn Backend, dir: &Key, entries: &[Entry]) -> bool {
    has(entries, "oci-layout", |k| !is_dir(k))
        || (has(entries, "blobs", is_dir)
            && has(entries, "index.json", any_kind)
            && is_image_index(backend, &dir.join("index.json")))
}

impl Store for LayoutRoot {
    fn kind(&self) -> StoreKind {
        StoreKind::OciLayout
    }

    fn path(&self) -> &Key {
        &self.prefix
    }

    fn audit(&self, cx: &kinds::Context) -> StorePart {
        let mut part = StorePart::new(StoreKind::OciLayout, self.prefix.clone());
        audit_layout(cx.backend, self, &cx.options).add_to(&mut part);
        part
    }
}

/// What one layout's first phases leave for the rest.
pub(crate) struct LayoutAudit {
    pub(crate) layout: LayoutRoot,
    pub(crate) inventory: Inventory,
    /// Per blob of the inventory: what is known of its content before the verify phase.
    pub(crate) hashed: Vec<BeforeVerify>,
    pub(crate) coverage: Vec<Coverage>,
    pub(crate) supply_chain: SupplyChain,
    pub(crate) findings: Vec<Finding>,
    pub(crate) documents: u64,
    pub(crate) bytes_hashed: u64,
    /// Its row of its store's reclaimable table, and the row's total.
    pub(crate) reclaimable: (Reclaimable, ReclaimableTotal),
}

impl LayoutAudit {
    /// Adds this layout to `part`: its counters, findings, coverage, reclaimable row and
    /// supply-chain rows, and its blobs for the verify phase.
    pub(crate) fn add_to(self, part: &mut StorePart) {
        let LayoutAudit {
            layout,
            inventory,
            hashed,
            mut coverage,
            supply_chain,
            mut findings,
            documents,
            bytes_hashed,
            reclaimable: (row, total),
        } = self;
        let counters = &mut part.counters;
        counters.layouts += 1;
        counters.blobs += inventory.len() as u64;
        counters.bytes += inventory.bytes();
        counters.documents += documents;
        counters.bytes_hashed += bytes_hashed;
        counters.blobs_hashed += hashed
            .iter()
            .filter(|c| matches!(c, BeforeVerify::HashedAsDocument(_)))
            .count() as u64;
        part.findings.append(&mut findings);
        part.coverage.append(&mut coverage);
        part.supply_chain.append(supply_chain);
        let (rows, sum) = part
            .reclaimable
            .get_or_insert_with(|| (Vec::new(), ReclaimableTotal::empty(total.untagged)));
        rows.push(row);
        sum.add(&total);
        part.blobs.push(BlobSet {
            inventory,
            before: hashed,
            paths: Box::new(layout),
        });
    }
}

/// Structure, inventory, documents and graph of one layout.
pub(crate) fn audit_layout(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    options: &CheckOptions,
) -> LayoutAudit {
    let mut findings = Vec::new();
    let inventory = listing::inventory(backend, layout, &mut findings).unwrap_or_default();
    let blobs = OwnBlobs {
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
    let reclaimable = gc::sweep(
        &layout.prefix,
        layout,
        &inventory,
        checked.kept(),
        checked.complete,
        &checked.collection,
        options.untagged,
        "",
        &mut findings,
    );
    LayoutAudit {
        layout: layout.clone(),
        hashed: checked.hashed,
        documents: checked.documents,
        inventory,
        coverage: checked.coverage,
        supply_chain: checked.supply_chain,
        findings,
        bytes_hashed: checked.bytes_hashed,
        reclaimable,
    }
}

/// A document a layout read from another layout's blob (a zot marker's full copy,
/// `_blobstore`'s copy of what a repository lacks), and what hashing it gave.
pub(crate) struct ReadElsewhere {
    /// The blob's key, in the layout that holds it.
    pub(crate) key: Key,
    /// Its digest.
    pub(crate) digest: Digest,
    /// What hashing it found.
    pub(crate) result: HashResult,
    /// Its length: the bytes hashed.
    pub(crate) len: u64,
}

/// What checking a layout's documents leaves (the documents themselves are dropped).
pub(crate) struct LayoutCheck {
    /// What is known of each blob of the lookup's inventory: documents were hashed as
    /// they were read.
    pub(crate) hashed: Vec<BeforeVerify>,
    /// Documents parsed.
    pub(crate) documents: u64,
    /// Bytes hashed while reading them.
    pub(crate) bytes_hashed: u64,
    /// Platform coverage of each `index.json` entry.
    pub(crate) coverage: Vec<Coverage>,
    /// What refers to each tag (`ref.name`), and the orphaned referrers.
    pub(crate) supply_chain: SupplyChain,
    /// Every digest a descriptor names.
    pub(crate) reachable: HashSet<Digest>,
    /// Whether `reachable` is known for sure: false when a document that could name
    /// blobs was not read (an unreadable `index.json`, a manifest that does not parse, a
    /// descriptor whose type is unreadable), since then no blob can honestly be called
    /// unreferenced.
    pub(crate) complete: bool,
    /// What the tags keep.
    pub(crate) collection: Collection,
    /// Documents read from another store's blob (see [`Lookup::elsewhere`]).
    pub(crate) read_elsewhere: Vec<ReadElsewhere>,
}

/// `oci-layout`, `index.json` (read as `index`), every document it reaches through
/// `blobs`, and the graph: edges, cycles, cross-checks, coverage.
pub(crate) fn check_layout(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    blobs: &dyn Lookup,
    index: Expect,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
) -> LayoutCheck {
    check_header(backend, layout, findings);
    let (index_json, index_json_read) =
        read_index_json(backend, layout, index, options.max_document_size, findings);
    let scope = Named {
        repository: &repository_name(&layout.prefix),
        index_path: layout.key("index.json"),
        inspect: None,
    };
    check_graph(
        backend,
        &scope,
        blobs,
        index_json,
        index_json_read,
        options,
        findings,
    )
}

/// What the graph checks call a store's roots: its repository name (for the supply-chain
/// rows) and the document that lists the roots (`index.json`, or containerd's `meta.db`),
/// which findings about an entry name with the entry's pointer.
pub(crate) struct Named<'a> {
    pub(crate) repository: &'a str,
    pub(crate) index_path: Key,
    /// What the kind itself reads from the graph while its documents are loaded (for
    /// containerd, which config each recorded layer's `diff_id` is in).
    pub(crate) inspect: Option<&'a dyn Fn(&Graph)>,
}

/// The name a layout's rows go by: its path, or "." for the audited directory itself.
fn repository_name(prefix: &Key) -> String {
    match prefix.lossy() {
        name if name.is_empty() => ".".to_owned(),
        name => name.into_owned(),
    }
}

/// Every document `index_json` (read whole when `index_json_read`) reaches through
/// `blobs`, and the graph: edges, cycles, cross-checks, coverage, referrers, and what
/// garbage collection keeps.
pub(crate) fn check_graph(
    backend: &dyn Backend,
    named: &Named,
    blobs: &dyn Lookup,
    index_json: Option<Index>,
    index_json_read: bool,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
) -> LayoutCheck {
    let max_document_size = options.max_document_size;
    let frontier = index_json
        .iter()
        .flat_map(|index| index.manifests.iter().chain(index.subject.as_deref()))
        .filter_map(|d| Some((d.digest.clone()?, graph::expect_for(d, false)?)))
        .collect();
    let (docs, bytes_hashed) =
        load_documents(backend, frontier, blobs, max_document_size, findings);
    let graph = Graph {
        blobs,
        index_json: index_json.as_ref(),
        index_path: &named.index_path,
        docs: &docs,
    };
    let reachability = graph.check_edges(findings);
    graph.check_cycles(findings);
    graph.check_consistency(findings);
    let coverage = graph.coverage();
    let referrers = referrers(named.repository, &graph, options.require, findings);
    if let Some(inspect) = named.inspect {
        inspect(&graph);
    }
    let complete =
        index_json_read && docs.values().all(|l| l.document.is_some()) && !reachability.opaque;
    let read_elsewhere: Vec<ReadElsewhere> = docs
        .iter()
        .filter_map(|(digest, loaded)| {
            Some(ReadElsewhere {
                key: blobs.elsewhere(digest)?,
                digest: digest.clone(),
                result: loaded.content?,
                len: blobs.len_of(digest)?,
            })
        })
        .collect();
    // What was read from another layout's blob counts there, once, however many
    // repositories read it (`kinds::zot`).
    let elsewhere: u64 = read_elsewhere.iter().map(|r| r.len).sum();
    let hashed = hashed_flags(blobs.inventory(), &docs);
    let documents = docs.values().filter(|l| l.document.is_some()).count() as u64;
    let collection = gc::collection(index_json.as_ref(), &docs, options.untagged);
    // The documents go before the supply-chain rows are named.
    drop(docs);
    let entries = index_json.as_ref().map_or(&[][..], |i| &i.manifests);
    let supply_chain = referrers.settle(findings, |_, (at, _)| {
        let entry = entries.get(at as usize)?;
        Some((entry.ref_name()?.into(), entry.digest.clone()?))
    });
    LayoutCheck {
        read_elsewhere,
        hashed,
        documents,
        bytes_hashed: bytes_hashed.saturating_sub(elsewhere),
        coverage,
        supply_chain,
        reachable: reachability.reachable,
        complete,
        collection,
    }
}

impl LayoutCheck {
    /// What garbage collection keeps: what `index.json` reaches, or with `--untagged`
    /// what its tags keep.
    pub(crate) fn kept(&self) -> &HashSet<Digest> {
        self.collection
            .kept_by_tags
            .as_ref()
            .unwrap_or(&self.reachable)
    }
}

/// The layout as one scope of the referrer checks, named `repository`: its tags are the
/// `index.json` entries with a `ref.name` (addressed by their index), its members every
/// index and manifest loaded.
fn referrers(
    repository: &str,
    graph: &Graph,
    require: Require,
    findings: &mut Vec<Finding>,
) -> Referrers {
    let tags = graph
        .index_json
        .iter()
        .flat_map(|index| index.manifests.iter().enumerate())
        .filter_map(|(at, entry)| {
            Some(TagRef {
                name: entry.ref_name()?,
                digest: entry.digest.as_ref()?,
                at: (at as u32, 0),
            })
        })
        .collect();

    let entries = graph.index_json.map_or(&[][..], |i| &i.manifests);
    let locate = |(at, _): (u32, u32)| {
        let pointer = entries.get(at as usize).map(|e| e.pointer.to_string());
        (graph.index_path.clone(), pointer.unwrap_or_default())
    };
    let scope = Scope {
        repository,
        tags,
        members: Members::All,
        locate: &locate,
    };
    let mut check = graph.referrers(require);
    check.scope(&scope, findings);
    check.finish()
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
    max_document_size: u64,
    findings: &mut Vec<Finding>,
) -> (Option<Index>, bool) {
    let display = layout.key("index.json");
    let mut bytes = match backend.read_small(&display, max_document_size) {
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
