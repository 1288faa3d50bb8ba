//! The registry's `docker/registry/v2` directory, which every path this layer reads is
//! under, and the two ways the layer lists a directory there:
//!
//! ```text
//! <rootdirectory>/docker/registry/v2/                  RegistryRoot (its key in the audited tree)
//!   blobs/<alg>/<first 2 hex>/<encoded>/data           where a blob's content is (BlobPaths)
//! ```
//!
//! A directory that may be absent (`_layers`, `_uploads`, a tag's `index`) is listed as
//! empty when it is; the subdirectories of a listing come sorted by name. Nothing is
//! followed through a symlink.

use crate::backend::{Backend, Entry};
use crate::finding::Finding;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::store::BlobPaths;

/// The `docker/registry/v2` directory of the audited tree.
#[derive(Clone, Debug)]
pub struct RegistryRoot {
    /// Its key relative to the audited root (empty when the user named `v2` itself).
    pub prefix: Key,
}

impl RegistryRoot {
    /// The key of `relative` (a path under v2/), relative to the audited root.
    pub fn key(&self, relative: &str) -> Key {
        self.prefix.join(relative)
    }
}

impl BlobPaths for RegistryRoot {
    fn blob_key(&self, digest: &Digest) -> Key {
        let encoded = digest.encoded();
        let shard = encoded.get(..2).unwrap_or(&encoded);
        self.key(&format!(
            "blobs/{}/{shard}/{encoded}/data",
            digest.algorithm()
        ))
    }

    fn place(&self) -> Key {
        self.prefix.clone()
    }
}

/// Lists `dir`, treating a missing directory as empty.
pub(super) fn list_optional(
    backend: &dyn Backend,
    dir: &Key,
    findings: &mut Vec<Finding>,
) -> Vec<Entry> {
    match backend.list(dir) {
        Ok(entries) => entries,
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => {
            findings.push(error.finding(dir));
            Vec::new()
        }
    }
}

/// The directories of `entries`, sorted by name.
pub(super) fn subdirectories(entries: Vec<Entry>) -> Vec<Entry> {
    let mut dirs: Vec<Entry> = entries.into_iter().filter(Entry::is_dir).collect();
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    dirs
}
