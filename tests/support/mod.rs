//! Shared test helpers: running the binary, building temporary layouts, snapshotting a tree.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_audit::hash::digest_bytes;

pub mod auth;
pub mod containerd;
pub mod exporter;
pub mod proxy;
pub mod referrers;
pub mod registry;
use oci_audit::model::digest::Algorithm;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The oci-audit binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_oci-audit")
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `oci-audit` with `args`, killing it if it takes longer than 60 s (a FIFO that
/// blocks the audit must fail the test, not hang it). The pipes are drained by a waiting
/// thread, so output of any size cannot stall the child.
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// Audits `root` with `args`, as JSON: the exit code (0 or 1, asserted) and the report.
pub fn audit_json(root: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    all.push(root.to_str().unwrap());
    let out = run(&all);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    (out.code, serde_json::from_str(&out.stdout).unwrap())
}

/// [`run`] with these environment variables set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    // Committed stores do not change under the audit: confirming a finding need not wait.
    // (tests/live.rs and the confirm tests exercise the settle time itself.)
    let child = Command::new(binary())
        .env("OCI_AUDIT_SETTLE", "0s")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oci-audit");
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    let out = match receive.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // SAFETY: sending SIGKILL to the child we spawned (it has not been reaped).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("oci-audit {args:?} did not finish within 60 s");
        }
    };
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Replaces the elapsed time, the only part of the output that varies between runs.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = if let Some(pos) = line.find("\"elapsed_ms\": ") {
            format!("{}\"elapsed_ms\": 0", &line[..pos])
        } else if let Some(pos) = line.rfind(" · ").filter(|_| line.ends_with(" s")) {
            format!("{} · [elapsed]", &line[..pos])
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// sha256 digest string of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    digest_bytes(&Algorithm::Sha256, bytes).unwrap().to_string()
}

/// Builds OCI layouts in a temporary directory, a few lines per test.
pub struct Layout {
    pub dir: tempfile::TempDir,
}

impl Layout {
    /// An empty valid layout: oci-layout, blobs/sha256, and no index.json yet.
    pub fn new() -> Layout {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        Layout { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Writes a blob named by its sha256; returns (digest, size).
    pub fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let digest = sha256(bytes);
        let hex = digest.strip_prefix("sha256:").unwrap();
        fs::write(self.path().join("blobs/sha256").join(hex), bytes).unwrap();
        (digest, bytes.len())
    }

    /// Writes a blob under a chosen digest (possibly wrong).
    pub fn blob_named(&self, digest: &str, bytes: &[u8]) {
        let (alg, hex) = digest.split_once(':').unwrap();
        fs::create_dir_all(self.path().join("blobs").join(alg)).unwrap();
        fs::write(self.path().join("blobs").join(alg).join(hex), bytes).unwrap();
    }

    /// A config + one layer + manifest; returns the manifest's (digest, size).
    pub fn image(&self, arch: &str, layer: &[u8]) -> (String, usize) {
        let (layer_digest, layer_size) = self.blob(layer);
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        );
        let (config_digest, config_size) = self.blob(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
        );
        self.blob(manifest.as_bytes())
    }

    /// The on-disk length of the sha256 blob `digest`.
    pub fn size_of(&self, digest: &str) -> u64 {
        fs::metadata(self.path().join("blobs/sha256").join(&digest[7..]))
            .unwrap()
            .len()
    }

    /// Writes `index.json` verbatim.
    pub fn write_index(&self, json: &str) {
        fs::write(self.path().join("index.json"), json).unwrap();
    }

    /// Writes index.json listing manifests as (digest, size, ref name).
    pub fn index_json(&self, entries: &[(&str, usize, &str)]) {
        let manifests: Vec<String> = entries
            .iter()
            .map(|(digest, size, name)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"annotations":{{"org.opencontainers.image.ref.name":"{name}"}}}}"#
                )
            })
            .collect();
        self.write_index(&format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                manifests.join(",")
            ));
    }
}

/// Every fact about a tree a read-only audit must leave unchanged, per entry (symlinks
/// not followed): type, mode, size, mtime, atime, ctime; with `content`, also the sha256 of
/// each file (reading changes atimes, so take content snapshots apart from metadata ones).
pub fn snapshot(root: &Path, content: bool) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for path in std::iter::once(root.to_owned()).chain(walk(root)) {
        let m = fs::symlink_metadata(&path).unwrap();
        let fact = if content {
            if m.is_file() {
                sha256(&fs::read(&path).unwrap())
            } else if m.file_type().is_symlink() {
                fs::read_link(&path).unwrap().display().to_string()
            } else {
                String::new()
            }
        } else {
            format!(
                "mode={:o} size={} mtime={}.{} atime={}.{} ctime={}.{}",
                m.mode(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.atime(),
                m.atime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            )
        };
        out.insert(path.strip_prefix(root).unwrap().to_owned(), fact);
    }
    out
}

/// Every path under `root`, not following symlinks. Listed with `O_NOATIME`, like the
/// audit, so that taking a snapshot does not itself move directory access times.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in oci_audit::backend::local::list_dir(&dir).unwrap() {
            let path = dir
                .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&entry.name));
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Sets the atime of every regular file and directory (the root too) far before its
/// mtime, so that under `relatime` any read or listing without O_NOATIME would move it.
pub fn age_atimes(root: &Path) {
    use std::os::unix::ffi::OsStrExt;
    for path in std::iter::once(root.to_owned()).chain(walk(root)) {
        let m = fs::symlink_metadata(&path).unwrap();
        if !m.is_file() && !m.is_dir() {
            continue;
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        let times = [
            libc::timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
            libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
        ];
        // SAFETY: a valid NUL-terminated path and a two-element timespec array.
        let rc = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c_path.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        assert_eq!(rc, 0, "utimensat {}", path.display());
    }
}

/// The sorted, unique rule ids of a JSON report.
pub fn rule_ids(json: &str) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(json).expect("JSON output");
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// rclone with no configuration file, its remotes given by `config` (RCLONE_CONFIG_*
/// variables); panics with rclone's stderr when it fails.
pub fn rclone(config: &[(&str, String)], args: &[&str]) {
    let out = std::process::Command::new("rclone")
        .env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG", "/dev/null")
        .envs(config.iter().map(|(k, v)| (k, v)))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies a tree of directories and regular files.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The kernel's record of writes under a tree: every directory of `root` watched with
/// inotify for modification, attribute changes, creation, deletion and renames. What a
/// read-only audit must leave empty.
pub struct WriteWatch(inotify::Inotify);

impl WriteWatch {
    /// Watches `root` and every directory under it, as they are now.
    pub fn new(root: &Path) -> WriteWatch {
        use inotify::WatchMask;
        let inotify = inotify::Inotify::init().unwrap();
        let writes = WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO;
        let dirs =
            std::iter::once(root.to_owned()).chain(walk(root).into_iter().filter(|p| p.is_dir()));
        for dir in dirs {
            inotify.watches().add(&dir, writes).unwrap();
        }
        WriteWatch(inotify)
    }

    /// The events since the watch began, one line each.
    pub fn events(mut self) -> Vec<String> {
        let mut buffer = [0u8; 4096];
        match self.0.read_events(&mut buffer) {
            Ok(events) => events
                .map(|e| format!("{:?} {:?}", e.mask, e.name))
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Vec::new(),
            Err(error) => panic!("{error}"),
        }
    }
}

/// Audits `root` (as [`audit_json`]) and asserts it wrote nothing: no inotify write
/// event under it while the audit ran, and every entry's facts and every file's content
/// as they were before.
pub fn audit_writing_nothing(root: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let content = snapshot(root, true);
    let facts = snapshot(root, false);
    let watch = WriteWatch::new(root);
    let audited = audit_json(root, args);
    let events = watch.events();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(snapshot(root, false), facts);
    assert_eq!(snapshot(root, true), content);
    audited
}
