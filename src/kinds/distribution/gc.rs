//! The garbage-collection simulation of a Distribution root: what `registry
//! garbage-collect` would delete, worked out as plain data ([`simulate`] gives a
//! [`GcOutcome`]), then worded as `blob-unreferenced` findings ([`findings`]) and as the
//! reclaimable table and its total ([`table`]).
//!
//! Garbage collection follows distribution's `MarkAndSweep`: mark every manifest linked as
//! a revision in any repository and everything it references, then every blob not marked
//! is reclaimable. With `--untagged` (`garbage-collect --delete-untagged`) only manifests a
//! tag points at are roots. Two deliberate differences from distribution 2.8, both on the
//! side of keeping data:
//! - references are followed to any depth, so the children of a tagged index keep their
//!   configs and layers (2.8 marks one level and deletes them: distribution#3178);
//! - with `--untagged`, a manifest whose `subject` is kept is kept too (a signature or SBOM
//!   of a tagged image), where distribution deletes it (distribution#3716).

use std::collections::{HashMap, HashSet};

use crate::check::graph::collect::{Marks, kept_by_tags, mark};
use crate::finding::{Finding, Location};
use crate::kinds::distribution::checks::{Registry, Resolved, consistent_digest};
use crate::kinds::distribution::listing::RegistryRoot;
use crate::model::digest::Digest;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory};

/// What garbage collection would do to one Distribution root.
pub(super) struct GcOutcome<'s> {
    /// Whether only tagged manifests were roots (`--untagged`).
    pub untagged: bool,
    /// False when a revision link does not hold the digest its path names or a manifest
    /// could not be parsed: what they reference is unknown, so no blob is called
    /// unreferenced and the figures are an upper bound.
    pub complete: bool,
    /// Each repository, in the order of the registry's repositories.
    pub repositories: Vec<RepositoryGc<'s>>,
    /// Every blob collection would delete, in digest order.
    pub garbage: Vec<Garbage<'s>>,
    /// The store-wide totals.
    pub totals: GcTotals,
}

/// What garbage collection would do to one repository.
pub(super) struct RepositoryGc<'s> {
    /// Its name.
    pub name: &'s str,
    /// Manifests it links as revisions.
    pub manifests: u64,
    /// Its tags.
    pub tags: u64,
    /// Blobs it links as layers.
    pub layers: u64,
    /// Revisions no tag keeps (what `--untagged` collection deletes).
    pub unused_manifests: u64,
    /// Bytes of the garbage blobs a repository of this name links.
    pub bytes: u64,
}

/// One blob collection would delete, and who links it.
pub(super) struct Garbage<'s> {
    /// Its digest.
    pub digest: &'s Digest,
    /// Its length.
    pub len: u64,
    /// The repositories that link it as a revision, once for each such repository.
    pub revision_of: Vec<&'s str>,
    /// The repositories that link it as a revision or a layer, each name once, in the
    /// order first seen; empty when none does.
    pub linked_by: Vec<&'s str>,
}

/// What garbage collection would reclaim in the whole root; every blob counted once.
pub(super) struct GcTotals {
    /// Blobs collection would delete.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Manifests no tag keeps, over all repositories.
    pub unused_manifests: u64,
    /// Bytes of deletable blobs no repository links.
    pub unlinked_bytes: u64,
}

/// The whole registry's marks: one bit per blob of the inventory, by its position. (A
/// hash set of every marked digest was the largest thing the audit held.) A digest the
/// store does not hold has no document and so nothing to walk to; it is not kept. This
/// holds because a Distribution root's documents are loaded from its own inventory only
/// (`store::OwnBlobs`); a lookup that served blobs from elsewhere, as zot's does, would need
/// marks of its own.
struct BlobMarks<'i> {
    inventory: &'i Inventory,
    bits: Vec<u64>,
}

impl<'i> BlobMarks<'i> {
    fn new(inventory: &'i Inventory) -> BlobMarks<'i> {
        BlobMarks {
            inventory,
            bits: vec![0; inventory.len().div_ceil(64)],
        }
    }

    /// Whether the blob at this inventory position is marked.
    fn is_marked(&self, position: usize) -> bool {
        self.bits[position / 64] & (1 << (position % 64)) != 0
    }
}

impl<'s> Marks<'s> for BlobMarks<'_> {
    fn mark(&mut self, digest: &'s Digest) -> bool {
        let Some(position) = self.inventory.position(digest) else {
            return false;
        };
        let was = self.is_marked(position);
        self.bits[position / 64] |= 1 << (position % 64);
        !was
    }
}

/// Simulates garbage collection over the repositories' resolved links (one per repository,
/// in the registry's order): which blobs it would delete, and who links them.
pub(super) fn simulate<'s>(
    registry: &'s Registry,
    resolved: &'s [Resolved],
    untagged: bool,
) -> GcOutcome<'s> {
    let complete = is_complete(registry);
    let (garbage, unused_manifests) = sweep(registry, resolved, untagged);
    let garbage = linking(resolved, garbage);
    let mut bytes_by_repository: HashMap<&str, u64> = HashMap::new();
    let mut unlinked_bytes = 0;
    for blob in &garbage {
        for name in &blob.linked_by {
            *bytes_by_repository.entry(name).or_default() += blob.len;
        }
        if blob.linked_by.is_empty() {
            unlinked_bytes += blob.len;
        }
    }
    let repositories: Vec<RepositoryGc> = resolved
        .iter()
        .zip(unused_manifests)
        .map(|(r, unused_manifests)| RepositoryGc {
            name: &r.repository.name,
            manifests: r.revisions.len() as u64,
            tags: r.repository.tags.len() as u64,
            layers: r.layers.len() as u64,
            unused_manifests,
            bytes: bytes_by_repository
                .get(r.repository.name.as_str())
                .copied()
                .unwrap_or(0),
        })
        .collect();
    let totals = GcTotals {
        blobs: garbage.len() as u64,
        bytes: garbage.iter().map(|b| b.len).sum(),
        unused_manifests: repositories.iter().map(|r| r.unused_manifests).sum(),
        unlinked_bytes,
    };
    GcOutcome {
        untagged,
        complete,
        repositories,
        garbage,
        totals,
    }
}

/// Whether every revision link and every loaded manifest could be read. A manifest that
/// could not be parsed, or a revision link that does not hold the digest its path names,
/// hides what it references: nothing can honestly be called unreferenced then.
fn is_complete(registry: &Registry) -> bool {
    let unreadable_links = registry
        .repositories
        .iter()
        .flat_map(|r| &r.revisions.links)
        .any(|l| consistent_digest(l).is_none());
    let unparsed = registry.graph.docs.values().any(|l| l.document.is_none());
    !unreadable_links && !unparsed
}

/// Marks what collection keeps and sweeps the rest: the blobs not marked, in digest order,
/// with their lengths; and each repository's count of manifests no tag keeps.
fn sweep<'s>(
    registry: &'s Registry,
    resolved: &'s [Resolved],
    untagged: bool,
) -> (Vec<(&'s Digest, u64)>, Vec<u64>) {
    // One repository's tag-kept set at a time: its unused manifests are counted, and
    // with --delete-untagged it is what the repository marks.
    let docs = registry.docs();
    let mut marked = BlobMarks::new(registry.inventory);
    let mut unused_manifests = Vec::with_capacity(resolved.len());
    for r in resolved {
        let kept = kept_by_tags(
            docs,
            r.tags.digests().filter(|d| r.revisions.contains(d)),
            r.revisions.iter(),
        );
        unused_manifests.push(r.revisions.iter().filter(|d| !kept.contains(*d)).count() as u64);
        if untagged {
            // Kept is closed under references already: marking each is enough.
            for digest in kept {
                marked.mark(digest);
            }
        } else {
            mark(docs, r.revisions.iter(), &mut marked);
        }
    }
    // Conservative: a revision whose link is unusable still keeps what its path names.
    for link in registry
        .repositories
        .iter()
        .flat_map(|r| &r.revisions.links)
    {
        if let (Some(Ok(named)), None) = (link.named(), consistent_digest(link)) {
            mark(docs, [named], &mut marked);
        }
    }
    let mut garbage: Vec<(&Digest, u64)> = registry
        .inventory
        .iter()
        .enumerate()
        .filter(|(position, _)| !marked.is_marked(*position))
        .map(|(_, blob)| blob)
        .collect();
    garbage.sort_unstable_by(|a, b| a.0.cmp(b.0));
    (garbage, unused_manifests)
}

/// Which repositories link each garbage blob: asked of garbage only, so the maps hold the
/// few blobs a collection would delete, not every link of the registry.
fn linking<'s>(resolved: &'s [Resolved], garbage: Vec<(&'s Digest, u64)>) -> Vec<Garbage<'s>> {
    let is_garbage: HashSet<&Digest> = garbage.iter().map(|&(digest, _)| digest).collect();
    let mut linked_by: HashMap<&Digest, Vec<&str>> = HashMap::new();
    let mut revision_of: HashMap<&Digest, Vec<&str>> = HashMap::new();
    for r in resolved {
        for d in r.revisions.iter().chain(r.layers.iter()) {
            if !is_garbage.contains(d) {
                continue;
            }
            let names = linked_by.entry(d).or_default();
            if !names.contains(&r.repository.name.as_str()) {
                names.push(&r.repository.name);
            }
        }
        for d in r.revisions.iter().filter(|d| is_garbage.contains(d)) {
            revision_of.entry(d).or_default().push(&r.repository.name);
        }
    }
    drop(is_garbage);
    garbage
        .into_iter()
        .map(|(digest, len)| Garbage {
            digest,
            len,
            revision_of: revision_of.remove(digest).unwrap_or_default(),
            linked_by: linked_by.remove(digest).unwrap_or_default(),
        })
        .collect()
}

/// A `blob-unreferenced` finding for every blob collection would delete, in digest order;
/// none when the outcome is not complete.
pub(super) fn findings(outcome: &GcOutcome, root: &RegistryRoot) -> Vec<Finding> {
    if !outcome.complete {
        return Vec::new();
    }
    let mode = if outcome.untagged {
        "garbage-collect --delete-untagged"
    } else {
        "garbage-collect"
    };
    let sorted = |names: &Vec<&str>| {
        let mut names = names.clone();
        names.sort_unstable();
        names.join(", ")
    };
    outcome
        .garbage
        .iter()
        .map(|blob| {
            let why = if !blob.revision_of.is_empty() {
                format!(
                    "a manifest of {} that no tag keeps",
                    sorted(&blob.revision_of)
                )
            } else if !blob.linked_by.is_empty() {
                format!(
                    "linked in {} but no kept manifest uses it",
                    sorted(&blob.linked_by)
                )
            } else {
                "no repository links it and no manifest uses it".to_owned()
            };
            Finding::new(
                Rule::BlobUnreferenced,
                Location::path(root.blob_key(blob.digest)).with_digest(Some(blob.digest.clone())),
                format!("{mode} would delete it ({} bytes): {why}", blob.len),
            )
            .with_bytes(blob.len)
        })
        .collect()
}

/// The reclaimable table of this root, a row per repository, and its total.
pub(super) fn table(
    outcome: &GcOutcome,
    root: &RegistryRoot,
) -> (Vec<Reclaimable>, ReclaimableTotal) {
    let rows = outcome
        .repositories
        .iter()
        .map(|r| Reclaimable {
            store: root.prefix.clone(),
            repository: r.name.to_owned(),
            manifests: r.manifests,
            tags: r.tags,
            layers: r.layers,
            unused_manifests: r.unused_manifests,
            bytes: r.bytes,
        })
        .collect();
    let totals = &outcome.totals;
    let total = ReclaimableTotal {
        untagged: outcome.untagged,
        complete: outcome.complete,
        blobs: totals.blobs,
        bytes: totals.bytes,
        unused_manifests: totals.unused_manifests,
        unlinked_bytes: totals.unlinked_bytes,
    };
    (rows, total)
}
