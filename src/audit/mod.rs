//! The engine: opens what the user named, finds its stores, runs each store's audit
//! through its kind, verifies every blob, and assembles and concludes the [`Report`].
//!
//! ```text
//! open (directory, archive, object store) → detect (kinds::KINDS) → every store's audit
//! in parallel (a StorePart each: inventory, documents, graph, the kind's own checks)
//! → verify every other blob (all stores together, largest first; the ledger's plan)
//! → assemble → policy (overrides, skip list, one sort) → confirm → baseline → Report
//! ```
//!
//! A shard stops before assembling and writes its parts ([`crate::shard`]); `merge`
//! assembles them with the same [`assemble`]. Every task returns its findings; nothing is
//! shared behind a lock on the hot path except the progress counter.

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use rayon::prelude::*;

use crate::assemble::{BlobSet, StorePart, Verified, assemble};
use crate::backend::archive::{ArchiveBackend, MemberIndex};
use crate::backend::{Backend, ReadError};
use crate::baseline;
use crate::error::Error;
use crate::finding::Finding;
use crate::kinds::detect;
use crate::kinds::{Context, Look};
use crate::ledger::{Ledger, RunSummary};
use crate::report::{LedgerInfo, Report};
use crate::shard::{ListedBlob, PARTIAL_VERSION, Partial, Shard};
use crate::target::Target;
use verify::{LedgerSide, listed, verify_blobs};

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
    /// The run waits `wait` (`--settle`) before re-reading `findings` findings a
    /// concurrent writer can cause: nothing moves meanwhile, and a bar should say so.
    fn settle(&self, _wait: std::time::Duration, _findings: usize) {}
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
mod open;
mod options;
mod planned;
mod verify;

pub use crate::baseline::Baseline;
pub use nightly::StateOptions;
pub use open::Opened;
use open::{open_local, with_backend};
pub use options::{CheckOptions, OpenOptions, Options, RunOptions};
pub use planned::{audit_planned, plan};

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

/// Audits one slice of `target` (`options.run.shard`, else the one slice of one): the whole
/// metadata pass and the blobs of the slice, with every confirmable finding confirmed
/// (merge applies the policy, and cannot read the store). A ledger is refused: it
/// records one machine's runs.
pub fn audit_shard(
    target: &Target,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Partial, Error> {
    refuse_ledger(options, "be used with --shard")?;
    let shard = options.run.shard.unwrap_or(Shard { index: 0, count: 1 });
    let mut options = options.clone();
    options.run.shard = Some(shard);
    let options = &options;
    with_backend(target, options, progress, &|opened, name| {
        let started = Instant::now();
        let now = options.run.now.unwrap_or_else(SystemTime::now);
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
        confirm_live(
            opened,
            &mut findings,
            crate::finding::Severity::Info,
            options.run.settle,
            progress,
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
            rechecked: opened.archive.is_none(),
            listed,
            findings,
            parts,
            incomplete: opened.api.and_then(|api| api.incomplete()),
        })
    })
}

/// Refuses a ledger where a run is one of several (a shard, a plan for shards): a ledger
/// records the runs of one machine. `what` ends the sentence: "cannot {what}".
fn refuse_ledger(options: &Options, what: &str) -> Result<(), Error> {
    match &options.run.state {
        Some(state) => Err(Error::Shard(format!(
            "--state {}: a ledger records the runs of one machine and cannot {what}",
            state.path.display()
        ))),
        None => Ok(()),
    }
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
    let now = options.run.now.unwrap_or_else(SystemTime::now);
    let Some(state) = &options.run.state else {
        return run(opened, name, options, progress, None, now);
    };
    let ledger = Ledger::open(
        &state.path,
        &backend.describe(),
        &options.ledger_description(),
        now,
    )?;
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
                exit_code: report.exit_code(&options.run.policy),
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
    report.incomplete = opened.api.and_then(|api| api.incomplete());
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
    conclude(opened, report, options, ledger, started, progress)
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
    let backend = opened.backend;
    let pools = pools(name, options, backend)?;
    let Metadata {
        parts,
        mut findings,
        sets,
    } = metadata(opened, name, options, progress, ledger, now, &pools)?;
    progress.phase("verify");
    // The ledger (a SQLite connection, used from this thread only) plans before the pool
    // hashes, and takes results through a recorder any thread may feed.
    let plan = match ledger {
        Some((ledger, state)) => Some(nightly::plan_run(ledger, state, &sets, now)?),
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
    let listed = match options.run.shard {
        Some(_) => listed(&sets, options.run.verify),
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

/// The metadata pass: each store's part (its blobs taken out for the verify phase), and
/// the findings no part holds (those about the tree).
struct Metadata {
    parts: Vec<StorePart>,
    findings: Vec<Finding>,
    sets: Vec<BlobSet>,
}

/// Detect, then each store's own audit (through its kind) on `pools`: everything before
/// the verify phase.
fn metadata(
    opened: Opened,
    name: &str,
    options: &Options,
    progress: &dyn Progress,
    ledger: Option<(&Ledger, &StateOptions)>,
    now: SystemTime,
    pools: &Pools,
) -> Result<Metadata, Error> {
    let Opened {
        backend,
        archive,
        api,
    } = opened;
    let found = find_stores(opened, name, options)?;
    // A registry over HTTP pays a request per document: the ledger keeps them.
    let kept = match (ledger, api) {
        (Some((ledger, state)), Some(_)) => {
            Some(nightly::LedgerDocuments::load(ledger, state, now)?)
        }
        _ => None,
    };
    let cx = Context {
        backend,
        members: archive.map(|a| a as &dyn MemberIndex),
        api,
        options: options.check,
        kept: kept.as_ref().map(|k| k as &dyn crate::kinds::KeptDocuments),
        hashing: &pools.cpu,
    };
    let mut parts: Vec<StorePart> = pools.io.install(|| {
        progress.phase("documents");
        found
            .stores
            .par_iter()
            .map(|store| store.audit(&cx))
            .collect()
    });
    if let (Some(kept), Some((ledger, _))) = (kept, ledger) {
        // A run held back by a rate limit did not see everything: what it did not use
        // is kept for the next.
        let whole = api.is_none_or(|api| api.incomplete().is_none());
        kept.save(ledger, whole)?;
    }
    let sets = parts
        .iter_mut()
        .flat_map(|part| std::mem::take(&mut part.blobs))
        .collect();
    Ok(Metadata {
        parts,
        findings: found.findings,
        sets,
    })
}

/// The stores under the root, and the findings of the search and of an archive's framing.
/// An archive cut or corrupted before its layout's files is still reported: the fault is
/// the finding, and nothing else could be audited.
fn find_stores(opened: Opened, name: &str, options: &Options) -> Result<detect::Found, Error> {
    let look = Look {
        backend: opened.backend,
        members: opened.archive.map(|a| a as &dyn MemberIndex),
        api: opened.api,
    };
    let framing = opened
        .archive
        .map(ArchiveBackend::findings)
        .unwrap_or_default();
    let mut found = match detect::detect(&look, name, options.open.detect) {
        Err(Error::NotAStore { .. }) if !framing.is_empty() => detect::Found::default(),
        found => found?,
    };
    found.findings.extend(framing);
    Ok(found)
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
        .open
        .io_concurrency
        .unwrap_or_else(|| backend.default_concurrency())
        .max(1);
    Ok(Pools {
        io: pool(io_threads, "read")?,
        cpu: pool(options.run.threads, "hash")?,
    })
}

/// Confirms what a concurrent writer can produce (`confirm`), where something can still
/// change: an image archive was read whole in one pass and cannot, so nothing is re-read
/// and nothing waited for.
fn confirm_live(
    opened: Opened,
    findings: &mut [Finding],
    threshold: crate::finding::Severity,
    settle: std::time::Duration,
    progress: &dyn Progress,
) -> confirm::Confirmed {
    match opened.archive {
        Some(_) => confirm::Confirmed::default(),
        None => confirm::confirm(opened.backend, findings, threshold, settle, progress),
    }
}

/// Policy (overrides, skip list, one sort), confirmation of what a concurrent writer can
/// produce, the baseline, and the elapsed time since `started`.
fn conclude(
    opened: Opened,
    mut report: Report,
    options: &Options,
    ledger: Option<(&Ledger, &StateOptions)>,
    started: Instant,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let (mut findings, suppressed) = options
        .run
        .policy
        .apply(std::mem::take(&mut report.findings));
    let stats = &mut report.stats;
    stats.suppressed = suppressed;
    let confirmed = confirm_live(
        opened,
        &mut findings,
        options.run.policy.fail_on,
        options.run.settle,
        progress,
    );
    if confirmed.changed > 0 {
        // What changed is info now: the order of output is that of the new findings.
        findings = options.run.policy.apply(findings).0;
    }
    stats.confirmed = confirmed.confirmed;
    stats.changed = confirmed.changed;
    report.findings = findings;
    let baseline = baseline_of(options, ledger)?;
    baseline::mark_against(
        &mut report,
        baseline
            .as_ref()
            .map(|(source, before)| (source.clone(), before.as_slice())),
    );
    report.stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// What the findings are compared against: `--baseline`, else the ledger's previous run.
fn baseline_of(
    options: &Options,
    ledger: Option<(&Ledger, &StateOptions)>,
) -> Result<Option<(String, Vec<Finding>)>, Error> {
    if let Some(baseline) = &options.run.baseline {
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
