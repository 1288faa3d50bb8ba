//! zot roots (issue 17) beyond what committed stores can hold: hard links (git keeps
//! copies), upload ages (git keeps no mtimes), zot's temporary sync layouts, and how a
//! root is recognised.

use std::fs;
use std::path::Path;

use crate::support::{copy_tree, repo, rule_ids, run};

fn case(name: &str) -> std::path::PathBuf {
    repo().join("corpus/zot").join(name).join("store")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

/// Every blob file of `repository` that `_blobstore` also holds becomes a hard link to the
/// `_blobstore` copy, as zot's `LinkBlob` leaves it. Returns how many were linked.
fn relink(root: &Path, repository: &str) -> usize {
    let master = root.join("_blobstore/blobs/sha256");
    let blobs = root.join(repository).join("blobs/sha256");
    let mut linked = 0;
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let original = master.join(entry.file_name());
        if original.exists() {
            fs::remove_file(entry.path()).unwrap();
            fs::hard_link(&original, entry.path()).unwrap();
            linked += 1;
        }
    }
    linked
}

#[test]
fn hard_linked_copies_are_hashed_once_and_judged_by_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("zot");
    copy_tree(&case("clean-local"), &root);
    let arg = root.to_str().unwrap();
    let copies = json(&[arg, "--format", "json"]);
    let linked = relink(&root, "library/app") + relink(&root, "team/web");
    assert_eq!(linked, 6, "configs and layers of both repositories");
    let links = json(&[arg, "--format", "json"]);
    assert_eq!(links["findings"], serde_json::json!([]), "{links}");
    assert_eq!(links["stats"]["bytes"], copies["stats"]["bytes"]);
    let verified = |r: &serde_json::Value| r["stats"]["bytes_verified"].as_u64().unwrap();
    assert!(
        verified(&links) < verified(&copies),
        "hard links hashed once: {} against {} for copies",
        verified(&links),
        verified(&copies)
    );
    // Split over three shards with a plan: the names of one file go to one shard, which
    // reads it once, so the merged report is the unsharded one, bytes verified included.
    let parts = tempfile::tempdir().unwrap();
    let (plan, files) = crate::shard::planned_shards_of(arg, &[], &[], 3, parts.path());
    let merged = crate::shard::merge(
        &files,
        &["--format", "json", "--plan", plan.to_str().unwrap()],
    );
    assert_eq!(
        crate::support::normalize(&merged.stdout),
        crate::support::normalize(&run(&[arg, "--format", "json"]).stdout),
        "{}",
        merged.stderr
    );
    // One byte changed in place in the master: the one file is corrupt under every name.
    let layer = crate::support::sha256(b"zot shared layer\n");
    let master = root.join("_blobstore/blobs/sha256").join(&layer[7..]);
    let mut bytes = fs::read(&master).unwrap();
    bytes[0] ^= 1;
    fs::OpenOptions::new()
        .write(true)
        .open(&master)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
        .unwrap();
    let broken = json(&[arg, "--format", "json"]);
    let mut paths: Vec<&str> = broken["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "blob-digest-mismatch")
        .map(|f| f["location"]["path"].as_str().unwrap())
        .collect();
    paths.sort();
    let hex = &layer[7..];
    assert_eq!(
        paths,
        [
            format!("_blobstore/blobs/sha256/{hex}"),
            format!("library/app/blobs/sha256/{hex}"),
            format!("team/web/blobs/sha256/{hex}"),
        ]
    );
}

#[test]
fn a_stale_upload_is_reported_and_a_fresh_one_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("zot");
    copy_tree(&case("clean-local"), &root);
    let upload = fs::read_dir(root.join("library/app/.uploads"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(&upload)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let report = json(&[root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["stats"]["uploads"], 2);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["rule"], "registry-upload-stale");
    assert_eq!(findings[0]["found"], "last written 2020-09-13T12:26:40Z");
}

#[test]
fn zot_files_and_sync_layouts_are_neither_findings_nor_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("zot");
    copy_tree(&case("clean-local"), &root);
    // A sync in progress: a temporary, half-written layout under the repository.
    let sync = root.join("library/app/.sync/0f0e-uuid/library/app");
    fs::create_dir_all(sync.join("blobs/sha256")).unwrap();
    fs::write(
        sync.join("oci-layout"),
        b"{\"imageLayoutVersion\":\"1.0.0\"}",
    )
    .unwrap();
    fs::write(
        sync.join("index.json"),
        b"{\"schemaVersion\":2,\"manifests\":[",
    )
    .unwrap();
    fs::create_dir_all(root.join("_trivy/db")).unwrap();
    fs::write(root.join("_trivy/db/trivy.db"), b"not a layout").unwrap();
    let report = json(&[root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["store"]["kind"], "zot");
    assert_eq!(report["stats"]["repositories"], 2);
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
}

#[test]
fn a_root_is_recognised_by_uploads_directories_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("zot");
    copy_tree(&case("clean-legacy-local"), &root);
    for own in ["cache.db", "meta.db"] {
        fs::remove_file(root.join(own)).unwrap();
    }
    fs::remove_dir_all(root.join("_trivy")).unwrap();
    let report = json(&[root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["store"]["kind"], "zot");
    assert_eq!(report["store"]["stores"][0]["kind"], "zot");
    assert_eq!(report["stats"]["uploads"], 2);
}

#[test]
fn a_marker_outside_a_zot_root_stays_a_size_mismatch() {
    // Released zot's bucket shape, audited without --zot: nothing says zot, so a 0-byte
    // blob is judged like any other (and a 0-byte config does not parse).
    let out = run(&[
        case("clean-legacy-remote").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["store"]["kind"], "oci-layouts");
    assert_eq!(
        rule_ids(&out.stdout),
        [
            "blob-digest-mismatch",
            "descriptor-size-mismatch",
            "document-json-invalid"
        ]
    );
}

/// A config a repository reads from `_blobstore` is hashed there once, as a document: a
/// flipped byte in it is one `blob-digest-mismatch` at its `_blobstore` key (the verify
/// phase, which no longer hashes it again, adds none), and the run fails.
#[test]
fn a_corrupt_blobstore_document_read_through_a_repository_is_one_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    copy_tree(&repo().join("corpus/zot/clean-remote/store"), &root);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("library/app/index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest_hex = manifest.strip_prefix("sha256:").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(root.join("library/app/blobs/sha256").join(manifest_hex)).unwrap(),
    )
    .unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let config_hex = config.strip_prefix("sha256:").unwrap();
    let config_path = root.join("_blobstore/blobs/sha256").join(config_hex);
    let mut bytes = fs::read(&config_path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    fs::write(&config_path, bytes).unwrap();

    let out = run(&["--format", "json", root.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mismatches: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "blob-digest-mismatch")
        .collect();
    assert_eq!(mismatches.len(), 1, "{:#}", report["findings"]);
    assert_eq!(
        mismatches[0]["location"]["path"],
        format!("_blobstore/blobs/sha256/{config_hex}")
    );
}

/// A clean zot root verifies exactly the bytes it holds (issue 32): a document shared
/// through `_blobstore` or a first pusher's copy is counted once, where it lives, however
/// many repositories read it.
#[test]
fn a_clean_zot_root_verifies_the_bytes_it_holds() {
    for case in [
        "clean-local",
        "clean-remote",
        "clean-legacy-local",
        "clean-legacy-remote",
    ] {
        let dir = crate::support::repo().join("corpus/zot").join(case);
        let toml = std::fs::read_to_string(dir.join("case.toml")).unwrap();
        let mut args = vec!["--format", "json"];
        if toml.contains("zot = true") {
            args.push("--zot");
        }
        let store = dir.join("store");
        args.push(store.to_str().unwrap());
        let out = crate::support::run(&args);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            report["stats"]["bytes_verified"], report["stats"]["bytes"],
            "{case}: {}",
            report["stats"]
        );
    }
}
