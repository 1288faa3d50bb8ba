//! The engine: runs the phases over every layout of the store and builds the [`Report`].
//!
//! ```text
//! detect → per layout (in parallel): structure + inventory → documents (BFS, parallel per
//! level; each blob read once: hashed, then parsed) → graph (edges, cycles, coverage)
//! → verify every other blob (all layouts together, largest first, parallel)
//! → unreferenced blobs → policy (overrides, skip list), sort once → Report
//! ```
//!
//! A Distribution root runs the same phases over one blob store: its inventory (shards in
//! parallel), repositories (in parallel), documents from every revision link, the graph,
//! then `checks` for links, tags, uploads and garbage collection.
//!
//! Every task returns its findings; nothing is shared behind a lock on the hot path except
//! the progress counter.

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use rayon::prelude::*;

use crate::assemble::{BlobSet, StorePart, Verified, assemble};
use crate::backend::archive::ArchiveBackend;
use crate::backend::local::{LocalFs, ReadMode};
use crate::backend::{Backend, ReadError};
use crate::baseline;
use crate::finding::{Finding, Policy};
use crate::kinds::detect::{self, DetectOptions};
use crate::kinds::{CheckOptions, Context, Look};
use crate::ledger::{Ledger, LedgerError, RunSummary, unix_seconds};
use crate::report::{BaselineInfo, LedgerInfo, Report};
use crate::shard::{ListedBlob, PARTIAL_VERSION, Partial, Shard};
use crate::store::Error;
use crate::target::Target;
use verify::{LedgerSide, listed, verify_blobs};

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
    /// Findings of an earlier run to mark new and resolved findings baseline_of
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

/// A baseline: where it came from, and its findings.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The file (for the report).
    pub source: String,
    /// Its findings.
    pub findings: Vec<Finding>,
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
    /// What the checks need of these options.
    pub fn check(&self) -> CheckOptions {
        CheckOptions {
            max_document_size: self.max_document_size,
            untagged: self.untagged,
            upload_max_age: self.upload_max_age,
        }
    }
}

/// Receives progress; the binary draws a bar with it. All methods default to nothing.
pub trait Progress: Sync {
    /// A new phase starts.
    fn phase(&self, _name: &'static str) {}
    /// Bytes and blobs the verify phase will hash.
    fn total(&self, _bytes: u64, _blobs: u64) {}
    /// Bytes hashed since the last call.
    fn advance(&self, _bytes: u64) {}
    /// One more blob verified. On a store of many small blobs, time goes into opening
    /// files more than into hashing bytes, so the count shows progress the bytes do not.
    fn blob_done(&self) {}
}

/// The two pools of a run: `io` for what waits on the store (listing, links, documents,
/// small blobs; `--io-concurrency` threads), `cpu` for hashing what keeps a core busy
/// (`--threads`, one per core).
pub(crate) struct Pools {
    pub(crate) io: rayon::ThreadPool,
    pub(crate) cpu: rayon::ThreadPool,
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

pub mod confirm;
mod nightly;
mod verify;

pub use nightly::StateOptions;

/// Audits the stores under the local directory `path` (itself possibly a symlink, which
/// is resolved once: the user named it).
pub fn audit(path: &Path, options: &Options, progress: &dyn Progress) -> Result<Report, Error> {
    let (backend, name) = open_local(path, options)?;
    audit_backend(&backend, &name, options, progress)
}

/// Audits `target`: a local directory (as [`audit`]) or an object store, opened here
/// with the options' concurrency and retries.
pub fn audit_target(
    target: &Target,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let started = Instant::now();
    let mut report = with_backend(target, options, progress, &|opened, name| {
        audit_backend(opened, name, options, progress)
    })?;
    // From the start: an archive's one pass happens before the audit proper.
    report.stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Audits one slice of `target` (`options.shard`, else the one slice of one): the whole
/// metadata pass and the blobs of the slice, with every confirmable finding confirmed
/// (merge applies the policy, and cannot read the store). A ledger is refused: it
/// records one machine's runs.
pub fn audit_shard(
    target: &Target,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Partial, Error> {
    if let Some(state) = &options.state {
        return Err(Error::Shard(format!(
            "--state {}: a ledger records the runs of one machine and cannot be used with --shard",
            state.path.display()
        )));
    }
    let shard = options.shard.unwrap_or(Shard { index: 0, count: 1 });
    let options = &Options {
        shard: Some(shard),
        ..options.clone()
    };
    with_backend(target, options, progress, &|opened, name| {
        let started = Instant::now();
        let now = options.now.unwrap_or_else(SystemTime::now);
        let RunParts {
            mut parts,
            verified,
            mut findings,
            listed,
            ..
        } = gather(opened, name, options, progress, None, now)?;
        for part in &mut parts {
            findings.append(&mut part.findings);
        }
        confirm::confirm(
            opened.backend,
            &mut findings,
            crate::finding::Severity::Info,
            options.settle,
        );
        Ok(Partial {
            oci_audit_partial: PARTIAL_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            store: opened.backend.describe(),
            name: name.to_owned(),
            options: options.results(),
            shard,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            verified,
            listed,
            findings,
            parts,
        })
    })
}

/// A backend opened for an audit, and the image archive behind it when it reads one (the
/// Docker archive kind reads the archive's member index).
#[derive(Clone, Copy)]
pub struct Opened<'a> {
    /// What the audit reads through.
    pub backend: &'a dyn Backend,
    /// The archive, when the backend is one.
    pub archive: Option<&'a ArchiveBackend>,
}

impl<'a> From<&'a ArchiveBackend> for Opened<'a> {
    fn from(archive: &'a ArchiveBackend) -> Opened<'a> {
        Opened {
            backend: archive,
            archive: Some(archive),
        }
    }
}

impl<'a> From<&'a dyn Backend> for Opened<'a> {
    fn from(backend: &'a dyn Backend) -> Opened<'a> {
        Opened {
            backend,
            archive: None,
        }
    }
}

impl<'a> From<&'a LocalFs> for Opened<'a> {
    fn from(backend: &'a LocalFs) -> Opened<'a> {
        Opened {
            backend,
            archive: None,
        }
    }
}

/// The local directory `path` as a backend, and the name it is reported under.
fn open_local(path: &Path, options: &Options) -> Result<(LocalFs, String), Error> {
    let name = path.display().to_string();
    let root = std::fs::canonicalize(path).map_err(|error| Error::Io {
        path: name.clone(),
        error: ReadError::from(error),
    })?;
    if let Some(state) = &options.state {
        refuse_inside(&state.path, &root)?;
    }
    Ok((LocalFs::new(root, options.read_mode), name))
}

/// Opens `target` (a directory, an image archive read in one pass, or an object store
/// with the options' concurrency and retries) and runs `run` on it with the name it is
/// reported under.
fn with_backend<T>(
    target: &Target,
    options: &Options,
    progress: &dyn Progress,
    run: &dyn Fn(Opened, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    match target {
        // A file, or a pipe (`oci-audit <(docker save app)`): an archive.
        Target::Local(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) => {
            let source = crate::archive::Source::File(path.clone());
            let backend = open_archive(&source, options, progress)?;
            run(Opened::from(&backend), &source.name())
        }
        Target::Stdin => {
            let backend = open_archive(&crate::archive::Source::Stdin, options, progress)?;
            run(Opened::from(&backend), "-")
        }
        Target::Local(path) => {
            let (backend, name) = open_local(path, options)?;
            run(Opened::from(&backend), &name)
        }
        #[cfg(feature = "object-store")]
        Target::Object { url, s3 } => {
            let backend = crate::backend::object::ObjectBackend::open(
                url,
                s3.as_ref(),
                options.io_concurrency,
                options.io_retries,
            )?;
            run(Opened::from(&backend as &dyn Backend), &url.to_string())
        }
    }
}

/// Reads the archive at `source` in one pass. A ledger and shards are refused: every run
/// and every shard would read the whole stream, so neither saves anything.
fn open_archive(
    source: &crate::archive::Source,
    options: &Options,
    progress: &dyn Progress,
) -> Result<crate::backend::archive::ArchiveBackend, Error> {
    let refuse = |what: &str| {
        Err(Error::Archive(format!(
            "{}: an image archive is read whole in one pass, so {what} has nothing to save; audit it without",
            source.name()
        )))
    };
    if options.state.is_some() {
        return refuse("a ledger (--state)");
    }
    if options.shard.is_some_and(|s| s.count > 1) {
        return refuse("--shard");
    }
    progress.phase("archive");
    crate::archive::read(
        source,
        crate::archive::ReadOptions {
            threads: options.threads,
            max_document_size: options.max_document_size,
            max_members: crate::archive::MAX_MEMBERS,
            max_kept: crate::archive::MAX_KEPT,
        },
        &|bytes| progress.advance(bytes),
    )
}

/// A ledger inside the audited tree would be written into the store: refused.
fn refuse_inside(ledger: &Path, root: &Path) -> Result<(), Error> {
    if crate::target::is_inside(ledger, root) {
        return Err(Error::Ledger(LedgerError::InsideStore {
            path: ledger.display().to_string(),
            root: root.display().to_string(),
        }));
    }
    Ok(())
}

/// Audits the stores under the root of `backend` (a backend, or an archive read whole);
/// `name` is how the user named it. With a ledger, the run is recorded in it whatever
/// happens: its findings and exit code, or exit code 2 when the audit could not run.
pub fn audit_backend<'a>(
    backend: impl Into<Opened<'a>>,
    name: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let opened = backend.into();
    let backend = opened.backend;
    let now = options.now.unwrap_or_else(SystemTime::now);
    let Some(state) = &options.state else {
        return run(opened, name, options, progress, None, now);
    };
    let ledger = Ledger::open(&state.path, &backend.describe(), &describe(options), now)?;
    let started = Instant::now();
    let ended = || now + started.elapsed();
    match run(opened, name, options, progress, Some((&ledger, state)), now) {
        Ok(report) => {
            let (errors, warnings, infos) = report.counts();
            let summary = RunSummary {
                errors: errors as u64,
                warnings: warnings as u64,
                infos: infos as u64,
                blobs_hashed: report.stats.blobs_hashed,
                bytes_hashed: report.stats.bytes_verified,
                blobs_trusted: report.stats.blobs_trusted,
                new: report.baseline.as_ref().map(|b| b.new),
                resolved: report.baseline.as_ref().map(|b| b.resolved),
                exit_code: report.exit_code(&options.policy),
                credit: report.ledger.as_ref().map_or(0, |l| l.credit_bytes),
            };
            ledger.finish(&summary, &report.findings, ended())?;
            Ok(report)
        }
        Err(error) => {
            let summary = RunSummary {
                exit_code: 2,
                ..RunSummary::default()
            };
            // The run is recorded as one that could not run; the audit's own error is the
            // one to report.
            let _ = ledger.finish(&summary, &[], ended());
            Err(error)
        }
    }
}

/// The options that shape a run's results, as the ledger records them.
fn describe(options: &Options) -> String {
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

/// One audit: gather what the store holds, assemble the report, then conclude (policy,
/// confirmation, baseline).
fn run(
    opened: Opened,
    name: &str,
    options: &Options,
    progress: &dyn Progress,
    ledger: Option<(&Ledger, &StateOptions)>,
    now: SystemTime,
) -> Result<Report, Error> {
    let started = Instant::now();
    let gathered = gather(opened, name, options, progress, ledger, now)?;
    let mut report = assemble(name, gathered.parts, gathered.verified, gathered.findings);
    if let Some(plan) = &gathered.plan {
        report.stats.blobs_trusted = plan.trusted_blobs;
        report.stats.bytes_trusted = plan.trusted_bytes;
        report.stats.oldest_verification_s = Some(plan.oldest_verification);
    }
    report.ledger = ledger.map(|(ledger, state)| LedgerInfo {
        path: state.path.display().to_string(),
        run: ledger.run(),
        credit_bytes: gathered.plan.as_ref().map_or(0, |plan| plan.credit),
    });
    conclude(opened.backend, report, options, ledger, started)
}

/// What a run found before anything is assembled: each store's part, what the verify
/// phase hashed, and the findings no part holds (the verify phase's, and those about the
/// tree), all raw.
struct RunParts {
    parts: Vec<StorePart>,
    verified: Verified,
    findings: Vec<Finding>,
    /// With `--shard`: every blob listed, for `merge` to compare.
    listed: Vec<ListedBlob>,
    /// With a ledger: what it trusted.
    plan: Option<nightly::Plan>,
}

/// Detect, each store's own audit (through its kind), verify (with the ledger's plan).
fn gather(
    opened: Opened,
    name: &str,
    options: &Options,
    progress: &dyn Progress,
    ledger: Option<(&Ledger, &StateOptions)>,
    now: SystemTime,
) -> Result<RunParts, Error> {
    let Opened { backend, archive } = opened;
    let look = Look { backend, archive };
    let framing = archive.map(ArchiveBackend::findings).unwrap_or_default();
    let found = match detect::detect(&look, name, options.detect) {
        // An archive cut or corrupted before its layout's files is still reported: the
        // fault is the finding, and nothing else could be audited.
        Err(Error::NotAStore { .. }) if !framing.is_empty() => detect::Found::default(),
        found => found?,
    };
    let mut findings = found.findings;
    findings.extend(framing);
    let pools = pools(name, options, backend)?;
    let cx = Context {
        backend,
        archive,
        options: options.check(),
    };
    let mut parts: Vec<StorePart> = pools.io.install(|| {
        progress.phase("documents");
        found
            .stores
            .par_iter()
            .map(|store| store.audit(&cx))
            .collect()
    });
    progress.phase("verify");
    let sets: Vec<BlobSet> = parts
        .iter_mut()
        .flat_map(|part| std::mem::take(&mut part.blobs))
        .collect();
    // The ledger (a SQLite connection, used from this thread only) plans before the pool
    // hashes, and takes results through a recorder any thread may feed.
    let plan = match ledger {
        Some((ledger, state)) => {
            let now_s = unix_seconds(now);
            let previous = ledger.previous_run()?;
            let interval = previous.as_ref().map_or(Duration::ZERO, |run| {
                Duration::from_secs(u64::try_from(now_s - run.started).unwrap_or(0))
            });
            let credit = previous.and_then(|run| run.credit).unwrap_or(0);
            let plan = nightly::plan(ledger, &sets, state, now_s, interval, credit)?;
            let recorder = ledger.recorder()?;
            Some((plan, recorder))
        }
        None => None,
    };
    let ledgered = plan
        .as_ref()
        .map(|(plan, recorder)| LedgerSide { plan, recorder });
    let hashed_bytes = AtomicU64::new(0);
    let (verify_findings, blobs_hashed) = verify_blobs(
        backend,
        &sets,
        options,
        progress,
        &hashed_bytes,
        ledgered.as_ref(),
        &pools,
    );
    findings.extend(verify_findings);
    let verified = Verified {
        blobs: blobs_hashed,
        bytes: hashed_bytes.into_inner(),
    };
    let plan = match plan {
        Some((plan, recorder)) => {
            recorder.finish()?;
            Some(plan)
        }
        None => None,
    };
    let listed = match options.shard {
        Some(_) => listed(&sets, options.verify),
        None => Vec::new(),
    };
    Ok(RunParts {
        parts,
        verified,
        findings,
        listed,
        plan,
    })
}

/// The two pools of a run: reads wait on the disk or the network, hashing on a core.
fn pools(name: &str, options: &Options, backend: &dyn Backend) -> Result<Pools, Error> {
    let pool = |threads: usize, role: &str| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name({
                let role = role.to_owned();
                move |i| format!("{role}-{i}")
            })
            .build()
            .map_err(|e| Error::Io {
                path: name.to_owned(),
                error: ReadError::Io(io::Error::other(e)),
            })
    };
    let io_threads = options
        .io_concurrency
        .unwrap_or_else(|| backend.default_concurrency())
        .max(1);
    Ok(Pools {
        io: pool(io_threads, "read")?,
        cpu: pool(options.threads, "hash")?,
    })
}

/// Policy (overrides, skip list, one sort), confirmation of what a concurrent writer can
/// produce, the baseline, and the elapsed time since `started`.
fn conclude(
    backend: &dyn Backend,
    mut report: Report,
    options: &Options,
    ledger: Option<(&Ledger, &StateOptions)>,
    started: Instant,
) -> Result<Report, Error> {
    let (mut findings, suppressed) = options.policy.apply(std::mem::take(&mut report.findings));
    let stats = &mut report.stats;
    stats.suppressed = suppressed;
    let confirmed = confirm::confirm(
        backend,
        &mut findings,
        options.policy.fail_on,
        options.settle,
    );
    if confirmed.changed > 0 {
        // What changed is info now: the order of output is that of the new findings.
        findings = options.policy.apply(findings).0;
    }
    stats.confirmed = confirmed.confirmed;
    stats.changed = confirmed.changed;
    report.findings = findings;
    let baseline_of = baseline_of(options, ledger)?;
    mark_against(
        &mut report,
        baseline_of
            .as_ref()
            .map(|(source, before)| (source.clone(), before.as_slice())),
    );
    report.stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Marks every finding new or known baseline_of an earlier run's (`source`, `before`), and
/// lists the earlier findings that are gone.
pub(crate) fn mark_against(report: &mut Report, baseline_of: Option<(String, &[Finding])>) {
    let Some((source, before)) = baseline_of else {
        return;
    };
    let resolved = baseline::compare(&mut report.findings, before);
    let new = report
        .findings
        .iter()
        .filter(|f| f.new == Some(true))
        .count() as u64;
    report.baseline = Some(BaselineInfo {
        source,
        new,
        resolved: resolved.len() as u64,
    });
    report.resolved = Some(resolved);
}

/// What the findings are compared baseline_of: `--baseline`, else the ledger's previous run.
fn baseline_of(
    options: &Options,
    ledger: Option<(&Ledger, &StateOptions)>,
) -> Result<Option<(String, Vec<Finding>)>, Error> {
    if let Some(baseline) = &options.baseline {
        return Ok(Some((baseline.source.clone(), baseline.findings.clone())));
    }
    let Some((ledger, _)) = ledger else {
        return Ok(None);
    };
    Ok(match ledger.previous_run()? {
        Some(run) => Some((
            format!("ledger run {}", run.id),
            ledger.findings_of(run.id)?,
        )),
        None => None,
    })
}
