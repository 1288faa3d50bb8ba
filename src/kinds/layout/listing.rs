//! The blobs of one OCI image layout (image-layout.md § Blobs):
//!
//! ```text
//! blobs/
//!   <alg>/            one directory per algorithm, named by the digest grammar
//!     <encoded>       one regular file per blob; content MUST hash to <alg>:<encoded>
//! ```
//!
//! Everything else under `blobs/` is a finding. No file found here is opened: this is
//! listing only (the backend types entries without following symlinks).

use crate::backend::{Backend, EntryKind};
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{BlobEntry, Inventory, LayoutRoot, list_or_finding};

/// Lists `blobs/` of `layout`. Returns `None` (with a finding) when there is no directory.
pub fn inventory(
    backend: &dyn Backend,
    layout: &LayoutRoot,
    findings: &mut Vec<Finding>,
) -> Option<Inventory> {
    let blobs_dir = layout.key("blobs");
    match backend.stat(&blobs_dir) {
        Ok(stat) if stat.kind == EntryKind::Dir => {}
        Ok(stat) => {
            findings.push(Finding::new(
                Rule::LayoutBlobsMissing,
                Location::path(&blobs_dir),
                format!("blobs is {}, not a directory", stat.kind.describe()),
            ));
            return None;
        }
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::LayoutBlobsMissing,
                Location::path(&blobs_dir),
                "the blobs directory does not exist",
            ));
            return None;
        }
        Err(error) => {
            findings.push(error.finding(&blobs_dir));
            return None;
        }
    }
    let mut blobs = Vec::new();
    let Some(entries) = list_or_finding(backend, &blobs_dir, findings) else {
        return Some(Inventory::default());
    };
    for entry in entries {
        let path = blobs_dir.join(&entry.name);
        let kind = match &entry.stat {
            Ok(stat) => stat.kind,
            Err(error) => {
                findings.push(error.finding(&path));
                continue;
            }
        };
        if kind != EntryKind::Dir {
            let (rule, message) = if kind == EntryKind::File {
                (
                    Rule::BlobNameInvalid,
                    "a file directly under blobs/, outside any algorithm directory".to_owned(),
                )
            } else {
                (
                    Rule::BlobNotRegular,
                    format!("algorithm entry is {}, not a directory", kind.describe()),
                )
            };
            findings.push(Finding::new(rule, Location::path(path), message));
            continue;
        }
        algorithm_dir(backend, &path, entry.name_str(), &mut blobs, findings);
    }
    Some(Inventory::new(blobs))
}

fn algorithm_dir(
    backend: &dyn Backend,
    dir: &Key,
    algorithm: Option<&str>,
    blobs: &mut Vec<BlobEntry>,
    findings: &mut Vec<Finding>,
) {
    let Some(entries) = list_or_finding(backend, dir, findings) else {
        return;
    };
    for entry in entries {
        let path = dir.join(&entry.name);
        let stat = match &entry.stat {
            Ok(stat) => stat,
            Err(error) => {
                findings.push(error.finding(&path));
                continue;
            }
        };
        let parsed = match (algorithm, entry.name_str()) {
            (Some(algorithm), Some(encoded)) => Digest::parse(&format!("{algorithm}:{encoded}"))
                .map_err(|error| format!("name is not a digest: {error}")),
            _ => Err("name is not UTF-8, so it cannot be a digest".to_owned()),
        };
        if stat.kind != EntryKind::File {
            findings.push(Finding::new(
                Rule::BlobNotRegular,
                Location::path(path).with_digest(parsed.ok()),
                format!("blob is {}", stat.kind.describe()),
            ));
            continue;
        }
        match parsed {
            Ok(digest) => blobs.push(BlobEntry {
                digest,
                len: stat.len,
                version: stat.version.clone(),
            }),
            Err(message) => findings.push(Finding::new(
                Rule::BlobNameInvalid,
                Location::path(path),
                message,
            )),
        }
    }
}
