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
//! ```
//!
//! Directories are listed through a descriptor opened `O_NOFOLLOW | O_NOATIME` (listing
//! with `read_dir` would update their access times) and each entry is typed by `lstat`
//! relative to it, so a symlink is seen as a symlink and never followed.

pub mod distribution;
pub mod layout;

use std::ffi::OsString;
use std::fs;
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

/// Walks of a tree of layouts stop this deep, whatever the tree holds.
const MAX_DEPTH: usize = 64;

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
    /// Nothing under the path looks like a store.
    #[error(
        "{path}: not an OCI image layout, a directory of layouts or a Docker Distribution root \
         (looked for oci-layout, index.json and blobs/ at any depth, and docker/registry/v2)"
    )]
    NotAStore {
        /// The path.
        path: PathBuf,
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

/// A detected store.
#[derive(Debug)]
pub struct Store {
    /// Its kind.
    pub kind: StoreKind,
    /// The audited path, as given.
    pub root: PathBuf,
    /// The layouts to audit (none for a Distribution root).
    pub layouts: Vec<LayoutRoot>,
    /// The Distribution root, when that is what the path holds.
    pub registry: Option<RegistryRoot>,
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn exists_no_follow(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Decides what `path` is. Unreadable directories met while looking for nested layouts
/// are returned as findings.
pub fn detect(path: &Path) -> Result<(Store, Vec<Finding>), Error> {
    let metadata = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        error: source,
    })?;
    if !metadata.is_dir() {
        return Err(Error::Io {
            path: path.to_owned(),
            error: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    list_dir(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        error: source,
    })?;
    if let Some(registry) = registry_root(path) {
        return Ok((
            Store {
                kind: StoreKind::Distribution,
                root: path.to_owned(),
                layouts: Vec::new(),
                registry: Some(registry),
            },
            Vec::new(),
        ));
    }
    let store = |kind, layouts| Store {
        kind,
        root: path.to_owned(),
        layouts,
        registry: None,
    };
    let mut layouts = Vec::new();
    let mut findings = Vec::new();
    find_layouts(path, &Key::root(), 0, &mut layouts, &mut findings);
    if layouts.is_empty() {
        return Err(Error::NotAStore {
            path: path.to_owned(),
        });
    }
    layouts.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let kind = if layouts.len() == 1 && layouts[0].prefix.is_empty() {
        StoreKind::OciLayout
    } else {
        StoreKind::OciLayouts
    };
    Ok((store(kind, layouts), findings))
}

/// The Distribution root under `path`: `path` is the registry's `rootdirectory` (holding
/// `docker/registry/v2`) or that `v2` directory itself (`repositories/` and `blobs/`). A
/// layout's own files win: image-layout.md lets a layout hold unknown entries, even a
/// `repositories/` directory, and zot may keep a repository called `repositories`.
fn registry_root(path: &Path) -> Option<RegistryRoot> {
    let v2 = path.join("docker/registry/v2");
    if is_dir(&v2) {
        return Some(RegistryRoot {
            dir: v2,
            prefix: Key::from("docker/registry/v2"),
        });
    }
    let repositories = path.join("repositories");
    let bare_v2 = is_dir(&repositories)
        && is_dir(&path.join("blobs"))
        && !is_layout(&repositories)
        && !exists_no_follow(&path.join("oci-layout"))
        && !exists_no_follow(&path.join("index.json"));
    bare_v2.then(|| RegistryRoot {
        dir: path.to_owned(),
        prefix: Key::root(),
    })
}

/// A directory is a layout when it has `oci-layout`, `index.json` or `blobs/`: a layout that
/// lost its two files is still audited (with findings), never skipped in silence.
fn is_layout(dir: &Path) -> bool {
    exists_no_follow(&dir.join("oci-layout"))
        || exists_no_follow(&dir.join("index.json"))
        || is_dir(&dir.join("blobs"))
}

/// Depth-first search for layouts, the audited root included. A layout's own
/// subdirectories (other than `blobs`) are searched too: zot keeps repository `a/b`
/// inside repository `a`.
fn find_layouts(
    dir: &Path,
    prefix: &Key,
    depth: usize,
    layouts: &mut Vec<LayoutRoot>,
    findings: &mut Vec<Finding>,
) {
    let this_is_layout = is_layout(dir);
    if this_is_layout {
        layouts.push(LayoutRoot {
            dir: dir.to_owned(),
            prefix: prefix.clone(),
        });
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let entries = match list_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(prefix, &error));
            return;
        }
    };
    let mut children: Vec<(Key, PathBuf)> = Vec::new();
    for entry in entries {
        let is_subdir = matches!(entry.stat, Ok((FileType::Directory, _)));
        if !is_subdir || (this_is_layout && entry.name == "blobs") {
            continue;
        }
        children.push((prefix.join(entry.name.as_bytes()), dir.join(&entry.name)));
    }
    children.sort();
    for (key, path) in children {
        find_layouts(&path, &key, depth + 1, layouts, findings);
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
