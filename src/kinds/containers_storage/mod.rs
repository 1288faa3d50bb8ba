//! containers-storage (podman, CRI-O, buildah: `/var/lib/containers/storage`, or
//! `~/.local/share/containers/storage` rootless), recognised by `storage.lock` beside
//! `<driver>-images/images.json` and `<driver>-layers/layers.json` (overlay, vfs, btrfs,
//! zfs). Read without taking its lock files:
//!
//! ```text
//! <driver>-images/images.json           every image: id, names, top layer, big-data names,
//!                                        sizes and digests
//! <driver>-images/<id>/<item>            each big-data item (its manifests, its config,
//!                                        signatures), named plainly or "=" + base64(name)
//! <driver>-layers/layers.json            every layer: id, parent, diff digests and sizes
//! <driver>-layers/<id>.tar-split.gz      how to re-assemble the layer's tar from its files
//! ```
//!
//! Checked: every big-data item against the size and digest `images.json` records, and
//! the images' manifests and configs as documents ([`documents`]); every image's and
//! container's layer chain (each parent present), and each image's chain against its
//! config's diff IDs ([`diff_ids`]); every layer's tar-split present and a gzip stream
//! that decodes; and the layers no chain uses. With `--verify-layers`, each layer's tar
//! re-assembled from its tar-split and its files against its diff-digest ([`layers`]).
//! What a concurrent writer can cause is judged again after `--settle` ([`recheck`]).

mod diff_ids;
mod documents;
mod layers;
mod model;
mod recheck;

use std::collections::{HashMap, HashSet};

use crate::assemble::StorePart;
use crate::backend::{Backend, Entry, EntryKind};
use crate::finding::{Finding, Location};
use crate::kinds::containers_storage::model::{Container, Image, Layer};
use crate::kinds::detect::{has, is_dir};
use crate::kinds::{Context, Kind, Look, Recognised, Store, Then};
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{StoreKind, read_error};

/// The graph drivers whose `<driver>-images` and `<driver>-layers` are looked for.
const DRIVERS: [&str; 4] = ["overlay", "vfs", "btrfs", "zfs"];
/// Largest `images.json` or `layers.json` read.
const MAX_METADATA: u64 = 1 << 30;

/// The containers-storage kind.
pub struct ContainersStorage;

impl Kind for ContainersStorage {
    fn name(&self) -> StoreKind {
        StoreKind::ContainersStorage
    }

    /// `storage.lock` beside a driver's `-images` and `-layers` directories; nothing below
    /// is searched (the driver's directory holds whole file systems).
    fn recognise(
        &self,
        _look: &Look,
        dir: &Key,
        entries: &[Entry],
        _findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        if !has(entries, "storage.lock", |k| k == EntryKind::File) {
            return None;
        }
        let drivers: Vec<&'static str> = DRIVERS
            .into_iter()
            .filter(|d| {
                has(entries, &format!("{d}-images"), is_dir)
                    && has(entries, &format!("{d}-layers"), is_dir)
            })
            .collect();
        (!drivers.is_empty()).then(|| Recognised {
            store: Box::new(StorageRoot {
                prefix: dir.clone(),
                drivers,
            }),
            then: Then::Stop,
        })
    }

    /// The audit takes no lock: a removal or a pull between two of its reads can look
    /// like a missing item, layer or tar-split ([`recheck`]).
    fn is_confirmable(&self, finding: &Finding) -> bool {
        recheck::is_confirmable(finding)
    }

    fn recheck(&self, backend: &dyn Backend, finding: &Finding) -> Option<String> {
        recheck::recheck(backend, finding)
    }
}

/// One containers-storage root found, with the drivers it has metadata for.
pub struct StorageRoot {
    /// Its directory relative to the audited root.
    pub prefix: Key,
    /// The graph drivers with `-images` and `-layers` directories.
    pub drivers: Vec<&'static str>,
}

impl Store for StorageRoot {
    fn kind(&self) -> StoreKind {
        StoreKind::ContainersStorage
    }

    fn path(&self) -> &Key {
        &self.prefix
    }

    fn audit(&self, cx: &Context) -> StorePart {
        let mut part = StorePart::new(StoreKind::ContainersStorage, self.prefix.clone());
        let mut tally = layers::Tally::default();
        for driver in &self.drivers {
            audit_driver(cx, &self.prefix, driver, &mut tally, &mut part);
        }
        part.counters.bytes_hashed += tally.bytes;
        part.not_checked = if !cx.options.verify_layers {
            Some(
                "layers' unpacked files (--verify-layers re-assembles each layer and hashes it \
                 against its diff-digest)"
                    .to_owned(),
            )
        } else if tally.unverifiable > 0 {
            Some(format!(
                "{} layer{} with no diff-digest to re-assemble against (a container's own \
                 layer, a partial pull) or on zfs",
                tally.unverifiable,
                if tally.unverifiable == 1 { "" } else { "s" }
            ))
        } else {
            None
        };
        part
    }
}

/// One driver's images and layers in the store at `root`: its `<driver>-images` and
/// `<driver>-layers` directories, and with `--verify-layers` its layers' files.
fn audit_driver(
    cx: &Context,
    root: &Key,
    driver: &str,
    tally: &mut layers::Tally,
    part: &mut StorePart,
) {
    let (backend, options) = (cx.backend, &cx.options);
    let base = root.join(driver);
    let images_dir = Key::from_bytes([base.as_bytes(), b"-images"].concat());
    let layers_dir = Key::from_bytes([base.as_bytes(), b"-layers"].concat());
    let findings = &mut part.findings;
    let Some(images) = read_json::<Vec<Image>>(backend, &images_dir.join("images.json"), findings)
    else {
        return;
    };
    let Some(layers) = read_json::<Vec<Layer>>(backend, &layers_dir.join("layers.json"), findings)
    else {
        return;
    };
    // Containers are optional: a store that never ran one has no containers.json.
    let containers_json =
        Key::from_bytes([base.as_bytes(), b"-containers"].concat()).join("containers.json");
    let containers: Vec<Container> = match backend.stat(&containers_json) {
        Ok(_) => read_json(backend, &containers_json, findings).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    documents::check(backend, driver, &images_dir, &images, options, part);
    documents::check_unlisted(backend, &images_dir, &images, &mut part.findings);
    diff_ids::check(backend, &images_dir, &images, &layers, &mut part.findings);
    let used = check_chains(
        &images,
        &containers,
        &layers,
        &layers_dir,
        &mut part.findings,
    );
    let mut to_verify = Vec::new();
    for layer in &layers {
        // A layer being written has no tar-split and no image yet: an upload in progress.
        if layer.is_incomplete() {
            part.counters.uploads += 1;
            part.counters.upload_bytes += layer.diff_size.unwrap_or(0);
            continue;
        }
        // Verifying reads the tar-split through, which checks it as well. A layer with
        // no diff (a container's own) has neither tar-split nor digest to check.
        if !layer.has_diff() {
            tally.unverifiable += u64::from(options.verify_layers);
        } else if options.verify_layers {
            to_verify.push(layer);
        } else {
            check_tar_split(backend, &layers_dir, layer, &mut part.findings);
        }
        if !used.contains(layer.id.as_str()) {
            let bytes = layer.diff_size.unwrap_or(0);
            part.findings.push(
                Finding::new(
                    Rule::ContainersStorageLayerUnused,
                    Location::path(tar_split(&layers_dir, &layer.id)),
                    format!(
                        "layer {} is in no image's or container's chain ({bytes} bytes unpacked)",
                        layer.id
                    ),
                )
                .with_bytes(bytes),
            );
        }
    }
    if options.verify_layers {
        let verified = layers::verify(
            backend,
            cx.hashing,
            root,
            driver,
            &layers_dir,
            &to_verify,
            &mut part.findings,
        );
        tally.verified += verified.verified;
        tally.bytes += verified.bytes;
        tally.unverifiable += verified.unverifiable;
    }
    part.counters.repositories += images.len() as u64;
}

/// Every chain from an image's top layer, or a container's own layer, down: each parent
/// in `layers`, or `containers-storage-layer-missing`. Returns the layers on some chain.
fn check_chains<'l>(
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
fn read_json<T: serde::de::DeserializeOwned>(
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
fn tar_split(layers_dir: &Key, id: &str) -> Key {
    layers_dir.join(format!("{id}.tar-split.gz"))
}

/// A layer's tar-split, read whole (compressed); a finding and `None` when it is missing
/// or cannot be read.
fn read_tar_split(
    backend: &dyn Backend,
    key: &Key,
    layer: &Layer,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u8>> {
    match backend.read_small(key, layers::MAX_TAR_SPLIT) {
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
fn check_tar_split(
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
