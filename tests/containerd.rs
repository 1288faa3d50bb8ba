//! containerd roots (issue 33) written by a real containerd while the tests run: audited
//! while containerd imports and deletes, without writing a byte; and what the audit calls
//! reclaimable is what containerd's own garbage collection then deletes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::containerd::{A, Containerd, MULTI};
use crate::support::{audit_json, audit_writing_nothing};

fn rule_digests(report: &serde_json::Value, rule: &str) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| f["location"]["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// After an image is removed, the audit names as reclaimable exactly the blobs that
/// containerd's garbage collection deletes when it runs (a lease deleted with --sync).
#[test]
fn containerd_deletes_what_the_audit_calls_reclaimable() {
    let Some(containerd) = Containerd::start() else {
        return;
    };
    containerd.import("default", A);
    containerd.import("default", MULTI);
    containerd.import("other", A);
    containerd.collect();
    let (code, clean) = audit_json(containerd.path(), &[]);
    assert_eq!(code, 0, "{clean:#}");
    assert_eq!(clean["store"]["kind"], "containerd");
    assert!(
        rule_digests(&clean, "blob-unreferenced").is_empty(),
        "{clean:#}"
    );

    // Removing the index (not synchronously) leaves its content to the collector; a:1 in
    // namespace other keeps the blobs it shares with default's a:1.
    containerd.ctr("default", &["images", "rm", MULTI]);
    containerd.ctr("default", &["images", "rm", A]);
    let (_, report) = audit_json(containerd.path(), &[]);
    let reclaimable = rule_digests(&report, "blob-unreferenced");
    assert_eq!(
        reclaimable.len(),
        10,
        "the index, 3 manifests, 3 configs, 3 layers: {report:#}"
    );
    let total = &report["reclaimable_total"];
    assert_eq!(total["blobs"], 10);
    let before = containerd.blobs();
    containerd.collect();
    let deleted: BTreeSet<String> = before.difference(&containerd.blobs()).cloned().collect();
    assert_eq!(deleted, reclaimable);
}

/// While containerd imports into and deletes from a namespace of its own, every audit
/// finishes (containerd's lock is not waited for) and finds no error: what a concurrent
/// write can cause is re-checked after --settle.
#[test]
fn an_audit_while_containerd_imports_and_deletes_finds_no_error() {
    let Some(containerd) = Containerd::start() else {
        return;
    };
    containerd.import("default", A);
    containerd.import("default", MULTI);
    let done = AtomicBool::new(false);
    let mut churned = 0;
    std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) {
                containerd.import("churn", MULTI);
                containerd.ctr("churn", &["images", "rm", "--sync", MULTI]);
                rounds += 1;
            }
            rounds
        });
        for _ in 0..5 {
            let (code, report) =
                audit_json(containerd.path(), &["--settle", "1s", "--fail-on", "error"]);
            assert_eq!(code, 0, "{report:#}");
            let namespaces: Vec<&str> = report["reclaimable"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["repository"].as_str().unwrap())
                .collect();
            assert!(namespaces.contains(&"default"), "{report:#}");
        }
        done.store(true, Ordering::Relaxed);
        churned = churn.join().unwrap();
    });
    assert!(churned > 0, "containerd imported nothing during the audits");
}

/// An audit leaves a containerd root exactly as it was (content, size, mode, mtime,
/// atime, ctime of every file) and no inotify event but reads: no lock file, no write.
/// containerd is stopped first, so that every event is the audit's.
#[test]
fn an_audit_writes_nothing_to_a_containerd_root() {
    let Some(mut containerd) = Containerd::start() else {
        return;
    };
    containerd.import("default", A);
    containerd.import("default", MULTI);
    containerd.stop();
    let root = containerd.path().to_owned();
    let (code, report) = audit_writing_nothing(&root, &[]);
    assert_eq!(code, 0, "{report:#}");
}

/// A layer containerd discarded once unpacked (no record, no file) is a fact of the store;
/// with --require-layers it is missing, as on any other store.
#[test]
fn discarded_layers_are_in_the_coverage_and_missing_only_with_require_layers() {
    const LAYER: &str = "sha256:89c700434e0bd1e5b4a0a230a875aafaa639c8c46696f062e0a650c3a3ae91e9";
    let root = crate::support::repo().join("corpus/containerd/layer-discarded/store");
    // Shown in coverage, as a fact of the store: for image a:1 in both namespaces, and
    // for no other image.
    let discarded = |report: &serde_json::Value| -> Vec<(String, Vec<String>)> {
        report["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let layers = c["discarded_layers"].as_array().unwrap();
                let layers = layers.iter().map(|l| l.as_str().unwrap().to_owned());
                (c["root"].as_str().unwrap().to_owned(), layers.collect())
            })
            .collect()
    };
    let (code, report) = audit_json(&root, &[]);
    assert_eq!(code, 0, "{report:#}");
    let shown = discarded(&report);
    assert_eq!(shown.len(), 3, "{shown:?}");
    for (image, layers) in &shown {
        let expected: &[&str] = if image == "docker.io/test/a:1" {
            &[LAYER]
        } else {
            &[]
        };
        assert_eq!(layers, expected, "{image}");
    }
    let (code, report) = audit_json(&root, &["--require-layers"]);
    assert_eq!(code, 1, "{report:#}");
    let missing = rule_digests(&report, "descriptor-blob-missing");
    assert_eq!(missing, BTreeSet::from([LAYER.to_owned()]));
    assert_eq!(discarded(&report), shown);
}

/// Without meta.db nothing is known of namespaces: containerd-metadata-unreadable, and no
/// blob is called reclaimable (the claim could be false); the blobs are still hashed.
#[test]
fn a_missing_meta_db_is_a_finding_and_claims_nothing_reclaimable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    crate::support::copy_tree(
        &crate::support::repo().join("corpus/containerd/clean/store"),
        &root,
    );
    std::fs::remove_file(root.join("io.containerd.metadata.v1.bolt/meta.db")).unwrap();
    let (code, report) = audit_json(&root, &[]);
    assert_eq!(code, 1, "{report:#}");
    let rules: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, BTreeSet::from(["containerd-metadata-unreadable"]));
    assert!(report.get("reclaimable").is_none(), "{report:#}");
    assert_eq!(report["stats"]["blobs"], report["stats"]["blobs_hashed"]);
}

/// `oci-audit /var/lib/containerd/io.containerd.content.v1.content`: the content store
/// alone is a containerd store whose blobs and ingests are audited, with what meta.db
/// would tell said under not_checked, and no claim of what is reclaimable.
#[test]
fn the_content_store_alone_is_audited_without_meta_db() {
    let content = |case: &str| {
        crate::support::repo()
            .join("corpus/containerd")
            .join(case)
            .join("store/io.containerd.content.v1.content")
    };
    let (code, report) = audit_json(&content("clean"), &["--fail-on", "info"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["store"]["kind"], "containerd");
    let not_checked = report["store"]["stores"][0]["not_checked"]
        .as_str()
        .unwrap();
    assert!(not_checked.contains("meta.db"), "{not_checked}");
    assert!(report.get("reclaimable").is_none(), "{report:#}");
    assert_eq!(report["stats"]["blobs"], report["stats"]["blobs_hashed"]);
    for (case, rule) in [
        ("blob-digest-mismatch", "blob-digest-mismatch"),
        ("ingest-stale", "containerd-ingest-stale"),
    ] {
        let (code, report) = audit_json(&content(case), &[]);
        let rules: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, [rule], "{case}");
        assert_eq!(code, i32::from(rule == "blob-digest-mismatch"), "{case}");
    }
}
