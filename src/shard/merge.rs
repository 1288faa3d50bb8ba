//! `oci-audit merge`: the shards' partial results assembled into the report one unsharded
//! run over the same store gives, then the policy and the baseline, as an audit concludes.
//!
//! Every shard ran the metadata pass whole, so the lowest shard's report stands for it
//! (store, coverage, reclaimable space, counters); the verify phase's findings and counts
//! come from every shard. Findings every shard made alike collapse when the policy sorts
//! and dedups them. What the listings disagree on is a finding of its own: a blob no shard
//! verified, a blob that appeared or vanished while the shards ran.

use std::collections::HashMap;

use crate::audit::Baseline;
use crate::audit::confirm::is_confirmable;
use crate::finding::{Finding, Location, Policy};
use crate::model::key::Key;
use crate::report::Report;
use crate::rules::Rule;
use crate::shard::{Listed, Partial, PartialError, Shard};

/// Parts that cannot be merged into one report.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A part could not be read.
    #[error(transparent)]
    Partial(#[from] PartialError),
    /// No part was given.
    #[error("no partial results given")]
    NoParts,
    /// Parts of different splits.
    #[error(
        "{path} is shard {shard}, but {first} is shard {first_shard}: all parts must come from one split into the same number of shards"
    )]
    Count {
        /// The part.
        path: String,
        /// Its shard.
        shard: Shard,
        /// The first part.
        first: String,
        /// Its shard.
        first_shard: Shard,
    },
    /// One shard given twice.
    #[error("shard {shard} is given twice: {first} and {second}")]
    Duplicate {
        /// The shard.
        shard: Shard,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
    /// Shards missing.
    #[error("shard {missing} of {count} is missing (given: {given}); merge needs every shard")]
    Missing {
        /// The missing indexes, as a list.
        missing: String,
        /// How many shards.
        count: u32,
        /// The indexes given, as a list.
        given: String,
    },
    /// Parts that differ in what they audited, how, or with which version.
    #[error("{0}")]
    Differ(Box<Difference>),
}

/// Two parts that differ in what they audited, how, or with which version.
#[derive(Debug, thiserror::Error)]
#[error("{path} {what} than {first}: {found}, not {expected}; {why}")]
pub struct Difference {
    /// The part.
    pub path: String,
    /// What differs: "audited another store", …
    pub what: &'static str,
    /// Its value.
    pub found: String,
    /// The first part.
    pub first: String,
    /// The first part's value.
    pub expected: String,
    /// Why that is refused.
    pub why: &'static str,
}

/// One part: the file it was read from, and its content.
pub type Part = (String, Partial);

/// Merges the parts of one sharded audit into its report, with `policy` and `baseline`
/// applied as an unsharded audit applies them.
pub fn merge(
    parts: Vec<Part>,
    policy: &Policy,
    baseline: Option<&Baseline>,
) -> Result<Report, MergeError> {
    let parts = check(parts)?;
    let count = parts[0].1.shard.count;
    let mut findings = listing_findings(&parts, count);
    let verified_blobs: u64 = parts.iter().map(|(_, p)| p.verified.blobs).sum();
    let verified_bytes: u64 = parts.iter().map(|(_, p)| p.verified.bytes).sum();
    let elapsed_ms = parts
        .iter()
        .map(|(_, p)| p.report.stats.elapsed_ms)
        .max()
        .unwrap_or(0);
    let mut parts = parts.into_iter();
    let (_, first) = parts.next().ok_or(MergeError::NoParts)?;
    let mut report = first.report;
    findings.append(&mut report.findings);
    for (_, part) in parts {
        findings.extend(part.report.findings);
    }
    let stats = &mut report.stats;
    // Each shard's counters hold the metadata pass (the same in all) and its own verify
    // phase: the first shard's, less its verify phase, plus every shard's.
    stats.blobs_hashed = stats.blobs_hashed - first.verified.blobs + verified_blobs;
    stats.bytes_verified = stats.bytes_verified - first.verified.bytes + verified_bytes;
    stats.elapsed_ms = elapsed_ms;
    superseded(&mut findings);
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
    stats.changed = findings
        .iter()
        .filter(|f| f.rule == Rule::ChangedDuringAudit)
        .count() as u64;
    let (findings, suppressed) = policy.apply(findings);
    stats.suppressed = suppressed;
    // Every shard confirmed every confirmable finding; those left stood.
    stats.confirmed = findings
        .iter()
        .filter(|f| f.severity >= policy.fail_on && is_confirmable(f))
        .count() as u64;
    report.findings = findings;
    let against = baseline.map(|b| (b.source.clone(), b.findings.as_slice()));
    crate::audit::mark_against(&mut report, against);
    Ok(report)
}

/// Refuses parts that do not make one audit, and sorts them by shard.
fn check(mut parts: Vec<Part>) -> Result<Vec<Part>, MergeError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(MergeError::NoParts);
    };
    let differ = |path: &str, what, found: &str, expected: &str, why| {
        MergeError::Differ(Box::new(Difference {
            path: path.to_owned(),
            what,
            found: found.to_owned(),
            first: first_path.clone(),
            expected: expected.to_owned(),
            why,
        }))
    };
    for (path, part) in &parts[1..] {
        if part.shard.count != first.shard.count {
            return Err(MergeError::Count {
                path: path.clone(),
                shard: part.shard,
                first: first_path.clone(),
                first_shard: first.shard,
            });
        }
        if part.tool_version != first.tool_version {
            return Err(differ(
                path,
                "was written by another version of oci-audit",
                &part.tool_version,
                &first.tool_version,
                "versions may check differently; run every shard with one version",
            ));
        }
        if part.store != first.store {
            return Err(differ(
                path,
                "audited another store",
                &part.store,
                &first.store,
                "parts of different stores do not make one report",
            ));
        }
        if part.options != first.options {
            return Err(differ(
                path,
                "was made with other options",
                &part.options,
                &first.options,
                "these options change findings; give every shard the same",
            ));
        }
    }
    parts.sort_by_key(|(_, part)| part.shard.index);
    for pair in parts.windows(2) {
        if pair[0].1.shard == pair[1].1.shard {
            return Err(MergeError::Duplicate {
                shard: pair[0].1.shard,
                first: pair[0].0.clone(),
                second: pair[1].0.clone(),
            });
        }
    }
    let count = parts[0].1.shard.count;
    if parts.len() != count as usize {
        let given: Vec<u32> = parts.iter().map(|(_, p)| p.shard.index).collect();
        let missing: Vec<String> = (0..count)
            .filter(|i| !given.contains(i))
            .map(|i| i.to_string())
            .collect();
        let given: Vec<String> = given.iter().map(u32::to_string).collect();
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
            given: given.join(", "),
        });
    }
    Ok(parts)
}

/// Findings where the shards' listings disagree: a blob listed by some shards and not by
/// the one whose slice it is (so no shard verified it), and a blob that appeared or
/// vanished between the shards' listings.
fn listing_findings(parts: &[Part], count: u32) -> Vec<Finding> {
    if count == 1 {
        return Vec::new();
    }
    // Per key: the listing, whether any shard would have hashed it, and who listed it.
    let mut seen: HashMap<&Key, (&Listed, bool, Vec<u32>)> = HashMap::new();
    for (_, part) in parts {
        for listed in &part.listed {
            let entry = seen
                .entry(&listed.path)
                .or_insert_with(|| (listed, false, Vec::new()));
            entry.1 |= listed.sliced;
            entry.2.push(part.shard.index);
        }
    }
    let mut findings = Vec::new();
    for (key, (listed, sliced, by)) in seen {
        if by.len() == count as usize {
            continue;
        }
        let owner = Shard::slice_of(&listed.digest, count);
        let named = |indexes: &[u32]| {
            let list: Vec<String> = indexes.iter().map(u32::to_string).collect();
            list.join(", ")
        };
        let absent: Vec<u32> = (0..count).filter(|i| !by.contains(i)).collect();
        let location = Location::path(key.clone()).with_digest(Some(listed.digest.clone()));
        let finding = if sliced && !by.contains(&owner) {
            Finding::new(
                Rule::ShardBlobUnverified,
                location,
                format!(
                    "listed by shard {} of {count} but not by shard {owner}, whose slice it is: no shard verified it",
                    named(&by)
                ),
            )
        } else {
            Finding::new(
                Rule::ShardListingChanged,
                location,
                format!(
                    "listed by shard {} of {count} and not by shard {}: it appeared or vanished while the shards ran",
                    named(&by),
                    named(&absent)
                ),
            )
        };
        findings.push(finding.with_bytes(listed.len));
    }
    findings
}

/// Drops a finding one shard saw stand when another saw it change (a
/// `changed-during-audit` finding at the same place naming it): the store moved under
/// the audit, and the change is what is reported, as one run reports it.
fn superseded(findings: &mut Vec<Finding>) {
    let changed: std::collections::HashSet<(&Location, &str)> = findings
        .iter()
        .filter(|f| f.rule == Rule::ChangedDuringAudit)
        .filter_map(|f| Some((&f.location, f.expected.as_deref()?)))
        .collect();
    if changed.is_empty() {
        return;
    }
    let gone: Vec<bool> = findings
        .iter()
        .map(|f| {
            f.rule != Rule::ChangedDuringAudit
                && changed.contains(&(&f.location, &*format!("{}: {}", f.rule.id(), f.message)))
        })
        .collect();
    let mut gone = gone.into_iter();
    findings.retain(|_| !gone.next().unwrap_or(false));
}
