//! Object storage (issue 12), against a real S3 server: Debian's Ceph RADOS gateway, one
//! node with its objects in memory, started by `tests/servers/ceph-rgw.sh` on 127.0.0.1
//! and stopped by its PIDs when the last test using it ends. Buckets are filled with
//! rclone and Debian's docker-registry (S3 driver) fed by skopeo; a proxy the tests
//! control (`support::proxy`) records what oci-audit asks and injects faults.
//!
//! - the corpus: every committed store, copied to the bucket, audits as it does on disk;
//! - a registry on S3 and its twin on the file-system driver, given the same pushes,
//!   audit to the same report, which agrees with `garbage-collect --dry-run` on the
//!   bucket; oci-audit only ever sends GET and HEAD, and every ETag is as it was;
//! - faults: throttling retried, a body cut short resumed, an object gone or failing
//!   named in a finding, wrong credentials, a missing bucket, no server: exit 2.

#![cfg(feature = "object-store")]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use oci_audit::audit::RunOptions;
use oci_audit::backend::object::{ObjectUrl, S3Settings};
use oci_audit::report::CoverageDetail;
use oci_audit::{Format, NoProgress, Options, Target, report};

use crate::shard::{merge, shards_of};
use crate::support::proxy::{Fault, Proxy};
use crate::support::registry::{Registry, free_port, image, program, registry_program};
use crate::support::{Layout, repo, run_env, sha256};

const ACCESS: &str = "oci-audit-test";
const SECRET: &str = "oci-audit-test-secret";

/// A one-node Ceph cluster with its S3 gateway on `port`.
struct Ceph {
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Ceph {
    fn drop(&mut self) {
        let pids = fs::read_to_string(self.dir.path().join("pids")).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: SIGKILL to a daemon the start script launched for this test run, by
            // the PID it recorded (the cluster's state is in memory and thrown away).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The cluster, started by the first test that needs it and stopped after the last.
fn ceph() -> Option<Arc<Ceph>> {
    static SHARED: Mutex<Weak<Ceph>> = Mutex::new(Weak::new());
    for tool in ["ceph-mon", "ceph-osd", "radosgw", "rclone"] {
        program(tool)?;
    }
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(ceph) = shared.upgrade() {
        return Some(ceph);
    }
    // One failed start is reported once; the other tests do not wait for another.
    static FAILED: AtomicBool = AtomicBool::new(false);
    assert!(
        !FAILED.load(Ordering::SeqCst),
        "the Ceph cluster failed to start for an earlier test"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Command::new("sh")
        .arg(repo().join("tests/servers/ceph-rgw.sh"))
        .arg(dir.path())
        .args([port.to_string(), free_port().to_string()])
        .args([ACCESS, SECRET])
        .output()
        .unwrap();
    let ceph = Arc::new(Ceph { dir, port });
    FAILED.store(!out.status.success(), Ordering::SeqCst);
    assert!(
        out.status.success(),
        "ceph-rgw.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    *shared = Arc::downgrade(&ceph);
    Some(ceph)
}

impl Ceph {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// rclone with this server as remote `s3:`.
    fn rclone(&self, args: &[&str]) {
        crate::support::rclone(
            &[
                ("RCLONE_CONFIG_S3_TYPE", "s3".to_owned()),
                ("RCLONE_CONFIG_S3_PROVIDER", "Ceph".to_owned()),
                ("RCLONE_CONFIG_S3_ENDPOINT", self.endpoint()),
                ("RCLONE_CONFIG_S3_ACCESS_KEY_ID", ACCESS.to_owned()),
                ("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ],
            args,
        );
    }

    /// A new, empty bucket.
    fn bucket(&self, name: &str) {
        self.rclone(&["mkdir", &format!("s3:{name}")]);
    }

    /// Copies the tree `local` to `bucket/prefix`.
    fn upload(&self, local: &Path, to: &str) {
        self.rclone(&[
            "copy",
            "--transfers",
            "16",
            local.to_str().unwrap(),
            &format!("s3:{to}"),
        ]);
    }

    /// Every object of `bucket`: key → (size, ETag, last modified).
    fn objects(&self, bucket: &str) -> BTreeMap<String, (u64, String, String)> {
        use futures::StreamExt as _;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS)
            .with_secret_access_key(SECRET)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut out = BTreeMap::new();
            let mut listing = object_store::ObjectStore::list(&store, None);
            while let Some(meta) = listing.next().await {
                let meta = meta.unwrap();
                out.insert(
                    meta.location.to_string(),
                    (
                        meta.size,
                        meta.e_tag.unwrap_or_default(),
                        meta.last_modified.to_rfc3339(),
                    ),
                );
            }
            out
        })
    }

    /// The audit target `s3://bucket/prefix` through `endpoint`.
    fn target(&self, url: &str, endpoint: &str) -> Target {
        Target::Object {
            url: ObjectUrl::parse(url).unwrap(),
            s3: Some(S3Settings {
                region: Some("us-east-1".into()),
                endpoint: Some(endpoint.to_owned()),
                access_key: Some(ACCESS.into()),
                secret_key: Some(SECRET.into()),
            }),
        }
    }

    /// The environment oci-audit reads credentials and the endpoint from.
    fn env(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ]
    }
}

fn audit_json(target: &Target, options: &Options) -> serde_json::Value {
    let report = oci_audit::audit_target(target, options, &NoProgress)
        .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
    let mut value: serde_json::Value = serde_json::from_str(&report::render(
        &report,
        Format::Json,
        &report::View {
            coverage: CoverageDetail::Full,
            ..Default::default()
        },
    ))
    .unwrap();
    // Where the store is, and how long it took, are all that may differ.
    value["store"]["path"] = serde_json::Value::Null;
    value["stats"]["elapsed_ms"] = serde_json::Value::Null;
    value
}

fn quick() -> Options {
    Options {
        run: RunOptions {
            settle: std::time::Duration::ZERO,
            ..RunOptions::default()
        },
        ..Options::default()
    }
}

/// Runs the binary with `env` (pairs of owned strings).
fn run_with(args: &[&str], env: &[(&'static str, String)]) -> crate::support::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_env(args, &env)
}

/// Corpus cases whose committed tree object storage cannot hold as it is: it has no
/// empty directories, and these stores' only evidence of zot is one.
const NOT_ON_OBJECT_STORAGE: &[&str] = &[];

#[test]
fn the_corpus_on_object_storage_audits_as_on_disk_whole_and_in_shards() {
    let Some(ceph) = ceph() else { return };
    ceph.bucket("corpus");
    ceph.upload(&repo().join("corpus"), "corpus/c");
    let mut differences = Vec::new();
    let mut compared = 0;
    for group in fs::read_dir(repo().join("corpus")).unwrap() {
        let group = group.unwrap().path();
        for case in fs::read_dir(&group).into_iter().flatten() {
            let case = case.unwrap().path();
            let Ok(text) = fs::read_to_string(case.join("case.toml")) else {
                continue;
            };
            let name = case.strip_prefix(repo().join("corpus")).unwrap();
            if NOT_ON_OBJECT_STORAGE.contains(&name.to_str().unwrap()) {
                continue;
            }
            let mut options = quick();
            options.open.detect.zot = text.lines().any(|l| l.trim() == "zot = true");
            let on_disk = audit_json(&Target::Local(case.join("store")), &options);
            let url = format!("s3://corpus/c/{}/store", name.display());
            let on_s3 = audit_json(&ceph.target(&url, &ceph.endpoint()), &options);
            compared += 1;
            if on_disk != on_s3 {
                differences.push(format!(
                    "{}:\n--- on disk\n{on_disk:#}\n--- on S3\n{on_s3:#}",
                    name.display()
                ));
            }
            // Split in two, shards in parallel on the bucket: the same report again.
            let parts = tempfile::tempdir().unwrap();
            let zot: &[&str] = if options.open.detect.zot {
                &["--zot"]
            } else {
                &[]
            };
            let env = ceph.env(&ceph.endpoint());
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let files = shards_of(&url, zot, &env, 2, parts.path());
            let merged = merge(&files, &["--format", "json", "--coverage", "full"]);
            let mut merged: serde_json::Value = serde_json::from_str(&merged.stdout)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", name.display(), merged.stderr));
            merged["store"]["path"] = serde_json::Value::Null;
            merged["stats"]["elapsed_ms"] = serde_json::Value::Null;
            if merged != on_disk {
                differences.push(format!(
                    "{}:\n--- on disk\n{on_disk:#}\n--- merged from S3\n{merged:#}",
                    name.display()
                ));
            }
        }
    }
    assert!(compared > 50, "only {compared} cases");
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// `len` bytes that do not compress, the same for the same `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn rules_and_paths(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["location"]["path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn faults_are_retried_resumed_or_named_and_bad_addresses_exit_2() {
    let Some(ceph) = ceph() else { return };
    ceph.bucket("faults");
    let layout = Layout::new();
    let big = noise(40 << 20, 7);
    let (big_manifest, big_size) = layout.image("amd64", &big);
    let (small_manifest, small_size) = layout.image("arm64", b"a small layer");
    layout.index_json(&[
        (&big_manifest, big_size, "big"),
        (&small_manifest, small_size, "small"),
    ]);
    ceph.upload(layout.path(), "faults/layout");
    let proxy = Proxy::start(ceph.port);
    let target = ceph.target("s3://faults/layout", &proxy.endpoint());
    let big_key = format!("blobs/sha256/{}", &sha256(&big)[7..]);
    let small_key = format!("blobs/sha256/{}", &sha256(b"a small layer")[7..]);

    // Throttled: the first requests are answered 503 SlowDown, and retried.
    proxy.inject(
        None,
        "",
        Fault::Status {
            code: 503,
            s3_code: "SlowDown",
        },
        4,
    );
    let report = audit_json(&target, &quick());
    assert_eq!(rules_and_paths(&report), [], "{report:#}");
    let seen = proxy.seen();
    assert_eq!(seen.iter().filter(|s| s.injected == Some(503)).count(), 4);
    assert!(seen.len() > 4 + 6, "{seen:?}");

    // A body cut short after 5 MiB, twice: resumed from where it stopped.
    proxy.reset();
    proxy.inject(Some("GET"), &big_key, Fault::Cut { after: 5 << 20 }, 2);
    let report = audit_json(&target, &quick());
    assert_eq!(rules_and_paths(&report), [], "{report:#}");
    let ranges: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.target.contains(&big_key))
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], None, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=5242880-")),
        "{ranges:?}"
    );
    assert_eq!(report["stats"]["bytes_verified"], report["stats"]["bytes"]);

    // Gone between the listing and the read (GET and HEAD answer 404): the key is
    // named, the rest is verified, and the audit goes on.
    proxy.reset();
    proxy.inject(
        None,
        &small_key,
        Fault::Status {
            code: 404,
            s3_code: "NoSuchKey",
        },
        usize::MAX,
    );
    let report = audit_json(&target, &quick());
    assert_eq!(
        rules_and_paths(&report),
        [("changed-during-audit".to_owned(), small_key.clone())],
        "{report:#}"
    );
    assert_eq!(report["stats"]["blobs_hashed"], 5, "six blobs, one gone");

    // Failing every time (500): retried, then an io-error naming the key; exit 1.
    proxy.reset();
    proxy.inject(
        None,
        &small_key,
        Fault::Status {
            code: 500,
            s3_code: "InternalError",
        },
        usize::MAX,
    );
    let mut options = quick();
    options.open.io_retries = Some(2);
    let report = audit_json(&target, &options);
    assert_eq!(
        rules_and_paths(&report),
        [("io-error".to_owned(), small_key.clone())],
        "{report:#}"
    );
    let attempts = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.target.contains(&small_key))
        .count();
    assert!(attempts >= 3, "{attempts} GETs of the failing key");
    let out = run_with(
        &["--io-retries", "2", "-q", "s3://faults/layout"],
        &ceph.env(&proxy.endpoint()),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains(&small_key), "{out:?}");
    proxy.reset();

    // The store cannot be audited at all: exit 2, saying why, never printing a secret.
    let mut wrong = ceph.env(&ceph.endpoint());
    wrong[1].1 = "not-the-secret".to_owned();
    let refused = run_with(&["s3://faults/layout"], &wrong);
    let missing = run_with(&["s3://no-such-bucket/x"], &ceph.env(&ceph.endpoint()));
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let unreachable = run_with(
        &["--io-retries", "0", "s3://faults/layout"],
        &ceph.env(&nobody),
    );
    for (out, says) in [
        (&refused, "access refused"),
        (&missing, "the bucket does not exist"),
        (&unreachable, "the endpoint does not answer"),
    ] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(says), "{says}: {out:?}");
        assert!(!out.stderr.contains(SECRET), "{out:?}");
    }
}

/// The same pushes to `registry`: a 40 MB layer, a two-platform index, two tags of which
/// one is then deleted by digest, and a copy to another repository.
fn push_the_same(registry: &Registry) {
    let big = Layout::new();
    let (manifest, size) = big.image("amd64", &noise(40 << 20, 11));
    big.index_json(&[(&manifest, size, "v1")]);
    registry.push(big.path(), "v1", "big/image:v1");

    let multi = Layout::new();
    let platforms = [("amd64", ""), ("arm64", r#","variant":"v8""#)];
    let entries: Vec<String> = platforms
        .iter()
        .map(|(arch, variant)| {
            let (digest, size) = multi.image(arch, format!("{arch} layer").as_bytes());
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"{variant}}}}}"#
            )
        })
        .collect();
    let (index, index_size) = multi.blob(
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        )
        .as_bytes(),
    );
    multi.write_index(&format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index}","size":{index_size},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
    ));
    registry.push(multi.path(), "latest", "multi/arch:latest");

    for n in 1..=2 {
        let (layout, _) = image(n);
        registry.push(layout.path(), "v1", &format!("app/web:v{n}"));
    }
    let deleted = registry.digest_of("app/web", "v2");
    assert_eq!(
        registry.request("DELETE", &format!("/v2/app/web/manifests/{deleted}")),
        Some(202)
    );
    registry.copy("app/web:v1", "copy/web:v1");
}

#[test]
fn a_registry_on_s3_audits_as_its_twin_on_disk_and_as_its_garbage_collector_says() {
    let Some(ceph) = ceph() else { return };
    let Some(program) = registry_program() else {
        return;
    };
    if crate::support::registry::program("skopeo").is_none() {
        return;
    }
    ceph.bucket("registry");
    let s3_dir = tempfile::tempdir().unwrap();
    let on_s3 = Registry::start_with(
        &program,
        s3_dir,
        &format!(
            "s3: {{region: us-east-1, regionendpoint: \"{}\", bucket: registry, accesskey: {ACCESS}, \
             secretkey: {SECRET}, secure: false, v4auth: true, rootdirectory: /reg}}",
            ceph.endpoint()
        ),
    );
    let on_disk = Registry::start(&program);
    push_the_same(&on_s3);
    push_the_same(&on_disk);
    let before = ceph.objects("registry");
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("reg/docker/registry/v2/blobs/"))
    );

    // The same report as the file-system twin: findings, coverage, reclaimable table.
    let disk = audit_json(&Target::Local(on_disk.root()), &quick());
    let proxy = Proxy::start(ceph.port);
    let s3 = audit_json(
        &ceph.target("s3://registry/reg", &proxy.endpoint()),
        &quick(),
    );
    assert_eq!(s3, disk);
    let reclaimable: BTreeSet<String> = s3["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "blob-unreferenced")
        .map(|f| f["location"]["digest"].as_str().unwrap().to_owned())
        .collect();
    assert!(reclaimable.len() >= 2, "{s3:#}");
    assert_eq!(s3["reclaimable_total"]["blobs"], reclaimable.len());

    // Only GET and HEAD requests (a listing is a GET), and every object as it was.
    let seen = proxy.seen();
    assert!(seen.len() > 20, "{seen:?}");
    let writes: Vec<_> = seen
        .iter()
        .filter(|s| !matches!(s.method.as_str(), "GET" | "HEAD"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");

    // The registry's own configuration file names the same bucket: the same report,
    // through the binary.
    let config = on_s3.config();
    let out = crate::support::run(&[
        "--registry-config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut from_config: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(from_config["store"]["path"], "s3://registry/reg");
    from_config["store"]["path"] = serde_json::Value::Null;
    from_config["stats"]["elapsed_ms"] = serde_json::Value::Null;
    assert_eq!(from_config, disk);

    // garbage-collect --dry-run on the bucket names exactly the reclaimable blobs.
    let collected = on_s3.collectable(&[]);
    assert_eq!(collected, reclaimable);
    assert_eq!(ceph.objects("registry"), before, "an object changed");
}

/// `gs://` against a plain-http `GOOGLE_BASE_URL`, as an emulator is reached: the request
/// goes there over http (it was refused as a builder error while client options replaced
/// the environment's), and the answer is read as a GCS answer. No GCS emulator installable
/// here lists through the XML API `object_store` uses (gcp-storage-emulator answers 501),
/// so a listener stands in for one and answers that the bucket does not exist.
#[test]
fn gs_reaches_a_plain_http_base_url_and_names_a_missing_bucket() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = client.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
        }
        let body = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>";
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(answer.as_bytes()).unwrap();
        String::from_utf8_lossy(&request)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    });
    let dir = tempfile::tempdir().unwrap();
    let account = dir.path().join("service-account.json");
    // An emulator's account: no OAuth token is fetched.
    fs::write(
        &account,
        r#"{"disable_oauth": true, "client_email": "test@example.invalid", "private_key": "", "private_key_id": ""}"#,
    )
    .unwrap();
    let out = run_env(
        &["--io-retries", "0", "gs://registry/root"],
        &[
            ("GOOGLE_SERVICE_ACCOUNT", account.to_str().unwrap()),
            ("GOOGLE_BASE_URL", &format!("http://127.0.0.1:{port}")),
        ],
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /registry?list-type=2"),
        "{request}"
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("the bucket does not exist"), "{out:?}");
}
