//! The graph phase: the documents of one store as a graph, checked in memory and
//! sequentially (the documents were loaded by the previous phase, `check::documents`).
//!
//! This module holds the graph: the documents loaded from a store's blobs ([`Documents`],
//! kept compactly for a registry's hundreds of thousands), the descriptors each holds
//! ([`children`]) and which of them the loader reads ([`expect_for`]), and [`Graph`], one
//! store's documents with its `index.json` and blobs, and the questions its checks share
//! (a manifest's config; whether an entry names an artifact). Its checks are parts that
//! import this module and not one another:
//! - `edges`: every descriptor against the blob it names (present, size, media type
//!   against the document found there), reachability for unreferenced blobs
//!   ([`Reachability`]), nested-index cycles;
//! - `consistency`: index platforms against image configs, diff_ids against layers;
//! - `coverage`: the platforms each root covers, and its exceptions;
//! - `collect`: what garbage collection keeps, for the kinds' collector simulations;
//! - `referrers`: what refers to each tag, the referrers fallback indexes against the
//!   referrers, orphaned referrers, and `--require`.

pub mod collect;
mod consistency;
mod coverage;
mod edges;
pub mod referrers;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::check::document::Expect;
use crate::hash::HashResult;
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, Index};
use crate::model::key::Key;
use crate::model::media_type::{self, MediaKind};
use crate::store::{Inventory, Lookup};

/// Every document loaded from a store's blobs. A registry holds hundreds of thousands of
/// documents, so each is kept in 24 bytes beside its content: the blob it was read from
/// is a 4-byte position in the store's inventory ([`Lookup::inventory`]) instead of a
/// 40-byte digest. The few documents read from blobs outside that inventory (a zot
/// repository's documents in `_blobstore`, or behind a marker) have their digests in a
/// side table and positions past the inventory's end.
///
/// The documents are a vector sorted by position and searched by bisection (a hash map's
/// spare buckets would nearly double it). While they are loaded level by level, the
/// newest sit unsorted after the sorted part and are searched one by one; they are sorted
/// in once they outnumber an eighth of the sorted part. (Sorting after every level would
/// be quadratic in a chain of nested indexes, one document a level.)
#[derive(Debug)]
pub struct Documents<'i> {
    /// The inventory positions refer to; `None` for one too large for 32-bit positions
    /// (every digest then goes in `others`).
    inventory: Option<&'i Inventory>,
    /// Digests of blobs outside the inventory, at positions `inventory.len()` onwards.
    others: Vec<Digest>,
    /// Their positions.
    other_positions: HashMap<Digest, u32>,
    docs: Vec<LoadedDocument>,
    sorted: usize,
}

impl<'i> Documents<'i> {
    /// Unsorted documents past this many are sorted in.
    const UNSORTED: usize = 64;

    /// No documents yet, of blobs that are mostly in `inventory`.
    pub fn new(inventory: &'i Inventory) -> Documents<'i> {
        Documents {
            inventory: u32::try_from(inventory.len()).is_ok().then_some(inventory),
            others: Vec::new(),
            other_positions: HashMap::new(),
            docs: Vec::new(),
            sorted: 0,
        }
    }

    /// The position of blob `digest`, if it has one yet.
    fn position(&self, digest: &Digest) -> Option<u32> {
        let inventory = self.inventory.and_then(|i| i.position(digest));
        // `new` made sure every inventory position fits.
        match inventory.and_then(|p| u32::try_from(p).ok()) {
            Some(position) => Some(position),
            None => self.other_positions.get(digest).copied(),
        }
    }

    /// The position of blob `digest`, given one if it has none (`None` past 2^32 blobs).
    fn place(&mut self, digest: Digest) -> Option<u32> {
        if let Some(position) = self.position(&digest) {
            return Some(position);
        }
        let base = self.inventory.map_or(0, Inventory::len);
        let position = u32::try_from(base + self.others.len()).ok()?;
        self.others.push(digest.clone());
        self.other_positions.insert(digest, position);
        Some(position)
    }

    /// The digest of the blob at `position`.
    fn digest_at(&self, position: u32) -> &Digest {
        let position = position as usize;
        match self.inventory {
            Some(inventory) if position < inventory.len() => inventory.digest_at(position),
            inventory => &self.others[position - inventory.map_or(0, Inventory::len)],
        }
    }

    /// Adds a level of documents not loaded before (each digest once) as the parallel
    /// loads make them, straight into place (a registry's level is 100,000 manifests: no
    /// second copy of it), and hands the new ones to `then` before they are sorted in.
    pub fn extend<T>(
        &mut self,
        more: impl IndexedParallelIterator<Item = (Digest, LoadedDocument)>,
        then: impl FnOnce(&[LoadedDocument]) -> T,
    ) -> T {
        let start = self.docs.len();
        // Amortised growth (a chain of nested indexes adds one document a level); `finish`
        // drops the spare room.
        self.docs.reserve(more.len());
        // Digests outside the inventory are extras: they are placed after the parallel part,
        // in the level's order, so that positions do not depend on thread timing.
        let inventory = self.inventory;
        let outside = Mutex::new(Vec::new());
        self.docs
            .par_extend(more.enumerate().map(|(i, (digest, mut loaded))| {
                let position = inventory.and_then(|inv| inv.position(&digest));
                match position {
                    // `new` made sure every inventory position fits.
                    Some(position) => loaded.at = position as u32,
                    None => outside
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((start + i, digest)),
                }
                loaded
            }));
        let mut outside = outside.into_inner().unwrap_or_else(PoisonError::into_inner);
        outside.sort_unstable_by_key(|(i, _)| *i);
        let mut unplaced = Vec::new();
        for (i, digest) in outside {
            match self.place(digest) {
                Some(position) => self.docs[i].at = position,
                None => unplaced.push(i),
            }
        }
        // Past 2^32 blobs a document cannot be kept; memory would have run out long before.
        for i in unplaced.into_iter().rev() {
            self.docs.remove(i);
        }
        let result = then(&self.docs[start..]);
        if self.docs.len() - self.sorted > Self::UNSORTED.max(self.sorted / 8) {
            self.sort();
        }
        result
    }

    /// Sorts every document in and drops the spare capacity: loading is over.
    pub fn finish(&mut self) {
        self.sort();
        self.docs.shrink_to_fit();
        self.others.shrink_to_fit();
        self.other_positions.shrink_to_fit();
    }

    fn sort(&mut self) {
        self.docs.sort_unstable_by_key(|loaded| loaded.at);
        self.sorted = self.docs.len();
    }

    /// The document loaded from blob `digest`, with the digest as kept here.
    pub fn get_key_value(&self, digest: &Digest) -> Option<(&Digest, &LoadedDocument)> {
        let loaded = self.get(digest)?;
        Some((self.digest_at(loaded.at), loaded))
    }

    /// The document loaded from blob `digest`.
    pub fn get(&self, digest: &Digest) -> Option<&LoadedDocument> {
        let at = self.position(digest)?;
        let (sorted, unsorted) = self.docs.split_at(self.sorted);
        match sorted.binary_search_by_key(&at, |loaded| loaded.at) {
            Ok(i) => Some(&sorted[i]),
            Err(_) => unsorted.iter().find(|loaded| loaded.at == at),
        }
    }

    /// Whether blob `digest` was loaded.
    pub fn contains_key(&self, digest: &Digest) -> bool {
        self.get(digest).is_some()
    }

    /// Every document with its digest.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &LoadedDocument)> {
        self.docs
            .iter()
            .map(|loaded| (self.digest_at(loaded.at), loaded))
    }

    /// Every document read from a blob of the inventory, with the blob's position in it
    /// (no lookup: the document keeps it).
    pub fn in_inventory(&self) -> impl Iterator<Item = (usize, &LoadedDocument)> {
        let len = self.inventory.map_or(0, Inventory::len);
        self.docs
            .iter()
            .map(|loaded| (loaded.at as usize, loaded))
            .filter(move |(position, _)| *position < len)
    }

    /// Whether positions refer to `inventory`.
    pub fn is_kept_against(&self, inventory: &Inventory) -> bool {
        self.inventory
            .is_some_and(|own| std::ptr::eq(own, inventory))
    }

    /// Every document.
    pub fn values(&self) -> impl Iterator<Item = &LoadedDocument> {
        self.docs.iter()
    }
}

/// A document loaded from a blob.
#[derive(Debug)]
pub struct LoadedDocument {
    /// The parsed document, unless it could not be read or parsed. (Its path is not
    /// kept: the store derives it from the digest when a finding needs it.)
    pub document: Option<Document>,
    /// What hashing the content as it was read gave; `None` when it was not hashed (it
    /// could not be read, was over the size limit, or has an algorithm we cannot compute):
    /// the verify phase then deals with the blob like any other.
    pub content: Option<HashResult>,
    /// The blob it was read from, as a position (see [`Documents`]); set when it is added.
    at: u32,
}

impl LoadedDocument {
    /// A document read from a blob, and what hashing it gave.
    pub fn new(document: Option<Document>, content: Option<HashResult>) -> LoadedDocument {
        LoadedDocument {
            document,
            content,
            at: 0,
        }
    }
}

/// Which documents a descriptor asks the loader to read, and as what.
pub fn expect_for(descriptor: &Descriptor, is_config: bool) -> Option<Expect> {
    let media_type = descriptor.media_type.as_deref()?;
    match media_type::kind(media_type) {
        MediaKind::Index => Some(Expect::Index),
        MediaKind::Manifest if media_type == media_type::OCI_ARTIFACT_MANIFEST => {
            Some(Expect::ArtifactManifest)
        }
        MediaKind::Manifest => Some(Expect::Manifest),
        MediaKind::Config if is_config => Some(Expect::Config),
        _ => None,
    }
}

/// Every descriptor a document holds, with whether it is a manifest's config.
pub fn children(document: &Document) -> Vec<(&Descriptor, bool)> {
    match document {
        Document::Index(index) => index
            .manifests
            .iter()
            .chain(index.subject.as_deref())
            .map(|d| (d, false))
            .collect(),
        Document::Manifest(manifest) => manifest
            .descriptors()
            .map(|d| (d, d.pointer == "/config"))
            .collect(),
        Document::Config(_) => Vec::new(),
    }
}

/// One layout's documents, as the graph phase sees them.
pub struct Graph<'a> {
    /// The blobs its documents can name, and their keys.
    pub blobs: &'a dyn Lookup,
    /// Its parsed `index.json` (none in a Distribution root, whose roots are links).
    pub index_json: Option<&'a Index>,
    /// Path of `index.json`.
    pub index_path: &'a Key,
    /// Every document loaded from its blobs.
    pub docs: &'a Documents<'a>,
}

/// What `index.json` reaches.
pub struct Reachability {
    /// Every digest named by a descriptor of index.json or of a loaded document.
    pub reachable: HashSet<Digest>,
    /// Whether some present blob is named by a descriptor whose type cannot be read (no or
    /// an ungrammatical mediaType) or is not followed (Docker schema 1): what that blob
    /// references is unknown, so nothing can honestly be called unreferenced.
    pub opaque: bool,
}

impl Graph<'_> {
    /// Path of blob `digest`.
    fn blob_key(&self, digest: &Digest) -> Key {
        self.blobs.key_of(digest)
    }

    /// The image config a manifest names, when both were loaded and parsed.
    fn config_of(
        &self,
        manifest_digest: &Digest,
    ) -> Option<(&Digest, &crate::model::document::Config)> {
        let Some(Document::Manifest(manifest)) = &self.docs.get(manifest_digest)?.document else {
            return None;
        };
        let config_digest = manifest.config.as_ref()?.digest.as_ref()?;
        match &self.docs.get(config_digest)?.document {
            Some(Document::Config(config)) => Some((config_digest, config)),
            _ => None,
        }
    }

    /// Whether a manifest entry names an artifact rather than a runnable image: the entry
    /// has `artifactType`, or the manifest's config is not an image config (signatures,
    /// SBOMs, helm charts), or none of its layers is a filesystem changeset and its config
    /// names no platform (cosign's signatures, attestations and SBOMs carry an image
    /// config with an empty `os` and `architecture`, and a payload as their one "layer").
    /// Artifacts are not platform-specific.
    fn is_artifact(&self, entry: &Descriptor) -> bool {
        if entry.artifact_type().is_some() {
            return true;
        }
        let target = entry.digest.as_ref().and_then(|d| self.docs.get(d));
        let Some(LoadedDocument {
            document: Some(Document::Manifest(manifest)),
            ..
        }) = target
        else {
            return false;
        };
        if manifest.withdrawn_artifact() {
            return true;
        }
        let config_type = manifest
            .config
            .as_ref()
            .and_then(|c| c.media_type.as_deref());
        if config_type.is_some_and(|ty| media_type::kind(ty) != MediaKind::Config) {
            return true;
        }
        let layers = manifest.layers.as_deref().unwrap_or_default();
        let no_filesystem = !layers.is_empty()
            && layers.iter().all(|layer| {
                layer
                    .media_type
                    .as_deref()
                    .is_some_and(|ty| !media_type::is_filesystem_layer(ty))
            });
        let no_platform = || {
            let digest = entry.digest.as_ref();
            let platform = digest.and_then(|d| self.config_of(d)?.1.platform.clone());
            platform.is_none_or(|p| p.os.is_empty() && p.architecture.is_empty())
        };
        no_filesystem && no_platform()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::document::Config;

    #[test]
    fn documents_are_found_by_digest_inside_and_outside_the_inventory() {
        assert_eq!(std::mem::size_of::<LoadedDocument>(), 24);
        let digest = |byte: u8| Digest::sha256([byte; 32]);
        let inventory = Inventory::of_test_bytes(&[3, 1, 2]);
        let config = |ids: u32| {
            LoadedDocument::new(
                Some(Document::Config(Config {
                    platform: None,
                    diff_ids: Some(ids),
                })),
                Some(HashResult::Clean),
            )
        };
        let ids = |loaded: &LoadedDocument| match loaded.document {
            Some(Document::Config(Config { diff_ids, .. })) => diff_ids,
            _ => None,
        };
        let mut docs = Documents::new(&inventory);
        // 9 and 7 are outside the inventory; levels of more than `UNSORTED` documents
        // leave some sorted and some not.
        docs.extend(
            vec![(digest(3), config(3)), (digest(9), config(9))].into_par_iter(),
            |level| assert_eq!(level.len(), 2),
        );
        docs.extend(vec![(digest(1), config(1))].into_par_iter(), |_| ());
        let many: Vec<_> = (100..=200)
            .map(|byte| (digest(byte), config(byte.into())))
            .collect();
        docs.extend(many.into_par_iter(), |_| ());
        docs.extend(vec![(digest(7), config(7))].into_par_iter(), |_| ());
        for byte in [1, 3, 7, 9, 100, 150, 200] {
            let (found, loaded) = docs.get_key_value(&digest(byte)).expect("loaded");
            assert_eq!((found, ids(loaded)), (&digest(byte), Some(byte.into())));
        }
        assert!(!docs.contains_key(&digest(2)));
        assert!(!docs.contains_key(&digest(8)));
        docs.finish();
        assert_eq!(docs.values().count(), 105);
        for (found, loaded) in docs.iter() {
            assert_eq!(docs.get(found).map(ids), Some(ids(loaded)));
        }
        assert!(docs.get(&digest(150)).is_some() && docs.get(&digest(99)).is_none());
        // Of the inventory's blobs, 3 and 1 were loaded; the others are outside it.
        let inside: Vec<_> = docs.in_inventory().map(|(p, l)| (p, ids(l))).collect();
        let at = |byte: u8| inventory.position(&digest(byte)).unwrap();
        assert_eq!(inside, [(at(1), Some(1)), (at(3), Some(3))]);
        assert!(docs.is_kept_against(&inventory));
        assert!(!docs.is_kept_against(&Inventory::of_test_bytes(&[3, 1, 2])));
    }
}
