//! The engine: runs the phases over every layout of the store and builds the [`Report`].
//!
//! ```text
//! detect → per layout (in parallel): structure + inventory → documents (BFS, parallel per
//! level; each blob read once: hashed, then parsed) → graph (edges, cycles, coverage)
//! → verify every other blob (all layouts together, largest first, parallel)
//! → unreferenced blobs → policy (overrides, skip list), sort once → Report
//! ```
//!
//! A Distribution root runs the same phases over one blob store: its inventory (shards in
//! parallel), repositories (in parallel), documents from every revision link, the graph,
//! then `check::registry` for links, tags, uploads and garbage collection.
//!
//! Every task returns its findings; nothing is shared behind a lock on the hot path except
//! the progress counter.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rayon::prelude::*;

use crate::backend::local::{LocalFs, ReadMode};
use crate::backend::{Backend, ReadError};
use crate::check::document::{self, Context, Expect};
use crate::check::graph::{self, Graph, Loaded};
use crate::check::registry::{self, GcOptions, Registry};
use crate::finding::{Finding, Location, Policy};
use crate::hash;
use crate::model::digest::Digest;
use crate::model::document::{Document, Index};
use crate::model::key::Key;
use crate::report::{
    Coverage, FoundStore, JSON_VERSION, Reclaimable, ReclaimableTotal, Report, Stats, StoreInfo,
};
use crate::rules::Rule;
use crate::store::detect::{self, DetectOptions};
use crate::store::distribution::{self, RegistryRoot};
use crate::store::layout;
use crate::store::{
    Blob, BlobPaths, Error, Inventory, LayoutRoot, Lookup, Own, StoreKind, io_finding,
};

/// Largest `oci-layout` file read; it is a one-line JSON object.
const MAX_LAYOUT_HEADER: u64 = 64 * 1024;

/// What the audit does and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads; 0 means one per core (or `RAYON_NUM_THREADS`).
    pub threads: usize,
    /// Re-hash blobs that are not documents (layers, unknown blobs). Documents are always
    /// hashed, since they are read anyway.
    pub verify: bool,
    /// `read` or `mmap`.
    pub read_mode: ReadMode,
    /// Documents larger than this are not parsed (`document-too-large`).
    pub max_document_size: u64,
    /// Severity overrides, skip list, failure threshold.
    pub policy: Policy,
    /// Distribution roots: simulate `garbage-collect --delete-untagged` (only tagged
    /// manifests are roots) instead of plain `garbage-collect`.
    pub untagged: bool,
    /// Distribution roots: uploads older than this are stale (the registry's purge age).
    pub upload_max_age: Duration,
    /// How stores are looked for under the audited path.
    pub detect: DetectOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: 0,
            verify: true,
            read_mode: ReadMode::Auto,
            max_document_size: 8 * 1024 * 1024,
            policy: Policy::default(),
            untagged: false,
            upload_max_age: Duration::from_secs(168 * 3600),
            detect: DetectOptions::default(),
        }
    }
}

/// Receives progress; the binary draws a bar with it. All methods default to nothing.
pub trait Progress: Sync {
    /// A new phase starts.
    fn phase(&self, _name: &'static str) {}
    /// Bytes and blobs the verify phase will hash.
    fn total(&self, _bytes: u64, _blobs: u64) {}
    /// Bytes hashed since the last call.
    fn advance(&self, _bytes: u64) {}
    /// One more blob verified. On a store of many small blobs, time goes into opening
    /// files more than into hashing bytes, so the count shows progress the bytes do not.
    fn blob_done(&self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What one layout's first phases leave for the rest.
struct LayoutAudit {
    layout: LayoutRoot,
    inventory: Inventory,
    /// Per blob of the inventory: whether its content is already hashed (a document).
    hashed: Vec<bool>,
    coverage: Vec<Coverage>,
    findings: Vec<Finding>,
    documents: u64,
    bytes_hashed: u64,
}

/// What a Distribution root's first phases leave for the rest.
struct RegistryAudit {
    inventory: Inventory,
    hashed: Vec<bool>,
    findings: Vec<Finding>,
    coverage: Vec<Coverage>,
    reclaimable: Vec<Reclaimable>,
    total: ReclaimableTotal,
    repositories: u64,
    uploads: u64,
    upload_bytes: u64,
    documents: u64,
    bytes_hashed: u64,
}

/// Audits the stores under the local directory `path` (itself possibly a symlink, which
/// is resolved once: the user named it).
pub fn audit(path: &Path, options: &Options, progress: &dyn Progress) -> Result<Report, Error> {
    let name = path.display().to_string();
    let root = std::fs::canonicalize(path).map_err(|error| Error::Io {
        path: name.clone(),
        error: ReadError::from(error),
    })?;
    let backend = LocalFs::new(root, options.read_mode);
    audit_backend(&backend, &name, options, progress)
}

/// Audits the stores under the root of `backend`; `name` is how the user named it.
pub fn audit_backend(
    backend: &dyn Backend,
    name: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let started = Instant::now();
    let found = detect::detect(backend, name, options.detect)?;
    let mut findings = found.findings;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::Io {
            path: name.to_owned(),
            error: ReadError::Io(io::Error::other(e)),
        })?;
    let hashed_bytes = AtomicU64::new(0);
    let (audits, registries, verify_findings) = pool.install(|| {
        progress.phase("documents");
        let audits: Vec<LayoutAudit> = found
            .layouts
            .par_iter()
            .map(|layout| audit_layout(backend, layout, options))
            .collect();
        let registries: Vec<RegistryAudit> = found
            .registries
            .par_iter()
            .map(|root| audit_registry(backend, root, options))
            .collect();
        progress.phase("verify");
        let mut sets: Vec<VerifySet> = audits
            .iter()
            .map(|a| VerifySet {
                inventory: &a.inventory,
                hashed: &a.hashed,
                store: &a.layout,
            })
            .collect();
        for (audit, root) in registries.iter().zip(&found.registries) {
            sets.push(VerifySet {
                inventory: &audit.inventory,
                hashed: &audit.hashed,
                store: root,
            });
        }
        let verify_findings = verify_blobs(backend, &sets, options, progress, &hashed_bytes);
        (audits, registries, verify_findings)
    });
    findings.extend(verify_findings);
    let mut stats = Stats {
        layouts: audits.len() as u64,
        bytes_verified: hashed_bytes.into_inner(),
        ..Stats::default()
    };
    let mut stores: Vec<FoundStore> = Vec::with_capacity(audits.len() + registries.len());
    // Reserved at its final size: a store with hundreds of thousands of tags would
    // otherwise grow it to twice what it needs.
    let roots: usize = audits.iter().map(|a| a.coverage.len()).sum::<usize>()
        + registries.iter().map(|r| r.coverage.len()).sum::<usize>();
    let mut coverage = Vec::with_capacity(roots);
    for mut audit in audits {
        stats.blobs += audit.inventory.len() as u64;
        stats.bytes += audit.inventory.bytes();
        stats.bytes_verified += audit.bytes_hashed;
        stats.documents += audit.documents;
        findings.append(&mut audit.findings);
        coverage.append(&mut audit.coverage);
        stores.push(FoundStore {
            kind: StoreKind::OciLayout,
            path: audit.layout.prefix.clone(),
            reclaimable_total: None,
        });
    }
    let (mut reclaimable, mut reclaimable_total) = (None, None);
    for (mut registry, root) in registries.into_iter().zip(&found.registries) {
        stats.blobs += registry.inventory.len() as u64;
        stats.bytes += registry.inventory.bytes();
        stats.bytes_verified += registry.bytes_hashed;
        stats.documents += registry.documents;
        stats.repositories += registry.repositories;
        stats.uploads += registry.uploads;
        stats.upload_bytes += registry.upload_bytes;
        findings.append(&mut registry.findings);
        coverage.append(&mut registry.coverage);
        reclaimable
            .get_or_insert_with(Vec::new)
            .append(&mut registry.reclaimable);
        reclaimable_total
            .get_or_insert_with(|| ReclaimableTotal::empty(options.untagged))
            .add(&registry.total);
        stores.push(FoundStore {
            kind: StoreKind::Distribution,
            path: root.prefix.clone(),
            reclaimable_total: Some(registry.total),
        });
    }
    stores.sort_by(|a, b| a.path.cmp(&b.path));
    coverage.sort_by(|a, b| (&a.path, &a.pointer).cmp(&(&b.path, &b.pointer)));
    let (findings, suppressed) = options.policy.apply(findings);
    stats.suppressed = suppressed;
    stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Report {
        version: JSON_VERSION,
        store: StoreInfo {
            kind: StoreKind::of(&found.layouts, &found.registries),
            path: name.to_owned(),
            stores,
        },
        stats,
        findings,
        coverage,
        reclaimable,
        reclaimable_total,
    })
}

/// Inventory, repositories, documents, graph and registry checks of a Distribution root.
fn audit_registry(backend: &dyn Backend, root: &RegistryRoot, options: &Options) -> RegistryAudit {
    let mut findings = Vec::new();
    let (inventory, names) = rayon::join(
        || {
            let mut found = Vec::new();
            (distribution::inventory(backend, root, &mut found), found)
        },
        || {
            let mut found = Vec::new();
            (distribution::repositories(backend, root, &mut found), found)
        },
    );
    let (inventory, mut found) = inventory;
    findings.append(&mut found);
    let (names, mut found) = names;
    findings.append(&mut found);
    let mut repositories = Vec::with_capacity(names.len());
    for (repository, mut found) in distribution::read_repositories(backend, root, &names) {
        findings.append(&mut found);
        repositories.push(repository);
    }
    // Every revision is a root: its kind is read from its content, as the registry does.
    let frontier: Vec<(Digest, Expect)> = registry::revisions(&repositories)
        .into_iter()
        .map(|digest| (digest, Expect::Revision))
        .collect();
    let blobs = Own {
        inventory: &inventory,
        paths: root,
    };
    let (docs, bytes_hashed) = load_documents(backend, frontier, &blobs, options, &mut findings);
    let graph = Graph {
        blobs: &blobs,
        inventory: &inventory,
        index_json: None,
        index_path: &Key::root(),
        docs: &docs,
    };
    graph.check_edges(&mut findings);
    graph.check_cycles(&mut findings);
    graph.check_consistency(&mut findings);
    let registry = Registry {
        root,
        repositories: &repositories,
        graph: &graph,
    };
    let result = registry.check(&GcOptions {
        untagged: options.untagged,
        upload_max_age: options.upload_max_age,
        now: SystemTime::now(),
    });
    findings.extend(result.findings);
    let uploads = repositories.iter().flat_map(|r| &r.uploads);
    RegistryAudit {
        hashed: hashed_flags(&inventory, &docs),
        documents: docs.values().filter(|l| l.document.is_some()).count() as u64,
        repositories: repositories.len() as u64,
        uploads: uploads.clone().count() as u64,
        upload_bytes: uploads.map(|u| u.bytes).sum(),
        inventory,
        findings,
        coverage: result.coverage,
        reclaimable: result.reclaimable,
        total: result.total,
        bytes_hashed,
    }
}

/// Structure, inventory, documents and graph of one layout.
fn audit_layout(backend: &dyn Backend, layout: &LayoutRoot, options: &Options) -> LayoutAudit {
    let mut findings = Vec::new();
    check_header(backend, layout, &mut findings);
    let inventory = layout::inventory(backend, layout, &mut findings).unwrap_or_default();
    let (index_json, index_json_read) = read_index_json(backend, layout, options, &mut findings);
    let frontier = index_json
        .iter()
        .flat_map(|index| index.manifests.iter().chain(index.subject.iter()))
        .filter_map(|d| Some((d.digest.clone()?, graph::expect_for(d, false)?)))
        .collect();
    let blobs = Own {
        inventory: &inventory,
        paths: layout,
    };
    let (docs, bytes_hashed) = load_documents(backend, frontier, &blobs, options, &mut findings);
    let index_path = layout.key("index.json");
    let graph = Graph {
        blobs: &blobs,
        inventory: &inventory,
        index_json: index_json.as_ref(),
        index_path: &index_path,
        docs: &docs,
    };
    let reachability = graph.check_edges(&mut findings);
    graph.check_cycles(&mut findings);
    graph.check_consistency(&mut findings);
    let coverage = graph.coverage();
    // When a document that could name blobs was not read (an unreadable index.json, a
    // manifest that does not parse), blobs it may name cannot honestly be called
    // unreferenced, so none are.
    let graph_complete =
        index_json_read && docs.values().all(|l| l.document.is_some()) && !reachability.opaque;
    if graph_complete {
        report_unreferenced(layout, &inventory, &reachability.reachable, &mut findings);
    }
    LayoutAudit {
        layout: layout.clone(),
        hashed: hashed_flags(&inventory, &docs),
        documents: docs.values().filter(|l| l.document.is_some()).count() as u64,
        inventory,
        coverage,
        findings,
        bytes_hashed,
    }
}

/// Which blobs of `inventory` were hashed when read as documents.
fn hashed_flags(inventory: &Inventory, docs: &HashMap<Digest, Loaded>) -> Vec<bool> {
    let mut flags = vec![false; inventory.len()];
    for (digest, loaded) in docs {
        if let Some(i) = inventory
            .position(digest)
            .filter(|_| loaded.content_checked)
        {
            flags[i] = true;
        }
    }
    flags
}

/// An `io-error` finding. Entries refused for their kind (symlink, FIFO, device) say
/// what they are; other errors are the backend's.
fn read_error(key: &Key, error: &ReadError) -> Finding {
    match error {
        ReadError::NotRegular(_) => {
            Finding::new(Rule::IoError, Location::path(key), error.to_string())
        }
        _ => io_finding(key, error),
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
    match document::parse(&mut bytes, Expect::LayoutIndex, &mut cx) {
        Some(Document::Index(index)) => (Some(*index), true),
        _ => (None, false),
    }
}

/// Reads, hashes and parses every index, manifest and config reachable from `frontier`
/// (the entries of `index.json`, or a registry's revisions), one breadth-first level at a
/// time, each level in parallel.
fn load_documents(
    backend: &dyn Backend,
    mut frontier: Vec<(Digest, Expect)>,
    blobs: &dyn Lookup,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> (HashMap<Digest, Loaded>, u64) {
    let mut docs: HashMap<Digest, Loaded> = HashMap::new();
    let mut bytes_hashed = 0;
    while !frontier.is_empty() {
        frontier.sort();
        frontier.dedup_by(|a, b| a.0 == b.0);
        frontier.retain(|(digest, _)| !docs.contains_key(digest) && blobs.len_of(digest).is_some());
        let level: Vec<(Digest, Loaded, Vec<Finding>, u64)> = frontier
            .par_iter()
            .map(|(digest, expect)| {
                let key = blobs.key_of(digest);
                let mut found = Vec::new();
                let (document, hashed) =
                    load_document(backend, digest, &key, *expect, options, &mut found);
                let loaded = Loaded {
                    document,
                    display: key,
                    content_checked: hashed.is_some(),
                };
                (digest.clone(), loaded, found, hashed.unwrap_or(0))
            })
            .collect();
        let mut next = Vec::new();
        for (digest, loaded, mut found, hashed) in level {
            bytes_hashed += hashed;
            findings.append(&mut found);
            if let Some(document) = &loaded.document {
                next.extend(
                    graph::children(document)
                        .into_iter()
                        .filter_map(|(d, is_config)| {
                            Some((d.digest.clone()?, graph::expect_for(d, is_config)?))
                        }),
                );
            }
            docs.insert(digest, loaded);
        }
        frontier = next;
    }
    (docs, bytes_hashed)
}

/// Reads one document blob: size limit, hash of the raw bytes, then parse.
/// Returns the document and the number of bytes hashed (`None` when the content was not
/// hashed, which leaves it to the verify phase).
fn load_document(
    backend: &dyn Backend,
    digest: &Digest,
    key: &Key,
    expect: Expect,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> (Option<Document>, Option<u64>) {
    let location = || Location::path(key).with_digest(Some(digest.clone()));
    let mut bytes = match backend.read_small(key, options.max_document_size) {
        Ok(bytes) => bytes,
        Err(error @ (ReadError::TooLarge { .. } | ReadError::Grew(_))) => {
            findings.push(Finding::new(
                Rule::DocumentTooLarge,
                location(),
                format!("document not parsed: {error} (--max-document-size)"),
            ));
            return (None, None);
        }
        Err(error) => {
            findings.push(read_error(key, &error).with_digest(digest));
            return (None, None);
        }
    };
    let hashed = check_content(digest, key, &bytes, findings);
    let mut cx = Context {
        path: key,
        digest: Some(digest),
        findings,
    };
    (document::parse(&mut bytes, expect, &mut cx), hashed)
}

/// Hashes in-memory content of blob `digest` (read at `key`) and reports a mismatch.
/// Returns bytes hashed, or `None` for an algorithm we cannot compute.
fn check_content(
    digest: &Digest,
    key: &Key,
    bytes: &[u8],
    findings: &mut Vec<Finding>,
) -> Option<u64> {
    let actual = hash::digest_bytes(digest.algorithm(), bytes)?;
    if actual != *digest {
        findings.push(digest_mismatch(key, digest, &actual));
    }
    Some(bytes.len() as u64)
}

fn digest_mismatch(key: &Key, digest: &Digest, actual: &Digest) -> Finding {
    Finding::new(
        Rule::BlobDigestMismatch,
        Location::path(key).with_digest(Some(digest.clone())),
        "content does not hash to the digest in its name",
    )
    .expected_found(digest, actual)
}

/// The blobs of one store that the verify phase has left to hash: all but `hashed`.
pub struct VerifySet<'a> {
    /// The store's blobs.
    pub inventory: &'a Inventory,
    /// Per blob: already hashed (documents, read and hashed when loaded).
    pub hashed: &'a [bool],
    /// Where they live.
    pub store: &'a dyn BlobPaths,
}

/// Hashes every blob not hashed as a document, across all stores, largest first.
fn verify_blobs(
    backend: &dyn Backend,
    sets: &[VerifySet],
    options: &Options,
    progress: &dyn Progress,
    hashed_bytes: &AtomicU64,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut work: Vec<Blob> = Vec::with_capacity(sets.iter().map(|s| s.inventory.len()).sum());
    for set in sets {
        for ((digest, len), &hashed) in set.inventory.iter().zip(set.hashed) {
            if hashed {
                continue;
            }
            let blob = Blob {
                digest,
                len,
                store: set.store,
            };
            if !digest.algorithm().is_verifiable() {
                findings.push(Finding::new(
                    Rule::BlobUnverifiable,
                    Location::path(blob.key()).with_digest(Some(digest.clone())),
                    format!("cannot verify {} digests", digest.algorithm()),
                ));
            } else if options.verify {
                work.push(blob);
            }
        }
    }
    // Largest first, so one huge layer does not start last and leave the other cores idle.
    work.sort_unstable_by(|a, b| b.len.cmp(&a.len).then_with(|| a.digest.cmp(b.digest)));
    progress.total(work.iter().map(|b| b.len).sum(), work.len() as u64);
    let advance = |n: u64| progress.advance(n);
    // Every pool thread claims the next-largest blob from one shared cursor. (`par_iter`
    // would split the sorted list into contiguous ranges, so one thread would hash the
    // largest blobs one after another while the others ran out of work.)
    let cursor = AtomicUsize::new(0);
    let results: Vec<Finding> = rayon::broadcast(|_| {
        let mut found = Vec::new();
        while let Some(blob) = work.get(cursor.fetch_add(1, Ordering::Relaxed)) {
            found.extend(verify_blob(backend, *blob, &advance, hashed_bytes));
            progress.blob_done();
        }
        found
    })
    .into_iter()
    .flatten()
    .collect();
    findings.extend(results);
    findings
}

/// Re-hashes one blob; a finding when it changed length, does not match, or cannot be read.
fn verify_blob(
    backend: &dyn Backend,
    blob: Blob,
    advance: &(dyn Fn(u64) + Sync),
    hashed_bytes: &AtomicU64,
) -> Option<Finding> {
    let key = blob.key();
    match backend.hash(&key, blob.digest.algorithm(), advance) {
        Ok(hashed) => {
            hashed_bytes.fetch_add(hashed.len, Ordering::Relaxed);
            if hashed.len != blob.len {
                Some(
                    Finding::new(
                        Rule::IoError,
                        Location::path(&key).with_digest(Some(blob.digest.clone())),
                        "blob changed length while being audited",
                    )
                    .expected_found(blob.len, hashed.len),
                )
            } else if hashed.digest != *blob.digest {
                Some(digest_mismatch(&key, blob.digest, &hashed.digest))
            } else {
                None
            }
        }
        Err(error) => Some(read_error(&key, &error).with_digest(blob.digest)),
    }
}

/// `blob-unreferenced` for every blob of a layout that `index.json` does not reach.
fn report_unreferenced(
    layout: &LayoutRoot,
    inventory: &Inventory,
    reachable: &HashSet<Digest>,
    findings: &mut Vec<Finding>,
) {
    for (digest, len) in inventory.iter() {
        if !reachable.contains(digest) {
            findings.push(
                Finding::new(
                    Rule::BlobUnreferenced,
                    Location::path(layout.blob_key(digest)).with_digest(Some(digest.clone())),
                    format!(
                        "not reachable from {}index.json ({len} bytes)",
                        layout.prefix.prefix()
                    ),
                )
                .with_bytes(len),
            );
        }
    }
}
