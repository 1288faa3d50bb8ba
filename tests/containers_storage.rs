//! containers-storage roots (issue 33) written by skopeo while the tests run: audited
//! while skopeo writes, without writing a byte or taking a lock.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::registry::program;
use crate::support::{audit_json, audit_writing_nothing, repo};

/// skopeo's name for image `name` in the `driver` store at `root` (its run root beside).
fn transport(root: &Path, driver: &str, name: &str) -> String {
    format!(
        "containers-storage:[{driver}@{}+{}]{name}",
        root.display(),
        root.with_extension("run").display()
    )
}

/// `skopeo copy` of layout `layout`:`tag` into the `driver` store at `root` as `name`.
fn skopeo_copy(root: &Path, driver: &str, layout: &str, tag: &str, name: &str) -> Output {
    let src = repo().join("corpus/clean").join(layout).join("store");
    Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:{tag}", src.display()))
        .arg(transport(root, driver, name))
        .output()
        .unwrap()
}

/// Copies layout `layout`:`tag` into the vfs store at `root` as `name`.
fn copy(root: &Path, layout: &str, tag: &str, name: &str) {
    let out = skopeo_copy(root, "vfs", layout, tag, name);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A vfs store in a new temporary directory (`storage` in it) holding image
/// localhost/test/a:1 (the layout skopeo-copy), copied by skopeo; `None` without skopeo.
fn store_of_a() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    program("skopeo")?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    copy(&root, "skopeo-copy", "v1", "localhost/test/a:1");
    Some((dir, root))
}

/// Deletes `name` from the vfs store at `root`, with its layers no other image uses.
fn delete(root: &Path, name: &str) {
    let status = Command::new("skopeo")
        .arg("delete")
        .arg(transport(root, "vfs", name))
        .status()
        .unwrap();
    assert!(status.success());
}

/// An audit leaves a containers-storage root exactly as it was (content, size, mode,
/// mtime, atime, ctime of every file; its lock files untouched) with no inotify write
/// event, and finds it clean; with `--verify-layers`, which reads every layer's files.
#[test]
fn an_audit_writes_nothing_to_a_containers_storage_root() {
    let Some((_dir, root)) = store_of_a() else {
        return;
    };
    copy(&root, "skopeo-multiplatform", "multi", "localhost/test/b:1");
    let (code, report) = audit_writing_nothing(&root, &["--fail-on", "info", "--verify-layers"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["store"]["kind"], "containers-storage");
    assert_eq!(report["stats"]["repositories"], 2);
}

/// While skopeo copies images into the store and deletes them again (rewriting
/// images.json and layers.json under its locks, unpacking and removing layers), every
/// audit, `--verify-layers` included, finishes without waiting on a lock and finds no
/// error: what a removal caught mid-way looks like is re-checked after `--settle`.
#[test]
fn an_audit_while_skopeo_writes_finds_no_error() {
    let Some((_dir, root)) = store_of_a() else {
        return;
    };
    let done = AtomicBool::new(false);
    let copied = AtomicUsize::new(0);
    let (audits, copies) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let n = copied.load(Ordering::Relaxed);
                let name = format!("localhost/test/b:{n}");
                copy(&root, "skopeo-multiplatform", "multi", &name);
                if n % 2 == 1 {
                    delete(&root, &name);
                }
                copied.fetch_add(1, Ordering::Relaxed);
            }
            copied.load(Ordering::Relaxed)
        });
        // Audits one after another until skopeo has copied four times (and deleted two of
        // those copies); collected, then
        // judged once the writer has stopped (a failed assertion inside the scope would
        // leave it writing forever).
        let mut audits = Vec::new();
        while copied.load(Ordering::Relaxed) < 4 && audits.len() < 2000 {
            audits.push(audit_json(
                &root,
                &["--settle", "1s", "--fail-on", "error", "--verify-layers"],
            ));
        }
        done.store(true, Ordering::Relaxed);
        (audits, writer.join().unwrap())
    });
    assert!(copies >= 4, "skopeo wrote too little during the audits");
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

/// The layer files of `root`'s vfs store: each layer's directory.
fn layer_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("vfs/dir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

/// `--verify-layers` on a fresh copy finds nothing, and still nothing once what a mount,
/// a container or a rootless ID mapping changes on disk has changed (directory and file
/// mtimes, modes, owners: what gives `podman system check` its false alarms,
/// podman#25101). Rewritten bytes are a modified layer naming the file, and a directory
/// swapped for a symlink to a copy of it outside the layer is not followed there.
#[test]
fn verify_layers_sees_file_contents_not_metadata_and_never_leaves_the_layer() {
    use std::os::unix::fs::PermissionsExt;
    let Some((dir, root)) = store_of_a() else {
        return;
    };
    let verify = |root: &Path| audit_json(root, &["--fail-on", "info", "--verify-layers"]);
    let (code, report) = verify(&root);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["store"]["stores"][0]["not_checked"].is_null(),
        "{report:#}"
    );
    assert!(report["stats"]["bytes_verified"].as_u64().unwrap() > 10_000);

    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for layer in layer_dirs(&root) {
        for entry in walk(&layer) {
            let file = std::fs::File::open(&entry).unwrap();
            file.set_modified(old).unwrap();
            if entry.is_file() {
                std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
                std::os::unix::fs::chown(&entry, Some(100_000), Some(100_000)).unwrap();
            }
        }
    }
    let (code, report) = verify(&root);
    assert_eq!(code, 0, "metadata is not content: {report:#}");

    // The base layer's etc/os-release rewritten at the same length. (vfs copies a layer's
    // parent into it: the copies in the layers above are no part of their diffs.)
    let layer = layer_dirs(&root)
        .into_iter()
        .find(|l| !l.join("app").exists())
        .unwrap();
    let path = layer.join("etc/os-release");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let (code, report) = verify(&root);
    assert_eq!(code, 1, "{report:#}");
    let findings = report["findings"].as_array().unwrap();
    let modified: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] == "containers-storage-layer-modified")
        .collect();
    assert_eq!(modified.len(), 1, "{report:#}");
    let message = modified[0]["message"].as_str().unwrap();
    assert!(message.contains("etc/os-release differs"), "{message}");
    assert!(
        modified[0]["expected"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_ne!(modified[0]["expected"], modified[0]["found"]);
    let id = layer.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        modified[0]["location"]["path"],
        format!("vfs-layers/{id}.tar-split.gz")
    );
    bytes[0] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(verify(&root).0, 0);

    // etc/ moved out of the layer, and an absolute symlink to it left in its place: read
    // there, the layer would re-assemble; resolved inside the layer, it is not there.
    let outside = dir.path().join("outside");
    std::fs::rename(layer.join("etc"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, layer.join("etc")).unwrap();
    let (code, report) = verify(&root);
    assert_eq!(
        code, 1,
        "a symlink was followed out of the layer: {report:#}"
    );
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("etc/os-release is missing"), "{message}");
}

/// Every directory and file below `dir`, not following symlinks.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            let mut inside: Vec<_> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            out.append(&mut inside);
        }
        i += 1;
    }
    out
}

/// Unmounts what containers-storage's overlay driver leaves mounted below `root` (it
/// bind-mounts its `overlay` directory onto itself) when the test ends, pass or fail.
struct OverlayMounts(std::path::PathBuf);

impl Drop for OverlayMounts {
    fn drop(&mut self) {
        let overlay = self.0.join("overlay");
        for _ in 0..4 {
            let unmounted = Command::new("umount")
                .arg(&overlay)
                .stderr(std::process::Stdio::null())
                .status();
            if !unmounted.is_ok_and(|s| s.success()) {
                break;
            }
        }
    }
}

/// The overlay driver, podman's default: layers are `overlay/<id>/diff`, each holding its
/// own files only. A fresh copy verifies clean; a rewritten file in a diff is found; a
/// layer kept for composefs is not verifiable.
/// (Needs the right to mount, as root has: skipped where skopeo cannot use overlay.)
#[test]
fn verify_layers_reads_the_overlay_drivers_diffs() {
    if program("skopeo").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let _mounts = OverlayMounts(root.clone());
    let copied = skopeo_copy(&root, "overlay", "skopeo-copy", "v1", "localhost/test/a:1");
    if !copied.status.success() {
        assert!(
            std::env::var_os("OCI_AUDIT_REQUIRE_TOOLS").is_none(),
            "skopeo cannot write an overlay store here: {}",
            String::from_utf8_lossy(&copied.stderr)
        );
        eprintln!("SKIPPED: skopeo cannot write an overlay store here");
        return;
    }
    let verify = || audit_json(&root, &["--fail-on", "info", "--verify-layers"]);
    let (code, report) = verify();
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["store"]["stores"][0]["not_checked"].is_null(),
        "{report:#}"
    );
    let diff = std::fs::read_dir(root.join("overlay"))
        .unwrap()
        .map(|e| e.unwrap().path().join("diff"))
        .find(|d| d.join("app/VERSION").is_file())
        .expect("the layer that adds app/VERSION");
    std::fs::write(diff.join("app/VERSION"), b"9.9.9\n").unwrap();
    let (code, report) = verify();
    assert_eq!(code, 1, "{report:#}");
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert_eq!(
        report["findings"][0]["rule"],
        "containers-storage-layer-modified"
    );
    assert!(message.contains("app/VERSION"), "{message}");
    // A layer kept for composefs holds its files under their digests, not their paths:
    // not verifiable here, and said so, rather than a layer whose every file is missing.
    std::fs::create_dir(diff.parent().unwrap().join("composefs-data")).unwrap();
    let (code, report) = verify();
    assert_eq!(code, 0, "{report:#}");
    let not_checked = report["store"]["stores"][0]["not_checked"]
        .as_str()
        .unwrap();
    assert!(
        not_checked.starts_with("1 layer with no diff-digest"),
        "{not_checked}"
    );
    assert!(not_checked.contains("composefs"), "{not_checked}");
}

/// A store written by Debian's podman: an image pulled, and a container created from it
/// (the step after which `podman system check` reports false damage, podman#25101). The
/// container's own read-write layer has neither tar-split nor diff digest, as
/// containers-storage makes it: no finding, and `--verify-layers` says it did not
/// re-assemble it.
#[test]
fn a_podman_container_layer_is_no_missing_tar_split_and_no_modified_layer() {
    if program("podman").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(root.with_extension("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let src = repo().join("corpus/clean/skopeo-copy/store");
    let image = podman(&["pull", "-q", &format!("oci:{}:v1", src.display())]);
    podman(&["create", "--name", "c1", &image]);
    let (code, report) = audit_json(&root, &["--fail-on", "info"]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = audit_json(&root, &["--fail-on", "info", "--verify-layers"]);
    assert_eq!(code, 0, "{report:#}");
    let not_checked = report["store"]["stores"][0]["not_checked"]
        .as_str()
        .unwrap();
    assert!(
        not_checked.starts_with("1 layer with no diff-digest"),
        "{not_checked}"
    );
    assert!(report["stats"]["bytes_verified"].as_u64().unwrap() > 9_000);
}

/// A fault made on a store: what it is, how it is made, the rule and the words it gives.
type Fault = (&'static str, fn(&Path), &'static str, &'static str);

/// `--verify-layers`'s error paths, each on a copy of the committed store that keeps its
/// unpacked layers: a file grown, a tar-split that is not gzip, a layer's directory gone,
/// and a recorded diff-digest that no longer matches while every file does. Each is one
/// finding, saying which.
#[test]
fn verify_layers_says_what_stops_a_layer_from_re_assembling() {
    const BASE: &str = "9bc1059c3a892d158ca23dc084b31a64709749524e3a366d1b46768663b0a69f";
    let committed = repo().join("corpus/containers-storage/layers-verified/store");
    let faults: [Fault; 4] = [
        (
            "a file grown",
            |root| {
                let path = root.join("vfs/dir").join(BASE).join("etc/motd");
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.push(b'\n');
                std::fs::write(path, bytes).unwrap();
            },
            "containers-storage-layer-modified",
            "etc/motd has 34 bytes, not 33",
        ),
        (
            "a tar-split that is not gzip",
            |root| {
                let path = root.join("vfs-layers").join(format!("{BASE}.tar-split.gz"));
                std::fs::write(path, b"not gzip").unwrap();
            },
            "containers-storage-tar-split-missing",
            "does not decode",
        ),
        (
            "a layer's directory gone",
            |root| std::fs::remove_dir_all(root.join("vfs/dir").join(BASE)).unwrap(),
            "containers-storage-layer-modified",
            "are gone",
        ),
        (
            "a diff-digest edited",
            |root| {
                let path = root.join("vfs-layers/layers.json");
                let mut layers: Vec<serde_json::Value> =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let base = layers.iter_mut().find(|l| l["id"] == BASE).unwrap();
                base["diff-digest"] = format!("sha256:{}", "0".repeat(64)).into();
                std::fs::write(path, serde_json::to_vec(&layers).unwrap()).unwrap();
            },
            "containers-storage-layer-modified",
            "every file matches its tar-split checksum",
        ),
    ];
    for (what, fault, rule, says) in faults {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        crate::support::copy_tree(&committed, &root);
        fault(&root);
        let (code, report) = audit_json(&root, &["--verify-layers"]);
        assert_eq!(code, 1, "{what}: {report:#}");
        // One finding at the layer (an edited diff-digest also breaks the image's chain
        // against its config: that one is at the config).
        let tar_split = format!("vfs-layers/{BASE}.tar-split.gz");
        let at_layer: Vec<&serde_json::Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["location"]["path"] == tar_split.as_str())
            .collect();
        assert_eq!(at_layer.len(), 1, "{what}: {report:#}");
        let finding = at_layer[0];
        assert_eq!(finding["rule"], rule, "{what}");
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
    }
}
