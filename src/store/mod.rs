//! Where bytes live: finding the store under the path the user gave, and listing what is
//! on disk. This layer knows paths and file types, not rules about content.
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
//! PATH/                       several stores, not all layouts (kind "mixed")
//!   east/docker/registry/v2/  west/docker/registry/v2/  mirror/{oci-layout,…}
//! ```
//!
//! `detect` finds them; `layout` and `distribution` list what each holds.
//! Directories are listed through a descriptor opened `O_NOFOLLOW | O_NOATIME` (listing
//! with `read_dir` would update their access times) and each entry is typed by `lstat`
//! relative to it, so a symlink is seen as a symlink and never followed.

pub mod detect;
pub mod distribution;
pub mod layout;

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use serde::Serialize;

use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
pub use distribution::RegistryRoot;

/// The kind of store found under the audited path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    /// Several stores of which not all are layouts: registry roots side by side, or beside
    /// layouts. `store.stores` in the report lists each one with its own kind.
    #[serde(rename = "mixed")]
    Mixed,
}

impl StoreKind {
    /// The kind of the whole audited tree, from what was found in it.
    pub fn of(layouts: &[LayoutRoot], registries: &[RegistryRoot]) -> StoreKind {
        match (layouts, registries) {
            ([], [_]) => StoreKind::Distribution,
            ([only], []) if only.prefix.is_empty() => StoreKind::OciLayout,
            (_, []) => StoreKind::OciLayouts,
            _ => StoreKind::Mixed,
        }
    }
}

/// Why an audit could not run at all (exit code 2). Problems inside a store are findings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error (part of the message, so not also a `source`).
        error: io::Error,
    },
    /// Nothing under the path is a store.
    #[error(
        "{path}: no store found: looked at any depth, on this file system, for OCI image \
         layouts (an oci-layout file, or an index.json image index beside blobs/) and Docker \
         Distribution roots (docker/registry/v2, or blobs/ beside repositories/){hint}"
    )]
    NotAStore {
        /// The path.
        path: PathBuf,
        /// What came close, starting with "; " (or empty).
        hint: String,
    },
}

/// One OCI layout inside the audited tree.
#[derive(Clone, Debug)]
pub struct LayoutRoot {
    /// Absolute directory of the layout.
    pub dir: PathBuf,
    /// Its directory relative to the audited root (empty for the root).
    pub prefix: Key,
}

/// Every blob of a store, by digest, with its length at inventory time.
///
/// Paths are not kept: the store derives them from the digest ([`BlobPaths`]). The blobs
/// are a sorted vector searched by bisection rather than a hash map: 48 bytes per blob
/// exactly, where a map's spare buckets and control bytes nearly double that. A store of
/// a million blobs needs 48 MB for it.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    blobs: Vec<(Digest, u64)>,
}

impl Inventory {
    /// The inventory of these blobs (in any order; each digest once).
    pub fn new(mut blobs: Vec<(Digest, u64)>) -> Inventory {
        blobs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        blobs.dedup_by(|a, b| a.0 == b.0);
        blobs.shrink_to_fit();
        Inventory { blobs }
    }

    /// The length of blob `digest`, if the store has it.
    pub fn get(&self, digest: &Digest) -> Option<u64> {
        Some(self.blobs[self.position(digest)?].1)
    }

    /// The index of blob `digest` in [`Inventory::iter`] order, for per-blob flags kept
    /// beside the inventory.
    pub fn position(&self, digest: &Digest) -> Option<usize> {
        self.blobs.binary_search_by(|(d, _)| d.cmp(digest)).ok()
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
        self.blobs.iter().map(|(d, len)| (d, *len))
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.blobs.iter().map(|(_, len)| len).sum()
    }
}

/// Where a store keeps the blob of a digest.
pub trait BlobPaths: Sync {
    /// The path of the blob `digest` relative to the audited root, for findings.
    fn blob_display(&self, digest: &Digest) -> Key;
    /// Its absolute path, for opening.
    fn blob_path(&self, digest: &Digest) -> PathBuf;
}

impl BlobPaths for LayoutRoot {
    fn blob_display(&self, digest: &Digest) -> Key {
        self.display(&format!(
            "blobs/{}/{}",
            digest.algorithm(),
            digest.encoded()
        ))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&*digest.encoded())
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
    /// Path relative to the audited root, for findings.
    pub fn display(&self) -> Key {
        self.store.blob_display(self.digest)
    }

    /// Absolute path, for opening.
    pub fn path(&self) -> PathBuf {
        self.store.blob_path(self.digest)
    }
}

impl LayoutRoot {
    /// The path of a file of this layout, relative to the audited root.
    pub fn display(&self, relative: &str) -> Key {
        self.prefix.join(relative)
    }
}

/// One directory entry: its name, and its type and size by `lstat` (or why not).
pub struct Entry {
    /// The name within the directory.
    pub name: OsString,
    /// File type and length, not following symlinks.
    pub stat: io::Result<(FileType, u64)>,
}

/// Lists a directory without following a symlink at `path` and without updating its
/// access time. Entries are typed by the type `getdents` reports, which costs nothing;
/// regular files, and entries whose type the file system does not report, are `lstat`ed
/// relative to the open directory (so a renamed path cannot redirect them) for their
/// length. A registry's 256-way shards and digest directories are then listed without a
/// `stat` per entry.
pub fn list_dir(path: &Path) -> io::Result<Vec<Entry>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags | OFlags::NOATIME, Mode::empty()) {
        // O_NOATIME is refused with EPERM for directories we do not own (when not root).
        Err(rustix::io::Errno::PERM) => rustix::fs::open(path, flags, Mode::empty())?,
        other => other?,
    };
    let mut dir = Dir::read_from(&fd)?;
    let mut entries = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let stat = match entry.file_type() {
            FileType::RegularFile | FileType::Unknown => {
                rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| {
                        let len = u64::try_from(st.st_size).unwrap_or(0);
                        (FileType::from_raw_mode(st.st_mode), len)
                    })
                    .map_err(io::Error::from)
            }
            known => Ok((known, 0)),
        };
        entries.push(Entry {
            name: std::ffi::OsStr::from_bytes(name.to_bytes()).to_owned(),
            stat,
        });
    }
    Ok(entries)
}

/// An `io-error` finding for a path.
pub fn io_finding(path: &Key, error: &io::Error) -> Finding {
    Finding::new(
        Rule::IoError,
        Location::path(path),
        format!("cannot read: {error}"),
    )
}
