//! Loading documents: every index, manifest and config a store's roots reach, each read
//! once, hashed from the same bytes, then parsed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::assemble::BeforeVerify;
use crate::backend::{Backend, ReadError};
use crate::check::document::{self, Context, Expect};
use crate::check::graph::{self, Documents, LoadedDocument};
use crate::finding::{Finding, Location};
use crate::hash::{self, HashResult};
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::read_error;
use crate::store::{Inventory, Lookup};

/// Reads, hashes and parses every index, manifest and config reachable from `frontier`
/// (the entries of `index.json`, or a registry's revisions), one breadth-first level at a
/// time, each level in parallel.
pub(crate) fn load_documents<'i>(
    backend: &dyn Backend,
    mut frontier: Vec<(Digest, Expect)>,
    blobs: &'i dyn Lookup,
    max_document_size: u64,
    findings: &mut Vec<Finding>,
) -> (Documents<'i>, u64) {
    let mut docs = Documents::new(blobs.inventory());
    let bytes_hashed = AtomicU64::new(0);
    // Findings are rare and sorted at the end: one list behind a lock, so that the loads
    // yield only the documents, which go into `docs` with no second copy of the level.
    let found = Mutex::new(Vec::new());
    while !frontier.is_empty() {
        frontier.sort_unstable();
        frontier.dedup_by(|a, b| a.0 == b.0);
        frontier.retain(|(digest, _)| !docs.contains_key(digest) && blobs.len_of(digest).is_some());
        // Taken, so that this level's list is freed once its documents are loaded, before
        // the next level's is made.
        let level = std::mem::take(&mut frontier).into_par_iter();
        let level = level.map(|(digest, expect)| {
            let key = blobs.key_of(&digest);
            let mut more = Vec::new();
            let (document, hashed) =
                load_document(backend, &digest, &key, expect, max_document_size, &mut more);
            if let Some((len, _)) = hashed {
                bytes_hashed.fetch_add(len, Ordering::Relaxed);
            }
            if !more.is_empty() {
                found
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .append(&mut more);
            }
            (
                digest,
                LoadedDocument::new(document, hashed.map(|(_, result)| result)),
            )
        });
        frontier = docs.extend(level, |level| {
            let next = || {
                level
                    .iter()
                    .filter_map(|loaded| loaded.document.as_ref())
                    .flat_map(graph::children)
                    .filter_map(|(d, is_config)| {
                        Some((d.digest.clone()?, graph::expect_for(d, is_config)?))
                    })
            };
            // Counted first: grown by doubling, the next level's list would reach twice
            // its size, and once both copies, while the level's documents are all held.
            let mut frontier = Vec::with_capacity(next().count());
            frontier.extend(next());
            frontier
        });
    }
    docs.finish();
    findings.append(&mut found.into_inner().unwrap_or_else(PoisonError::into_inner));
    (docs, bytes_hashed.into_inner())
}

/// Reads one document blob: size limit, hash of the raw bytes, then parse.
/// Returns the document, and the number of bytes hashed with the result (`None` when the
/// content was not hashed, which leaves it to the verify phase).
fn load_document(
    backend: &dyn Backend,
    digest: &Digest,
    key: &Key,
    expect: Expect,
    max_document_size: u64,
    findings: &mut Vec<Finding>,
) -> (Option<Document>, Option<(u64, HashResult)>) {
    let location = || Location::path(key).with_digest(Some(digest.clone()));
    let mut bytes = match backend.read_small(key, max_document_size) {
        Ok(bytes) => bytes,
        Err(error @ (ReadError::TooLarge { .. } | ReadError::Grew(_))) => {
            findings.push(Finding::new(
                Rule::DocumentTooLarge,
                location(),
                format!("document not parsed: {error} (--max-document-size)"),
            ));
            return (None, None);
        }
        Err(error) => {
            findings.push(read_error(key, &error).with_digest(digest));
            return (None, None);
        }
    };
    let hashed = check_content(digest, key, &bytes, findings);
    let mut cx = Context {
        path: key,
        digest: Some(digest),
        findings,
    };
    (document::parse(&mut bytes, expect, &mut cx), hashed)
}

/// Hashes in-memory content of blob `digest` (read at `key`) and reports a mismatch.
/// Returns bytes hashed, or `None` for an algorithm we cannot compute.
fn check_content(
    digest: &Digest,
    key: &Key,
    bytes: &[u8],
    findings: &mut Vec<Finding>,
) -> Option<(u64, HashResult)> {
    let actual = hash::digest_bytes(digest.algorithm(), bytes)?;
    let result = if actual == *digest {
        HashResult::Clean
    } else {
        findings.push(digest_mismatch(key, digest, &actual));
        HashResult::Mismatch
    };
    Some((bytes.len() as u64, result))
}

pub(crate) fn digest_mismatch(key: &Key, digest: &Digest, actual: &Digest) -> Finding {
    Finding::new(
        Rule::BlobDigestMismatch,
        Location::path(key).with_digest(Some(digest.clone())),
        "content does not hash to the digest in its name",
    )
    .expected_found(digest, actual)
}

/// What is known of each blob of `inventory` before the verify phase: documents were
/// hashed as they were read. `docs` must be kept against `inventory` (its positions are
/// used as they are).
pub(crate) fn hashed_flags(inventory: &Inventory, docs: &Documents) -> Vec<BeforeVerify> {
    let mut flags = vec![BeforeVerify::ToHash; inventory.len()];
    if !docs.is_kept_against(inventory) {
        // Only an inventory past 2^32 blobs: its documents are verified like other blobs.
        return flags;
    }
    for (position, loaded) in docs.in_inventory() {
        if let Some(result) = loaded.content {
            flags[position] = BeforeVerify::HashedAsDocument(result);
        }
    }
    flags
}
