//! The registry-API kind: a registry reached over HTTP (`https://HOST/…`), audited as a
//! client pulling every tag sees it. The crawl (`crawl`) asks for every tag, document and
//! blob once; then the graph is checked exactly as a store's on disk (edges, sizes,
//! media types, platforms, subjects, diff_ids), and what only a registry's repositories
//! show is added: a blob one repository cannot serve while another can is
//! `registry-reference-unlinked`, as on a Distribution root.
//!
//! Over HTTP nothing lists a registry's blobs or uploads, so unreferenced blobs, stale
//! uploads and reclaimable bytes cannot be seen (`StoreKind::not_checked`); untagged manifests are
//! not seen either. Layers' content is hashed in the verify phase, streamed once each
//! through the backend's `NAME/blobs/DIGEST` keys.

mod crawl;

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::assemble::{BlobSet, Counters, StorePart};
use crate::backend::api::{self, Endpoint};
use crate::backend::{Backend, Version};
use crate::check::documents::hashed_flags;
use crate::check::graph::referrers::{Members, Require, Scope, TagRef};
use crate::check::graph::{Documents, Graph, LoadedDocument};
use crate::finding::{Cause, Finding, Location};
use crate::kinds::{Context, Kind, Look, Store};
use crate::model::coverage::{Coverage, CoverageShare};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::model::supply_chain::{SupplyChain, TagForm, tag_form};
use crate::rules::Rule;
use crate::store::{BlobEntry, BlobPaths, Inventory, Lookup, StoreKind};
use crawl::{Answered, Crawled, Repo};

/// The registry-API kind.
pub struct RegistryApiKind;

impl Kind for RegistryApiKind {
    fn name(&self) -> StoreKind {
        StoreKind::RegistryApi
    }

    /// The registry the opener reached: it is the whole of what is audited.
    fn assume(
        &self,
        look: &Look,
        dir: &Key,
        _findings: &mut Vec<Finding>,
    ) -> Option<Box<dyn Store>> {
        look.api?;
        Some(Box::new(RemoteRegistry { path: dir.clone() }))
    }

    fn is_confirmable(&self, finding: &Finding) -> bool {
        let at_api_key = api::split_key(&finding.location.path).is_some();
        match finding.rule {
            // What failed through every retry is not asked again: a HEAD that works now
            // says nothing of a GET that kept failing.
            Rule::HttpTagUnresolvable => true,
            Rule::RegistryReferenceUnlinked | Rule::IoError => at_api_key,
            _ => false,
        }
    }

    /// Asks again with HEAD: a tag pushed, a blob linked, an answer that works now.
    fn recheck(&self, backend: &dyn Backend, finding: &Finding) -> Option<String> {
        let key = &finding.location.path;
        // A tag list that failed is not asked again: the finding stands.
        api::split_key(key)?;
        // A tag that resolved to a digest its repository then did not serve: asked again
        // by that digest, with the request that failed.
        if let (Rule::HttpTagUnresolvable, Some(digest)) = (finding.rule, &finding.location.digest)
        {
            let (name, _, _) = api::split_key(key)?;
            let by_digest = api::key(name, Endpoint::Manifests, &digest.to_string());
            return backend
                .read_small(&by_digest, 64 * 1024 * 1024)
                .ok()
                .map(|_| "its manifest is served now (pushed during the audit)".into());
        }
        let now = backend.stat(key);
        match (finding.rule, now) {
            (Rule::HttpTagUnresolvable, Ok(_)) => {
                Some("the tag resolves now (pushed during the audit)".into())
            }
            (Rule::RegistryReferenceUnlinked, Ok(_)) => {
                Some("the repository serves it now (pushed during the audit)".into())
            }
            // A blob the verify phase could not read: streamed and hashed again.
            (Rule::IoError, Ok(_)) => {
                let digest = finding.location.digest.as_ref()?;
                match backend.hash(key, digest.algorithm(), &|_| {}) {
                    Ok(hashed) if hashed.digest == *digest => {
                        Some("it reads now and hashes to its digest (a passing failure)".into())
                    }
                    _ => None,
                }
            }
            (Rule::IoError, Err(error)) if error.is_not_found() => {
                Some("it answers 404 now (deleted during the audit)".into())
            }
            _ => None,
        }
    }
}

/// A registry over HTTP, found by the opener.
struct RemoteRegistry {
    path: Key,
}

impl Store for RemoteRegistry {
    fn kind(&self) -> StoreKind {
        StoreKind::RegistryApi
    }

    fn path(&self) -> &Key {
        &self.path
    }

    fn audit(&self, cx: &Context) -> StorePart {
        let mut part = StorePart::new(StoreKind::RegistryApi, self.path.clone());
        let Some(api) = cx.api else {
            return part;
        };
        let repositories = api.repositories();
        let crawled = crawl::crawl(api, repositories, cx.options.max_document_size, cx.kept);
        audit_crawled(repositories, crawled, cx.options.require, &mut part);
        part
    }
}

/// Where each blob is read: the first repository that serves it (the one the verify
/// phase streams it from), or for one no repository serves, the first that needs it.
struct Places {
    keys: HashMap<Digest, Key>,
}

impl BlobPaths for Places {
    fn blob_key(&self, digest: &Digest) -> Key {
        self.keys
            .get(digest)
            .cloned()
            .unwrap_or_else(|| Key::from(format!("blobs/{digest}")))
    }

    fn place(&self) -> Key {
        Key::root()
    }
}

/// The registry's blobs as the graph checks look them up.
struct Served<'a> {
    inventory: &'a Inventory,
    places: &'a Places,
    /// Asked, and no repository gave an answer: not known to be missing.
    unanswered: HashSet<Digest>,
}

impl Lookup for Served<'_> {
    fn len_of(&self, digest: &Digest) -> Option<u64> {
        self.inventory.get(digest)
    }

    fn key_of(&self, digest: &Digest) -> Key {
        self.places.blob_key(digest)
    }

    fn inventory(&self) -> &Inventory {
        self.inventory
    }

    fn is_accounted(&self, digest: &Digest) -> bool {
        self.unanswered.contains(digest)
    }
}

/// The checks over what the crawl learned, into `part`.
fn audit_crawled(
    repositories: &[String],
    crawled: Crawled,
    require: Require,
    part: &mut StorePart,
) {
    let Crawled {
        roots,
        documents,
        asked,
        findings,
        bytes_hashed,
    } = crawled;
    part.findings = findings;
    let (inventory, places) = served_blobs(repositories, &asked);
    let served = Served {
        inventory: &inventory,
        places: &places,
        unanswered: crawl::unanswered(&asked),
    };
    let mut docs = Documents::new(&inventory);
    let kept: Vec<usize> = documents
        .iter()
        .filter(|(_, f)| f.kept)
        .filter_map(|(digest, _)| inventory.position(digest))
        .collect();
    let fetched: Vec<(Digest, LoadedDocument)> = documents
        .into_iter()
        .filter(|(digest, _)| inventory.contains_key(digest))
        .map(|(digest, f)| (digest, LoadedDocument::new(f.document, f.content)))
        .collect();
    docs.extend(fetched.into_par_iter(), |_| ());
    docs.finish();
    let graph = Graph {
        blobs: &served,
        index_json: None,
        index_path: &Key::root(),
        docs: &docs,
    };
    let findings = &mut part.findings;
    graph.check_edge_findings(findings);
    graph.check_cycles(findings);
    graph.check_consistency(findings);
    unlinked(repositories, &asked, &inventory, findings);
    part.coverage = coverage(repositories, &roots, &graph);
    part.supply_chain = referrers(repositories, &roots, &asked, &graph, require, findings);
    let mut hashed = hashed_flags(&inventory, &docs);
    for position in kept {
        hashed[position] = crate::assemble::BeforeVerify::Kept;
    }
    part.counters = Counters {
        repositories: repositories.len() as u64,
        blobs: inventory.len() as u64,
        bytes: inventory.bytes(),
        documents: docs.values().filter(|l| l.document.is_some()).count() as u64,
        blobs_hashed: hashed
            .iter()
            .filter(|c| matches!(c, crate::assemble::BeforeVerify::HashedAsDocument(_)))
            .count() as u64,
        bytes_hashed,
        ..Counters::default()
    };
    drop(docs);
    part.blobs.push(BlobSet {
        inventory,
        before: hashed,
        paths: Box::new(places),
    });
}

/// Every blob some repository served, with its length, and where each blob is read: in
/// repository order, the first that serves it (for one none serves, the first that asked).
fn served_blobs(
    repositories: &[String],
    asked: &HashMap<(Repo, Digest), (crawl::Want, Answered)>,
) -> (Inventory, Places) {
    let mut ordered: Vec<_> = asked.iter().collect();
    ordered.sort_by(|a, b| (&a.0.1, a.0.0).cmp(&(&b.0.1, b.0.0)));
    let mut keys = HashMap::new();
    let mut entries = Vec::new();
    for ((repo, digest), (want, answer)) in &ordered {
        let key = api::key(
            &repositories[*repo as usize],
            want.endpoint(),
            &digest.to_string(),
        );
        if let Answered::Present(len) = answer {
            if entries
                .last()
                .is_none_or(|e: &BlobEntry| e.digest != *digest)
            {
                entries.push(BlobEntry {
                    digest: digest.clone(),
                    len: *len,
                    // Content is fixed by its digest: the ledger knows it by that.
                    version: Version::ETag(digest.to_string().into()),
                });
                keys.insert(digest.clone(), key);
            }
        } else {
            keys.entry(digest.clone()).or_insert(key);
        }
    }
    (Inventory::new(entries), Places { keys })
}

/// A digest one repository answers 404 for while another serves it: the blob is in
/// the registry but not linked into that repository, so pulls from it fail. (One that
/// no repository serves is missing, which the graph's edges report.)
fn unlinked(
    repositories: &[String],
    asked: &HashMap<(Repo, Digest), (crawl::Want, Answered)>,
    inventory: &Inventory,
    findings: &mut Vec<Finding>,
) {
    for ((repo, digest), (want, answer)) in asked {
        // A referrer is pulled without its subject: one served elsewhere only is no
        // fault of this repository (as on disk, where only configs, layers and index
        // children must be linked).
        let subject = want.via.as_ref().is_some_and(|(_, p)| &**p == "/subject");
        if !matches!(answer, Answered::Missing)
            || want.external
            || subject
            || !inventory.contains_key(digest)
        {
            continue;
        }
        let name = &repositories[*repo as usize];
        let mut location = Location::path(api::key(name, want.endpoint(), &digest.to_string()))
            .with_digest(Some(digest.clone()));
        if let Some((referrer, pointer)) = &want.via {
            location = location.via(
                api::key(name, Endpoint::Manifests, &referrer.to_string()),
                &**pointer,
            );
        }
        let what = match (want.endpoint(), want.via.as_ref().map(|v| &*v.1)) {
            (Endpoint::Manifests, _) => "manifest",
            (Endpoint::Blobs, Some("/config")) => "config",
            (Endpoint::Blobs, _) => "layer",
        };
        findings.push(
            Finding::new(
                Rule::RegistryReferenceUnlinked,
                location,
                format!("{what} is served by the registry but not from {name}: pulls fail"),
            )
            .with_cause(Cause::Unlinked {
                repository: name.clone(),
            }),
        );
    }
}

/// Each repository as a scope of the referrer checks: its tags, and the manifests it
/// served as the documents a subject may name. (Without the referrers API, which
/// `docker-registry` lacks, an untagged referrer is found only through a fallback tag.)
fn referrers(
    repositories: &[String],
    roots: &[crawl::Root],
    asked: &HashMap<(Repo, Digest), (crawl::Want, Answered)>,
    graph: &Graph,
    require: Require,
    findings: &mut Vec<Finding>,
) -> SupplyChain {
    let mut members: Vec<Vec<&Digest>> = vec![Vec::new(); repositories.len()];
    for ((repo, digest), (want, answer)) in asked {
        if want.endpoint() == Endpoint::Manifests && matches!(answer, Answered::Present(_)) {
            members[*repo as usize].push(digest);
        }
    }
    let mut tags: Vec<Vec<TagRef>> = (0..repositories.len()).map(|_| Vec::new()).collect();
    for (at, root) in roots.iter().enumerate() {
        let Some(tag) = &root.tag else { continue };
        tags[root.repo as usize].push(TagRef {
            name: tag,
            digest: &root.digest,
            at: (at as u32, 0),
        });
    }
    // A tag is its manifest request.
    let locate = |(at, _): (u32, u32)| {
        let root = &roots[at as usize];
        let name = &repositories[root.repo as usize];
        let tag = root.tag.as_deref().unwrap_or_default();
        (api::key(name, Endpoint::Manifests, tag), String::new())
    };
    let mut check = graph.referrers(require);
    for ((name, tags), mut members) in repositories.iter().zip(tags).zip(members) {
        members.sort_unstable();
        let scope = Scope {
            repository: name,
            tags,
            members: Members::Listed(members),
            locate: &locate,
        };
        check.scope(&scope, findings);
    }
    check.finish().settle(findings, |_, (at, _)| {
        let root = roots.get(at as usize)?;
        Some((root.tag.as_deref()?.into(), root.digest.clone()))
    })
}

/// What every resolved tag covers, named `repository:tag` at its manifest request
/// (referrer tags, which name no image, are in the supply-chain view instead).
fn coverage(repositories: &[String], roots: &[crawl::Root], graph: &Graph) -> Vec<Coverage> {
    let mut share = CoverageShare::default();
    let mut coverage = Vec::with_capacity(roots.len());
    for root in roots {
        if root
            .tag
            .as_deref()
            .is_some_and(|t| tag_form(t) != TagForm::Image)
        {
            continue;
        }
        let name = &repositories[root.repo as usize];
        let reference = root.tag.clone().unwrap_or_else(|| root.digest.to_string());
        let separator = if root.tag.is_some() { ":" } else { "@" };
        if let Some(covered) = graph.covered_by_tag(&root.digest, &mut share) {
            coverage.push(covered.at(
                format!("{name}{separator}{reference}"),
                api::key(name, Endpoint::Manifests, &reference),
                String::new(),
                root.digest.clone(),
            ));
        }
    }
    coverage
}
