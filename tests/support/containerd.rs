//! Debian's containerd on a root, state directory and socket of its own (a temporary
//! directory), imported into with `ctr images import --snapshotter native` from archives
//! skopeo makes of the committed layouts (no network); stopped by its PID when dropped.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::registry::program;
use super::repo;

/// Garbage collection only when a test asks (`Containerd::collect`): left to its
/// scheduler, a deletion is collected at once or later, a race for a test that compares.
/// (No threshold triggers it, the first collection waits an hour, and the pause between
/// collections is 100,000 times the last one's length; a `--sync` deletion still runs
/// one at once.)
const GC_ON_DEMAND: &str = "[plugins.\"io.containerd.gc.v1.scheduler\"]\n  deletion_threshold = 0\n  mutation_threshold = 1000000\n  pause_threshold = 0.00001\n  startup_delay = \"1h\"\n";

/// One containerd, killed when dropped.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    /// Its root (`/var/lib/containerd` on a node).
    pub root: PathBuf,
    sock: PathBuf,
    child: Option<Child>,
}

/// The layouts the tests import: image a:1 (three layers) and a three-platform index.
pub const A: &str = "docker.io/test/a:1";
pub const MULTI: &str = "docker.io/test/multi:2";

impl Containerd {
    /// Starts containerd, or `None` (skip) without containerd, ctr and skopeo.
    pub fn start() -> Option<Containerd> {
        let containerd = program("containerd")?;
        program("ctr")?;
        program("skopeo")?;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let sock = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n[grpc]\n  address = \"{}\"\n{GC_ON_DEMAND}",
                root.display(),
                dir.path().join("state").display(),
                sock.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new(containerd)
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let containerd = Containerd {
            dir,
            root,
            sock,
            child: Some(child),
        };
        for _ in 0..200 {
            if containerd.sock.exists()
                && containerd.try_ctr("default", &["version"]).status.success()
            {
                containerd.make_archives();
                return Some(containerd);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("containerd did not start: {}", containerd.log());
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn try_ctr(&self, namespace: &str, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("-a")
            .arg(&self.sock)
            .args(["-n", namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `ctr` in `namespace`; it must succeed.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Output {
        let out = self.try_ctr(namespace, args);
        assert!(out.status.success(), "ctr {args:?}: {out:?}");
        out
    }

    fn archive(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.tar", name.replace(['/', ':'], "_")))
    }

    fn make_archives(&self) {
        let clean = repo().join("corpus/clean");
        for (layout, tag, name, all) in [
            ("skopeo-copy", "v1", A, false),
            ("skopeo-multiplatform", "multi", MULTI, true),
        ] {
            let mut skopeo = Command::new("skopeo");
            skopeo.args(["copy", "-q"]);
            if all {
                skopeo.arg("--all");
            }
            let status = skopeo
                .arg(format!(
                    "oci:{}:{tag}",
                    clean.join(layout).join("store").display()
                ))
                .arg(format!(
                    "oci-archive:{}:{name}",
                    self.archive(name).display()
                ))
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// Imports image `name` (A or MULTI) into `namespace`, every platform.
    pub fn import(&self, namespace: &str, name: &str) {
        let archive = self.archive(name);
        self.ctr(
            namespace,
            &[
                "images",
                "import",
                "--all-platforms",
                "--snapshotter",
                "native",
                archive.to_str().unwrap(),
            ],
        );
    }

    /// Runs containerd's garbage collection now (a lease deleted with `--sync`).
    pub fn collect(&self) {
        let out = self.ctr("default", &["leases", "create"]);
        let lease = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned();
        self.ctr("default", &["leases", "delete", "--sync", &lease]);
    }

    /// The content store's blob files, by encoded digest.
    pub fn blobs(&self) -> BTreeSet<String> {
        let dir = self
            .root
            .join("io.containerd.content.v1.content/blobs/sha256");
        fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect()
    }

    /// Stops containerd (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(&child, "TERM");
            let _ = child.wait();
        }
    }

    /// Its root.
    pub fn path(&self) -> &Path {
        &self.root
    }
}

/// Sends `signal` to `child` with kill(1).
fn send_signal(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status();
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
