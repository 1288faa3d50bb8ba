//! The verify phase: every blob not already hashed as a document, across all stores,
//! largest first. Blobs whose hashing keeps a core busy (large files on disk) go to the
//! hashing pool, one thread per core; the rest, which wait on the store, to the pool of
//! reads in flight; each pool takes jobs from its own shared cursor.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::assemble::{BeforeVerify, BlobSet};
use crate::audit::nightly::Plan;
use crate::audit::{Options, Pools, Progress};
use crate::backend::{Backend, Hashed, Version};
use crate::check::documents::digest_mismatch;
use crate::finding::{Cause, Finding, Location};
use crate::hash::HashResult;
use crate::ledger::{Record, Recorder};
use crate::rules::Rule;
use crate::shard::ListedBlob;
use crate::shard::plan::{PlannedBlob, PlannedSet};
use crate::store::{Blob, read_error};

/// A blob to hash, which file it is (device and inode) when the backend says, and the
/// ledger place it is recorded under.
type Work<'a> = (Blob<'a>, Option<(u64, u64)>, i64);

/// The ledger's side of the verify phase: what to trust, and where results go.
pub(super) struct LedgerSide<'a> {
    /// The plan: places and trusted blobs.
    pub(super) plan: &'a Plan,
    /// Where hash results go.
    pub(super) recorder: &'a Recorder,
}

/// Hashes every blob not hashed as a document, across all stores, largest first. Names of
/// one file (hard links: zot links every repository's copy of a blob to one master) are
/// hashed once, and the outcome is judged for each name.
pub(super) fn verify_blobs(
    backend: &dyn Backend,
    sets: &[BlobSet],
    options: &Options,
    progress: &dyn Progress,
    hashed_bytes: &AtomicU64,
    ledger: Option<&LedgerSide>,
    pools: &Pools,
) -> (Vec<Finding>, u64) {
    let mut findings = Vec::new();
    let mut work = collect_work(sets, options, ledger, &mut findings);
    let jobs = jobs(&mut work);
    progress.total(
        jobs.iter().map(|job| work[job.start].0.len).sum(),
        work.len() as u64,
    );
    let counts = Counts {
        bytes: hashed_bytes,
        blobs: AtomicU64::new(0),
    };
    findings.extend(run_pools(
        backend, &work, &jobs, progress, &counts, ledger, pools,
    ));
    (findings, counts.blobs.into_inner())
}

/// The blobs of every set the verify phase hashes: not hashed as a document, not trusted
/// by the ledger's plan, in this shard's slice, and only when `options.run.verify`. A blob of
/// an algorithm that cannot be verified is a finding instead, pushed to `findings`.
fn collect_work<'a>(
    sets: &'a [BlobSet],
    options: &Options,
    ledger: Option<&LedgerSide>,
    findings: &mut Vec<Finding>,
) -> Vec<Work<'a>> {
    let mut work: Vec<Work> = Vec::with_capacity(sets.iter().map(|s| s.inventory.len()).sum());
    each_to_hash(sets, options, ledger, findings, |s, blob, version| {
        let place = ledger.map_or(0, |l| l.plan.places[s]);
        let file = version.file().map(|(dev, ino, ..)| (dev, ino));
        work.push((blob, file, place));
    });
    work
}

/// The blobs a plan leaves to the shards, per set, each set's in digest order: what
/// [`collect_work`] would hash in one unsharded run without a ledger.
pub(super) fn planned(
    sets: &[BlobSet],
    options: &Options,
    findings: &mut Vec<Finding>,
) -> Vec<PlannedSet> {
    let mut planned: Vec<PlannedSet> = sets
        .iter()
        .map(|set| PlannedSet {
            place: set.paths.place(),
            blobs: Vec::new(),
        })
        .collect();
    each_to_hash(sets, options, None, findings, |s, blob, version| {
        planned[s].blobs.push(PlannedBlob {
            path: blob.key(),
            digest: blob.digest.clone(),
            len: blob.len,
            file: version.file().map(|(dev, ino, ..)| (dev, ino)),
        });
    });
    planned
}

/// Calls `take` with each blob of `sets` the verify phase hashes (and its set's index and
/// its version): not hashed as a document, not trusted by the ledger's plan, in this
/// shard's slice, and only when `options.run.verify`. A blob of an algorithm that cannot
/// be verified is a finding instead, pushed to `findings`.
fn each_to_hash<'a>(
    sets: &'a [BlobSet],
    options: &Options,
    ledger: Option<&LedgerSide>,
    findings: &mut Vec<Finding>,
    mut take: impl FnMut(usize, Blob<'a>, &'a Version),
) {
    for (s, set) in sets.iter().enumerate() {
        let trusted = ledger.map(|l| &l.plan.trusted[s]);
        for (i, (listed, &hashed)) in set.inventory.entries().iter().zip(&set.before).enumerate() {
            if hashed != BeforeVerify::ToHash || trusted.is_some_and(|t| t[i]) {
                continue;
            }
            let blob = Blob {
                digest: &listed.digest,
                len: listed.len,
                store: &*set.paths,
            };
            if !listed.digest.algorithm().is_verifiable() {
                findings.push(Finding::new(
                    Rule::BlobUnverifiable,
                    Location::path(blob.key()).with_digest(Some(listed.digest.clone())),
                    format!("cannot verify {} digests", listed.digest.algorithm()),
                ));
            } else if options
                .run
                .shard
                .is_some_and(|shard| !shard.owns(&listed.digest))
            {
                // Another shard's slice.
            } else if options.run.verify {
                take(s, blob, &listed.version);
            }
        }
    }
}

/// Runs `jobs` (ranges of `work`, largest first) on the hashing pool and the pool of reads
/// in flight at once, each from its own shared cursor; the findings of both.
fn run_pools(
    backend: &dyn Backend,
    work: &[Work],
    jobs: &[std::ops::Range<usize>],
    progress: &dyn Progress,
    counts: &Counts,
    ledger: Option<&LedgerSide>,
    pools: &Pools,
) -> Vec<Finding> {
    let advance = |n: u64| progress.advance(n);
    // Jobs come largest first, so those that keep a core busy are a prefix: they go to
    // the hashing pool, the rest (waiting on the store more than on a core) to the reads
    // in flight, both at once.
    let split = jobs.partition_point(|job| backend.cpu_bound(work[job.start].0.len));
    let (heavy, light) = jobs.split_at(split);
    let run = |jobs: &[std::ops::Range<usize>]| -> Vec<Finding> {
        // Every pool thread claims the next-largest job from one shared cursor.
        // (`par_iter` would split the sorted list into contiguous ranges, so one thread
        // would hash the largest blobs one after another while the others ran out of work.)
        let cursor = AtomicUsize::new(0);
        rayon::broadcast(|_| {
            let mut found = Vec::new();
            while let Some(job) = jobs.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                let names = &work[job.clone()];
                verify_names(backend, names, &advance, counts, ledger, &mut found);
                for _ in names {
                    progress.blob_done();
                }
            }
            found
        })
        .into_iter()
        .flatten()
        .collect()
    };
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| pools.cpu.install(|| run(heavy)));
        let mut results = pools.io.install(|| run(light));
        // A panic in a hashing thread is a bug: let it surface as one.
        results.extend(
            hashing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        );
        results
    })
}

/// Every blob of `sets` as a shard lists it for `merge`: sliced when the verify phase
/// would hash it (not already hashed as a document, of a verifiable algorithm).
pub(super) fn listed(sets: &[BlobSet], verify: bool) -> Vec<ListedBlob> {
    let mut out = Vec::with_capacity(sets.iter().map(|s| s.inventory.len()).sum());
    for set in sets {
        for (entry, &hashed) in set.inventory.entries().iter().zip(&set.before) {
            let blob = Blob {
                digest: &entry.digest,
                len: entry.len,
                store: &*set.paths,
            };
            out.push(ListedBlob {
                path: blob.key(),
                digest: entry.digest.clone(),
                len: entry.len,
                sliced: verify
                    && hashed == BeforeVerify::ToHash
                    && entry.digest.algorithm().is_verifiable(),
            });
        }
    }
    out
}

/// What the verify phase hashed: bytes (shared with the engine's progress) and blobs
/// whose content was read to the end (an unreadable one is not counted).
struct Counts<'a> {
    bytes: &'a AtomicU64,
    blobs: AtomicU64,
}

impl Counts<'_> {
    fn add(&self, hashed: &Hashed, names: usize) {
        self.bytes.fetch_add(hashed.len, Ordering::Relaxed);
        self.blobs.fetch_add(names as u64, Ordering::Relaxed);
    }
}

/// Groups `work` into jobs: the names of one file (same device and inode, and the same
/// algorithm, so one hash serves them all) side by side, each other blob alone. Jobs come
/// largest first, so one huge layer does not start last and leave the other cores idle.
fn jobs(work: &mut [Work]) -> Vec<std::ops::Range<usize>> {
    work.sort_unstable_by(|(a, a_file, _), (b, b_file, _)| {
        b.len
            .cmp(&a.len)
            .then_with(|| a_file.cmp(b_file))
            .then_with(|| a.digest.algorithm().cmp(b.digest.algorithm()))
            .then_with(|| a.digest.cmp(b.digest))
    });
    let mut jobs = Vec::with_capacity(work.len());
    let mut start = 0;
    for i in 1..=work.len() {
        let same_file = i < work.len() && {
            let (a, a_file, _) = &work[i - 1];
            let (b, b_file, _) = &work[i];
            a_file.is_some() && a_file == b_file && a.digest.algorithm() == b.digest.algorithm()
        };
        if !same_file {
            jobs.push(start..i);
            start = i;
        }
    }
    jobs
}

/// Hashes one file through its first name and judges every name by the outcome. If the
/// first name cannot be read (it vanished, or was swapped), each other name is hashed
/// on its own: a hard link may outlive its sibling.
fn verify_names(
    backend: &dyn Backend,
    names: &[Work],
    advance: &(dyn Fn(u64) + Sync),
    counts: &Counts,
    ledger: Option<&LedgerSide>,
    findings: &mut Vec<Finding>,
) {
    let Some(((first, _, place), others)) = names.split_first() else {
        return;
    };
    let key = first.key();
    match backend.hash(&key, first.digest.algorithm(), advance) {
        Ok(hashed) => {
            counts.add(&hashed, names.len());
            for (blob, _, place) in names {
                let finding = judge(*blob, &hashed);
                record(ledger, *place, *blob, Some(&hashed), finding.as_ref());
                findings.extend(finding);
            }
        }
        Err(error) => {
            record(ledger, *place, *first, None, None);
            findings.push(read_error(&key, &error).with_digest(first.digest));
            for (blob, _, place) in others {
                findings.extend(verify_blob(backend, *blob, *place, advance, counts, ledger));
            }
        }
    }
}

/// Records one name's outcome in the ledger, when there is one.
fn record(
    ledger: Option<&LedgerSide>,
    place: i64,
    blob: Blob,
    hashed: Option<&Hashed>,
    finding: Option<&Finding>,
) {
    let Some(ledger) = ledger else {
        return;
    };
    let result = match (hashed, finding) {
        (Some(_), None) => HashResult::Clean,
        (Some(hashed), Some(_)) if hashed.len == blob.len => HashResult::Mismatch,
        _ => HashResult::Unreadable,
    };
    ledger.recorder.record(Record {
        place,
        digest: blob.digest.clone(),
        size: hashed.map_or(blob.len, |h| h.len),
        version: hashed.map_or(Version::None, |h| h.version.clone()),
        result,
    });
}

/// A finding when the content hashed for `blob` changed length or does not match.
fn judge(blob: Blob, hashed: &Hashed) -> Option<Finding> {
    if hashed.len != blob.len {
        Some(
            Finding::new(
                Rule::IoError,
                Location::path(blob.key()).with_digest(Some(blob.digest.clone())),
                "blob changed length while being audited",
            )
            .expected_found(blob.len, hashed.len)
            .with_cause(Cause::LengthChanged),
        )
    } else if hashed.digest != *blob.digest {
        Some(digest_mismatch(&blob.key(), blob.digest, &hashed.digest))
    } else {
        None
    }
}

/// Re-hashes one blob; a finding when it changed length, does not match, or cannot be read.
fn verify_blob(
    backend: &dyn Backend,
    blob: Blob,
    place: i64,
    advance: &(dyn Fn(u64) + Sync),
    counts: &Counts,
    ledger: Option<&LedgerSide>,
) -> Option<Finding> {
    let key = blob.key();
    match backend.hash(&key, blob.digest.algorithm(), advance) {
        Ok(hashed) => {
            counts.add(&hashed, 1);
            let finding = judge(blob, &hashed);
            record(ledger, place, blob, Some(&hashed), finding.as_ref());
            finding
        }
        Err(error) => {
            record(ledger, place, blob, None, None);
            Some(read_error(&key, &error).with_digest(blob.digest))
        }
    }
}
