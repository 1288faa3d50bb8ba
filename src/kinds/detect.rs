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

use crate::backend::{Backend, Entry, Kind, Version};
use crate::finding::Finding;
use crate::kinds::distribution::listing::RegistryRoot;
use crate::kinds::zot::listing::{self as zot, ZotRoot};
use crate::model::key::Key;
use crate::store::{Error, LayoutRoot, StoreKind, io_finding};

/// The walk stops this deep, whatever the tree holds.
const MAX_DEPTH: usize = 64;

/// Largest `index.json` read to decide whether a directory is a layout.
const MAX_SNIFF: u64 = 8 * 1024 * 1024;

/// How to look for stores.
#[derive(Clone, Copy, Debug, Default)]
pub struct DetectOptions {
    /// Descend into directories on other file systems (mount points) too.
    pub cross_file_systems: bool,
    /// The audited root is a zot root, whatever it holds (a bucket of released zot
    /// carries no sign of zot but its 0-byte markers).
    pub zot: bool,
}

/// Every store found under the audited root.
#[derive(Debug, Default)]
pub struct Found {
    /// OCI image layouts, sorted by key.
    pub layouts: Vec<LayoutRoot>,
    /// Distribution roots (their `v2` directories), sorted by key.
    pub registries: Vec<RegistryRoot>,
    /// zot roots, sorted by key.
    pub zots: Vec<ZotRoot>,
    /// Directories that could not be listed while looking.
    pub findings: Vec<Finding>,
    /// An image archive whose root holds `manifest.json`: a Docker archive.
    pub docker: bool,
}

/// Finds the stores under the backend's root (`name` is how the user named it, for
/// errors). An unreadable root, or one with no store below it, is an [`Error`] (exit 2);
/// an unreadable directory further down is a finding.
pub fn detect(backend: &dyn Backend, name: &str, options: DetectOptions) -> Result<Found, Error> {
    let root = Key::root();
    let io_error = |error| Error::Io {
        path: name.to_owned(),
        error,
    };
    let stat = backend.stat(&root).map_err(io_error)?;
    if stat.kind != Kind::Dir {
        return Err(io_error(crate::backend::ReadError::NotRegular(stat.kind)));
    }
    let entries = backend.list(&root).map_err(io_error)?;
    let mut walk = Walk {
        backend,
        device: device(&stat.version),
        options,
        found: Found::default(),
    };
    if options.zot {
        let mut findings = Vec::new();
        let zot = zot::find(backend, &root, &mut findings);
        return Ok(Found {
            zots: vec![zot],
            findings,
            ..Found::default()
        });
    }
    let root_is_layout = walk.is_layout(&root, &entries);
    walk.visit(&root, entries, 0);
    let mut found = walk.found;
    // Released zot without deduplication leaves no file of its own at the root, but every
    // repository it made has an `.uploads` directory.
    let only_layouts = found.registries.is_empty() && found.zots.is_empty();
    if only_layouts
        && !root_is_layout
        && found
            .layouts
            .iter()
            .any(|layout| zot::has_uploads_dir(backend, &layout.prefix))
    {
        let zot = zot::find(backend, &root, &mut found.findings);
        found.layouts.clear();
        found.zots.push(zot);
    }
    found.docker = backend.archive().is_some()
        && backend
            .stat(&Key::from("manifest.json"))
            .is_ok_and(|s| s.kind == Kind::File);
    if found.layouts.is_empty()
        && found.registries.is_empty()
        && found.zots.is_empty()
        && !found.docker
    {
        return Err(Error::NotAStore {
            path: name.to_owned(),
            hint: hint(backend),
        });
    }
    found.layouts.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    found.registries.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    found.zots.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    Ok(found)
}

impl Found {
    /// The kind of the whole audited tree, from what was found in it.
    pub fn kind(&self) -> StoreKind {
        if self.docker {
            return StoreKind::DockerArchive;
        }
        match (&self.layouts[..], &self.registries[..], &self.zots[..]) {
            ([], [_], []) => StoreKind::Distribution,
            ([], [], [_]) => StoreKind::Zot,
            ([only], [], []) if only.prefix.is_empty() => StoreKind::OciLayout,
            (_, [], []) => StoreKind::OciLayouts,
            _ => StoreKind::Mixed,
        }
    }
}

fn device(version: &Version) -> Option<u64> {
    version.file().map(|(dev, ..)| dev)
}

/// What the root holds that came close to a store, for the error message.
fn hint(backend: &dyn Backend) -> String {
    let index = Key::from("index.json");
    if backend.stat(&index).is_ok() {
        if !backend
            .stat(&Key::from("blobs"))
            .is_ok_and(|s| s.kind == Kind::Dir)
        {
            return "; index.json is here but there is no blobs/ directory beside it".to_owned();
        }
        if !is_image_index(backend, &index) {
            return "; index.json is here but it has no manifests array".to_owned();
        }
    }
    String::new()
}

struct Walk<'b> {
    backend: &'b dyn Backend,
    /// The file system of the audited root (none on object storage).
    device: Option<u64>,
    options: DetectOptions,
    found: Found,
}

fn has(entries: &[Entry], name: &str, want: impl Fn(Kind) -> bool) -> bool {
    entries
        .iter()
        .any(|e| &*e.name == name.as_bytes() && e.stat.as_ref().is_ok_and(|s| want(s.kind)))
}

fn is_dir(kind: Kind) -> bool {
    kind == Kind::Dir
}

fn any_kind(_: Kind) -> bool {
    true
}

/// Whether `key` reads as an image index: a JSON object with a `manifests` array. That is
/// evidence enough; a wrong `mediaType` or a bad entry is for the validators to report,
/// not a reason to refuse the store.
fn is_image_index(backend: &dyn Backend, key: &Key) -> bool {
    use simd_json::prelude::ValueObjectAccess as _;
    let Ok(mut bytes) = backend.read_small(key, MAX_SNIFF) else {
        return false;
    };
    let Ok(value) = simd_json::to_borrowed_value(&mut bytes) else {
        return false;
    };
    matches!(
        value.get("manifests"),
        Some(simd_json::BorrowedValue::Array(_))
    )
}

impl Walk<'_> {
    /// Whether `dir` (listed as `entries`) holds an OCI image layout: an `oci-layout`
    /// file, or an `index.json` that is an image index beside a `blobs/` directory.
    fn is_layout(&self, dir: &Key, entries: &[Entry]) -> bool {
        has(entries, "oci-layout", |k| !is_dir(k))
            || (has(entries, "blobs", is_dir)
                && has(entries, "index.json", any_kind)
                && is_image_index(self.backend, &dir.join("index.json")))
    }

    /// Whether a subdirectory holds layout files: then a `blobs/` or `repositories/`
    /// beside it belongs to a tree of layouts (zot may keep repositories named so), not to
    /// a registry.
    fn holds_layout_files(&self, dir: &Key) -> bool {
        ["oci-layout", "index.json"]
            .iter()
            .any(|name| self.backend.stat(&dir.join(name)).is_ok())
    }

    fn is_dir(&self, key: &Key) -> bool {
        self.backend.stat(key).is_ok_and(|s| s.kind == Kind::Dir)
    }

    fn visit(&mut self, dir: &Key, entries: Vec<Entry>, depth: usize) {
        let is_layout = self.is_layout(dir, &entries);
        // A zot root: its repositories are collected by `zot::find`, `_blobstore` apart.
        if !is_layout && zot::has_zot_files(&entries) {
            let zot = zot::find(self.backend, dir, &mut self.found.findings);
            self.found.zots.push(zot);
            return;
        }
        // A registry's rootdirectory: <dir>/docker/registry/v2.
        let mut skip: Option<&[u8]> = None;
        let v2 = dir.join("docker/registry/v2");
        if has(&entries, "docker", is_dir) && self.is_dir(&v2) {
            self.found.registries.push(RegistryRoot { prefix: v2 });
            skip = Some(b"docker");
        } else if self.is_bare_v2(dir, &entries) {
            self.found.registries.push(RegistryRoot {
                prefix: dir.clone(),
            });
            return;
        }
        if skip.is_none() && is_layout {
            self.found.layouts.push(LayoutRoot {
                prefix: dir.clone(),
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
            .filter(|e| e.is_dir() && Some(&*e.name) != skip)
            .collect();
        children.sort_by(|a, b| a.name.cmp(&b.name));
        for child in children {
            let key = dir.join(&child.name);
            if !self.options.cross_file_systems && self.device.is_some() {
                match self.backend.stat(&key) {
                    Ok(stat) if device(&stat.version) != self.device => continue,
                    Ok(_) => {}
                    Err(error) => {
                        self.found.findings.push(io_finding(&key, &error));
                        continue;
                    }
                }
            }
            match self.backend.list(&key) {
                Ok(entries) => self.visit(&key, entries, depth + 1),
                Err(error) => self.found.findings.push(io_finding(&key, &error)),
            }
        }
    }

    /// A `v2` directory named directly: `blobs/` and `repositories/` and no layout files,
    /// neither of the two a layout itself; or any directory `…/docker/registry/v2`.
    fn is_bare_v2(&self, dir: &Key, entries: &[Entry]) -> bool {
        let full = format!("{}/{}", self.backend.describe(), dir.lossy());
        let named_v2 = full.trim_end_matches('/').ends_with("/docker/registry/v2");
        if named_v2 && (has(entries, "blobs", is_dir) || has(entries, "repositories", is_dir)) {
            return true;
        }
        has(entries, "blobs", is_dir)
            && has(entries, "repositories", is_dir)
            && !has(entries, "oci-layout", any_kind)
            && !has(entries, "index.json", any_kind)
            && !self.holds_layout_files(&dir.join("blobs"))
            && !self.holds_layout_files(&dir.join("repositories"))
    }
}
