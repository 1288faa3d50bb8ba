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
mod records;

use crate::assemble::StorePart;
use crate::backend::{Backend, Entry, EntryKind};
use crate::finding::{Finding, Location};
use crate::kinds::containers_storage::model::{Container, Image, Layer};
use crate::kinds::containers_storage::records::{
    check_chains, check_tar_split, read_json, tar_split,
};
use crate::kinds::detect::{has, is_dir};
use crate::kinds::{Context, Kind, Look, Recognised, Store, Then};
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::StoreKind;

/// The graph drivers whose `<driver>-images` and `<driver>-layers` are looked for.
const DRIVERS: [&str; 4] = ["overlay", "vfs", "btrfs", "zfs"];

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
                 layer, a partial pull), on zfs, or kept for composefs",
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
        tally.bytes += verified.bytes;
        tally.unverifiable += verified.unverifiable;
    }
    part.counters.repositories += images.len() as u64;
}
