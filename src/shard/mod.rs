//! Audits split across machines: `--shard I/N` hashes one slice of the blobs and writes a
//! [`Partial`]; `merge` ([`merge::Merger`]) assembles the parts into the report one
//! unsharded run prints.
//!
//! The metadata pass (listing, links, documents, the graph) is small and every shard runs
//! it whole; the verify phase, which is nearly all of the bytes read, is split. A blob's
//! slice depends on its digest alone ([`Shard::slice_of`]), never on where it falls in a
//! listing: shards list a live registry at different moments, and a blob that appeared
//! or vanished in between must still have exactly one owner.

pub mod merge;
pub mod plan;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::assemble::{StorePart, Verified};
use crate::finding::Finding;
use crate::model::digest::Digest;
use crate::model::key::Key;

/// The version of the partial file's shape; `merge` refuses any other. 3: each store's
/// part as its kind returned it, and every finding beside them with its cause.
pub const PARTIAL_VERSION: u32 = 3;

/// One slice of an audit: `index` of `count`, counted from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, `0..count`.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// The slice `digest` falls in, of `count`: the first 64 bits of the BLAKE3 hash of
    /// its text, scaled to `0..count`. Hashing the text rather than using the digest's
    /// own bits spreads any digest, even one of an unknown algorithm or crafted to share
    /// a prefix; scaling (not a remainder) keeps every slice within one part in 2^64 of
    /// equal.
    pub fn slice_of(digest: &Digest, count: u32) -> u32 {
        let hash = blake3::hash(digest.to_string().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_bytes()[..8]);
        let scaled = (u128::from(u64::from_be_bytes(first)) * u128::from(count)) >> 64;
        // Below `count`, which is a u32.
        scaled as u32
    }

    /// Whether this shard hashes the blob `digest`.
    pub fn owns(&self, digest: &Digest) -> bool {
        Shard::slice_of(digest, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, with `0 <= I < N`.
    fn from_str(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected I/N, such as 0/4"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("{text:?}: {what} {part:?} is not a whole number"))
        };
        let (index, count) = (number(index, "index")?, number(count, "count")?);
        if count == 0 {
            return Err(format!("{text:?}: the count of shards must be at least 1"));
        }
        Shard::new(index, count).ok_or_else(|| {
            format!(
                "{text:?}: the index counts from 0, so it must be below {count} (0/{count} to {}/{count})",
                count - 1
            )
        })
    }
}

/// One blob as a shard listed it: `merge` compares the listings to find blobs no shard
/// verified and blobs that appeared or vanished between shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedBlob {
    /// Its file or key (`path`, and `path_bytes` when not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// Its digest, as its name says.
    pub digest: Digest,
    /// Its size.
    pub len: u64,
    /// Whether the verify phase is the one to hash it, and so only the shard owning its
    /// slice did (not a document, which every shard hashes; a verifiable algorithm;
    /// verification on).
    pub sliced: bool,
}

/// What one shard writes: everything `merge` needs, before any severity policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct Partial {
    /// [`PARTIAL_VERSION`].
    pub oci_audit_partial: u32,
    /// The version of oci-audit that wrote it: the checks, and so the findings, are
    /// those of one version.
    pub tool_version: String,
    /// The audited store, as its backend names it (a canonical directory, a URL).
    pub store: String,
    /// The store as the user named it: the report's `store.path`.
    pub name: String,
    /// The options that change results ([`crate::audit::Options::results`]).
    pub options: String,
    /// Which shard this is.
    pub shard: Shard,
    /// How long the shard ran.
    pub elapsed_ms: u64,
    /// What this shard's verify phase hashed.
    pub verified: Verified,
    /// Whether the findings a concurrent writer can cause were re-checked (not in an
    /// archive, which cannot change).
    #[serde(default = "yes")]
    pub rechecked: bool,
    /// Every blob this shard listed, in every store.
    pub listed: Vec<ListedBlob>,
    /// Every finding raw (confirmed at every severity, not sorted, no policy), each with
    /// its cause, which the report leaves out.
    #[serde(with = "crate::finding::carried")]
    pub findings: Vec<Finding>,
    /// Each store's part of the metadata pass, the same in every shard (its findings are
    /// in `findings`).
    pub parts: Vec<StorePart>,
    /// Why this shard did not see everything (a registry's rate limit), if it did not:
    /// the merged report is then incomplete too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

fn yes() -> bool {
    true
}

/// A partial file that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PartialError {
    /// Writing failed.
    #[error("{path}: cannot write the partial result: {error}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// Reading failed.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// Not a partial result of this version.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        what: String,
    },
}

impl Partial {
    /// Writes the partial to `file` atomically ([`crate::atomic`]): a shard killed at any
    /// moment leaves the old file or the new one, never half of one.
    pub fn write(&self, file: &Path) -> Result<(), PartialError> {
        crate::atomic::write_file(file, |out| {
            serde_json::to_writer(&mut *out, self).map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        })
        .map_err(|error| PartialError::Write {
            path: file.display().to_string(),
            error,
        })
    }

    /// Reads a partial from `file`, refusing another shape's version before reading the
    /// rest.
    pub fn read(file: &Path) -> Result<Partial, PartialError> {
        let path = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|error| PartialError::Read {
            path: path.clone(),
            error,
        })?;
        let invalid = |what: String| PartialError::Invalid {
            path: path.clone(),
            what,
        };
        /// The fields that say whether the rest can be read.
        #[derive(Deserialize)]
        struct Header {
            oci_audit_partial: Option<u32>,
            tool_version: Option<String>,
        }
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(format!(
                "not a partial result of `oci-audit --shard I/N --partial FILE` ({e})"
            ))
        })?;
        match header.oci_audit_partial {
            Some(PARTIAL_VERSION) => {}
            Some(other) => {
                return Err(invalid(format!(
                    "a partial result of format {other}, written by oci-audit {}; this is oci-audit {}, which reads format {PARTIAL_VERSION}",
                    header.tool_version.as_deref().unwrap_or("?"),
                    env!("CARGO_PKG_VERSION"),
                )));
            }
            None => {
                return Err(invalid(
                    "not a partial result of `oci-audit --shard I/N --partial FILE` (no oci_audit_partial field)".to_owned(),
                ));
            }
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("a damaged partial result: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse() {
        assert_eq!("2/7".parse::<Shard>(), Ok(Shard { index: 2, count: 7 }));
        for bad in ["7/7", "0/0", "1", "-1/3", "a/3", "1/b", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_depend_on_the_digest_only_and_spread_evenly() {
        let digests: Vec<Digest> = (0..7000u32)
            .map(|i| {
                let hex = format!("{:064x}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                Digest::parse(&format!("sha256:{hex}")).unwrap()
            })
            .collect();
        for count in [1, 2, 3, 7] {
            let mut per = vec![0u32; count as usize];
            for digest in &digests {
                let slice = Shard::slice_of(digest, count);
                assert_eq!(slice, Shard::slice_of(digest, count));
                per[slice as usize] += 1;
                let owners = (0..count)
                    .filter(|&i| Shard { index: i, count }.owns(digest))
                    .count();
                assert_eq!(owners, 1);
            }
            let even = 7000 / count;
            for n in per {
                // Binomial spread: within 5 standard deviations of even.
                assert!(
                    n.abs_diff(even) < 5 * (even as f64).sqrt() as u32 + 1,
                    "{count}: {n}"
                );
            }
        }
    }
}
