//! A Docker archive (`docker save`, `skopeo copy … docker-archive:`): `manifest.json`,
//! `repositories`, and the configs and layers they name, checked as `docker load` would
//! read them, against what the archive's one streaming pass hashed.
//!
//! ```text
//! manifest.json  [{"Config": "<hex>.json" | "blobs/sha256/<hex>",
//!                  "RepoTags": ["name:tag", …],
//!                  "Layers": ["<id>/layer.tar" | "<hex>.tar" | "blobs/sha256/<hex>", …]}]
//! repositories   {"name": {"tag": "<top layer id>"}}        (legacy; optional)
//! ```
//!
//! Since Docker 25 the same archive is also an OCI image layout; the layout is audited as
//! one, and here each `manifest.json` entry must match an image manifest of `index.json`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::assemble::StorePart;
use crate::backend::archive::{ArchiveBackend, Node};
use crate::backend::{Backend, Entry, EntryKind};
use crate::finding::{Finding, Location};
use crate::kinds::detect::Found;
use crate::kinds::distribution::checks::{is_repository_name, is_tag};
use crate::kinds::{Context, Kind, Look, Store};
use crate::model::coverage::{Coverage, Exceptions};
use crate::model::digest::{Algorithm, Digest};
use crate::model::key::Key;
use crate::model::platform::Platform;
use crate::rules::Rule;
use crate::store::{StoreKind, io_finding};

/// The Docker archive kind: an image archive whose root holds `manifest.json`.
pub struct DockerArchive;

impl Kind for DockerArchive {
    fn name(&self) -> StoreKind {
        StoreKind::DockerArchive
    }

    fn recognise_tree(&self, look: &Look, _root_entries: &[Entry], found: &mut Found) {
        let is_docker = look.archive.is_some()
            && look
                .backend
                .stat(&Key::from(MANIFEST))
                .is_ok_and(|s| s.kind == EntryKind::File);
        if is_docker {
            let with_layout = found
                .stores
                .iter()
                .any(|s| s.kind() == StoreKind::OciLayout);
            found.stores.push(Box::new(DockerView {
                root: Key::root(),
                with_layout,
            }));
        }
    }
}

/// The Docker view of an archive.
struct DockerView {
    root: Key,
    /// Whether the archive is also an OCI layout (Docker 25+), whose blobs the layout's
    /// audit counts.
    with_layout: bool,
}

impl Store for DockerView {
    fn kind(&self) -> StoreKind {
        StoreKind::DockerArchive
    }

    fn path(&self) -> &Key {
        &self.root
    }

    fn audit(&self, cx: &Context) -> StorePart {
        let mut part = StorePart::new(StoreKind::DockerArchive, self.root.clone());
        let Some(archive) = cx.archive else {
            return part;
        };
        let mut docker = check(archive, cx.options.max_document_size);
        part.counters.documents = docker.documents;
        if !self.with_layout {
            // Without an OCI view, the Docker view's configs and layers are the blobs,
            // all hashed in the archive's pass.
            let bytes: u64 = docker.members.values().sum();
            part.counters.blobs = docker.members.len() as u64;
            part.counters.bytes = bytes;
            part.counters.bytes_hashed = bytes;
        }
        part.findings.append(&mut docker.findings);
        part.coverage.append(&mut docker.coverage);
        part
    }
}

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
    pub members: std::collections::BTreeMap<Key, u64>,
}

/// `manifest.json`, where findings about it point.
const MANIFEST: &str = "manifest.json";

/// Checks the Docker view of `archive` (whose root holds `manifest.json`).
pub fn check(archive: &ArchiveBackend, max_document_size: u64) -> DockerAudit {
    let mut audit = DockerAudit::default();
    let Some(manifest) = read_json(archive, &Key::from(MANIFEST), max_document_size, &mut audit)
    else {
        return audit;
    };
    let Value::Array(entries) = manifest else {
        audit
            .findings
            .push(invalid("", "manifest.json is not a JSON array"));
        return audit;
    };
    let oci = oci_view(archive, max_document_size);
    let mut tagged: BTreeSet<(String, String)> = BTreeSet::new();
    let mut images: HashSet<ImageBlobs> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let image = check_entry(
            archive,
            &format!("/{i}"),
            entry,
            oci.as_ref(),
            max_document_size,
            &mut images,
            &mut audit,
        );
        if let Value::Object(entry) = entry {
            let at = format!("/{i}/RepoTags");
            check_repo_tags(
                entry.get("RepoTags"),
                &at,
                image.as_ref(),
                &mut tagged,
                &mut audit,
            );
        }
    }
    if let Some(oci) = &oci {
        check_index_agrees(oci, &images, &tagged, &mut audit);
    }
    check_repositories(archive, &tagged, max_document_size, &mut audit);
    audit
}

/// A `docker-manifest-invalid` finding at `pointer` in `manifest.json`.
fn invalid(pointer: &str, message: &str) -> Finding {
    Finding::new(
        Rule::DockerManifestInvalid,
        Location::path(Key::from(MANIFEST)).via(MANIFEST, pointer),
        message,
    )
}

/// One `manifest.json` entry (at `at`): its config, its layers against their names and
/// diff_ids, and (in a Docker 25+ archive) the OCI view. Returns what its config says.
fn check_entry(
    archive: &ArchiveBackend,
    at: &str,
    entry: &Value,
    oci: Option<&OciView>,
    max_document_size: u64,
    images: &mut HashSet<ImageBlobs>,
    audit: &mut DockerAudit,
) -> Option<Image> {
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
    if let Some(oci) = oci {
        check_oci_agrees(oci, &image, &layer_digests, at, audit);
    }
    if let Some(layers) = layer_digests.into_iter().collect::<Option<Vec<_>>>() {
        images.insert((image.digest.clone(), layers));
    }
    Some(image)
}

/// An entry's `RepoTags` (at `at`): each in the reference grammar, and covered by the
/// entry's image. Adds each (normalised name, tag) to `tagged`.
fn check_repo_tags(
    tags: Option<&Value>,
    at: &str,
    image: Option<&Image>,
    tagged: &mut BTreeSet<(String, String)>,
    audit: &mut DockerAudit,
) {
    let tags = match tags {
        None | Some(Value::Null) => return,
        Some(Value::Array(tags)) => tags,
        Some(_) => {
            audit.findings.push(invalid(at, "RepoTags is not an array"));
            return;
        }
    };
    for (k, tag) in tags.iter().enumerate() {
        let pointer = format!("{at}/{k}");
        match tag.as_str().ok_or("not a string").and_then(parse_repo_tag) {
            Ok(name_tag) => {
                tagged.insert(name_tag);
                if let Some(image) = image {
                    audit.coverage.push(Coverage {
                        root: tag.as_str().unwrap_or_default().to_owned(),
                        path: Key::from(MANIFEST),
                        pointer,
                        digest: image.digest.clone(),
                        platforms: Arc::from(
                            image.platform.clone().into_iter().collect::<Vec<_>>(),
                        ),
                        exceptions: Arc::new(Exceptions::default()),
                    });
                }
            }
            Err(why) => audit.findings.push(Finding::new(
                Rule::DockerRepoTagInvalid,
                Location::path(Key::from(MANIFEST)).via(MANIFEST, pointer),
                format!("RepoTag {tag}: {why}"),
            )),
        }
    }
}

/// What a config says, once read.
struct Image {
    key: Key,
    digest: Digest,
    diff_ids: Vec<Option<Digest>>,
    platform: Option<Platform>,
}

/// The config at `path`: present, hashing to the digest its name says, with its diff_ids
/// and platform.
fn check_config(
    archive: &ArchiveBackend,
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
    archive: &ArchiveBackend,
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
    archive: &'a ArchiveBackend,
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

/// An image manifest's config and layers.
type ImageBlobs = (Digest, Vec<Digest>);

/// The OCI view of a Docker 25+ archive: what `index.json` reaches.
struct OciView {
    /// Every image manifest reached.
    images: HashSet<ImageBlobs>,
    /// Each `index.json` entry: its JSON pointer, its `io.containerd.image.name`, and the
    /// image manifests it reaches.
    entries: Vec<(String, Option<String>, HashSet<ImageBlobs>)>,
}

/// What `index.json` reaches, when the archive has one (Docker 25+). Each document is read
/// once, however often the indexes name it: a fan of indexes naming each other is as
/// cheap as a list.
fn oci_view(archive: &ArchiveBackend, max: u64) -> Option<OciView> {
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

fn blob_json(archive: &ArchiveBackend, digest: &Digest, max: u64) -> Option<Value> {
    let key =
        Key::from_bytes(format!("blobs/{}/{}", digest.algorithm(), digest.encoded()).into_bytes());
    serde_json::from_slice(&archive.read_small(&key, max).ok()?).ok()
}

/// A `manifest.json` entry of a Docker 25+ archive must be an image of its OCI view.
fn check_oci_agrees(
    oci: &OciView,
    image: &Image,
    layers: &[Option<Digest>],
    at: &str,
    audit: &mut DockerAudit,
) {
    let Some(layers) = layers.iter().cloned().collect::<Option<Vec<_>>>() else {
        return;
    };
    if oci.images.contains(&(image.digest.clone(), layers.clone())) {
        return;
    }
    let same_config = oci.images.iter().any(|(config, _)| *config == image.digest);
    audit.findings.push(Finding::new(
        Rule::DockerOciMismatch,
        Location::path(image.key.clone())
            .with_digest(Some(image.digest.clone()))
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
fn check_index_agrees(
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

/// `repositories` (when present) must tag what `manifest.json` tags.
fn check_repositories(
    archive: &ArchiveBackend,
    tagged: &BTreeSet<(String, String)>,
    max: u64,
    audit: &mut DockerAudit,
) {
    let key = Key::from("repositories");
    if archive.stat(&key).is_err() {
        return;
    }
    let Some(repositories) = read_json(archive, &key, max, audit) else {
        return;
    };
    let mut listed = BTreeSet::new();
    if let Value::Object(names) = &repositories {
        for (name, tags) in names {
            for tag in tags.as_object().into_iter().flat_map(|t| t.keys()) {
                listed.insert((normalise_name(name), tag.clone()));
            }
        }
    } else {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key),
            "repositories is not a JSON object of {name: {tag: id}}",
        ));
        return;
    }
    for (name, tag) in listed.difference(tagged) {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key.clone()),
            format!("repositories tags {name}:{tag}, which no manifest.json entry's RepoTags does"),
        ));
    }
    for (name, tag) in tagged.difference(&listed) {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key.clone()),
            format!("manifest.json tags {name}:{tag}, which repositories does not"),
        ));
    }
}

/// Reads and parses a JSON member, or reports why not.
fn read_json(
    archive: &ArchiveBackend,
    key: &Key,
    max: u64,
    audit: &mut DockerAudit,
) -> Option<Value> {
    let bytes = match archive.read_small(key, max) {
        Ok(bytes) => bytes,
        Err(error) => {
            audit.findings.push(io_finding(key, &error));
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

/// A RepoTag as `docker load` parses it (`reference.ParseNormalizedNamed`, which must give
/// a name and a tag): the normalised name and the tag, or why not.
pub fn parse_repo_tag(text: &str) -> Result<(String, String), &'static str> {
    if text.contains('@') {
        return Err("a digest reference, not name:tag");
    }
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => return Err("no tag"),
    };
    if !is_tag(tag) {
        return Err("the tag breaks [\\w][\\w.-]{0,127}");
    }
    let (domain, path) = split_domain(name);
    if let Some(domain) = domain {
        if !is_domain(domain) {
            return Err("the registry host breaks the reference grammar");
        }
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("the repository name must be lowercase");
    }
    if !is_repository_name(path) {
        return Err("the repository name breaks the reference grammar");
    }
    let normalised = normalise_name(name);
    if normalised == "docker.io/library/sha256" {
        // moby's reference store: "refusing to create an ambiguous tag using digest
        // algorithm as name".
        return Err("the name is a digest algorithm, which docker refuses as ambiguous");
    }
    Ok((normalised, tag.to_owned()))
}

/// `docker.io/library/x` for `x`, as distribution/reference's `splitDockerDomain` does.
fn normalise_name(name: &str) -> String {
    match split_domain(name) {
        (Some("index.docker.io"), path) | (Some("docker.io"), path) | (None, path) => {
            if path.contains('/') {
                format!("docker.io/{path}")
            } else {
                format!("docker.io/library/{path}")
            }
        }
        (Some(domain), path) => format!("{domain}/{path}"),
    }
}

/// The first component is a registry host when it is `localhost`, or holds `.` or `:`,
/// or an upper-case letter (`splitDockerDomain`).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `domainName optionalPort`, or a bracketed IPv6 address and port.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    host.split('.').all(|component| {
        let bytes = component.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_follow_the_reference_grammar() {
        let ok = |t: &str| parse_repo_tag(t).map(|(n, t)| format!("{n}:{t}"));
        assert_eq!(
            ok("busybox:latest").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            ok("example.com/audit/single:1.0").unwrap(),
            "example.com/audit/single:1.0"
        );
        assert_eq!(ok("localhost:5000/x:v1").unwrap(), "localhost:5000/x:v1");
        // ParseNormalizedNamed refuses a bare 64-hex name (an image ID), not one with a tag.
        assert!(ok(&format!("{}:v1", "a".repeat(64))).is_ok());
        assert_eq!(
            ok("index.docker.io/user/x:v1").unwrap(),
            "docker.io/user/x:v1"
        );
        assert_eq!(ok("[::1]:5000/x:v1").unwrap(), "[::1]:5000/x:v1");
        for bad in [
            "busybox",
            "Busybox:latest",
            "busybox:-x",
            "busybox@sha256:abc",
            "exa_mple.com/x:v1",
            "a//b:v1",
            "sha256:latest",
            &format!("x:{}", "t".repeat(129)),
        ] {
            assert!(parse_repo_tag(bad).is_err(), "{bad}");
        }
    }
}
