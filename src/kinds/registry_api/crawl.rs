//! Asking a registry what it serves, as a client pulling every tag would, with each
//! request made once: every tag resolved (by a GET that also fetches its manifest, or by
//! a HEAD where a ledger may hold the manifest or the registry meters GETs); every
//! document (index, manifest, config) fetched with GET once per digest, from the first
//! repository that serves it, hashed and parsed from the same bytes; every other
//! repository that needs it, and every layer, asked with HEAD, which is how a blob
//! missing from one repository (unlinked) shows. Layers' content is left to the verify
//! phase, which streams each once.
//!
//! The crawl goes one level of the graph at a time (tags, then what they name, then what
//! those name), each level's requests in parallel on the read pool.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::backend::ReadError;
use crate::backend::api::{self, Answer, Endpoint, Method, RegistryApi};
use crate::check::document::{self, Expect};
use crate::check::documents::digest_mismatch;
use crate::check::graph;
use crate::finding::{Finding, Location};
use crate::hash::{self, HashResult};
use crate::kinds::KeptDocuments;
use crate::model::address::Scope;
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::key::Key;
use crate::model::reference::{is_repository_name, is_tag};
use crate::model::text::Text;
use crate::rules::Rule;

/// A repository, by its position in the list of repositories.
pub(super) type Repo = u32;

/// A tag (or the digest the address names) and the manifest it resolved to.
pub(super) struct Root {
    /// Its repository.
    pub repo: Repo,
    /// The tag; `None` for a digest the address names.
    pub tag: Option<String>,
    /// What it resolved to.
    pub digest: Digest,
}

/// What one repository answered about one digest.
#[derive(Clone, Debug)]
pub(super) enum Answered {
    /// Served, this long.
    Present(u64),
    /// 404.
    Missing,
    /// No usable answer (reported as `http-request-failed`).
    Failed,
}

/// One repository's need of one digest: a root, or a descriptor of a document it serves.
#[derive(Clone, Debug)]
pub(super) struct Want {
    pub repo: Repo,
    pub digest: Digest,
    /// What the document is expected to be; `None` for a layer (asked, not read).
    pub expect: Option<Expect>,
    /// The document and JSON pointer that name it (`None` for a root).
    pub via: Option<(Digest, Text)>,
    /// The descriptor lists `urls`: a foreign layer a registry need not serve.
    pub external: bool,
    /// Already known to be served, this long (the tag's answer was its manifest's).
    pub present: Option<u64>,
    /// The answer of the GET by tag that resolved it: its content, already fetched.
    pub fetched: Option<Box<Answer>>,
    /// The size its descriptor gives, for a HEAD answered without a length.
    pub size: Option<u64>,
    /// Asked with HEAD only, even if it is a document (see [`children`]).
    pub head_only: bool,
}

impl Want {
    /// Where it is asked: manifests and indexes at `manifests/`, the rest at `blobs/`.
    pub fn endpoint(&self) -> Endpoint {
        match self.expect {
            Some(Expect::Config) | None => Endpoint::Blobs,
            Some(_) => Endpoint::Manifests,
        }
    }
}

/// A document fetched.
pub(super) struct Fetched {
    pub document: Option<Document>,
    pub content: Option<HashResult>,
    /// Its bytes came from the ledger, not from the registry.
    pub kept: bool,
}

/// What the crawl learned.
#[derive(Default)]
pub(super) struct Crawled {
    /// Every tag resolved.
    pub roots: Vec<Root>,
    /// Every document fetched, by digest.
    pub documents: HashMap<Digest, Fetched>,
    /// Every (repository, digest) asked, with the need that asked it.
    pub asked: HashMap<(Repo, Digest), (Want, Answered)>,
    /// Findings of the crawl: tags, requests, and documents' own.
    pub findings: Vec<Finding>,
    /// Bytes of documents hashed.
    pub bytes_hashed: u64,
}

/// The crawl of `repositories` through `api`.
pub(super) fn crawl(
    api: &dyn RegistryApi,
    repositories: &[String],
    max_document: u64,
    kept: Option<&dyn KeptDocuments>,
) -> Crawled {
    let mut crawled = Crawled::default();
    let cx = Ask {
        api,
        repositories,
        max_document,
        kept,
    };
    let mut frontier = roots(&cx, &mut crawled);
    while !frontier.is_empty() {
        frontier.sort_by(|a, b| (&a.digest, a.repo).cmp(&(&b.digest, b.repo)));
        frontier.dedup_by(|a, b| a.digest == b.digest && a.repo == b.repo);
        frontier.retain(|w| !crawled.asked.contains_key(&(w.repo, w.digest.clone())));
        let groups = group_by_digest(std::mem::take(&mut frontier));
        let documents = &crawled.documents;
        let answered: Vec<Group> = groups
            .into_par_iter()
            .map(|wants| {
                let loaded = documents.contains_key(&wants[0].digest);
                ask(&cx, wants, loaded)
            })
            .collect();
        for group in answered {
            crawled.findings.extend(group.findings);
            crawled.bytes_hashed += group.bytes_hashed;
            if let Some((digest, fetched)) = group.fetched {
                crawled.documents.insert(digest, fetched);
            }
            for (mut want, answer) in group.answers {
                // The body a GET by tag brought is parsed by now: not kept twice.
                want.fetched = None;
                // A repository that serves a document needs what the document names.
                if matches!(answer, Answered::Present(_)) {
                    if let Some(fetched) = crawled.documents.get(&want.digest) {
                        if let Some(document) = &fetched.document {
                            let mismatch = fetched.content == Some(HashResult::Mismatch);
                            frontier.extend(children(
                                want.repo,
                                &want.digest,
                                document,
                                mismatch || want.head_only,
                            ));
                        }
                    }
                }
                crawled
                    .asked
                    .insert((want.repo, want.digest.clone()), (want, answer));
            }
        }
    }
    unserved_roots(cx.repositories, &mut crawled);
    crawled
}

/// A tag whose digest its repository then does not serve (a HEAD by tag, then 404 by
/// digest: deleted in between, or a registry that lost the revision) is unresolvable:
/// nothing else would name it.
fn unserved_roots(repositories: &[String], crawled: &mut Crawled) {
    for root in &crawled.roots {
        let Some(tag) = &root.tag else { continue };
        if let Some((_, Answered::Missing)) = crawled.asked.get(&(root.repo, root.digest.clone())) {
            let name = &repositories[root.repo as usize];
            crawled.findings.push(
                Finding::new(
                    Rule::HttpTagUnresolvable,
                    Location::path(api::key(name, Endpoint::Manifests, tag))
                        .with_digest(Some(root.digest.clone())),
                    format!("tag {tag} names a manifest {name} does not serve by its digest"),
                )
                .expected_found(&root.digest, "404"),
            );
        }
    }
}

/// The wants of one level grouped by digest, each group in repository order.
fn group_by_digest(wants: Vec<Want>) -> Vec<Vec<Want>> {
    let mut groups: Vec<Vec<Want>> = Vec::new();
    for want in wants {
        match groups.last_mut() {
            Some(group) if group[0].digest == want.digest => group.push(want),
            _ => groups.push(vec![want]),
        }
    }
    groups
}

/// What a document names, needed by `repo`.
/// `head_only` for a document whose bytes do not hash to its digest: what it names is
/// asked with HEAD (its descriptors are checked, as on disk) but not fetched, so a
/// registry cannot lead the crawl on forever with documents that name new digests.
fn children(repo: Repo, digest: &Digest, document: &Document, head_only: bool) -> Vec<Want> {
    graph::children(document)
        .into_iter()
        .filter_map(|(d, is_config)| {
            Some(Want {
                repo,
                digest: d.digest.clone()?,
                expect: graph::expect_for(d, is_config),
                via: Some((digest.clone(), d.pointer.clone())),
                external: d.has_urls(),
                present: None,
                fetched: None,
                size: d.size(),
                head_only,
            })
        })
        .collect()
}

/// Resolves every tag of every repository (or what the address names): the first level.
fn roots(cx: &Ask, crawled: &mut Crawled) -> Vec<Want> {
    let (api, repositories) = (cx.api, cx.repositories);
    for name in repositories.iter().filter(|n| !is_repository_name(n)) {
        crawled.findings.push(Finding::new(
            Rule::RegistryRepositoryNameInvalid,
            Location::path("_catalog"),
            format!("the catalog names {name:?}, which is not a repository name: not audited"),
        ));
    }
    let tags: Vec<(Repo, Result<Vec<String>, ReadError>)> = match api.scope() {
        Scope::Tag(_, tag) => vec![(0, Ok(vec![tag.clone()]))],
        Scope::Digest(_, digest) => {
            crawled.roots.push(Root {
                repo: 0,
                tag: None,
                digest: digest.clone(),
            });
            return vec![root_want(0, digest.clone(), None, None)];
        }
        Scope::All | Scope::Repository(_) => (0..repositories.len())
            .into_par_iter()
            .filter_map(|repo| {
                let name = &repositories[repo];
                is_repository_name(name).then(|| (repo as Repo, api.tags(name)))
            })
            .collect(),
    };
    let mut asks = Vec::new();
    for (repo, listed) in tags {
        let name = &repositories[repo as usize];
        match listed {
            Ok(tags) => {
                for tag in tags {
                    // A name the grammar refuses is not put in a request path.
                    if is_tag(&tag) {
                        asks.push((repo, tag));
                    } else {
                        crawled.findings.push(Finding::new(
                            Rule::RegistryTagInvalid,
                            Location::path(format!("{name}/tags/list")),
                            format!("the tag list of {name} names {tag:?}, which is not a tag"),
                        ));
                    }
                }
            }
            // A repository with no tags left answers NAME_UNKNOWN to its tag list; one the
            // user named that is not there is a finding.
            Err(error) if error.is_not_found() && !api.named() => {}
            Err(error) => crawled.findings.push(request_failed(
                &Key::from(format!("{name}/tags/list")),
                None,
                &error,
            )),
        }
    }
    // Without a ledger every manifest is fetched anyway: a GET by tag resolves the tag and
    // fetches its manifest in one request. A ledger may hold it, and a metered registry
    // counts GETs and not HEADs: a HEAD first, then. The first tag is asked with HEAD, so
    // that a registry that sends its meter only on manifest answers is known to be
    // metered before any GET.
    let mut resolved: Vec<(Repo, String, Resolved)> = Vec::with_capacity(asks.len());
    let mut asks = asks.into_iter();
    if let Some((repo, tag)) = asks.next() {
        let digest = resolve(cx, &repositories[repo as usize], &tag, false);
        resolved.push((repo, tag, digest));
    }
    let get = cx.kept.is_none() && !api.metered();
    resolved.par_extend(asks.collect::<Vec<_>>().into_par_iter().map(|(repo, tag)| {
        let digest = resolve(cx, &repositories[repo as usize], &tag, get);
        (repo, tag, digest)
    }));
    let mut wants = Vec::new();
    // One copy of a manifest many tags name is enough.
    let mut fetched_once = std::collections::HashSet::new();
    for (repo, tag, digest) in resolved {
        match digest {
            // Held back by a metered registry's reserve: the report says so.
            Ok(None) => {}
            Ok(Some((digest, len, fetched))) => {
                let fetched = fetched.filter(|_| fetched_once.insert(digest.clone()));
                wants.push(root_want(repo, digest.clone(), len, fetched));
                crawled.roots.push(Root {
                    repo,
                    tag: Some(tag),
                    digest,
                });
            }
            Err(finding) => crawled.findings.push(*finding),
        }
    }
    wants
}

fn root_want(
    repo: Repo,
    digest: Digest,
    present: Option<u64>,
    fetched: Option<Box<Answer>>,
) -> Want {
    Want {
        repo,
        digest,
        // No descriptor says what a tag names: its kind is read from its content.
        expect: Some(Expect::Revision),
        via: None,
        external: false,
        present,
        fetched,
        size: None,
        head_only: false,
    }
}

/// What a tag resolved to: its manifest's digest, its length and the GET's answer when
/// it was fetched so; `None` when a metered registry's reserve held the request back; or
/// the finding why not.
type Resolved = Result<Option<(Digest, Option<u64>, Option<Box<Answer>>)>, Box<Finding>>;

/// A tag's manifest digest: `Docker-Content-Digest` of a GET by tag (`get`) or a HEAD,
/// else the digest of a GET's body (a registry need not send the header).
fn resolve(cx: &Ask, name: &str, tag: &str, get: bool) -> Resolved {
    let key = api::key(name, Endpoint::Manifests, tag);
    let failed = |error: &ReadError| -> Resolved {
        if error.is_rate_limited() {
            return Ok(None);
        }
        Err(Box::new(if error.is_not_found() {
            Finding::new(
                Rule::HttpTagUnresolvable,
                Location::path(&key),
                format!("tag {tag} is listed but its manifest is not served: {error}"),
            )
        } else {
            request_failed(&key, None, error)
        }))
    };
    let header = |answer: &Answer| answer.digest.as_deref().and_then(|d| Digest::parse(d).ok());
    let body_digest = |answer: &Answer| {
        let sha256 = crate::model::digest::Algorithm::Sha256;
        hash::digest_bytes(&sha256, &answer.body).expect("sha256 is computable")
    };
    if get {
        match cx.api.manifest(name, tag, Method::Get, cx.max_document) {
            Ok(answer) => {
                let digest = header(&answer).unwrap_or_else(|| body_digest(&answer));
                let len = Some(answer.body.len() as u64);
                return Ok(Some((digest, len, Some(Box::new(answer)))));
            }
            // Too large to keep: a HEAD names it, and the document is reported so.
            Err(ReadError::TooLarge { .. }) => {}
            Err(error) => return failed(&error),
        }
    }
    let head = match cx.api.manifest(name, tag, Method::Head, 0) {
        Ok(head) => head,
        Err(error) => return failed(&error),
    };
    if let Some(digest) = header(&head) {
        return Ok(Some((digest, head.len, None)));
    }
    match cx.api.manifest(name, tag, Method::Get, cx.max_document) {
        Ok(answer) => Ok(Some((body_digest(&answer), None, None))),
        Err(error) => failed(&error),
    }
}

/// The answers of one group (one digest, the repositories that need it).
struct Group {
    answers: Vec<(Want, Answered)>,
    fetched: Option<(Digest, Fetched)>,
    findings: Vec<Finding>,
    bytes_hashed: u64,
}

/// What asking needs besides the wants.
struct Ask<'a> {
    api: &'a dyn RegistryApi,
    repositories: &'a [String],
    max_document: u64,
    kept: Option<&'a dyn KeptDocuments>,
}

/// Asks for one digest: a document not yet fetched with GET from the first repository
/// that serves it (or taken from the ledger, if it kept it), every other need with HEAD
/// (none where a tag's HEAD already answered).
fn ask(cx: &Ask, wants: Vec<Want>, loaded: bool) -> Group {
    let mut group = Group {
        answers: Vec::with_capacity(wants.len()),
        fetched: None,
        findings: Vec::new(),
        bytes_hashed: 0,
    };
    let mut need_get = !loaded && wants.iter().any(|w| w.expect.is_some() && !w.head_only);
    for want in wants {
        let repository = cx.repositories[want.repo as usize].as_str();
        let key = api::key(repository, want.endpoint(), &want.digest.to_string());
        // Kept bytes are hashed again before they are trusted: a ledger is a file anyone
        // can edit, and documents are small.
        let kept = need_get
            .then(|| cx.kept.and_then(|k| k.get(&want.digest)))
            .flatten()
            .filter(|body| {
                hash::digest_bytes(want.digest.algorithm(), body).as_ref() == Some(&want.digest)
            });
        let answer = if let Some(body) = kept {
            let answered = from_ledger(cx, repository, &want, &key, body, &mut group);
            if matches!(answered, Answered::Present(_)) {
                need_get = false;
            }
            answered
        } else if need_get {
            let answered = fetch(cx, repository, &want, &key, &mut group);
            if matches!(answered, Answered::Present(_)) {
                need_get = false;
            }
            answered
        } else if let Some(len) = want.present {
            Answered::Present(len)
        } else {
            head(cx.api, repository, &want, &key, &mut group.findings)
        };
        group.answers.push((want, answer));
    }
    group
}

/// A document the ledger kept (and that hashed to its digest again): asked with HEAD
/// unless the tag's answer already said it is served, then parsed from the kept bytes.
fn from_ledger(
    cx: &Ask,
    repository: &str,
    want: &Want,
    key: &Key,
    body: &[u8],
    group: &mut Group,
) -> Answered {
    let answered = match want.present {
        Some(len) => Answered::Present(len),
        None => head(cx.api, repository, want, key, &mut group.findings),
    };
    if !matches!(answered, Answered::Present(_)) {
        return answered;
    }
    if let Some(kept) = cx.kept {
        kept.keep(&want.digest, None);
    }
    let mut body = body.to_vec();
    let mut doc_cx = document::Context {
        path: key,
        digest: Some(&want.digest),
        findings: &mut group.findings,
    };
    let expect = want.expect.unwrap_or(Expect::Revision);
    let document = document::parse(&mut body, expect, &mut doc_cx);
    group.fetched = Some((
        want.digest.clone(),
        Fetched {
            document,
            content: Some(HashResult::Clean),
            kept: true,
        },
    ));
    answered
}

/// Asks with HEAD whether `repository` serves what `want` needs.
fn head(
    api: &dyn RegistryApi,
    repository: &str,
    want: &Want,
    key: &Key,
    findings: &mut Vec<Finding>,
) -> Answered {
    let head = match want.endpoint() {
        Endpoint::Manifests => api.manifest(repository, &want.digest.to_string(), Method::Head, 0),
        Endpoint::Blobs => api.blob(repository, &want.digest, Method::Head, 0),
    };
    match head {
        Ok(answer) => {
            check_digest_header(key, &want.digest, answer.digest.as_deref(), findings);
            // Without a length (a chunked answer, some proxies), the descriptor's size
            // stands: only hashing the blob can tell it wrong.
            Answered::Present(answer.len.or(want.size).unwrap_or(0))
        }
        Err(error) => answered_error(key, &want.digest, &error, findings),
    }
}

/// GETs one document, checks its digest header and its bytes, and parses it.
fn fetch(cx: &Ask, repository: &str, want: &Want, key: &Key, group: &mut Group) -> Answered {
    let (api, max_document) = (cx.api, cx.max_document);
    let digest = &want.digest;
    let got = match (&want.fetched, want.endpoint()) {
        (Some(answer), _) => Ok(Answer::clone(answer)),
        (None, Endpoint::Manifests) => {
            api.manifest(repository, &digest.to_string(), Method::Get, max_document)
        }
        (None, Endpoint::Blobs) => api.blob(repository, digest, Method::Get, max_document),
    };
    let mut answer = match got {
        Ok(answer) => answer,
        Err(ReadError::TooLarge { len, max }) => {
            group.findings.push(Finding::new(
                Rule::DocumentTooLarge,
                Location::path(key).with_digest(Some(digest.clone())),
                format!(
                    "document not parsed: {len} bytes, over the {max}-byte limit (--max-document-size)"
                ),
            ));
            return Answered::Present(len);
        }
        Err(error) => return answered_error(key, digest, &error, &mut group.findings),
    };
    check_digest_header(key, digest, answer.digest.as_deref(), &mut group.findings);
    let findings = &mut group.findings;
    let content = hash::digest_bytes(digest.algorithm(), &answer.body).map(|actual| {
        group.bytes_hashed += answer.body.len() as u64;
        if actual == *digest {
            HashResult::Clean
        } else {
            findings.push(digest_mismatch(key, digest, &actual));
            HashResult::Mismatch
        }
    });
    let len = answer.body.len() as u64;
    // Kept for the next run before parsing, which rewrites the bytes in place.
    if let (Some(kept), Some(HashResult::Clean)) = (cx.kept, content) {
        kept.keep(digest, Some(&answer.body));
    }
    let mut doc_cx = document::Context {
        path: key,
        digest: Some(digest),
        findings,
    };
    let expect = want.expect.unwrap_or(Expect::Revision);
    let document = document::parse(&mut answer.body, expect, &mut doc_cx);
    group.fetched = Some((
        digest.clone(),
        Fetched {
            document,
            content,
            kept: false,
        },
    ));
    Answered::Present(len)
}

/// `Docker-Content-Digest` must name the digest asked for.
fn check_digest_header(
    key: &Key,
    digest: &Digest,
    header: Option<&str>,
    findings: &mut Vec<Finding>,
) {
    let Some(header) = header else { return };
    if Digest::parse(header).ok().as_ref() != Some(digest) {
        findings.push(
            Finding::new(
                Rule::HttpDigestHeaderMismatch,
                Location::path(key).with_digest(Some(digest.clone())),
                "the Docker-Content-Digest header names another digest than the one asked for",
            )
            .expected_found(digest, header),
        );
    }
}

/// A 404 is an answer (missing); any other failure is a finding.
fn answered_error(
    key: &Key,
    digest: &Digest,
    error: &ReadError,
    findings: &mut Vec<Finding>,
) -> Answered {
    if error.is_not_found() {
        Answered::Missing
    } else if error.is_rate_limited() {
        // Not asked: the report says the run is incomplete, and where to resume.
        Answered::Failed
    } else {
        findings.push(request_failed(key, Some(digest), error));
        Answered::Failed
    }
}

/// `http-request-failed` at `key`.
pub(super) fn request_failed(key: &Key, digest: Option<&Digest>, error: &ReadError) -> Finding {
    Finding::new(
        Rule::HttpRequestFailed,
        Location::path(key).with_digest(digest.cloned()),
        format!("no usable answer: {error}"),
    )
}

/// Digests some repository was asked for and none could answer (so their absence is not
/// known, and not reported as missing).
pub(super) fn unanswered(asked: &HashMap<(Repo, Digest), (Want, Answered)>) -> HashSet<Digest> {
    let mut failed = HashSet::new();
    let mut present = HashSet::new();
    for ((_, digest), (_, answer)) in asked {
        match answer {
            Answered::Present(_) => {
                present.insert(digest);
            }
            Answered::Failed => {
                failed.insert(digest.clone());
            }
            Answered::Missing => {}
        }
    }
    failed.retain(|d| !present.contains(d));
    failed
}
