//! What every kind of store shares about where its bytes live: the names of the kinds
//! (`StoreKind`, the JSON `store.kind`), a store's blob inventory, where a blob's key is
//! (`BlobPaths`), how documents find the blobs they name (`Lookup`), and the `io-error`
//! finding of a read that failed. This layer knows keys and entry kinds, not rules about
//! content; each kind's own listing is in `kinds/<kind>`.
//!
//! ```text
//! PATH/                       an OCI image layout        (kind "oci-layout")
//!   oci-layout  index.json  blobs/<alg>/<encoded>
//!
//! PATH/                       a tree of layouts, e.g. zot (kind "oci-layouts")
//!   library/alpine/{oci-layout,index.json,blobs/}
//!   team/app/web/{oci-layout,index.json,blobs/}
//!
//! PATH/docker/registry/v2/    a Docker Distribution root (kind "distribution")
//!   blobs/  repositories/
//!
//! PATH/                       a zot root (kind "zot"): repositories as layouts, and
//!   _blobstore/  cache.db  library/app/{oci-layout,index.json,blobs/,.uploads/}
//!
//! PATH/                       several stores, not all layouts (kind "mixed")
//!   east/docker/registry/v2/  west/docker/registry/v2/  mirror/{oci-layout,…}
//! ```
//!
//! `kinds::detect` finds them; `kinds::{layout, distribution, zot}` list what each holds.
//! Everything speaks in keys relative to the audited root and reads through a `Backend`;
//! no path or system call appears above the backend boundary.

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, EntryKind, ReadError, Version};
use crate::finding::{Finding, Location};
use crate::model::digest::{Digest, DigestIndex};
use crate::model::key::Key;
use crate::rules::Rule;

/// The kind of store found under the audited path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreKind {
    /// One OCI image layout.
    #[serde(rename = "oci-layout")]
    OciLayout,
    /// A directory tree holding several layouts.
    #[serde(rename = "oci-layouts")]
    OciLayouts,
    /// A Docker Distribution (registry v2) storage root.
    #[serde(rename = "distribution")]
    Distribution,
    /// A zot registry root: repositories as layouts, and `_blobstore` when zot
    /// deduplicates into one.
    #[serde(rename = "zot")]
    Zot,
    /// A Docker image archive (`docker save`, `skopeo copy … docker-archive:`); since
    /// Docker 25 also an OCI layout, listed in `store.stores` beside it.
    #[serde(rename = "docker-archive")]
    DockerArchive,
    /// containerd's root (`/var/lib/containerd`): its content store and `meta.db`.
    #[serde(rename = "containerd")]
    Containerd,
    /// containers-storage (`/var/lib/containers/storage`): podman's, CRI-O's, buildah's.
    #[serde(rename = "containers-storage")]
    ContainersStorage,
    /// A registry reached over its distribution API (`https://HOST/…`): what it serves,
    /// as a client pulling it sees it.
    #[serde(rename = "registry-api")]
    RegistryApi,
    /// Several stores of which not all are layouts: registry roots side by side, or beside
    /// layouts. `store.stores` in the report lists each one with its own kind.
    #[serde(rename = "mixed")]
    Mixed,
}

impl StoreKind {
    /// Whether stores of this kind are registries, whose roots are `repository:tag` and
    /// which have repositories and uploads to count.
    pub fn is_registry(self) -> bool {
        matches!(
            self,
            StoreKind::Distribution | StoreKind::Zot | StoreKind::RegistryApi
        )
    }
}

impl StoreKind {
    /// What a store of this kind cannot show, so an audit of it does not check.
    pub fn not_checked(self) -> Option<&'static str> {
        match self {
            StoreKind::RegistryApi => Some(
                "over HTTP nothing lists a registry's blobs, uploads or untagged manifests: \
                 unreferenced blobs, stale uploads and reclaimable bytes are not checked",
            ),
            _ => None,
        }
    }
}

/// One OCI layout inside the audited tree.
#[derive(Clone, Debug)]
pub struct LayoutRoot {
    /// Its directory relative to the audited root (empty for the root).
    pub prefix: Key,
}

/// One blob as the listing saw it.
#[derive(Clone, Debug)]
pub struct BlobEntry {
    /// Its digest (its name).
    pub digest: Digest,
    /// Its length at inventory time.
    pub len: u64,
    /// Its version at inventory time: which file (hard links share one) and how fresh.
    pub version: Version,
}

/// Every blob of a store, by digest, with its length and version at inventory time.
///
/// Keys are not kept: the store derives them from the digest ([`BlobPaths`]). The blobs
/// are a sorted vector searched by bisection rather than a hash map, whose spare buckets
/// and control bytes would nearly double it.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    blobs: Vec<BlobEntry>,
    /// Where runs of digests start in `blobs`.
    index: DigestIndex,
}

impl Inventory {
    /// The inventory of these blobs (in any order; each digest once).
    pub fn new(mut blobs: Vec<BlobEntry>) -> Inventory {
        blobs.sort_unstable_by(|a, b| a.digest.cmp(&b.digest));
        blobs.dedup_by(|a, b| a.digest == b.digest);
        blobs.shrink_to_fit();
        let index = DigestIndex::new(blobs.len(), |i| &blobs[i].digest);
        Inventory { blobs, index }
    }

    /// The length of blob `digest`, if the store has it.
    pub fn get(&self, digest: &Digest) -> Option<u64> {
        Some(self.blobs[self.position(digest)?].len)
    }

    /// One-byte blobs whose sha256 digests are each of `bytes` repeated, for tests.
    #[cfg(test)]
    pub(crate) fn of_test_bytes(bytes: &[u8]) -> Inventory {
        let listed = |&byte: &u8| BlobEntry {
            digest: Digest::sha256([byte; 32]),
            len: 1,
            version: crate::backend::Version::None,
        };
        Inventory::new(bytes.iter().map(listed).collect())
    }

    /// The index of blob `digest` in [`Inventory::iter`] order, for per-blob flags kept
    /// beside the inventory.
    pub fn position(&self, digest: &Digest) -> Option<usize> {
        let run = self.index.range(digest);
        let start = run.start;
        let found = self.blobs[run].binary_search_by(|b| b.digest.cmp(digest));
        found.ok().map(|i| start + i)
    }

    /// The digest of the blob at this position (see [`Inventory::position`]).
    pub fn digest_at(&self, position: usize) -> &Digest {
        &self.blobs[position].digest
    }

    /// Whether the store has blob `digest`.
    pub fn contains_key(&self, digest: &Digest) -> bool {
        self.get(digest).is_some()
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Every blob and its length, by digest.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, u64)> {
        self.blobs.iter().map(|b| (&b.digest, b.len))
    }

    /// Every blob as listed, by digest.
    pub fn entries(&self) -> &[BlobEntry] {
        &self.blobs
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.len).sum()
    }
}

/// Where a store keeps the blob of a digest.
pub trait BlobPaths: Sync {
    /// The key of the blob `digest`, relative to the audited root: where the backend
    /// reads it, and what findings name.
    fn blob_key(&self, digest: &Digest) -> Key;
    /// The store's own key (a layout's directory, a registry's `v2`): where its blobs are.
    fn place(&self) -> Key;
}

impl BlobPaths for LayoutRoot {
    fn blob_key(&self, digest: &Digest) -> Key {
        self.key(&format!(
            "blobs/{}/{}",
            digest.algorithm(),
            digest.encoded()
        ))
    }

    fn place(&self) -> Key {
        self.prefix.clone()
    }
}

/// Where a store's documents find the blobs they name. For a layout or a registry that is
/// its own inventory; in a zot root, a repository's inventory resolved across the root (a
/// 0-byte marker stands for the full copy elsewhere, `_blobstore` serves what the
/// repository lacks).
pub trait Lookup: Sync {
    /// The length of blob `digest`, when the store can serve it.
    fn len_of(&self, digest: &Digest) -> Option<u64>;
    /// Its key: where it is read, or for a missing blob where it would be.
    fn key_of(&self, digest: &Digest) -> Key;
    /// The inventory most of its blobs are in: documents are kept by position in it.
    fn inventory(&self) -> &Inventory;
    /// Whether a blob the store cannot serve was already reported as such (a zot marker
    /// whose content is nowhere), so that naming it is not reported again.
    fn is_accounted(&self, _digest: &Digest) -> bool {
        false
    }
    /// Where blob `digest` is read from when that is another store's blob (a zot marker's
    /// full copy, `_blobstore`'s copy of what the repository lacks): hashing it as a
    /// document there spares that store's verify phase hashing it again.
    fn elsewhere(&self, _digest: &Digest) -> Option<Key> {
        None
    }
}

/// A store's own inventory as its [`Lookup`].
pub struct OwnBlobs<'a> {
    /// The blobs.
    pub inventory: &'a Inventory,
    /// Where they live.
    pub paths: &'a dyn BlobPaths,
}

impl Lookup for OwnBlobs<'_> {
    fn len_of(&self, digest: &Digest) -> Option<u64> {
        self.inventory.get(digest)
    }

    fn key_of(&self, digest: &Digest) -> Key {
        self.paths.blob_key(digest)
    }

    fn inventory(&self) -> &Inventory {
        self.inventory
    }
}

/// One blob of an inventory and the store it is in: a view built when needed.
#[derive(Clone, Copy)]
pub struct Blob<'a> {
    /// Its digest (its name).
    pub digest: &'a Digest,
    /// Its length at inventory time.
    pub len: u64,
    /// The store, which knows where it lives.
    pub store: &'a dyn BlobPaths,
}

impl Blob<'_> {
    /// Its key, relative to the audited root.
    pub fn key(&self) -> Key {
        self.store.blob_key(self.digest)
    }
}

impl LayoutRoot {
    /// The key of a file of this layout, relative to the audited root.
    pub fn key(&self, relative: &str) -> Key {
        self.prefix.join(relative)
    }
}

/// What a read of a key shows now: for re-checking the evidence behind a finding.
pub enum Presence {
    /// It does not exist.
    Absent,
    /// It exists: its kind and length.
    Present(EntryKind, u64),
    /// It cannot be read.
    Unreadable,
}

/// What `backend` shows of `key` now.
pub fn presence(backend: &dyn Backend, key: &Key) -> Presence {
    match backend.stat(key) {
        Ok(stat) => Presence::Present(stat.kind, stat.len),
        Err(error) if error.is_not_found() => Presence::Absent,
        Err(_) => Presence::Unreadable,
    }
}

/// An `io-error` finding. Entries refused for their kind (symlink, FIFO, device) say
/// what they are; other errors are the backend's ([`ReadError::finding`]).
pub fn read_error(key: &Key, error: &ReadError) -> Finding {
    match error {
        ReadError::NotRegular(_) => {
            Finding::new(Rule::IoError, Location::path(key), error.to_string())
        }
        _ => error.finding(key),
    }
}

/// The entries of directory `dir`, or `None` with its `io-error` finding pushed: the
/// listing every walk of a store begins with.
pub fn list_or_finding(
    backend: &dyn Backend,
    dir: &Key,
    findings: &mut Vec<Finding>,
) -> Option<Vec<crate::backend::Entry>> {
    match backend.list(dir) {
        Ok(entries) => Some(entries),
        Err(error) => {
            findings.push(error.finding(dir));
            None
        }
    }
}
