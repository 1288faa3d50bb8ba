//! `manifest.json`'s entries and the members they name, checked as `docker load` reads
//! them: each entry an object, its `Config` a string and its `Layers` an array of strings;
//! every path inside the archive (no `/` at its start, no `..`) and naming a regular member
//! there (links inside the archive followed); a member named by its sha256 digest
//! (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`) hashing to it; as many layers as the
//! config's `rootfs.diff_ids` ("layers length mismatch"), each uncompressed layer hashing
//! to its diff_id ("invalid diffID"). Layers are not decompressed (the archive is read
//! once), so a compressed layer's diff_id is reported as unverified.
//!
//! It also holds what the other parts share: [`DockerAudit`], which they fill, and
//! `read_json`, by which every JSON member is read.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Archive;
use crate::backend::archive::Node;
use crate::finding::{Finding, Location};
use crate::model::coverage::Coverage;
use crate::model::digest::{Algorithm, Digest};
use crate::model::key::Key;
use crate::model::platform::Platform;
use crate::rules::Rule;

/// What the Docker view found.
#[derive(Debug, Default)]
pub struct DockerAudit {
    /// Findings.
    pub findings: Vec<Finding>,
    /// One coverage entry per RepoTag.
    pub coverage: Vec<Coverage>,
    /// Documents parsed (`manifest.json`, `repositories`, configs).
    pub documents: u64,
    /// The configs and layers named, with their lengths (each once), all hashed in the
    /// archive's pass.
    pub members: BTreeMap<Key, u64>,
}

/// `manifest.json`, where findings about it point.
pub(super) const MANIFEST: &str = "manifest.json";

/// A `docker-manifest-invalid` finding at `pointer` in `manifest.json`.
pub(super) fn invalid(pointer: &str, message: &str) -> Finding {
    Finding::new(
        Rule::DockerManifestInvalid,
        Location::path(Key::from(MANIFEST)).via(MANIFEST, pointer),
        message,
    )
}

/// Reads and parses a JSON member, or reports why not.
pub(super) fn read_json(
    archive: &Archive,
    key: &Key,
    max: u64,
    audit: &mut DockerAudit,
) -> Option<Value> {
    let bytes = match archive.read_small(key, max) {
        Ok(bytes) => bytes,
        Err(error) => {
            audit.findings.push(error.finding(key));
            return None;
        }
    };
    audit.documents += 1;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            audit.findings.push(Finding::new(
                Rule::DockerManifestInvalid,
                Location::path(key.clone()),
                format!("not valid JSON: {error}"),
            ));
            None
        }
    }
}

/// An image manifest's config and layers.
pub(super) type ImageBlobs = (Digest, Vec<Digest>);

/// What a `manifest.json` entry lists, once its config is read.
pub(super) struct ListedImage {
    /// What its config says.
    pub(super) image: Image,
    /// Its config and layers, when every layer was found and hashed.
    pub(super) blobs: Option<ImageBlobs>,
}

/// One `manifest.json` entry (at `at`): its config, and its layers against their names
/// and diff_ids. `None` when its config could not be read.
pub(super) fn check_entry(
    archive: &Archive,
    at: &str,
    entry: &Value,
    max_document_size: u64,
    audit: &mut DockerAudit,
) -> Option<ListedImage> {
    let Value::Object(entry) = entry else {
        audit
            .findings
            .push(invalid(at, "an entry that is not an object"));
        return None;
    };
    let config = match entry.get("Config") {
        Some(Value::String(path)) => Some(path.as_str()),
        _ => {
            audit
                .findings
                .push(invalid(&format!("{at}/Config"), "Config is not a string"));
            None
        }
    };
    let layers: Vec<Option<&str>> = match entry.get("Layers") {
        Some(Value::Array(layers)) => layers.iter().map(Value::as_str).collect(),
        _ => {
            audit
                .findings
                .push(invalid(&format!("{at}/Layers"), "Layers is not an array"));
            Vec::new()
        }
    };
    let image = config.and_then(|path| {
        check_config(
            archive,
            path,
            &format!("{at}/Config"),
            max_document_size,
            audit,
        )
    });
    let mut layer_digests = Vec::with_capacity(layers.len());
    for (j, layer) in layers.iter().enumerate() {
        let pointer = format!("{at}/Layers/{j}");
        let Some(path) = layer else {
            audit
                .findings
                .push(invalid(&pointer, "a layer path that is not a string"));
            layer_digests.push(None);
            continue;
        };
        let diff_id = image
            .as_ref()
            .and_then(|i| i.diff_ids.get(j).cloned().flatten());
        layer_digests.push(check_layer(archive, path, &pointer, diff_id, audit));
    }
    let image = image?;
    if image.diff_ids.len() != layers.len() {
        audit.findings.push(
            Finding::new(
                Rule::DockerDiffIdMismatch,
                Location::path(image.key.clone()).via(MANIFEST, format!("{at}/Layers")),
                "Layers and the config's rootfs.diff_ids differ in number (docker load: layers length mismatch)",
            )
            .expected_found(format!("{} diff_ids", layers.len()), image.diff_ids.len()),
        );
    }
    let blobs = layer_digests.into_iter().collect::<Option<Vec<_>>>();
    let blobs = blobs.map(|layers| (image.digest.clone(), layers));
    Some(ListedImage { image, blobs })
}

/// What a config says, once read.
pub(super) struct Image {
    /// The config member.
    pub(super) key: Key,
    /// What it hashed to.
    pub(super) digest: Digest,
    diff_ids: Vec<Option<Digest>>,
    /// Its `os`, `architecture`, `variant` and `os.version`, when it has an architecture.
    pub(super) platform: Option<Platform>,
}

/// The config at `path`: present, hashing to the digest its name says, with its diff_ids
/// and platform.
fn check_config(
    archive: &Archive,
    path: &str,
    pointer: &str,
    max_document_size: u64,
    audit: &mut DockerAudit,
) -> Option<Image> {
    let (key, node) = member(archive, path, pointer, audit)?;
    let digest = node.content.as_ref()?.digest.clone()?;
    check_name_digest(&key, path, &digest, pointer, audit);
    let config = read_json(archive, &key, max_document_size, audit)?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let platform = text(config.get("architecture")).map(|architecture| {
        Platform::new(
            text(config.get("os")).unwrap_or_default(),
            architecture,
            text(config.get("variant")),
            text(config.get("os.version")),
        )
    });
    let diff_ids: Vec<Option<Digest>> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .map(|id| id.as_str().and_then(|s| Digest::parse(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    for (i, _) in diff_ids.iter().enumerate().filter(|(_, id)| id.is_none()) {
        audit.findings.push(Finding::new(
            Rule::DockerDiffIdMismatch,
            Location::path(key.clone()).via(MANIFEST, pointer),
            format!("rootfs.diff_ids/{i} is not a digest (docker load: invalid diffID)"),
        ));
    }
    Some(Image {
        key,
        digest,
        diff_ids,
        platform,
    })
}

/// The layer at `path`: present, hashing to its name's digest and to its diff_id.
/// Returns its digest.
fn check_layer(
    archive: &Archive,
    path: &str,
    pointer: &str,
    diff_id: Option<Digest>,
    audit: &mut DockerAudit,
) -> Option<Digest> {
    let (key, node) = member(archive, path, pointer, audit)?;
    let content = node.content.as_ref()?;
    let digest = content.digest.clone()?;
    check_name_digest(&key, path, &digest, pointer, audit);
    let Some(diff_id) = diff_id else {
        return Some(digest);
    };
    let location = || Location::path(key.clone()).via(MANIFEST, pointer);
    if diff_id.algorithm() != digest.algorithm() {
        audit.findings.push(Finding::new(
            Rule::DockerDiffIdUnverified,
            location(),
            format!(
                "the diff_id {diff_id} is {}, and the pass hashed the layer as {}",
                diff_id.algorithm(),
                digest.algorithm()
            ),
        ));
        return Some(digest);
    }
    match content.compression {
        Some(compression) => audit.findings.push(Finding::new(
            Rule::DockerDiffIdUnverified,
            location(),
            format!(
                "the layer is {}-compressed; its diff_id {diff_id} is not checked (the archive is read once, layers are not decompressed)",
                compression.name()
            ),
        )),
        None if digest != diff_id => audit.findings.push(
            Finding::new(
                Rule::DockerDiffIdMismatch,
                location(),
                "the layer does not hash to the config's rootfs.diff_ids entry (docker load: invalid diffID)",
            )
            .expected_found(&diff_id, &digest),
        ),
        None => {}
    }
    Some(digest)
}

/// The regular member a `manifest.json` path names (links inside the archive followed),
/// or a finding.
fn member<'a>(
    archive: &Archive<'a>,
    path: &str,
    pointer: &str,
    audit: &mut DockerAudit,
) -> Option<(Key, &'a Node)> {
    let key = Key::from_bytes(
        path.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect::<Vec<_>>()
            .join("/")
            .into_bytes(),
    );
    if path.starts_with('/') || path.split('/').any(|c| c == "..") {
        audit.findings.push(Finding::new(
            Rule::DockerManifestInvalid,
            Location::path(Key::from(MANIFEST)).via(MANIFEST, pointer),
            format!("{path}: a path outside the archive"),
        ));
        return None;
    }
    match archive.resolve(&key) {
        Some((target, node)) => {
            audit.members.insert(target.clone(), node.len);
            Some((key, node))
        }
        None => {
            audit.findings.push(Finding::new(
                Rule::DockerMemberMissing,
                Location::path(key).via(MANIFEST, pointer),
                "manifest.json names a member the archive does not hold (or not as a file)",
            ));
            None
        }
    }
}

/// A member named by its digest (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`) must
/// hash to it.
fn check_name_digest(
    key: &Key,
    path: &str,
    digest: &Digest,
    pointer: &str,
    audit: &mut DockerAudit,
) {
    let file = path.rsplit('/').next().unwrap_or(path);
    let in_blobs = path
        .trim_end_matches(file)
        .trim_end_matches('/')
        .ends_with("blobs/sha256");
    let hex = match file.rsplit_once('.') {
        Some((hex, "json" | "tar")) if !in_blobs => hex,
        _ if in_blobs => file,
        _ => return,
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return;
    }
    let Ok(named) = Digest::parse(&format!("sha256:{hex}")) else {
        return;
    };
    if named != *digest && digest.algorithm() == &Algorithm::Sha256 {
        audit.findings.push(
            Finding::new(
                Rule::DockerDigestMismatch,
                Location::path(key.clone())
                    .with_digest(Some(named.clone()))
                    .via(MANIFEST, pointer),
                "the member does not hash to the digest its name says",
            )
            .expected_found(&named, digest),
        );
    }
}
