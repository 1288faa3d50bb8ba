//! `oci-audit merge`: the shards' partial results assembled into the report one unsharded
//! run over the same store gives, then the policy and the baseline, as an audit concludes.
//!
//! Every shard ran the metadata pass whole, so the lowest shard's report stands for it
//! (store, coverage, reclaimable space, counters); the verify phase's findings and counts
//! come from every shard. Findings are matched across shards by their identity (rule,
//! path, digest, referrer), never by their message, which another build may word
//! otherwise. What the listings disagree on is a finding of its own: a blob no shard
//! verified, a blob that appeared or vanished while the shards ran.
//!
//! Shards run with a plan did not run the pass: [`planned_partials`] checks their parts
//! against the plan and hands the plan's pass to the lowest shard, so one merge serves both.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use crate::assemble::{StorePart, Verified, assemble};
use crate::baseline::{Baseline, mark_against};
use crate::finding::{Cause, Finding, Location, Policy};
use crate::kinds::is_confirmable;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::report::Report;
use crate::rules::Rule;
use crate::shard::plan::{Plan, PlanError, PlannedPart, blobs, owners};
use crate::shard::{ListedBlob, Partial, PartialError, Shard};

/// Parts that cannot be merged into one report.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A part could not be read.
    #[error(transparent)]
    Partial(#[from] PartialError),
    /// A part that does not belong to the plan given (`merge --plan`).
    #[error(transparent)]
    Plan(#[from] PlanError),
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

/// A finding's identity, owned (see [`crate::finding::Identity`]), and its cause: findings
/// of one identity that differ in cause (`changed-during-audit` from different rules,
/// unlinked in different repositories) are different findings, whatever shard made them.
type OwnedIdentity = (
    (Rule, Key, Option<Digest>, Option<crate::finding::Via>),
    Option<Cause>,
);

/// Parts folded in one at a time, so that merging N parts holds one part's report, the
/// findings (one group per identity) and one listing entry per blob, not N reports.
pub struct Merger {
    /// The first part given, which every later one must agree with: its file, shard,
    /// store, options and version.
    first: Option<(String, Shard, String, String, String)>,
    /// The file of each shard given so far, by index.
    given: Vec<Option<String>>,
    /// The lowest shard so far: its name for the store and its parts (the metadata pass,
    /// the same in every shard).
    lowest: Option<(Shard, String, Vec<StorePart>)>,
    /// Per identity, the findings of the part that made the most of it (the lowest shard
    /// on a tie), and that shard: every shard ran the same checks, so a finding every
    /// shard made is kept once, and one that only some shards saw (the store changed
    /// between them) is kept too.
    findings: HashMap<OwnedIdentity, (u32, Vec<Finding>)>,
    /// The sum of the parts' verify phases.
    verified: Verified,
    /// The longest part.
    elapsed_ms: u64,
    /// Whether every part re-checked what a concurrent writer can cause.
    rechecked: bool,
    /// Why parts did not see everything, each once.
    incomplete: Vec<String>,
    /// Per blob key: one listing of it, whether any shard would have hashed it, and a bit
    /// per shard that listed it.
    listed: HashMap<Key, (ListedBlob, bool, Vec<u64>)>,
}

impl Default for Merger {
    fn default() -> Merger {
        Merger::new()
    }
}

impl Merger {
    /// Nothing merged yet.
    pub fn new() -> Merger {
        Merger {
            first: None,
            given: Vec::new(),
            lowest: None,
            findings: HashMap::new(),
            verified: Verified::default(),
            elapsed_ms: 0,
            rechecked: true,
            incomplete: Vec::new(),
            listed: HashMap::new(),
        }
    }

    /// Folds in the part read from `path`, refusing one that does not belong with those
    /// before it.
    pub fn add(&mut self, path: &str, part: Partial) -> Result<(), MergeError> {
        self.check(path, &part)?;
        let Partial {
            shard,
            verified,
            listed,
            findings,
            parts,
            name,
            elapsed_ms,
            rechecked,
            incomplete,
            ..
        } = part;
        self.rechecked &= rechecked;
        if let Some(why) = incomplete.filter(|why| !self.incomplete.contains(why)) {
            self.incomplete.push(why);
        }
        let words = (shard.count as usize).div_ceil(64);
        for entry in listed {
            let slot = self
                .listed
                .entry(entry.path.clone())
                .or_insert_with(|| (entry.clone(), false, vec![0; words]));
            slot.1 |= entry.sliced;
            slot.2[shard.index as usize / 64] |= 1 << (shard.index % 64);
        }
        self.fold_findings(shard.index, findings);
        self.verified += verified;
        self.elapsed_ms = self.elapsed_ms.max(elapsed_ms);
        if self.lowest.as_ref().is_none_or(|(low, ..)| shard < *low) {
            self.lowest = Some((shard, name, parts));
        }
        Ok(())
    }

    /// Folds one shard's findings into the groups by identity.
    fn fold_findings(&mut self, shard: u32, findings: Vec<Finding>) {
        let mut groups: HashMap<OwnedIdentity, Vec<Finding>> = HashMap::new();
        for finding in findings {
            groups
                .entry((finding.identity().to_owned(), finding.cause.clone()))
                .or_default()
                .push(finding);
        }
        for (identity, group) in groups {
            match self.findings.entry(identity) {
                Entry::Vacant(slot) => {
                    slot.insert((shard, group));
                }
                Entry::Occupied(mut slot) => {
                    let (kept_shard, kept) = slot.get_mut();
                    let more = group.len() > kept.len();
                    if more || (group.len() == kept.len() && shard < *kept_shard) {
                        *kept_shard = shard;
                        *kept = group;
                    }
                }
            }
        }
    }

    /// Refuses a part of another split, store, options or version than the first, and a
    /// shard given twice.
    fn check(&mut self, path: &str, part: &Partial) -> Result<(), MergeError> {
        let Some((first, first_shard, store, options, version)) = &self.first else {
            self.first = Some((
                path.to_owned(),
                part.shard,
                part.store.clone(),
                part.options.clone(),
                part.tool_version.clone(),
            ));
            self.given = vec![None; part.shard.count as usize];
            self.given[part.shard.index as usize] = Some(path.to_owned());
            return Ok(());
        };
        if part.shard.count != first_shard.count {
            return Err(MergeError::Count {
                path: path.to_owned(),
                shard: part.shard,
                first: first.clone(),
                first_shard: *first_shard,
            });
        }
        let differ = |what, found: &str, expected: &str, why| {
            Err(MergeError::Differ(Box::new(Difference {
                path: path.to_owned(),
                what,
                found: found.to_owned(),
                first: first.clone(),
                expected: expected.to_owned(),
                why,
            })))
        };
        if part.tool_version != *version {
            return differ(
                "was written by another version of oci-audit",
                &part.tool_version,
                version,
                "versions may check differently; run every shard with one version",
            );
        }
        if part.store != *store {
            return differ(
                "audited another store",
                &part.store,
                store,
                "parts of different stores do not make one report",
            );
        }
        if part.options != *options {
            return differ(
                "was made with other options",
                &part.options,
                options,
                "these options change findings; give every shard the same",
            );
        }
        let slot = &mut self.given[part.shard.index as usize];
        if let Some(earlier) = slot {
            return Err(MergeError::Duplicate {
                shard: part.shard,
                first: earlier.clone(),
                second: path.to_owned(),
            });
        }
        *slot = Some(path.to_owned());
        Ok(())
    }

    /// The report of the parts folded in, with `policy` and `baseline` applied as an
    /// unsharded audit applies them; refused unless every shard was given.
    pub fn finish(
        mut self,
        policy: &Policy,
        baseline: Option<&Baseline>,
    ) -> Result<Report, MergeError> {
        let Some((shard, name, parts)) = self.lowest.take() else {
            return Err(MergeError::NoParts);
        };
        let count = shard.count;
        if self.given.iter().any(Option::is_none) {
            let list = |given: bool| {
                let indexes: Vec<String> = (0..count)
                    .filter(|&i| self.given[i as usize].is_some() == given)
                    .map(|i| i.to_string())
                    .collect();
                indexes.join(", ")
            };
            return Err(MergeError::Missing {
                missing: list(false),
                count,
                given: list(true),
            });
        }
        let mut findings: Vec<Finding> = std::mem::take(&mut self.findings)
            .into_values()
            .flat_map(|(_, group)| group)
            .collect();
        findings.extend(self.listing_findings(count));
        superseded(&mut findings);
        // The metadata pass is the lowest shard's; the verify phases are every shard's.
        let mut report = assemble(&name, parts, self.verified, findings);
        let stats = &mut report.stats;
        stats.elapsed_ms = self.elapsed_ms;
        let mut findings = std::mem::take(&mut report.findings);
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        stats.changed = findings
            .iter()
            .filter(|f| f.rule == Rule::ChangedDuringAudit)
            .count() as u64;
        let (findings, suppressed) = policy.apply(findings);
        stats.suppressed = suppressed;
        // Every shard confirmed every confirmable finding; those left stood. (Parts of an
        // archive re-checked nothing: nothing in it can change.)
        stats.confirmed = match self.rechecked {
            true => findings
                .iter()
                .filter(|f| f.severity >= policy.fail_on && is_confirmable(f))
                .count() as u64,
            false => 0,
        };
        report.findings = findings;
        if !self.incomplete.is_empty() {
            report.incomplete = Some(self.incomplete.join("; "));
        }
        let against = baseline.map(|b| (b.source.clone(), b.findings.as_slice()));
        mark_against(&mut report, against);
        Ok(report)
    }

    /// Findings where the shards' listings disagree: a blob listed by some shards and not
    /// by the one whose slice it is (so no shard verified it), and a blob that appeared or
    /// vanished between the shards' listings.
    fn listing_findings(&self, count: u32) -> Vec<Finding> {
        let mut findings = Vec::new();
        let named = |indexes: &[u32]| {
            let list: Vec<String> = indexes.iter().map(u32::to_string).collect();
            list.join(", ")
        };
        for (key, (listed, sliced, bits)) in &self.listed {
            let by: Vec<u32> = (0..count)
                .filter(|&i| bits[i as usize / 64] & (1 << (i % 64)) != 0)
                .collect();
            if by.len() == count as usize {
                continue;
            }
            let owner = Shard::slice_of(&listed.digest, count);
            let absent: Vec<u32> = (0..count).filter(|i| !by.contains(i)).collect();
            let location = Location::path(key.clone()).with_digest(Some(listed.digest.clone()));
            let finding = if *sliced && !by.contains(&owner) {
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
}

/// Drops a finding one shard saw stand when another saw it change (a
/// `changed-during-audit` finding at the same place whose cause names its rule and cause):
/// the store moved under the audit, and the change is what is reported, as one run
/// reports it.
fn superseded(findings: &mut Vec<Finding>) {
    let gone: Vec<bool> = {
        let changed: HashSet<(&Location, Rule, Option<&Cause>)> = findings
            .iter()
            .filter_map(|f| match &f.cause {
                Some(Cause::Changed { was, was_cause }) => {
                    Some((&f.location, *was, was_cause.as_deref()))
                }
                _ => None,
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        findings
            .iter()
            .map(|f| changed.contains(&(&f.location, f.rule, f.cause.as_ref())))
            .collect()
    };
    let mut gone = gone.into_iter();
    findings.retain(|_| !gone.next().unwrap_or(false));
}

/// The parts of the shards of `plan` (whose id is `id`) in the form [`Merger`] folds, once
/// each is checked against the plan: the plan's metadata pass and every finding ride with
/// the lowest shard (the merge keeps a finding from the part that made it most often, and
/// the parts of a plan never make one twice), each shard's counts with its own part; a
/// planned blob its shard's part does not list is `shard-blob-unverified`.
pub fn planned_partials(
    plan: Plan,
    id: &str,
    mut parts: Vec<(String, PlannedPart)>,
) -> Result<Vec<(String, Partial)>, MergeError> {
    let first = parts.first().map(|(path, p)| (path.clone(), p.shard));
    for (path, part) in &parts {
        if part.plan != id {
            return Err(MergeError::Plan(PlanError::OtherPlan {
                path: path.clone(),
                found: part.plan.clone(),
                expected: id.to_owned(),
            }));
        }
        if part.tool_version != plan.tool_version {
            return Err(MergeError::Plan(PlanError::OtherVersion {
                path: path.clone(),
                found: part.tool_version.clone(),
                expected: plan.tool_version.clone(),
            }));
        }
        if let Some((first, first_shard)) = &first
            && part.shard.count != first_shard.count
        {
            return Err(MergeError::Count {
                path: path.clone(),
                shard: part.shard,
                first: first.clone(),
                first_shard: *first_shard,
            });
        }
    }
    let count = first.map_or(1, |(_, shard)| shard.count);
    let owners = owners(&plan.sets, count);
    let mut hashed = vec![false; owners.len()];
    for (path, part) in &parts {
        for &index in &part.hashed.0 {
            if owners.get(index as usize) != Some(&part.shard.index) {
                return Err(MergeError::Plan(PlanError::NotItsSlice {
                    path: path.clone(),
                    shard: part.shard,
                    index,
                }));
            }
            hashed[index as usize] = true;
        }
    }
    let given: HashSet<u32> = parts.iter().map(|(_, p)| p.shard.index).collect();
    let mut findings = plan.findings;
    for (index, blob) in blobs(&plan.sets) {
        let owner = owners[index as usize];
        // A part missing altogether is refused by the merge itself, by shard.
        if !hashed[index as usize] && given.contains(&owner) {
            findings.push(
                Finding::new(
                    Rule::ShardBlobUnverified,
                    Location::path(blob.path.clone()).with_digest(Some(blob.digest.clone())),
                    format!(
                        "planned for shard {owner} of {count}, whose part does not list it as hashed: no shard verified it"
                    ),
                )
                .with_bytes(blob.len),
            );
        }
    }
    for (_, part) in &mut parts {
        findings.append(&mut part.findings);
    }
    parts.sort_by_key(|(_, p)| p.shard);
    let mut metadata = Some((findings, plan.parts));
    let out = parts
        .into_iter()
        .map(|(path, part)| {
            let (findings, parts) = metadata.take().unwrap_or_default();
            let partial = Partial {
                oci_audit_partial: crate::shard::PARTIAL_VERSION,
                tool_version: plan.tool_version.clone(),
                store: plan.store.clone(),
                name: plan.name.clone(),
                options: plan.options.clone(),
                shard: part.shard,
                // The plan ran first: a shard's part of the run is the plan's time and
                // its own.
                elapsed_ms: plan.elapsed_ms.saturating_add(part.elapsed_ms),
                verified: part.verified,
                rechecked: plan.rechecked && part.rechecked,
                listed: Vec::new(),
                findings,
                parts,
                incomplete: plan.incomplete.clone(),
            };
            (path, partial)
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::plan::fixtures::{plan_of, slice};
    use crate::shard::plan::{Indexes, PLANNED_PART_VERSION};

    fn finding(rule: Rule, path: &str, message: &str) -> Finding {
        Finding::new(rule, Location::path(path), message)
    }

    #[test]
    fn findings_are_grouped_by_identity_whatever_their_wording() {
        let mut merger = Merger::new();
        // Two distinct findings that share an identity, worded one way by shard 0 and
        // another by shard 1; and one finding only shard 1 saw.
        merger.fold_findings(
            0,
            vec![
                finding(Rule::IoError, "blobs/sha256/a", "first"),
                finding(Rule::IoError, "blobs/sha256/a", "second"),
            ],
        );
        merger.fold_findings(
            1,
            vec![
                finding(Rule::IoError, "blobs/sha256/a", "FIRST, reworded"),
                finding(Rule::IoError, "blobs/sha256/a", "SECOND, reworded"),
                finding(Rule::BlobUnreferenced, "blobs/sha256/b", "only here"),
            ],
        );
        let mut kept: Vec<String> = merger
            .findings
            .into_values()
            .flat_map(|(_, group)| group)
            .map(|f| f.message)
            .collect();
        kept.sort();
        // Each once, from the lowest shard where both made as many.
        assert_eq!(kept, ["first", "only here", "second"]);
    }

    #[test]
    fn a_finding_another_shard_saw_change_is_superseded_by_its_cause() {
        let stood = finding(Rule::DescriptorBlobMissing, "blobs/sha256/a", "absent");
        let changed = finding(
            Rule::ChangedDuringAudit,
            "blobs/sha256/a",
            "reworded at will",
        )
        .with_cause(Cause::Changed {
            was: Rule::DescriptorBlobMissing,
            was_cause: None,
        });
        let elsewhere = finding(Rule::DescriptorBlobMissing, "blobs/sha256/b", "absent");
        let other_rule = finding(Rule::IoError, "blobs/sha256/a", "unreadable");
        let mut findings = vec![
            stood,
            changed.clone(),
            elsewhere.clone(),
            other_rule.clone(),
        ];
        superseded(&mut findings);
        assert_eq!(findings, [changed, elsewhere, other_rule]);
    }

    #[test]
    fn only_the_finding_that_changed_is_superseded_not_its_sibling() {
        // One config unlinked in two repositories: one finding each, at one place.
        let unlinked = |repository: &str| {
            finding(
                Rule::RegistryReferenceUnlinked,
                "blobs/sha256/c",
                "config is not linked",
            )
            .with_cause(Cause::Unlinked {
                repository: repository.to_owned(),
            })
        };
        let mut merger = Merger::new();
        // Shard 0 saw both stand; shard 1 saw a's link appear.
        merger.fold_findings(0, vec![unlinked("a"), unlinked("b")]);
        let changed = finding(Rule::ChangedDuringAudit, "blobs/sha256/c", "a links it now")
            .with_cause(Cause::Changed {
                was: Rule::RegistryReferenceUnlinked,
                was_cause: Some(Box::new(Cause::Unlinked {
                    repository: "a".to_owned(),
                })),
            });
        merger.fold_findings(1, vec![changed.clone(), unlinked("b")]);
        let mut findings: Vec<Finding> = merger
            .findings
            .into_values()
            .flat_map(|(_, group)| group)
            .collect();
        superseded(&mut findings);
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        assert_eq!(findings, [changed, unlinked("b")]);
    }

    #[test]
    fn a_part_of_another_plan_or_slice_is_refused() {
        let plan = plan_of(&[10, 20, 30]);
        let part = |plan_id: &str, index: u32, hashed: Vec<u32>| PlannedPart {
            oci_audit_planned_part: PLANNED_PART_VERSION,
            tool_version: "test".to_owned(),
            plan: plan_id.to_owned(),
            shard: Shard { index, count: 2 },
            elapsed_ms: 0,
            verified: Verified::default(),
            rechecked: true,
            hashed: Indexes(hashed),
            findings: Vec::new(),
        };
        let slice0 = slice(&plan.sets, Shard { index: 0, count: 2 });
        let slice1 = slice(&plan.sets, Shard { index: 1, count: 2 });
        // Each check consumes its plan: a fresh one of the same blobs, whose id is "a".
        let merged = |parts| planned_partials(plan_of(&[10, 20, 30]), "a", parts);
        assert!(matches!(
            merged(vec![("p0".into(), part("b", 0, slice0.clone()))]),
            Err(MergeError::Plan(PlanError::OtherPlan { .. }))
        ));
        let mut of_three = part("a", 1, Vec::new());
        of_three.shard = Shard { index: 1, count: 3 };
        assert!(matches!(
            merged(vec![
                ("p0".into(), part("a", 0, slice0.clone())),
                ("p1".into(), of_three)
            ]),
            Err(MergeError::Count { .. })
        ));
        let mut other_version = part("a", 0, slice0.clone());
        other_version.tool_version = "9.9.9".to_owned();
        assert!(matches!(
            merged(vec![("p0".into(), other_version)]),
            Err(MergeError::Plan(PlanError::OtherVersion { .. }))
        ));
        assert!(matches!(
            merged(vec![("p0".into(), part("a", 0, slice1.clone()))]),
            Err(MergeError::Plan(PlanError::NotItsSlice { .. }))
        ));
        // A part that left one blob of its slice out: that blob is unverified.
        let mut short = slice1.clone();
        short.pop();
        let partials = planned_partials(
            plan,
            "a",
            vec![
                ("p1".into(), part("a", 1, short)),
                ("p0".into(), part("a", 0, slice0)),
            ],
        )
        .unwrap();
        assert_eq!(partials[0].1.shard.index, 0);
        let rules: Vec<Rule> = partials
            .iter()
            .flat_map(|(_, p)| &p.findings)
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, [Rule::ShardBlobUnverified]);
    }
}
