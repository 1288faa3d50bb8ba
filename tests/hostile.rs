//! Hostile and broken input (issue 5): a store changing under the audit, permission denied
//! for a user who is not root, device nodes and sockets, a huge "manifest", a closed
//! stdout. Each must end in findings or a documented exit code, never a crash or a hang,
//! and nothing in the tree may change.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Layout, binary, copy_tree, repo, rule_ids, run, sha256, snapshot};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs oci-audit as `nobody` when the tests run as root (CI does), so that permission
/// bits are enforced; as the current user otherwise.
fn run_unprivileged(args: &[&str]) -> std::process::Output {
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(binary());
        c
    } else {
        Command::new(binary())
    };
    command.args(args).output().expect("oci-audit runs")
}

/// A layout of `count` layers of `size` bytes each, referenced by one manifest.
fn layout_of_large_layers(count: usize, size: usize) -> (Layout, Vec<String>) {
    let layout = Layout::new();
    let mut layers = Vec::new();
    let mut descriptors = Vec::new();
    for i in 0..count {
        let content = vec![i as u8 + 1; size];
        let (digest, len) = layout.blob(&content);
        descriptors.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{digest}","size":{len}}}"#
        ));
        layers.push(digest);
    }
    let diff_ids: Vec<String> = layers.iter().map(|d| format!("\"{d}\"")).collect();
    let (config, config_len) = layout.blob(
        format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
            diff_ids.join(",")
        )
        .as_bytes(),
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_len}}},"layers":[{}]}}"#,
        descriptors.join(",")
    );
    let (digest, len) = layout.blob(manifest.as_bytes());
    layout.index_json(&[(&digest, len, "v1")]);
    (layout, layers)
}

fn blob_path(layout: &Layout, digest: &str) -> std::path::PathBuf {
    layout
        .path()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A registry garbage-collecting or rewriting beside the audit: while oci-audit runs, one
/// layer is truncated, one replaced by other content, one deleted. Whatever the timing,
/// the process must end with exit code 1 and a finding for each, never a signal.
#[test]
fn blobs_truncated_replaced_and_deleted_during_the_audit() {
    for delay_ms in [0, 5, 20, 60] {
        let (layout, layers) = layout_of_large_layers(6, 24 << 20);
        // Everything slow is done before the audit starts; the changes themselves take
        // microseconds.
        let other = layout.path().join("other");
        fs::write(&other, vec![0xa5u8; 24 << 20]).unwrap();
        let child = Command::new(binary())
            .args([layout.arg(), "--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let truncated = blob_path(&layout, &layers[5]);
        fs::File::options()
            .write(true)
            .open(&truncated)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let replaced = blob_path(&layout, &layers[4]);
        fs::rename(&other, &replaced).unwrap();
        let deleted = blob_path(&layout, &layers[3]);
        fs::remove_file(&deleted).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Later changes may land after the blob was verified: then there is nothing to
        // report, and the run must still end normally.
        if delay_ms > 0 {
            assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        for (path, what) in [
            (&truncated, "truncated"),
            (&replaced, "replaced"),
            (&deleted, "deleted"),
        ] {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(
                stdout.contains(name),
                "delay {delay_ms} ms: no finding for the {what} blob\n{stdout}"
            );
        }
    }
}

/// Permission denied, for a user who is not root: an unreadable blob, an unreadable
/// layout directory in a tree, an unreadable registry repository. Each is an io-error
/// naming its path; the audit goes on and nothing changes, although a user who may not
/// write is also what proves no write was tried.
#[test]
fn permission_denied_is_a_finding_and_nothing_is_written() {
    let top = tempfile::tempdir().unwrap();
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let tree = top.path().join("tree");
    copy_tree(&repo().join("corpus/clean/many-layouts/store"), &tree);
    let registry = top.path().join("registry");
    copy_tree(
        &repo().join("corpus/distribution/registry-2.8/store"),
        &registry,
    );
    let blob = fs::read_dir(tree.join("library/alpine/blobs/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(tree.join("team"), fs::Permissions::from_mode(0o000)).unwrap();
    let repository = registry.join("docker/registry/v2/repositories/team/web/app/_manifests");
    fs::set_permissions(&repository, fs::Permissions::from_mode(0o000)).unwrap();
    // Root can take a snapshot through mode 000; the child runs without that privilege.
    // Access times are left out: O_NOATIME is refused to a user who does not own the
    // files, so reads by `nobody` may move them, as any reader's would.
    let facts = || {
        (
            snapshot(&tree, true),
            without_atimes(snapshot(&tree, false)),
            snapshot(&registry, true),
            without_atimes(snapshot(&registry, false)),
        )
    };
    let before = is_root().then(facts);

    let out = run_unprivileged(&[tree.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let blob_name = blob.file_name().unwrap().to_str().unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("error[io-error]")
            && l.contains(blob_name)
            && l.contains("Permission denied")),
        "{stdout}"
    );
    assert!(
        stdout.contains("error[io-error] team: cannot read: Permission denied"),
        "{stdout}"
    );

    let out = run_unprivileged(&[registry.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(rule_ids(&json).contains(&"io-error".to_owned()), "{json}");
    assert!(json.contains("team/web/app/_manifests"), "{json}");

    // An unreadable root cannot be audited at all: exit 2, naming it.
    let root = top.path().join("closed");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_unprivileged(&[root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(root.to_str().unwrap()));

    if let Some(before) = before {
        assert!(before == facts(), "the tree changed");
    }
}

fn without_atimes(
    snapshot: std::collections::BTreeMap<std::path::PathBuf, String>,
) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    snapshot
        .into_iter()
        .map(|(path, fact)| {
            let kept: Vec<&str> = fact
                .split(' ')
                .filter(|field| !field.starts_with("atime="))
                .collect();
            (path, kept.join(" "))
        })
        .collect()
}

/// Device nodes and sockets where blobs belong: reported by type, never opened (opening a
/// device can have side effects). Device nodes need root to create.
#[test]
fn sockets_and_device_nodes_are_reported_never_opened() {
    let (layout, _) = layout_of_large_layers(1, 16);
    let socket_path = layout.path().join("blobs/sha256").join("a".repeat(64));
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let mut expected = vec![format!("blobs/sha256/{}: blob is a socket", "a".repeat(64))];
    if is_root() {
        let device = layout.path().join("blobs/sha256").join("b".repeat(64));
        let c_path = std::ffi::CString::new(device.to_str().unwrap()).unwrap();
        // SAFETY: a valid path; 1:3 is /dev/null's character device.
        let made =
            unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) };
        assert_eq!(made, 0);
        expected.push(format!(
            "blobs/sha256/{}: blob is a device node",
            "b".repeat(64)
        ));
    }
    let out = run(&[layout.arg()]);
    assert_eq!(out.code, 1, "{out:?}");
    for line in expected {
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
}

/// A 200 MB "manifest" (sparse, so the test writes no 200 MB) named by a descriptor: over
/// `--max-document-size` it is a finding, not an allocation; the process stays small.
#[test]
fn a_200_mb_manifest_is_a_finding_not_an_allocation() {
    let layout = Layout::new();
    let huge = layout.path().join("huge");
    let len: u64 = 200 * 1000 * 1000;
    fs::File::create(&huge).unwrap().set_len(len).unwrap();
    let digest = sha256(&vec![0u8; usize::try_from(len).unwrap()]);
    let hex = digest.trim_start_matches("sha256:");
    fs::rename(&huge, layout.path().join("blobs/sha256").join(hex)).unwrap();
    layout.index_json(&[(&digest, len as usize, "huge")]);
    // The child may not have more than 128 MiB of data (heap, and the stacks of its 34
    // threads, 2 MiB each of address space): an attempt to read the 200 MB document into
    // memory would fail to allocate and abort the process.
    let out = Command::new(binary())
        .args([layout.arg(), "--format", "json", "--no-verify"])
        .limit_data(128 << 20)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(rule_ids(&stdout), ["document-too-large"]);
}

/// RLIMIT_DATA for a child: how much heap and other private writable memory it may map.
/// (Its peak RSS cannot be read reliably from here: until exec, a spawned child shares the
/// test process's memory, whose high-water mark then counts as the child's.)
trait LimitData {
    fn limit_data(&mut self, bytes: u64) -> &mut Self;
}

impl LimitData for Command {
    fn limit_data(&mut self, bytes: u64) -> &mut Self {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: setrlimit is async-signal-safe, as a pre_exec closure must be.
        unsafe {
            self.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        }
    }
}

/// `oci-audit … | head -1`: stdout closed before the report is written. No error text,
/// no signal; the exit code is still the audit's verdict.
#[test]
fn a_closed_stdout_ends_quietly_with_the_audits_exit_code() {
    let store = repo().join("corpus/distribution/registry-2.8/store");
    for (extra, code) in [(None, 0), (Some("--fail-on=info"), 1)] {
        let mut command = Command::new(binary());
        command.arg(&store).args(extra);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Hard links are regular files with two names: audited under each name like any blob.
/// A blob hard-linked into a second layout under its own digest is intact (and, as
/// nothing there names it, unreferenced); under another digest's name it is a digest
/// mismatch. Nothing else changes.
#[test]
fn hard_links_are_audited_by_name_like_any_file() {
    let top = tempfile::tempdir().unwrap();
    let tree = top.path().join("tree");
    copy_tree(&repo().join("corpus/clean/many-layouts/store"), &tree);
    let alpine = tree.join("library/alpine/blobs/sha256");
    let web = tree.join("team/app/web/blobs/sha256");
    let name = fs::read_dir(&alpine)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .find(|name| !web.join(name).exists())
        .unwrap();
    fs::hard_link(alpine.join(&name), web.join(&name)).unwrap();
    let out = run(&[tree.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        rule_ids(&out.stdout),
        ["blob-unreferenced"],
        "{}",
        out.stdout
    );

    fs::hard_link(alpine.join(&name), alpine.join("f".repeat(64))).unwrap();
    let out = run(&[tree.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        rule_ids(&out.stdout),
        ["blob-digest-mismatch", "blob-unreferenced"],
        "{}",
        out.stdout
    );
}
