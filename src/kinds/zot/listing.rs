//! A zot registry root (project-zot/zot), as zot's storage code writes it:
//!
//! ```text
//! <rootDirectory>/
//!   <repo>/… {oci-layout, index.json, blobs/<alg>/<hex>, .uploads/<uuid>, .sync/}
//!   _blobstore/{oci-layout, index.json, blobs/}   master copies of deduplicated blobs
//!   _global_blobstore_migrated  cache.db  meta.db  _trivy/   zot's own files
//! ```
//!
//! Every repository is an OCI image layout (nested names are nested directories, and a
//! repository may be called `blobs`). With deduplication on (zot's default), a blob pushed
//! to several repositories is stored once:
//!
//! - zot's storage refactor (`imagestore.go:NewImageStore`, `blob_lifecycle.go`) keeps the
//!   master copy in `_blobstore`, created like a repository whose `index.json` names
//!   nothing. On a local file system each repository's copy is a hard link to it
//!   (`LinkBlob` → `os.Link`); on S3, GCS or Azure a repository holds no object for it at
//!   all, and reads resolve to `_blobstore` through the cache database.
//! - released zot (v2.1) keeps the master copy in the first repository that pushed it;
//!   later repositories get a hard link (local) or a 0-byte marker object (remote,
//!   `s3/driver.go:Link` writes empty content), resolved through the cache database.
//!
//! So in a zot root a repository's blob may be a 0-byte marker standing for the full copy
//! elsewhere, or may be absent while `_blobstore` holds it. [`ZotLookup`] resolves both;
//! the checks above it see one repository with all its content. zot's own files are
//! neither findings nor layouts; uploads in progress are `.uploads/<uuid>` files, purged
//! by zot's garbage collection after `gcDelay` (default 1h).
//!
//! A root is recognised by `_blobstore`, the migration marker `_global_blobstore_migrated`
//! or `cache.db`, or by repositories holding `.uploads` directories. A bucket written by
//! released zot has none of these (markers only): `--zot` says what it is.

use std::collections::HashMap;

use crate::backend::{Backend, EntryKind};
use crate::finding::{Finding, Location};
use crate::hash;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory, LayoutRoot, Lookup, list_or_finding};

/// The content store of zot's storage refactor.
pub const BLOBSTORE: &str = "_blobstore";
/// Written once zot has moved every deduplicated blob into `_blobstore`.
pub const MIGRATED_MARKER: &str = "_global_blobstore_migrated";
/// zot's BoltDB cache of digests to paths (local storage; on S3 it is on the zot host).
pub const CACHE_DB: &str = "cache.db";
/// Directories of a zot root that are zot's own, never repositories.
const OWN_DIRECTORIES: [&str; 4] = [BLOBSTORE, "_trivy", ".sync", ".uploads"];
/// Repositories nest; the walk stops this deep whatever the tree holds.
const MAX_DEPTH: usize = 64;

/// One zot root found under the audited path.
#[derive(Clone, Debug)]
pub struct ZotRoot {
    /// Its key relative to the audited root.
    pub prefix: Key,
    /// `_blobstore`, when the root has one.
    pub blobstore: Option<LayoutRoot>,
    /// Every repository, sorted by key.
    pub repositories: Vec<LayoutRoot>,
}

/// Whether a directory listing is that of a zot root by zot's own files.
pub fn has_zot_files(entries: &[crate::backend::Entry]) -> bool {
    entries.iter().any(|e| {
        let is_dir = e.is_dir();
        match e.name_str() {
            Some(BLOBSTORE) => is_dir,
            Some(MIGRATED_MARKER | CACHE_DB) => !is_dir,
            _ => false,
        }
    })
}

/// Whether the layout at `key` has zot's `.uploads` directory.
pub fn has_uploads_dir(backend: &dyn Backend, layout: &Key) -> bool {
    backend
        .stat(&layout.join(".uploads"))
        .is_ok_and(|s| s.kind == EntryKind::Dir)
}

/// The zot root at `prefix`: its `_blobstore` and every repository below it.
pub fn find(backend: &dyn Backend, prefix: &Key, findings: &mut Vec<Finding>) -> ZotRoot {
    let blobstore_key = prefix.join(BLOBSTORE);
    let blobstore = backend
        .stat(&blobstore_key)
        .is_ok_and(|s| s.kind == EntryKind::Dir)
        .then_some(LayoutRoot {
            prefix: blobstore_key,
        });
    let mut repositories = Vec::new();
    walk(backend, prefix, true, 0, &mut repositories, findings);
    repositories.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    ZotRoot {
        prefix: prefix.clone(),
        blobstore,
        repositories,
    }
}

/// zot's `ValidateRepo`: `index.json` and `oci-layout` in a directory make a repository.
fn walk(
    backend: &dyn Backend,
    dir: &Key,
    is_root: bool,
    depth: usize,
    repositories: &mut Vec<LayoutRoot>,
    findings: &mut Vec<Finding>,
) {
    let Some(entries) = list_or_finding(backend, dir, findings) else {
        return;
    };
    let named = |name: &str| {
        entries
            .iter()
            .any(|e| e.name_str() == Some(name) && !e.is_dir())
    };
    let is_repository = !is_root && (named("oci-layout") || named("index.json"));
    if is_repository {
        repositories.push(LayoutRoot {
            prefix: dir.clone(),
        });
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let mut children: Vec<_> = entries
        .iter()
        .filter(|e| e.is_dir())
        .filter(|e| {
            let name = e.name_str().unwrap_or("");
            let repository_blobs = is_repository && name == "blobs";
            !(OWN_DIRECTORIES.contains(&name) || repository_blobs)
        })
        .collect();
    children.sort_by(|a, b| a.name.cmp(&b.name));
    for child in children {
        walk(
            backend,
            &dir.join(&child.name),
            false,
            depth + 1,
            repositories,
            findings,
        );
    }
}

/// One upload in progress: `<repo>/.uploads/<uuid>`.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Its key.
    pub key: Key,
    /// Bytes received so far.
    pub bytes: u64,
    /// When it was last written (ns since the epoch), when the backend says.
    pub modified_ns: Option<i64>,
}

/// The uploads of one repository (none on object storage, where an upload in progress is
/// a multipart upload, not an object).
pub fn uploads(backend: &dyn Backend, repository: &LayoutRoot) -> Vec<Upload> {
    let dir = repository.key(".uploads");
    let Ok(entries) = backend.list(&dir) else {
        return Vec::new();
    };
    let mut uploads: Vec<Upload> = entries
        .into_iter()
        .filter_map(|entry| {
            let stat = entry.stat.ok().filter(|s| s.kind == EntryKind::File)?;
            let modified_ns = stat.version.file().map(|(_, _, mtime_ns, _)| mtime_ns);
            Some(Upload {
                key: dir.join(&entry.name),
                bytes: stat.len,
                modified_ns,
            })
        })
        .collect();
    uploads.sort_by(|a, b| a.key.cmp(&b.key));
    uploads
}

/// Whether a blob of length `len` named `digest` is a zot marker: empty, though its digest
/// is not that of empty content. (An empty blob of an algorithm we cannot compute is not
/// judged a marker.)
pub fn is_marker(digest: &Digest, len: u64) -> bool {
    len == 0 && hash::digest_bytes(digest.algorithm(), b"").is_some_and(|empty| empty != *digest)
}

/// Where a marker's content is.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// The full copy: its key and length.
    At(Key, u64),
    /// Nowhere in the root: the content is lost (reported once, as `blob-marker-unresolved`).
    Lost,
}

/// Every full copy in a zot root, by digest: `_blobstore`'s first, else the first
/// repository's (in key order) that holds one.
pub struct FullCopies {
    copies: HashMap<Digest, (Key, u64)>,
}

impl FullCopies {
    /// Indexes the full copies of these layouts (`_blobstore` first).
    pub fn new(layouts: &[(&LayoutRoot, &Inventory)]) -> FullCopies {
        let mut copies = HashMap::new();
        for (layout, inventory) in layouts {
            for blob in inventory.entries() {
                if !is_marker(&blob.digest, blob.len) {
                    copies
                        .entry(blob.digest.clone())
                        .or_insert_with(|| (layout.blob_key(&blob.digest), blob.len));
                }
            }
        }
        FullCopies { copies }
    }

    /// Resolves the markers of one repository, reporting those whose content is nowhere.
    pub fn resolve(
        &self,
        repository: &LayoutRoot,
        inventory: &Inventory,
        findings: &mut Vec<Finding>,
    ) -> HashMap<Digest, Resolved> {
        let mut markers = HashMap::new();
        for blob in inventory.entries() {
            if !is_marker(&blob.digest, blob.len) {
                continue;
            }
            let resolved = match self.copies.get(&blob.digest) {
                Some((key, len)) => Resolved::At(key.clone(), *len),
                None => {
                    findings.push(Finding::new(
                        Rule::BlobMarkerUnresolved,
                        Location::path(repository.blob_key(&blob.digest))
                            .with_digest(Some(blob.digest.clone())),
                        "0-byte zot marker, and no full copy of its digest is anywhere in the root: the content is lost",
                    ));
                    Resolved::Lost
                }
            };
            markers.insert(blob.digest.clone(), resolved);
        }
        markers
    }
}

/// A zot repository's blobs as zot serves them: its own, its markers resolved to the full
/// copies, and what `_blobstore` holds for it.
pub struct ZotLookup<'a> {
    /// The repository.
    pub repository: &'a LayoutRoot,
    /// Its own blob files.
    pub inventory: &'a Inventory,
    /// Its markers, resolved.
    pub markers: &'a HashMap<Digest, Resolved>,
    /// `_blobstore` and its blobs.
    pub blobstore: Option<(&'a LayoutRoot, &'a Inventory)>,
}

impl Lookup for ZotLookup<'_> {
    fn inventory(&self) -> &Inventory {
        self.inventory
    }

    fn len_of(&self, digest: &Digest) -> Option<u64> {
        match self.markers.get(digest) {
            Some(Resolved::At(_, len)) => Some(*len),
            Some(Resolved::Lost) => None,
            None => self
                .inventory
                .get(digest)
                .or_else(|| self.blobstore?.1.get(digest)),
        }
    }

    fn key_of(&self, digest: &Digest) -> Key {
        match self.markers.get(digest) {
            Some(Resolved::At(key, _)) => key.clone(),
            Some(Resolved::Lost) => self.repository.blob_key(digest),
            None => match self.blobstore {
                Some((blobstore, blobs))
                    if !self.inventory.contains_key(digest) && blobs.contains_key(digest) =>
                {
                    blobstore.blob_key(digest)
                }
                _ => self.repository.blob_key(digest),
            },
        }
    }

    fn is_accounted(&self, digest: &Digest) -> bool {
        matches!(self.markers.get(digest), Some(Resolved::Lost))
    }

    fn elsewhere(&self, digest: &Digest) -> Option<Key> {
        let key = self.key_of(digest);
        (key != self.repository.blob_key(digest)).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let empty = hash::digest_bytes(&crate::model::digest::Algorithm::Sha256, b"").unwrap();
        let other = hash::digest_bytes(&crate::model::digest::Algorithm::Sha256, b"x").unwrap();
        assert!(!is_marker(&empty, 0));
        assert!(is_marker(&other, 0));
        assert!(!is_marker(&other, 1));
        let unknown = Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e").unwrap();
        assert!(!is_marker(&unknown, 0));
    }
}
