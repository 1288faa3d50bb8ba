//! Finding the stores under the path the user gave, on positive evidence only.
//!
//! ```text
//! PATH/…/<dir>/                      an OCI image layout: an oci-layout file, or an
//!   oci-layout  index.json  blobs/   index.json that is an image index beside blobs/
//!
//! PATH/…/<rootdirectory>/docker/registry/v2/   a Docker Distribution root
//!   blobs/  repositories/                      (or a v2 directory found by its shape)
//! ```
//!
//! The walk goes to any depth, so a directory of layouts (zot keeps one per repository,
//! nested names included), several registry roots, or registries beside layouts are all
//! found, and it stops where a store begins: a layout's `blobs/` and a registry's
//! directories are never searched for more stores. A directory that merely holds a file
//! called `index.json` (a Node.js package, say) is not a layout. Like `find -xdev`, the walk
//! does not cross into other file systems unless asked to, so `/` does not lead into
//! `/proc`.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::finding::Finding;
use crate::model::key::Key;
use crate::model::media_type::{self, Kind};
use crate::store::{Entry, Error, LayoutRoot, RegistryRoot, io_finding, list_dir};

/// The walk stops this deep, whatever the tree holds.
const MAX_DEPTH: usize = 64;

/// Largest `index.json` read to decide whether a directory is a layout.
const MAX_SNIFF: u64 = 8 * 1024 * 1024;

/// How to look for stores.
#[derive(Clone, Copy, Debug, Default)]
pub struct DetectOptions {
    /// Descend into directories on other file systems (mount points) too.
    pub cross_file_systems: bool,
}

/// Every store found under the audited path.
#[derive(Debug, Default)]
pub struct Found {
    /// The audited path with symlinks resolved: the one place a symlink is followed, since
    /// the user named it.
    pub dir: PathBuf,
    /// OCI image layouts, sorted by path.
    pub layouts: Vec<LayoutRoot>,
    /// Distribution roots (their `v2` directories), sorted by path.
    pub registries: Vec<RegistryRoot>,
    /// Directories that could not be listed while looking.
    pub findings: Vec<Finding>,
}

/// Finds the stores under `path`. An unreadable `path`, or one with no store below it, is
/// an [`Error`] (exit 2); an unreadable directory further down is a finding.
pub fn detect(path: &Path, options: DetectOptions) -> Result<Found, Error> {
    let io_error = |error: io::Error| Error::Io {
        path: path.to_owned(),
        error,
    };
    let dir = fs::canonicalize(path).map_err(io_error)?;
    let metadata = fs::metadata(&dir).map_err(io_error)?;
    if !metadata.is_dir() {
        return Err(io_error(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    let entries = list_dir(&dir).map_err(io_error)?;
    let mut walk = Walk {
        device: metadata.dev(),
        options,
        found: Found {
            dir: dir.clone(),
            ..Found::default()
        },
    };
    walk.visit(&dir, &Key::root(), entries, 0);
    let mut found = walk.found;
    if found.layouts.is_empty() && found.registries.is_empty() {
        return Err(Error::NotAStore {
            path: path.to_owned(),
            hint: hint(&dir),
        });
    }
    found.layouts.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    found.registries.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    Ok(found)
}

/// What the root holds that came close to a store, for the error message.
fn hint(dir: &Path) -> String {
    let index = dir.join("index.json");
    if fs::symlink_metadata(&index).is_ok() {
        if !fs::symlink_metadata(dir.join("blobs")).is_ok_and(|m| m.is_dir()) {
            return "; index.json is here but there is no blobs/ directory beside it".to_owned();
        }
        if !is_image_index(&index) {
            return "; index.json is here but it is not an OCI image index".to_owned();
        }
    }
    String::new()
}

struct Walk {
    /// The file system of the audited path.
    device: u64,
    options: DetectOptions,
    found: Found,
}

fn has(entries: &[Entry], name: &str, want: impl Fn(FileType) -> bool) -> bool {
    entries
        .iter()
        .any(|e| e.name.as_bytes() == name.as_bytes() && e.stat.as_ref().is_ok_and(|s| want(s.0)))
}

fn is_dir(file_type: FileType) -> bool {
    file_type == FileType::Directory
}

fn any_type(_: FileType) -> bool {
    true
}

/// Whether `path` is an image index: a JSON object with a `manifests` array, and no
/// `mediaType` that says otherwise (the validators judge the rest). Read without following
/// a symlink, like every file.
fn is_image_index(path: &Path) -> bool {
    let Ok(mut bytes) = crate::hash::read_small(path, MAX_SNIFF) else {
        return false;
    };
    let Ok(value) = simd_json::to_borrowed_value(&mut bytes) else {
        return false;
    };
    use simd_json::prelude::{ValueAsScalar as _, ValueObjectAccess as _};
    let manifests_is_array = matches!(
        value.get("manifests"),
        Some(simd_json::BorrowedValue::Array(_))
    );
    let type_ok = match value.get("mediaType").map(|t| t.as_str()) {
        None => true,
        Some(Some(ty)) => media_type::kind(ty) == Kind::Index,
        Some(None) => false,
    };
    manifests_is_array && type_ok
}

/// Whether `dir` (listed as `entries`) holds an OCI image layout: an `oci-layout` file, or
/// an `index.json` that is an image index beside a `blobs/` directory.
fn is_layout(dir: &Path, entries: &[Entry]) -> bool {
    let marker = has(entries, "oci-layout", |t| !is_dir(t));
    marker
        || (has(entries, "blobs", is_dir)
            && has(entries, "index.json", any_type)
            && is_image_index(&dir.join("index.json")))
}

/// Whether a subdirectory holds layout files: then a `blobs/` or `repositories/` beside it
/// belongs to a tree of layouts (zot may keep repositories named so), not to a registry.
fn holds_layout_files(dir: &Path) -> bool {
    ["oci-layout", "index.json"]
        .iter()
        .any(|name| fs::symlink_metadata(dir.join(name)).is_ok())
}

impl Walk {
    fn visit(&mut self, dir: &Path, key: &Key, entries: Vec<Entry>, depth: usize) {
        // A registry's rootdirectory: <dir>/docker/registry/v2.
        let mut skip: Option<&[u8]> = None;
        let v2 = dir.join("docker/registry/v2");
        if has(&entries, "docker", is_dir) && fs::symlink_metadata(&v2).is_ok_and(|m| m.is_dir()) {
            self.found.registries.push(RegistryRoot {
                dir: v2,
                prefix: key.join("docker/registry/v2"),
            });
            skip = Some(b"docker");
        } else if self.is_bare_v2(dir, &entries) {
            self.found.registries.push(RegistryRoot {
                dir: dir.to_owned(),
                prefix: key.clone(),
            });
            return;
        }
        let layout = skip.is_none() && is_layout(dir, &entries);
        if layout {
            self.found.layouts.push(LayoutRoot {
                dir: dir.to_owned(),
                prefix: key.clone(),
            });
            // A layout's own blobs are not searched; its other subdirectories are (zot keeps
            // repository a/b inside repository a).
            skip = Some(b"blobs");
        }
        if depth >= MAX_DEPTH {
            return;
        }
        let mut children: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.stat.as_ref().is_ok_and(|s| is_dir(s.0)))
            .filter(|e| Some(e.name.as_bytes()) != skip)
            .collect();
        children.sort_by(|a, b| a.name.cmp(&b.name));
        for child in children {
            let path = dir.join(&child.name);
            let child_key = key.join(child.name.as_bytes());
            if !self.options.cross_file_systems {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.dev() != self.device => continue,
                    Ok(_) => {}
                    Err(error) => {
                        self.found.findings.push(io_finding(&child_key, &error));
                        continue;
                    }
                }
            }
            match list_dir(&path) {
                Ok(entries) => self.visit(&path, &child_key, entries, depth + 1),
                Err(error) => self.found.findings.push(io_finding(&child_key, &error)),
            }
        }
    }

    /// A `v2` directory named directly: `blobs/` and `repositories/` and no layout files,
    /// neither of the two a layout itself; or any directory `…/docker/registry/v2`.
    fn is_bare_v2(&self, dir: &Path, entries: &[Entry]) -> bool {
        if dir.ends_with("docker/registry/v2")
            && (has(entries, "blobs", is_dir) || has(entries, "repositories", is_dir))
        {
            return true;
        }
        has(entries, "blobs", is_dir)
            && has(entries, "repositories", is_dir)
            && !has(entries, "oci-layout", any_type)
            && !has(entries, "index.json", any_type)
            && !holds_layout_files(&dir.join("blobs"))
            && !holds_layout_files(&dir.join("repositories"))
    }
}
