//! The records of containers-storage's `images.json` and `layers.json`, read leniently:
//! fields this audit does not use are ignored, and those it uses are optional where
//! containers-storage omits them.

use std::collections::HashMap;

use serde::Deserialize;

/// One image of `images.json`.
#[derive(Debug, Deserialize)]
pub struct Image {
    /// Its ID (a pulled image's is its config's encoded digest).
    pub id: String,
    /// Its names (`localhost/test/a:1`).
    #[serde(default)]
    pub names: Vec<String>,
    /// Its top layer's ID.
    #[serde(default)]
    pub layer: Option<String>,
    /// Its big-data items: manifests, config, signatures.
    #[serde(default, rename = "big-data-names")]
    pub big_data_names: Vec<String>,
    /// Each item's recorded size.
    #[serde(default, rename = "big-data-sizes")]
    pub big_data_sizes: HashMap<String, u64>,
    /// Each item's recorded digest.
    #[serde(default, rename = "big-data-digests")]
    pub big_data_digests: HashMap<String, String>,
}

/// One layer of `layers.json`.
#[derive(Debug, Deserialize)]
pub struct Layer {
    /// Its ID.
    pub id: String,
    /// Its parent's ID, unless it is a base layer.
    #[serde(default)]
    pub parent: Option<String>,
    /// The digest of its uncompressed diff: the tar its tar-split and its files
    /// re-assemble to. Absent for a container's own layer, and for a layer pulled in
    /// part (zstd:chunked), which is known by its TOC digest instead.
    #[serde(default, rename = "diff-digest")]
    pub diff_digest: Option<String>,
    /// The size of its uncompressed diff.
    #[serde(default, rename = "diff-size")]
    pub diff_size: Option<u64>,
    /// Its flags; `incomplete` marks a layer still being written (or left by a writer
    /// that died, which containers-storage deletes when it next loads the store).
    #[serde(default)]
    pub flags: HashMap<String, serde_json::Value>,
}

impl Layer {
    /// Whether it was made from a diff (pulled, copied, committed), so containers-storage
    /// keeps a tar-split for it. A layer made empty and written in place (a container's
    /// read-write layer) has neither diff digest nor size, and no tar-split: its diff is
    /// worked out from its files when it is needed.
    pub fn has_diff(&self) -> bool {
        self.diff_digest.is_some() || self.diff_size.is_some()
    }

    /// Whether it is still being written.
    pub fn is_incomplete(&self) -> bool {
        self.flags
            .get("incomplete")
            .is_some_and(|v| v == &serde_json::Value::Bool(true))
    }
}

/// One container of `containers.json`: its own layer keeps its image's chain in use.
#[derive(Debug, Deserialize)]
pub struct Container {
    /// Its read-write layer's ID.
    #[serde(default)]
    pub layer: Option<String>,
}
