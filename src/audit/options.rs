//! What an audit is asked to do, by concern, so that each layer is handed only its own:
//! the opener [`OpenOptions`] (how the store is read and searched), every kind of store
//! [`CheckOptions`] (what the checks decide with), the engine [`RunOptions`] (hashing,
//! policy, ledger, baseline, shard, clock). Two fingerprints are drawn from them for two
//! purposes: [`Options::results`], which shards must agree on, and the ledger's record of
//! a run.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::audit::StateOptions;
use crate::backend::local::ReadMode;
use crate::baseline::Baseline;
use crate::finding::Policy;
pub use crate::kinds::CheckOptions;
use crate::kinds::detect::DetectOptions;
use crate::shard::Shard;

/// What the audit does and how, by concern: how the store is opened and read, what the
/// checks need, what the run needs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How what the user named is opened, read and searched.
    pub open: OpenOptions,
    /// What the checks of every kind of store need.
    pub check: CheckOptions,
    /// What the run needs: hashing, policy, ledger, baseline, shard, clock.
    pub run: RunOptions,
}

/// How what the user named is opened, read and searched: the backend's settings.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// `read` or `mmap`.
    pub read_mode: ReadMode,
    /// Reads kept in flight (`--io-concurrency`): listing, links, documents and small
    /// blobs, on disk or object storage; `None`: the backend's default.
    pub io_concurrency: Option<usize>,
    /// How often a failed request to object storage is retried; `None`: the default.
    pub io_retries: Option<usize>,
    /// How stores are looked for under the audited path.
    pub detect: DetectOptions,
    /// A registry over HTTP: extra certificate authorities (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// A registry over HTTP: the repositories to audit where its catalog is refused
    /// (`--repositories`).
    pub repositories: Option<PathBuf>,
}

/// What a run needs beyond the checks: hashing, policy, ledger, baseline, shard, clock.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Hashing threads, for blobs whose hashing keeps a core busy; 0 means one per core
    /// (or `RAYON_NUM_THREADS`).
    pub threads: usize,
    /// Re-hash blobs that are not documents (layers, unknown blobs). Documents are always
    /// hashed, since they are read anyway.
    pub verify: bool,
    /// Severity overrides, skip list, failure threshold.
    pub policy: Policy,
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
    /// Hash only the blobs of this slice (`--shard I/N`); see [`crate::shard`].
    pub shard: Option<Shard>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            threads: 0,
            verify: true,
            policy: Policy::default(),
            state: None,
            baseline: None,
            now: None,
            settle: Duration::from_secs(2),
            shard: None,
        }
    }
}

impl Options {
    /// The options that change a run's findings and counters (not the policy, which is
    /// applied after, nor threads or concurrency, which change only speed): shards must
    /// agree on them for `merge` to assemble their parts.
    pub fn results(&self) -> String {
        let require_layers = if self.check.require_layers {
            " require-layers"
        } else {
            ""
        };
        let verify_layers = if self.check.verify_layers {
            " verify-layers"
        } else {
            ""
        };
        format!(
            "verify={} untagged={} upload-max-age={} max-document-size={} cross-file-systems={} zot={} registry={}{}{require_layers}{verify_layers}",
            self.run.verify,
            self.check.untagged,
            crate::model::time::age_text(self.check.upload_max_age),
            self.check.max_document_size,
            self.open.detect.cross_file_systems,
            self.open.detect.zot,
            self.open.detect.registry,
            self.check.require.describe(),
        )
    }
}

impl Options {
    /// The options that shape a run's results, as the ledger records them.
    pub(super) fn ledger_description(&self) -> String {
        let state = self.run.state.as_ref();
        format!(
            "verify={} untagged={} upload-max-age={} reverify-after={} hash-budget={} fail-on={}",
            self.run.verify,
            self.check.untagged,
            crate::model::time::age_text(self.check.upload_max_age),
            state.map_or("-".into(), |s| crate::model::time::age_text(
                s.reverify_after
            )),
            state
                .and_then(|s| s.hash_budget)
                .map_or("-".into(), |b| b.to_string()),
            self.run.policy.fail_on,
        )
    }
}
