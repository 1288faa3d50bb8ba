//! Azure Blob Storage (`az://CONTAINER/PREFIX`) against a real server: Azurite, the
//! Azure Storage emulator from npm, started on 127.0.0.1 by the first test that needs it
//! and killed when the last one ends. Containers are filled with rclone's azureblob
//! backend, an implementation of its own; oci-audit reads them through `object_store`
//! with the environment the README names (`AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_USE_EMULATOR`, `AZURITE_BLOB_STORAGE_URL`).
//!
//! - the corpus: every committed store, uploaded, audits as it does on disk, whole, in
//!   shards, and in shards that share a plan;
//! - a sharded audit with a plan lists the container once, in the plan: the shards only
//!   read their blobs, each blob once across them;
//! - faults: a body cut short is resumed; wrong credentials, a missing container and an
//!   endpoint that does not answer exit 2 saying which.

#![cfg(feature = "object-store")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::shard::{merge, planned_shards_of, shards_of};
use crate::support::proxy::{Fault, Proxy};
use crate::support::registry::{free_port, program};
use crate::support::{Layout, Output, repo, run_env, sha256};

/// Azurite's well-known development account and key (its README; not a secret).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service on `port`, its data in `dir`.
struct Azurite {
    child: Mutex<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The server, started by the first test that needs it and stopped after the last.
fn azurite() -> Option<Arc<Azurite>> {
    static SHARED: Mutex<Weak<Azurite>> = Mutex::new(Weak::new());
    let program = program("azurite-blob")?;
    crate::support::registry::program("rclone")?;
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(azurite) = shared.upgrade() {
        return Some(azurite);
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(program)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .arg("--location")
        .arg(dir.path())
        .args(["--silent", "--skipApiVersionCheck", "--loose"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let azurite = Arc::new(Azurite {
        child: Mutex::new(child),
        port,
        _dir: dir,
    });
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "azurite-blob did not listen on {port} within a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    *shared = Arc::downgrade(&azurite);
    Some(azurite)
}

impl Azurite {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// rclone with this server as remote `az:`.
    fn rclone(&self, args: &[&str]) {
        crate::support::rclone(
            &[
                ("RCLONE_CONFIG_AZ_TYPE", "azureblob".to_owned()),
                ("RCLONE_CONFIG_AZ_USE_EMULATOR", "true".to_owned()),
                (
                    "RCLONE_CONFIG_AZ_ENDPOINT",
                    format!("{}/{ACCOUNT}", self.endpoint()),
                ),
            ],
            args,
        );
    }

    /// A new, empty container.
    fn container(&self, name: &str) {
        self.rclone(&["mkdir", &format!("az:{name}")]);
    }

    /// Copies the tree `local` to `container/prefix`.
    fn upload(&self, local: &Path, to: &str) {
        self.rclone(&[
            "copy",
            "--transfers",
            "16",
            local.to_str().unwrap(),
            &format!("az:{to}"),
        ]);
    }

    /// The environment oci-audit reads the account and the endpoint from.
    fn env(&self, endpoint: &str, key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.to_owned()),
            ("AZURE_STORAGE_ACCOUNT_KEY", key.to_owned()),
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_owned()),
            ("AZURITE_BLOB_STORAGE_URL", endpoint.to_owned()),
        ]
    }
}

/// Runs the binary with `env` (pairs of owned strings).
fn run_with(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_env(args, &env)
}

/// A JSON report with what may differ between two places of one store (the store's
/// name, the time taken) blanked.
fn comparable(out: &Output, what: &str) -> serde_json::Value {
    let mut json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}{}", out.stdout, out.stderr));
    json["store"]["path"] = serde_json::Value::Null;
    json["stats"]["elapsed_ms"] = serde_json::Value::Null;
    json
}

#[test]
fn the_corpus_on_azure_audits_as_on_disk_whole_in_shards_and_with_a_plan() {
    let Some(azurite) = azurite() else { return };
    azurite.container("corpus");
    azurite.upload(&repo().join("corpus"), "corpus/c");
    let env = azurite.env(&azurite.endpoint(), KEY);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut differences = Vec::new();
    let mut compared = 0;
    for dir in crate::corpus::cases() {
        let case = crate::corpus::read_case(&dir);
        let name = dir.strip_prefix(repo().join("corpus")).unwrap();
        let mut extra = vec!["--settle", "0s"];
        if case.zot {
            extra.push("--zot");
        }
        if case.verify_layers {
            // Layer files are read through a file tree, which object storage has not.
            continue;
        }
        let report = ["--format", "json", "--coverage", "full"];
        let local = dir.join("store");
        let on_disk = run_env(
            &[&extra[..], &report[..], &[local.to_str().unwrap()]].concat(),
            &[],
        );
        let on_disk = comparable(&on_disk, &name.display().to_string());
        let url = format!("az://corpus/c/{}/store", name.display());
        let whole = run_with(&[&extra[..], &report[..], &[&url]].concat(), &env);
        compared += 1;
        let mut differs = |how: &str, json: serde_json::Value| {
            if json != on_disk {
                differences.push(format!(
                    "{} {how}:\n--- on disk\n{on_disk:#}\n--- on Azure\n{json:#}",
                    name.display()
                ));
            }
        };
        differs("whole", comparable(&whole, &url));
        let parts = tempfile::tempdir().unwrap();
        let files = shards_of(&url, &extra, &env_refs, 2, parts.path());
        differs("in 2 shards", comparable(&merge(&files, &report), &url));
        let planned = tempfile::tempdir().unwrap();
        let (plan, files) = planned_shards_of(&url, &extra, &env_refs, 3, planned.path());
        let merged = merge(
            &files,
            &[&report[..], &["--plan", plan.to_str().unwrap()]].concat(),
        );
        differs("in 3 shards with a plan", comparable(&merged, &url));
    }
    assert!(compared > 50, "only {compared} cases");
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

#[test]
fn shards_with_a_plan_read_only_their_blobs_and_faults_are_named() {
    let Some(azurite) = azurite() else { return };
    azurite.container("faults");
    let layout = Layout::new();
    let mut layers = Vec::new();
    let mut images = Vec::new();
    for i in 0..6u8 {
        let layer = vec![i; (3 << 20) + usize::from(i)];
        layers.push(sha256(&layer));
        images.push(layout.image("amd64", &layer));
    }
    let names: Vec<String> = (0..images.len()).map(|i| format!("v{i}")).collect();
    let entries: Vec<(&str, usize, &str)> = images
        .iter()
        .zip(&names)
        .map(|((digest, size), name)| (digest.as_str(), *size, name.as_str()))
        .collect();
    layout.index_json(&entries);
    azurite.upload(layout.path(), "faults/layout");
    let proxy = Proxy::start(azurite.port);
    let env = azurite.env(&proxy.endpoint(), KEY);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = "az://faults/layout";

    // A plan lists the container and reads the documents; the shards then read only the
    // blobs of their slices, each once, and list nothing.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan");
    let made = run_env(
        &[
            "plan",
            "--settle",
            "0s",
            "--plan",
            plan.to_str().unwrap(),
            url,
        ],
        &env_refs,
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    proxy.reset();
    let files = shards_of(
        url,
        &["--settle", "0s", "--plan", plan.to_str().unwrap()],
        &env_refs,
        3,
        dir.path(),
    );
    let seen = proxy.seen();
    let lists = seen
        .iter()
        .filter(|s| s.target.contains("comp=list"))
        .count();
    assert_eq!(lists, 0, "{seen:?}");
    for layer in &layers {
        let reads = seen
            .iter()
            .filter(|s| s.method == "GET" && s.target.contains(&layer[7..]))
            .count();
        assert_eq!(reads, 1, "{layer}: {seen:?}");
    }
    let merged = merge(&files, &["--plan", plan.to_str().unwrap()]);
    assert_eq!(merged.code, 0, "{}{}", merged.stdout, merged.stderr);

    // A body cut short after 1 MiB, twice: resumed from where it stopped.
    proxy.reset();
    let cut = &layers[5][7..];
    proxy.inject(Some("GET"), cut, Fault::Cut { after: 1 << 20 }, 2);
    let out = run_with(&["--settle", "0s", url], &env);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let ranges: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.target.contains(cut))
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=1048576-")),
        "{ranges:?}"
    );

    // Azurite named as an endpoint, not as the emulator: plain http because the URL says so.
    let endpoint = format!("{}/{ACCOUNT}", azurite.endpoint());
    let named = run_with(
        &["--settle", "0s", url],
        &[
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.to_owned()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.to_owned()),
            ("AZURE_STORAGE_ENDPOINT", endpoint),
        ],
    );
    assert_eq!(named.code, 0, "{}{}", named.stdout, named.stderr);

    // The store cannot be audited at all: exit 2, saying why, never printing the key.
    let wrong_key =
        "d3Jvbmcga2V5IGZvciB0aGUgZGV2ZWxvcG1lbnQgYWNjb3VudCwgNjQgYnl0ZXMgbG9uZy4uLi4uLi4uLi4=";
    let refused = run_with(&[url], &azurite.env(&azurite.endpoint(), wrong_key));
    let missing = run_with(
        &["az://no-such-container/x"],
        &azurite.env(&azurite.endpoint(), KEY),
    );
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let unreachable = run_with(&["--io-retries", "0", url], &azurite.env(&nobody, KEY));
    for (out, says) in [
        (&refused, "access refused"),
        (&missing, "the bucket does not exist"),
        (&unreachable, "the endpoint does not answer"),
    ] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(says), "{says}: {out:?}");
        assert!(!out.stderr.contains(KEY), "{out:?}");
    }
}
