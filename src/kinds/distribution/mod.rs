//! The Docker Distribution kind (`/var/lib/registry`): recognised by a
//! `docker/registry/v2` directory, or by a `v2` directory's shape; its inventory,
//! repositories, documents from every revision, the graph, then `checks` for links, tags,
//! references and uploads, `gc` for what garbage collection would reclaim, and `recheck`
//! for what a registry serving pushes meanwhile can cause.

pub mod checks;
mod gc;
pub mod listing;
mod recheck;

use std::time::SystemTime;

use rayon::prelude::*;

use crate::assemble::{BeforeVerify, BlobSet, StorePart};
use crate::backend::{Backend, Entry};
use crate::check::document::Expect;
use crate::check::documents::{hashed_flags, load_documents};
use crate::check::graph::Graph;
use crate::finding::Finding;
use crate::kinds::detect::{any_kind, has, is_dir};
use crate::kinds::distribution::checks::{
    self as registry, GcOptions, Registry, RegistryResult, Resolved,
};
use crate::kinds::distribution::listing::{self as distribution, RegistryRoot, Repository};
use crate::kinds::{CheckOptions, Context, Kind, Look, Recognised, Store, Then};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::store::{Inventory, OwnBlobs, StoreKind};

/// The Docker Distribution kind.
pub struct Distribution;

impl Kind for Distribution {
    fn name(&self) -> StoreKind {
        StoreKind::Distribution
    }

    fn recognise(
        &self,
        look: &Look,
        dir: &Key,
        entries: &[Entry],
        _findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        // A registry's rootdirectory: <dir>/docker/registry/v2.
        let v2 = dir.join("docker/registry/v2");
        if has(entries, "docker", is_dir)
            && look
                .backend
                .stat(&v2)
                .is_ok_and(|s| s.kind == crate::backend::EntryKind::Dir)
        {
            return Some(Recognised {
                store: Box::new(RegistryRoot { prefix: v2 }),
                then: Then::SkipChild(b"docker"),
            });
        }
        is_bare_v2(look.backend, dir, entries).then(|| Recognised {
            store: Box::new(RegistryRoot {
                prefix: dir.clone(),
            }),
            then: Then::Stop,
        })
    }

    /// An empty registry's rootdirectory (`--registry-config`): its `docker/registry/v2`,
    /// which the registry makes at its first push, is not there yet.
    fn assume(
        &self,
        _look: &Look,
        dir: &Key,
        _findings: &mut Vec<Finding>,
    ) -> Option<Box<dyn Store>> {
        Some(Box::new(RegistryRoot {
            prefix: dir.join("docker/registry/v2"),
        }))
    }

    fn is_confirmable(&self, finding: &Finding) -> bool {
        recheck::is_confirmable(finding)
    }

    fn recheck(&self, backend: &dyn Backend, finding: &Finding) -> Option<String> {
        recheck::recheck(backend, finding)
    }
}

/// A `v2` directory named directly: `blobs/` and `repositories/` and no layout files,
/// neither of the two a layout itself; or any directory `…/docker/registry/v2`.
fn is_bare_v2(backend: &dyn Backend, dir: &Key, entries: &[Entry]) -> bool {
    let full = format!("{}/{}", backend.describe(), dir.lossy());
    let named_v2 = full.trim_end_matches('/').ends_with("/docker/registry/v2");
    if named_v2 && (has(entries, "blobs", is_dir) || has(entries, "repositories", is_dir)) {
        return true;
    }
    // Layout files in a subdirectory: a `blobs/` or `repositories/` beside it belongs to
    // a tree of layouts (zot may keep repositories named so), not to a registry.
    let holds_layout_files = |dir: &Key| {
        ["oci-layout", "index.json"]
            .iter()
            .any(|name| backend.stat(&dir.join(name)).is_ok())
    };
    has(entries, "blobs", is_dir)
        && has(entries, "repositories", is_dir)
        && !has(entries, "oci-layout", any_kind)
        && !has(entries, "index.json", any_kind)
        && !holds_layout_files(&dir.join("blobs"))
        && !holds_layout_files(&dir.join("repositories"))
}

impl Store for RegistryRoot {
    fn kind(&self) -> StoreKind {
        StoreKind::Distribution
    }

    fn path(&self) -> &Key {
        &self.prefix
    }

    fn audit(&self, cx: &Context) -> StorePart {
        audit_registry(cx.backend, self, &cx.options)
    }
}

/// Every Distribution check, then the garbage-collection simulation over what they
/// resolved, then the tags' coverage.
fn check_registry(registry: &Registry, options: &GcOptions) -> RegistryResult {
    // Repositories are checked apart, in parallel; each one's findings follow in order.
    let (mut resolved, found): (Vec<Resolved>, Vec<Vec<Finding>>) = registry
        .repositories
        .par_iter()
        .map(|repository| {
            let mut findings = Vec::new();
            let resolved = registry.check_repository(repository, options, &mut findings);
            (resolved, findings)
        })
        .unzip();
    let mut findings: Vec<Finding> = found.into_iter().flatten().collect();
    let outcome = gc::simulate(registry, &resolved, options.untagged);
    findings.extend(gc::findings(&outcome, registry.root));
    let (reclaimable, total) = gc::table(&outcome, registry.root);
    drop(outcome);
    let referrers = registry.referrers(&resolved, options.require, &mut findings);
    // Coverage reads the tags only: the digest sets go before its entries arrive.
    for r in &mut resolved {
        r.revisions.clear();
        r.layers.clear();
    }
    RegistryResult {
        coverage: registry.coverage(&resolved),
        findings,
        reclaimable,
        total,
        referrers,
    }
}

/// The blob inventory and the repositories with their links, read at the same time: neither
/// needs the other, and on a cold disk each phase's tail would otherwise leave reads
/// unqueued.
fn list(
    backend: &dyn Backend,
    root: &RegistryRoot,
    findings: &mut Vec<Finding>,
) -> (Inventory, Vec<Repository>) {
    let (inventory, repositories) = rayon::join(
        || {
            let mut found = Vec::new();
            (distribution::inventory(backend, root, &mut found), found)
        },
        || {
            let mut found = Vec::new();
            let names = distribution::repositories(backend, root, &mut found);
            let mut repositories = Vec::with_capacity(names.len());
            for (repository, mut more) in distribution::read_repositories(backend, root, &names) {
                found.append(&mut more);
                repositories.push(repository);
            }
            (repositories, found)
        },
    );
    let (inventory, mut found) = inventory;
    findings.append(&mut found);
    let (repositories, mut found) = repositories;
    findings.append(&mut found);
    // With the inventory known, intact links and tags shrink to positions in it.
    let repositories = repositories
        .into_iter()
        .map(|repository| repository.settle(&inventory))
        .collect();
    (inventory, repositories)
}

/// Inventory, repositories, documents, graph and registry checks of a Distribution root.
fn audit_registry(backend: &dyn Backend, root: &RegistryRoot, options: &CheckOptions) -> StorePart {
    let mut part = StorePart::new(StoreKind::Distribution, root.prefix.clone());
    let findings = &mut part.findings;
    let (inventory, repositories) = list(backend, root, findings);
    // Every revision is a root: its kind is read from its content, as the registry does.
    let frontier: Vec<(Digest, Expect)> = registry::revisions(&repositories, &inventory)
        .into_iter()
        .map(|digest| (digest, Expect::Revision))
        .collect();
    let blobs = OwnBlobs {
        inventory: &inventory,
        paths: root,
    };
    let (docs, bytes_hashed) = load_documents(
        backend,
        frontier,
        &blobs,
        options.max_document_size,
        findings,
    );
    let graph = Graph {
        blobs: &blobs,
        index_json: None,
        index_path: &Key::root(),
        docs: &docs,
    };
    graph.check_edge_findings(findings);
    graph.check_cycles(findings);
    graph.check_consistency(findings);
    let registry = Registry {
        root,
        repositories: &repositories,
        inventory: &inventory,
        graph: &graph,
    };
    let result = check_registry(
        &registry,
        &GcOptions {
            untagged: options.untagged,
            upload_max_age: options.upload_max_age,
            now: SystemTime::now(),
            require: options.require,
        },
    );
    findings.extend(result.findings);

    let hashed = hashed_flags(&inventory, &docs);
    let documents = docs.values().filter(|l| l.document.is_some()).count() as u64;
    // The documents go before the coverage entries are named: the two are a registry's
    // largest structures after its inventory.
    drop(docs);
    let coverage = registry::coverage(&repositories, &inventory, result.coverage);
    part.supply_chain =
        result
            .referrers
            .settle(&mut part.findings, |repository, (at, position)| {
                let tag = repositories.get(repository)?.tags.get(at as usize)?;
                let digest = inventory.digest_at(position as usize).clone();
                Some((tag.name().into(), digest))
            });
    let uploads = repositories.iter().flat_map(|r| &r.uploads);
    part.counters = crate::assemble::Counters {
        repositories: repositories.len() as u64,
        uploads: uploads.clone().count() as u64,
        upload_bytes: uploads.map(|u| u.bytes).sum(),
        blobs: inventory.len() as u64,
        bytes: inventory.bytes(),
        documents,
        blobs_hashed: hashed
            .iter()
            .filter(|c| matches!(c, BeforeVerify::HashedAsDocument(_)))
            .count() as u64,
        bytes_hashed,
        layouts: 0,
    };
    part.coverage = coverage;
    part.reclaimable = Some((result.reclaimable, result.total));
    part.blobs.push(BlobSet {
        inventory,
        before: hashed,
        paths: Box::new(root.clone()),
    });
    part
}
