//! Findings: what the audit reports, and the policy (severity overrides, skip list,
//! failure threshold) that turns raw findings into the report.
//!
//! Checks never decide severities or filter: they create a [`Finding`] with the rule's
//! default severity, and [`Policy::apply`] resolves overrides and the skip list once,
//! after every task has returned, then sorts. Output is therefore identical whatever the
//! thread count.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
pub use crate::rules::Severity;

/// The referring document and the JSON pointer of the descriptor that names the object:
/// git fsck's "broken link from X".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Via {
    /// The referring document, relative to the audited root (`path`, and `path_bytes`
    /// when it is not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// RFC 6901 pointer into it, e.g. `/manifests/2` or `/layers/0/digest`.
    pub pointer: String,
}

/// Where a finding is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The object itself, relative to the audited root, `/`-separated (`path`, and
    /// `path_bytes` when it is not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// The digest of the object, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Who named it, when a document did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

impl Location {
    /// A location that is just a path.
    pub fn path(path: impl Into<Key>) -> Location {
        Location {
            path: path.into(),
            digest: None,
            via: None,
        }
    }

    /// Adds the digest of the object.
    #[must_use]
    pub fn with_digest(mut self, digest: Option<Digest>) -> Location {
        self.digest = digest;
        self
    }

    /// Adds the referring document and pointer.
    #[must_use]
    pub fn via(mut self, path: impl Into<Key>, pointer: impl Into<String>) -> Location {
        self.via = Some(Via {
            path: path.into(),
            pointer: pointer.into(),
        });
        self
    }
}

/// One problem found in the store. Findings are data: the audit goes on after each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule, serialised as its id.
    pub rule: Rule,
    /// Effective severity: the rule's default until [`Policy::apply`] resolves overrides.
    pub severity: Severity,
    /// Where.
    pub location: Location,
    /// One terse line of facts, lower case, no trailing period.
    pub message: String,
    /// What the spec or the referring descriptor says should be there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Bytes of storage the finding is about, where that is the point: what deleting an
    /// unreferenced blob or a stale upload would free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Against a baseline (`--baseline`, or the ledger's previous run): whether the
    /// finding is new. `None` when there is no baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
    /// Why, where the tool itself needs to know (re-checking what a concurrent writer can
    /// cause, merging shards): the message is for people and is never read back. Not part
    /// of the report; a shard's partial result carries it ([`carried`]).
    #[serde(skip)]
    pub cause: Option<Cause>,
}

/// Why a finding was made, as data, for the code that acts on findings after they are
/// made: confirmation re-reads the evidence a cause names, and `merge` recognises a finding
/// one shard saw change. Only what such code needs is here; everything else a finding
/// says is in its rule, location and expected/found values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cause {
    /// A registry blob directory without its `data` file (the registry makes the
    /// directory, then renames the data into it).
    NoDataFile,
    /// A link file that does not exist where one is required (a tag's `current/link`).
    LinkAbsent,
    /// A blob whose length changed while it was hashed.
    LengthChanged,
    /// A file or object the backend could not read.
    Unreadable,
    /// A config, layer or child manifest not linked in this repository.
    Unlinked {
        /// The repository that does not link it.
        repository: String,
    },
    /// The evidence behind a finding of rule `was` (and cause `was_cause`) at the same
    /// location changed during the audit: this finding (`changed-during-audit`) replaces
    /// it, and only it (a sibling at the same place, unlinked in another repository say,
    /// stands).
    Changed {
        /// The rule of the finding it replaces.
        was: Rule,
        /// That finding's cause.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        was_cause: Option<Box<Cause>>,
    },
}

/// What makes a finding the same finding in two runs, two shards or two builds: its rule,
/// the object's path and digest, and the referring document and pointer. Not the message,
/// which carries sizes, lists and dates and may be reworded at any time, and not the
/// severity, which is policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity<'a> {
    /// The rule.
    pub rule: Rule,
    /// The object's path or key.
    pub path: &'a Key,
    /// The object's digest, when known.
    pub digest: Option<&'a Digest>,
    /// The referring document and JSON pointer, when a document named it.
    pub via: Option<&'a Via>,
}

impl Identity<'_> {
    /// The identity as owned values, for maps that outlive the findings.
    pub fn to_owned(&self) -> (Rule, Key, Option<Digest>, Option<Via>) {
        (
            self.rule,
            self.path.clone(),
            self.digest.cloned(),
            self.via.cloned(),
        )
    }
}

impl Finding {
    /// A finding of `rule` at its default severity.
    pub fn new(rule: Rule, location: Location, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.default_severity().unwrap_or(Severity::Info),
            location,
            message: reworded(message.into()),
            expected: None,
            found: None,
            bytes: None,
            new: None,
            cause: None,
        }
    }

    /// Says why, for the code that acts on the finding later (see [`Cause`]).
    #[must_use]
    pub fn with_cause(mut self, cause: Cause) -> Finding {
        self.cause = Some(cause);
        self
    }

    /// What makes this the same finding elsewhere (see [`Identity`]).
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            rule: self.rule,
            path: &self.location.path,
            digest: self.location.digest.as_ref(),
            via: self.location.via.as_ref(),
        }
    }

    /// Sets the bytes of storage the finding is about.
    #[must_use]
    pub fn with_bytes(mut self, bytes: u64) -> Finding {
        self.bytes = Some(bytes);
        self
    }

    /// Adds expected and found values.
    #[must_use]
    pub fn expected_found(
        mut self,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Finding {
        self.expected = Some(expected.to_string());
        self.found = Some(found.to_string());
        self
    }

    /// Sets the digest of the object the finding is about.
    #[must_use]
    pub fn with_digest(mut self, digest: &Digest) -> Finding {
        self.location.digest = Some(digest.clone());
        self
    }

    /// Sets expected and found values in place.
    pub fn set_expected_found(&mut self, expected: impl fmt::Display, found: impl fmt::Display) {
        self.expected = Some(expected.to_string());
        self.found = Some(found.to_string());
    }

    /// The total order used for output: by path, then referrer, then rule, then text.
    pub(crate) fn sort_key(&self) -> impl Ord + '_ {
        (
            &self.location.path,
            &self.location.via,
            self.rule.id(),
            &self.location.digest,
            &self.message,
            &self.expected,
            &self.found,
        )
    }
}

/// The message as given, or, when the environment variable `OCI_AUDIT_REWORD_MESSAGES`
/// is set, reworded: the tests run the whole tool so to show that no code reads a message
/// back (confirmation, merge, baselines and the ledger go by [`Identity`] and [`Cause`]).
fn reworded(message: String) -> String {
    static REWORD: OnceLock<bool> = OnceLock::new();
    if *REWORD.get_or_init(|| std::env::var_os("OCI_AUDIT_REWORD_MESSAGES").is_some()) {
        format!(
            "reworded ({} chars): {}",
            message.len(),
            message.to_uppercase()
        )
    } else {
        message
    }
}

/// Serde for findings with their [`Cause`]s, which the report leaves out: a shard's
/// partial result carries them to `merge` (`#[serde(with = "crate::finding::carried")]`).
pub mod carried {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Cause, Finding};

    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        finding: &'a Finding,
        #[serde(skip_serializing_if = "Option::is_none")]
        cause: Option<&'a Cause>,
    }

    #[derive(Deserialize)]
    struct In {
        #[serde(flatten)]
        finding: Finding,
        #[serde(default)]
        cause: Option<Cause>,
    }

    /// Writes each finding with its cause.
    pub fn serialize<S: Serializer>(findings: &[Finding], out: S) -> Result<S::Ok, S::Error> {
        out.collect_seq(findings.iter().map(|finding| Out {
            finding,
            cause: finding.cause.as_ref(),
        }))
    }

    /// Reads findings with their causes.
    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<Finding>, D::Error> {
        let carried = Vec::<In>::deserialize(input)?;
        Ok(carried
            .into_iter()
            .map(|In { mut finding, cause }| {
                finding.cause = cause;
                finding
            })
            .collect())
    }
}

/// A severity override from `--severity RULE=LEVEL`; `Ignore` drops the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    /// Report at this severity.
    Severity(Severity),
    /// Do not report.
    Ignore,
}

/// User policy: overrides, skip list and failure threshold.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Per-rule overrides.
    pub overrides: BTreeMap<Rule, Override>,
    /// Objects whose findings are dropped (git fsck's skipList).
    pub skip: HashSet<Digest>,
    /// Findings at or above this severity fail the audit.
    pub fail_on: Severity,
    /// Only new findings (against a baseline) fail the audit.
    pub fail_on_new: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            overrides: BTreeMap::new(),
            skip: HashSet::new(),
            fail_on: Severity::Error,
            fail_on_new: false,
        }
    }
}

impl Policy {
    /// Sets the severity of `rule`, refusing what would hide a rule that may not be lowered
    /// that far (`io-error` below warning).
    pub fn set_override(&mut self, rule: Rule, level: Override) -> Result<(), String> {
        if let Some(lowest) = rule.lowest_severity() {
            let allowed = matches!(level, Override::Severity(s) if s >= lowest);
            if !allowed {
                return Err(format!(
                    "{} can be lowered to {lowest} at most: it means part of the store was not read",
                    rule.id()
                ));
            }
        }
        self.overrides.insert(rule, level);
        Ok(())
    }

    /// Resolves severities, drops ignored rules and skip-listed objects, sorts and dedups.
    /// Returns the findings kept and how many the user's policy hid (`--skip`,
    /// `--skip-list`, `=ignore`); findings of rules that are off by default are not counted.
    /// A rule that may not be lowered below a severity is held there, whatever the
    /// overrides say.
    pub fn apply(&self, mut findings: Vec<Finding>) -> (Vec<Finding>, u64) {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        let mut suppressed = 0;
        findings.retain_mut(|finding| {
            let lowest = finding.rule.lowest_severity();
            let skipped = finding
                .location
                .digest
                .as_ref()
                .is_some_and(|d| self.skip.contains(d));
            let keep = match self.overrides.get(&finding.rule) {
                // Off by default and not turned on: not reported, and not "suppressed".
                None if finding.rule.default_severity().is_none() => return false,
                _ if skipped => false,
                None => true,
                // A rule with a floor is held there instead of hidden.
                Some(Override::Ignore) => match lowest {
                    Some(lowest) => {
                        finding.severity = lowest;
                        true
                    }
                    None => false,
                },
                Some(Override::Severity(severity)) => {
                    finding.severity = *severity;
                    true
                }
            };
            if let Some(lowest) = lowest {
                finding.severity = finding.severity.max(lowest);
            }
            suppressed += u64::from(!keep);
            keep
        });
        (findings, suppressed)
    }

    /// Whether these (already applied) findings fail the audit: one at or above
    /// `fail_on` (with `fail_on_new`, one that is also new against the baseline; without a
    /// baseline every finding counts as new).
    pub fn fails(&self, findings: &[Finding]) -> bool {
        findings
            .iter()
            .any(|f| f.severity >= self.fail_on && (!self.fail_on_new || f.new.unwrap_or(true)))
    }
}
