//! The graph phase: every descriptor of every document checked against the blob it names
//! (present, size, media type against the document found there), reachability for
//! unreferenced blobs, nested-index cycles, index/config cross-checks and platform
//! coverage. In memory and sequential: the documents were loaded by the previous phase.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::check::document::Expect;
use crate::finding::{Finding, Location};
use crate::hash::HashResult;
use crate::model::coverage::{Coverage, CoverageShare, Covered, Exceptions};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, Index};
use crate::model::key::Key;
use crate::model::media_type::{self, MediaKind};
use crate::model::platform::Platform;
use crate::rules::Rule;
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

/// What a descriptor is to the document holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// An entry of a layout's `index.json`: a tag.
    Tag,
    /// An entry of an index's `manifests`.
    Child,
    /// A manifest's `config`.
    Config,
    /// A manifest's layer (or an artifact manifest's blob).
    Blob,
    /// A `subject`.
    Subject,
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

fn has_unreadable_type(descriptor: &Descriptor) -> bool {
    match descriptor.media_type.as_deref() {
        None => true,
        Some(ty) => !media_type::is_valid(ty) || media_type::kind(ty) == MediaKind::Schema1,
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

impl Graph<'_> {
    fn blob_key(&self, digest: &Digest) -> Key {
        self.blobs.key_of(digest)
    }

    /// Path of the document holding an edge: `index.json` (`None`) or a blob.
    fn referrer_key(&self, referrer: Option<&Digest>) -> Key {
        match referrer {
            Some(digest) => self.blob_key(digest),
            None => self.index_path.clone(),
        }
    }

    /// Every (referrer, descriptor, role) edge of the store; the referrer is `None` for
    /// `index.json`, else the digest of the document holding the descriptor.
    /// (An iterator: a registry has an edge per config and layer.)
    fn edges(&self) -> impl Iterator<Item = (Option<&Digest>, &Descriptor, Role)> {
        let index_json = self.index_json.into_iter().flat_map(|index| {
            let entries = index.manifests.iter().map(|d| (None, d, Role::Tag));
            let subject = index.subject.as_deref().map(|d| (None, d, Role::Subject));
            entries.chain(subject)
        });
        let documents = self.docs.iter().flat_map(|(referrer, loaded)| {
            let document = loaded.document.as_ref();
            document
                .into_iter()
                .flat_map(children)
                .map(move |(d, is_config)| {
                    let role = if d.pointer == "/subject" {
                        Role::Subject
                    } else if is_config {
                        Role::Config
                    } else if matches!(document, Some(Document::Index(_))) {
                        Role::Child
                    } else {
                        Role::Blob
                    };
                    (Some(referrer), d, role)
                })
        });
        index_json.chain(documents)
    }

    /// Checks every edge and returns what is reachable from `index.json`.
    pub fn check_edges(&self, findings: &mut Vec<Finding>) -> Reachability {
        let mut reachable = HashSet::new();
        let opaque = self.visit_edges(findings, |digest| {
            reachable.insert(digest.clone());
        });
        Reachability { reachable, opaque }
    }

    /// Checks every edge and keeps nothing of what they reach: a Distribution root judges
    /// reachability through its links, and a set of every digest would be its largest
    /// structure.
    pub fn check_edge_findings(&self, findings: &mut Vec<Finding>) {
        self.visit_edges(findings, |_| {});
    }

    /// Checks every edge, handing each digest named to `reached`; returns whether the
    /// graph is opaque (see [`Reachability::opaque`]).
    fn visit_edges(&self, findings: &mut Vec<Finding>, mut reached: impl FnMut(&Digest)) -> bool {
        let mut opaque = false;
        for (referrer, descriptor, role) in self.edges() {
            let Some(digest) = &descriptor.digest else {
                continue;
            };
            reached(digest);
            let location = || {
                Location::path(self.blob_key(digest))
                    .with_digest(Some(digest.clone()))
                    .via(self.referrer_key(referrer), &*descriptor.pointer)
            };
            let Some(blob) = self.blobs.len_of(digest) else {
                if self.blobs.is_accounted(digest) {
                    continue;
                }
                let (rule, message) = if role == Role::Subject {
                    (
                        Rule::SubjectMissing,
                        "subject names a manifest that is not in the store",
                    )
                } else if descriptor.has_urls() {
                    (
                        Rule::DescriptorBlobExternal,
                        "blob is not in the store; the descriptor lists urls to fetch it from",
                    )
                } else if role == Role::Child {
                    (
                        Rule::IndexManifestMissing,
                        "index entry names a manifest that is not in the store (a sparse index)",
                    )
                } else {
                    (
                        Rule::DescriptorBlobMissing,
                        "descriptor names a blob that is not in the store",
                    )
                };
                findings.push(Finding::new(rule, location(), message));
                continue;
            };
            opaque |= has_unreadable_type(descriptor);
            if let Some(size) = descriptor.size() {
                if size != blob {
                    findings.push(
                        Finding::new(
                            Rule::DescriptorSizeMismatch,
                            location(),
                            "descriptor size differs from the blob's length",
                        )
                        .expected_found(size, blob),
                    );
                }
            }
            if let Some(loaded) = self.docs.get(digest) {
                check_media_type(descriptor, role == Role::Config, loaded, location, findings);
            }
        }
        opaque
    }

    /// Nested indexes that lead back to themselves.
    pub fn check_cycles(&self, findings: &mut Vec<Finding>) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        let mut marks: HashMap<&Digest, Mark> = HashMap::new();
        let mut starts: Vec<&Digest> = self
            .docs
            .iter()
            .filter(|(_, l)| matches!(l.document, Some(Document::Index(_))))
            .map(|(d, _)| d)
            .collect();
        starts.sort();
        for start in starts {
            if marks.contains_key(start) {
                continue;
            }
            // Iterative DFS: (node, next child position).
            let mut stack: Vec<(&Digest, usize)> = vec![(start, 0)];
            marks.insert(start, Mark::Active);
            while let Some((node, position)) = stack.last_mut() {
                let Some(Document::Index(index)) =
                    self.docs.get(node).and_then(|l| l.document.as_ref())
                else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                let Some(child) = index.manifests.get(*position) else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                *position += 1;
                let Some(target) = &child.digest else {
                    continue;
                };
                let Some((target, target_doc)) = self.docs.get_key_value(target) else {
                    continue;
                };
                if !matches!(target_doc.document, Some(Document::Index(_))) {
                    continue;
                }
                match marks.get(target) {
                    Some(Mark::Active) => findings.push(Finding::new(
                        Rule::IndexCycle,
                        Location::path(self.blob_key(target))
                            .with_digest(Some(target.clone()))
                            .via(self.blob_key(node), &*child.pointer),
                        "index entry leads back to an index that contains it",
                    )),
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(target, Mark::Active);
                        stack.push((target, 0));
                    }
                }
            }
        }
    }

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

    /// Index platforms against image configs; diff_ids against layers.
    pub fn check_consistency(&self, findings: &mut Vec<Finding>) {
        for (digest, loaded) in self.docs.iter() {
            match &loaded.document {
                Some(Document::Index(index)) => {
                    for entry in &index.manifests {
                        self.check_platform_present(digest, entry, findings);
                        let (Some(claimed), Some(target)) = (&entry.platform, &entry.digest) else {
                            continue;
                        };
                        if entry.is_attestation_entry() {
                            continue;
                        }
                        let Some((_, config)) = self.config_of(target) else {
                            continue;
                        };
                        let Some(actual) = &config.platform else {
                            continue;
                        };
                        let variants_differ = matches!((&claimed.variant, &actual.variant), (Some(a), Some(b)) if a != b);
                        if claimed.os != actual.os
                            || claimed.architecture != actual.architecture
                            || variants_differ
                        {
                            findings.push(
                                Finding::new(
                                    Rule::IndexPlatformMismatch,
                                    Location::path(self.blob_key(target))
                                        .with_digest(Some(target.clone()))
                                        .via(self.blob_key(digest), &*entry.pointer),
                                    "index entry's platform differs from the image config's",
                                )
                                .expected_found(claimed, actual),
                            );
                        }
                    }
                }
                Some(Document::Manifest(manifest)) => {
                    let Some((_, config)) = self.config_of(digest) else {
                        continue;
                    };
                    // diff_ids count filesystem changesets; when a manifest carries other
                    // "layers" (in-toto statements of an attestation) there is no
                    // one-to-one relation to check.
                    let Some(layers) = &manifest.layers else {
                        continue;
                    };
                    let all_filesystem = layers.iter().all(|l| {
                        l.media_type
                            .as_deref()
                            .is_some_and(media_type::is_filesystem_layer)
                    });
                    if let Some(diff_ids) = config.diff_ids.filter(|_| all_filesystem) {
                        if diff_ids as usize != layers.len() {
                            findings.push(
                                Finding::new(
                                    Rule::ConfigDiffIdsMismatch,
                                    Location::path(self.blob_key(digest))
                                        .with_digest(Some(digest.clone()))
                                        .via(self.blob_key(digest), "/layers"),
                                    "manifest layers and config rootfs.diff_ids differ in number",
                                )
                                .expected_found(format!("{} diff_ids", layers.len()), diff_ids),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// image-index.md: platform "SHOULD be present if its target is platform-specific". An
    /// image manifest is; an artifact (an entry with `artifactType`, or a manifest whose
    /// config is not an image config: signatures, SBOMs) is not.
    fn check_platform_present(
        &self,
        index_digest: &Digest,
        entry: &Descriptor,
        findings: &mut Vec<Finding>,
    ) {
        let names_manifest = entry
            .media_type
            .as_deref()
            .is_some_and(|ty| media_type::kind(ty) == MediaKind::Manifest);
        if entry.platform.is_some()
            || entry.is_attestation_entry()
            || !names_manifest
            || self.is_artifact(entry)
        {
            return;
        }
        findings.push(Finding::new(
            Rule::IndexPlatformMissing,
            Location::path(self.blob_key(index_digest))
                .with_digest(Some(index_digest.clone()))
                .via(self.blob_key(index_digest), &*entry.pointer),
            "index entry names an image manifest but has no platform",
        ));
    }

    /// Whether a manifest entry names an artifact rather than a runnable image: the entry
    /// has `artifactType`, or the manifest's config is not an image config (signatures,
    /// SBOMs, helm charts). Artifacts are not platform-specific.
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
        config_type.is_some_and(|ty| media_type::kind(ty) != MediaKind::Config)
    }

    /// Platform coverage of every `index.json` entry.
    pub fn coverage(&self) -> Vec<Coverage> {
        let Some(index) = self.index_json else {
            return Vec::new();
        };
        let mut share = CoverageShare::default();
        index
            .manifests
            .iter()
            .filter_map(|entry| {
                let digest = entry.digest.as_ref()?;
                let root = entry
                    .ref_name()
                    .map_or_else(|| digest.to_string(), str::to_owned);
                let covered = self.covered(entry, &mut share)?;
                let pointer = entry.pointer.to_string();
                Some(covered.at(root, self.index_path.clone(), pointer, digest.clone()))
            })
            .collect()
    }

    /// What one root covers: an `index.json` entry, or a tag of a Distribution
    /// repository (given as a descriptor of the document it points at). `None` when the
    /// entry names neither an index nor a manifest, or its document was not loaded.
    pub fn covered(&self, entry: &Descriptor, share: &mut CoverageShare) -> Option<Covered> {
        let digest = entry.digest.as_ref()?;
        let kind = media_type::kind(entry.media_type.as_deref()?);
        if !matches!(kind, MediaKind::Index | MediaKind::Manifest) {
            return None;
        }
        let mut platforms = Vec::new();
        let mut exceptions = Exceptions::default();
        match &self.docs.get(digest).and_then(|l| l.document.as_ref()) {
            Some(Document::Index(_)) => {
                self.collect(digest, &mut platforms, &mut exceptions);
            }
            Some(Document::Manifest(_)) => {
                let platform = entry.platform.as_deref().cloned().or_else(|| {
                    self.config_of(digest)
                        .and_then(|(_, c)| c.platform.as_deref().cloned())
                });
                match platform {
                    Some(p) => platforms.push(p),
                    None if self.is_artifact(entry) => exceptions.artifacts.push(digest.clone()),
                    None => exceptions.without_platform.push(digest.clone()),
                }
            }
            _ => return None,
        }
        Some(Covered {
            platforms: share.platforms(platforms),
            exceptions: share.exceptions(exceptions),
        })
    }

    /// Walks an index depth-first, in entry order, with an explicit stack: nesting depth
    /// is attacker-controlled, so recursion could overflow a worker thread's stack.
    fn collect(&self, root: &Digest, platforms: &mut Vec<Platform>, exceptions: &mut Exceptions) {
        let index_of =
            |digest: &Digest| match self.docs.get(digest).and_then(|l| l.document.as_ref()) {
                Some(Document::Index(index)) => Some(index.as_ref()),
                _ => None,
            };
        let mut visited: HashSet<&Digest> = HashSet::from([root]);
        // Platforms seen, and those already listed as duplicates: sets, so an index of
        // hundreds of entries is not a quadratic scan of the coverage lists.
        let mut seen: HashSet<&Platform> = HashSet::new();
        let mut duplicated: HashSet<&Platform> = HashSet::new();
        let Some(first) = index_of(root) else { return };
        let mut stack: Vec<(&Index, usize)> = vec![(first, 0)];
        while let Some((index, position)) = stack.last_mut() {
            let Some(entry) = index.manifests.get(*position) else {
                stack.pop();
                continue;
            };
            *position += 1;
            let Some(digest) = &entry.digest else {
                continue;
            };
            let kind = entry.media_type.as_deref().map(media_type::kind);
            let is_image = matches!(kind, Some(MediaKind::Index | MediaKind::Manifest));
            if is_image && self.blobs.len_of(digest).is_none() {
                // A sparse index: the platform is listed, its image is not here.
                exceptions.missing.push(digest.clone());
                if let Some(p) = entry
                    .platform
                    .as_ref()
                    .filter(|_| !entry.is_attestation_entry())
                {
                    exceptions.missing_platforms.push(Platform::clone(p));
                }
                continue;
            }
            match kind {
                Some(MediaKind::Index) if visited.insert(digest) => {
                    if let Some(nested) = index_of(digest) {
                        stack.push((nested, 0));
                    }
                }
                Some(MediaKind::Manifest) => match entry.platform.as_deref() {
                    _ if entry.is_attestation_entry() => {
                        exceptions.attestations.push(digest.clone())
                    }
                    Some(p) if seen.insert(p) => platforms.push(p.clone()),
                    Some(p) => {
                        if duplicated.insert(p) {
                            exceptions.duplicates.push(p.clone());
                        }
                    }
                    None if self.is_artifact(entry) => exceptions.artifacts.push(digest.clone()),
                    None => exceptions.without_platform.push(digest.clone()),
                },
                _ => {}
            }
        }
    }
}

/// The descriptor's mediaType against the document found at its digest: its own
/// `mediaType`, and whether it is an index or a manifest.
fn check_media_type(
    descriptor: &Descriptor,
    is_config: bool,
    loaded: &LoadedDocument,
    location: impl Fn() -> Location,
    findings: &mut Vec<Finding>,
) {
    let Some(claimed) = descriptor.media_type.as_deref() else {
        return;
    };
    let Some(document) = &loaded.document else {
        return;
    };
    let (actual_kind, own_type) = match document {
        Document::Index(index) => (MediaKind::Index, index.media_type.as_deref()),
        Document::Manifest(manifest) => (MediaKind::Manifest, manifest.media_type.as_deref()),
        Document::Config(_) => return,
    };
    let claimed_kind = media_type::kind(claimed);
    if is_config || !matches!(claimed_kind, MediaKind::Index | MediaKind::Manifest) {
        return;
    }
    if let Some(own) = own_type {
        if own != claimed {
            // Same kind (OCI against Docker): the shapes agree, so a warning, as
            // media-types.md allows. Index against manifest: the CVE-2021-41190 confusion.
            let (rule, message) = if media_type::kind(own) == claimed_kind {
                (
                    Rule::DescriptorMediaTypeVariant,
                    "descriptor mediaType differs from the document's own mediaType of the same kind",
                )
            } else {
                (
                    Rule::DescriptorMediaTypeMismatch,
                    "descriptor mediaType differs from the document's own mediaType",
                )
            };
            findings.push(Finding::new(rule, location(), message).expected_found(claimed, own));
        }
    } else if claimed_kind != actual_kind {
        let shape = if actual_kind == MediaKind::Index {
            "an index"
        } else {
            "a manifest"
        };
        findings.push(
            Finding::new(
                Rule::DescriptorMediaTypeMismatch,
                location(),
                format!("descriptor says {claimed} but the document is shaped as {shape}"),
            )
            .expected_found(claimed, shape),
        );
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
