//! The storage boundary: everything the audit reads goes through a [`Backend`], which
//! lists, stats, reads small objects and hashes large ones, and owns every system call or
//! request. Above it, the store kinds (`kinds::layout`, `kinds::distribution`,
//! `kinds::detect`) speak in store-relative [`Key`]s, and the checks, the graph, garbage
//! collection and the report never learn which backend they ran on.
//!
//! ```text
//! audit ─▶ store kinds ─────────▶ Backend ─┬─ LocalFs: O_NOFOLLOW, getdents types, mmap
//!          (keys, not paths)              │  windows with a SIGBUS guard, --no-mmap
//!                                         ├─ ObjectBackend: S3, GCS, Azure (LIST, HEAD,
//!                                         │  GET only)
//!                                         └─ ArchiveBackend: a tarball read once
//!                                            (`archive::reader`), served from its index
//! ```
//!
//! A [`ReadError`] says what went wrong in the terms the interpreters need (absent, not a
//! regular file, too large, truncated, other I/O), so no module decodes `io::ErrorKind` or
//! errno again.

pub mod api;
pub mod archive;
#[cfg(feature = "registry-api")]
pub mod http;
pub mod local;
#[cfg(feature = "object-store")]
pub mod object;

use std::fmt;
use std::io;

use crate::finding::{Cause, Finding, Location};
use crate::model::digest::{Algorithm, Digest};
use crate::model::key::Key;
use crate::rules::Rule;

/// What an entry of a listing is. Only [`EntryKind::File`] is ever opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (an object, on object storage).
    File,
    /// A directory (a common prefix, on object storage).
    Dir,
    /// A symbolic link: reported, never followed.
    Symlink,
    /// A named pipe: reported, never opened (it would block).
    Fifo,
    /// A socket.
    Socket,
    /// A block or character device: never opened (opening one can have side effects).
    Device,
    /// Anything else.
    Other,
}

impl EntryKind {
    /// What it is, for messages: "a symlink (not followed)", "a FIFO", ….
    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::Symlink => "a symlink (not followed)",
            EntryKind::Dir => "a directory",
            EntryKind::Fifo => "a FIFO",
            EntryKind::Socket => "a socket",
            EntryKind::Device => "a device node",
            EntryKind::File | EntryKind::Other => "not a regular file",
        }
    }
}

/// How a backend tells that an object changed between two looks: a file's identity and
/// times, or an object's ETag. Equal versions mean unchanged content, as far as the
/// storage can tell without reading it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    /// Nothing known (a directory, or a listing that does not say).
    #[default]
    None,
    /// A POSIX file: device, inode, modification and status-change times (ns). `ctime`
    /// moves on any write, even one that restores `mtime`. Made by [`Version::posix`],
    /// read by [`Version::file`].
    ///
    /// The device takes 32 bits, which hold every Linux device number (12-bit major,
    /// 20-bit minor): a version is then 32 bytes and an inventory entry 80, not 88.
    Posix {
        /// `st_dev`.
        dev: u32,
        /// `st_ino`.
        ino: u64,
        /// `st_mtime` in nanoseconds since the epoch.
        mtime_ns: i64,
        /// `st_ctime` in nanoseconds since the epoch.
        ctime_ns: i64,
    },
    /// A POSIX file whose device number does not fit 32 bits: (dev, ino, mtime, ctime).
    WidePosix(Box<(u64, u64, i64, i64)>),
    /// An object store's entity tag.
    ETag(Box<str>),
}

impl Version {
    /// A POSIX file's version: device, inode, and modification and status-change times
    /// in nanoseconds since the epoch.
    pub fn posix(dev: u64, ino: u64, mtime_ns: i64, ctime_ns: i64) -> Version {
        match u32::try_from(dev) {
            Ok(dev) => Version::Posix {
                dev,
                ino,
                mtime_ns,
                ctime_ns,
            },
            Err(_) => Version::WidePosix(Box::new((dev, ino, mtime_ns, ctime_ns))),
        }
    }

    /// A POSIX file's (device, inode, mtime ns, ctime ns); `None` for other versions.
    pub fn file(&self) -> Option<(u64, u64, i64, i64)> {
        match self {
            Version::Posix {
                dev,
                ino,
                mtime_ns,
                ctime_ns,
            } => Some((u64::from(*dev), *ino, *mtime_ns, *ctime_ns)),
            Version::WidePosix(wide) => Some(**wide),
            Version::None | Version::ETag(_) => None,
        }
    }
}

/// What a backend knows of one key without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Its kind.
    pub kind: EntryKind,
    /// Its length in bytes (regular files; 0 for other kinds).
    pub len: u64,
    /// Its version.
    pub version: Version,
}

/// One entry of a listing.
#[derive(Debug)]
pub struct Entry {
    /// Its name within the listed directory (one component, raw bytes).
    pub name: Box<[u8]>,
    /// What it is, or why that could not be told.
    pub stat: Result<Stat, ReadError>,
}

impl Entry {
    /// Whether the entry is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(&self.stat, Ok(s) if s.kind == EntryKind::Dir)
    }

    /// The name, when it is UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It does not exist (or vanished).
    #[error("{0}")]
    NotFound(io::Error),
    /// It is not a regular file, so it was not opened.
    #[error("{}", not_regular(*.0))]
    NotRegular(EntryKind),
    /// It is larger than the caller allows.
    #[error("{len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// It grew past the limit while being read.
    #[error("grew past the {0}-byte limit while being read")]
    Grew(u64),
    /// Its mapped pages vanished: another process truncated it while it was read.
    #[error("truncated by another process while being read (mapped pages vanished)")]
    Truncated,
    /// Another failure (permission, I/O error, a server's answer).
    #[error("{0}")]
    Io(io::Error),
}

fn not_regular(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Symlink => "is a symlink; not followed",
        EntryKind::Dir => "is a directory, not a file",
        EntryKind::Fifo => "is a FIFO, not a file",
        EntryKind::Socket => "is a socket, not a file",
        EntryKind::Device => "is a device node, not a file",
        EntryKind::File | EntryKind::Other => "is not a regular file",
    }
}

impl ReadError {
    /// The `io-error` finding for `key` that could not be read so: "cannot read: why".
    pub fn finding(&self, key: &Key) -> Finding {
        Finding::new(
            Rule::IoError,
            Location::path(key),
            format!("cannot read: {self}"),
        )
        .with_cause(Cause::Unreadable)
    }

    /// Whether the key does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound(_))
    }

    /// Whether the request was not sent because a registry's rate limit reached the
    /// reserve the audit keeps (not a fault of the store: the run is incomplete).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::QuotaExceeded)
    }
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> ReadError {
        if error.kind() == io::ErrorKind::NotFound {
            ReadError::NotFound(error)
        } else if error.raw_os_error() == Some(libc::ELOOP) {
            // O_NOFOLLOW met a symlink swapped in after the listing.
            ReadError::NotRegular(EntryKind::Symlink)
        } else {
            ReadError::Io(error)
        }
    }
}

/// The outcome of hashing an object.
#[derive(Clone, Debug)]
pub struct Hashed {
    /// What the content hashes to.
    pub digest: Digest,
    /// How many bytes were hashed (the length at the time of reading).
    pub len: u64,
    /// The version of what was read, from the open handle (so it is the version of
    /// exactly these bytes, not of whatever the key names a moment later).
    pub version: Version,
}

/// What [`Backend::walk`] found: each key below the directory, with its stat or why not.
pub type Walked = Vec<(Key, Result<Stat, ReadError>)>;

/// A place the audit reads from. Every method takes a key relative to the audited root.
pub trait Backend: Sync {
    /// The audited root, for messages: a path or a URL.
    fn describe(&self) -> String;

    /// Lists the directory `dir` (a common prefix, on object storage): one entry per name,
    /// typed without following symlinks.
    fn list(&self, dir: &Key) -> Result<Vec<Entry>, ReadError>;

    /// What `key` is, without following a symlink.
    fn stat(&self, key: &Key) -> Result<Stat, ReadError>;

    /// Reads the regular file `key` whole, refusing more than `max` bytes. The buffer
    /// has spare capacity for simd-json's padding.
    fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError>;

    /// The first `len` bytes of the regular file `key` (all of it when it is shorter):
    /// for a file whose header says whether it changed (bbolt's meta pages).
    fn read_head(&self, key: &Key, len: u64) -> Result<Vec<u8>, ReadError> {
        let mut bytes = self.read_small(key, u64::MAX)?;
        bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(bytes)
    }

    /// Everything below the directory `dir`, `depth` levels deep, with keys relative to
    /// it, in no particular order: directories (where the backend has them) and what is in
    /// them. Object stores list the whole prefix at once (objects only, at any depth), so
    /// a registry's blob shard costs a few requests rather than one per blob.
    fn walk(&self, dir: &Key, depth: usize) -> Result<Walked, ReadError> {
        let mut out = Vec::new();
        let mut pending = vec![(Key::root(), self.list(dir)?, 1)];
        while let Some((base, entries, level)) = pending.pop() {
            for entry in entries {
                let key = base.join(&entry.name);
                if level < depth && entry.is_dir() {
                    match self.list(&dir.join(key.as_bytes())) {
                        Ok(inside) => pending.push((key.clone(), inside, level + 1)),
                        Err(error) => {
                            out.push((key, Err(error)));
                            continue;
                        }
                    }
                }
                out.push((key, entry.stat));
            }
        }
        Ok(out)
    }

    /// How many reads the audit keeps in flight by default (`--io-concurrency`): listing,
    /// links, documents and small blobs wait on the disk or the network, not on a core,
    /// and both answer faster with many requests queued.
    fn default_concurrency(&self) -> usize;

    /// Whether hashing a blob of `len` bytes keeps a core busy, so it belongs on the
    /// hashing threads (`--threads`, one per core) rather than among the reads in flight.
    fn cpu_bound(&self, _len: u64) -> bool {
        false
    }

    /// Hashes the regular file `key` under `algorithm` (which must be verifiable),
    /// streaming, calling `progress` with byte counts as it goes.
    fn hash(
        &self,
        key: &Key,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, ReadError>;

    /// The directory `dir` as a tree of unpacked files (a containers-storage layer's),
    /// whose paths resolve as they would for a process chrooted in `dir`: a symlink in the
    /// tree never leads out of it. Only a file system has such trees; other backends say
    /// `Unsupported`.
    fn file_tree(&self, dir: &Key) -> Result<Box<dyn FileTree + '_>, ReadError> {
        let _ = dir;
        Err(ReadError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "only a local file system holds unpacked layers",
        )))
    }
}

/// A directory of unpacked files, opened by [`Backend::file_tree`].
pub trait FileTree: Send + Sync {
    /// Opens the regular file `path` (relative to the tree, as a tar member names it) for
    /// reading, with the same care as any read of the audited tree; returns it and its
    /// length.
    fn open(&self, path: &[u8]) -> Result<(Box<dyn io::Read + Send>, u64), ReadError>;
}

impl fmt::Debug for dyn Backend + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Backend({})", self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_version_keeps_every_device_number_in_32_bytes() {
        for dev in [
            0,
            2049,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let version = Version::posix(dev, 7, -1, 2);
            assert_eq!(version.file(), Some((dev, 7, -1, 2)), "{dev}");
            assert_eq!(version, Version::posix(dev, 7, -1, 2));
            assert_ne!(version, Version::posix(dev, 7, -1, 3));
        }
        assert_eq!(Version::None.file(), None);
        assert_eq!(Version::ETag("x".into()).file(), None);
        assert_eq!(std::mem::size_of::<Version>(), 32);
    }
}
