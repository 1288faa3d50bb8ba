//! Each image's layer chain against its config: the chain from the image's top layer
//! down to a base layer, read base first, must be the layers whose `diff-digest` the
//! config lists in `rootfs.diff_ids`, one for one. The chain's structure (each parent
//! present) is checked on its own; this checks that it is this image's chain: an image
//! record pointing at another image's top layer, or a layer swapped under it, runs other
//! files than its config describes, and pushes layers its config does not name.

use std::collections::HashMap;

use serde::Deserialize;

use crate::backend::Backend;
use crate::finding::{Finding, Location};
use crate::kinds::containers_storage::documents::big_data_file;
use crate::kinds::containers_storage::model::{Image, Layer};
use crate::model::key::Key;
use crate::rules::Rule;

/// Largest config read for its diff IDs.
const MAX_CONFIG: u64 = 8 * 1024 * 1024;

/// The part of an image config this check reads.
#[derive(Deserialize)]
struct Config {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Every image whose config is among its big-data items (the item named by its ID, as
/// containers-storage names a pulled image's config) against its chain. An image whose
/// config, chain or layers cannot be read is left to the checks that say so.
pub(super) fn check(
    backend: &dyn Backend,
    images_dir: &Key,
    images: &[Image],
    layers: &[Layer],
    findings: &mut Vec<Finding>,
) {
    let by_id: HashMap<&str, &Layer> = layers.iter().map(|l| (l.id.as_str(), l)).collect();
    for image in images {
        let name = format!("sha256:{}", image.id);
        if !image.big_data_names.contains(&name) {
            continue;
        }
        let key = images_dir.join(&image.id).join(big_data_file(&name));
        let Ok(bytes) = backend.read_small(&key, MAX_CONFIG) else {
            continue;
        };
        let Ok(Config {
            rootfs: Some(rootfs),
        }) = serde_json::from_slice(&bytes)
        else {
            continue;
        };
        let Some(chain) = chain(image, &by_id, layers.len()) else {
            continue;
        };
        if let Some(why) = differs(&chain, &rootfs.diff_ids) {
            findings.push(Finding::new(
                Rule::ContainersStorageLayerChainMismatch,
                Location::path(&key),
                format!(
                    "image {}'s layer chain is not its config's: {why}",
                    image.id
                ),
            ));
        }
    }
}

/// The image's chain, base layer first; `None` when a layer is missing or the parents
/// loop (findings of their own).
fn chain<'l>(
    image: &Image,
    by_id: &HashMap<&str, &'l Layer>,
    limit: usize,
) -> Option<Vec<&'l Layer>> {
    let mut chain = Vec::new();
    let mut next = image.layer.as_deref();
    while let Some(id) = next {
        let layer = by_id.get(id)?;
        chain.push(*layer);
        if chain.len() > limit {
            return None;
        }
        next = layer.parent.as_deref();
    }
    chain.reverse();
    Some(chain)
}

/// How the chain differs from the diff IDs, if it does. A layer without a diff-digest
/// (pulled in part) matches any.
fn differs(chain: &[&Layer], diff_ids: &[String]) -> Option<String> {
    if chain.len() != diff_ids.len() {
        return Some(format!(
            "{} layer{} from its top layer down, {} diff_id{} in its config",
            chain.len(),
            if chain.len() == 1 { "" } else { "s" },
            diff_ids.len(),
            if diff_ids.len() == 1 { "" } else { "s" },
        ));
    }
    chain.iter().zip(diff_ids).enumerate().find_map(|(i, (layer, diff_id))| {
        let digest = layer.diff_digest.as_deref()?;
        (digest != diff_id).then(|| {
            format!(
                "layer {} (number {} from the base) has diff-digest {digest}, the config lists {diff_id}",
                layer.id,
                i + 1
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(id: &str, diff_digest: Option<&str>) -> Layer {
        serde_json::from_value(serde_json::json!({"id": id, "diff-digest": diff_digest})).unwrap()
    }

    #[test]
    fn a_chain_differs_by_length_or_by_the_layer_at_a_place() {
        let (a, b) = (layer("a", Some("sha256:aa")), layer("b", Some("sha256:bb")));
        let ids = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(differs(&[&a, &b], &ids(&["sha256:aa", "sha256:bb"])), None);
        let swapped = differs(&[&b, &a], &ids(&["sha256:aa", "sha256:bb"])).unwrap();
        assert!(
            swapped.starts_with("layer b (number 1 from the base)"),
            "{swapped}"
        );
        let short = differs(&[&a], &ids(&["sha256:aa", "sha256:bb"])).unwrap();
        assert!(short.starts_with("1 layer from"), "{short}");
        // A layer pulled in part has no diff-digest: it matches any.
        let partial = layer("p", None);
        assert_eq!(
            differs(&[&a, &partial], &ids(&["sha256:aa", "sha256:cc"])),
            None
        );
    }
}
