//! What a run with a ledger (`--state`) hashes, and what it records.
//!
//! Documents are read and hashed every run (they are read anyway), so the ledger keeps no
//! row for them: their last verification is always this run. A registry over HTTP is the
//! exception: each document costs a request (a metered one on Docker Hub), so the ledger
//! keeps their bytes ([`LedgerDocuments`]) until they are due again. Every other blob is hashed
//! when it is new to the ledger, its fingerprint (size and version: device, inode, mtime,
//! ctime; or ETag) changed, its last result was not clean, or it is due under the rolling
//! schedule (`ledger::schedule`). The rest is trusted: its last clean hash stands.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::assemble::{BeforeVerify, BlobSet};
use crate::backend::Version;
use crate::hash::HashResult;
use crate::kinds::KeptDocuments;
use crate::ledger::schedule::{self, Candidate, Schedule};
use crate::ledger::{Known, Ledger, LedgerError};
use crate::model::digest::Digest;
use crate::store::BlobEntry;

/// The documents the ledger kept for a registry over HTTP, and those this run used or
/// fetched (`ledger::documents`).
pub(super) struct LedgerDocuments {
    kept: HashMap<Digest, (Vec<u8>, i64)>,
    now: i64,
    used: Mutex<Vec<(Digest, Vec<u8>, i64)>>,
}

impl LedgerDocuments {
    /// The documents hashed within `--reverify-after` of `now`: older ones are due and
    /// fetched again.
    pub(super) fn load(
        ledger: &Ledger,
        state: &StateOptions,
        now: std::time::SystemTime,
    ) -> Result<LedgerDocuments, LedgerError> {
        let now = crate::ledger::unix_seconds(now);
        let window = i64::try_from(state.reverify_after.as_secs()).unwrap_or(i64::MAX);
        Ok(LedgerDocuments {
            kept: ledger.documents(now.saturating_sub(window))?,
            now,
            used: Mutex::new(Vec::new()),
        })
    }

    /// Keeps what this run used or fetched: only that after a run that saw the whole
    /// registry (`whole`), else also what the ledger kept before.
    pub(super) fn save(self, ledger: &Ledger, whole: bool) -> Result<(), LedgerError> {
        let mut used = self
            .used
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if !whole {
            used.extend(
                self.kept
                    .into_iter()
                    .map(|(digest, (body, hashed_at))| (digest, body, hashed_at)),
            );
        }
        // The freshest copy of a document first, so the one kept is the newest.
        used.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
        used.dedup_by(|a, b| a.0 == b.0);
        ledger.keep_documents(&used)
    }
}

impl KeptDocuments for LedgerDocuments {
    fn get(&self, digest: &Digest) -> Option<&[u8]> {
        self.kept.get(digest).map(|(body, _)| body.as_slice())
    }

    fn keep(&self, digest: &Digest, body: Option<&[u8]>) {
        let entry = match body {
            Some(body) => (digest.clone(), body.to_vec(), self.now),
            None => match self.kept.get(digest) {
                Some((body, hashed_at)) => (digest.clone(), body.clone(), *hashed_at),
                None => return,
            },
        };
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }
}

/// The options of a run with a ledger.
#[derive(Clone, Debug)]
pub struct StateOptions {
    /// The ledger file (outside the audited tree).
    pub path: std::path::PathBuf,
    /// Every blob is re-hashed at least this often.
    pub reverify_after: Duration,
    /// At most this many bytes re-hashed for being due in one run.
    pub hash_budget: Option<u64>,
}

/// What the ledger decided for one run.
pub(super) struct Plan {
    /// The ledger's place of each verify set.
    pub(super) places: Vec<i64>,
    /// Per set, per blob: trusted from the ledger (not hashed this run).
    pub(super) trusted: Vec<Vec<bool>>,
    /// Blobs trusted.
    pub(super) trusted_blobs: u64,
    /// Their bytes.
    pub(super) trusted_bytes: u64,
    /// The age of the oldest verification standing after this run, in seconds.
    pub(super) oldest_verification: u64,
    /// Re-verification credit carried to the next run (`ledger::schedule`).
    pub(super) credit: u64,
}

/// Whether a blob may be trusted: the ledger knows it with the same size and version,
/// and its last hash was clean.
/// The ledger's plan for a run at `now` over `sets`, from its previous run's time and
/// credit, and the recorder the verify phase's results go to.
pub(super) fn plan_run(
    ledger: &Ledger,
    state: &StateOptions,
    sets: &[BlobSet],
    now: std::time::SystemTime,
) -> Result<(Plan, crate::ledger::Recorder), LedgerError> {
    let now_s = crate::ledger::unix_seconds(now);
    let previous = ledger.previous_run()?;
    let interval = previous.as_ref().map_or(Duration::ZERO, |run| {
        Duration::from_secs(u64::try_from(now_s - run.started).unwrap_or(0))
    });
    let credit = previous.and_then(|run| run.credit).unwrap_or(0);
    let plan = plan(ledger, sets, state, now_s, interval, credit)?;
    Ok((plan, ledger.recorder()?))
}

fn unchanged(listed: &BlobEntry, known: &Known) -> bool {
    known.result == HashResult::Clean
        && known.size == listed.len
        && known.version == listed.version
        && listed.version != Version::None
}

/// Decides, for every blob the verify phase would hash, whether to trust the ledger
/// instead, and forgets blobs the store no longer has. `now` is in seconds since the
/// epoch; `interval` is the time since the previous run, and `credit` what it carried.
fn plan(
    ledger: &Ledger,
    sets: &[BlobSet],
    state: &StateOptions,
    now: i64,
    interval: Duration,
    credit: u64,
) -> Result<Plan, LedgerError> {
    let mut places = Vec::with_capacity(sets.len());
    let mut candidates: Vec<Candidate> = Vec::new();
    // (set, blob index) of each candidate
    let mut at: Vec<(usize, usize)> = Vec::new();
    for (s, set) in sets.iter().enumerate() {
        let place = ledger.place(&set.paths.place())?;
        places.push(place);
        let entries = set.inventory.entries();
        let mut gone = Vec::new();
        // Both come in digest order: walk them side by side.
        let mut i = 0;
        ledger.each_known(place, |known| {
            while entries.get(i).is_some_and(|e| e.digest < known.digest) {
                i += 1;
            }
            match entries.get(i) {
                Some(listed) if listed.digest == known.digest => {
                    if set.before[i] == BeforeVerify::ToHash && unchanged(listed, &known) {
                        candidates.push(Candidate {
                            len: listed.len,
                            hashed_at: known.hashed_at,
                            tie: tie(listed),
                        });
                        at.push((s, i));
                    }
                    i += 1;
                }
                _ => gone.push(known.digest),
            }
        })?;
        if !gone.is_empty() {
            ledger.forget(place, &gone)?;
        }
    }
    let schedule = Schedule {
        window: state.reverify_after,
        interval,
        budget: state.hash_budget,
        credit,
    };
    let due = schedule::due(&candidates, now, &schedule);
    let credit = due.credit;
    let due = due.due;
    let mut trusted: Vec<Vec<bool>> = sets
        .iter()
        .map(|s| vec![false; s.inventory.len()])
        .collect();
    let mut plan_totals = (0u64, 0u64, 0u64);
    // Documents the ledger kept are trusted as blobs are (their age is within the window).
    for set in sets {
        for (entry, before) in set.inventory.entries().iter().zip(&set.before) {
            if *before == BeforeVerify::Kept {
                plan_totals.0 += 1;
                plan_totals.1 += entry.len;
            }
        }
    }
    for ((candidate, &(s, i)), due) in candidates.iter().zip(&at).zip(due) {
        if due {
            continue;
        }
        trusted[s][i] = true;
        plan_totals.0 += 1;
        plan_totals.1 += candidate.len;
        let age = u64::try_from(now.saturating_sub(candidate.hashed_at)).unwrap_or(0);
        plan_totals.2 = plan_totals.2.max(age);
    }
    Ok(Plan {
        places,
        trusted,
        trusted_blobs: plan_totals.0,
        trusted_bytes: plan_totals.1,
        oldest_verification: plan_totals.2,
        credit,
    })
}

/// A stable tie-break from the digest's first bytes.
fn tie(listed: &BlobEntry) -> u64 {
    listed.digest.raw().map_or(0, |(_, raw)| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&raw[..8]);
        u64::from_be_bytes(bytes)
    })
}
