//! Layers containerd discarded once it unpacked them (`discard_unpacked_layers`, set by
//! many Kubernetes distributions): the snapshot holds the files, and neither a content
//! record nor a blob is left. A fact of a node's store, shown with each image's platform
//! coverage (`discarded_layers`), and a finding only with `--require-layers`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::check::graph::Graph;
use crate::model::coverage::Coverage;
use crate::model::digest::Digest;
use crate::model::document::Document;

/// For each image of the namespace (keyed by its entry's pointer in the images index),
/// the layers its manifests list that the namespace does not record, in the order they
/// are first listed.
pub(super) fn per_image(
    graph: &Graph,
    recorded: &HashSet<&Digest>,
) -> HashMap<String, Vec<Digest>> {
    let mut out = HashMap::new();
    let Some(index) = graph.index_json else {
        return out;
    };
    for entry in &index.manifests {
        let Some(root) = &entry.digest else { continue };
        let mut discarded = Vec::new();
        let mut seen: HashSet<&Digest> = HashSet::new();
        // Depth-first with a stack of its own: nesting is the store's to choose.
        let mut stack = vec![root];
        let mut visited: HashSet<&Digest> = HashSet::from([root]);
        while let Some(digest) = stack.pop() {
            match graph.docs.get(digest).and_then(|l| l.document.as_ref()) {
                Some(Document::Index(index)) => {
                    for child in index.manifests.iter().rev() {
                        if let Some(child) = child.digest.as_ref().filter(|d| visited.insert(d)) {
                            stack.push(child);
                        }
                    }
                }
                Some(Document::Manifest(manifest)) => {
                    for layer in manifest.layers.iter().flatten() {
                        if let Some(layer) = layer.digest.as_ref() {
                            if !recorded.contains(layer) && seen.insert(layer) {
                                discarded.push(layer.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !discarded.is_empty() {
            out.insert(entry.pointer.to_string(), discarded);
        }
    }
    out
}

/// Adds each image's discarded layers to its coverage entry.
pub(super) fn show(coverage: &mut [Coverage], mut per_image: HashMap<String, Vec<Digest>>) {
    for entry in coverage {
        if let Some(layers) = per_image.remove(&entry.pointer) {
            let mut exceptions = (*entry.exceptions).clone();
            exceptions.discarded_layers = layers;
            entry.exceptions = Arc::new(exceptions);
        }
    }
}
