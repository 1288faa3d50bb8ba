//! One result per store, and one assembler: what every kind of store returns
//! ([`StorePart`]), what the verify phase adds ([`Verified`]), and [`assemble`], which
//! builds the report from them. The audit and `merge` both call it, so a counter added to
//! a part is counted alike in both, and nothing is repaired afterwards.
//!
//! ```text
//! store.audit() ─► StorePart { counters, findings, coverage, reclaimable, supply_chain, blobs }
//!                                                  │ blobs ─► verify ─► Verified + findings
//! assemble(parts, verified, findings) ─► Report (findings raw: the policy, confirmation
//!                                         and the baseline come after, in the engine or merge)
//! ```

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::hash::HashResult;
use crate::model::coverage::Coverage;
use crate::model::key::Key;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::model::supply_chain::SupplyChain;
use crate::report::{FoundStore, JSON_VERSION, Report, Stats, StoreInfo};
use crate::store::{BlobPaths, Inventory, StoreKind};

/// What is known of one blob's content before the verify phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeforeVerify {
    /// Nothing yet: the verify phase hashes it (unless the ledger trusts it).
    ToHash,
    /// Hashed when it was read as a document.
    HashedAsDocument(HashResult),
    /// Its content lives elsewhere and is hashed there (a zot marker).
    HashedElsewhere,
    /// A document whose bytes an earlier run hashed clean and the ledger kept (a
    /// registry over HTTP): not fetched again until due.
    Kept,
}

/// One store's blobs as the verify phase takes them: its inventory, what is known of
/// each blob already, and where they live. Not part of a shard's partial result.
pub struct BlobSet {
    /// The blobs.
    pub inventory: Inventory,
    /// Per blob of the inventory, in its order.
    pub before: Vec<BeforeVerify>,
    /// Where they live.
    pub paths: Box<dyn BlobPaths + Send>,
}

impl std::fmt::Debug for BlobSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSet")
            .field("place", &self.paths.place())
            .field("blobs", &self.inventory.len())
            .finish()
    }
}

/// Counters a store's audit adds to the report; they add up across stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// OCI layouts (a zot root counts each repository and `_blobstore`).
    pub layouts: u64,
    /// Repositories of a Distribution or zot root.
    pub repositories: u64,
    /// Blobs found.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Documents parsed.
    pub documents: u64,
    /// Blobs hashed before the verify phase (documents, as they were read).
    pub blobs_hashed: u64,
    /// Bytes hashed before the verify phase (documents; an archive's members in its pass).
    pub bytes_hashed: u64,
    /// Uploads in progress or stale.
    pub uploads: u64,
    /// Their bytes.
    pub upload_bytes: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.layouts += other.layouts;
        self.repositories += other.repositories;
        self.blobs += other.blobs;
        self.bytes += other.bytes;
        self.documents += other.documents;
        self.blobs_hashed += other.blobs_hashed;
        self.bytes_hashed += other.bytes_hashed;
        self.uploads += other.uploads;
        self.upload_bytes += other.upload_bytes;
    }
}

/// What the verify phase hashed: a shard's own share of a run's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// Blobs the verify phase hashed.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl AddAssign for Verified {
    fn add_assign(&mut self, other: Verified) {
        self.blobs += other.blobs;
        self.bytes += other.bytes;
    }
}

/// What one store's audit returns, whatever its kind.
#[derive(Debug, Serialize, Deserialize)]
pub struct StorePart {
    /// The kind of store, as the report names it.
    pub kind: StoreKind,
    /// Where it is, relative to the audited root.
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// Counters that add up.
    pub counters: Counters,
    /// Findings, raw: default severities, unsorted.
    #[serde(with = "crate::finding::carried")]
    pub findings: Vec<Finding>,
    /// Platform coverage of its roots.
    pub coverage: Vec<Coverage>,
    /// What garbage collection would reclaim, per repository, and in total.
    pub reclaimable: Option<(Vec<Reclaimable>, ReclaimableTotal)>,
    /// What refers to each of its tags, and its orphaned referrers (the summary is
    /// worked out when the part is assembled).
    #[serde(default)]
    pub supply_chain: SupplyChain,
    /// What this store's audit did not look at, when more than its kind says (a
    /// containers-storage root's layer contents without `--verify-layers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// Its blobs, for the verify phase; taken before the part is assembled.
    #[serde(skip)]
    pub blobs: Vec<BlobSet>,
}

impl StorePart {
    /// A part of `kind` at `path` with nothing in it yet.
    pub fn new(kind: StoreKind, path: Key) -> StorePart {
        StorePart {
            kind,
            path,
            counters: Counters::default(),
            findings: Vec::new(),
            coverage: Vec::new(),
            reclaimable: None,
            supply_chain: SupplyChain::default(),
            not_checked: None,
            blobs: Vec::new(),
        }
    }
}

/// The report of `parts` (in the order the stores were found) and the verify phase, named
/// `name`: counters summed, stores and coverage in path order, findings raw. `findings`
/// are those not kept in a part: the verify phase's, and those about the tree rather than
/// one store (directories that could not be listed, an archive's framing).
pub fn assemble(
    name: &str,
    parts: Vec<StorePart>,
    verified: Verified,
    mut findings: Vec<Finding>,
) -> Report {
    let mut counters = Counters::default();
    // Reserved at its final size: a store with hundreds of thousands of tags would
    // otherwise grow it to twice what it needs.
    let mut coverage = Vec::with_capacity(parts.iter().map(|p| p.coverage.len()).sum());
    let mut stores = Vec::with_capacity(parts.len());
    let (mut reclaimable, mut reclaimable_total) = (None, None);
    let mut supply_chain = SupplyChain::default();
    for part in parts {
        let StorePart {
            kind,
            path,
            counters: part_counters,
            findings: mut part_findings,
            coverage: mut part_coverage,
            reclaimable: part_reclaimable,
            supply_chain: mut part_chain,
            not_checked,
            ..
        } = part;
        part_chain.finish();
        counters += part_counters;
        findings.append(&mut part_findings);
        coverage.append(&mut part_coverage);
        let total = part_reclaimable.map(|(mut rows, total)| {
            reclaimable.get_or_insert_with(Vec::new).append(&mut rows);
            reclaimable_total
                .get_or_insert_with(|| ReclaimableTotal::empty(total.untagged))
                .add(&total);
            total
        });
        stores.push(FoundStore {
            kind,
            path,
            reclaimable_total: total,
            not_checked: not_checked.or_else(|| kind.not_checked().map(str::to_owned)),
            supply_chain: part_chain.summary.clone(),
        });
        supply_chain.append(part_chain);
    }
    let kind = tree_kind(&stores);
    stores.sort_by(|a, b| a.path.cmp(&b.path));
    coverage.sort_by(|a, b| (&a.path, &a.pointer).cmp(&(&b.path, &b.pointer)));
    supply_chain.finish();
    Report {
        version: JSON_VERSION,
        store: StoreInfo {
            kind,
            path: name.to_owned(),
            stores,
        },
        stats: Stats {
            layouts: counters.layouts,
            repositories: counters.repositories,
            blobs: counters.blobs,
            bytes: counters.bytes,
            bytes_verified: counters.bytes_hashed + verified.bytes,
            documents: counters.documents,
            blobs_hashed: counters.blobs_hashed + verified.blobs,
            uploads: counters.uploads,
            upload_bytes: counters.upload_bytes,
            ..Stats::default()
        },
        findings,
        coverage,
        reclaimable,
        reclaimable_total,
        supply_chain,
        baseline: None,
        resolved: None,
        ledger: None,
        incomplete: None,
    }
}

/// The kind of the whole audited tree: a Docker archive whatever else it is (since
/// Docker 25 also a layout); the kind of its one store; `oci-layouts` for layouts at any
/// depth (or none); `mixed` for several stores not all layouts.
fn tree_kind(stores: &[FoundStore]) -> StoreKind {
    let kinds = || stores.iter().map(|s| s.kind);
    if kinds().any(|k| k == StoreKind::DockerArchive) {
        return StoreKind::DockerArchive;
    }
    match stores {
        // One layout below PATH is a tree of one; any other store alone is its kind.
        [only] if only.kind == StoreKind::OciLayout && !only.path.is_empty() => {
            StoreKind::OciLayouts
        }
        [only] => only.kind,
        _ if kinds().all(|k| k == StoreKind::OciLayout) => StoreKind::OciLayouts,
        _ => StoreKind::Mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Location;
    use crate::rules::Rule;

    fn part(kind: StoreKind, path: &str, blobs: u64, bytes_hashed: u64) -> StorePart {
        let mut part = StorePart::new(kind, Key::from(path));
        part.counters.blobs = blobs;
        part.counters.bytes_hashed = bytes_hashed;
        part.findings.push(Finding::new(
            Rule::BlobUnreferenced,
            Location::path(Key::from(path)),
            "x",
        ));
        part
    }

    #[test]
    fn counters_add_up_and_stores_come_in_path_order() {
        let mut registry = part(StoreKind::Distribution, "a/docker/registry/v2", 3, 10);
        let mut total = ReclaimableTotal::empty(false);
        total.bytes = 7;
        registry.reclaimable = Some((Vec::new(), total));
        let parts = vec![part(StoreKind::OciLayout, "b", 2, 5), registry];
        let verified = Verified {
            blobs: 4,
            bytes: 100,
        };
        let report = assemble("tree", parts, verified, Vec::new());
        assert_eq!(report.stats.blobs, 5);
        assert_eq!(report.stats.bytes_verified, 115);
        assert_eq!(report.stats.blobs_hashed, 4);
        assert_eq!(report.findings.len(), 2);
        assert_eq!(report.store.kind, StoreKind::Mixed);
        let paths: Vec<String> = report
            .store
            .stores
            .iter()
            .map(|s| s.path.lossy().into_owned())
            .collect();
        assert_eq!(paths, ["a/docker/registry/v2", "b"]);
        assert_eq!(report.reclaimable_total.map(|t| t.bytes), Some(7));
    }

    #[test]
    fn the_tree_is_named_by_its_stores() {
        let kind = |parts: Vec<StorePart>| {
            assemble("t", parts, Verified::default(), Vec::new())
                .store
                .kind
        };
        let layout = |path: &str| part(StoreKind::OciLayout, path, 0, 0);
        assert_eq!(kind(vec![layout("")]), StoreKind::OciLayout);
        assert_eq!(kind(vec![layout("a")]), StoreKind::OciLayouts);
        assert_eq!(kind(vec![layout("a"), layout("b")]), StoreKind::OciLayouts);
        assert_eq!(kind(vec![]), StoreKind::OciLayouts);
        assert_eq!(kind(vec![part(StoreKind::Zot, "", 0, 0)]), StoreKind::Zot);
        // Docker 25+: a layout and a Docker archive at the root.
        assert_eq!(
            kind(vec![layout(""), part(StoreKind::DockerArchive, "", 0, 0)]),
            StoreKind::DockerArchive
        );
    }
}
