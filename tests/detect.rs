//! Store detection (issue 10, points 1–4): positive evidence only, stores at any depth,
//! several kinds side by side, a symlinked PATH, and no crossing into other file systems.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{Layout, copy_tree, repo, rule_ids, run};

fn valid_layout() -> Layout {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"a layer");
    layout.index_json(&[(&manifest, size, "v1")]);
    layout
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

/// The committed registry root (its `docker/registry/v2` below `store/`).
fn registry_root() -> std::path::PathBuf {
    repo().join("corpus/distribution/registry-2.8/store")
}

#[test]
fn a_directory_without_a_store_exits_2_and_says_what_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    // A Node.js package: index.json that is no image index, and even a blobs/ beside it.
    fs::write(
        dir.path().join("index.json"),
        br#"{"name":"left-pad","version":"1.3.0","main":"index.js"}"#,
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
    fs::create_dir_all(dir.path().join("docs/more")).unwrap();
    let out = run(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    for needle in [
        "no store found",
        "oci-layout",
        "docker/registry/v2",
        "no manifests array",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

#[test]
fn an_index_json_that_is_an_index_beside_blobs_is_a_layout_without_oci_layout() {
    let layout = valid_layout();
    fs::remove_file(layout.path().join("oci-layout")).unwrap();
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(rule_ids(&out.stdout), ["layout-marker-missing"]);
    // A wrong mediaType is a finding, not a reason to refuse the store (oc-mirror's
    // test-process-image-unsupported fixture has "mediaType": "broken").
    let index = fs::read_to_string(layout.path().join("index.json")).unwrap();
    layout.write_index(&index.replacen(
        "\"application/vnd.oci.image.index.v1+json\"",
        "\"broken\"",
        1,
    ));
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        rule_ids(&out.stdout),
        ["descriptor-media-type-invalid", "layout-marker-missing"]
    );
}

#[test]
fn a_repository_named_blobs_in_a_tree_of_layouts() {
    // zot: <root>/blobs is the layout of repository "blobs", beside repository "app".
    let root = tempfile::tempdir().unwrap();
    let blobs_repo = valid_layout();
    // The real fault inside repository "blobs": a layer whose bytes changed.
    let layer = crate::support::sha256(b"a layer");
    fs::write(
        blobs_repo.path().join("blobs/sha256").join(&layer[7..]),
        b"b layer",
    )
    .unwrap();
    copy_tree(blobs_repo.path(), &root.path().join("blobs"));
    copy_tree(valid_layout().path(), &root.path().join("app"));
    let report = json(&[root.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["store"]["kind"], "oci-layouts");
    assert_eq!(report["stats"]["layouts"], 2);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["rule"], "blob-digest-mismatch");
    assert_eq!(
        findings[0]["location"]["path"],
        format!("blobs/blobs/sha256/{}", &layer[7..])
    );
}

#[test]
fn distribution_roots_are_found_from_above_at_any_depth() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&registry_root(), &dir.path().join("east"));
    copy_tree(&registry_root(), &dir.path().join("west"));
    copy_tree(valid_layout().path(), &dir.path().join("mirror/app"));
    let alone = json(&[registry_root().to_str().unwrap(), "--format", "json"]);
    let alone_findings = alone["findings"].as_array().unwrap().len();
    // Pointed at …/docker and at …/docker/registry: the same audit, no shard directory
    // taken for a broken blob.
    for below in ["east/docker", "east/docker/registry"] {
        let report = json(&[dir.path().join(below).to_str().unwrap(), "--format", "json"]);
        assert_eq!(report["store"]["kind"], "distribution", "{below}");
        assert_eq!(report["findings"].as_array().unwrap().len(), alone_findings);
        assert!(!report.to_string().contains("blob-not-regular"), "{below}");
        assert_eq!(report["stats"]["blobs"], alone["stats"]["blobs"]);
    }
    // Two registries beside a tree holding a layout: each audited as what it is.
    let report = json(&[dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["store"]["kind"], "mixed");
    let stores: Vec<(String, String)> = report["store"]["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stores,
        [
            ("distribution", "east/docker/registry/v2"),
            ("oci-layout", "mirror/app"),
            ("distribution", "west/docker/registry/v2"),
        ]
        .map(|(k, p)| (k.to_owned(), p.to_owned()))
    );
    assert!(!report.to_string().contains("blob-not-regular"));
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        2 * alone_findings,
        "{report}"
    );
    assert_eq!(
        report["stats"]["repositories"],
        2 * alone["stats"]["repositories"].as_u64().unwrap()
    );
    let rows = report["reclaimable"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["store"] == "west/docker/registry/v2"));
    assert_eq!(
        report["reclaimable_total"]["bytes"],
        2 * alone["reclaimable_total"]["bytes"].as_u64().unwrap()
    );
    // Several roots: a line each in summary, a table each in full.
    let text = run(&[dir.path().to_str().unwrap()]).stdout;
    assert!(text.contains("\n  west/docker/registry/v2  "), "{text}");
    let full = run(&["--reclaimable", "full", dir.path().to_str().unwrap()]).stdout;
    assert!(
        full.contains("registry garbage-collect in west/docker/registry/v2 would reclaim"),
        "{full}"
    );
}

#[test]
fn path_may_be_a_symlink_to_a_store() {
    let layout = valid_layout();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("current");
    symlink(layout.path(), &link).unwrap();
    let out = run(&[link.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["store"]["kind"], "oci-layout");
    assert_eq!(report["store"]["path"], link.to_str().unwrap());
    let registry = links.path().join("registry");
    symlink(registry_root(), &registry).unwrap();
    let out = run(&[registry.to_str().unwrap()]);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
}

/// Mounts a tmpfs at `dir` (root only); `None` where this machine does not allow it.
fn mount_tmpfs(dir: &Path) -> Option<()> {
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(())
}

#[test]
fn the_search_stays_on_one_file_system_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(valid_layout().path(), &dir.path().join("here"));
    let mount = dir.path().join("mnt");
    fs::create_dir(&mount).unwrap();
    if mount_tmpfs(&mount).is_none() {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    copy_tree(valid_layout().path(), &mount.join("there"));
    let arg = dir.path().to_str().unwrap();
    let same = json(&[arg, "--format", "json"]);
    let crossed = json(&[arg, "--format", "json", "--cross-file-systems"]);
    let _ = std::process::Command::new("umount").arg(&mount).status();
    assert_eq!(same["stats"]["layouts"], 1, "{same}");
    assert_eq!(crossed["stats"]["layouts"], 2, "{crossed}");
}
