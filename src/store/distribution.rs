//! A Docker Distribution (registry v2/v3) storage root, as distribution's
//! `registry/storage/paths.go` lays it out:
//!
//! ```text
//! <rootdirectory>/docker/registry/v2/
//!   blobs/<alg>/<first 2 hex>/<encoded>/data                 the content, by digest
//!   repositories/<name: one or more components>/
//!     _manifests/revisions/<alg>/<encoded>/link               a manifest in this repository
//!     _manifests/tags/<tag>/current/link                      what the tag points at now
//!     _manifests/tags/<tag>/index/<alg>/<encoded>/link        what it has pointed at
//!     _layers/<alg>/<encoded>/link                            a blob linked into this repository
//!     _uploads/<id>/{startedat,data,hashstates/..}            an upload in progress
//! ```
//!
//! A `link` file holds a digest and nothing else. A repository is a directory with any of
//! `_manifests`, `_layers`, `_uploads`; other names starting with `_` are reserved and not
//! repository components (distribution's `handleRepository`). An empty
//! `revisions/<alg>/<encoded>/` without `link` is what deleting a manifest leaves: not a
//! finding.
//!
//! This layer lists directories and reads the small `link` and `startedat` files; what
//! they must hold is judged by `check::registry`. Nothing is followed through a symlink.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::FileType;

use crate::finding::{Finding, Location};
use crate::hash;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::layout::file_kind;
use crate::store::{BlobPaths, Entry, Inventory, io_finding, list_dir};

/// A link holds one digest: "sha512:" and 128 hex digits is 135 bytes. Anything much
/// longer is not a link, and is not read whole.
const MAX_LINK: u64 = 4096;
/// `startedat` holds an RFC 3339 time.
const MAX_STARTEDAT: u64 = 4096;
/// Repository names nest; a walk stops this deep whatever the tree holds.
const MAX_DEPTH: usize = 64;

/// The `docker/registry/v2` directory of the audited tree.
#[derive(Clone, Debug)]
pub struct RegistryRoot {
    /// Absolute path of `.../docker/registry/v2`.
    pub dir: PathBuf,
    /// Its path relative to the audited root (empty when the user named `v2` itself).
    pub prefix: Key,
}

impl RegistryRoot {
    /// The path of `relative` (a path under v2/), relative to the audited root.
    pub fn display(&self, relative: &str) -> Key {
        self.prefix.join(relative)
    }
}

impl BlobPaths for RegistryRoot {
    fn blob_display(&self, digest: &Digest) -> Key {
        let encoded = digest.encoded();
        let shard = encoded.get(..2).unwrap_or(&encoded);
        self.display(&format!(
            "blobs/{}/{shard}/{encoded}/data",
            digest.algorithm()
        ))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let encoded = digest.encoded();
        let shard = encoded.get(..2).unwrap_or(&encoded);
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(shard)
            .join(&*encoded)
            .join("data")
    }
}

/// What a `link` file holds, as read.
#[derive(Clone, Debug)]
pub enum LinkContent {
    /// The bytes, which may or may not be a digest (judged by `check::registry`). Boxed
    /// to their length: a registry has hundreds of thousands of links.
    Bytes(Box<[u8]>),
    /// `link` is absent where it is required (a tag without `current/link`).
    Missing,
    /// `link` is not a regular file, is too long, or cannot be read: why.
    Unreadable(String),
}

/// One `link` file.
#[derive(Clone, Debug)]
pub struct Link {
    /// Path of the `link` file, relative to the audited root.
    pub display: Key,
    /// The digest its directory names (`<alg>/<encoded>/link`), or why that is not a
    /// digest. `None` for `tags/<tag>/current/link`, whose path names no digest.
    pub named: Option<Result<Digest, String>>,
    /// Its content.
    pub content: LinkContent,
}

/// One tag of a repository.
#[derive(Clone, Debug)]
pub struct Tag {
    /// The tag, for display.
    pub name: String,
    /// Whether the directory name is valid UTF-8 (otherwise `name` is lossy).
    pub name_is_utf8: bool,
    /// Path of `tags/<tag>`.
    pub display: Key,
    /// `current/link`.
    pub current: Link,
    /// `index/<alg>/<encoded>/link`.
    pub index: Vec<Link>,
}

/// One `_uploads/<id>` directory.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Path of the upload directory.
    pub display: Key,
    /// `startedat`, or why it could not be read.
    pub started_at: Result<String, String>,
    /// Length of its `data` file (0 when there is none).
    pub bytes: u64,
}

/// Everything stored under one repository directory.
#[derive(Clone, Debug, Default)]
pub struct Repository {
    /// The repository name (path components under `repositories/`, joined by `/`).
    pub name: String,
    /// Whether every component was valid UTF-8 (otherwise `name` is lossy).
    pub name_is_utf8: bool,
    /// Path of the repository directory.
    pub display: Key,
    /// Whether `_manifests` exists: without it, distribution's catalog and garbage
    /// collector do not see the repository at all.
    pub has_manifests: bool,
    /// `_manifests/revisions/*/*/link`.
    pub revisions: Vec<Link>,
    /// `_manifests/tags/*`.
    pub tags: Vec<Tag>,
    /// `_layers/*/*/link`.
    pub layers: Vec<Link>,
    /// `_uploads/*`.
    pub uploads: Vec<Upload>,
}

/// A finding about a path under `blobs/` that breaks `blobs/<alg>/<2 hex>/<encoded>/data`.
fn path_invalid(display: Key, message: impl Into<String>) -> Finding {
    Finding::new(
        Rule::RegistryBlobPathInvalid,
        Location::path(display),
        message,
    )
}

/// Lists every blob under `blobs/`, the 256-way shards in parallel.
pub fn inventory(root: &RegistryRoot, findings: &mut Vec<Finding>) -> Inventory {
    let blobs = root.dir.join("blobs");
    let display = root.display("blobs");
    let entries = match list_dir(&blobs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Inventory::default(),
        Err(error) => {
            findings.push(io_finding(&display, &error));
            return Inventory::default();
        }
    };
    // (algorithm, shard name, shard path, shard display path)
    let mut shards: Vec<(Option<String>, String, PathBuf, Key)> = Vec::new();
    for algorithm in entries {
        let alg_display = display.join(algorithm.name.as_bytes());
        if !is_directory(&algorithm, &alg_display, findings) {
            continue;
        }
        let alg_path = blobs.join(&algorithm.name);
        let alg_name = algorithm.name.to_str().map(str::to_owned);
        let shard_entries = match list_dir(&alg_path) {
            Ok(entries) => entries,
            Err(error) => {
                findings.push(io_finding(&alg_display, &error));
                continue;
            }
        };
        for shard in shard_entries {
            let shard_display = alg_display.join(shard.name.as_bytes());
            if !is_directory(&shard, &shard_display, findings) {
                continue;
            }
            match shard.name.to_str() {
                Some(name) if name.len() == 2 => shards.push((
                    alg_name.clone(),
                    name.to_owned(),
                    alg_path.join(&shard.name),
                    shard_display,
                )),
                _ => findings.push(path_invalid(
                    shard_display,
                    "shard directory name is not two characters (blobs/<alg>/<2 hex>/<encoded>/data)",
                )),
            }
        }
    }
    // Per shard: its blobs and its findings.
    type Listed = (Vec<(Digest, u64)>, Vec<Finding>);
    let listed: Vec<Listed> = shards
        .par_iter()
        .map(|(algorithm, shard, path, display)| {
            let mut found = Vec::new();
            let blobs = shard_blobs(algorithm.as_deref(), shard, path, display, &mut found);
            (blobs, found)
        })
        .collect();
    let mut all = Vec::with_capacity(listed.iter().map(|(blobs, _)| blobs.len()).sum());
    for (blobs, mut found) in listed {
        findings.append(&mut found);
        all.extend(blobs);
    }
    Inventory::new(all)
}

/// Whether `entry` is a directory; anything else (or an entry that cannot be typed) is
/// reported.
fn is_directory(entry: &Entry, display: &Key, findings: &mut Vec<Finding>) -> bool {
    match &entry.stat {
        Ok((FileType::Directory, _)) => true,
        Ok((file_type, _)) => {
            findings.push(path_invalid(
                display.clone(),
                format!("{}, where a directory belongs", file_kind(*file_type)),
            ));
            false
        }
        Err(error) => {
            findings.push(io_finding(display, error));
            false
        }
    }
}

fn shard_blobs(
    algorithm: Option<&str>,
    shard: &str,
    dir: &Path,
    display: &Key,
    findings: &mut Vec<Finding>,
) -> Vec<(Digest, u64)> {
    let entries = match list_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(display, &error));
            return Vec::new();
        }
    };
    let mut blobs = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry_display = display.join(entry.name.as_bytes());
        if !is_directory(&entry, &entry_display, findings) {
            continue;
        }
        let digest = match (algorithm, entry.name.to_str()) {
            (Some(algorithm), Some(encoded)) => Digest::parse(&format!("{algorithm}:{encoded}"))
                .map_err(|error| format!("directory name is not a digest: {error}")),
            _ => Err("directory name is not UTF-8, so it cannot be a digest".to_owned()),
        };
        let digest = match digest {
            Ok(digest) if digest.encoded().starts_with(shard) => digest,
            Ok(digest) => {
                findings.push(
                    path_invalid(
                        entry_display,
                        "blob is in the wrong shard: the shard must be the first two characters of the digest",
                    )
                    .with_digest(&digest)
                    .expected_found(&digest.encoded()[..2], shard),
                );
                continue;
            }
            Err(message) => {
                findings.push(path_invalid(entry_display, message));
                continue;
            }
        };
        let data_display = entry_display.join("data");
        let blob_dir = dir.join(&entry.name);
        let inside = match list_dir(&blob_dir) {
            Ok(inside) => inside,
            Err(error) => {
                findings.push(io_finding(&entry_display, &error).with_digest(&digest));
                continue;
            }
        };
        let mut data = None;
        for item in &inside {
            if item.name == "data" {
                data = Some(item);
            } else {
                findings.push(
                    path_invalid(
                        entry_display.join(item.name.as_bytes()),
                        "unexpected entry in a blob directory (only data belongs there)",
                    )
                    .with_digest(&digest),
                );
            }
        }
        match data.map(|d| &d.stat) {
            None => findings.push(
                path_invalid(data_display, "blob directory has no data file").with_digest(&digest),
            ),
            Some(Err(error)) => {
                findings.push(io_finding(&data_display, error).with_digest(&digest));
            }
            Some(Ok((FileType::RegularFile, len))) => blobs.push((digest, *len)),
            Some(Ok((file_type, _))) => findings.push(Finding::new(
                Rule::BlobNotRegular,
                Location::path(data_display).with_digest(Some(digest)),
                format!("blob is {}", file_kind(*file_type)),
            )),
        }
    }
    blobs
}

/// Every repository under `repositories/`, sorted by name (its path below
/// `repositories/`). A repository is a directory holding `_manifests`, `_layers` or
/// `_uploads`; repositories nest (`a` and `a/b`).
pub fn repositories(root: &RegistryRoot, findings: &mut Vec<Finding>) -> Vec<(Key, PathBuf)> {
    let dir = root.dir.join("repositories");
    let mut found = Vec::new();
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) | Err(_) => return found,
    }
    walk_repositories(root, &dir, &Key::root(), 0, &mut found, findings);
    found.sort();
    found
}

/// The path of the repository `name` (empty: `repositories/` itself).
fn repository_display(root: &RegistryRoot, name: &Key) -> Key {
    let repositories = root.display("repositories");
    if name.is_empty() {
        repositories
    } else {
        repositories.join(name.as_bytes())
    }
}

fn walk_repositories(
    root: &RegistryRoot,
    dir: &Path,
    name: &Key,
    depth: usize,
    found: &mut Vec<(Key, PathBuf)>,
    findings: &mut Vec<Finding>,
) {
    let display = repository_display(root, name);
    let entries = match list_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(&display, &error));
            return;
        }
    };
    let is_repository = entries.iter().any(|e| {
        matches!(e.stat, Ok((FileType::Directory, _)))
            && matches!(e.name.to_str(), Some("_manifests" | "_layers" | "_uploads"))
    });
    if is_repository && !name.is_empty() {
        found.push((name.clone(), dir.to_owned()));
    }
    if depth >= MAX_DEPTH {
        return;
    }
    for entry in &entries {
        if matches!(entry.stat, Ok((FileType::Symlink, _))) {
            findings.push(Finding::new(
                Rule::IoError,
                Location::path(display.join(entry.name.as_bytes())),
                "is a symlink; not followed (a repository must be inside the root)",
            ));
        }
    }
    let mut children: Vec<_> = entries
        .iter()
        .filter(|e| matches!(e.stat, Ok((FileType::Directory, _))))
        .filter(|e| !e.name.as_encoded_bytes().starts_with(b"_"))
        .collect();
    children.sort_by(|a, b| a.name.cmp(&b.name));
    for child in children {
        walk_repositories(
            root,
            &dir.join(&child.name),
            &name.join(child.name.as_bytes()),
            depth + 1,
            found,
            findings,
        );
    }
}

/// Reads one repository (`name` is its path below `repositories/`): its links, tags and
/// uploads.
pub fn read_repository(
    root: &RegistryRoot,
    name: &Key,
    dir: &Path,
    findings: &mut Vec<Finding>,
) -> Repository {
    let display = repository_display(root, name);
    let manifests = dir.join("_manifests");
    let has_manifests = std::fs::symlink_metadata(&manifests).is_ok_and(|m| m.is_dir());
    let mut repository = Repository {
        name: name.to_string(),
        name_is_utf8: name.to_str().is_some(),
        display: display.clone(),
        has_manifests,
        ..Repository::default()
    };
    if has_manifests {
        repository.revisions = digest_links(
            &manifests.join("revisions"),
            &display.join("_manifests/revisions"),
            findings,
        );
        repository.tags = tags(
            &manifests.join("tags"),
            &display.join("_manifests/tags"),
            findings,
        );
    }
    repository.layers = digest_links(&dir.join("_layers"), &display.join("_layers"), findings);
    repository.uploads = uploads(&dir.join("_uploads"), &display.join("_uploads"), findings);
    repository
}

/// Lists `dir`, treating a missing directory as empty.
fn list_optional(dir: &Path, display: &Key, findings: &mut Vec<Finding>) -> Vec<Entry> {
    match list_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            findings.push(io_finding(display, &error));
            Vec::new()
        }
    }
}

fn subdirectories(entries: Vec<Entry>) -> Vec<Entry> {
    let mut dirs: Vec<Entry> = entries
        .into_iter()
        .filter(|e| matches!(e.stat, Ok((FileType::Directory, _))))
        .collect();
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    dirs
}

/// `<dir>/<alg>/<encoded>/link` for every pair; digest directories without `link` are
/// skipped (a deleted manifest or layer link leaves one behind).
fn digest_links(dir: &Path, display: &Key, findings: &mut Vec<Finding>) -> Vec<Link> {
    let mut links = Vec::new();
    for algorithm in subdirectories(list_optional(dir, display, findings)) {
        let alg_name = algorithm.name.to_str().map(str::to_owned);
        let alg_display = display.join(algorithm.name.as_bytes());
        let alg_dir = dir.join(&algorithm.name);
        for encoded in subdirectories(list_optional(&alg_dir, &alg_display, findings)) {
            let encoded_display = alg_display.join(encoded.name.as_bytes());
            let named = match (&alg_name, encoded.name.to_str()) {
                (Some(a), Some(e)) => Digest::parse(&format!("{a}:{e}"))
                    .map_err(|error| format!("path does not name a digest: {error}")),
                _ => Err("path is not UTF-8, so it names no digest".to_owned()),
            };
            let path = alg_dir.join(&encoded.name).join("link");
            let content = read_link(&path);
            if matches!(content, LinkContent::Missing) {
                continue;
            }
            links.push(Link {
                display: encoded_display.join("link"),
                named: Some(named),
                content,
            });
        }
    }
    links
}

fn read_link(path: &Path) -> LinkContent {
    match hash::read_small(path, MAX_LINK) {
        Ok(bytes) => LinkContent::Bytes(bytes.into_boxed_slice()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => LinkContent::Missing,
        Err(error) => LinkContent::Unreadable(error.to_string()),
    }
}

fn tags(dir: &Path, display: &Key, findings: &mut Vec<Finding>) -> Vec<Tag> {
    subdirectories(list_optional(dir, display, findings))
        .into_iter()
        .map(|entry| {
            let tag_display = display.join(entry.name.as_bytes());
            let name = Key::from_bytes(entry.name.as_bytes()).to_string();
            let tag_dir = dir.join(&entry.name);
            Tag {
                name_is_utf8: entry.name.to_str().is_some(),
                current: Link {
                    display: tag_display.join("current/link"),
                    named: None,
                    content: read_link(&tag_dir.join("current/link")),
                },
                index: digest_links(&tag_dir.join("index"), &tag_display.join("index"), findings),
                name,
                display: tag_display,
            }
        })
        .collect()
}

fn uploads(dir: &Path, display: &Key, findings: &mut Vec<Finding>) -> Vec<Upload> {
    subdirectories(list_optional(dir, display, findings))
        .into_iter()
        .map(|entry| {
            let upload_display = display.join(entry.name.as_bytes());
            let upload_dir = dir.join(&entry.name);
            let started_at = match hash::read_small(&upload_dir.join("startedat"), MAX_STARTEDAT) {
                Ok(bytes) => {
                    String::from_utf8(bytes).map_err(|_| "startedat is not UTF-8 text".to_owned())
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    Err("startedat does not exist".to_owned())
                }
                Err(error) => Err(format!("startedat cannot be read: {error}")),
            };
            let bytes = std::fs::symlink_metadata(upload_dir.join("data"))
                .ok()
                .filter(|m| m.is_file())
                .map_or(0, |m| m.len());
            Upload {
                display: upload_display,
                started_at,
                bytes,
            }
        })
        .collect()
}

/// Every repository, read in parallel.
pub fn read_repositories(
    root: &RegistryRoot,
    names: &[(Key, PathBuf)],
) -> Vec<(Repository, Vec<Finding>)> {
    names
        .par_iter()
        .map(|(name, dir)| {
            let mut findings = Vec::new();
            let repository = read_repository(root, name, dir, &mut findings);
            (repository, findings)
        })
        .collect()
}
