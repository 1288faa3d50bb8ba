//! What an audit is asked to do. [`Options`] is the flat set a caller fills in (the
//! command line, a test); each layer is handed only its own view of it: the opener its
//! backend settings, the kinds of store [`CheckOptions`], the engine the rest (verify,
//! policy, ledger, baseline, shard, clock), as ripgrep derives its high-level arguments
//! from the low-level ones.

use std::time::{Duration, SystemTime};

use crate::audit::StateOptions;
use crate::backend::local::ReadMode;
use crate::baseline::Baseline;
use crate::finding::Policy;
use crate::kinds::CheckOptions;
use crate::kinds::detect::DetectOptions;
use crate::shard::Shard;

/// What the audit does and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Hashing threads, for blobs whose hashing keeps a core busy; 0 means one per core
    /// (or `RAYON_NUM_THREADS`).
    pub threads: usize,
    /// Re-hash blobs that are not documents (layers, unknown blobs). Documents are always
    /// hashed, since they are read anyway.
    pub verify: bool,
    /// `read` or `mmap`.
    pub read_mode: ReadMode,
    /// Documents larger than this are not parsed (`document-too-large`).
    pub max_document_size: u64,
    /// Severity overrides, skip list, failure threshold.
    pub policy: Policy,
    /// Distribution roots: simulate `garbage-collect --delete-untagged` (only tagged
    /// manifests are roots) instead of plain `garbage-collect`.
    pub untagged: bool,
    /// Distribution roots: uploads older than this are stale (the registry's purge age).
    pub upload_max_age: Duration,
    /// How stores are looked for under the audited path.
    pub detect: DetectOptions,
    /// A verification ledger (`--state`): trust what was hashed before, re-hash on a
    /// rolling schedule, record this run.
    pub state: Option<StateOptions>,
    /// Findings of an earlier run to mark new and resolved findings against
    /// (`--baseline`); with a ledger and none given, the ledger's previous run.
    pub baseline: Option<Baseline>,
    /// The clock; `None` is the system's. A parameter so schedules can be tested.
    pub now: Option<SystemTime>,
    /// How long to wait before re-reading the files behind findings a concurrent writer
    /// can produce (`confirm`).
    pub settle: Duration,
    /// Reads kept in flight (`--io-concurrency`): listing, links, documents and small
    /// blobs, on disk or object storage; `None`: the backend's default.
    pub io_concurrency: Option<usize>,
    /// How often a failed request to object storage is retried; `None`: the default.
    pub io_retries: Option<usize>,
    /// Hash only the blobs of this slice (`--shard I/N`); see [`crate::shard`].
    pub shard: Option<Shard>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: 0,
            verify: true,
            read_mode: ReadMode::Auto,
            max_document_size: 8 * 1024 * 1024,
            policy: Policy::default(),
            untagged: false,
            upload_max_age: Duration::from_secs(168 * 3600),
            detect: DetectOptions::default(),
            state: None,
            baseline: None,
            now: None,
            settle: Duration::from_secs(2),
            io_concurrency: None,
            io_retries: None,
            shard: None,
        }
    }
}

impl Options {
    /// The options that change a run's findings and counters (not the policy, which is
    /// applied after, nor threads or concurrency, which change only speed): shards must
    /// agree on them for `merge` to assemble their parts.
    pub fn results(&self) -> String {
        format!(
            "verify={} untagged={} upload-max-age={} max-document-size={} cross-file-systems={} zot={}",
            self.verify,
            self.untagged,
            crate::model::time::age_text(self.upload_max_age),
            self.max_document_size,
            self.detect.cross_file_systems,
            self.detect.zot,
        )
    }
}

impl Options {
    /// What the checks need of these options: all the kinds of store see.
    pub fn check(&self) -> CheckOptions {
        CheckOptions {
            max_document_size: self.max_document_size,
            untagged: self.untagged,
            upload_max_age: self.upload_max_age,
        }
    }
}

impl Options {
    /// The options that shape a run's results, as the ledger records them.
    pub(super) fn ledger_description(&self) -> String {
        let options = self;
        let state = options.state.as_ref();
        format!(
            "verify={} untagged={} upload-max-age={} reverify-after={} hash-budget={} fail-on={}",
            options.verify,
            options.untagged,
            crate::model::time::age_text(options.upload_max_age),
            state.map_or("-".into(), |s| crate::model::time::age_text(
                s.reverify_after
            )),
            state
                .and_then(|s| s.hash_budget)
                .map_or("-".into(), |b| b.to_string()),
            options.policy.fail_on,
        )
    }
}
