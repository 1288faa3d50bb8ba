//! One zot root: each repository audited as a layout whose blobs are resolved across the
//! root (0-byte markers to their full copies, what the repository lacks to `_blobstore`),
//! `_blobstore` as a content store that no index names, and uploads in progress.
//!
//! A `_blobstore` blob is referenced when any repository's graph names its digest. One that
//! nobody names is an orphan: zot removes a `_blobstore` copy only when the last repository
//! drops the digest (`deleteBlobChecked`), so an orphan stays until removed by hand.

pub mod listing;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::assemble::{BeforeVerify, StorePart};
use crate::backend::{Backend, Entry};
use crate::check::document::Expect;
use crate::finding::{Finding, Location};
use crate::kinds::detect::Found;
use crate::kinds::layout::gc::{self, unreferenced};
use crate::kinds::layout::is_layout;
use crate::kinds::layout::listing as layout;
use crate::kinds::layout::{LayoutAudit, ReadElsewhere, check_layout};
use crate::kinds::zot::listing::{self as zot, FullCopies, Resolved, ZotLookup, ZotRoot};
use crate::kinds::{CheckOptions, Context, Kind, Look, Recognised, Store, Then};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::model::time;
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory, LayoutRoot, OwnBlobs, StoreKind};

/// The zot kind.
pub struct Zot;

impl Kind for Zot {
    fn name(&self) -> StoreKind {
        StoreKind::Zot
    }

    /// A directory with zot's own files that is not itself a layout: its repositories are
    /// found by [`zot::find`], `_blobstore` apart.
    fn recognise(
        &self,
        look: &Look,
        dir: &Key,
        entries: &[Entry],
        findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        if !zot::has_zot_files(entries) || is_layout(look.backend, dir, entries) {
            return None;
        }
        Some(Recognised {
            store: Box::new(zot::find(look.backend, dir, findings)),
            then: Then::Stop,
        })
    }

    /// Released zot without deduplication leaves no file of its own at the root, but every
    /// repository it made has an `.uploads` directory: a tree of only layouts, not itself
    /// a layout, with one such repository is a zot root.
    fn recognise_tree(&self, look: &Look, root_entries: &[Entry], found: &mut Found) {
        let root = Key::root();
        let only_layouts = found
            .stores
            .iter()
            .all(|s| s.kind() == StoreKind::OciLayout);
        if only_layouts
            && !is_layout(look.backend, &root, root_entries)
            && found
                .stores
                .iter()
                .any(|layout| zot::has_uploads_dir(look.backend, layout.path()))
        {
            let zot = zot::find(look.backend, &root, &mut found.findings);
            found.stores = vec![Box::new(zot)];
        }
    }

    fn assume(
        &self,
        look: &Look,
        dir: &Key,
        findings: &mut Vec<Finding>,
    ) -> Option<Box<dyn Store>> {
        Some(Box::new(zot::find(look.backend, dir, findings)))
    }
}

impl Store for ZotRoot {
    fn kind(&self) -> StoreKind {
        StoreKind::Zot
    }

    fn path(&self) -> &Key {
        &self.prefix
    }

    fn audit(&self, cx: &Context) -> StorePart {
        audit_zot(cx.backend, self, &cx.options)
    }
}

/// What zot's garbage collection does with a repository blob nothing reaches.
const REPOSITORY_GC: &str =
    "; zot's garbage collection deletes it once it is older than gcDelay (default 1h)";

/// Inventories, repositories, `_blobstore` and uploads of one zot root.
fn audit_zot(backend: &dyn Backend, zot: &ZotRoot, options: &CheckOptions) -> StorePart {
    let mut part = StorePart::new(StoreKind::Zot, zot.prefix.clone());
    let mut findings = Vec::new();
    // `_blobstore` first: its copies are the ones markers resolve to.
    let layouts: Vec<&LayoutRoot> = zot.blobstore.iter().chain(&zot.repositories).collect();
    let listed: Vec<(Inventory, Vec<Finding>)> = layouts
        .par_iter()
        .map(|root| {
            let mut found = Vec::new();
            let inventory = layout::inventory(backend, root, &mut found).unwrap_or_default();
            (inventory, found)
        })
        .collect();
    let pairs: Vec<(&LayoutRoot, &Inventory)> = layouts
        .iter()
        .copied()
        .zip(listed.iter().map(|(inventory, _)| inventory))
        .collect();
    let copies = FullCopies::new(&pairs);
    let blobstore = zot.blobstore.as_ref().map(|root| (root, &listed[0].0));
    let repositories = &listed[usize::from(blobstore.is_some())..];
    let audited: Vec<RepositoryAudit> = zot
        .repositories
        .par_iter()
        .zip(repositories)
        .map(|(repository, (inventory, found))| {
            audit_repository(
                backend, zot, repository, inventory, found, &copies, blobstore, options,
            )
        })
        .collect();
    drop(copies);
    let mut uploads = 0;
    let mut upload_bytes = 0;
    for repository in &zot.repositories {
        for upload in zot::uploads(backend, repository) {
            uploads += 1;
            upload_bytes += upload.bytes;
            check_upload(&upload, options.upload_max_age, &mut findings);
        }
    }
    let mut named: Option<HashSet<Digest>> = Some(HashSet::new());
    let mut result: Vec<LayoutAudit> = Vec::with_capacity(listed.len());
    let mut listed = listed.into_iter();
    let blobstore_listed = zot.blobstore.as_ref().and_then(|_| listed.next());
    let mut read_elsewhere = Vec::new();
    // The inventories move into the audits once nothing resolves through them any more.
    for ((mut audit, reachable, mut read), (inventory, _)) in audited.into_iter().zip(listed) {
        read_elsewhere.append(&mut read);
        match (&mut named, reachable) {
            (Some(named), Some(reachable)) => named.extend(reachable),
            _ => named = None,
        }
        audit.inventory = inventory;
        result.push(audit);
    }
    if let (Some(root), Some((inventory, found))) = (&zot.blobstore, blobstore_listed) {
        result.push(audit_blobstore(
            backend,
            zot,
            root,
            inventory,
            named.as_ref(),
            options,
            found,
        ));
    }
    part.counters.repositories = zot.repositories.len() as u64;
    part.counters.uploads = uploads;
    part.counters.upload_bytes = upload_bytes;
    part.findings = findings;
    mark_hashed_elsewhere(&mut result, read_elsewhere);
    for layout in result {
        layout.add_to(&mut part);
    }
    part
}

/// A repository's audit, every digest its graph names (`None` when that is not known for
/// sure), and the documents it read from another layout's blob.
type RepositoryAudit = (LayoutAudit, Option<HashSet<Digest>>, Vec<ReadElsewhere>);

/// Marks the blobs that repositories read as documents from another layout of the root
/// (a marker's full copy, `_blobstore`'s copy of what a repository lacks) as hashed
/// where they live, so that the verify phase does not hash them again, and counts their
/// bytes there, once, however many repositories read them.
fn mark_hashed_elsewhere(layouts: &mut [LayoutAudit], read: Vec<ReadElsewhere>) {
    if read.is_empty() {
        return;
    }
    let by_prefix: HashMap<Key, usize> = layouts
        .iter()
        .enumerate()
        .map(|(i, audit)| (audit.layout.prefix.clone(), i))
        .collect();
    for ReadElsewhere {
        key,
        digest,
        result,
        len,
    } in read
    {
        // `<prefix>/blobs/<alg>/<encoded>`, or `blobs/<alg>/<encoded>` at the root.
        let prefix = key
            .parent()
            .and_then(|dir| dir.parent())
            .map(|blobs| blobs.parent().unwrap_or_default());
        let Some(&i) = prefix.as_ref().and_then(|prefix| by_prefix.get(prefix)) else {
            continue;
        };
        let audit = &mut layouts[i];
        if audit.layout.blob_key(&digest) != key {
            continue;
        }
        // Once: the first read marks it; the layout that holds it may have hashed it as
        // its own document already.
        if let Some(position) = audit.inventory.position(&digest) {
            if audit.hashed[position] == BeforeVerify::ToHash {
                audit.hashed[position] = BeforeVerify::HashedAsDocument(result);
                audit.bytes_hashed += len;
            }
        }
    }
}

/// One repository: its blobs resolved across the root, then checked as a layout. Returns
/// the audit, every digest its graph names (`None` when that is not known for sure), and
/// the documents it read from another layout's blob.
#[allow(clippy::too_many_arguments)]
fn audit_repository(
    backend: &dyn Backend,
    zot: &ZotRoot,
    repository: &LayoutRoot,
    inventory: &Inventory,
    listing_findings: &[Finding],
    copies: &FullCopies,
    blobstore: Option<(&LayoutRoot, &Inventory)>,
    options: &CheckOptions,
) -> RepositoryAudit {
    let mut findings = listing_findings.to_vec();
    let markers: HashMap<Digest, Resolved> = copies.resolve(repository, inventory, &mut findings);
    let lookup = ZotLookup {
        repository,
        inventory,
        markers: &markers,
        blobstore,
    };
    let checked = check_layout(
        backend,
        repository,
        &lookup,
        Expect::ZotIndex,
        options,
        &mut findings,
    );
    let reclaimable = gc::sweep(
        &zot.prefix,
        repository,
        inventory,
        checked.kept(),
        checked.complete,
        &checked.collection,
        options.untagged,
        REPOSITORY_GC,
        &mut findings,
    );
    // A marker's content is hashed where it lives, not here.
    let mut hashed = checked.hashed;
    for digest in markers.keys() {
        if let Some(i) = inventory.position(digest) {
            hashed[i] = BeforeVerify::HashedElsewhere;
        }
    }
    let audit = LayoutAudit {
        layout: repository.clone(),
        documents: checked.documents,
        hashed,
        // Moved in by the caller, once every repository is resolved.
        inventory: Inventory::default(),
        coverage: checked.coverage,
        supply_chain: checked.supply_chain,
        findings,
        bytes_hashed: checked.bytes_hashed,
        reclaimable,
    };
    let reachable = checked.complete.then_some(checked.reachable);
    (audit, reachable, checked.read_elsewhere)
}

/// `_blobstore`: its `oci-layout` and `index.json` (which names nothing), and the blobs no
/// repository names. `named` is every digest the repositories' graphs name, or `None`
/// when some repository's graph is not known for sure (then no blob is called an orphan).
fn audit_blobstore(
    backend: &dyn Backend,
    zot: &ZotRoot,
    root: &LayoutRoot,
    inventory: Inventory,
    named: Option<&HashSet<Digest>>,
    options: &CheckOptions,
    mut findings: Vec<Finding>,
) -> LayoutAudit {
    let own = OwnBlobs {
        inventory: &inventory,
        paths: root,
    };
    let checked = check_layout(
        backend,
        root,
        &own,
        Expect::ZotIndex,
        options,
        &mut findings,
    );
    // What no repository names: removed by hand, not by zot. Without `named`, every
    // blob is counted, an upper bound.
    let mut total = ReclaimableTotal::empty(options.untagged);
    total.complete = named.is_some();
    for (digest, len) in inventory.iter() {
        if named.is_some_and(|named| named.contains(digest)) {
            continue;
        }
        total.blobs += 1;
        total.bytes += len;
        if named.is_some() {
            let message = format!(
                "no repository of the zot root names it ({len} bytes); zot does not collect _blobstore orphans, so it stays until removed by hand"
            );
            findings.push(unreferenced(root, digest, len, message));
        }
    }
    total.unlinked_bytes = total.bytes;
    let row = Reclaimable {
        store: zot.prefix.clone(),
        repository: gc::name_in(&zot.prefix, root),
        manifests: 0,
        tags: 0,
        layers: inventory.len() as u64,
        unused_manifests: 0,
        bytes: total.bytes,
    };
    LayoutAudit {
        layout: root.clone(),
        hashed: checked.hashed,
        documents: checked.documents,
        inventory,
        coverage: checked.coverage,
        supply_chain: checked.supply_chain,
        findings,
        bytes_hashed: checked.bytes_hashed,
        reclaimable: (row, total),
    }
}

/// An upload zot has not touched for longer than `max_age`. zot purges uploads older than
/// its `gcDelay` (default 1h) when garbage collection is on; one older than `max_age`
/// means collection is off or failing.
fn check_upload(upload: &zot::Upload, max_age: Duration, findings: &mut Vec<Finding>) {
    let Some(modified_ns) = upload.modified_ns else {
        return;
    };
    let modified = UNIX_EPOCH + Duration::from_nanos(u64::try_from(modified_ns).unwrap_or(0));
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age <= max_age {
        return;
    }
    findings.push(
        Finding::new(
            Rule::RegistryUploadStale,
            Location::path(&upload.key),
            format!("upload never finished ({} bytes)", upload.bytes),
        )
        .expected_found(
            format!("written within {}", time::age_text(max_age)),
            format!(
                "last written {}",
                humantime::format_rfc3339_seconds(modified)
            ),
        )
        .with_bytes(upload.bytes),
    );
}
