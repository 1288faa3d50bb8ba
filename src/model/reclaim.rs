//! What garbage collection would reclaim in a store, per repository (a Distribution or zot
//! repository, a layout) and in total, as each kind's collector simulation works it out.

use serde::{Deserialize, Serialize};

use crate::model::key::Key;

/// What garbage collection would reclaim in one repository of a store: a Distribution or
/// zot repository, a layout (`.` when it is the store itself), or zot's `_blobstore`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclaimable {
    /// The store (a Distribution root's `v2` directory, a zot root, a layout) relative to
    /// the audited path.
    #[serde(
        serialize_with = "crate::model::key::as_lossy",
        deserialize_with = "crate::model::key::from_lossy"
    )]
    pub store: Key,
    /// Repository name.
    pub repository: String,
    /// Manifests linked as revisions; a layout's manifests and indexes loaded.
    pub manifests: u64,
    /// Tags.
    pub tags: u64,
    /// Blobs linked under `_layers`; a layout's blobs.
    pub layers: u64,
    /// Manifests no tag keeps (neither tagged, nor a child of a tagged index, nor a
    /// referrer of a kept manifest): what `--untagged` collection deletes.
    pub unused_manifests: u64,
    /// Bytes of the blobs this repository links (a layout: holds) that collection would
    /// delete. A blob linked by several repositories counts in each.
    pub bytes: u64,
}

/// The total of a store's reclaimable table; every blob counted once. Over several
/// stores, the sum of theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimableTotal {
    /// Whether only tagged manifests were roots (`--untagged`).
    pub untagged: bool,
    /// False when a linked manifest could not be read, so what it references is unknown:
    /// then no blob is reported unreferenced and the figures are an upper bound (some of
    /// those blobs may be what the unread manifest references).
    pub complete: bool,
    /// Blobs collection would delete.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Manifests no tag keeps, over all repositories.
    pub unused_manifests: u64,
    /// Bytes of deletable blobs that no repository links at all.
    pub unlinked_bytes: u64,
}

impl ReclaimableTotal {
    /// Nothing yet: the start of a sum.
    pub fn empty(untagged: bool) -> ReclaimableTotal {
        ReclaimableTotal {
            untagged,
            complete: true,
            blobs: 0,
            bytes: 0,
            unused_manifests: 0,
            unlinked_bytes: 0,
        }
    }

    /// Adds another root's total (roots share no blobs).
    pub fn add(&mut self, other: &ReclaimableTotal) {
        self.complete &= other.complete;
        self.blobs += other.blobs;
        self.bytes += other.bytes;
        self.unused_manifests += other.unused_manifests;
        self.unlinked_bytes += other.unlinked_bytes;
    }
}
