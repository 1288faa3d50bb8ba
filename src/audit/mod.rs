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

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::backend::local::{LocalFs, ReadMode};
use crate::backend::{Backend, ReadError};
use crate::finding::{Finding, Location, Policy};
use crate::model::key::Key;
use crate::report::{FoundStore, JSON_VERSION, ReclaimableTotal, Report, Stats, StoreInfo};
use crate::rules::Rule;
use crate::store::detect::{self, DetectOptions};
use crate::store::{Error, StoreKind, io_finding};
use layout::{LayoutAudit, audit_layout};
use registry::{RegistryAudit, audit_registry};
use verify::{VerifySet, verify_blobs};
use zot::{ZotAudit, audit_zot};

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

/// What is known of one blob before the verify phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Nothing yet: the verify phase hashes it (unless the ledger trusts it).
    No,
    /// Hashed when it was read as a document.
    Hashed(crate::hash::HashResult),
    /// Its content lives elsewhere and is hashed there (a zot marker).
    Elsewhere,
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

mod documents;
mod layout;
mod registry;
mod verify;
mod zot;

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
    let mut found = detect::detect(backend, name, options.detect)?;
    let mut findings = std::mem::take(&mut found.findings);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::Io {
            path: name.to_owned(),
            error: ReadError::Io(io::Error::other(e)),
        })?;
    let hashed_bytes = AtomicU64::new(0);
    let (audits, registries, zots, verify_findings) = pool.install(|| {
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
        let zots: Vec<ZotAudit> = found
            .zots
            .par_iter()
            .map(|root| audit_zot(backend, root, options))
            .collect();
        progress.phase("verify");
        let mut sets: Vec<VerifySet> = audits
            .iter()
            .chain(zots.iter().flat_map(|z| &z.layouts))
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
        (audits, registries, zots, verify_findings)
    });
    findings.extend(verify_findings);
    let mut stats = Stats {
        layouts: audits.len() as u64,
        bytes_verified: hashed_bytes.into_inner(),
        ..Stats::default()
    };
    let mut stores: Vec<FoundStore> =
        Vec::with_capacity(audits.len() + registries.len() + zots.len());
    // Reserved at its final size: a store with hundreds of thousands of tags would
    // otherwise grow it to twice what it needs.
    let roots: usize = audits
        .iter()
        .chain(zots.iter().flat_map(|z| &z.layouts))
        .map(|a| a.coverage.len())
        .sum::<usize>()
        + registries.iter().map(|r| r.coverage.len()).sum::<usize>();
    let mut coverage = Vec::with_capacity(roots);
    let mut add_layout = |audit: LayoutAudit, stats: &mut Stats, findings: &mut Vec<Finding>| {
        let LayoutAudit {
            inventory,
            bytes_hashed,
            documents,
            findings: mut found,
            coverage: mut covered,
            ..
        } = audit;
        stats.blobs += inventory.len() as u64;
        stats.bytes += inventory.bytes();
        stats.bytes_verified += bytes_hashed;
        stats.documents += documents;
        findings.append(&mut found);
        coverage.append(&mut covered);
    };
    for audit in audits {
        stores.push(FoundStore {
            kind: StoreKind::OciLayout,
            path: audit.layout.prefix.clone(),
            reclaimable_total: None,
        });
        add_layout(audit, &mut stats, &mut findings);
    }
    for (mut zot, root) in zots.into_iter().zip(&found.zots) {
        stats.layouts += zot.layouts.len() as u64;
        stats.repositories += zot.repositories;
        stats.uploads += zot.uploads;
        stats.upload_bytes += zot.upload_bytes;
        findings.append(&mut zot.findings);
        for audit in zot.layouts {
            add_layout(audit, &mut stats, &mut findings);
        }
        stores.push(FoundStore {
            kind: StoreKind::Zot,
            path: root.prefix.clone(),
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
            kind: StoreKind::of(&found),
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

/// An `io-error` finding. Entries refused for their kind (symlink, FIFO, device) say
/// what they are; other errors are the backend's.
pub(crate) fn read_error(key: &Key, error: &ReadError) -> Finding {
    match error {
        ReadError::NotRegular(_) => {
            Finding::new(Rule::IoError, Location::path(key), error.to_string())
        }
        _ => io_finding(key, error),
    }
}
