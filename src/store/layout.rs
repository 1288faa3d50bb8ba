//! The blobs of one OCI image layout (image-layout.md § Blobs):
//!
//! ```text
//! blobs/
//!   <alg>/            one directory per algorithm, named by the digest grammar
//!     <encoded>       one regular file per blob; content MUST hash to <alg>:<encoded>
//! ```
//!
//! Everything else under `blobs/` is a finding. No file found here is opened: this is
//! directory listing and `lstat` only (see `store::list_dir`).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use rustix::fs::FileType;

use crate::store::{Inventory, LayoutRoot, io_finding, list_dir};

/// What a non-regular entry is, for messages.
pub fn file_kind(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Symlink => "a symlink (not followed)",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::BlockDevice | FileType::CharacterDevice => "a device node",
        _ => "not a regular file",
    }
}

/// Lists `blobs/` of `layout`. Returns `None` (with a finding) when there is no directory.
pub fn inventory(layout: &LayoutRoot, findings: &mut Vec<Finding>) -> Option<Inventory> {
    let blobs_dir = layout.dir.join("blobs");
    let display = layout.display("blobs");
    match fs::symlink_metadata(&blobs_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => {
            findings.push(Finding::new(
                Rule::LayoutBlobsMissing,
                Location::path(&display),
                format!(
                    "blobs is {}, not a directory",
                    file_kind(FileType::from_raw_mode(
                        std::os::unix::fs::MetadataExt::mode(&m)
                    ))
                ),
            ));
            return None;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            findings.push(Finding::new(
                Rule::LayoutBlobsMissing,
                Location::path(&display),
                "the blobs directory does not exist",
            ));
            return None;
        }
        Err(error) => {
            findings.push(io_finding(&display, &error));
            return None;
        }
    }
    let mut blobs = Vec::new();
    let entries = match list_dir(&blobs_dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(&display, &error));
            return Some(Inventory::default());
        }
    };
    for entry in entries {
        let path = display.join(entry.name.as_bytes());
        let file_type = match entry.stat {
            Ok((file_type, _)) => file_type,
            Err(error) => {
                findings.push(io_finding(&path, &error));
                continue;
            }
        };
        if file_type != FileType::Directory {
            let (rule, message) = if file_type == FileType::RegularFile {
                (
                    Rule::BlobNameInvalid,
                    "a file directly under blobs/, outside any algorithm directory".to_owned(),
                )
            } else {
                (
                    Rule::BlobNotRegular,
                    format!(
                        "algorithm entry is {}, not a directory",
                        file_kind(file_type)
                    ),
                )
            };
            findings.push(Finding::new(rule, Location::path(path), message));
            continue;
        }
        let algorithm = entry.name.to_str().map(str::to_owned);
        algorithm_dir(
            blobs_dir.join(&entry.name),
            &path,
            algorithm.as_deref(),
            &mut blobs,
            findings,
        );
    }
    Some(Inventory::new(blobs))
}

fn algorithm_dir(
    dir: PathBuf,
    display: &Key,
    algorithm: Option<&str>,
    blobs: &mut Vec<(Digest, u64)>,
    findings: &mut Vec<Finding>,
) {
    let entries = match list_dir(&dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(display, &error));
            return;
        }
    };
    for entry in entries {
        let path = display.join(entry.name.as_bytes());
        let (file_type, len) = match entry.stat {
            Ok(stat) => stat,
            Err(error) => {
                findings.push(io_finding(&path, &error));
                continue;
            }
        };
        let parsed = match (algorithm, entry.name.to_str()) {
            (Some(algorithm), Some(encoded)) => Digest::parse(&format!("{algorithm}:{encoded}"))
                .map_err(|error| format!("name is not a digest: {error}")),
            _ => Err("name is not UTF-8, so it cannot be a digest".to_owned()),
        };
        if file_type != FileType::RegularFile {
            findings.push(Finding::new(
                Rule::BlobNotRegular,
                Location::path(path).with_digest(parsed.ok()),
                format!("blob is {}", file_kind(file_type)),
            ));
            continue;
        }
        match parsed {
            Ok(digest) => {
                blobs.push((digest, len));
            }
            Err(message) => findings.push(Finding::new(
                Rule::BlobNameInvalid,
                Location::path(path),
                message,
            )),
        }
    }
}
