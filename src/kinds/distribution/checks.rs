//! The Distribution checks: link files (revisions, layers, tags' current and history
//! links), tag and repository names, repository references and uploads, and platform
//! coverage per `repository:tag`. Documents themselves were loaded and checked as for
//! layouts; this module works on the repositories `listing` listed and the documents
//! already parsed. The links it resolves are what `gc` simulates garbage collection over.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::check::graph::referrers::{Members, Referrers, Require, Scope, TagRef};
use crate::check::graph::{Documents, Graph};
use crate::finding::{Cause, Finding, Location};
use crate::kinds::distribution::listing::{
    Content, DigestLinks, Link, RegistryRoot, Repository, Tag,
};
use crate::model::coverage::{Coverage, CoverageShare, Covered};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document};
use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
use crate::model::supply_chain::{TagForm, tag_form};
use crate::model::time;
use crate::rules::Rule;
use crate::store::{BlobPaths, Inventory};

/// How garbage collection is simulated.
#[derive(Clone, Copy, Debug)]
pub struct GcOptions {
    /// Only tagged manifests are roots (`--delete-untagged`).
    pub untagged: bool,
    /// Uploads older than this are stale.
    pub upload_max_age: Duration,
    /// The time uploads' ages are measured from.
    pub now: SystemTime,
    /// What every tag of an image must have referring to it (`--require`).
    pub require: Require,
}

/// What the Distribution checks produce.
pub struct RegistryResult {
    /// Findings about links, tags, references, uploads and unreferenced blobs.
    pub findings: Vec<Finding>,
    /// What each tag covers, named by [`coverage`] once the documents are dropped.
    pub coverage: Vec<TagCovered>,
    /// Per-repository table of what garbage collection would reclaim.
    pub reclaimable: Vec<Reclaimable>,
    /// The supply-chain view of its repositories.
    pub referrers: Referrers,
    /// Its total.
    pub total: ReclaimableTotal,
}

/// What one tag covers: the tag is the `tag`th of the `repository`th repository, and
/// its manifest the blob at `position` in the inventory.
pub struct TagCovered {
    repository: u32,
    tag: u32,
    position: u32,
    covered: Covered,
}

/// The platform coverage entries of these tags, named `repository:tag` at their
/// `current/link`. Built apart from the checks so that a registry's coverage entries, with
/// their names and paths, never coexist with its parsed documents.
pub fn coverage(
    repositories: &[Repository],
    inventory: &Inventory,
    covered: Vec<TagCovered>,
) -> Vec<Coverage> {
    covered
        .into_iter()
        .map(|c| {
            let repository = &repositories[c.repository as usize];
            let tag = &repository.tags[c.tag as usize];
            let root = format!("{}:{}", repository.name, tag.name());
            let digest = inventory.digest_at(c.position as usize).clone();
            c.covered.at(
                root,
                tag.current(inventory).display(),
                String::new(),
                digest,
            )
        })
        .collect()
}

pub use crate::model::reference::{is_repository_name, is_tag};

/// The digest a link file's bytes hold, or why they do not. Exactly one digest, no
/// whitespace: distribution's `readlink` parses the whole content with `digest.Parse`.
pub fn parse_link(bytes: &[u8]) -> Result<Digest, String> {
    if bytes.is_empty() {
        return Err("link is empty (zero bytes)".to_owned());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "link is not UTF-8 text".to_owned())?;
    Digest::parse(text).map_err(|error| format!("link does not hold a digest: {error}"))
}

/// The digest a link holds, or why not.
fn link_digest(link: &Link) -> Result<Digest, String> {
    match link.content() {
        Content::Missing => Err("link file does not exist".to_owned()),
        Content::Unreadable(why) => Err(format!("link cannot be read: {why}")),
        Content::Digest(digest) => Ok(digest.clone()),
        Content::Bytes(bytes) => parse_link(bytes),
    }
}

/// What a link holds, as far as it is a digest, for `found` values.
fn link_text(link: &Link) -> String {
    // At most 160 bytes, escaped: a link may hold anything, and a digest of an
    // unregistered algorithm has no length limit.
    let bytes = |bytes: &[u8]| -> String {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]);
        text.chars().flat_map(char::escape_default).collect()
    };
    match link.content() {
        Content::Bytes(content) => bytes(content),
        Content::Digest(digest) => bytes(digest.to_string().as_bytes()),
        Content::Missing => "(no file)".to_owned(),
        Content::Unreadable(_) => "(unreadable)".to_owned(),
    }
}

/// How a missing target is judged.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// The link is needed (a revision, a current tag, a layer a manifest uses).
    Needed,
    /// A leftover nothing needs (an unused layer link, a tag's history).
    Leftover,
    /// Judged through another link (a tag's history entry for its current manifest).
    Elsewhere,
}

/// One repository's links, resolved.
pub(super) struct Resolved<'r> {
    pub(super) repository: &'r Repository,
    /// Revision links whose content is the digest their path names.
    pub(super) revisions: DigestSet<'r>,
    /// Layer links likewise.
    pub(super) layers: DigestSet<'r>,
    /// Each tag whose current link holds a digest, and that digest.
    pub(super) tags: TagTargets<'r>,
}

/// Each tag whose current link holds a digest, by its position in the repository's tags,
/// with that digest: as the blob's position in the inventory when the store holds it (a
/// registry has a tag per image; 8 bytes a tag rather than 48).
pub(super) struct TagTargets<'i> {
    inventory: &'i Inventory,
    held: Vec<(u32, u32)>,
    absent: Vec<(u32, Digest)>,
}

impl<'i> TagTargets<'i> {
    fn new(inventory: &'i Inventory, tags: usize) -> Self {
        TagTargets {
            inventory,
            held: Vec::with_capacity(tags),
            absent: Vec::new(),
        }
    }

    fn push(&mut self, tag: u32, digest: Digest) {
        match self.inventory.position(&digest) {
            Some(position) => self.held.push((tag, position as u32)),
            None => self.absent.push((tag, digest)),
        }
    }

    /// The digest of every tag.
    pub(super) fn digests(&self) -> impl Iterator<Item = &Digest> + '_ {
        self.held()
            .map(|(_, digest, _)| digest)
            .chain(self.absent.iter().map(|(_, d)| d))
    }

    /// The tags whose manifest the store holds, with its digest and inventory position.
    fn held(&self) -> impl Iterator<Item = (u32, &'i Digest, u32)> + '_ {
        let inventory = self.inventory;
        self.held
            .iter()
            .map(move |&(tag, position)| (tag, inventory.digest_at(position as usize), position))
    }
}

/// A set of digests kept for the whole collector simulation (one per link of the
/// registry): the blobs of the inventory by their 4-byte position in it, sorted, and the
/// few digests it does not hold (links to missing blobs), sorted. Neither has the spare
/// buckets and control bytes of a hash set.
pub(super) struct DigestSet<'i> {
    inventory: &'i Inventory,
    held: Vec<u32>,
    absent: Vec<Digest>,
}

impl<'i> DigestSet<'i> {
    /// The set of the blobs at these inventory positions and of these digests (either
    /// may repeat).
    fn new(inventory: &'i Inventory, mut held: Vec<u32>, digests: Vec<Digest>) -> Self {
        let mut absent = Vec::new();
        for digest in digests {
            match inventory.position(&digest) {
                Some(position) => held.push(position as u32),
                None => absent.push(digest),
            }
        }
        held.sort_unstable();
        held.dedup();
        held.shrink_to_fit();
        absent.sort_unstable();
        absent.dedup();
        absent.shrink_to_fit();
        DigestSet {
            inventory,
            held,
            absent,
        }
    }

    pub(super) fn contains(&self, digest: &Digest) -> bool {
        match self.inventory.position(digest) {
            Some(position) => self.held.binary_search(&(position as u32)).is_ok(),
            None => self.absent.binary_search(digest).is_ok(),
        }
    }

    /// Every digest of the set: those held, in digest order, then those absent.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Digest> + '_ {
        let inventory = self.inventory;
        self.held
            .iter()
            .map(move |&position| inventory.digest_at(position as usize))
            .chain(&self.absent)
    }

    pub(super) fn len(&self) -> usize {
        self.held.len() + self.absent.len()
    }

    /// Empties the set and frees its memory.
    pub(super) fn clear(&mut self) {
        self.held = Vec::new();
        self.absent = Vec::new();
    }
}

/// The Distribution checks over listed repositories and loaded documents.
pub struct Registry<'a> {
    /// The v2 directory.
    pub root: &'a RegistryRoot,
    /// Every repository.
    pub repositories: &'a [Repository],
    /// Its blobs.
    pub inventory: &'a Inventory,
    /// The documents loaded from them, and their graph.
    pub graph: &'a Graph<'a>,
}

/// The digest a `<alg>/<encoded>/link` holds when it is the one its path names: the only
/// case in which the registry serves the link.
pub(super) fn consistent_digest(link: &Link) -> Option<Digest> {
    let digest = link_digest(link).ok()?;
    matches!(link.named(), Some(Ok(named)) if *named == digest).then_some(digest)
}

/// Every manifest a repository links as a revision (a link that holds the digest its path
/// names): the roots documents are loaded from.
pub fn revisions(repositories: &[Repository], inventory: &Inventory) -> Vec<Digest> {
    let mut digests: Vec<Digest> = repositories
        .iter()
        .flat_map(|r| {
            intact(&r.revisions, inventory)
                .chain(r.revisions.links.iter().filter_map(consistent_digest))
        })
        .collect();
    digests.sort();
    digests.dedup();
    digests
}

/// The digests of the intact links of a directory.
fn intact<'a>(
    links: &'a DigestLinks,
    inventory: &'a Inventory,
) -> impl Iterator<Item = Digest> + 'a {
    links
        .intact
        .iter()
        .map(|&position| inventory.digest_at(position as usize).clone())
}

impl<'a> Registry<'a> {
    fn inventory(&self) -> &Inventory {
        self.inventory
    }

    pub(super) fn docs(&self) -> &Documents<'_> {
        self.graph.docs
    }

    pub(super) fn document(&self, digest: &Digest) -> Option<&Document> {
        self.docs().get(digest)?.document.as_ref()
    }

    /// Checks a link's content against its path and its target's existence; returns the
    /// digest it holds when that is usable.
    fn check_link(&self, link: &Link, need: Need, findings: &mut Vec<Finding>) -> Option<Digest> {
        let location = || Location::path(link.display());
        let digest = match link_digest(link) {
            Ok(digest) => digest,
            Err(message) => {
                let mut finding = Finding::new(Rule::RegistryLinkInvalid, location(), message);
                if matches!(link.content(), Content::Missing) {
                    finding = finding.with_cause(Cause::LinkAbsent);
                }
                findings.push(finding);
                return None;
            }
        };
        match link.named() {
            Some(Err(message)) => {
                findings.push(
                    Finding::new(Rule::RegistryLinkPathMismatch, location(), message)
                        .with_digest(&digest),
                );
                return None;
            }
            Some(Ok(named)) if *named != digest => {
                findings.push(
                    Finding::new(
                        Rule::RegistryLinkPathMismatch,
                        location().with_digest(Some(named.clone())),
                        "link holds a digest other than the one its path names",
                    )
                    .expected_found(named, link_text(link)),
                );
                return None;
            }
            _ => {}
        }
        if !self.inventory().contains_key(&digest) {
            let (rule, message) = match need {
                Need::Needed => (
                    Rule::RegistryLinkTargetMissing,
                    "link names a blob that does not exist",
                ),
                Need::Leftover => (
                    Rule::RegistryLinkDangling,
                    "link names a blob that is gone; nothing needs it",
                ),
                Need::Elsewhere => return Some(digest),
            };
            findings.push(Finding::new(
                rule,
                Location::path(self.root.blob_key(&digest))
                    .with_digest(Some(digest.clone()))
                    .via(link.display(), ""),
                message,
            ));
        }
        Some(digest)
    }

    /// Checks one repository: its name, its links, its references and its uploads; returns
    /// its links, resolved, for the collector simulation and coverage.
    pub(super) fn check_repository(
        &self,
        repository: &'a Repository,
        options: &GcOptions,
        findings: &mut Vec<Finding>,
    ) -> Resolved<'a> {
        check_repository_name(repository, findings);
        let revisions = self.check_revisions(repository, findings);
        let layers = self.check_layers(repository, &revisions, findings);
        let tags = self.check_tags(repository, &revisions, findings);
        self.check_references(repository, &revisions, &layers, findings);
        check_uploads(repository, options, findings);
        Resolved {
            repository,
            revisions,
            layers,
            tags,
        }
    }

    /// Every revision link is needed; the set of those that hold a digest.
    fn check_revisions(
        &self,
        repository: &Repository,
        findings: &mut Vec<Finding>,
    ) -> DigestSet<'a> {
        // Sound links (in the inventory, holding the digest their path names) have nothing
        // to check.
        let mut revisions = Vec::with_capacity(repository.revisions.links.len());
        for link in &repository.revisions.links {
            revisions.extend(self.check_link(link, Need::Needed, findings));
        }
        DigestSet::new(
            self.inventory,
            repository.revisions.intact.clone(),
            revisions,
        )
    }

    /// A layer link is needed when a revision's manifest uses its blob, a leftover
    /// otherwise; the set of those that hold a digest.
    fn check_layers(
        &self,
        repository: &Repository,
        revisions: &DigestSet,
        findings: &mut Vec<Finding>,
    ) -> DigestSet<'a> {
        // Configs and layers the repository's manifests use: their layer links are needed.
        let mut used = HashSet::new();
        for digest in revisions.iter() {
            if let Some(Document::Manifest(manifest)) = self.document(digest) {
                used.extend(manifest.blobs().filter_map(|d| d.digest.clone()));
            }
        }
        let mut layers = Vec::with_capacity(repository.layers.links.len());
        for link in &repository.layers.links {
            let named = link.named().and_then(Result::ok);
            let need = if named.is_some_and(|d| used.contains(d)) {
                Need::Needed
            } else {
                Need::Leftover
            };
            layers.extend(self.check_link(link, need, findings));
        }
        DigestSet::new(self.inventory, repository.layers.intact.clone(), layers)
    }

    /// Every tag: its name, its current link, and its history; the manifest each tag's
    /// current link holds.
    fn check_tags(
        &self,
        repository: &Repository,
        revisions: &DigestSet,
        findings: &mut Vec<Finding>,
    ) -> TagTargets<'a> {
        let mut tags = TagTargets::new(self.inventory, repository.tags.len());
        for (position, tag) in repository.tags.iter().enumerate() {
            if let Some(current) = self.check_tag(repository, tag, revisions, findings) {
                tags.push(position as u32, current);
            }
        }
        tags
    }

    /// One tag; the digest its current link holds, when usable.
    fn check_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        revisions: &DigestSet,
        findings: &mut Vec<Finding>,
    ) -> Option<Digest> {
        let name = tag.name();
        if !tag.name_is_utf8() || !is_tag(&name) {
            findings.push(Finding::new(
                Rule::RegistryTagInvalid,
                Location::path(tag.display()),
                format!("tag {name:?} breaks the distribution-spec grammar"),
            ));
        }
        let current_link = tag.current(self.inventory);
        let current = match current_link.content() {
            Content::Missing => {
                findings.push(
                    Finding::new(
                        Rule::RegistryLinkInvalid,
                        Location::path(current_link.display()),
                        "tag has no current/link: it points at nothing",
                    )
                    .with_cause(Cause::LinkAbsent),
                );
                None
            }
            _ => self.check_link(&current_link, Need::Needed, findings),
        };
        if let Some(current) = &current {
            if !revisions.contains(current) {
                findings.push(Finding::new(
                    Rule::RegistryTagRevisionMissing,
                    Location::path(current_link.display()).with_digest(Some(current.clone())),
                    format!(
                        "tag {} points at a manifest with no revision link in {}",
                        name, repository.name
                    ),
                ));
            }
        }
        for link in &tag.index {
            // A history entry for the current manifest, or for any revision, is judged
            // through that link: one missing blob is one finding, not also a "nothing
            // needs it" leftover.
            let named = link.named().and_then(Result::ok);
            let need =
                if named.is_some_and(|d| Some(d) == current.as_ref() || revisions.contains(d)) {
                    Need::Elsewhere
                } else {
                    Need::Leftover
                };
            self.check_link(link, need, findings);
        }
        current
    }

    /// Every child of a linked index must be a revision of the repository; every config
    /// and layer of a linked manifest must be linked as a layer (unless it has urls).
    fn check_references(
        &self,
        repository: &Repository,
        revisions: &DigestSet,
        layers: &DigestSet,
        findings: &mut Vec<Finding>,
    ) {
        for digest in revisions.iter() {
            let Some(loaded) = self.docs().get(digest) else {
                continue;
            };
            let unlinked = |d: &Descriptor, what: &str, findings: &mut Vec<Finding>| {
                let Some(target) = &d.digest else { return };
                findings.push(
                    Finding::new(
                        Rule::RegistryReferenceUnlinked,
                        Location::path(self.root.blob_key(target))
                            .with_digest(Some(target.clone()))
                            .via(self.root.blob_key(digest), &*d.pointer),
                        format!("{what} is not linked in {}: pulls fail", repository.name),
                    )
                    .with_cause(Cause::Unlinked {
                        repository: repository.name.clone(),
                    }),
                );
            };
            match &loaded.document {
                Some(Document::Index(index)) => {
                    // An absent child is a sparse index (index-manifest-missing), not also
                    // an unlinked reference.
                    for child in &index.manifests {
                        if child.digest.as_ref().is_some_and(|c| {
                            !revisions.contains(c) && self.inventory().contains_key(c)
                        }) {
                            unlinked(child, "child manifest", findings);
                        }
                    }
                }
                Some(Document::Manifest(manifest)) => {
                    for d in manifest.blobs() {
                        let what = if d.pointer == "/config" {
                            "config"
                        } else {
                            "layer"
                        };
                        // An absent blob is descriptor-blob-missing, not also unlinked.
                        let unlinked_present = d.digest.as_ref().is_some_and(|c| {
                            !layers.contains(c) && self.inventory().contains_key(c)
                        });
                        if !d.has_urls() && unlinked_present {
                            unlinked(d, what, findings);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Each repository as a scope of the referrer checks, in order: its tags (addressed
    /// by their index and their manifest's inventory position), and its revisions as the
    /// manifests a subject may name.
    pub(super) fn referrers(
        &self,
        resolved: &[Resolved],
        require: Require,
        findings: &mut Vec<Finding>,
    ) -> Referrers {
        let mut check = self.graph.referrers(require);
        for r in resolved {
            let held: Vec<(u32, &Digest, u32)> = r.tags.held().collect();
            let names: Vec<String> = held
                .iter()
                .map(|&(at, _, _)| r.repository.tags[at as usize].name())
                .collect();
            let tags = held
                .iter()
                .zip(&names)
                .map(|(&(at, digest, position), name)| TagRef {
                    name,
                    digest,
                    at: (at, position),
                })
                .collect();
            let locate = |(at, _): (u32, u32)| {
                let tag = &r.repository.tags[at as usize];
                (tag.current(self.inventory).display(), String::new())
            };
            let scope = Scope {
                repository: &r.repository.name,
                tags,
                members: Members::Listed(r.revisions.iter().collect()),
                locate: &locate,
            };
            check.scope(&scope, findings);
        }
        check.finish()
    }

    /// What every tag whose manifest was loaded covers (referrer tags, which name no
    /// image, are in the supply-chain view instead).
    pub(super) fn coverage(&self, resolved: &[Resolved]) -> Vec<TagCovered> {
        let mut coverage = Vec::with_capacity(resolved.iter().map(|r| r.tags.held.len()).sum());
        let mut share = CoverageShare::default();
        for (repository, r) in resolved.iter().enumerate() {
            // A tag whose manifest the store lacks has no document to cover.
            for (tag, digest, position) in r.tags.held() {
                let name = r.repository.tags[tag as usize].name();
                if tag_form(&name) != TagForm::Image {
                    continue;
                }
                coverage.extend(
                    self.graph
                        .covered_by_tag(digest, &mut share)
                        .map(|covered| TagCovered {
                            repository: repository as u32,
                            tag,
                            position,
                            covered,
                        }),
                );
            }
        }
        coverage
    }
}

/// A repository's name must follow the distribution-spec grammar.
fn check_repository_name(repository: &Repository, findings: &mut Vec<Finding>) {
    if !repository.name_is_utf8 || !is_repository_name(&repository.name) {
        findings.push(Finding::new(
            Rule::RegistryRepositoryNameInvalid,
            Location::path(&repository.display),
            format!(
                "repository name {:?} breaks the distribution-spec grammar",
                repository.name
            ),
        ));
    }
}

fn check_uploads(repository: &Repository, options: &GcOptions, findings: &mut Vec<Finding>) {
    let now = options
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let max_age = i64::try_from(options.upload_max_age.as_secs()).unwrap_or(i64::MAX);
    for upload in &repository.uploads {
        let location = || Location::path(&upload.display);
        let started = match &upload.started_at {
            Ok(text) => match time::parse_rfc3339(text.trim()) {
                Some(started) => started,
                None => {
                    findings.push(
                        Finding::new(
                            Rule::RegistryUploadInvalid,
                            location(),
                            "startedat is not an RFC 3339 time; the registry never purges this upload",
                        )
                        .expected_found("RFC 3339 date-time", text.escape_default())
                        .with_bytes(upload.bytes),
                    );
                    continue;
                }
            },
            Err(why) => {
                findings.push(
                    Finding::new(
                        Rule::RegistryUploadInvalid,
                        location(),
                        format!("{why}; the registry never purges this upload"),
                    )
                    .with_bytes(upload.bytes),
                );
                continue;
            }
        };
        let age = now.saturating_sub(started);
        if age > max_age {
            // The age itself is left out: it changes every run, the start time does not.
            let started_at = upload.started_at.as_deref().unwrap_or_default().trim();
            findings.push(
                Finding::new(
                    Rule::RegistryUploadStale,
                    location(),
                    format!("upload never finished ({} bytes)", upload.bytes),
                )
                .expected_found(
                    format!("started within {}", time::age_text(options.upload_max_age)),
                    format!("started {}", started_at.escape_default()),
                )
                .with_bytes(upload.bytes),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_set_holds_inventory_blobs_by_position_and_others_by_digest() {
        let digest = |byte: u8| Digest::sha256([byte; 32]);
        let inventory = Inventory::of_test_bytes(&[3, 1, 2]);
        let position = |byte: u8| inventory.position(&digest(byte)).unwrap() as u32;
        // Blob 1 as an intact link and again as a checked one; 9 and 7 are not in the store.
        let set = DigestSet::new(
            &inventory,
            vec![position(3), position(1)],
            vec![digest(9), digest(1), digest(7), digest(9)],
        );
        assert_eq!(set.len(), 4);
        for byte in [1, 3, 7, 9] {
            assert!(set.contains(&digest(byte)), "{byte}");
        }
        assert!(!set.contains(&digest(2)));
        let listed: Vec<&Digest> = set.iter().collect();
        assert_eq!(listed, [1, 3, 7, 9].map(digest).iter().collect::<Vec<_>>());
    }
}
