//! containers-storage roots (issue 33) written by skopeo while the tests run: audited
//! while skopeo writes, without writing a byte or taking a lock.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::registry::program;
use crate::support::{WriteWatch, audit_json, repo, snapshot};

/// Copies layout `layout`:`tag` into the vfs store at `root` as `name`.
fn copy(root: &Path, layout: &str, tag: &str, name: &str) {
    let src = repo().join("corpus/clean").join(layout).join("store");
    let status = Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:{tag}", src.display()))
        .arg(format!(
            "containers-storage:[vfs@{}+{}]{name}",
            root.display(),
            root.with_extension("run").display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

/// An audit leaves a containers-storage root exactly as it was (content, size, mode,
/// mtime, atime, ctime of every file; its lock files untouched) with no inotify write
/// event, and finds it clean.
#[test]
fn an_audit_writes_nothing_to_a_containers_storage_root() {
    if program("skopeo").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    copy(&root, "skopeo-copy", "v1", "localhost/test/a:1");
    copy(&root, "skopeo-multiplatform", "multi", "localhost/test/b:1");
    let content = snapshot(&root, true);
    let facts = snapshot(&root, false);
    let watch = WriteWatch::new(&root);
    let (code, report) = audit_json(&root, &["--fail-on", "info"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["store"]["kind"], "containers-storage");
    assert_eq!(report["stats"]["repositories"], 2);
    let events = watch.events();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(snapshot(&root, false), facts);
    assert_eq!(snapshot(&root, true), content);
}

/// While skopeo copies images into the store (rewriting images.json and layers.json under
/// its locks), every audit finishes without waiting on a lock and finds no error.
#[test]
fn an_audit_while_skopeo_writes_finds_no_error() {
    if program("skopeo").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    copy(&root, "skopeo-copy", "v1", "localhost/test/a:1");
    let done = AtomicBool::new(false);
    let copied = AtomicUsize::new(0);
    let (audits, copies) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let n = copied.load(Ordering::Relaxed);
                copy(
                    &root,
                    "skopeo-multiplatform",
                    "multi",
                    &format!("localhost/test/b:{n}"),
                );
                copied.fetch_add(1, Ordering::Relaxed);
            }
            copied.load(Ordering::Relaxed)
        });
        // Audits one after another until skopeo has copied three times; collected, then
        // judged once the writer has stopped (a failed assertion inside the scope would
        // leave it writing forever).
        let mut audits = Vec::new();
        while copied.load(Ordering::Relaxed) < 3 && audits.len() < 2000 {
            audits.push(audit_json(&root, &["--settle", "1s", "--fail-on", "error"]));
        }
        done.store(true, Ordering::Relaxed);
        (audits, writer.join().unwrap())
    });
    assert!(copies >= 3, "skopeo wrote too little during the audits");
    assert!(audits.len() > 3, "too few audits ran while skopeo wrote");
    for (code, report) in audits {
        assert_eq!(code, 0, "{report:#}");
    }
}

/// The error paths of the committed corpus do not show: a tar-split that is not gzip,
/// and a missing layers.json (then nothing about layers is claimed).
#[test]
fn an_undecodable_tar_split_and_a_missing_layers_json_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    crate::support::copy_tree(&repo().join("corpus/containers-storage/clean/store"), &root);
    let layers = root.join("vfs-layers");
    let tar_split = std::fs::read_dir(&layers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar-split.gz"))
        .unwrap();
    std::fs::write(&tar_split, b"not gzip").unwrap();
    let (code, report) = audit_json(&root, &[]);
    assert_eq!(code, 1, "{report:#}");
    let found: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "containers-storage-tar-split-missing");
    assert!(found[0].1.contains("does not decode"), "{found:?}");

    std::fs::remove_file(layers.join("layers.json")).unwrap();
    let (code, report) = audit_json(&root, &[]);
    assert_eq!(code, 1, "{report:#}");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["containers-storage-metadata-unreadable"]);
}
