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
//!
//! This module is the kind, its store and [`check`], which runs the parts in order:
//! `manifest` (each entry's config and layers), `tags` (its RepoTags, then
//! `repositories`) and `oci_view` (the Docker 25+ agreement with `index.json`). No part
//! calls another's checks: `check` hands each what the ones before it found.

mod manifest;
mod oci_view;
mod tags;

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::assemble::StorePart;
use crate::backend::archive::{MemberIndex, Node};
use crate::backend::{Backend, Entry, EntryKind, ReadError, Stat};
use crate::kinds::detect::Found;
use crate::kinds::{Context, Kind, Look, Store};
use crate::model::key::Key;
use crate::store::StoreKind;
use manifest::{ListedImage, MANIFEST, check_entry, invalid, read_json};
use oci_view::{check_index_agrees, check_oci_agrees, oci_view};
use tags::{check_repo_tags, check_repositories};

pub use manifest::DockerAudit;
pub use tags::parse_repo_tag;

/// The Docker archive kind: an image archive whose root holds `manifest.json`.
pub struct DockerArchive;

impl Kind for DockerArchive {
    fn name(&self) -> StoreKind {
        StoreKind::DockerArchive
    }

    fn recognise_tree(&self, look: &Look, _root_entries: &[Entry], found: &mut Found) {
        let is_docker = look.members.is_some()
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
        let Some(members) = cx.members else {
            return part;
        };
        let mut docker = check(cx.backend, members, cx.options.max_document_size);
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

/// An archive as the Docker checks read it: its files through the [`Backend`] trait, its
/// links through the member index the opener handed on.
pub(super) struct Archive<'a> {
    backend: &'a dyn Backend,
    members: &'a dyn MemberIndex,
}

impl<'a> Archive<'a> {
    pub(super) fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError> {
        self.backend.read_small(key, max)
    }

    pub(super) fn stat(&self, key: &Key) -> Result<Stat, ReadError> {
        self.backend.stat(key)
    }

    pub(super) fn resolve(&self, key: &Key) -> Option<(&'a Key, &'a Node)> {
        self.members.resolve(key)
    }
}

/// Checks the Docker view of the archive `backend` reads, whose root holds
/// `manifest.json` and whose links `members` resolves.
pub fn check(
    backend: &dyn Backend,
    members: &dyn MemberIndex,
    max_document_size: u64,
) -> DockerAudit {
    let archive = &Archive { backend, members };
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
    let mut images = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("/{i}");
        let image = match check_entry(archive, &at, entry, max_document_size, &mut audit) {
            Some(ListedImage {
                image,
                blobs: Some(blobs),
            }) => {
                if let Some(oci) = &oci {
                    check_oci_agrees(oci, &image.key, &blobs, &at, &mut audit);
                }
                images.insert(blobs);
                Some(image)
            }
            listed => listed.map(|l| l.image),
        };
        if let Value::Object(entry) = entry {
            check_repo_tags(
                entry.get("RepoTags"),
                &format!("{at}/RepoTags"),
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
