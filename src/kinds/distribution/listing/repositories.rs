//! The repositories under `repositories/`, and reading what each holds:
//!
//! ```text
//! repositories/<name: one or more components>/
//!   _manifests/revisions/<alg>/<encoded>/link       a manifest in this repository (links)
//!   _manifests/tags/<tag>/...                       its tags (tags)
//!   _layers/<alg>/<encoded>/link                    a blob linked into this repository (links)
//!   _uploads/<id>/...                               an upload in progress (uploads)
//! ```
//!
//! A repository is a directory with any of `_manifests`, `_layers`, `_uploads`; other names
//! starting with `_` are reserved and not repository components (distribution's
//! `handleRepository`). Repositories nest (`a` and `a/b`): the walk that finds them follows
//! no symlink and stops at a depth. Each is read (in parallel) into a [`ListedRepository`],
//! settled into a [`Repository`] once the inventory is known.

use rayon::prelude::*;

use std::sync::Arc;

use crate::backend::{Backend, Entry, EntryKind};
use crate::finding::{Finding, Location};
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{Inventory, list_or_finding};

use super::links::{DigestLinks, Form, Under, digest_links};
use super::root::RegistryRoot;
use super::tags::{ListedTag, Tag, tags};
use super::uploads::{Upload, uploads};

/// Repository names nest; a walk stops this deep whatever the tree holds.
const MAX_DEPTH: usize = 64;

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
            .map(|(tag, current)| tag.settle(current, inventory))
            .collect();
        repository
    }
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
    let Some(entries) = list_or_finding(backend, &dir, findings) else {
        return;
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
