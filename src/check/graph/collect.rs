//! Marking for the garbage-collection simulations (a Distribution root's, a layout's and a
//! zot repository's): what a set of roots keeps through references, and what tags keep
//! when untagged manifests are collected.

use std::collections::HashSet;

use crate::check::graph::{Documents, children};
use crate::model::digest::Digest;

/// What a collector simulation marks: a set of digests, walked through references.
pub trait Marks<'s> {
    /// Marks `digest`; whether the walk goes on from it (it was not marked before, and is
    /// a blob of the store, so it may be a document that references others).
    fn mark(&mut self, digest: &'s Digest) -> bool;
}

/// Few marks (one repository's, one layout's): a hash set.
impl<'s> Marks<'s> for HashSet<&'s Digest> {
    fn mark(&mut self, digest: &'s Digest) -> bool {
        self.insert(digest)
    }
}

/// Marks from `roots` through every reference (not `subject`, which points the other
/// way), into `marked`. Digests are borrowed from the roots and documents: a registry
/// marks millions of them.
pub fn mark<'s>(
    docs: &'s Documents,
    roots: impl IntoIterator<Item = &'s Digest>,
    marked: &mut impl Marks<'s>,
) {
    let mut stack: Vec<&Digest> = roots.into_iter().collect();
    while let Some(digest) = stack.pop() {
        if !marked.mark(digest) {
            continue;
        }
        if let Some(document) = docs.get(digest).and_then(|l| l.document.as_ref()) {
            for (d, _) in children(document) {
                if d.pointer != "/subject" {
                    stack.extend(d.digest.as_ref());
                }
            }
        }
    }
}

/// What is kept when only tags are roots: the `tagged` manifests, what they reference,
/// and those of the `candidates` (a repository's manifests) whose `subject` is kept
/// (referrers: a signature or SBOM of a kept image), to a fixed point.
pub fn kept_by_tags<'s>(
    docs: &'s Documents,
    tagged: impl IntoIterator<Item = &'s Digest>,
    candidates: impl IntoIterator<Item = &'s Digest>,
) -> HashSet<&'s Digest> {
    let mut kept = HashSet::new();
    mark(docs, tagged, &mut kept);
    // The referrers among the candidates, with their subjects: found once, then walked
    // again each round (a signature of an SBOM is kept in the round after the SBOM).
    let mut referrers: Vec<(&Digest, &Digest)> = candidates
        .into_iter()
        .filter_map(|d| Some((d, subject_of(docs, d)?)))
        .filter(|(d, _)| !kept.contains(*d))
        .collect();
    loop {
        let (now, later): (Vec<_>, Vec<_>) =
            referrers.into_iter().partition(|(_, s)| kept.contains(*s));
        if now.is_empty() {
            return kept;
        }
        mark(docs, now.into_iter().map(|(d, _)| d), &mut kept);
        referrers = later;
    }
}

/// The digest of the `subject` of the document `digest` names, if it has one.
fn subject_of<'s>(docs: &'s Documents, digest: &Digest) -> Option<&'s Digest> {
    docs.get(digest)?
        .document
        .as_ref()?
        .subject()?
        .digest
        .as_ref()
}
