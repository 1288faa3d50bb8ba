//! Referrers in the graph: what refers to each tagged image, whether the referrers
//! fallback indexes agree with the referrers themselves, and which referrers refer to
//! nothing; with `--require`, the tags that lack a kind of referrer.
//!
//! The three ways a store holds referrers meet here, per scope (a repository, a layout):
//! manifests with a `subject` among the scope's documents; tags of the fallback form
//! `<alg>-<ref>` holding an image index of them (distribution-spec § Referrers Tag
//! Schema); cosign's `sha256-<hex>.sig|.att|.sbom` tags; and BuildKit's attestation
//! entries inside an image's own index. A store kind lists its scopes' tags and members
//! ([`Scope`]); the grammar of names and types is `model::supply_chain`'s. Orphans, and
//! what deleting each reclaims, are `orphans`.

mod orphans;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Graph;
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document};
use crate::model::key::Key;
use crate::model::supply_chain::{
    Category, Entry, Referred, SupplyChain, TagForm, TagRow, Traits, classify, tag_form,
};
use crate::rules::Rule;

/// What `--require` asks every tag of an image to have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Require {
    /// A signature of any format.
    pub signature: bool,
    /// An SBOM.
    pub sbom: bool,
    /// Provenance.
    pub provenance: bool,
}

impl Require {
    /// ` require=…` when anything is required, else empty: as the options that change
    /// findings are written for shards to compare.
    pub fn describe(&self) -> String {
        let kinds: Vec<&str> = [
            (self.signature, "signature"),
            (self.sbom, "sbom"),
            (self.provenance, "provenance"),
        ]
        .into_iter()
        .filter_map(|(asked, name)| asked.then_some(name))
        .collect();
        match kinds.is_empty() {
            true => String::new(),
            false => format!(" require={}", kinds.join(",")),
        }
    }
}

/// One tag of a scope, borrowed where the store keeps it (a layout's tags are its
/// `index.json` entries, thousands of them).
pub struct TagRef<'a> {
    /// Its name.
    pub name: &'a str,
    /// The document it points at.
    pub digest: &'a Digest,
    /// The kind's own address of the tag: where [`Scope::locate`] finds it, and what
    /// names its row once the documents are dropped ([`Referrers::settle`]): a layout's
    /// entry index; a registry's tag index in its repository and its manifest's
    /// inventory position.
    pub at: (u32, u32),
}

/// Where tags and referrers meet: a repository, a layout.
pub struct Scope<'a> {
    /// Its name in the report: the repository, or the layout's path.
    pub repository: &'a str,
    /// Its tags.
    pub tags: Vec<TagRef<'a>>,
    /// Every manifest and index in it: a referrer's subject is present when it is one of
    /// these.
    pub members: Members<'a>,
    /// Where the tag at an address is: a tag's `current/link`, a layout's `index.json`
    /// and the entry's JSON pointer (asked only for a finding or an orphan).
    pub locate: &'a dyn Fn((u32, u32)) -> (Key, String),
}

/// A scope's manifests and indexes.
pub enum Members<'a> {
    /// Every index and manifest the graph loaded (a layout is one scope).
    All,
    /// These, in any order (a repository's revisions).
    Listed(Vec<&'a Digest>),
}

impl Scope<'_> {
    /// The location of a finding about `tag`: where it is, naming its document.
    fn location(&self, tag: &TagRef) -> Location {
        let (path, pointer) = (self.locate)(tag.at);
        Location::path(path.clone())
            .with_digest(Some(tag.digest.clone()))
            .via(path, pointer)
    }
}

/// The referrer checks over one store's scopes; [`ReferrerCheck::finish`] gives the view.
pub struct ReferrerCheck<'g> {
    graph: &'g Graph<'g>,
    require: Require,
    /// Each scope's tags of images, unnamed (see [`Referrers::settle`]).
    scopes: Vec<UnnamedScope>,
    /// The orphans.
    chain: SupplyChain,
    /// Referrers already reported `subject-missing` (a manifest linked in several
    /// repositories is one finding).
    reported: HashSet<Digest>,
    /// Entries of fallback indexes reported `referrers-index-entry-missing`: the same
    /// absent manifest is not also `index-manifest-missing` (absent from the store) or
    /// `registry-reference-unlinked` (absent from the repository).
    superseded: Vec<Location>,
    /// Artifact types seen, each kept once ([`ReferrerCheck::shared_type`]).
    types: HashMap<Box<str>, Arc<str>>,
}

impl<'g> Graph<'g> {
    /// The referrer checks over this graph, with `require`'s policy.
    pub fn referrers(&'g self, require: Require) -> ReferrerCheck<'g> {
        ReferrerCheck {
            graph: self,
            require,
            scopes: Vec::new(),
            chain: SupplyChain::default(),
            reported: HashSet::new(),
            superseded: Vec::new(),
            types: HashMap::new(),
        }
    }
}

/// One scope's tags of images as the checks leave them: each tag's address and what
/// refers to it (most have nothing: 16 bytes a tag, until named).
struct UnnamedScope {
    repository: Arc<str>,
    tags: Vec<UnnamedTag>,
}

/// A tag's [`TagRef::at`] and what refers to it (`None`: nothing).
type UnnamedTag = ((u32, u32), Option<Box<Referred>>);

/// One scope's documents, referrers by subject and tags by form.
struct Found<'s> {
    /// Its manifests and indexes.
    members: Membership<'s>,
    /// Manifests with a subject, by subject.
    by_subject: HashMap<&'s Digest, Vec<&'s Digest>>,
    /// Fallback tags, by the subject they name.
    fallback: HashMap<Digest, &'s TagRef<'s>>,
    /// cosign tags, by the subject they name.
    cosign: HashMap<Digest, Vec<(&'s TagRef<'s>, Category)>>,
    /// Tags of images.
    images: Vec<&'s TagRef<'s>>,
}

/// A scope's manifests and indexes as the checks ask: all the graph's (looked up there:
/// no second copy of a layout's largest index), or a sorted list searched by bisection.
struct Membership<'s> {
    graph: &'s Graph<'s>,
    listed: Option<Vec<&'s Digest>>,
}

impl<'s> Membership<'s> {
    fn contains(&self, digest: &Digest) -> bool {
        match &self.listed {
            Some(listed) => listed.binary_search(&digest).is_ok(),
            None => self
                .graph
                .docs
                .get(digest)
                .is_some_and(|l| is_image_document(l.document.as_ref())),
        }
    }

    /// Every member.
    fn iter(&self) -> Box<dyn Iterator<Item = &'s Digest> + '_> {
        match &self.listed {
            Some(listed) => Box::new(listed.iter().copied()),
            None => Box::new(
                self.graph
                    .docs
                    .iter()
                    .filter(|(_, l)| is_image_document(l.document.as_ref()))
                    .map(|(digest, _)| digest),
            ),
        }
    }
}

/// Whether a loaded document is an index or a manifest.
fn is_image_document(document: Option<&Document>) -> bool {
    matches!(document, Some(Document::Index(_) | Document::Manifest(_)))
}

impl<'g> ReferrerCheck<'g> {
    fn document(&self, digest: &Digest) -> Option<&'g Document> {
        let graph: &'g Graph<'g> = self.graph;
        graph.docs.get(digest)?.document.as_ref()
    }

    /// Checks one scope and adds its rows and orphans to the view.
    pub fn scope(&mut self, scope: &Scope, findings: &mut Vec<Finding>) {
        let found = self.found(scope);
        let members = &found.members;
        let mut orphans = Vec::new();
        for (subject, tag) in &found.fallback {
            self.check_fallback(scope, subject, tag, members, findings);
            if !members.contains(subject) {
                orphans.push((tag.digest, subject, Some(*tag), None));
            }
        }
        for (subject, tags) in &found.cosign {
            if !members.contains(subject) {
                for (tag, category) in tags {
                    orphans.push((tag.digest, subject, Some(*tag), Some(*category)));
                }
            }
        }
        for (subject, referrers) in &found.by_subject {
            self.check_listed(subject, referrers, &found, findings);
            if !members.contains(subject) {
                for referrer in referrers {
                    orphans.push((referrer, subject, None, None));
                }
            }
        }
        let bytes = self.orphan_bytes(&found.members, &orphans);
        for (referrer, subject, tag, cosign_tag) in orphans {
            let bytes = bytes.get(referrer).copied().unwrap_or_default();
            self.orphan(scope, referrer, subject, tag, cosign_tag, bytes, findings);
        }
        let mut tags = Vec::with_capacity(found.images.len());
        for tag in &found.images {
            let referred = self.referred(tag, &found);
            self.require(scope, tag, &referred, findings);
            let referred = (referred != Referred::default()).then(|| Box::new(referred));
            tags.push((tag.at, referred));
        }
        self.scopes.push(UnnamedScope {
            repository: scope.repository.into(),
            tags,
        });
    }

    /// The scope's referrers by subject (among its documents), and its tags by form.
    fn found<'s>(&self, scope: &'s Scope<'s>) -> Found<'s>
    where
        'g: 's,
    {
        let mut found = Found {
            members: Membership {
                graph: self.graph,
                listed: match &scope.members {
                    Members::All => None,
                    Members::Listed(listed) => {
                        let mut listed = listed.clone();
                        listed.sort_unstable();
                        listed.dedup();
                        Some(listed)
                    }
                },
            },
            by_subject: HashMap::new(),
            fallback: HashMap::new(),
            cosign: HashMap::new(),
            images: Vec::new(),
        };
        for member in found.members.iter() {
            let subject = self.document(member).and_then(Document::subject);
            if let Some(subject) = subject.and_then(|s| s.digest.as_ref()) {
                found.by_subject.entry(subject).or_default().push(member);
            }
        }
        for list in found.by_subject.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        for tag in &scope.tags {
            match tag_form(tag.name) {
                // A tag of a referrer (`oras attach` tags nothing, but a user may) is in
                // the row of its subject, not a row of its own.
                TagForm::Image
                    if self
                        .document(tag.digest)
                        .and_then(Document::subject)
                        .is_some() => {}
                TagForm::Image => found.images.push(tag),
                TagForm::Fallback(subject) => {
                    found.fallback.insert(subject, tag);
                }
                TagForm::Cosign(subject, category) => {
                    found
                        .cosign
                        .entry(subject)
                        .or_default()
                        .push((tag, category));
                }
            }
        }
        found
    }

    /// `referrers` (manifests with subject `subject`) against the subject's fallback
    /// index, when there is one: an absent one is the lost update of two clients. (A
    /// fallback tag that holds no index is `referrers-tag-not-index`, alone.)
    fn check_listed(
        &self,
        subject: &Digest,
        referrers: &[&Digest],
        found: &Found,
        findings: &mut Vec<Finding>,
    ) {
        let graph = self.graph;
        let index = found
            .fallback
            .get(subject)
            .filter(|tag| matches!(self.document(tag.digest), Some(Document::Index(_))));
        let Some(tag) = index else { return };
        let listed = self.listed(tag.digest);
        for referrer in referrers.iter().filter(|r| !listed.contains(**r)) {
            findings.push(Finding::new(
                Rule::ReferrersIndexIncomplete,
                Location::path(graph.blob_key(referrer))
                    .with_digest(Some((*referrer).clone()))
                    .via(graph.blob_key(tag.digest), "/manifests"),
                format!(
                    "manifest with subject {subject} is missing from its referrers tag {}",
                    tag.name
                ),
            ));
        }
    }

    /// The digests the fallback index `digest` lists.
    fn listed(&self, digest: &Digest) -> HashSet<&'g Digest> {
        match self.document(digest) {
            Some(Document::Index(index)) => index
                .manifests
                .iter()
                .filter_map(|e| e.digest.as_ref())
                .collect(),
            _ => HashSet::new(),
        }
    }

    /// A fallback tag's document: an image index whose entries are present, name
    /// `subject` as theirs, and say what the referrers say of themselves.
    fn check_fallback(
        &mut self,
        scope: &Scope,
        subject: &Digest,
        tag: &TagRef,
        members: &Membership,
        findings: &mut Vec<Finding>,
    ) {
        let graph = self.graph;
        let index = match self.document(tag.digest) {
            None => return,
            Some(Document::Index(index)) => index,
            Some(other) => {
                let found = match other {
                    Document::Manifest(_) => "an image manifest",
                    _ => "neither an index nor a manifest",
                };
                findings.push(
                    Finding::new(
                        Rule::ReferrersTagNotIndex,
                        scope.location(tag),
                        format!("referrers tag {} does not hold an image index", tag.name),
                    )
                    .expected_found("an image index", found),
                );
                return;
            }
        };
        let index_key = graph.blob_key(tag.digest);
        for entry in &index.manifests {
            let Some(digest) = &entry.digest else {
                continue;
            };
            let location = || {
                Location::path(graph.blob_key(digest))
                    .with_digest(Some(digest.clone()))
                    .via(index_key.clone(), &*entry.pointer)
            };
            // Absent from the store, or from the repository (a manifest deleted by digest
            // leaves its blob until garbage collection, and the registry serves a 404).
            let in_store = graph.blobs.len_of(digest).is_some();
            if !in_store || !members.contains(digest) {
                if in_store || !graph.blobs.is_accounted(digest) {
                    self.superseded.push(location());
                    let place = if in_store { "repository" } else { "store" };
                    findings.push(Finding::new(
                        Rule::ReferrersIndexEntryMissing,
                        location(),
                        format!(
                            "referrers tag {} lists a manifest that is not in the {place}",
                            tag.name
                        ),
                    ));
                }
                continue;
            }
            let Some(document) = self.document(digest) else {
                continue;
            };
            let own_subject = document.subject().and_then(|s| s.digest.as_ref());
            if own_subject != Some(subject) {
                findings.push(
                    Finding::new(
                        Rule::ReferrersTagSubjectMismatch,
                        location(),
                        format!(
                            "referrers tag {} lists a manifest whose subject is not {subject}",
                            tag.name
                        ),
                    )
                    .expected_found(
                        subject,
                        own_subject.map_or_else(|| "no subject".to_owned(), ToString::to_string),
                    ),
                );
                continue;
            }
            if let Some(finding) = entry_mismatch(entry, document, location) {
                findings.push(finding);
            }
        }
    }

    /// The row of an image's tag: what refers to its digest, and to the manifests its
    /// index lists (BuildKit attests each platform's manifest, `cosign sign --recursive`
    /// signs each).
    fn referred(&mut self, tag: &TagRef, found: &Found) -> Referred {
        let mut row = Referred::default();
        let mut subjects = vec![tag.digest];
        if let Some(Document::Index(index)) = self.document(tag.digest) {
            for entry in &index.manifests {
                let Some(child) = &entry.digest else { continue };
                if entry.is_attestation_entry() {
                    // BuildKit: the attestation is an entry of the image's own index.
                    self.add(&mut row, child, entry.reference_digest(), None);
                } else {
                    subjects.push(child);
                }
            }
        }
        for subject in subjects {
            let named = (subject != tag.digest).then_some(subject);
            for referrer in found.by_subject.get(subject).into_iter().flatten() {
                self.add(&mut row, referrer, named, None);
            }
            if let Some(tag) = found.fallback.get(subject) {
                // Only what is in the repository and names this subject: a stray entry
                // is `referrers-tag-subject-mismatch`, an absent one
                // `referrers-index-entry-missing`, neither a referrer of this image.
                for referrer in self.listed(tag.digest) {
                    let own = self.document(referrer).and_then(Document::subject);
                    let names_it = own.and_then(|s| s.digest.as_ref()) == Some(subject);
                    if names_it && found.members.contains(referrer) {
                        self.add(&mut row, referrer, named, None);
                    }
                }
            }
            for (tag, category) in found.cosign.get(subject).into_iter().flatten() {
                self.add(&mut row, tag.digest, named, Some(*category));
            }
        }
        row
    }

    /// Adds what the referrer `digest` is to `row` (nothing when it is not loaded).
    fn add(
        &mut self,
        row: &mut Referred,
        digest: &Digest,
        subject: Option<&Digest>,
        cosign_tag: Option<Category>,
    ) {
        let Some(document) = self.document(digest) else {
            return;
        };
        let traits = traits(document, cosign_tag);
        let artifact_type = traits.listed_type().map(|ty| self.shared_type(ty));
        for (category, format) in classify(&traits) {
            let entry = Entry {
                digest: digest.clone(),
                artifact_type: artifact_type.clone(),
                format: Cow::Borrowed(format),
                subject: subject.map(|s| Box::new(s.clone())),
            };
            row.add(category, entry);
        }
    }

    /// The one shared copy of artifact type `ty`: a registry's referrers have a handful.
    fn shared_type(&mut self, ty: &str) -> Arc<str> {
        if let Some(shared) = self.types.get(ty) {
            return shared.clone();
        }
        let shared: Arc<str> = ty.into();
        self.types.insert(ty.into(), shared.clone());
        shared
    }

    /// `--require`: a finding for each kind of referrer the tag lacks.
    fn require(
        &self,
        scope: &Scope,
        tag: &TagRef,
        referred: &Referred,
        findings: &mut Vec<Finding>,
    ) {
        let wanted = [
            (
                self.require.signature,
                Category::Signature,
                Rule::TagSignatureMissing,
                "signature",
            ),
            (
                self.require.sbom,
                Category::Sbom,
                Rule::TagSbomMissing,
                "SBOM",
            ),
            (
                self.require.provenance,
                Category::Provenance,
                Rule::TagProvenanceMissing,
                "provenance",
            ),
        ];
        for (required, category, rule, what) in wanted {
            if required && referred.of(category).is_empty() {
                findings.push(Finding::new(
                    rule,
                    scope.location(tag),
                    format!("tag {}{} has no {what}", tag.name, of(scope.repository)),
                ));
            }
        }
    }

    /// What the checks of every scope leave; nothing of the graph.
    pub fn finish(self) -> Referrers {
        Referrers {
            scopes: self.scopes,
            chain: self.chain,
            superseded: self.superseded,
        }
    }
}

/// What the referrer checks leave: the rows, unnamed, the orphans, and the findings
/// theirs replace. It holds nothing of the graph, so a store's documents can be dropped
/// before its rows are named (a registry's rows and its documents never coexist).
pub struct Referrers {
    scopes: Vec<UnnamedScope>,
    chain: SupplyChain,
    /// Locations of `referrers-index-entry-missing` findings.
    superseded: Vec<Location>,
}

impl Referrers {
    /// The view, each tag of an image named by `name` (its tag and digest, from the
    /// scope's number in the order checked and the tag's [`TagRef::at`]); and drops from
    /// `findings` the `index-manifest-missing` or `registry-reference-unlinked` of each
    /// entry that `referrers-index-entry-missing` reports better (the edge and link checks
    /// do not know which indexes are referrers lists).
    pub fn settle(
        self,
        findings: &mut Vec<Finding>,
        mut name: impl FnMut(usize, (u32, u32)) -> Option<(Box<str>, Digest)>,
    ) -> SupplyChain {
        let Referrers {
            scopes,
            mut chain,
            superseded,
        } = self;
        chain
            .tags
            .reserve_exact(scopes.iter().map(|s| s.tags.len()).sum());
        for (number, scope) in scopes.into_iter().enumerate() {
            for (at, referred) in scope.tags {
                if let Some((tag, digest)) = name(number, at) {
                    let repository = scope.repository.clone();
                    chain
                        .tags
                        .push(TagRow::new(repository, tag, digest, referred));
                }
            }
        }
        if !superseded.is_empty() {
            let superseded: HashSet<&Location> = superseded.iter().collect();
            findings.retain(|f| {
                !matches!(
                    f.rule,
                    Rule::IndexManifestMissing | Rule::RegistryReferenceUnlinked
                ) || !superseded.contains(&f.location)
            });
        }
        chain
    }
}

/// " of REPOSITORY", or nothing for a layout at the audited root (repository ".").
fn of(repository: &str) -> String {
    match repository {
        "." => String::new(),
        name => format!(" of {name}"),
    }
}

/// What a referrer document says of itself.
fn traits(document: &Document, cosign_tag: Option<Category>) -> Traits<'_> {
    match document {
        Document::Manifest(manifest) => {
            let referrer = manifest.referrer();
            Traits {
                artifact_type: manifest.artifact_type(),
                config_type: manifest
                    .config
                    .as_ref()
                    .and_then(|c| c.media_type.as_deref()),
                layers: manifest.layers.as_deref().unwrap_or_default(),
                bundle_predicate: referrer.and_then(|r| r.predicate_type.as_deref()),
                cosign_tag,
            }
        }
        Document::Index(index) => Traits {
            artifact_type: index.artifact_type.as_deref(),
            cosign_tag,
            ..Traits::default()
        },
        Document::Config(_) => Traits {
            cosign_tag,
            ..Traits::default()
        },
    }
}

/// A fallback index's entry against the referrer's own `artifactType` (else its config's
/// `mediaType`) and annotations: a referrers list copies both (distribution-spec §
/// Pushing Manifests with Subject).
fn entry_mismatch(
    entry: &Descriptor,
    document: &Document,
    location: impl Fn() -> Location,
) -> Option<Finding> {
    let traits = traits(document, None);
    let own_type = match document {
        Document::Index(_) => traits.artifact_type,
        _ => traits.listed_type(),
    };
    if entry.artifact_type() != own_type {
        return Some(
            Finding::new(
                Rule::ReferrersIndexEntryMismatch,
                location(),
                "referrers index entry's artifactType differs from the manifest's",
            )
            .expected_found(
                own_type.unwrap_or("(none)"),
                entry.artifact_type().unwrap_or("(none)"),
            ),
        );
    }
    // Annotations are kept for an entry with an artifactType and for a referrer: an index
    // without an artifactType has an entry without one, whose annotations were not kept.
    entry.artifact_type()?;
    let own = match document {
        Document::Index(index) => index.annotations.as_deref(),
        Document::Manifest(manifest) => manifest.referrer().and_then(|r| r.annotations.as_deref()),
        Document::Config(_) => None,
    }
    .unwrap_or_default();
    let listed = entry.annotations().unwrap_or_default();
    if own == listed {
        return None;
    }
    let key = own
        .iter()
        .chain(listed)
        .map(|(k, _)| k)
        .find(|k| {
            let value = |list: &[(String, String)]| {
                list.iter().find(|(x, _)| x == *k).map(|(_, v)| v.clone())
            };
            value(own) != value(listed)
        })
        .cloned()
        .unwrap_or_default();
    let value = |list: &[(String, String)]| {
        list.iter()
            .find(|(k, _)| *k == key)
            .map_or_else(|| "(absent)".to_owned(), |(_, v)| v.clone())
    };
    Some(
        Finding::new(
            Rule::ReferrersIndexEntryMismatch,
            location(),
            format!("referrers index entry's annotation {key} differs from the manifest's"),
        )
        .expected_found(value(own), value(listed)),
    )
}
