//! Finding the stores under the path the user gave, on positive evidence only. The walk
//! here knows no kind of store: it offers every directory to each kind in [`KINDS`] (the
//! first that recognises a store there has it, and says whether the search goes on below),
//! then lets each kind look at the whole tree for what only the tree shows. What counts as
//! evidence is each kind's own (`kinds::layout::is_layout`, the Distribution kind's
//! `docker/registry/v2`, zot's own files, an archive's `manifest.json`).
//!
//! The walk goes to any depth, so a directory of layouts (zot keeps one per repository,
//! nested names included), several registry roots, or registries beside layouts are all
//! found, and it stops where a store says it owns the rest: a layout's `blobs/` and a
//! registry's directories are never searched for more stores. Like `find -xdev`, the walk
//! does not cross into other file systems unless asked to, so `/` does not lead into
//! `/proc`.

use crate::backend::{Backend, Entry, EntryKind, Version};
use crate::error::Error;
use crate::finding::Finding;
use crate::kinds::{KINDS, Look, Store, Then};
use crate::model::key::Key;
use crate::store::StoreKind;

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
    /// The audited root is a registry's rootdirectory (`--registry-config` says so): while
    /// it is empty, an empty Distribution root (nothing pushed yet).
    pub registry: bool,
}

/// The store of kind `assumed` at `root`, whatever the root holds.
fn assume(look: &Look, assumed: StoreKind, root: &Key) -> Found {
    let mut findings = Vec::new();
    let store = KINDS
        .iter()
        .find(|kind| kind.name() == assumed)
        .and_then(|kind| kind.assume(look, root, &mut findings));
    Found {
        stores: store.into_iter().collect(),
        findings,
    }
}

/// Every store found under the audited root.
#[derive(Default)]
pub struct Found {
    /// The stores, sorted by path.
    pub stores: Vec<Box<dyn Store>>,
    /// Directories that could not be listed while looking.
    pub findings: Vec<Finding>,
}

/// Finds the stores under the backend's root (`name` is how the user named it, for
/// errors), each recognised by its kind ([`KINDS`]). An unreadable root, or one with no
/// store below it, is an [`Error`] (exit 2); an unreadable directory further down is a
/// finding.
pub fn detect(look: &Look, name: &str, options: DetectOptions) -> Result<Found, Error> {
    let backend = look.backend;
    let root = Key::root();
    let io_error = |error| Error::Io {
        path: name.to_owned(),
        error,
    };
    // A registry reached over its API has no directories to search: the opener knows
    // what it opened.
    if look.api.is_some() {
        return Ok(assume(look, StoreKind::RegistryApi, &root));
    }
    let stat = backend.stat(&root).map_err(io_error)?;
    if stat.kind != EntryKind::Dir {
        return Err(io_error(crate::backend::ReadError::NotRegular(stat.kind)));
    }
    let entries = backend.list(&root).map_err(io_error)?;
    // A registry's rootdirectory is assumed only while it is empty (nothing pushed yet);
    // once it holds anything, it is searched like any path, so a wrong directory still
    // says that no store is there.
    let assumed = match (options.zot, options.registry && entries.is_empty()) {
        (true, _) => Some(StoreKind::Zot),
        (false, true) => Some(StoreKind::Distribution),
        (false, false) => None,
    };
    if let Some(assumed) = assumed {
        return Ok(assume(look, assumed, &root));
    }
    let mut walk = Walk {
        look,
        device: device(&stat.version),
        options,
        found: Found::default(),
    };
    walk.visit(&root, &entries, 0);
    let mut found = walk.found;
    for kind in KINDS {
        kind.recognise_tree(look, &entries, &mut found);
    }
    if found.stores.is_empty() {
        return Err(Error::NotAStore {
            path: name.to_owned(),
            hint: hint(backend),
        });
    }
    // Stable: a Docker archive that is also a layout lists the layout first.
    found.stores.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(found)
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
            .is_ok_and(|s| s.kind == EntryKind::Dir)
        {
            return "; index.json is here but there is no blobs/ directory beside it".to_owned();
        }
        if !is_image_index(backend, &index) {
            return "; index.json is here but it has no manifests array".to_owned();
        }
    }
    String::new()
}

struct Walk<'a> {
    look: &'a Look<'a>,
    /// The file system of the audited root (none on object storage).
    device: Option<u64>,
    options: DetectOptions,
    found: Found,
}

/// Whether `entries` hold `name` of a kind `want` accepts.
pub(crate) fn has(entries: &[Entry], name: &str, want: impl Fn(EntryKind) -> bool) -> bool {
    entries
        .iter()
        .any(|e| &*e.name == name.as_bytes() && e.stat.as_ref().is_ok_and(|s| want(s.kind)))
}

pub(crate) fn is_dir(kind: EntryKind) -> bool {
    kind == EntryKind::Dir
}

pub(crate) fn any_kind(_: EntryKind) -> bool {
    true
}

/// Whether `key` reads as an image index: a JSON object with a `manifests` array. That is
/// evidence enough; a wrong `mediaType` or a bad entry is for the validators to report,
/// not a reason to refuse the store.
pub(crate) fn is_image_index(backend: &dyn Backend, key: &Key) -> bool {
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
    /// Offers `dir` to each kind in turn (the first that recognises a store has it), then
    /// goes into its subdirectories as that kind says.
    fn visit(&mut self, dir: &Key, entries: &[Entry], depth: usize) {
        let backend = self.look.backend;
        let mut skip: Option<&[u8]> = None;
        for kind in KINDS {
            let findings = &mut self.found.findings;
            if let Some(recognised) = kind.recognise(self.look, dir, entries, findings) {
                self.found.stores.push(recognised.store);
                match recognised.then {
                    Then::Stop => return,
                    Then::SkipChild(name) => skip = Some(name),
                }
                break;
            }
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
                match backend.stat(&key) {
                    Ok(stat) if device(&stat.version) != self.device => continue,
                    Ok(_) => {}
                    Err(error) => {
                        self.found.findings.push(error.finding(&key));
                        continue;
                    }
                }
            }
            match backend.list(&key) {
                Ok(entries) => self.visit(&key, &entries, depth + 1),
                Err(error) => self.found.findings.push(error.finding(&key)),
            }
        }
    }
}
