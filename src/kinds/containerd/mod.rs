//! containerd's root (`/var/lib/containerd`): its content store,
//! `io.containerd.content.v1.content` (`blobs/<alg>/<encoded>` as in a layout, and
//! `ingest/` for writes in progress), and its metadata, `io.containerd.metadata.v1.bolt/
//! meta.db`, read without containerd's lock ([`bolt`]) into namespaces ([`metadata`]).
//!
//! Each namespace is checked as a store whose roots are its images: their targets become
//! the entries of an index held in memory, named after the image and located at the
//! target's bucket in `meta.db`, and the graph checks layouts get run over the content
//! store. What only containerd has is checked here: content records against the blobs
//! they record, blobs no namespace records (containerd's garbage collection deletes
//! them, [`gc`]), ingests left behind, layers' uncompressed labels ([`uncompressed`]). A
//! layer containerd discarded after unpacking it (`discard_unpacked_layers`) is a fact of
//! such a store, shown with its image's coverage ([`discarded`]), not a missing blob. The
//! content store's directory alone is audited too, without what `meta.db` tells.

pub mod bolt;
mod discarded;
mod gc;
pub mod metadata;
mod uncompressed;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use crate::assemble::{BeforeVerify, BlobSet, StorePart};
use crate::backend::{Backend, Entry};
use crate::check::graph::Graph;
use crate::finding::{Finding, Location};
use crate::kinds::containerd::bolt::Bolt;
use crate::kinds::containerd::metadata::Namespace;
use crate::kinds::detect::{has, is_dir};
use crate::kinds::layout::gc::unreferenced;
use crate::kinds::layout::{Named, check_graph, listing};
use crate::kinds::{CheckOptions, Context, Kind, Look, Recognised, Store, Then};
use crate::model::coverage::Coverage;
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, DescriptorExtras, Index};
use crate::model::key::Key;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::model::supply_chain::SupplyChain;
use crate::model::{media_type, time};
use crate::rules::Rule;
use crate::store::{
    BlobPaths, Inventory, LayoutRoot, Lookup, OwnBlobs, Presence, StoreKind, list_or_finding,
    presence, read_error,
};

/// The content store's directory under containerd's root.
const CONTENT: &str = "io.containerd.content.v1.content";
/// The metadata plugin's directory under containerd's root.
const METADATA: &str = "io.containerd.metadata.v1.bolt";
/// Largest `meta.db` read; a busy node's is tens of megabytes.
const MAX_META_DB: u64 = 4 << 30;
/// Reads of `meta.db` before one shows no commit landing while it was read.
const META_DB_READS: usize = 5;

/// The containerd kind.
pub struct Containerd;

impl Kind for Containerd {
    fn name(&self) -> StoreKind {
        StoreKind::Containerd
    }

    /// containerd's root: the content store's directory beside the metadata plugin's.
    /// Nothing below is searched (snapshots hold whole file systems). Or the content
    /// store's directory alone: `blobs/` and no `index.json` or `oci-layout` (a
    /// layout's), in a directory named as containerd names it or beside `ingest/`, which
    /// containerd's local store creates when it starts (a copy may have lost it: git
    /// keeps no empty directory).
    fn recognise(
        &self,
        look: &Look,
        dir: &Key,
        entries: &[Entry],
        _findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        let root = has(entries, CONTENT, is_dir) && has(entries, METADATA, is_dir);
        let named = if dir.is_empty() {
            look.backend
                .describe()
                .trim_end_matches('/')
                .ends_with(CONTENT)
        } else {
            dir.file_name() == CONTENT.as_bytes()
        };
        let content_alone = has(entries, "blobs", is_dir)
            && (named || has(entries, "ingest", is_dir))
            && !entries
                .iter()
                .any(|e| matches!(&*e.name, b"index.json" | b"oci-layout"));
        (root || content_alone).then(|| Recognised {
            store: Box::new(ContainerdRoot {
                prefix: dir.clone(),
                content_alone,
            }),
            then: Then::Stop,
        })
    }

    /// containerd writes a blob's file before its record, and `meta.db` is read after the
    /// content store is listed: a blob committed in between is recorded but was not
    /// listed. (A deletion goes the other way, record first: no record is left
    /// without its file.)
    fn is_confirmable(&self, finding: &Finding) -> bool {
        finding.rule == Rule::ContainerdContentMissing
    }

    fn recheck(&self, backend: &dyn Backend, finding: &Finding) -> Option<String> {
        matches!(
            presence(backend, &finding.location.path),
            Presence::Present(..)
        )
        .then(|| "the blob is there now (written during the audit)".into())
    }
}

/// One containerd root found, or its content store's directory alone.
pub struct ContainerdRoot {
    /// Its directory relative to the audited root.
    pub prefix: Key,
    /// Whether `prefix` is the content store's directory, audited without `meta.db`.
    pub content_alone: bool,
}

impl ContainerdRoot {
    /// The content store, whose `blobs/` is laid out as a layout's.
    fn content(&self) -> LayoutRoot {
        LayoutRoot {
            prefix: if self.content_alone {
                self.prefix.clone()
            } else {
                self.prefix.join(CONTENT)
            },
        }
    }

    /// `meta.db`.
    fn meta_db(&self) -> Key {
        self.prefix.join(METADATA).join("meta.db")
    }
}

impl Store for ContainerdRoot {
    fn kind(&self) -> StoreKind {
        StoreKind::Containerd
    }

    fn path(&self) -> &Key {
        &self.prefix
    }

    fn audit(&self, cx: &Context) -> StorePart {
        audit_containerd(cx.backend, self, &cx.options)
    }
}

/// The content store, its ingests, `meta.db`, and each namespace's graph.
fn audit_containerd(
    backend: &dyn Backend,
    root: &ContainerdRoot,
    options: &CheckOptions,
) -> StorePart {
    let mut part = StorePart::new(StoreKind::Containerd, root.prefix.clone());
    let mut findings = Vec::new();
    let content = root.content();
    let inventory = listing::inventory(backend, &content, &mut findings).unwrap_or_default();
    ingests(
        backend,
        &content,
        options.upload_max_age,
        &mut part,
        &mut findings,
    );
    let meta_db = root.meta_db();
    let metadata = if root.content_alone {
        part.not_checked = Some(
            "images, content records, labels, leases and reclaimable bytes: the content \
             store was audited alone, its blobs and ingests without containerd's meta.db \
             (audit containerd's root for the rest)"
                .to_owned(),
        );
        None
    } else {
        read_metadata(backend, &meta_db, &mut findings)
    };
    let namespaces = metadata.as_deref().unwrap_or_default();
    let mut hashed = vec![BeforeVerify::ToHash; inventory.len()];
    // Blobs some namespace records and its collector keeps; and the manifests loaded in
    // each namespace, for its row of the reclaimable table.
    let mut kept_anywhere: HashSet<&Digest> = HashSet::new();
    let mut manifests = Vec::with_capacity(namespaces.len());
    for namespace in namespaces {
        let checked = check_namespace(
            backend,
            namespace,
            &inventory,
            &content,
            &meta_db,
            options,
            &mut findings,
        );
        kept_anywhere.extend(checked.kept);
        manifests.push(checked.manifests);
        for (mine, theirs) in hashed.iter_mut().zip(checked.hashed) {
            if *mine == BeforeVerify::ToHash {
                *mine = theirs;
            }
        }
        part.counters.documents += checked.documents;
        part.coverage.extend(checked.coverage);
        part.supply_chain.append(checked.supply_chain);
    }
    // What containerd's collector deletes: every blob no namespace keeps. Unknown when
    // meta.db could not be read.
    if metadata.is_some() {
        part.reclaimable = Some(sweep(
            root,
            &content,
            namespaces,
            &manifests,
            &inventory,
            &kept_anywhere,
            &mut findings,
        ));
    }
    let counters = &mut part.counters;
    counters.repositories = namespaces.len() as u64;
    counters.blobs = inventory.len() as u64;
    counters.bytes = inventory.bytes();
    for (before, (_, len)) in hashed.iter().zip(inventory.iter()) {
        if matches!(before, BeforeVerify::HashedAsDocument(_)) {
            counters.blobs_hashed += 1;
            counters.bytes_hashed += len;
        }
    }
    part.findings = findings;
    part.blobs.push(BlobSet {
        inventory,
        before: hashed,
        paths: Box::new(content),
    });
    part
}

/// What one namespace's checks leave for the store's totals.
struct NamespaceCheck<'n> {
    /// The blobs it records that its collector keeps.
    kept: Vec<&'n Digest>,
    /// Its manifests and indexes loaded.
    manifests: u64,
    /// What is known of each blob of the content store before the verify phase.
    hashed: Vec<BeforeVerify>,
    documents: u64,
    coverage: Vec<Coverage>,
    supply_chain: SupplyChain,
}

/// One namespace: its records against the blobs, its images' graph as containerd there
/// sees it, what its collector keeps, and its layers' uncompressed labels.
fn check_namespace<'n>(
    backend: &dyn Backend,
    namespace: &'n Namespace,
    inventory: &Inventory,
    content: &LayoutRoot,
    meta_db: &Key,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
) -> NamespaceCheck<'n> {
    check_records(namespace, inventory, content, meta_db, findings);
    let kept = gc::kept(namespace);
    let in_namespace: HashSet<&Digest> = namespace.content.iter().map(|r| &r.digest).collect();
    let lookup = NamespaceBlobs {
        own: OwnBlobs {
            inventory,
            paths: content,
        },
        recorded: &in_namespace,
    };
    // Which config holds each labelled layer's diff_id, read while the documents are.
    let labelled = RefCell::new(Vec::new());
    let discarded_layers = RefCell::new(HashMap::new());
    let inspect = |graph: &Graph| {
        uncompressed::labelled_layers(graph, namespace, &mut labelled.borrow_mut());
        *discarded_layers.borrow_mut() = discarded::per_image(graph, &in_namespace);
    };
    let named = Named {
        repository: &namespace.name,
        index_path: meta_db.clone(),
        inspect: Some(&inspect),
    };
    let mut found = Vec::new();
    let mut checked = check_graph(
        backend,
        &named,
        &lookup,
        Some(images_index(namespace)),
        true,
        options,
        &mut found,
    );
    findings.extend(
        found.into_iter().filter_map(|f| {
            as_namespace_sees(f, &namespace.name, &in_namespace, inventory, options)
        }),
    );
    discarded::show(&mut checked.coverage, discarded_layers.into_inner());
    unprotected(
        namespace,
        &checked.reachable,
        &kept,
        inventory,
        content,
        meta_db,
        findings,
    );
    uncompressed::check_uncompressed(
        backend,
        namespace,
        labelled.into_inner(),
        content,
        meta_db,
        options,
        findings,
    );
    NamespaceCheck {
        kept: kept
            .into_iter()
            .filter(|d| in_namespace.contains(*d))
            .collect(),
        manifests: checked.collection.manifests,
        hashed: checked.hashed,
        documents: checked.documents,
        coverage: checked.coverage,
        supply_chain: checked.supply_chain,
    }
}

/// The blobs one namespace can read: those of the content store it records. (A blob
/// another namespace records is on disk, but containerd does not serve it here.)
struct NamespaceBlobs<'a> {
    own: OwnBlobs<'a>,
    recorded: &'a HashSet<&'a Digest>,
}

impl Lookup for NamespaceBlobs<'_> {
    fn len_of(&self, digest: &Digest) -> Option<u64> {
        self.recorded
            .contains(digest)
            .then(|| self.own.len_of(digest))
            .flatten()
    }

    fn key_of(&self, digest: &Digest) -> Key {
        self.own.key_of(digest)
    }

    fn inventory(&self) -> &Inventory {
        self.own.inventory()
    }
}

/// Reads and parses `meta.db` until a read shows no transaction committed while it was
/// read (see [`Bolt::is_current`]); an unreadable file is a finding and `None`.
fn read_metadata(
    backend: &dyn Backend,
    meta_db: &Key,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Namespace>> {
    let unreadable = |what: String| {
        Finding::new(
            Rule::ContainerdMetadataUnreadable,
            Location::path(meta_db),
            what,
        )
    };
    let mut last = None;
    for _ in 0..META_DB_READS {
        let bytes = match backend.read_small(meta_db, MAX_META_DB) {
            Ok(bytes) => bytes,
            Err(error) if error.is_not_found() => {
                findings.push(unreadable(
                    "meta.db does not exist: no image, record or lease is checked".into(),
                ));
                return None;
            }
            Err(error) => {
                findings.push(read_error(meta_db, &error));
                return None;
            }
        };
        let db = match Bolt::parse(bytes) {
            Ok(db) => db,
            Err(error) => {
                findings.push(unreadable(format!("meta.db does not parse: {error}")));
                return None;
            }
        };
        // The meta pages say which transaction the file is at: the head is enough.
        let again = backend
            .read_head(meta_db, db.head_len())
            .unwrap_or_default();
        let current = db.is_current(&again);
        last = Some(db);
        if current {
            break;
        }
    }
    let db = last?;
    Some(metadata::read(&db, meta_db, findings))
}

/// `blob-unreferenced` for every blob no namespace keeps, and the reclaimable table: a
/// row per namespace (the garbage blobs it records) and the total (every garbage blob
/// once; `unlinked_bytes` those no namespace records).
fn sweep(
    root: &ContainerdRoot,
    content: &LayoutRoot,
    namespaces: &[Namespace],
    manifests: &[u64],
    inventory: &Inventory,
    kept: &HashSet<&Digest>,
    findings: &mut Vec<Finding>,
) -> (Vec<Reclaimable>, ReclaimableTotal) {
    let mut total = ReclaimableTotal::empty(false);
    let mut rows: Vec<Reclaimable> = namespaces
        .iter()
        .zip(manifests)
        .map(|(namespace, &manifests)| Reclaimable {
            store: root.prefix.clone(),
            repository: namespace.name.clone(),
            manifests,
            tags: namespace.images.len() as u64,
            layers: namespace.content.len() as u64,
            unused_manifests: 0,
            bytes: 0,
        })
        .collect();
    for (digest, len) in inventory.iter() {
        if kept.contains(digest) {
            continue;
        }
        total.blobs += 1;
        total.bytes += len;
        let recording: Vec<usize> = namespaces
            .iter()
            .enumerate()
            .filter(|(_, n)| n.content.binary_search_by(|r| r.digest.cmp(digest)).is_ok())
            .map(|(i, _)| i)
            .collect();
        let message = if recording.is_empty() {
            total.unlinked_bytes += len;
            format!(
                "no namespace of meta.db records it ({len} bytes); containerd's garbage collection deletes it"
            )
        } else {
            let names: Vec<&str> = recording
                .iter()
                .map(|&i| namespaces[i].name.as_str())
                .collect();
            format!(
                "recorded in {}, but no image, lease or gc.root label keeps it ({len} bytes); containerd's garbage collection deletes it",
                names.join(", ")
            )
        };
        for &i in &recording {
            rows[i].bytes += len;
        }
        findings.push(unreferenced(content, digest, len, message));
    }
    (rows, total)
}

/// `containerd-content-unprotected` for every blob an image of `namespace` needs (its
/// graph reaches it), that the namespace records and the store holds, but that its
/// collector does not keep: a label the puller should have set is missing.
fn unprotected(
    namespace: &Namespace,
    needed: &HashSet<Digest>,
    kept: &HashSet<&Digest>,
    inventory: &Inventory,
    content: &LayoutRoot,
    meta_db: &Key,
    findings: &mut Vec<Finding>,
) {
    for record in &namespace.content {
        let digest = &record.digest;
        if !needed.contains(digest) || kept.contains(digest) || inventory.get(digest).is_none() {
            continue;
        }
        let pointer = namespace.record_pointer(digest, &[]);
        findings.push(Finding::new(
            Rule::ContainerdContentUnprotected,
            Location::path(content.blob_key(digest))
                .with_digest(Some(digest.clone()))
                .via(meta_db, pointer),
            format!(
                "an image of namespace {} needs it, but no containerd.io/gc.ref label, lease or gc.root keeps it: containerd's next garbage collection deletes it",
                namespace.name
            ),
        ));
    }
}

/// A namespace's images as an index: each target an entry named after its image and
/// located at its bucket in `meta.db`.
fn images_index(namespace: &Namespace) -> Index {
    let manifests = namespace
        .images
        .iter()
        .map(|image| Descriptor {
            pointer: image.pointer.as_str().into(),
            media_type: media_type::is_valid(&image.media_type)
                .then(|| image.media_type.as_str().into()),
            digest: Some(image.digest.clone()),
            size: image.size.into(),
            extras: Some(Box::new(DescriptorExtras {
                ref_name: Some(image.name.clone()),
                ..DescriptorExtras::default()
            })),
            ..Descriptor::default()
        })
        .collect();
    Index {
        manifests,
        ..Index::default()
    }
}

/// A graph finding of namespace `name` as containerd there sees it. A blob the namespace
/// does not record is missing to it: a layer so is one containerd discarded once unpacked
/// (`discard_unpacked_layers`), a fact of the store and no finding unless
/// `--require-layers`; anything else whose file another namespace keeps is
/// `containerd-content-unrecorded`.
fn as_namespace_sees(
    finding: Finding,
    name: &str,
    recorded: &HashSet<&Digest>,
    inventory: &Inventory,
    options: &CheckOptions,
) -> Option<Finding> {
    if finding.rule != Rule::DescriptorBlobMissing {
        return Some(finding);
    }
    let Some(digest) = finding
        .location
        .digest
        .as_ref()
        .filter(|d| !recorded.contains(d))
    else {
        return Some(finding);
    };
    let layer = finding
        .location
        .via
        .as_ref()
        .is_some_and(|via| via.pointer.starts_with("/layers/"));
    if layer {
        return options.require_layers.then_some(finding);
    }
    if inventory.get(digest).is_none() {
        return Some(finding);
    }
    let message = format!(
        "namespace {name} does not record it (another namespace does): containerd cannot read it there"
    );
    Some(Finding::new(
        Rule::ContainerdContentUnrecorded,
        finding.location,
        message,
    ))
}

/// Each content record of `namespace` against the blob it records.
fn check_records(
    namespace: &Namespace,
    inventory: &Inventory,
    content: &LayoutRoot,
    meta_db: &Key,
    findings: &mut Vec<Finding>,
) {
    for record in &namespace.content {
        let at = || {
            let pointer = namespace.record_pointer(&record.digest, &[]);
            Location::path(content.blob_key(&record.digest))
                .with_digest(Some(record.digest.clone()))
                .via(meta_db, pointer)
        };
        match (inventory.get(&record.digest), record.size) {
            (None, _) => findings.push(Finding::new(
                Rule::ContainerdContentMissing,
                at(),
                format!(
                    "namespace {} records it, but the content store does not hold it",
                    namespace.name
                ),
            )),
            (Some(len), Some(size)) if len != size => findings.push(
                Finding::new(
                    Rule::ContainerdContentSizeMismatch,
                    at(),
                    format!(
                        "namespace {} records {size} bytes, the blob holds {len}",
                        namespace.name
                    ),
                )
                .expected_found(size, len),
            ),
            _ => {}
        }
    }
}

/// Each ingest under the content store's `ingest/`: counted as an upload, and a finding
/// when nothing has written to it for longer than `max_age` (its `updatedat`).
fn ingests(
    backend: &dyn Backend,
    content: &LayoutRoot,
    max_age: Duration,
    part: &mut StorePart,
    findings: &mut Vec<Finding>,
) {
    let dir = content.key("ingest");
    if backend.stat(&dir).is_err() {
        return;
    }
    let Some(entries) = list_or_finding(backend, &dir, findings) else {
        return;
    };
    for entry in entries.iter().filter(|e| e.is_dir()) {
        let ingest = dir.join(&entry.name);
        let bytes = backend.stat(&ingest.join("data")).map_or(0, |s| s.len);
        part.counters.uploads += 1;
        part.counters.upload_bytes += bytes;
        let updated = backend
            .read_small(&ingest.join("updatedat"), 256)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| time::parse_rfc3339(t.trim()))
            .and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| std::time::UNIX_EPOCH + Duration::from_secs(secs));
        let Some(updated) = updated else {
            continue;
        };
        let age = SystemTime::now()
            .duration_since(updated)
            .unwrap_or_default();
        if age > max_age {
            findings.push(
                Finding::new(
                    Rule::ContainerdIngestStale,
                    Location::path(&ingest),
                    format!("an ingest never finished ({bytes} bytes)"),
                )
                .expected_found(
                    format!("written within {}", time::age_text(max_age)),
                    format!(
                        "last written {}",
                        humantime::format_rfc3339_seconds(updated)
                    ),
                )
                .with_bytes(bytes),
            );
        }
    }
}
