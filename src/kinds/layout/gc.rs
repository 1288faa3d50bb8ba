//! What collecting a layout's garbage would delete, as `blob-unreferenced` findings and as
//! the layout's row of the reclaimable table: the blobs `index.json` does not reach (what
//! `umoci gc` deletes, and what zot's collector deletes from a repository once older than
//! gcDelay), and with `--untagged` also what only untagged entries reach (zot's default
//! retention deletes untagged manifests). As in the Distribution simulation, a referrer
//! of a kept manifest is kept.

use std::collections::HashSet;

use crate::check::graph::Documents;
use crate::check::graph::collect::kept_by_tags;
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::{Document, Index};
use crate::model::key::Key;
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory, LayoutRoot};

/// What tags keep in one layout, worked out while its documents are loaded.
pub(crate) struct Collection {
    /// `index.json` entries with a `ref.name`.
    pub(crate) tags: u64,
    /// Manifests and indexes loaded.
    pub(crate) manifests: u64,
    /// Those no tag keeps (neither tagged, nor referenced by what a tag keeps, nor a
    /// referrer of a kept manifest).
    pub(crate) unused_manifests: u64,
    /// With `--untagged`: every digest tags keep, which is then what collection keeps.
    pub(crate) kept_by_tags: Option<HashSet<Digest>>,
}

/// What the tags of `index_json` keep among `docs`; the set itself only when `untagged`.
pub(crate) fn collection(
    index_json: Option<&Index>,
    docs: &Documents,
    untagged: bool,
) -> Collection {
    let entries = index_json.map_or(&[][..], |i| &i.manifests);
    let tagged = entries
        .iter()
        .filter(|e| e.ref_name().is_some())
        .filter_map(|e| e.digest.as_ref());
    let manifests = || {
        docs.iter()
            .filter(|(_, l)| matches!(l.document, Some(Document::Manifest(_) | Document::Index(_))))
            .map(|(digest, _)| digest)
    };
    let tags = entries.iter().filter(|e| e.ref_name().is_some()).count() as u64;
    let count = manifests().count() as u64;
    // The documents were loaded from the entries (and `index.json`'s subject): when every
    // entry is tagged and nothing was reached through a subject, tags keep them all. The
    // common case, and marking again is a tenth of a large layout's metadata pass.
    let all_kept = tags == entries.len() as u64
        && index_json.is_none_or(|i| i.subject.is_none())
        && docs
            .values()
            .all(|l| l.document.as_ref().and_then(Document::subject).is_none());
    if all_kept && !untagged {
        return Collection {
            tags,
            manifests: count,
            unused_manifests: 0,
            kept_by_tags: None,
        };
    }
    let kept = kept_by_tags(docs, tagged, manifests());
    Collection {
        tags,
        manifests: count,
        unused_manifests: manifests().filter(|d| !kept.contains(d)).count() as u64,
        kept_by_tags: untagged.then(|| kept.into_iter().cloned().collect()),
    }
}

/// `blob-unreferenced` for every blob of `layout` not in `kept` (when `complete`: else
/// what the layout references is not known for sure, and no blob is called
/// unreferenced), and the layout's row of the reclaimable table of `store`, with its
/// total (an upper bound when not complete). `what_then` says what becomes of such a blob
/// (for a zot repository: its garbage collection), starting with "; ", or is empty.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sweep(
    store: &Key,
    layout: &LayoutRoot,
    inventory: &Inventory,
    kept: &HashSet<Digest>,
    complete: bool,
    collection: &Collection,
    untagged: bool,
    what_then: &str,
    findings: &mut Vec<Finding>,
) -> (Reclaimable, ReclaimableTotal) {
    let mut total = ReclaimableTotal::empty(untagged);
    total.complete = complete;
    for (digest, len) in inventory.iter() {
        if kept.contains(digest) {
            continue;
        }
        total.blobs += 1;
        total.bytes += len;
        if complete {
            let message = format!(
                "not reachable from {}index.json ({len} bytes){what_then}",
                layout.prefix.prefix()
            );
            findings.push(unreferenced(layout, digest, len, message));
        }
    }
    total.unused_manifests = collection.unused_manifests;
    let row = Reclaimable {
        store: store.clone(),
        repository: name_in(store, layout),
        manifests: collection.manifests,
        tags: collection.tags,
        layers: inventory.len() as u64,
        unused_manifests: collection.unused_manifests,
        bytes: total.bytes,
    };
    (row, total)
}

/// `blob-unreferenced` for blob `digest` of `layout`, `len` bytes that deleting it frees.
pub(crate) fn unreferenced(
    layout: &LayoutRoot,
    digest: &Digest,
    len: u64,
    message: String,
) -> Finding {
    Finding::new(
        Rule::BlobUnreferenced,
        Location::path(layout.blob_key(digest)).with_digest(Some(digest.clone())),
        message,
    )
    .with_bytes(len)
}

/// The layout's name within `store` (a zot repository's name), or "." for the store
/// itself: what the reclaimable table calls its repository.
pub(crate) fn name_in(store: &Key, layout: &LayoutRoot) -> String {
    let own = layout.prefix.as_bytes();
    let relative = match store.as_bytes() {
        [] => own,
        outer => own
            .strip_prefix(outer)
            .and_then(|rest| rest.strip_prefix(b"/"))
            .unwrap_or(own),
    };
    match String::from_utf8_lossy(relative) {
        name if name.is_empty() => ".".to_owned(),
        name => name.into_owned(),
    }
}
