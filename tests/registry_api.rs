//! Registries over HTTP (issue 30): Debian's docker-registry on 127.0.0.1 serving a real
//! root (the committed `corpus/distribution/registry-2.8`, written by skopeo pushes, or
//! one pushed here), read-only; plain, with htpasswd, behind TLS with a CA made here, and
//! with bearer tokens from a token server the test runs (`support::auth`); a proxy the
//! test controls adds 429s, 5xx, rate-limit headers, rewritten digests and slow answers.
//! Faults are made on the registry's disk, and the audit over HTTP must report what the
//! audit of that root on disk reports, on the same digests, for every fault HTTP can show.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::auth::{TokenServer, certificates};
use crate::support::proxy::{Fault, Proxy};
use crate::support::registry::{Access, Registry, program, registry_program};
use crate::support::{Output, copy_tree, normalize, repo, run_env};

/// No credentials but those a test gives: the machine's own files are not read.
const ANONYMOUS: &[(&str, &str)] = &[("REGISTRY_AUTH_FILE", "/nonexistent/oci-audit/auth.json")];

/// A copy of the committed registry root, to serve and to damage.
fn root_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    copy_tree(
        &repo().join("corpus/distribution/registry-2.8/store"),
        &root,
    );
    (dir, root)
}

fn v2(root: &Path) -> PathBuf {
    root.join("docker/registry/v2")
}

/// A JSON audit of `target` with `args` and `env`; the report and the run.
fn audit(target: &str, args: &[&str], env: &[(&str, &str)]) -> (Value, Output) {
    let mut all = vec!["--format", "json", "--coverage", "full"];
    all.extend_from_slice(args);
    all.push(target);
    let out = run_env(&all, env);
    let report = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    (report, out)
}

fn findings(report: &Value) -> &[Value] {
    report["findings"].as_array().map_or(&[], Vec::as_slice)
}

/// (rule, digest) of every finding.
fn rules_on_digests(report: &Value) -> BTreeSet<(String, String)> {
    findings(report)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["location"]["digest"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Each coverage root with its platforms.
fn coverage(report: &Value) -> BTreeSet<(String, String)> {
    report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["root"].as_str().unwrap().to_owned(),
                c["platforms"].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_registry_audits_over_http_as_its_root_does_on_disk() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (_dir, root) = root_copy();
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let (disk, _) = audit(root.to_str().unwrap(), &[], ANONYMOUS);
    let (http, out) = audit(&format!("{}/", registry.url()), &[], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The root holds only what garbage collection would reclaim and a stale upload,
    // neither of which HTTP can show: no finding at all.
    assert_eq!(findings(&http), &[] as &[Value], "{}", out.stdout);
    assert_eq!(http["store"]["kind"], "registry-api");
    assert!(http["store"]["stores"][0]["not_checked"].is_string());
    assert_eq!(http["stats"]["repositories"], 5);
    // Every tag, with the platforms it covers, as on disk.
    assert_eq!(coverage(&http), coverage(&disk));
    // Each distinct blob fetched once, each document once; layers only by the verify
    // phase, so the bytes fetched are the blobs' own.
    let requests = registry.requests();
    let gets: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET ")).collect();
    let distinct: BTreeSet<&&String> = gets.iter().collect();
    assert_eq!(gets.len(), distinct.len(), "a GET repeated: {gets:#?}");
    assert_eq!(
        http["stats"]["bytes_verified"], http["stats"]["bytes"],
        "every blob served is verified"
    );

    // One repository, one tag, one digest.
    let (one, out) = audit(&format!("{}/library/multi", registry.url()), &[], ANONYMOUS);
    assert_eq!(
        (out.code, &one["stats"]["repositories"]),
        (0, &Value::from(1))
    );
    let (tag, out) = audit(
        &format!("{}/library/app:v1", registry.url()),
        &[],
        ANONYMOUS,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let digest = tag["coverage"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(tag["coverage"].as_array().unwrap().len(), 1);
    let url = format!("{}/library/app@{digest}", registry.url());
    let (by_digest, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        by_digest["coverage"][0]["root"],
        format!("library/app@{digest}")
    );
    // docker:// is https: refused by a plain-HTTP registry, naming it.
    let docker = format!("docker://127.0.0.1:{}/library/app:v1", registry.port);
    let (_, out) = audit(&docker, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("https://127.0.0.1:{}", registry.port)),
        "{}",
        out.stderr
    );
    // What is not there is an error, not an audit of nothing.
    for absent in ["library/app:nope", "library/nope"] {
        let (_, out) = audit(&format!("{}/{absent}", registry.url()), &[], ANONYMOUS);
        assert_eq!(out.code, 2, "{absent}: {}", out.stderr);
        assert!(out.stderr.contains("404"), "{absent}: {}", out.stderr);
    }
}

/// Flips one bit of a file.
fn flip(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 1;
    fs::write(path, bytes).unwrap();
}

fn blob(root: &Path, hex: &str) -> PathBuf {
    v2(root).join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))
}

/// The rules HTTP can show; the others are about storage (links, blob paths, uploads,
/// what garbage collection reclaims) and have no answer over the API.
const SEEN_OVER_HTTP: &[&str] = &[
    "blob-digest-mismatch",
    "descriptor-blob-missing",
    "descriptor-size-mismatch",
    "descriptor-media-type-mismatch",
    "index-manifest-missing",
    "registry-reference-unlinked",
    "config-diff-ids-mismatch",
    "document-json-invalid",
    "document-schema-invalid",
    "subject-missing",
];

/// A registry nothing answers for is exit 2, naming it (no server needed).
#[test]
fn an_unreachable_registry_exits_2_naming_it() {
    let port = crate::support::registry::free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (_, out) = audit(&url, &["--io-retries", "0"], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn faults_made_on_disk_show_over_http_as_on_disk() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (_dir, root) = root_copy();
    // A layer of library/app and team/web/app, bit-flipped.
    flip(
        &blob(
            &root,
            "89c700434e0bd1e5b4a0a230a875aafaa639c8c46696f062e0a650c3a3ae91e9",
        ),
        10,
    );
    // team/web/app's config link removed: the blob is served from library/app only.
    fs::remove_dir_all(v2(&root).join(
        "repositories/team/web/app/_layers/sha256/28f0f4cf0e50772aa8ef5169b9e2d2d451a935754873d8802dc7d1497e4cb271",
    ))
    .unwrap();
    // library/docker's config, gone from the blob store.
    fs::remove_file(blob(
        &root,
        "2ca9cf384f641fd0ceefdd87d9bee9246d236fd5bf8e78cbbca0ac562025c5b3",
    ))
    .unwrap();
    // A child manifest of library/multi's index, its config size changed by one bit.
    let child = blob(
        &root,
        "c9bd72b7b4e8c906f7a8499ef0714522eea9d5ea195b91d8219af7a4f993abfd",
    );
    let text = fs::read(&child).unwrap();
    let at = text.windows(6).position(|w| w == b"\"size\"").unwrap() + 8;
    flip(&child, at);
    // A tag whose manifest is gone.
    let tag = v2(&root).join("repositories/library/app/_manifests/tags/broken/current");
    fs::create_dir_all(&tag).unwrap();
    fs::write(tag.join("link"), format!("sha256:{}", "e".repeat(64))).unwrap();

    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let (disk, _) = audit(root.to_str().unwrap(), &[], ANONYMOUS);
    let (http, out) = audit(&format!("{}/", registry.url()), &[], ANONYMOUS);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let seen = |report: &Value| -> BTreeSet<(String, String)> {
        rules_on_digests(report)
            .into_iter()
            .filter(|(rule, _)| SEEN_OVER_HTTP.contains(&rule.as_str()))
            .collect()
    };
    let on_disk = seen(&disk);
    assert_eq!(seen(&http), on_disk, "disk:\n{disk:#}\nhttp:\n{http:#}");
    for rule in [
        "blob-digest-mismatch",
        "descriptor-blob-missing",
        "descriptor-size-mismatch",
        "registry-reference-unlinked",
    ] {
        assert!(on_disk.iter().any(|(r, _)| r == rule), "{rule} not made");
    }
    // What only HTTP shows, at the request that shows it.
    let unresolvable: Vec<&Value> = findings(&http)
        .iter()
        .filter(|f| f["rule"] == "http-tag-unresolvable")
        .collect();
    assert_eq!(unresolvable.len(), 1, "{http:#}");
    assert_eq!(
        unresolvable[0]["location"]["path"],
        "library/app/manifests/broken"
    );
    // The unlinked config names the repository that cannot serve it.
    assert!(findings(&http).iter().any(|f| f["rule"] == "registry-reference-unlinked"
        && f["location"]["path"]
            == "team/web/app/blobs/sha256:28f0f4cf0e50772aa8ef5169b9e2d2d451a935754873d8802dc7d1497e4cb271"));
    // The same with --no-verify, but for the layer no HEAD can tell is corrupt.
    let (quick, _) = audit(&format!("{}/", registry.url()), &["--no-verify"], ANONYMOUS);
    let mut expected = on_disk.clone();
    expected.retain(|(rule, digest)| {
        !(rule == "blob-digest-mismatch" && digest.starts_with("sha256:89c7"))
    });
    assert_eq!(seen(&quick), expected);
    let layer_gets = registry
        .requests()
        .iter()
        .filter(|r| r.contains("/blobs/sha256:89c7") && r.starts_with("GET "))
        .count();
    // Only the verifying run fetched the layer: once, and once more to confirm that it
    // does not hash to its digest (as a blob on disk is hashed again before it fails a
    // run); --no-verify asked it with HEAD only.
    assert_eq!(layer_gets, 2);
}

#[test]
fn a_fresh_skopeo_push_audits_clean_over_http() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    if program("skopeo").is_none() {
        return;
    }
    let registry = Registry::start(&registry_bin);
    let clean = repo().join("corpus/clean");
    registry.push(
        &clean.join("umoci-multilayer/store"),
        "v1",
        "library/app:v1",
    );
    registry.push(&clean.join("umoci-multilayer/store"), "v1", "team/app:v1");
    registry.push(
        &clean.join("skopeo-multiplatform/store"),
        "multi",
        "library/multi:latest",
    );
    registry.push(&clean.join("skopeo-copy/store"), "v0", "library/copy:v0");
    let (http, out) = audit(
        &format!("{}/", registry.url()),
        &["--fail-on", "info"],
        ANONYMOUS,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(http["stats"]["repositories"], 4);
    assert_eq!(http["coverage"].as_array().unwrap().len(), 4);
}

/// Writes `auth.json` holding `user:password` for `host` (base64 `auth`).
fn auth_file(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("auth-{user}-{}.json", password.len()));
    fs::write(
        &path,
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    path
}

const SECRET: &str = "oci-audit-secret";
/// bcrypt of SECRET (cost 5), as the registry's htpasswd needs.
const SECRET_BCRYPT: &str = "$2b$05$rLNf48x.P42fn9LGXK0Kue8d62O.aGin99NAKOQoPC3HQTpnC6CJa";

#[test]
fn credentials_basic_bearer_and_a_private_ca() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    if program("openssl").is_none() {
        return;
    }
    let (dir, root) = root_copy();
    let host = |r: &Registry| format!("127.0.0.1:{}", r.port);
    let no_secret = |out: &Output| {
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "the secret was printed"
        );
    };

    // Basic (htpasswd).
    let htpasswd = dir.path().join("htpasswd");
    fs::write(&htpasswd, format!("alice:{SECRET_BCRYPT}\n")).unwrap();
    let basic = Registry::serve(&registry_bin, &root, &Access::Htpasswd(&htpasswd));
    let url = format!("{}/", basic.url());
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&url) && out.stderr.contains("none were found"),
        "{}",
        out.stderr
    );
    let wrong = auth_file(dir.path(), &host(&basic), "alice", "wrong-password");
    let (_, out) = audit(
        &url,
        &[],
        &[("REGISTRY_AUTH_FILE", wrong.to_str().unwrap())],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("wrong user or password"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password"));
    let right = auth_file(dir.path(), &host(&basic), "alice", SECRET);
    // Nothing the run writes holds the credentials: the report, the ledger, the metrics.
    let ledger = dir.path().join("ledger.db");
    let metrics = dir.path().join("oci-audit.prom");
    let written = [
        "--state",
        ledger.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
    ];
    let (report, out) = audit(
        &url,
        &written,
        &[("REGISTRY_AUTH_FILE", right.to_str().unwrap())],
    );
    {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("alice:{SECRET}"));
        for file in [&ledger, &metrics] {
            let text = String::from_utf8_lossy(&fs::read(file).unwrap()).into_owned();
            assert!(
                !text.contains(SECRET) && !text.contains(&encoded),
                "{} holds the credentials",
                file.display()
            );
        }
        assert!(!out.stdout.contains(&encoded));
    }
    assert_eq!(
        (out.code, &report["stats"]["repositories"]),
        (0, &Value::from(5)),
        "{}",
        out.stderr
    );
    no_secret(&out);
    // Docker's config.json with a credential helper, found through DOCKER_CONFIG.
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-oci-audit-test");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"alice\",\"Secret\":\"{SECRET}\"}}'\n",
            host(&basic)
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = dir.path().join("docker");
    fs::create_dir(&docker).unwrap();
    fs::write(
        docker.join("config.json"),
        r#"{"credsStore": "oci-audit-test"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = dir.path().join("home");
    let env = [
        ("PATH", path.as_str()),
        ("DOCKER_CONFIG", docker.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
        ("XDG_RUNTIME_DIR", home.to_str().unwrap()),
        ("XDG_CONFIG_HOME", home.to_str().unwrap()),
    ];
    let (_, out) = run_audit_env(&url, &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    no_secret(&out);

    // TLS with a private CA.
    let certs = certificates(dir.path());
    let tls = Registry::serve(
        &registry_bin,
        &root,
        &Access::Tls {
            certificate: &certs.certificate,
            key: &certs.key,
        },
    );
    let url = format!("https://127.0.0.1:{}/", tls.port);
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&url[..url.len() - 1])
            && out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    let (_, out) = audit(&url, &["--ca-file", certs.ca.to_str().unwrap()], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Or through the system store, as OpenSSL-minded tools are pointed at one.
    let (_, out) = audit(
        &url,
        &[],
        &[ANONYMOUS[0], ("SSL_CERT_FILE", certs.ca.to_str().unwrap())],
    );
    assert_eq!(
        out.code, 0,
        "the system store (SSL_CERT_FILE): {}",
        out.stderr
    );
    let (_, out) = audit(&url, &["--ca-file", "/nonexistent/ca.pem"], ANONYMOUS);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--ca-file /nonexistent/ca.pem"),
        "{}",
        out.stderr
    );

    // Bearer tokens, reused per scope: one request at a time, one token for /v2/, one
    // for the catalog, one per repository.
    let tokens_dir = dir.path().join("tokens");
    fs::create_dir(&tokens_dir).unwrap();
    let server = TokenServer::start(&tokens_dir, "alice", SECRET);
    let bearer = Registry::serve(
        &registry_bin,
        &root,
        &Access::Token {
            realm: &server.realm,
            bundle: &server.bundle,
        },
    );
    let url = format!("{}/", bearer.url());
    let right = auth_file(dir.path(), &host(&bearer), "alice", SECRET);
    let (report, out) = audit(
        &url,
        &["--io-concurrency", "1"],
        &[("REGISTRY_AUTH_FILE", right.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(report["stats"]["repositories"], 5);
    assert_eq!(server.issued(), 2 + 5, "tokens are reused per scope");
    no_secret(&out);
    let wrong = auth_file(dir.path(), &host(&bearer), "alice", "wrong-password");
    let (_, out) = audit(
        &url,
        &[],
        &[("REGISTRY_AUTH_FILE", wrong.to_str().unwrap())],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the credentials"),
        "{}",
        out.stderr
    );
}

fn run_audit_env(target: &str, env: &[(&str, &str)]) -> (Value, Output) {
    audit(target, &[], env)
}

#[test]
fn retries_rate_limits_and_failures_through_a_proxy() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (dir, root) = root_copy();
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let proxy = Proxy::start(registry.port);
    let url = format!("{}/", proxy.endpoint());
    let layer = "sha256:89c700434e0bd1e5b4a0a230a875aafaa639c8c46696f062e0a650c3a3ae91e9";

    // Requests in flight stay within --io-concurrency, slow answers or not.
    proxy.inject(None, "/", Fault::Delay { ms: 20 }, usize::MAX);
    let (_, out) = audit(&url, &["--io-concurrency", "2"], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let most = proxy.max_in_flight();
    assert!((1..=2).contains(&most), "{most} requests in flight at once");
    proxy.reset();
    proxy.inject(None, "/", Fault::Delay { ms: 20 }, usize::MAX);
    let (_, out) = audit(&url, &["--io-concurrency", "8"], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(proxy.max_in_flight() > 2, "the proxy sees requests overlap");
    proxy.reset();

    // A 429 with Retry-After, two 503s, a slow answer and a reset: retried, clean.
    proxy.inject(
        Some("GET"),
        &format!("/blobs/{layer}"),
        Fault::Reply {
            code: 429,
            headers: "Retry-After: 1\r\n".into(),
        },
        1,
    );
    proxy.inject(
        None,
        "/tags/list",
        Fault::Reply {
            code: 503,
            headers: String::new(),
        },
        2,
    );
    proxy.inject(None, "/manifests/", Fault::Delay { ms: 300 }, 3);
    proxy.inject(Some("GET"), "/blobs/", Fault::Cut { after: 10 }, 1);
    let started = std::time::Instant::now();
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After obeyed"
    );
    let seen = proxy.seen();
    let injected = seen.iter().filter(|s| s.injected.is_some()).count();
    assert_eq!(injected, 3, "{seen:#?}");

    // An answer that keeps failing: a finding at its request, and the rest audited.
    proxy.reset();
    proxy.inject(
        Some("HEAD"),
        &format!("team/web/app/blobs/{layer}"),
        Fault::Reply {
            code: 500,
            headers: String::new(),
        },
        usize::MAX,
    );
    let (report, out) = audit(&url, &["--io-retries", "1"], ANONYMOUS);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let failed: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["rule"] == "http-request-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(
        failed[0]["location"]["path"],
        format!("team/web/app/blobs/{layer}")
    );
    assert_eq!(findings(&report).len(), 1, "{report:#}");
    let tries = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "HEAD" && s.target.contains(&format!("team/web/app/blobs/{layer}")))
        .count();
    // Asked and retried once; what failed through every retry is not asked again.
    assert_eq!(tries, 2, "{:#?}", proxy.seen());

    // A metered registry: the reserve is never spent; the run is incomplete (exit 2)
    // and says which repositories to resume with.
    proxy.reset();
    proxy.inject(
        None,
        "/v2/",
        Fault::Header {
            name: "RateLimit-Remaining",
            value: "10;w=21600".into(),
        },
        usize::MAX,
    );
    let (report, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let incomplete = report["incomplete"].as_str().unwrap_or_default();
    assert!(
        incomplete.contains("--repositories") && incomplete.contains("library/app"),
        "{report:#}"
    );
    assert!(out.stderr.contains("incomplete"), "{}", out.stderr);
    let manifest_gets = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.target.contains("/manifests/"))
        .count();
    assert_eq!(manifest_gets, 0, "no manifest GET past the reserve");
    assert_eq!(findings(&report), &[] as &[Value], "{report:#}");

    // A registry that refuses its catalog (as Docker Hub and GHCR do): exit 2 saying
    // what to do, and --repositories names what to audit instead.
    proxy.reset();
    proxy.inject(
        None,
        "/_catalog",
        Fault::Reply {
            code: 404,
            headers: String::new(),
        },
        usize::MAX,
    );
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--repositories"), "{}", out.stderr);
    let list = dir.path().join("repositories.txt");
    fs::write(&list, "# the two of them\nlibrary/multi\n\nteam/web/app\n").unwrap();
    let (report, out) = audit(&url, &["--repositories", list.to_str().unwrap()], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(report["stats"]["repositories"], 2);
    fs::write(&list, "Library/Multi\n").unwrap();
    let (_, out) = audit(&url, &["--repositories", list.to_str().unwrap()], ANONYMOUS);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("line 1"), "{}", out.stderr);
}

#[test]
fn a_digest_header_that_names_other_content_is_a_finding() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (_dir, root) = root_copy();
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let proxy = Proxy::start(registry.port);
    let child = "sha256:c9bd72b7b4e8c906f7a8499ef0714522eea9d5ea195b91d8219af7a4f993abfd";
    let other = format!("sha256:{}", "0".repeat(64));
    proxy.inject(
        Some("GET"),
        &format!("/manifests/{child}"),
        Fault::Header {
            name: "Docker-Content-Digest",
            value: other.clone(),
        },
        usize::MAX,
    );
    let (report, out) = audit(
        &format!("{}/library/multi", proxy.endpoint()),
        &[],
        ANONYMOUS,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let found: Vec<&Value> = findings(&report).iter().collect();
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["rule"], "http-digest-header-mismatch");
    assert_eq!(
        found[0]["location"]["path"],
        format!("library/multi/manifests/{child}")
    );
    assert_eq!(found[0]["found"], other);
}

#[test]
fn shards_and_merge_on_a_registry_equal_one_audit() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (dir, root) = root_copy();
    flip(
        &blob(
            &root,
            "89c700434e0bd1e5b4a0a230a875aafaa639c8c46696f062e0a650c3a3ae91e9",
        ),
        10,
    );
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let url = format!("{}/", registry.url());
    let (_, whole) = audit(&url, &[], ANONYMOUS);
    assert_eq!(whole.code, 1, "{}", whole.stderr);
    let files = crate::shard::shards_of(&url, &["--coverage", "full"], ANONYMOUS, 3, dir.path());
    let merged = crate::shard::merge(&files, &["--format", "json", "--coverage", "full"]);
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    assert_eq!(normalize(&merged.stdout), normalize(&whole.stdout));
    // The same split sharing one plan: the shards fetch blobs by the API's keys.
    let planned = tempfile::tempdir().unwrap();
    let (plan, files) = crate::shard::planned_shards_of(
        &url,
        &["--coverage", "full"],
        ANONYMOUS,
        3,
        planned.path(),
    );
    let merged = crate::shard::merge(
        &files,
        &[
            "--format",
            "json",
            "--coverage",
            "full",
            "--plan",
            plan.to_str().unwrap(),
        ],
    );
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    assert_eq!(normalize(&merged.stdout), normalize(&whole.stdout));
}

#[test]
fn a_nightly_rerun_of_an_unchanged_registry_makes_no_manifest_get() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (dir, root) = root_copy();
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let url = format!("{}/", registry.url());
    let state = dir.path().join("ledger.db");
    let args = ["--state", state.to_str().unwrap()];
    let manifest_gets = |from: usize| {
        let requests = registry.requests();
        let gets = requests[from..]
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("/manifests/"))
            .count();
        (gets, requests.len())
    };
    let (first, out) = audit(&url, &args, ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (gets, seen) = manifest_gets(0);
    // library/app (and the same in team/web/app), library/docker, library/multi's
    // index and its three manifests.
    assert_eq!(gets, 6, "each manifest and index fetched once");
    let (second, out) = audit(&url, &args, ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (gets, seen) = manifest_gets(seen);
    assert_eq!(gets, 0, "an unchanged registry: no manifest GET at all");
    // The same audit: every blob trusted, the documents from the ledger.
    assert_eq!(second["coverage"], first["coverage"]);
    assert_eq!(second["stats"]["blobs_hashed"], 0);
    assert_eq!(second["stats"]["blobs_trusted"], first["stats"]["blobs"]);
    // A tag moved to another manifest: that one is fetched, and only that one.
    let tag = v2(&root).join("repositories/library/app/_manifests/tags/v0/current/link");
    fs::write(
        &tag,
        "sha256:4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27",
    )
    .unwrap();
    let (_, out) = audit(&url, &args, ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (gets, _) = manifest_gets(seen);
    assert_eq!(gets, 1, "only the manifest the tag moved to");
}

#[test]
fn pages_meters_and_failures_are_read_as_a_careful_client_would() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    let (dir, root) = root_copy();
    let registry = Registry::serve(&registry_bin, &root, &Access::Plain);
    let proxy = Proxy::start(registry.port);
    let url = format!("{}/", proxy.endpoint());
    let manifest_gets = |proxy: &Proxy| {
        proxy
            .seen()
            .iter()
            .filter(|s| s.method == "GET" && s.target.contains("/manifests/"))
            .count()
    };

    // A next page on another host is not followed (the credentials would go with it).
    proxy.inject(
        Some("GET"),
        "/_catalog",
        Fault::Header {
            name: "Link",
            value: "<http://other.example:1/v2/_catalog?last=z>; rel=\"next\"".into(),
        },
        usize::MAX,
    );
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("another origin"), "{}", out.stderr);
    // A relative next page is read against the page that named it; one that names the
    // page again ends the catalog instead of looping.
    proxy.reset();
    proxy.inject(
        Some("GET"),
        "/_catalog",
        Fault::Header {
            name: "Link",
            value: "<_catalog?n=1000>; rel=next".into(),
        },
        usize::MAX,
    );
    let (report, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(report["stats"]["repositories"], 5);
    let pages = proxy
        .seen()
        .iter()
        .filter(|s| s.target.contains("_catalog"))
        .count();
    assert_eq!(pages, 2, "{:#?}", proxy.seen());

    // A registry that sends its meter only with manifests (as Docker Hub does): after
    // the first tag, every tag is resolved with HEAD, and each manifest is fetched once,
    // not once per tag.
    proxy.reset();
    proxy.inject(
        None,
        "/manifests/",
        Fault::Header {
            name: "RateLimit-Remaining",
            value: "1000;w=21600".into(),
        },
        usize::MAX,
    );
    let (_, out) = audit(&url, &[], ANONYMOUS);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(manifest_gets(&proxy), 6, "{:#?}", proxy.seen());
    // Two pulls above the reserve: two GETs, whatever is in flight, and the run says
    // it is incomplete.
    proxy.reset();
    proxy.inject(
        None,
        "/manifests/",
        Fault::Header {
            name: "RateLimit-Remaining",
            value: "12;w=21600".into(),
        },
        usize::MAX,
    );
    let (report, out) = audit(&url, &["--io-concurrency", "32"], ANONYMOUS);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(report["incomplete"].is_string());
    assert!(manifest_gets(&proxy) <= 2, "{:#?}", proxy.seen());

    // A GET that keeps failing while HEAD answers: the finding stands (exit 1).
    proxy.reset();
    let docker_config = "sha256:2ca9cf384f641fd0ceefdd87d9bee9246d236fd5bf8e78cbbca0ac562025c5b3";
    proxy.inject(
        Some("GET"),
        &format!("/blobs/{docker_config}"),
        Fault::Reply {
            code: 500,
            headers: String::new(),
        },
        usize::MAX,
    );
    let (report, out) = audit(
        &format!("{}/library/docker", proxy.endpoint()),
        &["--io-retries", "0"],
        ANONYMOUS,
    );
    assert_eq!(out.code, 1, "{}\n{report:#}", out.stderr);
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["rule"] == "http-request-failed" && f["severity"] == "error"),
        "{report:#}"
    );

    // A tag resolved with HEAD whose manifest then answers 404 by digest: unresolvable.
    proxy.reset();
    let state = dir.path().join("ledger.db");
    let digest = fs::read_to_string(
        v2(&root).join("repositories/library/docker/_manifests/tags/v2s2/current/link"),
    )
    .unwrap();
    proxy.inject(
        Some("GET"),
        &format!("/manifests/{digest}"),
        Fault::Reply {
            code: 404,
            headers: String::new(),
        },
        usize::MAX,
    );
    let (report, out) = audit(
        &format!("{}/library/docker", proxy.endpoint()),
        &["--state", state.to_str().unwrap()],
        ANONYMOUS,
    );
    assert_eq!(
        out.code,
        1,
        "{}\n{report:#}\n{:#?}",
        out.stderr,
        proxy.seen()
    );
    let found: Vec<&Value> = findings(&report).iter().collect();
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["rule"], "http-tag-unresolvable");
    assert_eq!(found[0]["expected"], digest);

    // A name in --repositories that is not served is a finding, not skipped.
    let list = dir.path().join("names.txt");
    fs::write(&list, "library/multi\nlibrary/typo\n").unwrap();
    let (report, out) = audit(&url, &["--repositories", list.to_str().unwrap()], ANONYMOUS);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["location"]["path"] == "library/typo/tags/list"),
        "{report:#}"
    );
    // --repositories with an address that names one repository is refused.
    let (_, out) = audit(
        &format!("{}/library/multi", proxy.endpoint()),
        &["--repositories", list.to_str().unwrap()],
        ANONYMOUS,
    );
    assert_eq!(out.code, 2);
}
