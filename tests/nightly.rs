//! Nightly jobs (issue 11): the verification ledger, rolling re-verification, crash
//! safety, one writer, new versus known, history, and the metrics file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use oci_audit::audit::StateOptions;
use oci_audit::{NoProgress, Options};

use crate::support::{Layout, binary, run, sha256};

/// A layout of one image and `extra` more layer-like blobs (unreferenced: still hashed)
/// of varied sizes. Returns the layout and the bytes of its non-document blobs.
fn store(extra: usize) -> (Layout, u64) {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"the one layer");
    layout.index_json(&[(&manifest, size, "v1")]);
    let mut bytes = "the one layer".len() as u64;
    for i in 0..extra {
        let len = 100 + (i * 7919) % 3000;
        let content: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        layout.blob(&content);
        bytes += len as u64;
    }
    (layout, bytes)
}

fn ledger_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ledger.db")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

fn stat(report: &serde_json::Value, field: &str) -> u64 {
    report["stats"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field}: {report}"))
}

/// Rewrites `path` with `bytes`, restoring its mtime (an in-place change meant to hide).
fn rewrite_keeping_mtime(path: &Path, bytes: &[u8]) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    fs::write(path, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn a_second_run_trusts_unchanged_blobs_and_catches_changed_ones() {
    let (layout, _) = store(20);
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(&dir);
    let state = ledger.to_str().unwrap();
    let first = json(&[layout.arg(), "--format", "json", "--state", state]);
    assert_eq!(stat(&first, "blobs_trusted"), 0);
    let second = json(&[layout.arg(), "--format", "json", "--state", state]);
    assert!(stat(&second, "blobs_trusted") >= 19, "{second}");
    assert!(stat(&second, "bytes_verified") < stat(&first, "bytes_verified"));

    // A layer replaced by different bytes of the same size: a new inode.
    let layer = sha256(b"the one layer");
    let path = layout.path().join("blobs/sha256").join(&layer[7..]);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"THE one layer").unwrap();
    let third = json(&[layout.arg(), "--format", "json", "--state", state]);
    let ids: Vec<&str> = third["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"blob-digest-mismatch"), "{third}");
    fs::write(&path, b"the one layer").unwrap();

    // A byte flipped in place with size and mtime restored: only ctime moved.
    json(&[layout.arg(), "--format", "json", "--state", state]);
    rewrite_keeping_mtime(&path, b"the one lAyer");
    let flipped = json(&[layout.arg(), "--format", "json", "--state", state]);
    assert!(
        flipped.to_string().contains("blob-digest-mismatch"),
        "a flip with mtime restored must be caught: {flipped}"
    );
    // And a suspect blob is hashed again next run even if nothing changes.
    let again = json(&[layout.arg(), "--format", "json", "--state", state]);
    assert!(
        again.to_string().contains("blob-digest-mismatch"),
        "{again}"
    );

    // --reverify-after 0s: everything hashed.
    rewrite_keeping_mtime(&path, b"the one layer");
    let all = json(&[
        layout.arg(),
        "--format",
        "json",
        "--state",
        state,
        "--reverify-after",
        "0s",
    ]);
    assert_eq!(stat(&all, "blobs_trusted"), 0, "{all}");
    assert_eq!(stat(&all, "blobs_hashed"), stat(&all, "blobs"));
}

/// The clock is a parameter of the library: a month and a half of nightly runs over an
/// unchanged store. No blob goes longer than the window without a hash, and after the
/// first run no run hashes more than twice its fair share of the old bytes.
#[test]
fn a_simulated_month_spreads_re_verification() {
    let (layout, old_bytes) = store(300);
    let dir = tempfile::tempdir().unwrap();
    let window = Duration::from_secs(30 * 86_400);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut options = Options::default();
    options.run.state = Some(StateOptions {
        path: ledger_in(&dir),
        reverify_after: window,
        hash_budget: None,
    });
    let fair = old_bytes as f64 / 30.0;
    let mut documents = 0;
    for day in 0..45u64 {
        options.run.now = Some(t0 + Duration::from_secs(day * 86_400));
        let report = oci_audit::audit(layout.path(), &options, &NoProgress).unwrap();
        let stats = &report.stats;
        assert!(
            stats.oldest_verification_s.unwrap() <= window.as_secs(),
            "day {day}: a verification is {} s old",
            stats.oldest_verification_s.unwrap()
        );
        if day == 0 {
            assert_eq!(stats.blobs_trusted, 0);
            documents = stats.bytes_verified - old_bytes;
            continue;
        }
        let layers = stats.bytes_verified - documents;
        assert!(
            (layers as f64) <= 2.0 * fair,
            "day {day}: {layers} bytes of old blobs hashed, fair share {fair:.0}"
        );
        assert!(layers > 0, "day {day}: nothing re-verified");
    }
}

/// A large enough store that a run takes a while: many small blobs.
fn slow_store() -> Layout {
    let (layout, _) = store(0);
    let blobs = layout.path().join("blobs/sha256");
    for i in 0..40_000u32 {
        let content = format!("blob {i:08}");
        let digest = sha256(content.as_bytes());
        fs::write(blobs.join(&digest[7..]), content).unwrap();
    }
    layout
}

fn blob_rows(ledger: &Path) -> i64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM blob", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn a_killed_run_leaves_a_consistent_ledger_and_one_writer_at_a_time() {
    let layout = slow_store();
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(&dir);
    let mut child = Command::new(binary())
        .args([layout.arg(), "-q", "-j", "1", "--no-mmap", "--state"])
        .arg(&ledger)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has committed some results, then kill it mid-run.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while blob_rows(&ledger) == 0 {
        assert!(std::time::Instant::now() < deadline, "no results committed");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it runs, a second run on the same ledger exits 2 at once, naming it.
    let second = run(&[layout.arg(), "--state", ledger.to_str().unwrap()]);
    assert_eq!(second.code, 2, "{second:?}");
    assert!(
        second.stderr.contains("in use by another run")
            && second.stderr.contains(&format!("pid {}", child.id())),
        "{}",
        second.stderr
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded = blob_rows(&ledger);
    assert!(recorded > 0);
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let unfinished: i64 = conn
        .query_row("SELECT count(*) FROM run WHERE ended IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(unfinished, 1);
    drop(conn);
    // The next run completes, and goes on from what the killed one recorded.
    let next = json(&[
        layout.arg(),
        "--format",
        "json",
        "--state",
        ledger.to_str().unwrap(),
    ]);
    assert!(
        stat(&next, "blobs_trusted") as i64 >= recorded - 10,
        "trusted {} of {recorded} recorded",
        stat(&next, "blobs_trusted")
    );
    let history = run(&["history", "--state", ledger.to_str().unwrap()]);
    assert_eq!(history.code, 0, "{history:?}");
    assert!(history.stdout.contains("unfinished"), "{}", history.stdout);
}

fn new_findings(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["new"] == true)
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn new_and_resolved_findings_against_the_previous_run_and_a_baseline_file() {
    let (layout, _) = store(3);
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(&dir);
    let state = ledger.to_str().unwrap();
    let first = json(&[layout.arg(), "--format", "json", "--state", state]);
    // Three unreferenced blobs: known from now on.
    assert!(first.get("baseline").is_none());
    let unchanged = json(&[layout.arg(), "--format", "json", "--state", state]);
    assert_eq!(unchanged["baseline"]["new"], 0, "{unchanged}");
    assert!(new_findings(&unchanged).is_empty());
    fs::write(dir.path().join("before.json"), unchanged.to_string()).unwrap();

    // One injected fault: exactly one new finding; --fail-on-new fails on it alone.
    let layer = sha256(b"the one layer");
    let path = layout.path().join("blobs/sha256").join(&layer[7..]);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"the one LAYER").unwrap();
    let broken = run(&[
        layout.arg(),
        "--format",
        "json",
        "--state",
        state,
        "--fail-on-new",
        "--fail-on",
        "info",
    ]);
    assert_eq!(broken.code, 1);
    let broken: serde_json::Value = serde_json::from_str(&broken.stdout).unwrap();
    assert_eq!(new_findings(&broken), ["blob-digest-mismatch"]);
    assert_eq!(broken["baseline"]["new"], 1);

    // Fixed: the fault is resolved, and nothing is new.
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"the one layer").unwrap();
    let fixed = run(&[
        layout.arg(),
        "--state",
        state,
        "--fail-on-new",
        "--fail-on",
        "info",
    ]);
    assert_eq!(
        fixed.code, 0,
        "known info findings do not fail with --fail-on-new"
    );
    assert!(
        fixed.stdout.contains("resolved since ledger run"),
        "{}",
        fixed.stdout
    );
    assert!(
        fixed.stdout.contains("error[blob-digest-mismatch]"),
        "{}",
        fixed.stdout
    );

    // The history, as JSON: newest first, with what each run found.
    let history = run(&[
        "history", "--state", state, "--format", "json", "--limit", "2",
    ]);
    assert_eq!(history.code, 0, "{history:?}");
    let runs: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["id"], 4);
    assert_eq!(
        (
            runs[1]["errors"].as_u64(),
            runs[1]["new"].as_u64(),
            runs[1]["exit_code"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (
            runs[0]["errors"].as_u64(),
            runs[0]["resolved"].as_u64(),
            runs[0]["exit_code"].as_i64()
        ),
        (Some(0), Some(1), Some(0))
    );

    // The same against a baseline file, without a ledger.
    let baseline = dir.path().join("before.json");
    let against = json(&[
        layout.arg(),
        "--format",
        "json",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(against["baseline"]["new"], 0, "{against}");
    assert_eq!(against["baseline"]["resolved"], 0);
}

/// Runs `tool` with `args` when it is installed; `None` (and a note) when it is not, unless
/// `OCI_AUDIT_REQUIRE_TOOLS` is set (CI installs them), where a missing tool fails.
/// Nothing the tool writes goes into the store: a ledger or a metrics file inside the
/// audited tree, named directly or through a symlink that leads into it, is refused
/// before the audit (exit 2, the flag and the tree named) and never created.
#[test]
fn a_ledger_or_metrics_file_inside_the_store_is_refused_and_not_created() {
    let (layout, _) = store(0);
    let outside = tempfile::tempdir().unwrap();
    let into_store = outside.path().join("into-store");
    std::os::unix::fs::symlink(layout.path(), &into_store).unwrap();
    let cases = [
        (
            "--state",
            layout.path().join("ledger.db"),
            "the ledger must be",
        ),
        (
            "--state",
            into_store.join("ledger.db"),
            "the ledger must be",
        ),
        (
            "--metrics-file",
            layout.path().join("blobs/oci-audit.prom"),
            "--metrics-file",
        ),
        (
            "--metrics-file",
            into_store.join("oci-audit.prom"),
            "--metrics-file",
        ),
    ];
    for (flag, file, says) in &cases {
        let out = run(&[flag, file.to_str().unwrap(), layout.arg()]);
        assert_eq!(out.code, 2, "{flag} {file:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(says) && out.stderr.contains("outside the audited tree"),
            "{flag} {file:?}: {}",
            out.stderr
        );
        assert!(!file.exists(), "{flag} {file:?} was created");
    }
    // Beside the store, both are written.
    let ledger = outside.path().join("ledger.db");
    let metrics = outside.path().join("oci-audit.prom");
    let out = run(&[
        "--state",
        ledger.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        layout.arg(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(ledger.exists() && metrics.exists());
}

fn tool(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).output() {
        Ok(out) => Some(out),
        Err(_) if std::env::var_os("OCI_AUDIT_REQUIRE_TOOLS").is_none() => {
            eprintln!("SKIPPED: {tool} is not installed");
            None
        }
        Err(e) => panic!("{tool}: {e} (OCI_AUDIT_REQUIRE_TOOLS is set)"),
    }
}

#[test]
fn the_metrics_file_passes_promtool_and_survives_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("oci-audit.prom");
    let registry = crate::support::repo().join("corpus/distribution/registry-2.8/store");
    let out = run(&[
        registry.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--state",
        ledger_in(&dir).to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = fs::read_to_string(&metrics).unwrap();
    for needle in [
        "oci_audit_findings{",
        "severity=\"warning\"} 1",
        "oci_audit_rule_findings{",
        "rule=\"registry-upload-stale\"",
        "oci_audit_store_bytes{",
        "oci_audit_hashed_bytes{",
        "oci_audit_oldest_verification_age_seconds{",
        "oci_audit_reclaimable_bytes{",
        "repository=\"library/gone\"} 419",
        "oci_audit_run_duration_seconds{",
        "oci_audit_last_run_timestamp_seconds{",
        "oci_audit_last_success_timestamp_seconds{",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    if let Some(out) = tool("promtool", &["check", "metrics"]) {
        let _ = out;
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        let checked = child.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    // A run that cannot audit still writes the file, keeping the last success.
    let success = oci_audit::report::metrics::previous_success(&text).unwrap();
    let failed = run(&[
        "/nonexistent/store",
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--state",
        ledger_in(&dir).to_str().unwrap(),
    ]);
    assert_eq!(failed.code, 2);
    let text = fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("oci_audit_run_success{store=\"/nonexistent/store\"} 0"),
        "{text}"
    );
    assert_eq!(
        oci_audit::report::metrics::previous_success(&text),
        Some(success)
    );
    // Inside the store: refused, nothing written.
    let inside = registry.join("metrics.prom");
    let out = run(&[
        registry.to_str().unwrap(),
        "--metrics-file",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(!inside.exists());
    // The ledger too: refused with exit 2 naming it, and nothing (database, lock, journal)
    // is created in the store.
    let before = fs::read_dir(&registry).unwrap().count();
    let inside = registry.join("ledger.db");
    let out = run(&[
        registry.to_str().unwrap(),
        "--state",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("ledger.db"), "{out:?}");
    assert_eq!(fs::read_dir(&registry).unwrap().count(), before);
}

/// The metrics file scraped through a real node_exporter's textfile collector, started on
/// 127.0.0.1 and stopped by its PID.
#[test]
fn node_exporter_serves_the_metrics_file() {
    let Some(_) = tool("prometheus-node-exporter", &["--version"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfile");
    fs::create_dir(&textfiles).unwrap();
    let store = crate::support::repo().join("corpus/clean/skopeo-multiplatform/store");
    let out = run(&[
        store.to_str().unwrap(),
        "--metrics-file",
        textfiles.join("oci-audit.prom").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let (exporter, port) =
        crate::support::exporter::node_exporter("prometheus-node-exporter", &textfiles);
    let scraped = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        std::io::Write::write_all(
            &mut stream,
            b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .ok()?;
        let mut body = String::new();
        std::io::Read::read_to_string(&mut stream, &mut body).ok()?;
        Some(body)
    });
    drop(exporter);
    let body = scraped.expect("node_exporter answered");
    assert!(body.contains("oci_audit_store_blobs{store="), "{body}");
    assert!(body.contains("oci_audit_run_success{store="), "{body}");
    // node_exporter reports a file it could not parse as a scrape error.
    assert!(
        body.contains("\nnode_textfile_scrape_error 0"),
        "the textfile collector refused the file: {body}"
    );
}

/// The units, job and alert rules of the README's "Nightly jobs" section: each parses with
/// the tool that reads it, and docs/operations.md shows each file as committed.
#[test]
fn deployment_files_parse_and_the_readme_shows_them() {
    let repo = crate::support::repo();
    let readme = fs::read_to_string(repo.join("docs/operations.md")).unwrap();
    for file in [
        "deploy/systemd/oci-audit.service",
        "deploy/systemd/oci-audit.timer",
        "deploy/kubernetes/cronjob.yaml",
        "deploy/prometheus/oci-audit-alerts.yml",
    ] {
        let text = fs::read_to_string(repo.join(file)).unwrap();
        assert!(
            readme.contains(&text),
            "docs/operations.md does not show {file} as committed"
        );
    }
    let rules = repo.join("deploy/prometheus/oci-audit-alerts.yml");
    if let Some(out) = tool("promtool", &["check", "rules", rules.to_str().unwrap()]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // systemd-analyze checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let service = fs::read_to_string(repo.join("deploy/systemd/oci-audit.service"))
        .unwrap()
        .replace("/usr/local/bin/oci-audit", binary());
    fs::write(dir.path().join("oci-audit.service"), service).unwrap();
    fs::copy(
        repo.join("deploy/systemd/oci-audit.timer"),
        dir.path().join("oci-audit.timer"),
    )
    .unwrap();
    let units = [
        dir.path().join("oci-audit.service"),
        dir.path().join("oci-audit.timer"),
    ];
    let units: Vec<&str> = units.iter().map(|p| p.to_str().unwrap()).collect();
    if let Some(out) = tool("systemd-analyze", &[&["verify"], &units[..]].concat()) {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cronjob = repo.join("deploy/kubernetes/cronjob.yaml");
    let load = format!(
        "import yaml; d = yaml.safe_load(open({:?})); assert d['kind'] == 'CronJob', d",
        cronjob.to_str().unwrap()
    );
    if let Some(out) = tool("python3", &["-c", &load]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The host stores keep a ledger and write metrics as the others do: a containerd root
/// and a containers-storage root (audited with --verify-layers), each run twice with
/// `--state`. The second run trusts the blobs the first hashed (but the documents, read
/// and so hashed each run), and the metrics carry the store's own rows (a containerd
/// namespace's reclaimable bytes) and its tags, which the supply-chain view counts.
#[test]
fn host_stores_keep_a_ledger_and_write_metrics() {
    let repo = crate::support::repo();
    let cases = [
        (
            repo.join("corpus/containerd/content-unkept/store"),
            vec![],
            "containerd",
            3,
        ),
        (
            repo.join("corpus/containers-storage/layers-verified/store"),
            vec!["--verify-layers"],
            "containers-storage",
            2,
        ),
    ];
    for (store, extra, kind, tags) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (state, metrics) = (ledger_in(&dir), dir.path().join("oci-audit.prom"));
        let mut args = vec![
            store.to_str().unwrap(),
            "--format",
            "json",
            "--state",
            state.to_str().unwrap(),
            "--metrics-file",
            metrics.to_str().unwrap(),
        ];
        args.extend(extra);
        let first = json(&args);
        assert_eq!(first["store"]["kind"], kind);
        assert_eq!(stat(&first, "blobs_trusted"), 0, "{kind}");
        let second = json(&args);
        // Documents are read, so hashed, every run; the other blobs are trusted.
        let trusted = stat(&second, "blobs_trusted");
        assert!(trusted > 0, "{kind}: {second}");
        assert_eq!(
            trusted + stat(&second, "blobs_hashed"),
            stat(&first, "blobs"),
            "{kind}"
        );
        let ids = |report: &serde_json::Value| -> Vec<(String, String)> {
            let findings = report["findings"].as_array().unwrap().iter();
            findings
                .map(|f| (f["rule"].to_string(), f["location"]["path"].to_string()))
                .collect()
        };
        assert_eq!(ids(&second), ids(&first), "{kind}");
        // The supply-chain view counts their images' tags (none is signed here).
        assert_eq!(first["supply_chain"]["summary"]["tags"], tags, "{kind}");
        let text = fs::read_to_string(&metrics).unwrap();
        assert!(text.contains("oci_audit_store_bytes{"), "{kind}:\n{text}");
        assert!(text.contains("oci_audit_tags{"), "{kind}:\n{text}");
        if kind == "containerd" {
            assert!(text.contains("oci_audit_reclaimable_bytes{"), "{text}");
        }
    }
}
