//! The Docker 25+ agreement. Since Docker 25, `docker save` writes an OCI image layout
//! beside `manifest.json` (`index.json`, `oci-layout`, `blobs/`); the layout is audited as
//! one, and here the two views must agree both ways: each `manifest.json` entry's config
//! and layers are an image manifest `index.json` reaches, each `index.json` entry reaches
//! an image some `manifest.json` entry lists, and the names the entries carry
//! (`io.containerd.image.name`) are the RepoTags.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::Archive;
use super::manifest::{DockerAudit, ImageBlobs, MANIFEST};
use super::tags::parse_repo_tag;
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;

/// The OCI view of a Docker 25+ archive: what `index.json` reaches.
pub(super) struct OciView {
    /// Every image manifest reached.
    images: HashSet<ImageBlobs>,
    /// Each `index.json` entry: its JSON pointer, its `io.containerd.image.name`, and the
    /// image manifests it reaches.
    entries: Vec<(String, Option<String>, HashSet<ImageBlobs>)>,
}

/// What `index.json` reaches, when the archive has one (Docker 25+). Each document is read
/// once, however often the indexes name it: a fan of indexes naming each other is as
/// cheap as a list.
pub(super) fn oci_view(archive: &Archive, max: u64) -> Option<OciView> {
    let index: Value =
        serde_json::from_slice(&archive.read_small(&Key::from("index.json"), max).ok()?).ok()?;
    let digest_of = |v: &Value| {
        v.get("digest")
            .and_then(Value::as_str)
            .and_then(|d| Digest::parse(d).ok())
    };
    let top: Vec<(String, Option<String>, Digest)> = index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, descriptor)| {
            let name = descriptor
                .pointer("/annotations/io.containerd.image.name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((format!("/manifests/{i}"), name, digest_of(descriptor)?))
        })
        .collect();
    // Every document reached, once: its children and, for a manifest, its blobs.
    let mut graph: HashMap<Digest, (Vec<Digest>, Option<ImageBlobs>)> = HashMap::new();
    let mut pending: Vec<Digest> = top.iter().map(|(_, _, d)| d.clone()).collect();
    while let Some(digest) = pending.pop() {
        if graph.contains_key(&digest) {
            continue;
        }
        let document = blob_json(archive, &digest, max).unwrap_or(Value::Null);
        let children: Vec<Digest> = document
            .get("manifests")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(digest_of).collect())
            .unwrap_or_default();
        let image = match (
            document.get("config").and_then(digest_of),
            document.get("layers").and_then(Value::as_array),
        ) {
            (Some(config), Some(layers)) => {
                Some((config, layers.iter().filter_map(digest_of).collect()))
            }
            _ => None,
        };
        pending.extend(children.iter().filter(|c| !graph.contains_key(*c)).cloned());
        graph.insert(digest, (children, image));
    }
    let images = graph
        .values()
        .filter_map(|(_, image)| image.clone())
        .collect();
    let entries = top
        .into_iter()
        .map(|(pointer, name, digest)| {
            let mut reached = HashSet::new();
            let mut seen = HashSet::new();
            let mut pending = vec![digest];
            while let Some(digest) = pending.pop() {
                if !seen.insert(digest.clone()) {
                    continue;
                }
                if let Some((children, image)) = graph.get(&digest) {
                    reached.extend(image.clone());
                    pending.extend(children.iter().cloned());
                }
            }
            (pointer, name, reached)
        })
        .collect();
    Some(OciView { images, entries })
}

/// The JSON of blob `digest` in the layout, if it reads and parses.
fn blob_json(archive: &Archive, digest: &Digest, max: u64) -> Option<Value> {
    let key =
        Key::from_bytes(format!("blobs/{}/{}", digest.algorithm(), digest.encoded()).into_bytes());
    serde_json::from_slice(&archive.read_small(&key, max).ok()?).ok()
}

/// A `manifest.json` entry of a Docker 25+ archive (at `at`, its config at `config`)
/// must be an image of its OCI view.
pub(super) fn check_oci_agrees(
    oci: &OciView,
    config: &Key,
    image: &ImageBlobs,
    at: &str,
    audit: &mut DockerAudit,
) {
    if oci.images.contains(image) {
        return;
    }
    let digest = &image.0;
    let same_config = oci.images.iter().any(|(config, _)| config == digest);
    audit.findings.push(Finding::new(
        Rule::DockerOciMismatch,
        Location::path(config.clone())
            .with_digest(Some(digest.clone()))
            .via(MANIFEST, at),
        if same_config {
            "index.json reaches an image manifest with this config but other layers"
        } else {
            "no image manifest index.json reaches has this config"
        },
    ));
}

/// The other direction of a Docker 25+ archive's agreement: every `index.json` entry
/// reaches an image some `manifest.json` entry lists (one platform of a multi-platform
/// index is enough: Docker lists the one it loads), and the names the entries carry
/// (`io.containerd.image.name`) are the RepoTags, both ways.
pub(super) fn check_index_agrees(
    oci: &OciView,
    images: &HashSet<ImageBlobs>,
    tagged: &BTreeSet<(String, String)>,
    audit: &mut DockerAudit,
) {
    let index = || Key::from("index.json");
    let mut named = BTreeSet::new();
    for (pointer, name, reached) in &oci.entries {
        if !reached.is_empty() && reached.is_disjoint(images) {
            audit.findings.push(Finding::new(
                Rule::DockerOciMismatch,
                Location::path(index()).via(index(), pointer.clone()),
                "index.json lists an image that no manifest.json entry has",
            ));
        }
        let Some(name) = name else { continue };
        match parse_repo_tag(name) {
            Ok(name_tag) if tagged.contains(&name_tag) => {
                named.insert(name_tag);
            }
            Ok(name_tag) => {
                audit.findings.push(Finding::new(
                    Rule::DockerOciMismatch,
                    Location::path(index()).via(index(), pointer.clone()),
                    format!("index.json names {name}, which no manifest.json RepoTags has"),
                ));
                named.insert(name_tag);
            }
            // A digest reference or an untagged name: nothing RepoTags could hold.
            Err(_) => {}
        }
    }
    if oci.entries.iter().all(|(_, name, _)| name.is_none()) {
        // Annotated by neither skopeo nor older tools: no names to compare.
        return;
    }
    for (name, tag) in tagged.difference(&named) {
        audit.findings.push(Finding::new(
            Rule::DockerOciMismatch,
            Location::path(Key::from(MANIFEST)),
            format!("manifest.json tags {name}:{tag}, which no index.json entry names"),
        ));
    }
}
