//! The verify phase: every blob not already hashed as a document, across all stores,
//! largest first, from one shared cursor.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::audit::documents::digest_mismatch;
use crate::audit::{Options, Progress, read_error};
use crate::backend::Backend;
use crate::finding::{Finding, Location};
use crate::rules::Rule;
use crate::store::{Blob, BlobPaths, Inventory};

/// The blobs of one store that the verify phase has left to hash: all but `hashed`.
pub(super) struct VerifySet<'a> {
    /// The store's blobs.
    pub inventory: &'a Inventory,
    /// Per blob: already hashed (documents, read and hashed when loaded).
    pub hashed: &'a [bool],
    /// Where they live.
    pub store: &'a dyn BlobPaths,
}

/// Hashes every blob not hashed as a document, across all stores, largest first.
pub(super) fn verify_blobs(
    backend: &dyn Backend,
    sets: &[VerifySet],
    options: &Options,
    progress: &dyn Progress,
    hashed_bytes: &AtomicU64,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut work: Vec<Blob> = Vec::with_capacity(sets.iter().map(|s| s.inventory.len()).sum());
    for set in sets {
        for ((digest, len), &hashed) in set.inventory.iter().zip(set.hashed) {
            if hashed {
                continue;
            }
            let blob = Blob {
                digest,
                len,
                store: set.store,
            };
            if !digest.algorithm().is_verifiable() {
                findings.push(Finding::new(
                    Rule::BlobUnverifiable,
                    Location::path(blob.key()).with_digest(Some(digest.clone())),
                    format!("cannot verify {} digests", digest.algorithm()),
                ));
            } else if options.verify {
                work.push(blob);
            }
        }
    }
    // Largest first, so one huge layer does not start last and leave the other cores idle.
    work.sort_unstable_by(|a, b| b.len.cmp(&a.len).then_with(|| a.digest.cmp(b.digest)));
    progress.total(work.iter().map(|b| b.len).sum(), work.len() as u64);
    let advance = |n: u64| progress.advance(n);
    // Every pool thread claims the next-largest blob from one shared cursor. (`par_iter`
    // would split the sorted list into contiguous ranges, so one thread would hash the
    // largest blobs one after another while the others ran out of work.)
    let cursor = AtomicUsize::new(0);
    let results: Vec<Finding> = rayon::broadcast(|_| {
        let mut found = Vec::new();
        while let Some(blob) = work.get(cursor.fetch_add(1, Ordering::Relaxed)) {
            found.extend(verify_blob(backend, *blob, &advance, hashed_bytes));
            progress.blob_done();
        }
        found
    })
    .into_iter()
    .flatten()
    .collect();
    findings.extend(results);
    findings
}

/// Re-hashes one blob; a finding when it changed length, does not match, or cannot be read.
fn verify_blob(
    backend: &dyn Backend,
    blob: Blob,
    advance: &(dyn Fn(u64) + Sync),
    hashed_bytes: &AtomicU64,
) -> Option<Finding> {
    let key = blob.key();
    match backend.hash(&key, blob.digest.algorithm(), advance) {
        Ok(hashed) => {
            hashed_bytes.fetch_add(hashed.len, Ordering::Relaxed);
            if hashed.len != blob.len {
                Some(
                    Finding::new(
                        Rule::IoError,
                        Location::path(&key).with_digest(Some(blob.digest.clone())),
                        "blob changed length while being audited",
                    )
                    .expected_found(blob.len, hashed.len),
                )
            } else if hashed.digest != *blob.digest {
                Some(digest_mismatch(&key, blob.digest, &hashed.digest))
            } else {
                None
            }
        }
        Err(error) => Some(read_error(&key, &error).with_digest(blob.digest)),
    }
}
