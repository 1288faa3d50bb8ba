//! A live registry (issue 18): Debian's docker-registry on 127.0.0.1, one layer bit-flipped
//! on disk before anything else happens, then a writer that pushes with skopeo, deletes
//! every third manifest by digest and runs `garbage-collect` every ten pushes, while
//! oci-audit audits the root in a loop. Every audit must report the planted fault, and
//! no other error: what the writer leaves half-done for an instant is confirmed away.
//! The registry is stopped by its PID; counts and time are bounded.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::registry::{Registry, image, program, registry_program};
use crate::support::{Layout, binary};

fn push(registry: &Registry, layout: &Layout, reference: &str) {
    registry.push(layout.path(), "v1", reference);
}

/// What one audit reported: its exit code and its error findings (rule and path).
fn audit(root: &Path, settle: &str) -> (i32, Vec<(String, String)>, u64) {
    let out = Command::new(binary())
        .args(["--format", "json", "--settle", settle, "--coverage", "none"])
        .arg(root)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["location"]["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (
        out.status.code().unwrap_or(-1),
        errors,
        report["stats"]["changed"].as_u64().unwrap_or(0),
    )
}

/// What a harness run saw: audits, those with an error other than the planted fault,
/// those that missed the planted fault, and findings confirmed away.
#[derive(Debug, Default)]
struct Seen {
    audits: usize,
    false_errors: usize,
    missed: usize,
    changed: u64,
    examples: Vec<String>,
}

/// Runs the harness: at least `audits` audits (two auditors side by side), with
/// `--settle settle`, while the writer writes; at most `limit` of wall time.
fn harness(audits: usize, settle: &str, limit: Duration) -> Option<Seen> {
    let program_path = registry_program()?;
    program("skopeo")?;
    let registry = Arc::new(Registry::start(&program_path));
    // The planted fault: a layer bit-flipped on disk before any write under audit.
    let (base, _) = image(0);
    push(&registry, &base, "library/base:v0");
    // skopeo may compress the layer on the way: find it through the pushed manifest.
    let v2 = registry.root().join("docker/registry/v2");
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:").to_owned();
        v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))
    };
    let current =
        fs::read_to_string(v2.join("repositories/library/base/_manifests/tags/v0/current/link"))
            .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(&current)).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let hex = &layer[7..];
    let data = blob(&layer);
    let mut bytes = fs::read(&data).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&data, bytes).unwrap();
    let planted = format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]);

    let stop = Arc::new(AtomicBool::new(false));
    let pushes = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (registry, stop, pushes) = (registry.clone(), stop.clone(), pushes.clone());
        let program_path = program_path.clone();
        std::thread::spawn(move || {
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                let (layout, _) = image(n);
                push(&registry, &layout, &format!("library/app:t{n}"));
                if n % 3 == 0 {
                    // The digest as pushed (skopeo may have compressed the layer).
                    let manifest = fs::read_to_string(registry.root().join(format!(
                        "docker/registry/v2/repositories/library/app/_manifests/tags/t{n}/current/link"
                    )))
                    .unwrap();
                    let status = registry
                        .request("DELETE", &format!("/v2/library/app/manifests/{manifest}"));
                    assert_eq!(status, Some(202), "delete by digest");
                }
                if n % 10 == 0 {
                    let out = Command::new(&program_path)
                        .arg("garbage-collect")
                        .arg(registry.config())
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                pushes.store(n, Ordering::Relaxed);
                n += 1;
            }
        })
    };
    let started = Instant::now();
    let root = registry.root();
    let auditors: Vec<_> = (0..2)
        .map(|_| {
            let (root, settle, stop) = (root.clone(), settle.to_owned(), stop.clone());
            let planted = planted.clone();
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                while seen.audits < audits.div_ceil(2) && started.elapsed() < limit {
                    let (code, errors, changed) = audit(&root, &settle);
                    seen.audits += 1;
                    seen.changed += changed;
                    if !errors
                        .iter()
                        .any(|(rule, path)| rule == "blob-digest-mismatch" && *path == planted)
                        || code != 1
                    {
                        seen.missed += 1;
                    }
                    let others: Vec<String> = errors
                        .iter()
                        .filter(|(_, path)| *path != planted)
                        .map(|(rule, path)| format!("{rule} {path}"))
                        .collect();
                    if !others.is_empty() {
                        seen.false_errors += 1;
                        seen.examples.extend(others);
                    }
                }
                let _ = stop;
                seen
            })
        })
        .collect();
    let mut seen = Seen::default();
    for auditor in auditors {
        let part = auditor.join().unwrap();
        seen.audits += part.audits;
        seen.false_errors += part.false_errors;
        seen.missed += part.missed;
        seen.changed += part.changed;
        seen.examples.extend(part.examples);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!(
        "live registry, --settle {settle}: {} audits during {} pushes, {} with a false error, {} missed the fault, {} findings confirmed away",
        seen.audits,
        pushes.load(Ordering::Relaxed),
        seen.false_errors,
        seen.missed,
        seen.changed
    );
    Some(seen)
}

#[test]
fn audits_during_writes_report_the_planted_fault_and_nothing_else() {
    let Some(seen) = harness(50, "2s", Duration::from_secs(240)) else {
        return;
    };
    assert!(seen.audits >= 50, "{seen:?}");
    assert_eq!(
        seen.missed, 0,
        "an audit missed the planted fault: {seen:?}"
    );
    assert_eq!(
        seen.false_errors, 0,
        "errors that were only writes: {seen:?}"
    );
}

/// How long to settle, measured: the same harness at several settle times (run by hand:
/// `cargo test --test integration live::settle_times -- --ignored --nocapture`).
#[test]
#[ignore]
fn settle_times() {
    for settle in ["0s", "100ms", "500ms", "2s"] {
        harness(100, settle, Duration::from_secs(600));
    }
}
