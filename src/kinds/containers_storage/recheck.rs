//! Re-checking, after `--settle`, the findings a concurrent podman, CRI-O or buildah can
//! cause, since the audit takes none of the store's locks.
//!
//! containers-storage rewrites `images.json` and `layers.json` whole (write and rename),
//! so neither is ever torn; but the audit reads them, the big-data items and the layers'
//! files at different moments. A removal takes an image out of `images.json` and then
//! deletes its directory; a layer's removal flags it `incomplete`, deletes its files and
//! tar-split, then drops it from `layers.json`; a pull writes a layer before the image
//! that names it. Read between two of those steps, the store looks broken. So each such
//! finding is judged again on the metadata as it is now: if the record it is about is
//! gone, being removed, or whole now, the writer was mid-way. A layer whose files do not
//! re-assemble to its digest while it is still recorded, complete, stays an error: that
//! is content, not timing.

use crate::backend::Backend;
use crate::finding::Finding;
use crate::kinds::containers_storage::model::{Container, Image, Layer};
use crate::kinds::containers_storage::records::{check_chains, check_tar_split, read_json};
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{Presence, presence};

/// The rules [`recheck`] judges again.
pub fn is_confirmable(finding: &Finding) -> bool {
    matches!(
        finding.rule,
        Rule::ContainersStorageBigDataMissing
            | Rule::ContainersStorageBigDataMismatch
            | Rule::ContainersStorageBigDataUnlisted
            | Rule::ContainersStorageLayerChainMismatch
            | Rule::ContainersStorageLayerMissing
            | Rule::ContainersStorageTarSplitMissing
            | Rule::ContainersStorageLayerModified
    )
}

/// `None` when the finding stands on the metadata as it is now, else what changed.
pub fn recheck(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    let path = &finding.location.path;
    match finding.rule {
        // A chain that is not the config's is judged at the config's item: it stands
        // while the image is recorded (a pull writes layers before the image).
        Rule::ContainersStorageBigDataMissing
        | Rule::ContainersStorageBigDataMismatch
        | Rule::ContainersStorageLayerChainMismatch => big_data(backend, finding.rule, path),
        Rule::ContainersStorageBigDataUnlisted => unlisted(backend, path),
        Rule::ContainersStorageLayerMissing => layer_missing(backend, path),
        Rule::ContainersStorageTarSplitMissing | Rule::ContainersStorageLayerModified => {
            layer(backend, finding.rule, path)
        }
        _ => None,
    }
}

/// A big-data item at `<driver>-images/<image>/<item>`: is its image still recorded, and
/// is the item still absent or of another size?
fn big_data(backend: &dyn Backend, rule: Rule, path: &Key) -> Option<String> {
    let image_dir = path.parent()?;
    let images_dir = image_dir.parent()?;
    let id = std::str::from_utf8(image_dir.file_name()).ok()?;
    let images: Vec<Image> = read_json(backend, &images_dir.join("images.json"), &mut Vec::new())?;
    let Some(image) = images.iter().find(|i| i.id == id) else {
        return Some(format!(
            "image {id} is gone from images.json (removed during the audit)"
        ));
    };
    let file = path.file_name();
    let item = image
        .big_data_names
        .iter()
        .find(|name| super::documents::big_data_file(name).as_bytes() == file)?;
    match (rule, presence(backend, path)) {
        (Rule::ContainersStorageBigDataMissing, Presence::Present(..)) => {
            Some(format!("{item} is there now (written during the audit)"))
        }
        (Rule::ContainersStorageBigDataMismatch, Presence::Present(_, len))
            if image.big_data_sizes.get(item) == Some(&len) =>
        {
            Some(format!(
                "{item} has its recorded size now (written during the audit)"
            ))
        }
        _ => None,
    }
}

/// A file no image lists: is it gone, or listed now (a pull names an item once its file
/// is written)?
fn unlisted(backend: &dyn Backend, path: &Key) -> Option<String> {
    if matches!(presence(backend, path), Presence::Absent) {
        return Some("the file is gone (removed during the audit)".into());
    }
    let image_dir = path.parent()?;
    let images_dir = image_dir.parent()?;
    let id = std::str::from_utf8(image_dir.file_name()).ok()?;
    let images: Vec<Image> = read_json(backend, &images_dir.join("images.json"), &mut Vec::new())?;
    let listed = images.iter().filter(|i| i.id == id).any(|i| {
        i.big_data_names
            .iter()
            .any(|n| super::documents::big_data_file(n).as_bytes() == path.file_name())
    });
    listed.then(|| format!("image {id} lists it now (written during the audit)"))
}

/// The layers recorded now in the `-layers` directory holding `path`, and the layer ID
/// `path` (`<id>.tar-split.gz`) names.
fn layers_now(backend: &dyn Backend, path: &Key) -> Option<(Key, String, Vec<Layer>)> {
    let layers_dir = path.parent()?;
    let id = std::str::from_utf8(path.file_name())
        .ok()?
        .strip_suffix(".tar-split.gz")?
        .to_owned();
    let layers = read_json(backend, &layers_dir.join("layers.json"), &mut Vec::new())?;
    Some((layers_dir, id, layers))
}

/// A layer's tar-split missing, or its files not its digest: is it still recorded, and
/// complete (not being removed)? Is its tar-split there now, do its files re-assemble to
/// its digest now? (A pull writes a layer of the same ID again once a removal is done.)
fn layer(backend: &dyn Backend, rule: Rule, path: &Key) -> Option<String> {
    let (layers_dir, id, layers) = layers_now(backend, path)?;
    match layers.iter().find(|l| l.id == id) {
        None => Some(format!(
            "layer {id} is gone from layers.json (removed during the audit)"
        )),
        Some(layer) if layer.is_incomplete() => Some(format!(
            "layer {id} is flagged incomplete now (being removed or written during the audit)"
        )),
        Some(layer) if rule == Rule::ContainersStorageTarSplitMissing => {
            let mut now = Vec::new();
            check_tar_split(backend, &layers_dir, layer, &mut now);
            now.is_empty().then(|| {
                format!(
                    "layer {id}'s tar-split is there and decodes now (written during the audit)"
                )
            })
        }
        Some(layer) => {
            // `<root>/<driver>-layers`, or `<driver>-layers` when the store is the root.
            let name = layers_dir.file_name();
            let driver = std::str::from_utf8(name.strip_suffix(b"-layers")?).ok()?;
            let root = layers_dir.parent().unwrap_or_else(Key::root);
            let mut found = Vec::new();
            let verified =
                super::layers::verify_layer(backend, &root, driver, &layers_dir, layer, &mut found);
            (verified.is_some() && found.is_empty()).then(|| {
                format!("layer {id} re-assembles to its diff-digest now (written again during the audit)")
            })
        }
    }
}

/// A layer some chain names but `layers.json` lacks: walked again on the metadata as it is
/// now, does some chain still name it?
fn layer_missing(backend: &dyn Backend, path: &Key) -> Option<String> {
    let (layers_dir, id, layers) = layers_now(backend, path)?;
    let base = layers_dir.as_bytes().strip_suffix(b"-layers")?;
    let scratch = &mut Vec::new();
    let images: Vec<Image> = read_json(
        backend,
        &Key::from_bytes([base, b"-images"].concat()).join("images.json"),
        scratch,
    )?;
    let containers_json = Key::from_bytes([base, b"-containers"].concat()).join("containers.json");
    let containers: Vec<Container> = match presence(backend, &containers_json) {
        Presence::Present(..) => read_json(backend, &containers_json, scratch)?,
        _ => Vec::new(),
    };
    let mut now = Vec::new();
    check_chains(&images, &containers, &layers, &layers_dir, &mut now);
    let stands = now
        .iter()
        .any(|f| f.rule == Rule::ContainersStorageLayerMissing && f.location.path == *path);
    (!stands).then(|| {
        format!("no image or container names a missing layer {id} now (written or removed during the audit)")
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::local::{LocalFs, ReadMode};
    use crate::finding::Location;

    /// A copy of the committed corpus case `case`'s store.
    fn store(case: &str) -> (tempfile::TempDir, LocalFs) {
        let dir = tempfile::tempdir().unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/containers-storage")
            .join(case)
            .join("store");
        copy(&from, dir.path());
        let fs = LocalFs::new(dir.path().to_owned(), ReadMode::Auto);
        (dir, fs)
    }

    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    fn json(root: &Path, file: &str) -> Vec<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(root.join(file)).unwrap()).unwrap()
    }

    fn write(root: &Path, file: &str, value: &[serde_json::Value]) {
        std::fs::write(root.join(file), serde_json::to_vec(value).unwrap()).unwrap();
    }

    /// The one finding of `rule` an audit of `fs` gives.
    fn finding(fs: &LocalFs, rule: Rule) -> Finding {
        let options = crate::Options::default();
        let report = crate::audit(fs.root(), &options, &crate::NoProgress).unwrap();
        let mut found = report.findings.into_iter().filter(|f| f.rule == rule);
        let finding = found.next().expect("the finding");
        assert!(found.next().is_none());
        finding
    }

    #[test]
    fn a_missing_big_data_item_stands_until_its_image_is_removed() {
        let (dir, fs) = store("big-data-missing");
        let finding = finding(&fs, Rule::ContainersStorageBigDataMissing);
        assert!(is_confirmable(&finding));
        assert_eq!(recheck(&fs, &finding), None);
        let images: Vec<_> = json(dir.path(), "vfs-images/images.json");
        let id = finding.location.path.parent().unwrap();
        let id = std::str::from_utf8(id.file_name()).unwrap().to_owned();
        let kept: Vec<_> = images
            .into_iter()
            .filter(|i| i["id"] != id.as_str())
            .collect();
        write(dir.path(), "vfs-images/images.json", &kept);
        let changed = recheck(&fs, &finding).unwrap();
        assert!(changed.contains("gone from images.json"), "{changed}");
    }

    #[test]
    fn a_missing_tar_split_stands_until_its_layer_is_flagged_or_it_appears() {
        let (dir, fs) = store("tar-split-missing");
        let finding = finding(&fs, Rule::ContainersStorageTarSplitMissing);
        assert_eq!(recheck(&fs, &finding), None);
        let mut layers = json(dir.path(), "vfs-layers/layers.json");
        layers[0]["flags"] = serde_json::json!({"incomplete": true});
        write(dir.path(), "vfs-layers/layers.json", &layers);
        assert!(recheck(&fs, &finding).unwrap().contains("incomplete"));
        layers[0]["flags"] = serde_json::json!({});
        write(dir.path(), "vfs-layers/layers.json", &layers);
        assert_eq!(recheck(&fs, &finding), None);
        // Not gzip: there, and still no tar-split.
        let tar_split = dir.path().join(finding.location.path.lossy().as_ref());
        std::fs::write(&tar_split, b"not gzip").unwrap();
        assert_eq!(recheck(&fs, &finding), None);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, b"{\"type\":2,\"payload\":\"\",\"position\":0}\n")
            .unwrap();
        std::fs::write(&tar_split, gzip.finish().unwrap()).unwrap();
        assert!(recheck(&fs, &finding).unwrap().contains("decodes now"));
    }

    #[test]
    fn a_modified_layer_stands_until_it_is_removed_or_whole_again() {
        let (dir, fs) = store("layer-modified");
        let mut options = crate::Options::default();
        options.check.verify_layers = true;
        let report = crate::audit(fs.root(), &options, &crate::NoProgress).unwrap();
        let modified: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.rule == Rule::ContainersStorageLayerModified)
            .collect();
        assert_eq!(modified.len(), 2);
        for finding in &modified {
            assert_eq!(recheck(&fs, finding), None);
        }
        // The layer whose file was deleted: written again whole, as a pull of the same
        // image after a removal does.
        let missing = modified
            .iter()
            .find(|f| f.message.contains("is missing"))
            .unwrap();
        let id = std::str::from_utf8(missing.location.path.file_name())
            .unwrap()
            .strip_suffix(".tar-split.gz")
            .unwrap();
        let clean = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/containers-storage/layers-verified/store/vfs/dir")
            .join(id);
        std::fs::remove_dir_all(dir.path().join("vfs/dir").join(id)).unwrap();
        copy(&clean, &dir.path().join("vfs/dir").join(id));
        let changed = recheck(&fs, missing).unwrap();
        assert!(changed.contains("re-assembles"), "{changed}");
        // The other: its layer removed from layers.json.
        let other = modified.iter().find(|f| *f != missing).unwrap();
        write(dir.path(), "vfs-layers/layers.json", &[]);
        assert!(
            recheck(&fs, other)
                .unwrap()
                .contains("gone from layers.json")
        );
    }

    #[test]
    fn an_unlisted_file_stands_until_it_is_listed_or_gone() {
        let (dir, fs) = store("layer-unused");
        let options = crate::Options::default();
        let report = crate::audit(fs.root(), &options, &crate::NoProgress).unwrap();
        let unlisted: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.rule == Rule::ContainersStorageBigDataUnlisted)
            .collect();
        assert!(!unlisted.is_empty());
        assert!(unlisted.iter().all(|f| is_confirmable(f)));
        assert_eq!(recheck(&fs, unlisted[0]), None);
        std::fs::remove_file(dir.path().join(unlisted[0].location.path.lossy().as_ref())).unwrap();
        assert!(recheck(&fs, unlisted[0]).unwrap().contains("gone"));
    }

    #[test]
    fn a_missing_layer_stands_until_no_chain_names_it() {
        let (dir, fs) = store("layer-missing");
        let finding = finding(&fs, Rule::ContainersStorageLayerMissing);
        assert_eq!(recheck(&fs, &finding), None);
        // The image whose chain breaks is removed, as `podman rmi` would.
        write(dir.path(), "vfs-images/images.json", &[]);
        let changed = recheck(&fs, &finding).unwrap();
        assert!(changed.contains("no image or container"), "{changed}");
        let unrelated = Finding::new(
            Rule::ContainersStorageLayerUnused,
            Location::path(&finding.location.path),
            "",
        );
        assert!(!is_confirmable(&unrelated));
    }
}
