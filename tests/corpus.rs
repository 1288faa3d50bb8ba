//! The committed corpus: `corpus/<group>/<case>/{case.toml, store/, audit.txt}`.
//! Each case must produce exactly the rule ids of its `case.toml` and the text rendering
//! of `audit.txt` (elapsed time masked). `OCI_AUDIT_BLESS=1 cargo test` rewrites the
//! `audit.txt` files after a deliberate change; review the diff.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_audit::report::CoverageDetail;
use oci_audit::{NoProgress, Options, Rule, report};

use crate::support::{normalize, repo};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Case {
    description: String,
    kind: String,
    expect: Vec<String>,
    /// Audit with `--zot` (a zot root that carries no file of zot's own).
    #[serde(default)]
    pub(crate) zot: bool,
    /// Audit with `--require` these kinds of referrer (signature, sbom, provenance).
    #[serde(default)]
    pub(crate) require: Vec<String>,
    /// Audit with `--verify-layers` (a containers-storage root that keeps its unpacked
    /// layers).
    #[serde(default)]
    pub(crate) verify_layers: bool,
}

/// Rules that no committed store can show, each with the test that covers it instead.
const NOT_IN_CORPUS: &[(&str, &str)] = &[
    (
        "http-digest-header-mismatch",
        "tests/registry_api.rs::a_digest_header_that_names_other_content_is_a_finding (a proxy rewrites it; a store on disk has no headers)",
    ),
    (
        "http-tag-unresolvable",
        "tests/registry_api.rs::faults_made_on_disk_show_over_http_as_on_disk (a registry serving the root)",
    ),
    (
        "http-request-failed",
        "tests/registry_api.rs::retries_rate_limits_and_failures_through_a_proxy",
    ),
    (
        "archive-member-unsafe",
        "tests/archive.rs::unsafe_names_links_devices_and_duplicates_are_findings_and_the_rest_is_audited (git cannot hold a tar's member names)",
    ),
    (
        "archive-member-duplicate",
        "tests/archive.rs::unsafe_names_links_devices_and_duplicates_are_findings_and_the_rest_is_audited",
    ),
    (
        "archive-member-link",
        "tests/archive.rs::skopeo_archives_audit_clean_plain_compressed_and_from_stdin (skopeo's legacy layer.tar links)",
    ),
    (
        "archive-member-special",
        "tests/archive.rs::unsafe_names_links_devices_and_duplicates_are_findings_and_the_rest_is_audited",
    ),
    (
        "archive-truncated",
        "tests/archive.rs::a_truncated_or_corrupt_archive_is_a_finding_and_what_came_before_is_audited",
    ),
    (
        "archive-corrupt",
        "tests/archive.rs::a_truncated_or_corrupt_archive_is_a_finding_and_what_came_before_is_audited",
    ),
    (
        "archive-limit",
        "tests/archive.rs::headers_and_member_counts_meant_to_exhaust_memory_are_refused",
    ),
    (
        "docker-manifest-invalid",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-member-missing",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-digest-mismatch",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-diff-id-mismatch",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-diff-id-unverified",
        "tests/archive.rs::a_docker_25_archive_is_audited_as_both_views_which_must_agree",
    ),
    (
        "docker-repo-tag-invalid",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-repositories-mismatch",
        "tests/archive.rs::each_docker_check_fires_on_an_archive_altered_to_break_it",
    ),
    (
        "docker-oci-mismatch",
        "tests/archive.rs::a_docker_25_archive_is_audited_as_both_views_which_must_agree",
    ),
    (
        "document-too-large",
        "builder::document_over_the_size_limit_is_not_parsed",
    ),
    (
        "index-cycle",
        "builder::index_cycle_is_reported_and_terminates (needs a digest mismatch)",
    ),
    (
        "io-error",
        "builder::unreadable_and_odd_files_are_io_errors (git keeps no FIFOs)",
    ),
    (
        "document-media-type-missing",
        "builder::opt_in_rule_reports_only_when_enabled (off by default)",
    ),
    (
        "shard-blob-unverified",
        "tests/shard.rs::shards_that_listed_different_stores_say_so (needs a store changed between shards)",
    ),
    (
        "shard-listing-changed",
        "tests/shard.rs::shards_that_listed_different_stores_say_so (needs a store changed between shards)",
    ),
    (
        "changed-during-audit",
        "src/audit/confirm.rs::a_tag_without_its_current_link (needs a file to change between two reads; tests/live.rs shows it on a registry being written)",
    ),
];

pub(crate) fn cases() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for group in fs::read_dir(repo().join("corpus")).unwrap() {
        let group = group.unwrap().path();
        if !group.is_dir() {
            continue;
        }
        for case in fs::read_dir(&group).unwrap() {
            let case = case.unwrap().path();
            if case.join("case.toml").is_file() {
                out.push(case);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn read_case(dir: &Path) -> Case {
    let text = fs::read_to_string(dir.join("case.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn every_case_produces_exactly_its_rule_ids_and_snapshot() {
    let bless = std::env::var_os("OCI_AUDIT_BLESS").is_some();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 5, "corpus missing: {cases:?}");
    for dir in &cases {
        let case = read_case(dir);
        assert!(!case.description.is_empty());
        let mut options = Options::default();
        options.run.settle = std::time::Duration::ZERO;
        options.open.detect.zot = case.zot;
        options.check.verify_layers = case.verify_layers;
        let asks = |kind: &str| case.require.iter().any(|r| r == kind);
        options.check.require = oci_audit::check::graph::referrers::Require {
            signature: asks("signature"),
            sbom: asks("sbom"),
            provenance: asks("provenance"),
        };
        let report = oci_audit::audit(&dir.join("store"), &options, &NoProgress)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let kind = serde_json::to_value(report.store.kind).unwrap();
        if kind != case.kind.as_str() {
            failures.push(format!(
                "{}: kind {kind}, expected {}",
                dir.display(),
                case.kind
            ));
        }
        let found: BTreeSet<&str> = report.findings.iter().map(|f| f.rule.id()).collect();
        let expected: BTreeSet<&str> = case.expect.iter().map(String::as_str).collect();
        if found != expected {
            failures.push(format!(
                "{}: expected {expected:?}, found {found:?}\n{}",
                dir.display(),
                report::render_text(&report, CoverageDetail::Full)
            ));
        }
        // Every tag's coverage line is part of the snapshot.
        let text = normalize(&report::render_text(&report, CoverageDetail::Full));
        // The same at any concurrency: one read at a time, or many.
        for io in [1, 64] {
            let mut options = options.clone();
            options.open.io_concurrency = Some(io);
            options.run.threads = io.min(4);
            let again = oci_audit::audit(&dir.join("store"), &options, &NoProgress)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let again = normalize(&report::render_text(&again, CoverageDetail::Full));
            if again != text {
                failures.push(format!(
                    "{}: differs at --io-concurrency {io}",
                    dir.display()
                ));
            }
        }
        // The JSON reads back into the same report (what a shard's partial result and
        // `merge` rely on): rendered again, it is the same document.
        let json = report::render_json(&report);
        match serde_json::from_str::<oci_audit::Report>(&json) {
            Ok(back) if report::render_json(&back) == json => {}
            Ok(_) => failures.push(format!("{}: JSON does not round-trip", dir.display())),
            Err(e) => failures.push(format!("{}: JSON does not read back: {e}", dir.display())),
        }
        let snapshot = dir.join("audit.txt");
        if bless {
            fs::write(&snapshot, &text).unwrap();
        } else {
            match fs::read_to_string(&snapshot) {
                Ok(committed) if committed == text => {}
                Ok(committed) => failures.push(format!(
                    "{}: text output differs from audit.txt\n--- committed\n{committed}--- now\n{text}",
                    dir.display()
                )),
                Err(_) => failures.push(format!("{}: no audit.txt (run with OCI_AUDIT_BLESS=1)", dir.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_rule_has_a_corpus_case_or_a_named_test() {
    let mut covered = BTreeSet::new();
    for dir in cases() {
        covered.extend(read_case(&dir).expect);
    }
    for &rule in Rule::ALL {
        let exempt = NOT_IN_CORPUS.iter().any(|(id, _)| *id == rule.id());
        assert!(
            covered.contains(rule.id()) || exempt,
            "rule {} has no corpus case under corpus/ and no exemption",
            rule.id()
        );
    }
}

#[test]
fn exempt_rules_name_tests_that_exist() {
    for (id, test) in NOT_IN_CORPUS {
        let test = test.split(' ').next().unwrap();
        let (file, name) = match test.strip_prefix("builder::") {
            Some(name) => ("tests/builder.rs", name),
            None => test
                .split_once("::")
                .unwrap_or_else(|| panic!("{id}: {test:?} names no test")),
        };
        let source = fs::read_to_string(repo().join(file)).unwrap();
        assert!(
            source.contains(&format!("fn {name}()")),
            "{id}: {name} is not a test in {file}"
        );
        assert!(
            Rule::ALL.iter().any(|r| r.id() == *id),
            "{id} is not a rule"
        );
    }
}

#[test]
fn clean_cases_have_no_findings() {
    for dir in cases()
        .iter()
        .filter(|d| d.starts_with(repo().join("corpus/clean")))
    {
        assert!(
            read_case(dir).expect.is_empty(),
            "{}: a clean case expects findings",
            dir.display()
        );
    }
}
