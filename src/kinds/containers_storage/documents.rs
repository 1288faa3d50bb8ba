//! An image's big-data items as a content store: each listed item (its manifests, its
//! config, signatures) is a blob under the digest `images.json` records, so that the
//! verify phase hashes it, and the images' manifests are the roots of the graph checks
//! layouts get (descriptors, platforms and coverage, the supply-chain view). Layers are not
//! blobs here (containers-storage keeps them unpacked, checked through `layers.json`'s
//! chains), and a descriptor of anything not listed as big data is not called missing:
//! what an image lists and lacks is `containers-storage-big-data-missing`.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;

use crate::assemble::{BeforeVerify, BlobSet, StorePart};
use crate::backend::{Backend, Version};
use crate::finding::{Finding, Location};
use crate::kinds::CheckOptions;
use crate::kinds::containers_storage::model::Image;
use crate::kinds::layout::{Named, check_graph};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, DescriptorExtras, Index};
use crate::model::key::Key;
use crate::model::media_type;
use crate::rules::Rule;
use crate::store::{BlobEntry, BlobPaths, Inventory, Lookup, OwnBlobs, read_error};

/// The file name containers-storage gives big-data item `name` (`makeBigDataBaseName`):
/// the name itself when it is made of `[.0-9a-z]`, else "=" and its standard base64.
pub(super) fn big_data_file(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        name.to_owned()
    } else {
        format!(
            "={}",
            base64::engine::general_purpose::STANDARD.encode(name)
        )
    }
}

/// Where each big-data blob is: the first item file that holds its digest.
struct BigData {
    keys: HashMap<Digest, Key>,
    images_dir: Key,
}

impl BlobPaths for BigData {
    fn blob_key(&self, digest: &Digest) -> Key {
        self.keys
            .get(digest)
            .cloned()
            .unwrap_or_else(|| self.images_dir.join(digest.to_string()))
    }

    fn place(&self) -> Key {
        self.images_dir.clone()
    }
}

/// The big-data blobs.
struct StorageBlobs<'a> {
    own: OwnBlobs<'a>,
}

impl Lookup for StorageBlobs<'_> {
    fn len_of(&self, digest: &Digest) -> Option<u64> {
        self.own.len_of(digest)
    }

    fn key_of(&self, digest: &Digest) -> Key {
        self.own.key_of(digest)
    }

    fn inventory(&self) -> &Inventory {
        self.own.inventory()
    }

    /// Anything but big data (layers above all) is not a blob of this store.
    fn is_accounted(&self, digest: &Digest) -> bool {
        self.own.len_of(digest).is_none()
    }
}

/// Every image's big-data items checked against `images.json` (present, the recorded
/// size) and handed to the verify phase, and the images' manifests checked as a graph.
pub(super) fn check(
    backend: &dyn Backend,
    driver: &str,
    images_dir: &Key,
    images: &[Image],
    options: &CheckOptions,
    part: &mut StorePart,
) {
    let mut entries = Vec::new();
    let mut keys: HashMap<Digest, Key> = HashMap::new();
    let mut roots = Vec::new();
    for image in images {
        for name in &image.big_data_names {
            let key = images_dir.join(&image.id).join(big_data_file(name));
            let Some((len, version)) = item(backend, image, name, &key, &mut part.findings) else {
                continue;
            };
            let Some(digest) = image
                .big_data_digests
                .get(name)
                .and_then(|d| Digest::parse(d).ok())
            else {
                continue;
            };
            if name == "manifest" {
                roots.push(root(backend, image, &digest, len, &key, options));
            }
            keys.entry(digest.clone()).or_insert(key);
            entries.push(BlobEntry {
                digest,
                len,
                version,
            });
        }
    }
    let inventory = Inventory::new(entries);
    let paths = BigData {
        keys,
        images_dir: images_dir.clone(),
    };
    let lookup = StorageBlobs {
        own: OwnBlobs {
            inventory: &inventory,
            paths: &paths,
        },
    };
    let named = Named {
        repository: driver,
        index_path: images_dir.join("images.json"),
        inspect: None,
    };
    let index = Index {
        manifests: roots,
        ..Index::default()
    };
    let checked = check_graph(
        backend,
        &named,
        &lookup,
        Some(index),
        true,
        options,
        &mut part.findings,
    );
    let counters = &mut part.counters;
    counters.blobs += inventory.len() as u64;
    counters.bytes += inventory.bytes();
    counters.documents += checked.documents;
    counters.bytes_hashed += checked.bytes_hashed;
    counters.blobs_hashed += checked
        .hashed
        .iter()
        .filter(|h| matches!(h, BeforeVerify::HashedAsDocument(_)))
        .count() as u64;
    part.coverage.extend(checked.coverage);
    part.supply_chain.append(checked.supply_chain);
    part.blobs.push(BlobSet {
        inventory,
        before: checked.hashed,
        paths: Box::new(paths),
    });
}

/// Files in an image's directory under `<driver>-images/` that `images.json` does not
/// list: an item a pull or a `podman image sign` wrote before it stopped short of naming
/// it, or what a removal that failed half-way left of an image no longer recorded. Not
/// read by anything, and taking space: `containers-storage-big-data-unlisted`, with
/// their bytes. (Files beside the directories, `images.json` and its lock, are not
/// items.)
pub(super) fn check_unlisted(
    backend: &dyn Backend,
    images_dir: &Key,
    images: &[Image],
    findings: &mut Vec<Finding>,
) {
    let listed: HashMap<&str, HashSet<String>> = images
        .iter()
        .map(|i| {
            let files = i.big_data_names.iter().map(|n| big_data_file(n)).collect();
            (i.id.as_str(), files)
        })
        .collect();
    let directories = match backend.list(images_dir) {
        Ok(entries) => entries,
        Err(error) => return findings.push(read_error(images_dir, &error)),
    };
    for directory in directories.iter().filter(|e| e.is_dir()) {
        let id = String::from_utf8_lossy(&directory.name);
        let dir = images_dir.join(&directory.name);
        let files = match backend.list(&dir) {
            Ok(files) => files,
            Err(error) => {
                findings.push(read_error(&dir, &error));
                continue;
            }
        };
        let names = listed.get(id.as_ref());
        for file in files {
            let name = String::from_utf8_lossy(&file.name);
            if names.is_some_and(|n| n.contains(name.as_ref())) {
                continue;
            }
            let bytes = file.stat.as_ref().map_or(0, |s| s.len);
            let whose = match names {
                Some(_) => format!("image {id} does not list it"),
                None => format!("no image {id} is recorded"),
            };
            findings.push(
                Finding::new(
                    Rule::ContainersStorageBigDataUnlisted,
                    Location::path(dir.join(&file.name)),
                    format!("{whose} in images.json ({bytes} bytes)"),
                )
                .with_bytes(bytes),
            );
        }
    }
}

/// Big-data item `name` of `image` at `key`: its length and version when its file is
/// there (a finding when that is not the size `images.json` records); else a finding and
/// `None`.
fn item(
    backend: &dyn Backend,
    image: &Image,
    name: &str,
    key: &Key,
    findings: &mut Vec<Finding>,
) -> Option<(u64, Version)> {
    let (len, version) = match backend.stat(key) {
        Ok(stat) => (stat.len, stat.version),
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::ContainersStorageBigDataMissing,
                Location::path(key),
                format!("image {}'s big-data item {name:?} has no file", image.id),
            ));
            return None;
        }
        Err(error) => {
            findings.push(read_error(key, &error));
            return None;
        }
    };
    // An item of another size stays a blob: the verify phase and the manifest's
    // descriptor judge its content too.
    match image.big_data_sizes.get(name) {
        Some(&size) if size != len => {
            findings.push(
                Finding::new(
                    Rule::ContainersStorageBigDataMismatch,
                    Location::path(key),
                    format!(
                        "image {}'s big-data item {name:?} is not the size images.json records",
                        image.id
                    ),
                )
                .expected_found(size, len),
            );
        }
        _ => {}
    }
    Some((len, version))
}

/// An image's manifest as a root of the graph, named after the image's first name (its
/// ID when it has none) and typed by the manifest's own `mediaType`.
fn root(
    backend: &dyn Backend,
    image: &Image,
    digest: &Digest,
    len: u64,
    key: &Key,
    options: &CheckOptions,
) -> Descriptor {
    let media_type = backend
        .read_small(key, options.max_document_size)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
        .filter(|t| media_type::is_valid(t))
        .unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
    let name = image
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| image.id.clone());
    Descriptor {
        pointer: format!("/{}", image.id).into(),
        media_type: Some(media_type.into()),
        digest: Some(digest.clone()),
        size: Some(len).into(),
        extras: Some(Box::new(DescriptorExtras {
            ref_name: Some(name),
            ..DescriptorExtras::default()
        })),
        ..Descriptor::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_data_file_names_are_containers_storages() {
        assert_eq!(big_data_file("manifest"), "manifest");
        assert_eq!(big_data_file("signature-88d4"), "=c2lnbmF0dXJlLTg4ZDQ=");
        assert!(big_data_file("sha256:28f0").starts_with('='));
    }
}
