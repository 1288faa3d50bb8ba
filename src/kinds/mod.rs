//! Store kinds: each kind of store in one module, which owns everything that knows its
//! grammar: the evidence that recognises it, what its listing means, its own checks, its
//! re-check of findings a concurrent writer can cause, and its reclaimable bytes.
//!
//! ```text
//! KINDS ─► detect (walk; each kind recognises its stores) ─► Vec<Box<dyn Store>>
//!      store.audit(cx) ─► StorePart ─► verify ─► assemble ─► Report
//!      kind.recheck(finding) ─► confirm
//! ```
//!
//! The engine knows kinds only through [`Kind`], [`Store`] and the one list [`KINDS`], as
//! ruff knows rules through its registry. Adding a kind: write `kinds/<name>.rs` with a
//! unit struct implementing [`Kind`] and a found-store type implementing [`Store`], and
//! add it to [`KINDS`].

pub mod containerd;
pub mod containers_storage;
pub mod detect;
pub mod distribution;
pub mod docker_archive;
pub mod layout;
pub mod registry_api;
pub mod zot;

use std::time::Duration;

use crate::assemble::StorePart;
use crate::backend::api::RegistryApi;
use crate::backend::archive::MemberIndex;
use crate::backend::{Backend, Entry};
use crate::check::graph::referrers::Require;
use crate::finding::Finding;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::StoreKind;

/// Every kind of store, in the order they claim a directory: the first kind that
/// recognises a directory has it (a zot root is also a tree of layouts; a directory
/// holding `docker/registry/v2` is a registry's root directory whatever else it holds).
///
/// A registry reached over its API claims no directory (the opener assumes it); it comes
/// first so that it re-checks the findings made at its keys (`NAME/blobs/DIGEST`).
pub static KINDS: &[&dyn Kind] = &[
    &registry_api::RegistryApiKind,
    &zot::Zot,
    &distribution::Distribution,
    &containerd::Containerd,
    &containers_storage::ContainersStorage,
    &layout::Layout,
    &docker_archive::DockerArchive,
];

/// One kind of store: its grammar, as far as the engine needs to know it.
pub trait Kind: Sync {
    /// What the report calls a store of this kind.
    fn name(&self) -> StoreKind;

    /// Whether the directory `dir` of the search, listed as `entries`, is (or holds at a
    /// fixed place) a store of this kind, and how the search goes on below it. Directories
    /// that cannot be read on the way are findings.
    fn recognise(
        &self,
        _look: &Look,
        _dir: &Key,
        _entries: &[Entry],
        _findings: &mut Vec<Finding>,
    ) -> Option<Recognised> {
        None
    }

    /// After the search: what only the whole tree shows (released zot's repositories
    /// with `.uploads`, an archive's `manifest.json`). `root_entries` is the root's
    /// listing.
    fn recognise_tree(&self, _look: &Look, _root_entries: &[Entry], _found: &mut detect::Found) {}

    /// The store at `dir` when the user says it is of this kind (`--zot`), whatever it
    /// holds; `None` when the kind cannot be assumed.
    fn assume(
        &self,
        _look: &Look,
        _dir: &Key,
        _findings: &mut Vec<Finding>,
    ) -> Option<Box<dyn Store>> {
        None
    }

    /// Whether this kind re-checks `finding` before it fails a run: one a concurrent
    /// writer of this kind of store can cause (see `audit::confirm`).
    fn is_confirmable(&self, _finding: &Finding) -> bool {
        false
    }

    /// Reads again the evidence behind `finding` (one [`Kind::is_confirmable`] accepts):
    /// `None` when it is as it was, else what changed.
    fn recheck(&self, _backend: &dyn Backend, _finding: &Finding) -> Option<String> {
        None
    }
}

/// A store found under the audited root.
pub trait Store: Send + Sync {
    /// Its kind, as the report names it.
    fn kind(&self) -> StoreKind;
    /// Where it is, relative to the audited root.
    fn path(&self) -> &Key;
    /// Everything about it but the verify phase: inventory, documents, graph, its own
    /// checks; its blobs are handed on in the part for the verify phase.
    fn audit(&self, cx: &Context) -> StorePart;
}

/// What a kind recognised in a directory.
pub struct Recognised {
    /// The store.
    pub store: Box<dyn Store>,
    /// How the search goes on below the directory.
    pub then: Then,
}

/// How the search goes on below a directory that holds a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Not below it: the store owns all of it.
    Stop,
    /// Into every subdirectory but this one (a layout's `blobs`, a root directory's
    /// `docker`).
    SkipChild(&'static [u8]),
}

/// What the search sees.
pub struct Look<'a> {
    /// The audited root.
    pub backend: &'a dyn Backend,
    /// The members of the image archive the backend reads, when it reads one.
    pub members: Option<&'a dyn MemberIndex>,
    /// The distribution API of the registry the backend reaches, when it reaches one.
    pub api: Option<&'a dyn RegistryApi>,
}

/// What the checks need, whatever the store.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Documents larger than this are not parsed (`document-too-large`).
    pub max_document_size: u64,
    /// Only tagged manifests are collection roots (`--untagged`).
    pub untagged: bool,
    /// Uploads older than this are stale (the registry's purge age).
    pub upload_max_age: Duration,
    /// What every tag of an image must have referring to it (`--require`).
    pub require: Require,
    /// containerd roots: layers discarded after unpacking are missing (`--require-layers`).
    pub require_layers: bool,
    /// containers-storage roots: each layer re-assembled from its tar-split and its
    /// files and hashed against its diff-digest (`--verify-layers`).
    pub verify_layers: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            max_document_size: 8 * 1024 * 1024,
            untagged: false,
            upload_max_age: Duration::from_secs(168 * 3600),
            require: Require::default(),
            require_layers: false,
            verify_layers: false,
        }
    }
}

/// Documents an earlier run fetched and hashed clean, kept by the ledger for stores whose
/// documents cost a request each (a registry over HTTP), and what this run used or
/// fetched, to keep for the next.
pub trait KeptDocuments: Sync {
    /// The bytes of document `digest`, when they are kept and not due again.
    fn get(&self, digest: &Digest) -> Option<&[u8]>;
    /// Notes that document `digest` was used from the kept ones (`None`), or fetched and
    /// hashed clean as `body`.
    fn keep(&self, digest: &Digest, body: Option<&[u8]>);
}

/// What a store's audit reads through and decides with.
pub struct Context<'a> {
    /// The audited root.
    pub backend: &'a dyn Backend,
    /// The members of the image archive the backend reads, when it reads one.
    pub members: Option<&'a dyn MemberIndex>,
    /// The distribution API of the registry the backend reaches, when it reaches one.
    pub api: Option<&'a dyn RegistryApi>,
    /// The checks' options.
    pub options: CheckOptions,
    /// With a ledger: the documents it kept (used by stores whose documents cost a
    /// request each).
    pub kept: Option<&'a dyn KeptDocuments>,
    /// The hashing threads (`--threads`), for content a store's own audit hashes (a
    /// containers-storage root's layers); store audits run among the reads in flight.
    pub hashing: &'a rayon::ThreadPool,
}

/// Whether a finding is of a kind a concurrent writer can produce.
pub fn is_confirmable(finding: &Finding) -> bool {
    match finding.rule {
        Rule::DescriptorBlobMissing
        | Rule::IndexManifestMissing
        | Rule::SubjectMissing
        | Rule::RegistryUploadStale
        | Rule::RegistryUploadInvalid
        | Rule::IoError
        | Rule::BlobDigestMismatch => true,
        // A layout's index.json and oci-layout are rewritten in place by the tools that
        // write layouts; a blob's content is fixed by its digest.
        Rule::DocumentJsonInvalid | Rule::DocumentSchemaInvalid => {
            finding.location.digest.is_none()
        }
        // What only one kind of store can show is that kind's to re-check.
        _ => rechecking(finding).is_some(),
    }
}

/// The kind that re-checks `finding`, if any.
pub fn rechecking(finding: &Finding) -> Option<&'static dyn Kind> {
    KINDS
        .iter()
        .copied()
        .find(|kind| kind.is_confirmable(finding))
}
