//! The blob inventory: every blob under `blobs/`, as distribution's
//! `registry/storage/paths.go` lays them out:
//!
//! ```text
//! blobs/<alg>/<first 2 hex>/<encoded>/data                 the content, by digest
//! ```
//!
//! The algorithm directories and their shards are listed first; then each shard is walked
//! two levels deep in one listing (on object storage one request per shard, not one per
//! blob), the shards in parallel, and each entry of a shard judged on its own: a directory
//! named by a digest of the algorithm that starts with the shard's two characters, holding
//! a regular `data` file and nothing else. Whatever breaks that shape is a finding
//! (`Rule::RegistryBlobPathInvalid`, an io finding when an entry cannot be read, or
//! `Rule::BlobNotRegular` for a `data` that is not a regular file), and what is not a blob
//! is left out of the inventory.

use rayon::prelude::*;

use std::collections::BTreeMap;

use crate::backend::{Backend, Entry, EntryKind, ReadError, Stat, Walked};
use crate::finding::{Cause, Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{BlobEntry, Inventory};

use super::root::RegistryRoot;

/// A finding about a path under `blobs/` that breaks `blobs/<alg>/<2 hex>/<encoded>/data`.
fn path_invalid(display: Key, message: impl Into<String>) -> Finding {
    Finding::new(
        Rule::RegistryBlobPathInvalid,
        Location::path(display),
        message,
    )
}

/// Lists every blob under `blobs/`, the 256-way shards in parallel.
pub fn inventory(
    backend: &dyn Backend,
    root: &RegistryRoot,
    findings: &mut Vec<Finding>,
) -> Inventory {
    let blobs = root.key("blobs");
    let entries = match backend.list(&blobs) {
        Ok(entries) => entries,
        Err(error) if error.is_not_found() => return Inventory::default(),
        Err(error) => {
            findings.push(error.finding(&blobs));
            return Inventory::default();
        }
    };
    let shards = shards(backend, &blobs, entries, findings);
    // Per shard: its blobs and its findings.
    let listed: Vec<(Vec<BlobEntry>, Vec<Finding>)> = shards
        .par_iter()
        .map(|(algorithm, shard, key)| {
            let mut found = Vec::new();
            let blobs = shard_blobs(backend, algorithm.as_deref(), shard, key, &mut found);
            (blobs, found)
        })
        .collect();
    let mut all = Vec::with_capacity(listed.iter().map(|(blobs, _)| blobs.len()).sum());
    for (blobs, mut found) in listed {
        findings.append(&mut found);
        all.extend(blobs);
    }
    Inventory::new(all)
}

/// One shard directory: its algorithm's directory name (`None` when that is not UTF-8), its
/// own name, and its key.
type Shard = (Option<String>, String, Key);

/// The shard directories under `entries`, the algorithm directories listed in `blobs`.
/// What is not a directory, or a shard not named by two characters, is reported.
fn shards(
    backend: &dyn Backend,
    blobs: &Key,
    entries: Vec<Entry>,
    findings: &mut Vec<Finding>,
) -> Vec<Shard> {
    let mut shards: Vec<Shard> = Vec::new();
    for algorithm in entries {
        let alg_key = blobs.join(&algorithm.name);
        if !is_directory(&algorithm, &alg_key, findings) {
            continue;
        }
        let alg_name = algorithm.name_str().map(str::to_owned);
        let shard_entries = match backend.list(&alg_key) {
            Ok(entries) => entries,
            Err(error) => {
                findings.push(error.finding(&alg_key));
                continue;
            }
        };
        for shard in shard_entries {
            let shard_key = alg_key.join(&shard.name);
            if !is_directory(&shard, &shard_key, findings) {
                continue;
            }
            match shard.name_str() {
                Some(name) if name.len() == 2 => {
                    shards.push((alg_name.clone(), name.to_owned(), shard_key));
                }
                _ => findings.push(path_invalid(
                    shard_key,
                    "shard directory name is not two characters (blobs/<alg>/<2 hex>/<encoded>/data)",
                )),
            }
        }
    }
    shards
}

/// Whether `entry` is a directory; anything else (or an entry that cannot be typed) is
/// reported.
fn is_directory(entry: &Entry, key: &Key, findings: &mut Vec<Finding>) -> bool {
    match &entry.stat {
        Ok(stat) if stat.kind == EntryKind::Dir => true,
        Ok(stat) => {
            findings.push(path_invalid(
                key.clone(),
                format!("{}, where a directory belongs", stat.kind.describe()),
            ));
            false
        }
        Err(error) => {
            findings.push(error.finding(key));
            false
        }
    }
}

/// Per blob directory of a shard: its own entry (object stores have none) and what is in it.
type Group = (
    Option<Result<Stat, ReadError>>,
    Vec<(Key, Result<Stat, ReadError>)>,
);

/// The blobs of the shard `dir` (`blobs/<algorithm>/<shard>`), in the order of their names;
/// `algorithm` is `None` when its directory name is not UTF-8.
fn shard_blobs(
    backend: &dyn Backend,
    algorithm: Option<&str>,
    shard: &str,
    dir: &Key,
    findings: &mut Vec<Finding>,
) -> Vec<BlobEntry> {
    // `<encoded>` and `<encoded>/data` (and anything else), in one walk: on object
    // storage a listing of the whole shard, not one per blob.
    let walked = match backend.walk(dir, 2) {
        Ok(walked) => walked,
        Err(error) => {
            findings.push(error.finding(dir));
            return Vec::new();
        }
    };
    let groups = by_blob_directory(walked);
    let mut blobs = Vec::with_capacity(groups.len());
    for (name, group) in groups {
        let entry = blob_entry(algorithm, shard, &dir.join(&name), &name, group, findings);
        blobs.extend(entry);
    }
    blobs
}

/// A shard's walk, by the blob directory (the first component) each key is in, sorted.
fn by_blob_directory(walked: Walked) -> BTreeMap<Box<[u8]>, Group> {
    let mut groups: BTreeMap<Box<[u8]>, Group> = BTreeMap::new();
    for (key, stat) in walked {
        let bytes = key.as_bytes();
        match bytes.iter().position(|&b| b == b'/') {
            None => groups.entry(bytes.into()).or_default().0 = Some(stat),
            Some(slash) => groups
                .entry(bytes[..slash].into())
                .or_default()
                .1
                .push((Key::from_bytes(&bytes[slash + 1..]), stat)),
        }
    }
    groups
}

/// The blob whose directory is the shard's entry `name` (at `display`), with what the walk
/// found of it and in it; `None`, and the findings why, when it is not one.
fn blob_entry(
    algorithm: Option<&str>,
    shard: &str,
    display: &Key,
    name: &[u8],
    (own, inside): Group,
    findings: &mut Vec<Finding>,
) -> Option<BlobEntry> {
    match &own {
        Some(Ok(stat)) if stat.kind != EntryKind::Dir => {
            findings.push(path_invalid(
                display.clone(),
                format!("{}, where a directory belongs", stat.kind.describe()),
            ));
            return None;
        }
        Some(Err(error)) => {
            findings.push(error.finding(display));
            return None;
        }
        _ => {}
    }
    let digest = named_digest(algorithm, shard, name, display, findings)?;
    let data = data_entry(display, &inside, &digest, findings);
    blob_data(display.join("data"), data, digest, findings)
}

/// The digest the blob directory `name` (at `display`) names under `algorithm`, when it is
/// one and it starts with `shard`.
fn named_digest(
    algorithm: Option<&str>,
    shard: &str,
    name: &[u8],
    display: &Key,
    findings: &mut Vec<Finding>,
) -> Option<Digest> {
    let digest = match (algorithm, std::str::from_utf8(name).ok()) {
        (Some(algorithm), Some(encoded)) => Digest::parse(&format!("{algorithm}:{encoded}"))
            .map_err(|error| format!("directory name is not a digest: {error}")),
        _ => Err("directory name is not UTF-8, so it cannot be a digest".to_owned()),
    };
    match digest {
        Ok(digest) if digest.encoded().starts_with(shard) => Some(digest),
        Ok(digest) => {
            findings.push(
                path_invalid(
                    display.clone(),
                    "blob is in the wrong shard: the shard must be the first two characters of the digest",
                )
                .with_digest(&digest)
                .expected_found(&digest.encoded()[..2], shard),
            );
            None
        }
        Err(message) => {
            findings.push(path_invalid(display.clone(), message));
            None
        }
    }
}

/// The `data` entry of the blob directory at `display`, from what the walk found in it
/// (`inside`); anything else there is reported.
fn data_entry<'a>(
    display: &Key,
    inside: &'a [(Key, Result<Stat, ReadError>)],
    digest: &Digest,
    findings: &mut Vec<Finding>,
) -> Option<&'a Result<Stat, ReadError>> {
    let mut data = None;
    for (item, stat) in inside {
        if item.as_bytes() == b"data" {
            data = Some(stat);
        } else {
            findings.push(
                path_invalid(
                    display.join(item.as_bytes()),
                    "unexpected entry in a blob directory (only data belongs there)",
                )
                .with_digest(digest),
            );
        }
    }
    data
}

/// The blob `digest`, when its `data` (at `display`) is a regular file.
fn blob_data(
    display: Key,
    data: Option<&Result<Stat, ReadError>>,
    digest: Digest,
    findings: &mut Vec<Finding>,
) -> Option<BlobEntry> {
    match data {
        None => {
            findings.push(
                path_invalid(display, "blob directory has no data file")
                    .with_digest(&digest)
                    .with_cause(Cause::NoDataFile),
            );
            None
        }
        Some(Err(error)) => {
            findings.push(error.finding(&display).with_digest(&digest));
            None
        }
        Some(Ok(stat)) if stat.kind == EntryKind::File => Some(BlobEntry {
            digest,
            len: stat.len,
            version: stat.version.clone(),
        }),
        Some(Ok(stat)) => {
            findings.push(Finding::new(
                Rule::BlobNotRegular,
                Location::path(display).with_digest(Some(digest)),
                format!("blob is {}", stat.kind.describe()),
            ));
            None
        }
    }
}
