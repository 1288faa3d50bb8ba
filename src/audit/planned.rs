//! Sharded audits that share one metadata pass ([`crate::shard::plan`]): [`plan`] runs
//! the pass once and writes what every shard needs; [`audit_planned`] hashes one slice of
//! a plan's blobs, reading nothing of the store but those blobs (an image archive, which
//! can only be read in one pass, is read whole as in any run).

use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use crate::assemble::{BeforeVerify, BlobSet, Verified};
use crate::audit::verify::{planned, verify_blobs};
use crate::audit::{
    Metadata, NoProgress, Options, Progress, confirm_live, metadata, pools, refuse_ledger,
};
use crate::backend::Version;
use crate::error::Error;
use crate::finding::Severity;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::shard::Shard;
use crate::shard::plan::{
    Indexes, PLAN_VERSION, PLANNED_PART_VERSION, Plan, PlannedPart, ShardPlan, owners,
};
use crate::store::{BlobEntry, BlobPaths, Inventory};
use crate::target::Target;

use super::open::with_backend;

/// The metadata pass of `target`, once, for shards to share: each store's part, every
/// finding of the pass (confirmed, as a shard confirms its own), and the blobs left to
/// hash. Refused with a ledger, which records one machine's runs.
pub fn plan(target: &Target, options: &Options, progress: &dyn Progress) -> Result<Plan, Error> {
    refuse_ledger(options, "make a plan for shards")?;
    let mut options = options.clone();
    options.run.shard = None;
    let options = &options;
    with_backend(target, options, progress, &|opened, name| {
        let started = Instant::now();
        let now = options.run.now.unwrap_or_else(SystemTime::now);
        let pools = pools(name, options, opened.backend)?;
        let Metadata {
            mut parts,
            mut findings,
            sets,
        } = metadata(opened, name, options, progress, None, now, &pools)?;
        for part in &mut parts {
            findings.append(&mut part.findings);
        }
        let sets = planned(&sets, options, &mut findings);
        confirm_live(
            opened,
            &mut findings,
            Severity::Info,
            options.run.settle,
            progress,
        );
        Ok(Plan {
            oci_audit_plan: PLAN_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            store: opened.backend.describe(),
            name: name.to_owned(),
            options: options.results(),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            rechecked: opened.archive.is_none(),
            incomplete: opened.api.and_then(|api| api.incomplete()),
            findings,
            parts,
            sets,
        })
    })
}

/// Hashes shard `options.run.shard`'s slice of `plan` (whose id is `id`) in `target`, the
/// store the plan was made of, with these options: nothing but the slice's blobs is read.
/// A ledger is refused, as for any shard.
pub fn audit_planned(
    target: &Target,
    plan: &ShardPlan,
    id: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<PlannedPart, Error> {
    refuse_ledger(options, "be used with --shard")?;
    let shard = options.run.shard.unwrap_or(Shard { index: 0, count: 1 });
    let refuse = |what: &str, found: &str, planned: &str| {
        Err(Error::Shard(format!(
            "--plan: the plan was made {what} {planned}, and this shard {what} {found}; run every shard as the plan was made"
        )))
    };
    if plan.tool_version != env!("CARGO_PKG_VERSION") {
        return refuse(
            "by oci-audit",
            env!("CARGO_PKG_VERSION"),
            &plan.tool_version,
        );
    }
    if options.results() != plan.options {
        return refuse("with the options", &options.results(), &plan.options);
    }
    let mut options = options.clone();
    // The slice is the plan's, not the digests': everything handed on is hashed.
    options.run.shard = None;
    let options = &options;
    with_backend(target, options, progress, &|opened, name| {
        let store = opened.backend.describe();
        if store != plan.store {
            return refuse("of", &store, &plan.store);
        }
        let started = Instant::now();
        let (sets, slice) = slice_sets(plan, shard);
        let pools = pools(name, options, opened.backend)?;
        progress.phase("verify");
        let hashed_bytes = AtomicU64::new(0);
        let (mut findings, blobs) = verify_blobs(
            opened.backend,
            &sets,
            options,
            progress,
            &hashed_bytes,
            None,
            &pools,
        );
        confirm_live(
            opened,
            &mut findings,
            Severity::Info,
            options.run.settle,
            &NoProgress,
        );
        Ok(PlannedPart {
            oci_audit_planned_part: PLANNED_PART_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            plan: id.to_owned(),
            shard,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            verified: Verified {
                blobs,
                bytes: hashed_bytes.into_inner(),
            },
            rechecked: opened.archive.is_none(),
            hashed: Indexes(slice),
            findings,
        })
    })
}

/// The blob sets of `shard`'s slice of `plan`, one per planned store that has blobs in it,
/// and the slice's indexes.
fn slice_sets(plan: &ShardPlan, shard: Shard) -> (Vec<BlobSet>, Vec<u32>) {
    let owners = owners(&plan.sets, shard.count);
    let mut slice = Vec::new();
    let mut sets = Vec::new();
    let mut index = 0usize;
    for set in &plan.sets {
        let mut entries = Vec::new();
        let mut keys = Vec::new();
        for blob in &set.blobs {
            if owners[index] == shard.index {
                // Below 2^32: `Plan::read` refuses more blobs.
                slice.push(index as u32);
                // Only which file it is counts here (names of one file are hashed once);
                // the times are the ledger's business, and a shard keeps no ledger.
                let version = blob
                    .file
                    .map_or(Version::None, |(dev, ino)| Version::posix(dev, ino, 0, 0));
                entries.push(BlobEntry {
                    digest: blob.digest.clone(),
                    len: blob.len,
                    version,
                });
                keys.push((blob.digest.clone(), blob.path.clone()));
            }
            index += 1;
        }
        if entries.is_empty() {
            continue;
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sets.push(BlobSet {
            before: vec![BeforeVerify::ToHash; entries.len()],
            inventory: Inventory::new(entries),
            paths: Box::new(PlannedPaths {
                place: set.place.clone(),
                keys,
            }),
        });
    }
    (sets, slice)
}

/// Where a planned store's blobs are: the keys the plan recorded, by digest.
struct PlannedPaths {
    place: Key,
    /// Sorted by digest.
    keys: Vec<(Digest, Key)>,
}

impl BlobPaths for PlannedPaths {
    fn blob_key(&self, digest: &Digest) -> Key {
        match self.keys.binary_search_by(|(d, _)| d.cmp(digest)) {
            Ok(i) => self.keys[i].1.clone(),
            // Only the plan's digests are asked for.
            Err(_) => self.place.join(digest.to_string()),
        }
    }

    fn place(&self) -> Key {
        self.place.clone()
    }
}
