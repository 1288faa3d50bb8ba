//! The Prometheus rendering (`--metrics-file`): the text exposition format, for
//! node_exporter's textfile collector, encoded by `prometheus-client`.
//!
//! Every metric is a gauge labelled with the audited `store`, so several jobs can write
//! files side by side into the collector's directory. Names follow Prometheus conventions:
//! an `oci_audit_` prefix, base units in the name (`_bytes`, `_seconds`), no `_total` on
//! gauges.

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::finding::Severity;
use crate::report::{Report, Stats};
use crate::rules::Rule;

/// How the run went, beside what the report says.
#[derive(Clone, Copy, Debug)]
pub struct RunFacts {
    /// When it started, in seconds since the epoch.
    pub started: i64,
    /// How long it took, in seconds.
    pub duration: f64,
    /// When the last run that completed an audit started (this one, when it did), in
    /// seconds since the epoch; `None` if none ever did.
    pub last_success: Option<i64>,
}

type Labels = Vec<(String, String)>;

struct Metrics {
    registry: Registry,
    store: String,
}

impl Metrics {
    fn new(store: &str) -> Metrics {
        Metrics {
            registry: Registry::default(),
            store: store.to_owned(),
        }
    }

    fn labels(&self, extra: &[(&str, &str)]) -> Labels {
        let mut labels = vec![("store".to_owned(), self.store.clone())];
        labels.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        labels
    }

    /// One gauge family: `(labels beside store, value)` for each sample, every sample with
    /// the same `N` labels beside store (none for a family of one sample).
    fn gauge<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        samples: &[([(&str, &str); N], i64)],
    ) {
        let family: Family<Labels, Gauge> = Family::default();
        for (extra, value) in samples {
            family.get_or_create(&self.labels(extra)).set(*value);
        }
        self.registry.register(name, help, family);
    }

    fn gauge_f64(&mut self, name: &str, help: &str, value: f64) {
        let family: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
        family.get_or_create(&self.labels(&[])).set(value);
        self.registry.register(name, help, family);
    }

    /// The registry as text, each family's samples sorted: `prometheus-client` keeps a
    /// family's samples in a hash map, whose order changes from run to run, and the same
    /// report must give the same file.
    fn encode(&self) -> String {
        let mut text = String::new();
        encode_registry(&mut text, &self.registry).expect("writing to a String cannot fail");
        let mut out = String::with_capacity(text.len());
        let mut samples: Vec<&str> = Vec::new();
        let flush = |samples: &mut Vec<&str>, out: &mut String| {
            samples.sort_unstable();
            for sample in samples.drain(..) {
                out.push_str(sample);
                out.push('\n');
            }
        };
        for line in text.lines() {
            if line.starts_with('#') {
                flush(&mut samples, &mut out);
                out.push_str(line);
                out.push('\n');
            } else {
                samples.push(line);
            }
        }
        flush(&mut samples, &mut out);
        out
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The metrics of a run that completed an audit. The families are encoded in the order
/// they are registered: findings, then the store, hashing, reclaimable space and the run.
pub fn render(report: &Report, facts: RunFacts) -> String {
    let mut m = Metrics::new(&report.store.path);
    severity_gauge(&mut m, report);
    rule_gauge(&mut m, report);
    baseline_gauges(&mut m, report);
    settle_gauges(&mut m, &report.stats);
    store_gauges(&mut m, &report.stats);
    hashing_gauges(&mut m, &report.stats);
    reclaimable_gauge(&mut m, report);
    supply_chain_gauges(&mut m, report);
    run_gauges(&mut m, facts, true);
    m.encode()
}

/// `oci_audit_findings`: findings by severity, every severity present (0 when none).
fn severity_gauge(m: &mut Metrics, report: &Report) {
    let samples: Vec<([(&str, &str); 1], i64)> =
        [Severity::Error, Severity::Warning, Severity::Info]
            .iter()
            .map(|&s| {
                let n = report.findings.iter().filter(|f| f.severity == s).count() as i64;
                ([("severity", s.as_str())], n)
            })
            .collect();
    m.gauge(
        "oci_audit_findings",
        "Findings of the last audit, by severity",
        &samples,
    );
}

/// `oci_audit_rule_findings`: findings by rule and severity, only the pairs that occur.
fn rule_gauge(m: &mut Metrics, report: &Report) {
    let mut per_rule: Vec<(Rule, Severity, i64)> = Vec::new();
    for finding in &report.findings {
        match per_rule
            .iter_mut()
            .find(|(r, s, _)| *r == finding.rule && *s == finding.severity)
        {
            Some(entry) => entry.2 += 1,
            None => per_rule.push((finding.rule, finding.severity, 1)),
        }
    }
    per_rule.sort_by_key(|(r, s, _)| (r.id(), *s));
    let samples: Vec<([(&str, &str); 2], i64)> = per_rule
        .iter()
        .map(|(r, s, n)| ([("rule", r.id()), ("severity", s.as_str())], *n))
        .collect();
    m.gauge(
        "oci_audit_rule_findings",
        "Findings of the last audit, by rule and severity",
        &samples,
    );
}

/// Against a baseline: the findings new and resolved since.
fn baseline_gauges(m: &mut Metrics, report: &Report) {
    let Some(baseline) = &report.baseline else {
        return;
    };
    m.gauge(
        "oci_audit_new_findings",
        "Findings of the last audit that its baseline did not have",
        &[([], clamp(baseline.new))],
    );
    m.gauge(
        "oci_audit_resolved_findings",
        "Findings of the baseline that the last audit no longer has",
        &[([], clamp(baseline.resolved))],
    );
}

/// The findings read again after --settle: those that stood and those that changed.
fn settle_gauges(m: &mut Metrics, stats: &Stats) {
    m.gauge(
        "oci_audit_confirmed_findings",
        "Findings a concurrent writer can produce that were read again after --settle and stood",
        &[([], clamp(stats.confirmed))],
    );
    m.gauge(
        "oci_audit_changed_findings",
        "Such findings whose evidence changed: reported as changed-during-audit",
        &[([], clamp(stats.changed))],
    );
}

/// The store's blob files: how many, how large.
fn store_gauges(m: &mut Metrics, stats: &Stats) {
    m.gauge(
        "oci_audit_store_blobs",
        "Blob files in the store",
        &[([], clamp(stats.blobs))],
    );
    m.gauge(
        "oci_audit_store_bytes",
        "Bytes of the blob files in the store",
        &[([], clamp(stats.bytes))],
    );
}

/// What the audit hashed, what it trusted from the ledger, and the oldest verification.
fn hashing_gauges(m: &mut Metrics, stats: &Stats) {
    m.gauge(
        "oci_audit_hashed_blobs",
        "Blobs hashed by the last audit",
        &[([], clamp(stats.blobs_hashed))],
    );
    m.gauge(
        "oci_audit_hashed_bytes",
        "Bytes hashed by the last audit",
        &[([], clamp(stats.bytes_verified))],
    );
    m.gauge(
        "oci_audit_trusted_blobs",
        "Blobs whose last clean hash in the ledger was trusted by the last audit",
        &[([], clamp(stats.blobs_trusted))],
    );
    m.gauge(
        "oci_audit_oldest_verification_age_seconds",
        "Age of the oldest blob verification standing after the last audit",
        &[([], clamp(stats.oldest_verification_s.unwrap_or(0)))],
    );
}

/// What garbage collection would reclaim, per repository of every store.
fn reclaimable_gauge(m: &mut Metrics, report: &Report) {
    let Some(rows) = &report.reclaimable else {
        return;
    };
    let samples: Vec<([(&str, &str); 2], i64)> = rows
        .iter()
        .map(|row| {
            (
                [
                    ("root", row.store.to_str().unwrap_or("")),
                    ("repository", row.repository.as_str()),
                ],
                clamp(row.bytes),
            )
        })
        .collect();
    m.gauge(
        "oci_audit_reclaimable_bytes",
        "Bytes garbage collection would reclaim, per repository (a blob shared by several counts in each)",
        &samples,
    );
}

/// Per store found (labelled `root`, as the reclaimable bytes): tags of images, those
/// signed, with an SBOM, with provenance, and the orphaned referrers with their bytes.
fn supply_chain_gauges(m: &mut Metrics, report: &Report) {
    type Of = fn(&crate::model::supply_chain::Summary) -> u64;
    let families: [(&str, &str, Of); 6] = [
        (
            "oci_audit_tags",
            "Tags of images (referrer tags not counted)",
            |s| s.tags,
        ),
        (
            "oci_audit_tags_signed",
            "Tags of images with at least one signature (cosign, Sigstore bundle, notation)",
            |s| s.signed,
        ),
        (
            "oci_audit_tags_with_sbom",
            "Tags of images with at least one SBOM",
            |s| s.with_sbom,
        ),
        (
            "oci_audit_tags_with_provenance",
            "Tags of images with provenance (a SLSA predicate)",
            |s| s.with_provenance,
        ),
        (
            "oci_audit_referrers_orphaned",
            "Referrers whose subject is not in their repository",
            |s| s.orphans,
        ),
        (
            "oci_audit_referrers_orphaned_bytes",
            "Bytes deleting the orphaned referrers would reclaim",
            |s| s.orphan_bytes,
        ),
    ];
    let roots: Vec<String> = report
        .store
        .stores
        .iter()
        .map(|s| s.path.lossy().into_owned())
        .collect();
    for (name, help, of) in families {
        let samples: Vec<([(&str, &str); 1], i64)> = report
            .store
            .stores
            .iter()
            .zip(&roots)
            .map(|(store, root)| ([("root", root.as_str())], clamp(of(&store.supply_chain))))
            .collect();
        m.gauge(name, help, &samples);
    }
}

/// The metrics of a run that could not audit (exit 2): when it ran, and the last run that
/// did, so an alert on staleness still fires.
pub fn render_failure(store: &str, facts: RunFacts) -> String {
    let mut m = Metrics::new(store);
    run_gauges(&mut m, facts, false);
    m.encode()
}

fn run_gauges(m: &mut Metrics, facts: RunFacts, success: bool) {
    m.gauge_f64(
        "oci_audit_run_duration_seconds",
        "Duration of the last run",
        facts.duration,
    );
    m.gauge(
        "oci_audit_last_run_timestamp_seconds",
        "When the last run started",
        &[([], facts.started)],
    );
    m.gauge(
        "oci_audit_run_success",
        "Whether the last run completed an audit (1) or could not run (0)",
        &[([], i64::from(success))],
    );
    if let Some(last) = facts.last_success {
        m.gauge(
            "oci_audit_last_success_timestamp_seconds",
            "When the last run that completed an audit started",
            &[([], last)],
        );
    }
}

/// The last-success time a metrics file written earlier holds, to carry it over a failed
/// run when there is no ledger to ask.
pub fn previous_success(text: &str) -> Option<i64> {
    text.lines()
        .filter(|line| line.starts_with("oci_audit_last_success_timestamp_seconds"))
        .find_map(|line| line.rsplit(' ').next()?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, Location};
    use crate::rules::Rule;

    #[test]
    fn the_same_report_gives_the_same_file() {
        let mut report = Report::empty_for_tests();
        report.store.path = "/srv/registry".to_owned();
        for (i, rule) in [
            Rule::BlobDigestMismatch,
            Rule::BlobUnreferenced,
            Rule::IoError,
            Rule::DescriptorBlobMissing,
            Rule::IndexManifestMissing,
            Rule::LayoutMarkerMissing,
        ]
        .into_iter()
        .enumerate()
        {
            report.findings.push(Finding::new(
                rule,
                Location::path(format!("blobs/sha256/{i}")),
                "x",
            ));
        }
        let facts = || RunFacts {
            started: 1_800_000_000,
            duration: 1.5,
            last_success: Some(1_800_000_000),
        };
        let first = render(&report, facts());
        // Each rendering has hash maps of its own, seeded anew.
        for _ in 0..20 {
            assert_eq!(render(&report, facts()), first);
        }
        assert!(first.contains("oci_audit_findings"), "{first}");
    }
}
