//! Loading documents: every index, manifest and config a store's roots reach, each read
//! once, hashed from the same bytes, then parsed.

use rayon::prelude::*;

use crate::audit::Checked;
use crate::audit::{Options, read_error};
use crate::backend::{Backend, ReadError};
use crate::check::document::{self, Context, Expect};
use crate::check::graph::{self, Docs, Loaded};
use crate::finding::{Finding, Location};
use crate::hash::{self, HashResult};
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{Inventory, Lookup};

/// Reads, hashes and parses every index, manifest and config reachable from `frontier`
/// (the entries of `index.json`, or a registry's revisions), one breadth-first level at a
/// time, each level in parallel.
pub(super) fn load_documents(
    backend: &dyn Backend,
    mut frontier: Vec<(Digest, Expect)>,
    blobs: &dyn Lookup,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> (Docs, u64) {
    let mut docs = Docs::default();
    let mut bytes_hashed = 0;
    while !frontier.is_empty() {
        frontier.sort();
        frontier.dedup_by(|a, b| a.0 == b.0);
        frontier.retain(|(digest, _)| !docs.contains_key(digest) && blobs.len_of(digest).is_some());
        // The documents apart from their findings and byte counts, so that they move
        // into `docs` without a second copy of the level.
        let (level, found): (Vec<(Digest, Loaded)>, Vec<Found>) = frontier
            .par_iter()
            .map(|(digest, expect)| {
                let key = blobs.key_of(digest);
                let mut found = Vec::new();
                let (document, hashed) =
                    load_document(backend, digest, &key, *expect, options, &mut found);
                let loaded = Loaded {
                    document,
                    content: hashed.map(|(_, result)| result),
                };
                (
                    (digest.clone(), loaded),
                    (found, hashed.map_or(0, |(len, _)| len)),
                )
            })
            .unzip();
        for (mut found, hashed) in found {
            bytes_hashed += hashed;
            findings.append(&mut found);
        }
        frontier = level
            .iter()
            .filter_map(|(_, loaded)| loaded.document.as_ref())
            .flat_map(graph::children)
            .filter_map(|(d, is_config)| {
                Some((d.digest.clone()?, graph::expect_for(d, is_config)?))
            })
            .collect();
        docs.extend(level);
    }
    docs.finish();
    (docs, bytes_hashed)
}

/// What loading one document found, and the bytes it hashed.
type Found = (Vec<Finding>, u64);

/// Reads one document blob: size limit, hash of the raw bytes, then parse.
/// Returns the document, and the number of bytes hashed with the result (`None` when the
/// content was not hashed, which leaves it to the verify phase).
fn load_document(
    backend: &dyn Backend,
    digest: &Digest,
    key: &Key,
    expect: Expect,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> (Option<Document>, Option<(u64, HashResult)>) {
    let location = || Location::path(key).with_digest(Some(digest.clone()));
    let mut bytes = match backend.read_small(key, options.max_document_size) {
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

pub(super) fn digest_mismatch(key: &Key, digest: &Digest, actual: &Digest) -> Finding {
    Finding::new(
        Rule::BlobDigestMismatch,
        Location::path(key).with_digest(Some(digest.clone())),
        "content does not hash to the digest in its name",
    )
    .expected_found(digest, actual)
}

/// What is known of each blob of `inventory` before the verify phase: documents were
/// hashed as they were read.
pub(super) fn hashed_flags(inventory: &Inventory, docs: &Docs) -> Vec<Checked> {
    let mut flags = vec![Checked::No; inventory.len()];
    for (digest, loaded) in docs.iter() {
        if let (Some(i), Some(result)) = (inventory.position(digest), loaded.content) {
            flags[i] = Checked::Hashed(result);
        }
    }
    flags
}
