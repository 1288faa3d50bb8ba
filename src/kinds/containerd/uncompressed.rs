//! The `containerd.io/uncompressed` label of a layer's content record against the
//! `rootfs.diff_ids` entry its image's config lists for that layer: containerd trusts the
//! label instead of decompressing the layer again.

use std::collections::HashMap;

use crate::backend::Backend;
use crate::check::graph::Graph;
use crate::finding::{Finding, Location};
use crate::kinds::CheckOptions;
use crate::kinds::containerd::metadata::Namespace;
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{BlobPaths, LayoutRoot};

/// The label containerd puts on a layer's record: the digest of its uncompressed content.
const UNCOMPRESSED: &str = "containerd.io/uncompressed";

/// A layer whose record carries [`UNCOMPRESSED`]: its label, and where its diff_id is
/// (its position among a manifest's layers, and that manifest's config).
pub(super) struct Labelled {
    layer: Digest,
    label: String,
    position: usize,
    config: Digest,
}

/// Every layer of a manifest in `graph` whose record in `namespace` is labelled
/// [`UNCOMPRESSED`], each once per manifest.
pub(super) fn labelled_layers(graph: &Graph, namespace: &Namespace, out: &mut Vec<Labelled>) {
    for (_, loaded) in graph.docs.iter() {
        let Some(Document::Manifest(manifest)) = &loaded.document else {
            continue;
        };
        let Some(config) = manifest.config.as_ref().and_then(|c| c.digest.clone()) else {
            continue;
        };
        for (position, layer) in manifest.layers.iter().flatten().enumerate() {
            let Some(digest) = &layer.digest else {
                continue;
            };
            let Ok(at) = namespace.content.binary_search_by(|r| r.digest.cmp(digest)) else {
                continue;
            };
            let label = namespace.content[at]
                .labels
                .iter()
                .find(|(k, _)| k == UNCOMPRESSED);
            if let Some((_, label)) = label {
                out.push(Labelled {
                    layer: digest.clone(),
                    label: label.clone(),
                    position,
                    config: config.clone(),
                });
            }
        }
    }
}

/// Each labelled layer's [`UNCOMPRESSED`] label against the `rootfs.diff_ids` entry of
/// the config that lists it (read again here: the parsed config keeps only their
/// number). containerd trusts the label instead of decompressing the layer again.
pub(super) fn check_uncompressed(
    backend: &dyn Backend,
    namespace: &Namespace,
    labelled: Vec<Labelled>,
    content: &LayoutRoot,
    meta_db: &Key,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
) {
    let mut configs: HashMap<Digest, Option<Vec<String>>> = HashMap::new();
    for Labelled {
        layer,
        label,
        position,
        config,
    } in labelled
    {
        let diff_ids = configs.entry(config).or_insert_with_key(|config| {
            let bytes = backend
                .read_small(&content.blob_key(config), options.max_document_size)
                .ok()?;
            let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            let ids = value.pointer("/rootfs/diff_ids")?.as_array()?;
            Some(
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            )
        });
        let Some(expected) = diff_ids.as_ref().and_then(|ids| ids.get(position)) else {
            continue;
        };
        if *expected == label {
            continue;
        }
        let pointer = namespace.record_pointer(&layer, &[b"labels", UNCOMPRESSED.as_bytes()]);
        findings.push(
            Finding::new(
                Rule::ContainerdUncompressedLabelMismatch,
                Location::path(content.blob_key(&layer))
                    .with_digest(Some(layer.clone()))
                    .via(meta_db, pointer),
                format!(
                    "namespace {}'s {UNCOMPRESSED} label is not the layer's diff_id in its image config",
                    namespace.name
                ),
            )
            .expected_found(expected, &label),
        );
    }
}
