//! The binary as automation sees it: exit codes, the JSON contract, determinism across
//! thread counts, policy flags, the rules listing, and a tree left exactly as it was.

use std::fs;

use serde::Deserialize;

use crate::support::{
    Layout, age_atimes, binary, copy_tree, normalize, repo, rule_ids, run, snapshot,
};

const MULTIPLATFORM: &str = "corpus/clean/skopeo-multiplatform/store";
const REGISTRY: &str = "corpus/distribution/registry-2.8/store";

fn corpus(path: &str) -> String {
    repo().join(path).display().to_string()
}

/// A layout with an error (missing layer), a warning (nested index entry without platform)
/// and an info (unreferenced blob).
fn broken_layout() -> Layout {
    let layout = Layout::new();
    let (m1, s1) = layout.image("amd64", b"layer one");
    let (m2, s2) = layout.image("arm64", b"layer two");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m1}","size":{s1},"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m2}","size":{s2}}}]}}"#
    );
    let (index_digest, index_size) = layout.blob(index.as_bytes());
    layout.write_index(&format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{index_size},"annotations":{{"org.opencontainers.image.ref.name":"multi"}}}}]}}"#
        ));
    layout.blob(b"nobody names me");
    let missing = crate::support::sha256(b"layer two");
    fs::remove_file(layout.path().join("blobs/sha256").join(&missing[7..])).unwrap();
    layout
}

#[test]
fn exit_codes() {
    assert_eq!(run(&[&corpus(MULTIPLATFORM)]).code, 0);
    let broken = broken_layout();
    let out = run(&[broken.arg()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("error[descriptor-blob-missing]"),
        "{}",
        out.stdout
    );
    assert_eq!(
        run(&[
            broken.arg(),
            "--severity",
            "descriptor-blob-missing=warning"
        ])
        .code,
        0
    );
    assert_eq!(
        run(&[
            broken.arg(),
            "--severity",
            "descriptor-blob-missing=warning",
            "--fail-on",
            "warning"
        ])
        .code,
        1
    );
    let missing = crate::support::sha256(b"layer two");
    assert_eq!(run(&[broken.arg(), "--skip", &missing]).code, 0);

    let skip_list = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        skip_list.path(),
        format!("# known broken\n{missing}  # layer two\n\n"),
    )
    .unwrap();
    assert_eq!(
        run(&[
            broken.arg(),
            "--skip-list",
            skip_list.path().to_str().unwrap()
        ])
        .code,
        0
    );
}

#[test]
fn audits_that_cannot_run_exit_2_naming_the_path() {
    let empty = tempfile::tempdir().unwrap();
    let out = run(&[empty.path().to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(empty.path().to_str().unwrap()) && out.stderr.contains("oci-layout"),
        "{}",
        out.stderr
    );

    let out = run(&["/nonexistent/oci-audit-test"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("/nonexistent/oci-audit-test"),
        "{}",
        out.stderr
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    assert_eq!(run(&[file.path().to_str().unwrap()]).code, 2);

    let empty = tempfile::tempdir().unwrap();
    let out = run(&[empty.path().to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Distribution root"), "{}", out.stderr);

    let store = corpus(MULTIPLATFORM);
    for bad in [
        vec![store.as_str(), "--severity", "no-such-rule=error"],
        vec![store.as_str(), "--severity", "blob-unreferenced=loud"],
        vec![store.as_str(), "--severity", "blob-unreferenced"],
        vec![store.as_str(), "--skip", "sha256:XYZ"],
        vec![store.as_str(), "--skip-list", "/nonexistent/skip-list"],
        vec![store.as_str(), "--format", "yaml"],
        vec![store.as_str(), "--threads", "100000"],
        vec![store.as_str(), "--upload-max-age", "1 fortnight"],
        vec![store.as_str(), "--max-document-size", "1 parsec"],
        vec![store.as_str(), "--coverage", "some"],
        vec![],
    ] {
        let out = run(&bad);
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// See: issue 10 (13). Decimal durations and IEC/SI sizes are accepted; a negative number
/// gets a plain message, not clap's `-- -1` tip.
#[test]
fn durations_and_sizes_read_as_people_write_them() {
    let store = corpus(REGISTRY);
    let out = run(&[
        &store,
        "--upload-max-age",
        "1.5h",
        "--max-document-size",
        "1MiB",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("(expected started within 1h 30m, found started 2023-11-14T22:13:20Z)"),
        "{}",
        out.stdout
    );
    // The stale upload's date appears once in the line, not twice.
    let stale = out
        .stdout
        .lines()
        .find(|l| l.contains("registry-upload-stale"))
        .unwrap();
    assert_eq!(stale.matches("2023-11-14T22:13:20Z").count(), 1, "{stale}");
    let tiny = run(&[&store, "--max-document-size", "100B"]);
    assert!(
        tiny.stdout.contains("document-too-large"),
        "{}",
        tiny.stdout
    );
    for (flag, value, message) in [
        ("--upload-max-age", "-1h", "a duration cannot be negative"),
        ("--max-document-size", "-1", "a size cannot be negative"),
    ] {
        let out = run(&[&store, flag, value]);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(message), "{}", out.stderr);
        assert!(!out.stderr.contains("tip"), "{}", out.stderr);
    }
}

/// See: issue 10 (10). io-error means part of the store was not read: it may be lowered
/// to a warning, never to info or hidden.
#[test]
fn io_error_can_be_lowered_to_warning_at_most() {
    let store = corpus(MULTIPLATFORM);
    for level in ["ignore", "info"] {
        let spec = format!("io-error={level}");
        let out = run(&[&store, "--severity", &spec]);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr
                .contains("io-error can be lowered to warning at most"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(run(&[&store, "--severity", "io-error=warning"]).code, 0);
    // The library holds the floor too, whatever a caller puts in the overrides.
    let mut policy = oci_audit::Policy::default();
    policy
        .overrides
        .insert(oci_audit::Rule::IoError, oci_audit::Override::Ignore);
    let finding = oci_audit::Finding::new(
        oci_audit::Rule::IoError,
        oci_audit::Location::path("blobs"),
        "cannot read",
    );
    let (kept, suppressed) = policy.apply(vec![finding]);
    assert_eq!((kept.len(), suppressed), (1, 0));
    assert_eq!(kept[0].severity, oci_audit::Severity::Warning);
}

/// See: issue 10 (12). What --skip and =ignore hide is counted in the summary line.
#[test]
fn suppressed_findings_are_counted() {
    let broken = broken_layout();
    let missing = crate::support::sha256(b"layer two");
    let out = run(&[
        broken.arg(),
        "--skip",
        &missing,
        "--severity",
        "blob-unreferenced=ignore",
    ]);
    assert!(out.stdout.contains("2 suppressed"), "{}", out.stdout);
    let report = json(&[broken.arg(), "--format", "json", "--skip", &missing]);
    assert_eq!(report.stats.suppressed, 1);
    assert!(!run(&[broken.arg()]).stdout.contains("suppressed"));
}

/// See: issue 10 (11). A registry's coverage is a summary by default, per tag with
/// --coverage full, absent with --coverage none; JSON lists every tag either way.
#[test]
fn coverage_is_summarised_by_default() {
    let store = corpus("corpus/distribution/index-manifest-missing/store");
    let summary = run(&[&store]).stdout;
    assert!(
        summary.contains("platform coverage (5 tags; --coverage full lists each):"),
        "{summary}"
    );
    assert!(summary.contains("  linux/amd64     5 tags\n"), "{summary}");
    assert!(summary.contains("  linux/arm64/v8  1 tag\n"), "{summary}");
    assert!(
        summary.contains("  sparse indexes  1 tag (1 listed manifest not in the store)\n"),
        "{summary}"
    );
    assert!(!summary.contains("library/app:v0"), "{summary}");
    let full = run(&[&store, "--coverage", "full"]).stdout;
    assert!(
        full.contains(
            "library/multi:latest  linux/amd64, linux/arm64/v8  [2 of 3 platforms present]"
        ),
        "{full}"
    );
    let none = run(&[&store, "--coverage", "none"]).stdout;
    assert!(
        !none.contains("platform coverage") && !none.contains("linux/"),
        "{none}"
    );
    let report = json(&[&store, "--format", "json", "--coverage", "none"]);
    assert_eq!(report.coverage.len(), 5);
    let multi = report
        .coverage
        .iter()
        .find(|c| c.root == "library/multi:latest")
        .unwrap();
    assert_eq!(multi.missing.len(), 1);
    assert_eq!(multi.missing_platforms[0].architecture, "arm");
    // Only a containerd root discards layers once unpacked.
    assert!(multi.discarded_layers.is_empty());
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonReport {
    version: u32,
    store: JsonStore,
    stats: JsonStats,
    findings: Vec<JsonFinding>,
    coverage: Vec<JsonCoverage>,
    reclaimable: Option<Vec<JsonReclaimable>>,
    reclaimable_total: Option<JsonReclaimableTotal>,
    supply_chain: JsonSupplyChain,
    baseline: Option<JsonBaseline>,
    resolved: Option<Vec<JsonFinding>>,
    ledger: Option<JsonLedger>,
}

/// `supply_chain`: the contract of issue 31.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonSupplyChain {
    summary: JsonSupplyChainSummary,
    tags: Vec<JsonTagRow>,
    orphans: Vec<JsonOrphan>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct JsonSupplyChainSummary {
    tags: u64,
    signed: u64,
    signed_by_format: std::collections::BTreeMap<String, u64>,
    with_sbom: u64,
    with_provenance: u64,
    with_other: u64,
    referrers: u64,
    orphans: u64,
    orphan_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonTagRow {
    repository: String,
    tag: String,
    digest: String,
    signatures: Vec<JsonReferrer>,
    sboms: Vec<JsonReferrer>,
    provenance: Vec<JsonReferrer>,
    other: Vec<JsonReferrer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonReferrer {
    digest: String,
    artifact_type: Option<String>,
    format: String,
    subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonOrphan {
    repository: String,
    tag: Option<String>,
    digest: String,
    subject: String,
    artifact_type: Option<String>,
    format: String,
    bytes: u64,
    path: String,
    path_bytes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonBaseline {
    source: String,
    new: u64,
    resolved: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonLedger {
    path: String,
    run: i64,
    credit_bytes: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct JsonReclaimable {
    store: String,
    repository: String,
    manifests: u64,
    tags: u64,
    layers: u64,
    unused_manifests: u64,
    bytes: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct JsonReclaimableTotal {
    untagged: bool,
    complete: bool,
    blobs: u64,
    bytes: u64,
    unused_manifests: u64,
    unlinked_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonStore {
    kind: String,
    path: String,
    stores: Vec<JsonFoundStore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFoundStore {
    kind: String,
    path: String,
    path_bytes: Option<String>,
    reclaimable_total: Option<JsonReclaimableTotal>,
    supply_chain: JsonSupplyChainSummary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonStats {
    layouts: u64,
    repositories: u64,
    blobs: u64,
    bytes: u64,
    bytes_verified: u64,
    documents: u64,
    suppressed: u64,
    confirmed: u64,
    changed: u64,
    blobs_hashed: u64,
    blobs_trusted: u64,
    bytes_trusted: u64,
    oldest_verification_s: Option<u64>,
    uploads: u64,
    upload_bytes: u64,
    elapsed_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFinding {
    rule: String,
    severity: String,
    location: JsonLocation,
    message: String,
    expected: Option<String>,
    found: Option<String>,
    bytes: Option<u64>,
    new: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLocation {
    path: String,
    path_bytes: Option<String>,
    digest: Option<String>,
    via: Option<JsonVia>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonVia {
    path: String,
    path_bytes: Option<String>,
    pointer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCoverage {
    root: String,
    path: String,
    path_bytes: Option<String>,
    pointer: String,
    digest: String,
    platforms: Vec<JsonPlatform>,
    duplicates: Vec<JsonPlatform>,
    without_platform: Vec<String>,
    attestations: Vec<String>,
    artifacts: Vec<String>,
    missing: Vec<String>,
    missing_platforms: Vec<JsonPlatform>,
    discarded_layers: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct JsonPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
    #[serde(rename = "os.version")]
    os_version: Option<String>,
}

fn json(args: &[&str]) -> JsonReport {
    let out = run(args);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

#[test]
fn json_contract() {
    let broken = broken_layout();
    let report = json(&[broken.arg(), "--format", "json"]);
    assert_eq!(report.version, 1);
    assert_eq!(report.store.kind, "oci-layout");
    assert_eq!(report.store.path, broken.arg());
    assert_eq!(report.stats.blobs, 7);
    assert!(report.stats.bytes_verified > 0 && report.stats.bytes >= report.stats.bytes_verified);
    let missing = report
        .findings
        .iter()
        .find(|f| f.rule == "descriptor-blob-missing")
        .unwrap();
    assert_eq!(missing.severity, "error");
    assert!(missing.location.path.starts_with("blobs/sha256/"));
    assert!(
        missing
            .location
            .digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    let via = missing.location.via.as_ref().unwrap();
    assert!(
        via.path.starts_with("blobs/sha256/") && via.pointer == "/layers/0",
        "{via:?}"
    );
    // UTF-8 paths carry no raw bytes (see builder::json_paths_are_lossless for others).
    assert!(missing.location.path_bytes.is_none() && via.path_bytes.is_none());
    assert_eq!(report.store.stores.len(), 1);
    let only = &report.store.stores[0];
    assert_eq!((only.kind.as_str(), only.path.as_str()), ("oci-layout", ""));
    assert!(only.path_bytes.is_none());
    // A layout's collector total is its store's (issue 32).
    assert!(report.reclaimable_total.is_some());
    assert_eq!(only.reclaimable_total, report.reclaimable_total);
    assert!(!missing.message.is_empty() && missing.expected.is_none() && missing.found.is_none());
    let platform_missing = report
        .findings
        .iter()
        .find(|f| f.rule == "index-platform-missing")
        .unwrap();
    assert_eq!(platform_missing.severity, "warning");
    assert_eq!(
        platform_missing.location.via.as_ref().unwrap().pointer,
        "/manifests/1"
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "blob-unreferenced" && f.severity == "info")
    );
    assert_eq!(report.coverage.len(), 1);
    let coverage = &report.coverage[0];
    assert!(coverage.path_bytes.is_none());
    assert_eq!(
        (
            coverage.root.as_str(),
            coverage.path.as_str(),
            coverage.pointer.as_str()
        ),
        ("multi", "index.json", "/manifests/0")
    );
    assert!(coverage.digest.starts_with("sha256:"));
    assert_eq!(
        coverage.platforms,
        vec![JsonPlatform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: None
        }]
    );
    assert_eq!(coverage.without_platform.len(), 1);
    assert!(
        coverage.duplicates.is_empty()
            && coverage.attestations.is_empty()
            && coverage.artifacts.is_empty()
    );

    let clean = json(&[&corpus(MULTIPLATFORM), "--format", "json"]);
    assert!(clean.findings.is_empty());
    let platforms: Vec<String> = clean.coverage[0]
        .platforms
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}",
                p.os,
                p.architecture,
                p.variant.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        platforms,
        ["linux/amd64/-", "linux/arm64/v8", "linux/arm/v7"]
    );

    let many = json(&[
        &corpus("corpus/clean/many-layouts/store"),
        "--format",
        "json",
    ]);
    assert_eq!(many.store.kind, "oci-layouts");
    assert_eq!(many.stats.layouts, 2);
    let paths: Vec<&str> = many.coverage.iter().map(|c| c.path.as_str()).collect();
    assert!(
        paths.contains(&"library/alpine/index.json") && paths.contains(&"team/app/web/index.json"),
        "{paths:?}"
    );
}

/// The Distribution contract: kind, paths relative to the audited root, the reclaimable
/// table and total, bytes on blob-unreferenced, and the same blobs as
/// `registry garbage-collect --dry-run` of Debian's docker-registry 2.8.2 listed on this
/// store when it was made (corpus/tools/make-registry-store.sh; CI re-checks live).
#[test]
fn distribution_json_contract_and_gc_equivalence() {
    const GC_DRY_RUN: [&str; 3] = [
        "sha256:4b1be9ed1bb2d8f563c1669c9237dc9c38568ef96252de33ebcb09336c9de147",
        "sha256:f00fe49345ff3d97dfa46908ced0e1834e4be46398a6b80544f088a79a861886",
        "sha256:f8e0a6a8942ef4de249ef0731d85efd0eda3cd8e2663d27f8d4fee8b84a6211f",
    ];
    let root = corpus(REGISTRY);
    for arg in [root.clone(), format!("{root}/docker/registry/v2")] {
        let report = json(&[&arg, "--format", "json"]);
        assert_eq!(report.store.kind, "distribution");
        assert_eq!(report.store.stores.len(), 1);
        assert_eq!(report.store.stores[0].kind, "distribution");
        assert_eq!(
            report.store.stores[0].reclaimable_total,
            report.reclaimable_total
        );
        assert_eq!(report.stats.repositories, 5);
        assert_eq!((report.stats.uploads, report.stats.upload_bytes), (1, 15));
        let prefix = if arg == root {
            "docker/registry/v2/"
        } else {
            ""
        };
        let mut deleted: Vec<&str> = Vec::new();
        for f in report
            .findings
            .iter()
            .filter(|f| f.rule == "blob-unreferenced")
        {
            assert!(
                f.location
                    .path
                    .starts_with(&format!("{prefix}blobs/sha256/")),
                "{f:?}"
            );
            assert!(f.bytes.unwrap() > 0);
            deleted.push(f.location.digest.as_deref().unwrap());
        }
        deleted.sort_unstable();
        assert_eq!(deleted, GC_DRY_RUN);
        let rows = report.reclaimable.unwrap();
        let gone = rows
            .iter()
            .find(|r| r.repository == "library/gone")
            .unwrap();
        assert_eq!((gone.manifests, gone.layers, gone.bytes), (0, 2, 155 + 264));
        let app = rows.iter().find(|r| r.repository == "library/app").unwrap();
        assert_eq!((app.manifests, app.tags, app.unused_manifests), (2, 2, 1));
        let total = report.reclaimable_total.unwrap();
        assert_eq!(
            total,
            JsonReclaimableTotal {
                untagged: false,
                complete: true,
                blobs: 3,
                bytes: 155 + 264 + 345,
                unused_manifests: 1,
                unlinked_bytes: 345,
            }
        );
        let roots: Vec<&str> = report.coverage.iter().map(|c| c.root.as_str()).collect();
        assert_eq!(
            roots,
            [
                "library/app:v0",
                "library/app:v1",
                "library/docker:v2s2",
                "library/multi:latest",
                "team/web/app:v1"
            ]
        );
        assert_eq!(report.coverage[3].platforms.len(), 3);
    }
    // --untagged: garbage-collect --delete-untagged lists these plus the configs and layers
    // of library/multi's three children (distribution#3178); we keep what a tag reaches.
    let untagged = json(&[&root, "--format", "json", "--untagged"]);
    let mut deleted: Vec<&str> = untagged
        .findings
        .iter()
        .filter(|f| f.rule == "blob-unreferenced")
        .map(|f| f.location.digest.as_deref().unwrap())
        .collect();
    deleted.sort_unstable();
    let mut expected = GC_DRY_RUN.to_vec();
    expected.push("sha256:4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27");
    expected.sort_unstable();
    assert_eq!(deleted, expected);
    assert!(untagged.reclaimable_total.unwrap().untagged);
    // A layout is one row of its own (issue 32): "." for the store itself, its blobs as
    // layers, nothing to reclaim when clean.
    let layout = json(&[&corpus(MULTIPLATFORM), "--format", "json"]);
    assert_eq!(
        layout.reclaimable.unwrap(),
        [JsonReclaimable {
            store: String::new(),
            repository: ".".into(),
            manifests: 4,
            tags: 1,
            layers: 10,
            unused_manifests: 0,
            bytes: 0,
        }]
    );
    assert_eq!(
        layout.reclaimable_total.unwrap(),
        JsonReclaimableTotal {
            untagged: false,
            complete: true,
            blobs: 0,
            bytes: 0,
            unused_manifests: 0,
            unlinked_bytes: 0,
        }
    );
}

#[test]
fn output_is_identical_for_any_thread_count_and_io_concurrency() {
    let broken = broken_layout();
    let many = corpus("corpus/clean/many-layouts/store");
    let registry = corpus(REGISTRY);
    for store in [broken.arg(), many.as_str(), registry.as_str()] {
        for format in ["text", "json"] {
            let one = run(&[
                store,
                "--format",
                format,
                "--threads",
                "1",
                "--io-concurrency",
                "1",
            ]);
            let four = run(&[
                store,
                "--format",
                format,
                "--threads",
                "4",
                "--io-concurrency",
                "64",
            ]);
            assert_eq!(one.code, four.code);
            assert_eq!(
                normalize(&one.stdout),
                normalize(&four.stdout),
                "{store} {format}"
            );
        }
    }
}

#[test]
fn the_audited_tree_is_left_exactly_as_it_was() {
    let broken = broken_layout();
    let copy = tempfile::tempdir().unwrap();
    let many = copy.path().join("many");
    copy_tree(&repo().join("corpus/clean/many-layouts/store"), &many);
    let registry = copy.path().join("registry");
    copy_tree(&repo().join(REGISTRY), &registry);
    for root in [broken.path(), many.as_path(), registry.as_path()] {
        let content_before = snapshot(root, true);
        age_atimes(root);
        let before = snapshot(root, false);
        let root_arg = root.to_str().unwrap();
        for args in [
            vec![root_arg],
            vec![root_arg, "--format", "json"],
            vec![root_arg, "--no-verify"],
            vec![root_arg, "--no-mmap", "--threads", "1"],
            vec![root_arg, "-q", "--fail-on", "info"],
            vec![root_arg, "--untagged", "--upload-max-age", "1h"],
        ] {
            run(&args);
        }
        assert_eq!(
            before,
            snapshot(root, false),
            "metadata (incl. atime) changed"
        );
        assert_eq!(content_before, snapshot(root, true), "content changed");
    }
}

#[test]
fn rules_listing_and_explanations() {
    let out = run(&["rules"]);
    assert_eq!(out.code, 0);
    for &rule in oci_audit::Rule::ALL {
        assert!(
            out.stdout.contains(rule.id()),
            "{} missing from `rules`",
            rule.id()
        );
        let explained = run(&["rules", "--explain", rule.id()]);
        assert_eq!(explained.code, 0);
        assert!(explained.stdout.contains(rule.spec()) && explained.stdout.contains(rule.why()));
    }
    assert_eq!(run(&["rules", "--explain", "no-such-rule"]).code, 2);
}

#[test]
fn readme_rule_table_is_generated_from_the_rule_table() {
    let table = run(&["rules", "--format", "markdown"]).stdout;
    let readme = fs::read_to_string(repo().join("docs/checks.md")).unwrap();
    let start = readme
        .find("<!-- rules:start -->\n")
        .expect("README rules:start marker")
        + "<!-- rules:start -->\n".len();
    let end = readme
        .find("<!-- rules:end -->")
        .expect("README rules:end marker");
    assert_eq!(
        &readme[start..end],
        table,
        "docs/checks.md rule table is stale: paste `oci-audit rules --format markdown` between the markers"
    );
}

#[test]
fn broken_layout_reports_exactly_its_rules() {
    let broken = broken_layout();
    let ids = rule_ids(&run(&[broken.arg(), "--format", "json"]).stdout);
    assert_eq!(
        ids,
        [
            "blob-unreferenced",
            "descriptor-blob-missing",
            "index-platform-missing"
        ]
    );
}

/// The JSON contract of a run with a ledger: baseline, resolved, ledger, and the
/// per-finding `new`, deserialized into the strict mirror types.
#[test]
fn nightly_json_contract() {
    let broken = broken_layout();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("ledger.db");
    let state = state.to_str().unwrap();
    let first = json(&[broken.arg(), "--format", "json", "--state", state]);
    assert!(first.baseline.is_none() && first.resolved.is_none());
    assert_eq!(first.ledger.as_ref().unwrap().run, 1);
    assert!(first.findings.iter().all(|f| f.new.is_none()));
    assert_eq!(first.stats.oldest_verification_s, Some(0));
    let second = json(&[broken.arg(), "--format", "json", "--state", state]);
    let baseline = second.baseline.as_ref().unwrap();
    assert_eq!(
        (baseline.source.as_str(), baseline.new, baseline.resolved),
        ("ledger run 1", 0, 0)
    );
    assert!(second.resolved.as_ref().unwrap().is_empty());
    assert!(second.findings.iter().all(|f| f.new == Some(false)));
    assert_eq!(second.ledger.as_ref().unwrap().path, state);
    assert!(second.stats.blobs_trusted > 0);
    assert!(second.stats.bytes_trusted > 0);
    assert_eq!(
        second.stats.blobs_hashed + second.stats.blobs_trusted,
        second.stats.blobs,
        "every blob is hashed or trusted"
    );
}

/// `oci-audit completions bash`, loaded into a real bash, completes a flag and a
/// subcommand; every other shell gets a script too.
#[test]
fn the_bash_completion_completes_flags_and_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("no-verify"), "{shell}");
    }
    let Some(bash) = crate::support::registry::program("bash") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("oci-audit.bash");
    fs::write(&script, run(&["completions", "bash"]).stdout).unwrap();
    // As bash calls a completion function: the command, the word, the word before.
    let complete = |words: &str| {
        let program = format!(
            r#"source {script}
function=$(complete -p oci-audit | sed -n 's/.*-F \([^ ]*\).*/\1/p')
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="{words}"; COMP_POINT=${{#COMP_LINE}}
"$function" oci-audit "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
            script = script.display()
        );
        let out = std::process::Command::new(&bash)
            .args(["--norc", "-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("oci-audit --no-v").trim(), "--no-verify");
    assert!(complete("oci-audit me").lines().any(|l| l == "merge"));
}

/// `oci-audit man` is a page `man -l` renders, naming the tool and its flags.
#[test]
fn the_man_page_renders() {
    let out = run(&["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(".ie") || out.stdout.contains(".TH oci-audit 1"));
    let Some(man) = crate::support::registry::program("man") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("oci-audit.1");
    fs::write(&page, &out.stdout).unwrap();
    let rendered = std::process::Command::new(man)
        .args(["-l", page.to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = String::from_utf8_lossy(&rendered.stdout);
    for expected in ["oci-audit", "--no-verify", "--fail-on", "merge"] {
        assert!(
            text.contains(expected),
            "{expected} not in the rendered page:\n{text}"
        );
    }
}

/// Options that mean nothing alone, and numbers out of range, are refused in words a
/// person understands (exit 2), not taken silently or mistaken for a path.
#[test]
fn options_that_need_another_or_a_number_in_range_say_so() {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"layer");
    layout.index_json(&[(&manifest, size, "latest")]);
    let refused = |args: &[&str], says: &[&str]| {
        let mut all = args.to_vec();
        all.push(layout.arg());
        let out = run(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stdout);
        for word in says {
            assert!(out.stderr.contains(word), "{args:?}: {}", out.stderr);
        }
        assert!(!out.stderr.contains("'-- -"), "{args:?}: {}", out.stderr);
    };
    refused(&["--threads", "-1"], &["-1", "0..=1024"]);
    refused(&["--io-concurrency", "-3"], &["-3", "1..=1024"]);
    refused(&["--io-retries", "-1"], &["-1", "0..=100"]);
    refused(&["--hash-budget", "1GiB"], &["--state"]);
    refused(&["--reverify-after", "7d"], &["--state"]);
    refused(&["--fail-on-new"], &["--baseline", "--state"]);
    let merge = run(&["merge", "--fail-on-new", "part.json"]);
    assert_eq!(merge.code, 2);
    assert!(merge.stderr.contains("--baseline"), "{}", merge.stderr);
    // With what they need, they run.
    let ledger = tempfile::tempdir().unwrap();
    let state = ledger.path().join("ledger.db");
    let out = run(&[
        "--state",
        state.to_str().unwrap(),
        "--reverify-after",
        "7d",
        "--hash-budget",
        "1GiB",
        "--fail-on-new",
        layout.arg(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A ledger in a directory that does not exist is named as the user gave it, with the
/// directory missing; not as the lock file beside it, which the user never named.
#[test]
fn a_ledger_in_a_missing_directory_names_the_directory() {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"layer");
    layout.index_json(&[(&manifest, size, "latest")]);
    let outside = tempfile::tempdir().unwrap();
    let state = outside.path().join("missing/ledger.db");
    let out = run(&["--state", state.to_str().unwrap(), layout.arg()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("ledger.db"), "{}", out.stderr);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(!out.stderr.contains(".lock"), "{}", out.stderr);
}

/// `--help` says what can be audited (archives, `-`, zot roots), and `merge --help` names
/// no option merge does not take.
#[test]
fn help_names_every_kind_of_input_and_merge_help_no_foreign_option() {
    let help = run(&["--help"]).stdout;
    for word in ["image archive", "standard input", "zot", "s3://"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
    let merge = run(&["merge", "--help"]).stdout;
    assert!(merge.contains("--baseline"));
    assert!(!merge.contains("--state"), "{merge}");
}

/// `--version` names the commit the binary was built from.
#[test]
fn the_version_names_the_commit() {
    let out = run(&["--version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("oci-audit "), "{}", out.stdout);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(head) => assert!(
            out.stdout.contains(&format!("(commit {head})")),
            "{}",
            out.stdout
        ),
        None => assert!(out.stdout.contains("(commit unknown)"), "{}", out.stdout),
    }
}

/// Several paths (a shell glob) are refused in words that say what to do instead, not as
/// a subcommand clap could not find.
#[test]
fn several_paths_are_refused_with_what_to_do_instead() {
    let one = Layout::new();
    let two = Layout::new();
    let out = run(&[one.arg(), two.arg()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("one PATH at a time"), "{}", out.stderr);
    assert!(out.stderr.contains("2 were given"), "{}", out.stderr);
    assert!(!out.stderr.contains("subcommand"), "{}", out.stderr);
}

/// A registry nothing has been pushed to yet, named by its config, is an empty registry:
/// clean (exit 0), not "no store found".
#[test]
fn an_empty_registry_named_by_its_config_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    fs::create_dir(&root).unwrap();
    let config = dir.path().join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            root.display()
        ),
    )
    .unwrap();
    let out = run(&[
        "--format",
        "json",
        "--registry-config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["store"]["kind"], "distribution");
    assert_eq!(report["stats"]["blobs"], 0);
    assert!(report["findings"].as_array().unwrap().is_empty());
    // A rootdirectory that holds something but no registry (a wrong directory, say) is
    // searched as any path is: no store there, exit 2.
    fs::write(root.join("notes.txt"), "not a registry").unwrap();
    let out = run(&["--registry-config", config.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("no store found"), "{}", out.stderr);
}

/// `oci-audit -q --format json merge …`: flags written before a subcommand are read after
/// it (issue 32); a store that is a directory named like a subcommand is still audited.
#[test]
fn flags_before_a_subcommand_are_read_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::support::repo().join("corpus/layout/descriptor-size-mismatch/store");
    let files = crate::shard::shards_of(store.to_str().unwrap(), &[], &[], 2, dir.path());
    let (a, b) = (files[0].to_str().unwrap(), files[1].to_str().unwrap());
    let after = run(&["merge", a, b, "--format", "json"]);
    let before = run(&["-q", "--format", "json", "merge", a, b]);
    assert_eq!((before.code, after.code), (1, 1), "{}", before.stderr);
    assert_eq!(normalize(&before.stdout), normalize(&after.stdout));
    // A directory called merge, named as PATH, is audited.
    let named = dir.path().join("merge");
    crate::support::copy_tree(&store, &named);
    let out = std::process::Command::new(binary())
        .current_dir(dir.path())
        .args(["-q", "merge"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--reclaimable summary|full|none` (issue 32): several registry roots are a line each in
/// summary and a table each in full; one root's table is cut to the repositories that
/// reclaim the most, the rest counted; none shows nothing. JSON keeps every row.
#[test]
fn reclaimable_tables_are_summarised_like_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let registry = repo().join("corpus/distribution/registry-2.8/store");
    for root in ["east", "west"] {
        copy_tree(&registry, &dir.path().join("multi").join(root));
    }
    let multi = dir.path().join("multi");
    let text = |args: &[&str], path: &std::path::Path| {
        let mut all = vec!["--coverage", "none"];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        run(&all).stdout
    };
    let summary = text(&[], &multi);
    assert!(summary.contains("per store"), "{summary}");
    assert!(
        summary.contains("  east/docker/registry/v2  764 B in 3 blobs"),
        "{summary}"
    );
    assert!(!summary.contains("manifests  tags  layers"), "{summary}");
    let full = text(&["--reclaimable", "full"], &multi);
    assert_eq!(full.matches("manifests  tags  layers").count(), 2, "{full}");
    // One root of 12 repositories: the 10 that reclaim the most, and the count of the rest.
    let one = dir.path().join("one");
    copy_tree(&registry, &one);
    let repositories = one.join("docker/registry/v2/repositories");
    for n in 0..7 {
        copy_tree(
            &repositories.join("library/gone"),
            &repositories.join(format!("gone-{n}")),
        );
    }
    let summary = text(&[], &one);
    assert!(
        summary.contains("… 2 more repositories (--reclaimable full lists each)"),
        "{summary}"
    );
    assert!(
        summary.contains("  gone-6 "),
        "the largest are shown: {summary}"
    );
    let full = text(&["--reclaimable", "full"], &one);
    assert!(
        full.contains("  team/web/app ") && !full.contains("more repositories"),
        "{full}"
    );
    let none = text(&["--reclaimable", "none"], &one);
    assert!(!none.contains("garbage-collect would reclaim"), "{none}");
    let json = run(&["--format", "json", one.to_str().unwrap()]).stdout;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["reclaimable"].as_array().unwrap().len(), 12);
}

/// Layouts and zot roots have reclaimable rows like Distribution roots (issue 32): one per
/// layout or zot repository, `_blobstore` apart; each row's bytes are those of its
/// `blob-unreferenced` findings; `--untagged` collects what only untagged `index.json`
/// entries reach (zot's default retention); the metrics carry every row; the text names
/// each store's collector and shows a layout's table only when it has something to reclaim.
#[test]
fn layouts_and_zot_roots_have_reclaimable_rows() {
    let dir = tempfile::tempdir().unwrap();
    // A layout whose v0 entry lost its tag, and a zot root whose library/app:1.0 did.
    let layout = dir.path().join("layout");
    copy_tree(&repo().join("corpus/clean/skopeo-copy/store"), &layout);
    untag(&layout.join("index.json"), "v0");
    let zot = dir.path().join("zot");
    copy_tree(&repo().join("corpus/zot/clean-local/store"), &zot);
    untag(&zot.join("library/app/index.json"), "1.0");
    let audit = |args: &[&str], path: &std::path::Path| {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        let out = run(&all);
        assert!(out.code == 0 || out.code == 1, "{out:?}");
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    // Each store's rows add up to its total and to its blob-unreferenced findings.
    let check = |report: &serde_json::Value| -> u64 {
        let rows = report["reclaimable"].as_array().unwrap();
        let rows_bytes: u64 = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
        let findings_bytes: u64 = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "blob-unreferenced")
            .map(|f| f["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(rows_bytes, findings_bytes, "{report:#}");
        assert_eq!(
            report["reclaimable_total"]["bytes"], rows_bytes,
            "{report:#}"
        );
        rows_bytes
    };
    let row = |report: &serde_json::Value, name: &str| {
        report["reclaimable"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["repository"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {report:#}"))
            .clone()
    };

    // Without --untagged an untagged entry is still a root: counted, nothing reclaimed.
    let plain = audit(&[], &layout);
    assert_eq!(check(&plain), 0);
    let own = row(&plain, ".");
    assert_eq!(
        (&own["manifests"], &own["tags"], &own["unused_manifests"]),
        (&2.into(), &1.into(), &1.into())
    );
    // With it, what only the untagged manifest reaches: itself and its config (v1 shares
    // its two layers).
    let untagged = audit(&["--untagged"], &layout);
    assert_eq!(check(&untagged), 499 + 719, "{untagged:#}");
    assert_eq!(untagged["reclaimable_total"]["untagged"], true);

    let zot_plain = audit(&[], &zot);
    assert_eq!(check(&zot_plain), 0);
    let names: Vec<&str> = zot_plain["reclaimable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["library/app", "team/web", "_blobstore"]);
    assert_eq!(row(&zot_plain, "library/app")["unused_manifests"], 1);
    let zot_untagged = audit(&["--untagged"], &zot);
    assert!(check(&zot_untagged) >= 400, "{zot_untagged:#}");
    assert!(row(&zot_untagged, "library/app")["bytes"].as_u64().unwrap() >= 400);

    // Text: each store's collector; a clean layout shows no table.
    let text = |args: &[&str], path: &std::path::Path| {
        let mut all = vec!["--coverage", "none"];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        run(&all).stdout
    };
    assert!(!text(&[], &layout).contains("would reclaim"));
    let out = text(&["--untagged"], &layout);
    assert!(
        out.contains("deleting what no tag in index.json keeps would reclaim 1.2 KiB in 2 blobs:"),
        "{out}"
    );
    let out = text(&[], &zot);
    assert!(
        out.contains("zot's garbage collection would reclaim 0 B in 0 blobs:"),
        "{out}"
    );
    assert!(out.contains("  _blobstore "), "{out}");

    // Metrics: a row per layout and zot repository, labelled with the store's root.
    let metrics = dir.path().join("metrics.prom");
    let out = run(&[
        "--untagged",
        "--metrics-file",
        metrics.to_str().unwrap(),
        zot.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let prom = fs::read_to_string(&metrics).unwrap();
    for repository in ["library/app", "team/web", "_blobstore"] {
        assert!(
            prom.lines()
                .any(|l| l.starts_with("oci_audit_reclaimable_bytes{")
                    && l.contains(&format!("repository=\"{repository}\""))),
            "{repository}:\n{prom}"
        );
    }
}

/// Removes the `ref.name` of the `index.json` entry tagged `tag`.
fn untag(index_json: &std::path::Path, tag: &str) {
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(index_json).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    entry.as_object_mut().unwrap().remove("annotations");
    fs::write(index_json, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The supply-chain contract (issue 31): `supply_chain` {`summary`, `tags[]`,
/// `orphans[]`}, each row {`repository`, `tag`, `digest`, `signatures[]`, `sboms[]`,
/// `provenance[]`, `other[]`}, each entry {`digest`, `artifact_type`, `format`}; the
/// per-store summary; `--referrers` in text; `--require` failing the run.
#[test]
fn supply_chain_json_contract() {
    let case = repo().join("corpus/referrers/clean-referrers/store");
    let case = case.to_str().unwrap();
    let report = json(&[case, "--format", "json"]);
    let chain = &report.supply_chain;
    let summary = JsonSupplyChainSummary {
        tags: 3,
        signed: 1,
        signed_by_format: [("cosign".to_owned(), 1), ("notation".to_owned(), 1)].into(),
        with_sbom: 2,
        with_provenance: 2,
        with_other: 0,
        referrers: 5,
        orphans: 0,
        orphan_bytes: 0,
    };
    assert_eq!(chain.summary, summary);
    assert_eq!(report.store.stores[0].supply_chain, summary);
    let tags: Vec<(&str, &str)> = chain
        .tags
        .iter()
        .map(|t| (t.repository.as_str(), t.tag.as_str()))
        .collect();
    assert_eq!(tags, [(".", "v1"), (".", "v2"), (".", "v3")]);
    let formats = |entries: &[JsonReferrer]| -> Vec<String> {
        entries.iter().map(|e| e.format.clone()).collect()
    };
    let v1 = &chain.tags[0];
    assert_eq!(formats(&v1.signatures), ["cosign", "notation"]);
    assert_eq!(formats(&v1.sboms), ["spdx"]);
    assert_eq!(formats(&v1.provenance), ["slsa"]);
    let notation = v1
        .signatures
        .iter()
        .find(|e| e.format == "notation")
        .unwrap();
    assert_eq!(
        notation.artifact_type.as_deref(),
        Some("application/vnd.cncf.notary.signature")
    );
    assert_eq!(
        v1.sboms[0].artifact_type.as_deref(),
        Some("application/spdx+json")
    );
    // BuildKit's attestation refers to v2's amd64 manifest, which the row names.
    let v2 = &chain.tags[1];
    assert_eq!(
        (formats(&v2.sboms), formats(&v2.provenance)),
        (vec!["spdx".to_owned()], vec!["slsa".to_owned()])
    );
    assert!(v2.sboms[0].subject.is_some() && v2.signatures.is_empty());
    assert!(chain.tags[2].signatures.is_empty() && chain.orphans.is_empty());
    // Referrer tags are in the view, not in the platform coverage.
    let roots: Vec<&str> = report.coverage.iter().map(|c| c.root.as_str()).collect();
    assert_eq!(roots, ["v1", "v2", "v3"]);

    let text = run(&[case, "--referrers", "full", "--coverage", "none"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains(
            "supply chain: 1 of 3 tags signed (cosign 1, notation 1), 2 with an SBOM, 2 with provenance\n  v1  signed (cosign, notation); sbom (spdx); provenance (slsa)\n  v2  sbom (spdx); provenance (slsa)\n  v3  nothing refers to it\n"
        ),
        "{}",
        text.stdout
    );
    let none = run(&[case, "--referrers", "none"]);
    assert!(!none.stdout.contains("supply chain"), "{}", none.stdout);
    // The gauges, per store found.
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("audit.prom");
    let out = run(&[case, "--metrics-file", metrics.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    let metrics = fs::read_to_string(metrics).unwrap();
    for (name, value) in [
        ("oci_audit_tags", 3),
        ("oci_audit_tags_signed", 1),
        ("oci_audit_tags_with_sbom", 2),
        ("oci_audit_tags_with_provenance", 2),
        ("oci_audit_referrers_orphaned", 0),
        ("oci_audit_referrers_orphaned_bytes", 0),
    ] {
        let line = format!("{name}{{store=\"{case}\",root=\"\"}} {value}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
    // --require fails the run on the tags that lack what it asks, and only then.
    let required = run(&[
        case,
        "--require",
        "signature,provenance",
        "--format",
        "json",
    ]);
    assert_eq!(required.code, 1, "{required:?}");
    let report: JsonReport = serde_json::from_str(&required.stdout).unwrap();
    let rules: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("tag-signature-missing", "tag v2 has no signature"),
            ("tag-provenance-missing", "tag v3 has no provenance"),
            ("tag-signature-missing", "tag v3 has no signature"),
        ]
    );
}
