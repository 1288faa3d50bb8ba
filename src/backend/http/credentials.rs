//! Credentials as docker, podman and skopeo find them, in podman's order:
//! `REGISTRY_AUTH_FILE` (alone, when set), then `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$XDG_CONFIG_HOME/containers/auth.json`, then `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`. In each file, a `credHelpers` entry for the host, then an
//! `auths` entry (`auth` as base64 `user:password`, or `username`/`password`), then
//! `credsStore`; a helper is asked with the `docker-credential-*` protocol (the server on
//! stdin, `{"Username", "Secret"}` on stdout).
//!
//! A [`Credential`] never prints its secret: its `Debug` is redacted, and nothing writes
//! it to a report, a ledger or metrics.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// A user name and its password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password, or an identity token.
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

/// Why credentials could not be found (exit 2: a file or helper the user set up is
/// broken, so going on anonymously would audit something else than they asked).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// An auth file that exists but cannot be read or parsed.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A credential helper that failed.
    #[error("docker-credential-{helper} get {server}: {why}")]
    Helper {
        /// The helper's name (after `docker-credential-`).
        helper: String,
        /// The server asked for.
        server: String,
        /// What went wrong.
        why: String,
    },
}

/// The parts of an auth file that matter, read leniently: an entry for another host is
/// never parsed, so its mistakes neither stop the audit nor reach a message (serde's
/// errors quote the value they refused, which may be a password).
#[derive(Default)]
struct AuthFile {
    auths: serde_json::Map<String, serde_json::Value>,
    cred_helpers: serde_json::Map<String, serde_json::Value>,
    creds_store: Option<String>,
}

impl AuthFile {
    fn parse(bytes: &[u8]) -> Result<AuthFile, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
        let serde_json::Value::Object(mut top) = value else {
            return Err("not a JSON object".to_owned());
        };
        let mut object = |key: &str| match top.remove(key) {
            Some(serde_json::Value::Object(map)) => Ok(map),
            None | Some(serde_json::Value::Null) => Ok(serde_json::Map::new()),
            Some(_) => Err(format!("\"{key}\" is not an object")),
        };
        let auths = object("auths")?;
        let cred_helpers = object("credHelpers")?;
        let creds_store = top
            .get("credsStore")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(AuthFile {
            auths,
            cred_helpers,
            creds_store,
        })
    }
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// Where to look, from the environment `env` and the home directory.
pub fn auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    if let Some(file) = env("REGISTRY_AUTH_FILE") {
        return vec![PathBuf::from(file)];
    }
    let mut files = Vec::new();
    if let Some(runtime) = env("XDG_RUNTIME_DIR") {
        files.push(Path::new(&runtime).join("containers/auth.json"));
    }
    let home = env("HOME");
    match (env("XDG_CONFIG_HOME"), &home) {
        (Some(config), _) => files.push(Path::new(&config).join("containers/auth.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".config/containers/auth.json")),
        (None, None) => {}
    }
    match (env("DOCKER_CONFIG"), &home) {
        (Some(dir), _) => files.push(Path::new(&dir).join("config.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".docker/config.json")),
        (None, None) => {}
    }
    files
}

/// The credential for registry `host` (`HOST[:PORT]`) from the first file that has one.
pub fn find(host: &str, files: &[PathBuf]) -> Result<Option<Credential>, CredentialError> {
    for path in files {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(file_error(path, error.to_string())),
        };
        let file = AuthFile::parse(&text).map_err(|why| file_error(path, why))?;
        if let Some(found) = from_file(&file, host).map_err(|why| file_error(path, why))? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn file_error(path: &Path, why: String) -> CredentialError {
    CredentialError::File {
        path: path.display().to_string(),
        why,
    }
}

/// The names a file may key `host` under: `HOST`, `https://HOST`, `http://HOST`, with or
/// without `/v1/` or `/v2/`; Docker Hub as `https://index.docker.io/v1/`.
fn keys_for(host: &str) -> Vec<String> {
    let mut hosts = vec![host.to_owned()];
    if matches!(
        host,
        "docker.io" | "registry-1.docker.io" | "index.docker.io"
    ) {
        hosts.extend(["docker.io", "index.docker.io", "registry-1.docker.io"].map(String::from));
    }
    let mut keys = Vec::new();
    for host in hosts {
        for prefix in ["", "https://", "http://"] {
            for suffix in ["", "/", "/v1/", "/v2/"] {
                keys.push(format!("{prefix}{host}{suffix}"));
            }
        }
    }
    keys
}

fn from_file(file: &AuthFile, host: &str) -> Result<Option<Credential>, String> {
    let keys = keys_for(host);
    if let Some((key, helper)) = keys
        .iter()
        .find_map(|k| file.cred_helpers.get(k).map(|h| (k, h)))
    {
        let helper = helper
            .as_str()
            .ok_or_else(|| format!("credHelpers[{key:?}] is not a string"))?;
        return helper_get(helper, key).map_err(|e| e.to_string());
    }
    if let Some((key, entry)) = keys.iter().find_map(|k| file.auths.get(k).map(|e| (k, e))) {
        let entry: AuthEntry = serde_json::from_value(entry.clone()).map_err(|_| {
            format!("auths[{key:?}] is not an object of auth, username, password or identitytoken strings")
        })?;
        if let Some(found) = from_entry(&entry)? {
            return Ok(Some(found));
        }
    }
    match &file.creds_store {
        Some(helper) => helper_get(helper, &helper_server(host)).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

fn from_entry(entry: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "an \"auth\" entry is not base64".to_owned())?;
        let text = String::from_utf8(decoded)
            .map_err(|_| "an \"auth\" entry is not UTF-8 once decoded".to_owned())?;
        let (username, secret) = text
            .split_once(':')
            .ok_or_else(|| "an \"auth\" entry does not decode to user:password".to_owned())?;
        return Ok(Some(Credential {
            username: username.to_owned(),
            secret: secret.to_owned(),
        }));
    }
    if let (Some(username), Some(secret)) = (&entry.username, &entry.password) {
        return Ok(Some(Credential {
            username: username.clone(),
            secret: secret.clone(),
        }));
    }
    Ok(entry.identity_token.as_ref().map(|token| Credential {
        username: "<token>".to_owned(),
        secret: token.clone(),
    }))
}

/// How helpers name Docker Hub; other registries by host.
fn helper_server(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_owned()
        }
        host => host.to_owned(),
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-HELPER get`, `server` on stdin. A helper that knows no credential
/// for the server (its "credentials not found" answer) gives `None`.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>, CredentialError> {
    let error = |why: String| CredentialError::Helper {
        helper: helper.to_owned(),
        server: server.to_owned(),
        why,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| error(e.to_string()))?;
    if !out.status.success() {
        let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
        let (stdout, stderr) = (said(&out.stdout), said(&out.stderr));
        if (stdout.clone() + &stderr)
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        // Only stderr is shown (stdout is where a helper writes secrets), and only so much.
        let stderr: String = stderr.chars().take(200).collect();
        return Err(error(format!("{}: {stderr}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| error("its answer is not the helper protocol's JSON".to_owned()))?;
    Ok(Some(Credential {
        username: answer.username,
        secret: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn files_are_looked_up_in_podman_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            auth_files(&env(&[("REGISTRY_AUTH_FILE", "/a.json"), ("HOME", "/h")])),
            [PathBuf::from("/a.json")]
        );
        assert_eq!(
            auth_files(&env(&[("XDG_RUNTIME_DIR", "/run/u"), ("HOME", "/h")])),
            [
                PathBuf::from("/run/u/containers/auth.json"),
                PathBuf::from("/h/.config/containers/auth.json"),
                PathBuf::from("/h/.docker/config.json"),
            ]
        );
        assert_eq!(
            auth_files(&env(&[("DOCKER_CONFIG", "/d")])),
            [PathBuf::from("/d/config.json")]
        );
    }

    #[test]
    fn entries_by_host_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:x");
        let podman = write(
            dir.path(),
            "auth.json",
            &format!(r#"{{"auths": {{"r.example:5000": {{"auth": "{auth}"}}}}}}"#),
        );
        let docker = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
                          "other.example": {"auth": "!!"}}}"#,
        );
        let leaky = write(
            dir.path(),
            "leaky.json",
            r#"{"auths": {"elsewhere.example": "b3RoZXI6U0VDUkVUMg==", "r.example:5000": {"password": 123456789}}}"#,
        );
        let files = [dir.path().join("absent.json"), podman, docker];
        let found = find("r.example:5000", &files).unwrap().unwrap();
        assert_eq!((&*found.username, &*found.secret), ("alice", "s3cret:x"));
        assert!(!format!("{found:?}").contains("s3cret"));
        let hub = find("docker.io", &files).unwrap().unwrap();
        assert_eq!(hub.username, "bob");
        assert_eq!(find("none.example", &files).unwrap(), None);
        let error = find("other.example", &files).unwrap_err().to_string();
        assert!(
            error.contains("config.json") && error.contains("base64"),
            "{error}"
        );
        // Another host's broken entry is not read; this host's is refused without
        // quoting what it holds.
        assert_eq!(
            find("third.example", std::slice::from_ref(&leaky)).unwrap(),
            None
        );
        let error = find("r.example:5000", &[leaky]).unwrap_err().to_string();
        assert!(error.contains("auths[\"r.example:5000\"]"), "{error}");
        assert!(
            !error.contains("123456789") && !error.contains("b3Ro"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_helper_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "config.json",
            r#"{"credHelpers": {"r.example": "oci-audit-test-absent"}}"#,
        );
        let error = find("r.example", &[file]).unwrap_err().to_string();
        assert!(
            error.contains("docker-credential-oci-audit-test-absent"),
            "{error}"
        );
    }
}
