//! Debian's docker-registry on 127.0.0.1, on the file-system driver or the S3 driver,
//! pushed to with skopeo; stopped by its PID when dropped. Tools are looked up on PATH:
//! a test without them is skipped, unless `OCI_AUDIT_REQUIRE_TOOLS` is set (CI sets it),
//! where a missing tool fails.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Layout;

/// The path of `name` on PATH, or `None` (skip) where tools are not required.
pub fn program(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if found.is_none() {
        assert!(
            std::env::var_os("OCI_AUDIT_REQUIRE_TOOLS").is_none(),
            "{name} is not installed (OCI_AUDIT_REQUIRE_TOOLS is set)"
        );
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

/// The registry binary: Debian calls it docker-registry, upstream registry.
pub fn registry_program() -> Option<String> {
    program("docker-registry").or_else(|| program("registry"))
}

/// A free port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry serving from a configuration in a temporary directory, killed when dropped.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub program: String,
    root: PathBuf,
    child: Child,
}

/// How a registry serving an existing root is reached.
pub enum Access<'a> {
    /// Plain HTTP, anonymous.
    Plain,
    /// Basic authentication against an htpasswd file (bcrypt entries only).
    Htpasswd(&'a Path),
    /// HTTPS with this certificate and key (PEM).
    Tls {
        certificate: &'a Path,
        key: &'a Path,
    },
    /// Bearer tokens from the token server at `realm`, signed by a key whose certificate
    /// is `bundle`.
    Token { realm: &'a str, bundle: &'a Path },
}

/// The `service` and `issuer` of the token registries the tests run.
pub const TOKEN_SERVICE: &str = "oci-audit-test";

impl Registry {
    /// On the file-system driver, rooted at `root()`.
    pub fn start(program: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let storage = format!("filesystem: {{rootdirectory: {}}}", root.display());
        Registry::start_with(program, dir, &storage)
    }

    /// On the driver `storage` configures (one line of YAML flow mapping, such as
    /// `s3: {...}`).
    pub fn start_with(program: &str, dir: tempfile::TempDir, storage: &str) -> Registry {
        let port = free_port();
        fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
                 storage:\n  {storage}\n  delete: {{enabled: true}}\n  redirect: {{disable: true}}\n  \
                 maintenance: {{uploadpurging: {{enabled: false}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n"
            ),
        )
        .unwrap();
        // The 2.8 S3 driver panics at start on a custom CA bundle from the environment.
        let child = Command::new(program)
            .env_remove("AWS_CA_BUNDLE")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            root: dir.path().join("root"),
            dir,
            port,
            program: program.to_owned(),
            child,
        };
        for _ in 0..200 {
            if registry.request("GET", "/v2/").is_some() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry did not answer on 127.0.0.1:{port}");
    }

    /// Serves the existing root directory `root` read-only (the registry writes nothing
    /// to it), reached as `access` says, with every request logged to `access.log`.
    pub fn serve(program: &str, root: &Path, access: &Access) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tls = match access {
            Access::Tls { certificate, key } => format!(
                ", tls: {{certificate: {}, key: {}}}",
                certificate.display(),
                key.display()
            ),
            _ => String::new(),
        };
        let auth = match access {
            Access::Htpasswd(file) => {
                format!(
                    "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                    file.display()
                )
            }
            Access::Token { realm, bundle } => format!(
                "auth: {{token: {{realm: \"{realm}\", service: {TOKEN_SERVICE}, issuer: {TOKEN_SERVICE}, rootcertbundle: {}}}}}\n",
                bundle.display()
            ),
            _ => String::new(),
        };
        fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog: {{level: error, accesslog: {{disabled: false}}}}\n\
                 storage:\n  filesystem: {{rootdirectory: {}}}\n  redirect: {{disable: true}}\n  \
                 maintenance: {{uploadpurging: {{enabled: false}}, readonly: {{enabled: true}}}}\n\
                 http: {{addr: 127.0.0.1:{port}{tls}}}\n{auth}",
                root.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("access.log")).unwrap();
        let child = Command::new(program)
            .env_remove("AWS_CA_BUNDLE")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry {
            dir,
            port,
            program: program.to_owned(),
            root: root.to_owned(),
            child,
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not answer on 127.0.0.1:{port}");
    }

    /// The requests the registry logged ("GET /v2/…" lines of its access log), with
    /// their methods: what an audit asked.
    pub fn requests(&self) -> Vec<String> {
        let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let start = line.find('"')? + 1;
                let request = &line[start..];
                let end = request.find('"')?;
                let request = &request[..end];
                (request.starts_with("GET ") || request.starts_with("HEAD "))
                    .then(|| request.to_owned())
            })
            .collect()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The file-system driver's root directory.
    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// One HTTP/1.0 request; the status line's code.
    pub fn request(&self, method: &str, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split(' ').nth(1)?.parse().ok()
    }

    /// A manifest's digest as the registry serves it (the Docker-Content-Digest header).
    pub fn digest_of(&self, name: &str, reference: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "HEAD /v2/{name}/manifests/{reference} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no digest for {name}:{reference}: {answer}"))
    }

    /// `skopeo copy` of the layout's `tag` (all platforms) to `reference` here.
    pub fn push(&self, layout: &Path, tag: &str, reference: &str) {
        skopeo(&[
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://127.0.0.1:{}/{reference}", self.port),
        ]);
    }

    /// `skopeo copy` from one repository here to another.
    pub fn copy(&self, from: &str, to: &str) {
        skopeo(&[
            &format!("docker://127.0.0.1:{}/{from}", self.port),
            &format!("docker://127.0.0.1:{}/{to}", self.port),
        ]);
    }

    /// The blobs `registry garbage-collect --dry-run` with `flags` would delete (its "blob
    /// eligible for deletion" lines).
    pub fn collectable(&self, flags: &[&str]) -> std::collections::BTreeSet<String> {
        let mut all = vec!["--dry-run"];
        all.extend_from_slice(flags);
        self.garbage_collect_with(&all)
            .lines()
            .filter_map(|l| l.strip_prefix("blob eligible for deletion: "))
            .map(str::to_owned)
            .collect()
    }

    /// `registry garbage-collect` with `flags` on this configuration; its stdout.
    fn garbage_collect_with(&self, flags: &[&str]) -> String {
        let mut command = Command::new(&self.program);
        command.env_remove("AWS_CA_BUNDLE").arg("garbage-collect");
        let out = command.args(flags).arg(self.config()).output().unwrap();
        assert!(
            out.status.success(),
            "garbage-collect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to the registry this test started, by its PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// `skopeo copy --all` with `args` (source and destination, and any flags before them).
pub fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image of one unique layer, in an OCI layout tagged v1; returns the layout and the
/// manifest digest.
pub fn image(n: usize) -> (Layout, String) {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", format!("layer of image {n}").as_bytes());
    layout.index_json(&[(&manifest, size, "v1")]);
    (layout, manifest)
}
