//! A Docker Distribution (registry v2/v3) storage root, as distribution's
//! `registry/storage/paths.go` lays it out:
//!
//! ```text
//! <rootdirectory>/docker/registry/v2/
//!   blobs/<alg>/<first 2 hex>/<encoded>/data                 the content, by digest
//!   repositories/<name: one or more components>/
//!     _manifests/revisions/<alg>/<encoded>/link               a manifest in this repository
//!     _manifests/tags/<tag>/current/link                      what the tag points at now
//!     _manifests/tags/<tag>/index/<alg>/<encoded>/link        what it has pointed at
//!     _layers/<alg>/<encoded>/link                            a blob linked into this repository
//!     _uploads/<id>/{startedat,data,hashstates/..}            an upload in progress
//! ```
//!
//! A `link` file holds a digest and nothing else. A repository is a directory with any of
//! `_manifests`, `_layers`, `_uploads`; other names starting with `_` are reserved and not
//! repository components (distribution's `handleRepository`). An empty
//! `revisions/<alg>/<encoded>/` without `link` is what deleting a manifest leaves: not a
//! finding.
//!
//! This layer lists directories and reads the small `link` and `startedat` files; what
//! they must hold is judged by `checks`. Nothing is followed through a symlink.

use rayon::prelude::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::backend::{Backend, Entry, EntryKind, ReadError, Stat};
use crate::finding::{Cause, Finding, Location};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{BlobEntry, BlobPaths, Inventory, io_finding};

/// A link holds one digest: "sha512:" and 128 hex digits is 135 bytes. Anything much
/// longer is not a link, and is not read whole.
const MAX_LINK: u64 = 4096;
/// `startedat` holds an RFC 3339 time.
const MAX_STARTEDAT: u64 = 4096;
/// Repository names nest; a walk stops this deep whatever the tree holds.
const MAX_DEPTH: usize = 64;

/// The `docker/registry/v2` directory of the audited tree.
#[derive(Clone, Debug)]
pub struct RegistryRoot {
    /// Its key relative to the audited root (empty when the user named `v2` itself).
    pub prefix: Key,
}

impl RegistryRoot {
    /// The key of `relative` (a path under v2/), relative to the audited root.
    pub fn key(&self, relative: &str) -> Key {
        self.prefix.join(relative)
    }
}

impl BlobPaths for RegistryRoot {
    fn blob_key(&self, digest: &Digest) -> Key {
        let encoded = digest.encoded();
        let shard = encoded.get(..2).unwrap_or(&encoded);
        self.key(&format!(
            "blobs/{}/{shard}/{encoded}/data",
            digest.algorithm()
        ))
    }

    fn place(&self) -> Key {
        self.prefix.clone()
    }
}

/// What a `link` file holds, as read.
#[derive(Clone, Debug)]
pub enum LinkContent {
    /// A digest, when the bytes are exactly its text (the common case, kept in 40 bytes
    /// instead of a copy of the text: a registry has hundreds of thousands of links).
    Digest(Digest),
    /// Any other bytes, which may or may not be a digest (judged by `checks`),
    /// boxed to their length.
    Bytes(Box<[u8]>),
    /// `link` is absent where it is required (a tag without `current/link`).
    Missing,
    /// `link` is not a regular file, is too long, or cannot be read: why.
    Unreadable(String),
}

/// A link's content, borrowed from however the link keeps it.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// Exactly a digest's text.
    Digest(&'a Digest),
    /// Any other bytes.
    Bytes(&'a [u8]),
    /// No `link` file.
    Missing,
    /// Why it could not be read.
    Unreadable(&'a str),
}

/// One `link` file.
///
/// A registry has hundreds of thousands of links, nearly all of one shape: a link under
/// `<alg>/<encoded>/` holding exactly the digest its path names, or a tag's `current/link`
/// holding a digest. Those keep the digest once, beside the directory they are listed from
/// (shared by every link listed there); the path is rebuilt from the two when a finding
/// needs it. Any other link keeps its path, the digest its path names and its bytes.
#[derive(Clone, Debug)]
pub struct Link {
    /// The directory the link was listed from: `_layers`, `_manifests/revisions`, or the
    /// tag's directory for its `current` and `index` links.
    parent: Arc<Key>,
    form: Form,
}

#[derive(Clone, Debug)]
enum Form {
    /// `<parent>/<alg>/<encoded>/link` holding exactly the digest its path names.
    Named(Digest),
    /// `<parent>/index/<alg>/<encoded>/link` likewise (a tag's history).
    History(Digest),
    /// `<parent>/current/link` holding exactly a digest's text.
    Current(Digest),
    /// Any other link, boxed: rare, and larger.
    Odd(Box<Odd>),
}

#[derive(Clone, Debug)]
struct Odd {
    /// The link's own directory.
    dir: Key,
    /// The digest the directory names, or why it names none; `None` for `current`.
    named: Option<Result<Digest, String>>,
    content: LinkContent,
}

/// Where, under the directory a link was listed from, its own directory is.
#[derive(Clone, Copy, Debug)]
enum Under {
    /// `<alg>/<encoded>`.
    Named,
    /// `index/<alg>/<encoded>`.
    History,
    /// `current`.
    Current,
}

impl Link {
    /// The link in `dir` (listed from `parent`, where `under` says) whose path names
    /// `named` and whose file holds `content`, in the compact form when it has one.
    fn new(
        parent: &Arc<Key>,
        under: Under,
        dir: Key,
        named: Option<Result<Digest, String>>,
        content: LinkContent,
    ) -> Link {
        let form = match (under, named, content) {
            (Under::Named | Under::History, Some(Ok(named)), LinkContent::Digest(held))
                if named == held && digest_dir(parent, under, &named) == dir =>
            {
                match under {
                    Under::History => Form::History(named),
                    _ => Form::Named(named),
                }
            }
            (Under::Current, None, LinkContent::Digest(held)) => Form::Current(held),
            (_, named, content) => Form::Odd(Box::new(Odd {
                dir,
                named,
                content,
            })),
        };
        Link {
            parent: parent.clone(),
            form,
        }
    }

    /// The digest the link's directory names, or why that is not a digest; `None` for a
    /// tag's `current/link`, whose path names no digest.
    pub fn named(&self) -> Option<Result<&Digest, &str>> {
        match &self.form {
            Form::Named(digest) | Form::History(digest) => Some(Ok(digest)),
            Form::Current(_) => None,
            Form::Odd(odd) => odd
                .named
                .as_ref()
                .map(|named| named.as_ref().map_err(String::as_str)),
        }
    }

    /// What the link file holds.
    pub fn content(&self) -> Content<'_> {
        match &self.form {
            Form::Named(digest) | Form::History(digest) | Form::Current(digest) => {
                Content::Digest(digest)
            }
            Form::Odd(odd) => match &odd.content {
                LinkContent::Digest(digest) => Content::Digest(digest),
                LinkContent::Bytes(bytes) => Content::Bytes(bytes),
                LinkContent::Missing => Content::Missing,
                LinkContent::Unreadable(why) => Content::Unreadable(why),
            },
        }
    }

    /// Whether this is a tag's history entry, in compact form, for the digest `current`
    /// (the tag's `current/link`, in compact form) holds.
    fn repeats(&self, current: &Link) -> bool {
        matches!((&self.form, &current.form), (Form::History(a), Form::Current(b)) if a == b)
    }

    /// Path of the `link` file, relative to the audited root.
    pub fn display(&self) -> Key {
        let dir = match &self.form {
            Form::Named(digest) => digest_dir(&self.parent, Under::Named, digest),
            Form::History(digest) => digest_dir(&self.parent, Under::History, digest),
            Form::Current(_) => self.parent.join("current"),
            Form::Odd(odd) => odd.dir.clone(),
        };
        dir.join("link")
    }
}

/// The directory of a link that names `digest`: `<alg>/<encoded>` under `parent`, or
/// under `parent/index` for a tag's history.
fn digest_dir(parent: &Key, under: Under, digest: &Digest) -> Key {
    let named = format!("{}/{}", digest.algorithm(), digest.encoded());
    match under {
        Under::History => parent.join(format!("index/{named}")),
        Under::Named | Under::Current => parent.join(named),
    }
}

/// One tag of a repository.
///
/// A registry has as many tags as images; each keeps its name and what its `current/link`
/// holds beside the repository's shared `tags` directory, and builds its paths (and its
/// current link as a [`Link`]) when they are needed.
#[derive(Clone, Debug)]
pub struct Tag {
    /// `_manifests/tags`, shared by the repository's tags.
    tags: Arc<Key>,
    /// The directory name: the tag.
    name: Box<[u8]>,
    /// What `current/link` holds.
    current: Current,
    /// `index/<alg>/<encoded>/link`, but for the entry of the current manifest when it
    /// holds just the digest its path names (nothing to judge there that `current` does not).
    pub index: Vec<Link>,
}

/// What a tag's `current/link` holds.
#[derive(Clone, Debug)]
enum Current {
    /// Exactly the digest of a blob the store has, as the blob's position in the
    /// inventory: nearly every tag of a registry.
    Held(u32),
    /// Anything else, boxed: rare, and it would double a tag.
    Form(Box<Form>),
}

impl Current {
    /// What `current/link` holds, as listed (`form`), against the store's `inventory`.
    fn settle(form: Form, inventory: &Inventory) -> Current {
        let position = match &form {
            Form::Current(digest) => inventory.position(digest),
            _ => None,
        };
        match position.and_then(|p| u32::try_from(p).ok()) {
            Some(position) => Current::Held(position),
            None => Current::Form(Box::new(form)),
        }
    }
}

impl Tag {
    /// The tag, for display (control characters escaped).
    pub fn name(&self) -> String {
        Key::from_bytes(&*self.name).to_string()
    }

    /// Whether the directory name is valid UTF-8 (otherwise [`Tag::name`] is lossy).
    pub fn name_is_utf8(&self) -> bool {
        std::str::from_utf8(&self.name).is_ok()
    }

    /// Path of `tags/<tag>`.
    pub fn display(&self) -> Key {
        self.tags.join(&self.name)
    }

    /// `current/link` (`inventory` is the one the repository was settled against).
    pub fn current(&self, inventory: &Inventory) -> Link {
        let form = match &self.current {
            Current::Held(position) => {
                Form::Current(inventory.digest_at(*position as usize).clone())
            }
            Current::Form(form) => (**form).clone(),
        };
        Link {
            parent: Arc::new(self.display()),
            form,
        }
    }
}

/// One `_uploads/<id>` directory.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Path of the upload directory.
    pub display: Key,
    /// `startedat`, or why it could not be read.
    pub started_at: Result<String, String>,
    /// Length of its `data` file (0 when there is none).
    pub bytes: u64,
}

/// The `<alg>/<encoded>/link` files of one directory (`_layers`, `_manifests/revisions`).
///
/// Once the inventory is known ([`DigestLinks::settle`]), a link that holds the digest its
/// path names, of a blob the store has, is kept as that blob's position in the inventory:
/// nothing about it can be wrong, and a registry has hundreds of thousands of them.
#[derive(Clone, Debug, Default)]
pub struct DigestLinks {
    /// Sound links, by their blob's position in the inventory, ascending.
    pub intact: Vec<u32>,
    /// Every other link (all of them before `settle`).
    pub links: Vec<Link>,
}

impl DigestLinks {
    /// Moves every intact link into `intact`.
    pub fn settle(&mut self, inventory: &Inventory) {
        debug_assert!(
            self.intact.is_empty(),
            "links are settled once, against one inventory"
        );
        let links = std::mem::take(&mut self.links);
        let mut intact = Vec::new();
        for link in links {
            let position = match &link.form {
                Form::Named(digest) => inventory.position(digest),
                _ => None,
            };
            match position.and_then(|p| u32::try_from(p).ok()) {
                Some(position) => intact.push(position),
                None => self.links.push(link),
            }
        }
        intact.sort_unstable();
        intact.shrink_to_fit();
        self.links.shrink_to_fit();
        self.intact = intact;
    }

    /// How many links there are.
    pub fn len(&self) -> usize {
        self.intact.len() + self.links.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything stored under one repository directory.
#[derive(Clone, Debug, Default)]
pub struct Repository {
    /// The repository name (path components under `repositories/`, joined by `/`).
    pub name: String,
    /// Whether every component was valid UTF-8 (otherwise `name` is lossy).
    pub name_is_utf8: bool,
    /// Path of the repository directory.
    pub display: Key,
    /// Whether `_manifests` exists: without it, distribution's catalog and garbage
    /// collector do not see the repository at all.
    pub has_manifests: bool,
    /// `_manifests/revisions/*/*/link`.
    pub revisions: DigestLinks,
    /// `_manifests/tags/*`.
    pub tags: Vec<Tag>,
    /// `_layers/*/*/link`.
    pub layers: DigestLinks,
    /// `_uploads/*`.
    pub uploads: Vec<Upload>,
}

/// A repository as listed: its links hold digests, and its tags' `current/link`s are kept
/// apart, until the inventory (read at the same time) is known and [`settle`] shrinks
/// them to positions in it.
///
/// [`settle`]: ListedRepository::settle
#[derive(Debug)]
pub struct ListedRepository {
    repository: Repository,
    tags: Vec<(ListedTag, Form)>,
}

impl ListedRepository {
    /// The repository, its intact links and tags kept as positions in `inventory`.
    pub fn settle(self, inventory: &Inventory) -> Repository {
        let mut repository = self.repository;
        repository.revisions.settle(inventory);
        repository.layers.settle(inventory);
        repository.tags = self
            .tags
            .into_iter()
            .map(|(tag, current)| Tag {
                tags: tag.tags,
                name: tag.name,
                current: Current::settle(current, inventory),
                index: tag.index,
            })
            .collect();
        repository
    }
}

/// A finding about a path under `blobs/` that breaks `blobs/<alg>/<2 hex>/<encoded>/data`.
fn path_invalid(display: Key, message: impl Into<String>) -> Finding {
    Finding::new(
        Rule::RegistryBlobPathInvalid,
        Location::path(display),
        message,
    )
}

/// Lists every blob under `blobs/`, the 256-way shards in parallel.
pub fn inventory(
    backend: &dyn Backend,
    root: &RegistryRoot,
    findings: &mut Vec<Finding>,
) -> Inventory {
    let blobs = root.key("blobs");
    let entries = match backend.list(&blobs) {
        Ok(entries) => entries,
        Err(error) if error.is_not_found() => return Inventory::default(),
        Err(error) => {
            findings.push(io_finding(&blobs, &error));
            return Inventory::default();
        }
    };
    // (algorithm, shard name, shard key)
    let mut shards: Vec<(Option<String>, String, Key)> = Vec::new();
    for algorithm in entries {
        let alg_key = blobs.join(&algorithm.name);
        if !is_directory(&algorithm, &alg_key, findings) {
            continue;
        }
        let alg_name = algorithm.name_str().map(str::to_owned);
        let shard_entries = match backend.list(&alg_key) {
            Ok(entries) => entries,
            Err(error) => {
                findings.push(io_finding(&alg_key, &error));
                continue;
            }
        };
        for shard in shard_entries {
            let shard_key = alg_key.join(&shard.name);
            if !is_directory(&shard, &shard_key, findings) {
                continue;
            }
            match shard.name_str() {
                Some(name) if name.len() == 2 => {
                    shards.push((alg_name.clone(), name.to_owned(), shard_key));
                }
                _ => findings.push(path_invalid(
                    shard_key,
                    "shard directory name is not two characters (blobs/<alg>/<2 hex>/<encoded>/data)",
                )),
            }
        }
    }
    // Per shard: its blobs and its findings.
    let listed: Vec<(Vec<BlobEntry>, Vec<Finding>)> = shards
        .par_iter()
        .map(|(algorithm, shard, key)| {
            let mut found = Vec::new();
            let blobs = shard_blobs(backend, algorithm.as_deref(), shard, key, &mut found);
            (blobs, found)
        })
        .collect();
    let mut all = Vec::with_capacity(listed.iter().map(|(blobs, _)| blobs.len()).sum());
    for (blobs, mut found) in listed {
        findings.append(&mut found);
        all.extend(blobs);
    }
    Inventory::new(all)
}

/// Whether `entry` is a directory; anything else (or an entry that cannot be typed) is
/// reported.
fn is_directory(entry: &Entry, key: &Key, findings: &mut Vec<Finding>) -> bool {
    match &entry.stat {
        Ok(stat) if stat.kind == EntryKind::Dir => true,
        Ok(stat) => {
            findings.push(path_invalid(
                key.clone(),
                format!("{}, where a directory belongs", stat.kind.describe()),
            ));
            false
        }
        Err(error) => {
            findings.push(io_finding(key, error));
            false
        }
    }
}

fn shard_blobs(
    backend: &dyn Backend,
    algorithm: Option<&str>,
    shard: &str,
    dir: &Key,
    findings: &mut Vec<Finding>,
) -> Vec<BlobEntry> {
    // `<encoded>` and `<encoded>/data` (and anything else), in one walk: on object
    // storage a listing of the whole shard, not one per blob.
    let walked = match backend.walk(dir, 2) {
        Ok(walked) => walked,
        Err(error) => {
            findings.push(io_finding(dir, &error));
            return Vec::new();
        }
    };
    // Per blob directory: its own entry (object stores have none) and what is in it.
    type Group = (
        Option<Result<Stat, ReadError>>,
        Vec<(Key, Result<Stat, ReadError>)>,
    );
    let mut groups: BTreeMap<Box<[u8]>, Group> = BTreeMap::new();
    for (key, stat) in walked {
        let bytes = key.as_bytes();
        match bytes.iter().position(|&b| b == b'/') {
            None => groups.entry(bytes.into()).or_default().0 = Some(stat),
            Some(slash) => groups
                .entry(bytes[..slash].into())
                .or_default()
                .1
                .push((Key::from_bytes(&bytes[slash + 1..]), stat)),
        }
    }
    let mut blobs = Vec::with_capacity(groups.len());
    for (name, (own, inside)) in groups {
        let entry_display = dir.join(&name);
        match &own {
            Some(Ok(stat)) if stat.kind != EntryKind::Dir => {
                findings.push(path_invalid(
                    entry_display,
                    format!("{}, where a directory belongs", stat.kind.describe()),
                ));
                continue;
            }
            Some(Err(error)) => {
                findings.push(io_finding(&entry_display, error));
                continue;
            }
            _ => {}
        }
        let digest = match (algorithm, std::str::from_utf8(&name).ok()) {
            (Some(algorithm), Some(encoded)) => Digest::parse(&format!("{algorithm}:{encoded}"))
                .map_err(|error| format!("directory name is not a digest: {error}")),
            _ => Err("directory name is not UTF-8, so it cannot be a digest".to_owned()),
        };
        let digest = match digest {
            Ok(digest) if digest.encoded().starts_with(shard) => digest,
            Ok(digest) => {
                findings.push(
                    path_invalid(
                        entry_display,
                        "blob is in the wrong shard: the shard must be the first two characters of the digest",
                    )
                    .with_digest(&digest)
                    .expected_found(&digest.encoded()[..2], shard),
                );
                continue;
            }
            Err(message) => {
                findings.push(path_invalid(entry_display, message));
                continue;
            }
        };
        let data_display = entry_display.join("data");
        let mut data = None;
        for (item, stat) in &inside {
            if item.as_bytes() == b"data" {
                data = Some(stat);
            } else {
                findings.push(
                    path_invalid(
                        entry_display.join(item.as_bytes()),
                        "unexpected entry in a blob directory (only data belongs there)",
                    )
                    .with_digest(&digest),
                );
            }
        }
        match data {
            None => findings.push(
                path_invalid(data_display, "blob directory has no data file")
                    .with_digest(&digest)
                    .with_cause(Cause::NoDataFile),
            ),
            Some(Err(error)) => {
                findings.push(io_finding(&data_display, error).with_digest(&digest));
            }
            Some(Ok(stat)) if stat.kind == EntryKind::File => blobs.push(BlobEntry {
                digest,
                len: stat.len,
                version: stat.version.clone(),
            }),
            Some(Ok(stat)) => findings.push(Finding::new(
                Rule::BlobNotRegular,
                Location::path(data_display).with_digest(Some(digest)),
                format!("blob is {}", stat.kind.describe()),
            )),
        }
    }
    blobs
}

/// Every repository under `repositories/`, by name (its path below `repositories/`),
/// sorted. A repository is a directory holding `_manifests`, `_layers` or `_uploads`;
/// repositories nest (`a` and `a/b`).
pub fn repositories(
    backend: &dyn Backend,
    root: &RegistryRoot,
    findings: &mut Vec<Finding>,
) -> Vec<Key> {
    let mut found = Vec::new();
    match backend.stat(&root.key("repositories")) {
        Ok(stat) if stat.kind == EntryKind::Dir => {}
        Ok(_) | Err(_) => return found,
    }
    walk_repositories(backend, root, &Key::root(), 0, &mut found, findings);
    found.sort();
    found
}

/// The key of the repository `name` (empty: `repositories/` itself).
fn repository_key(root: &RegistryRoot, name: &Key) -> Key {
    let repositories = root.key("repositories");
    if name.is_empty() {
        repositories
    } else {
        repositories.join(name.as_bytes())
    }
}

fn walk_repositories(
    backend: &dyn Backend,
    root: &RegistryRoot,
    name: &Key,
    depth: usize,
    found: &mut Vec<Key>,
    findings: &mut Vec<Finding>,
) {
    let dir = repository_key(root, name);
    let entries = match backend.list(&dir) {
        Ok(entries) => entries,
        Err(error) => {
            findings.push(io_finding(&dir, &error));
            return;
        }
    };
    let is_repository = entries
        .iter()
        .any(|e| e.is_dir() && matches!(e.name_str(), Some("_manifests" | "_layers" | "_uploads")));
    if is_repository && !name.is_empty() {
        found.push(name.clone());
    }
    if depth >= MAX_DEPTH {
        return;
    }
    for entry in &entries {
        if matches!(&entry.stat, Ok(stat) if stat.kind == EntryKind::Symlink) {
            findings.push(Finding::new(
                Rule::IoError,
                Location::path(dir.join(&entry.name)),
                "is a symlink; not followed (a repository must be inside the root)",
            ));
        }
    }
    let mut children: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.is_dir() && !e.name.starts_with(b"_"))
        .collect();
    children.sort_by(|a, b| a.name.cmp(&b.name));
    for child in children {
        walk_repositories(
            backend,
            root,
            &name.join(&child.name),
            depth + 1,
            found,
            findings,
        );
    }
}

/// Reads one repository (`name` is its path below `repositories/`): its links, tags and
/// uploads.
pub fn read_repository(
    backend: &dyn Backend,
    root: &RegistryRoot,
    name: &Key,
    findings: &mut Vec<Finding>,
) -> ListedRepository {
    let dir = repository_key(root, name);
    let manifests = dir.join("_manifests");
    let has_manifests = backend
        .stat(&manifests)
        .is_ok_and(|stat| stat.kind == EntryKind::Dir);
    let mut repository = Repository {
        name: name.to_string(),
        name_is_utf8: name.to_str().is_some(),
        display: dir.clone(),
        has_manifests,
        ..Repository::default()
    };
    let mut tags = Vec::new();
    if has_manifests {
        let revisions = Arc::new(manifests.join("revisions"));
        repository.revisions.links = digest_links(backend, &revisions, Under::Named, findings);
        tags = self::tags(backend, &Arc::new(manifests.join("tags")), findings);
    }
    let layers = Arc::new(dir.join("_layers"));
    repository.layers.links = digest_links(backend, &layers, Under::Named, findings);
    repository.uploads = uploads(backend, &dir.join("_uploads"), findings);
    ListedRepository { repository, tags }
}

/// Lists `dir`, treating a missing directory as empty.
fn list_optional(backend: &dyn Backend, dir: &Key, findings: &mut Vec<Finding>) -> Vec<Entry> {
    match backend.list(dir) {
        Ok(entries) => entries,
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => {
            findings.push(io_finding(dir, &error));
            Vec::new()
        }
    }
}

fn subdirectories(entries: Vec<Entry>) -> Vec<Entry> {
    let mut dirs: Vec<Entry> = entries.into_iter().filter(Entry::is_dir).collect();
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    dirs
}

/// `<alg>/<encoded>/link` under `parent` (under `parent/index` for a tag's history) for
/// every pair; digest directories without `link` are skipped (a deleted manifest or layer
/// link leaves one behind). The links are read in parallel: on object storage each is a
/// request, and a repository can hold thousands.
fn digest_links(
    backend: &dyn Backend,
    parent: &Arc<Key>,
    under: Under,
    findings: &mut Vec<Finding>,
) -> Vec<Link> {
    let dir = match under {
        Under::History => parent.join("index"),
        Under::Named | Under::Current => (**parent).clone(),
    };
    let mut named_links = Vec::new();
    for algorithm in subdirectories(list_optional(backend, &dir, findings)) {
        let alg_name = algorithm.name_str().map(str::to_owned);
        let alg_dir = dir.join(&algorithm.name);
        for encoded in subdirectories(list_optional(backend, &alg_dir, findings)) {
            let named = match (&alg_name, encoded.name_str()) {
                (Some(a), Some(e)) => Digest::parse(&format!("{a}:{e}"))
                    .map_err(|error| format!("path does not name a digest: {error}")),
                _ => Err("path is not UTF-8, so it names no digest".to_owned()),
            };
            named_links.push((alg_dir.join(&encoded.name), named));
        }
    }
    let mut links: Vec<Link> = named_links
        .into_par_iter()
        .filter_map(|(link_dir, named)| {
            let content = read_link(backend, &link_dir.join("link"));
            (!matches!(content, LinkContent::Missing))
                .then(|| Link::new(parent, under, link_dir, Some(named), content))
        })
        .collect();
    // Kept for the whole run: without the slack a parallel collect leaves.
    links.shrink_to_fit();
    links
}

fn read_link(backend: &dyn Backend, key: &Key) -> LinkContent {
    match backend.read_small(key, MAX_LINK) {
        Ok(bytes) => match std::str::from_utf8(&bytes)
            .ok()
            .map(|text| (text, Digest::parse(text)))
        {
            // `Digest::parse` accepts only the canonical text (lower-case algorithm and
            // hex, no whitespace), so the digest renders back to exactly these bytes and
            // nothing the checks judge is lost; anything else stays bytes.
            Some((text, Ok(digest))) => {
                debug_assert_eq!(digest.to_string(), text);
                LinkContent::Digest(digest)
            }
            _ => LinkContent::Bytes(bytes.into_boxed_slice()),
        },
        Err(error) if error.is_not_found() => LinkContent::Missing,
        Err(error) => LinkContent::Unreadable(error.to_string()),
    }
}

/// The tags under `dir`, each with what its `current/link` holds (kept apart until the
/// inventory is known: see [`ListedRepository`]).
fn tags(
    backend: &dyn Backend,
    dir: &Arc<Key>,
    findings: &mut Vec<Finding>,
) -> Vec<(ListedTag, Form)> {
    let (tags, found): (Vec<_>, Vec<Vec<Finding>>) =
        subdirectories(list_optional(backend, dir, findings))
            .into_par_iter()
            .map(|entry| {
                let mut findings = Vec::new();
                let tag_dir = Arc::new(dir.join(&entry.name));
                let current = tag_dir.join("current");
                let content = read_link(backend, &current.join("link"));
                let current = Link::new(&tag_dir, Under::Current, current, None, content);
                let mut index = digest_links(backend, &tag_dir, Under::History, &mut findings);
                // The history entry of the current manifest, in its usual form, says nothing
                // `current/link` does not (it is judged through that link), and it is all the
                // history most tags have: it is not kept.
                index.retain(|link| !link.repeats(&current));
                index.shrink_to_fit();
                let tag = ListedTag {
                    tags: dir.clone(),
                    name: entry.name,
                    index,
                };
                ((tag, current.form), findings)
            })
            .unzip();
    findings.extend(found.into_iter().flatten());
    tags
}

/// A tag as listed, before its `current/link` is settled against the inventory.
#[derive(Debug)]
struct ListedTag {
    tags: Arc<Key>,
    name: Box<[u8]>,
    index: Vec<Link>,
}

fn uploads(backend: &dyn Backend, dir: &Key, findings: &mut Vec<Finding>) -> Vec<Upload> {
    subdirectories(list_optional(backend, dir, findings))
        .into_iter()
        .map(|entry| {
            let upload_dir = dir.join(&entry.name);
            let started_at = match backend.read_small(&upload_dir.join("startedat"), MAX_STARTEDAT)
            {
                Ok(bytes) => {
                    String::from_utf8(bytes).map_err(|_| "startedat is not UTF-8 text".to_owned())
                }
                Err(error) if error.is_not_found() => Err("startedat does not exist".to_owned()),
                Err(error) => Err(format!("startedat cannot be read: {error}")),
            };
            let bytes = backend
                .stat(&upload_dir.join("data"))
                .ok()
                .filter(|stat| stat.kind == EntryKind::File)
                .map_or(0, |stat| stat.len);
            Upload {
                display: upload_dir,
                started_at,
                bytes,
            }
        })
        .collect()
}

/// Every repository, read in parallel.
pub fn read_repositories(
    backend: &dyn Backend,
    root: &RegistryRoot,
    names: &[Key],
) -> Vec<(ListedRepository, Vec<Finding>)> {
    names
        .par_iter()
        .map(|name| {
            let mut findings = Vec::new();
            let repository = read_repository(backend, root, name, &mut findings);
            (repository, findings)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_tag_keeps_its_current_link_as_a_position() {
        assert_eq!(std::mem::size_of::<Tag>(), 64);
        let digest = |byte: u8| Digest::sha256([byte; 32]);
        let inventory = Inventory::of_test_bytes(&[1, 2]);
        let tags = Arc::new(Key::from("repositories/r/_manifests/tags"));
        let dir = Arc::new(tags.join("v1"));
        // Held: in the inventory. Absent: a digest the store lacks. Odd: not a digest.
        for content in [
            LinkContent::Digest(digest(2)),
            LinkContent::Digest(digest(9)),
            LinkContent::Bytes(Box::from(&b"sha256:x"[..])),
        ] {
            let listed = Link::new(&dir, Under::Current, dir.join("current"), None, content);
            let tag = Tag {
                tags: tags.clone(),
                name: Box::from(&b"v1"[..]),
                current: Current::settle(listed.form.clone(), &inventory),
                index: Vec::new(),
            };
            let current = tag.current(&inventory);
            assert_eq!(current.display(), listed.display());
            let (a, b) = (current.content(), listed.content());
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            let held = matches!(tag.current, Current::Held(_));
            assert_eq!(held, matches!(b, Content::Digest(d) if *d == digest(2)));
        }
    }
}
