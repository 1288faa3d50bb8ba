//! The edges of the graph: every descriptor of `index.json` and of every loaded document
//! checked against the blob it names (present, unless the store already reported it
//! missing; its size; its mediaType against the document found there, where an index
//! taken for a manifest or the reverse is CVE-2021-41190), what `index.json` reaches
//! (for unreferenced blobs), and nested indexes that lead back to themselves.

use std::collections::{HashMap, HashSet};

use super::{Graph, LoadedDocument, Reachability, children};
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document};
use crate::model::key::Key;
use crate::model::media_type::{self, MediaKind};
use crate::rules::Rule;

/// What a descriptor is to the document holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// An entry of a layout's `index.json`: a tag.
    Tag,
    /// An entry of an index's `manifests`.
    Child,
    /// A manifest's `config`.
    Config,
    /// A manifest's layer (or an artifact manifest's blob).
    Blob,
    /// A `subject`.
    Subject,
}

fn has_unreadable_type(descriptor: &Descriptor) -> bool {
    match descriptor.media_type.as_deref() {
        None => true,
        Some(ty) => !media_type::is_valid(ty) || media_type::kind(ty) == MediaKind::Schema1,
    }
}

impl Graph<'_> {
    /// Path of the document holding an edge: `index.json` (`None`) or a blob.
    fn referrer_key(&self, referrer: Option<&Digest>) -> Key {
        match referrer {
            Some(digest) => self.blob_key(digest),
            None => self.index_path.clone(),
        }
    }

    /// Every (referrer, descriptor, role) edge of the store; the referrer is `None` for
    /// `index.json`, else the digest of the document holding the descriptor.
    /// (An iterator: a registry has an edge per config and layer.)
    fn edges(&self) -> impl Iterator<Item = (Option<&Digest>, &Descriptor, Role)> {
        let index_json = self.index_json.into_iter().flat_map(|index| {
            let entries = index.manifests.iter().map(|d| (None, d, Role::Tag));
            let subject = index.subject.as_deref().map(|d| (None, d, Role::Subject));
            entries.chain(subject)
        });
        let documents = self.docs.iter().flat_map(|(referrer, loaded)| {
            let document = loaded.document.as_ref();
            document
                .into_iter()
                .flat_map(children)
                .map(move |(d, is_config)| {
                    let role = if d.pointer == "/subject" {
                        Role::Subject
                    } else if is_config {
                        Role::Config
                    } else if matches!(document, Some(Document::Index(_))) {
                        Role::Child
                    } else {
                        Role::Blob
                    };
                    (Some(referrer), d, role)
                })
        });
        index_json.chain(documents)
    }

    /// Checks every edge and returns what is reachable from `index.json`.
    pub fn check_edges(&self, findings: &mut Vec<Finding>) -> Reachability {
        let mut reachable = HashSet::new();
        let opaque = self.visit_edges(findings, |digest| {
            reachable.insert(digest.clone());
        });
        Reachability { reachable, opaque }
    }

    /// Checks every edge and keeps nothing of what they reach: a Distribution root judges
    /// reachability through its links, and a set of every digest would be its largest
    /// structure.
    pub fn check_edge_findings(&self, findings: &mut Vec<Finding>) {
        self.visit_edges(findings, |_| {});
    }

    /// Checks every edge, handing each digest named to `reached`; returns whether the
    /// graph is opaque (see [`Reachability::opaque`]).
    fn visit_edges(&self, findings: &mut Vec<Finding>, mut reached: impl FnMut(&Digest)) -> bool {
        let mut opaque = false;
        for (referrer, descriptor, role) in self.edges() {
            let Some(digest) = &descriptor.digest else {
                continue;
            };
            reached(digest);
            let location = || {
                Location::path(self.blob_key(digest))
                    .with_digest(Some(digest.clone()))
                    .via(self.referrer_key(referrer), &*descriptor.pointer)
            };
            let Some(blob) = self.blobs.len_of(digest) else {
                // A document's absent subject is an orphaned referrer, reported with what
                // deleting it reclaims by the referrer checks (`referrers`).
                if self.blobs.is_accounted(digest) || (role == Role::Subject && referrer.is_some())
                {
                    continue;
                }
                let (rule, message) = if role == Role::Subject {
                    (
                        Rule::SubjectMissing,
                        "subject names a manifest that is not in the store",
                    )
                } else if descriptor.has_urls() {
                    (
                        Rule::DescriptorBlobExternal,
                        "blob is not in the store; the descriptor lists urls to fetch it from",
                    )
                } else if role == Role::Child {
                    (
                        Rule::IndexManifestMissing,
                        "index entry names a manifest that is not in the store (a sparse index)",
                    )
                } else {
                    (
                        Rule::DescriptorBlobMissing,
                        "descriptor names a blob that is not in the store",
                    )
                };
                findings.push(Finding::new(rule, location(), message));
                continue;
            };
            opaque |= has_unreadable_type(descriptor);
            if let Some(size) = descriptor.size() {
                if size != blob {
                    findings.push(
                        Finding::new(
                            Rule::DescriptorSizeMismatch,
                            location(),
                            "descriptor size differs from the blob's length",
                        )
                        .expected_found(size, blob),
                    );
                }
            }
            if let Some(loaded) = self.docs.get(digest) {
                check_media_type(descriptor, role == Role::Config, loaded, location, findings);
            }
        }
        opaque
    }

    /// Nested indexes that lead back to themselves.
    pub fn check_cycles(&self, findings: &mut Vec<Finding>) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        let mut marks: HashMap<&Digest, Mark> = HashMap::new();
        let mut starts: Vec<&Digest> = self
            .docs
            .iter()
            .filter(|(_, l)| matches!(l.document, Some(Document::Index(_))))
            .map(|(d, _)| d)
            .collect();
        starts.sort();
        for start in starts {
            if marks.contains_key(start) {
                continue;
            }
            // Iterative DFS: (node, next child position).
            let mut stack: Vec<(&Digest, usize)> = vec![(start, 0)];
            marks.insert(start, Mark::Active);
            while let Some((node, position)) = stack.last_mut() {
                let Some(Document::Index(index)) =
                    self.docs.get(node).and_then(|l| l.document.as_ref())
                else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                let Some(child) = index.manifests.get(*position) else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                *position += 1;
                let Some(target) = &child.digest else {
                    continue;
                };
                let Some((target, target_doc)) = self.docs.get_key_value(target) else {
                    continue;
                };
                if !matches!(target_doc.document, Some(Document::Index(_))) {
                    continue;
                }
                match marks.get(target) {
                    Some(Mark::Active) => findings.push(Finding::new(
                        Rule::IndexCycle,
                        Location::path(self.blob_key(target))
                            .with_digest(Some(target.clone()))
                            .via(self.blob_key(node), &*child.pointer),
                        "index entry leads back to an index that contains it",
                    )),
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(target, Mark::Active);
                        stack.push((target, 0));
                    }
                }
            }
        }
    }
}

/// The descriptor's mediaType against the document found at its digest: its own
/// `mediaType`, and whether it is an index or a manifest.
fn check_media_type(
    descriptor: &Descriptor,
    is_config: bool,
    loaded: &LoadedDocument,
    location: impl Fn() -> Location,
    findings: &mut Vec<Finding>,
) {
    let Some(claimed) = descriptor.media_type.as_deref() else {
        return;
    };
    let Some(document) = &loaded.document else {
        return;
    };
    let (actual_kind, own_type) = match document {
        Document::Index(index) => (MediaKind::Index, index.media_type.as_deref()),
        Document::Manifest(manifest) => (MediaKind::Manifest, manifest.media_type.as_deref()),
        Document::Config(_) => return,
    };
    let claimed_kind = media_type::kind(claimed);
    if is_config || !matches!(claimed_kind, MediaKind::Index | MediaKind::Manifest) {
        return;
    }
    if let Some(own) = own_type {
        if own != claimed {
            // Same kind (OCI against Docker): the shapes agree, so a warning, as
            // media-types.md allows. Index against manifest: the CVE-2021-41190 confusion.
            let (rule, message) = if media_type::kind(own) == claimed_kind {
                (
                    Rule::DescriptorMediaTypeVariant,
                    "descriptor mediaType differs from the document's own mediaType of the same kind",
                )
            } else {
                (
                    Rule::DescriptorMediaTypeMismatch,
                    "descriptor mediaType differs from the document's own mediaType",
                )
            };
            findings.push(Finding::new(rule, location(), message).expected_found(claimed, own));
        }
    } else if claimed_kind != actual_kind {
        let shape = if actual_kind == MediaKind::Index {
            "an index"
        } else {
            "a manifest"
        };
        findings.push(
            Finding::new(
                Rule::DescriptorMediaTypeMismatch,
                location(),
                format!("descriptor says {claimed} but the document is shaped as {shape}"),
            )
            .expected_found(claimed, shape),
        );
    }
}
