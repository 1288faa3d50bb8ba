//! New versus known: a finding's identity between runs, and what changed since a baseline
//! (an earlier JSON report, or the ledger's previous run).
//!
//! A finding is the same finding in two runs when its [`Identity`] is: rule, location
//! (path and digest) and referrer (document and JSON pointer). The message is not part of
//! it: it carries sizes, lists and dates that change while the fault stays the same, and
//! neither is the severity, which is policy.

use std::collections::HashSet;

use serde_json::Value;

use crate::finding::{Finding, Identity, Location, Via};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::report::{BaselineInfo, Report};
use crate::rules::Rule;

/// A baseline: where it came from, and its findings.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The file (for the report).
    pub source: String,
    /// Its findings.
    pub findings: Vec<Finding>,
}

/// Marks every finding new or known against an earlier run's (`source`, `before`), and
/// lists the earlier findings that are gone.
pub fn mark_against(report: &mut Report, against: Option<(String, &[Finding])>) {
    let Some((source, before)) = against else {
        return;
    };
    let resolved = compare(&mut report.findings, before);
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

/// Marks each of `findings` new or known against `baseline`, and returns the baseline's
/// findings that are gone (resolved), in output order.
pub fn compare(findings: &mut [Finding], baseline: &[Finding]) -> Vec<Finding> {
    let known: HashSet<Identity> = baseline.iter().map(Finding::identity).collect();
    for finding in findings.iter_mut() {
        finding.new = Some(!known.contains(&finding.identity()));
    }
    let now: HashSet<Identity> = findings.iter().map(Finding::identity).collect();
    let mut resolved: Vec<Finding> = baseline
        .iter()
        .filter(|f| !now.contains(&f.identity()))
        .cloned()
        .collect();
    for finding in &mut resolved {
        finding.new = None;
    }
    resolved.sort_by(|a, b| {
        (&a.location.path, &a.location.via, a.rule.id()).cmp(&(
            &b.location.path,
            &b.location.via,
            b.rule.id(),
        ))
    });
    resolved.dedup_by(|a, b| a.identity() == b.identity());
    resolved
}

/// The findings of an earlier JSON report (`--baseline`). Findings of rules this version
/// does not know are left out: they cannot be compared.
pub fn from_json(bytes: &[u8]) -> Result<Vec<Finding>, String> {
    let report: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON report: {e}"))?;
    if report.get("version").and_then(Value::as_u64) != Some(u64::from(crate::report::JSON_VERSION))
    {
        return Err(format!(
            "not a version {} oci-audit JSON report",
            crate::report::JSON_VERSION
        ));
    }
    let Some(items) = report.get("findings").and_then(Value::as_array) else {
        return Err("the report has no findings array".to_owned());
    };
    let mut findings = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |what: &str| format!("findings[{i}]: {what}");
        let Some(rule) = item.get("rule").and_then(Value::as_str) else {
            return Err(bad("no rule"));
        };
        let Ok(rule) = rule.parse::<Rule>() else {
            continue;
        };
        let severity = item
            .get("severity")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no severity"))?;
        let location = item.get("location").ok_or_else(|| bad("no location"))?;
        let path = key_of(location).ok_or_else(|| bad("no location.path"))?;
        let mut at = Location::path(path);
        at.digest = location
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| Digest::parse(d).ok());
        at.via = location.get("via").and_then(|via| {
            Some(Via {
                path: key_of(via)?,
                pointer: via.get("pointer")?.as_str()?.to_owned(),
            })
        });
        let text = |field: &str| item.get(field).and_then(Value::as_str).map(str::to_owned);
        findings.push(Finding {
            rule,
            severity,
            location: at,
            message: text("message").unwrap_or_default(),
            expected: text("expected"),
            found: text("found"),
            bytes: item.get("bytes").and_then(Value::as_u64),
            new: None,
            cause: None,
        });
    }
    Ok(findings)
}

/// A path from its JSON fields: the raw bytes when given, else the text.
fn key_of(object: &Value) -> Option<Key> {
    crate::model::key::from_path_texts(
        object.get("path").and_then(Value::as_str),
        object.get("path_bytes").and_then(Value::as_str),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: Rule, path: &str, message: &str) -> Finding {
        Finding::new(rule, Location::path(path), message)
    }

    #[test]
    fn identity_ignores_the_message_and_severity() {
        let before = vec![
            finding(Rule::BlobUnreferenced, "blobs/sha256/a", "(10 bytes)"),
            finding(Rule::IoError, "blobs/sha256/b", "cannot read"),
        ];
        let mut now = vec![
            finding(Rule::BlobUnreferenced, "blobs/sha256/a", "(12 bytes)"),
            finding(Rule::BlobDigestMismatch, "blobs/sha256/c", "content"),
        ];
        now[0].severity = crate::finding::Severity::Warning;
        let resolved = compare(&mut now, &before);
        assert_eq!(now[0].new, Some(false));
        assert_eq!(now[1].new, Some(true));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].rule, Rule::IoError);
    }

    #[test]
    fn a_json_report_round_trips() {
        let mut report = crate::report::Report::empty_for_tests();
        report.findings = vec![
            finding(Rule::BlobDigestMismatch, "blobs/sha256/x", "content"),
            Finding::new(
                Rule::DescriptorBlobMissing,
                Location::path(Key::from_bytes(&b"a/\xffb"[..])).via("index.json", "/manifests/0"),
                "gone",
            ),
        ];
        let json = crate::report::render_json(&report);
        let parsed = from_json(json.as_bytes()).unwrap();
        let mut again = report.findings.clone();
        assert!(compare(&mut again, &parsed).is_empty());
        assert!(again.iter().all(|f| f.new == Some(false)));
    }
}
