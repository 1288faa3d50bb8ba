//! Reading containers-storage's records: `images.json`, `layers.json` and
//! `containers.json`, a layer's tar-split; and the layer chains they make. What the
//! driver's audit, `--verify-layers` and the re-checks after `--settle` all read alike.

use std::collections::{HashMap, HashSet};

use crate::backend::Backend;
use crate::finding::{Finding, Location};
use crate::kinds::containers_storage::model::{Container, Image, Layer};
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::read_error;

/// Largest `images.json` or `layers.json` read.
const MAX_METADATA: u64 = 1 << 30;
/// Largest tar-split read (a layer of many files has a large one).
pub const MAX_TAR_SPLIT: u64 = 1 << 30;

/// Every chain from an image's top layer, or a container's own layer, down: each parent
/// in `layers`, or `containers-storage-layer-missing`. Returns the layers on some chain.
pub(super) fn check_chains<'l>(
    images: &'l [Image],
    containers: &'l [Container],
    layers: &'l [Layer],
    layers_dir: &Key,
    findings: &mut Vec<Finding>,
) -> HashSet<&'l str> {
    let by_id: HashMap<&str, &Layer> = layers.iter().map(|l| (l.id.as_str(), l)).collect();
    let tops = images
        .iter()
        .map(|i| (format!("image {}", i.id), i.layer.as_deref()))
        .chain(
            containers
                .iter()
                .map(|c| ("a container".to_owned(), c.layer.as_deref())),
        );
    let mut used: HashSet<&str> = HashSet::new();
    for (owner, top) in tops {
        let mut next = top.map(|id| (id, "layer".to_owned()));
        // A layer already on a chain was walked from (chains share their lower layers);
        // the count stops a loop of parents.
        let mut depth = 0;
        while let Some((id, field)) = next.take() {
            depth += 1;
            if depth > layers.len() + 1 || !used.insert(id) {
                break;
            }
            match by_id.get(id) {
                Some(layer) => next = layer.parent.as_deref().map(|p| (p, format!("{id} parent"))),
                None => findings.push(Finding::new(
                    Rule::ContainersStorageLayerMissing,
                    Location::path(tar_split(layers_dir, id)),
                    format!(
                        "{owner} names layer {id} (its {field}), which layers.json does not hold"
                    ),
                )),
            }
        }
    }
    used
}

/// `images.json` or `layers.json`, parsed; a finding and `None` when it cannot be.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    backend: &dyn Backend,
    key: &Key,
    findings: &mut Vec<Finding>,
) -> Option<T> {
    let bytes = match backend.read_small(key, MAX_METADATA) {
        Ok(bytes) => bytes,
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::ContainersStorageMetadataUnreadable,
                Location::path(key),
                "it does not exist",
            ));
            return None;
        }
        Err(error) => {
            findings.push(read_error(key, &error));
            return None;
        }
    };
    // A store with nothing in it yet has an empty file.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"[]").ok();
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            findings.push(Finding::new(
                Rule::ContainersStorageMetadataUnreadable,
                Location::path(key),
                format!("it does not parse: {error}"),
            ));
            None
        }
    }
}

/// Where layer `id`'s tar-split is: the file that names a layer in findings (its unpacked
/// files are under the driver's own directory, laid out per driver).
pub(super) fn tar_split(layers_dir: &Key, id: &str) -> Key {
    layers_dir.join(format!("{id}.tar-split.gz"))
}

/// A layer's tar-split, read whole (compressed); a finding and `None` when it is missing
/// or cannot be read.
pub(super) fn read_tar_split(
    backend: &dyn Backend,
    key: &Key,
    layer: &Layer,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u8>> {
    match backend.read_small(key, MAX_TAR_SPLIT) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.is_not_found() => {
            findings.push(Finding::new(
                Rule::ContainersStorageTarSplitMissing,
                Location::path(key),
                format!(
                    "layer {} has no tar-split: its tar cannot be re-assembled (push, save, or diff-digest checks)",
                    layer.id
                ),
            ));
            None
        }
        Err(error) => {
            findings.push(read_error(key, &error));
            None
        }
    }
}

/// A layer's tar-split: present, and a gzip stream that decodes to its end.
pub(super) fn check_tar_split(
    backend: &dyn Backend,
    layers_dir: &Key,
    layer: &Layer,
    findings: &mut Vec<Finding>,
) {
    let key = tar_split(layers_dir, &layer.id);
    let Some(bytes) = read_tar_split(backend, &key, layer, findings) else {
        return;
    };
    let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
    if let Err(error) = std::io::copy(&mut decoder, &mut std::io::sink()) {
        findings.push(Finding::new(
            Rule::ContainersStorageTarSplitMissing,
            Location::path(key),
            format!("layer {}'s tar-split does not decode: {error}", layer.id),
        ));
    }
}
