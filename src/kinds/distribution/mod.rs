//! One Docker Distribution root: inventory, repositories, documents from every revision,
//! the graph, then `checks` for links, tags, uploads and garbage collection.

pub mod checks;
pub mod listing;

use std::time::SystemTime;

use crate::audit::{Checked, Options};
use crate::backend::Backend;
use crate::check::document::Expect;
use crate::check::documents::{hashed_flags, load_documents};
use crate::check::graph::Graph;
use crate::finding::Finding;
use crate::kinds::distribution::checks::{self as registry, GcOptions, Registry};
use crate::kinds::distribution::listing::{self as distribution, RegistryRoot};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::report::{Coverage, Reclaimable, ReclaimableTotal};
use crate::store::{Inventory, Own};

/// What a Distribution root's first phases leave for the rest.
pub(crate) struct RegistryAudit {
    pub(crate) inventory: Inventory,
    pub(crate) hashed: Vec<Checked>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) coverage: Vec<Coverage>,
    pub(crate) reclaimable: Vec<Reclaimable>,
    pub(crate) total: ReclaimableTotal,
    pub(crate) repositories: u64,
    pub(crate) uploads: u64,
    pub(crate) upload_bytes: u64,
    pub(crate) documents: u64,
    pub(crate) bytes_hashed: u64,
}

/// Inventory, repositories, documents, graph and registry checks of a Distribution root.
pub(crate) fn audit_registry(
    backend: &dyn Backend,
    root: &RegistryRoot,
    options: &Options,
) -> RegistryAudit {
    let mut findings = Vec::new();
    // The blob shards and the repositories are read at the same time: neither needs the
    // other, and on a cold disk each phase's tail would otherwise leave reads unqueued.
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
    // With the inventory known, sound links and tags shrink to positions in it.
    let repositories: Vec<_> = repositories
        .into_iter()
        .map(|repository| repository.settle(&inventory))
        .collect();
    // Every revision is a root: its kind is read from its content, as the registry does.
    let frontier: Vec<(Digest, Expect)> = registry::revisions(&repositories, &inventory)
        .into_iter()
        .map(|digest| (digest, Expect::Revision))
        .collect();
    let blobs = Own {
        inventory: &inventory,
        paths: root,
    };
    let (docs, bytes_hashed) = load_documents(backend, frontier, &blobs, options, &mut findings);
    let graph = Graph {
        blobs: &blobs,
        index_json: None,
        index_path: &Key::root(),
        docs: &docs,
    };
    graph.check_edge_findings(&mut findings);
    graph.check_cycles(&mut findings);
    graph.check_consistency(&mut findings);
    let registry = Registry {
        root,
        repositories: &repositories,
        inventory: &inventory,
        graph: &graph,
    };
    let result = registry.check(&GcOptions {
        untagged: options.untagged,
        upload_max_age: options.upload_max_age,
        now: SystemTime::now(),
    });
    findings.extend(result.findings);
    let hashed = hashed_flags(&inventory, &docs);
    let documents = docs.values().filter(|l| l.document.is_some()).count() as u64;
    // The documents go before the coverage entries are named: the two are a registry's
    // largest structures after its inventory.
    drop(docs);
    let coverage = registry::coverage(&repositories, &inventory, result.coverage);
    let uploads = repositories.iter().flat_map(|r| &r.uploads);
    RegistryAudit {
        hashed,
        documents,
        repositories: repositories.len() as u64,
        uploads: uploads.clone().count() as u64,
        upload_bytes: uploads.map(|u| u.bytes).sum(),
        inventory,
        findings,
        coverage,
        reclaimable: result.reclaimable,
        total: result.total,
        bytes_hashed,
    }
}
