//! A registry reached over its distribution API: the [`RegistryApi`] the `registry-api`
//! kind asks, and a [`Backend`] over the API's keys (`NAME/blobs/DIGEST`,
//! `NAME/manifests/REFERENCE`) through which the verify phase streams and hashes blobs,
//! confirmation re-asks with HEAD, and the ledger keeps what it verified.
//!
//! Opening does what decides whether the audit can run at all, so that each failure is an
//! exit-2 error naming the registry: the credentials (`credentials`), the first answer of
//! `/v2/` (an unreachable host, a bad certificate, wrong credentials), and the list of
//! repositories (a refused catalog without `--repositories`).

pub mod client;
pub mod credentials;

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use reqwest::{Method as HttpMethod, StatusCode};
use serde::Deserialize;

use crate::backend::api::{self, Answer, Endpoint, Method, RegistryApi};
use crate::backend::{Backend, Entry, EntryKind, Hashed, ReadError, Stat, Version};
use crate::hash::Hasher;
use crate::model::address::{RegistryAddress, Scope};
use crate::model::digest::{Algorithm, Digest};
use crate::model::key::Key;
use client::{Client, ClientError, ClientOptions};

/// The Accept header of manifest requests: every manifest and index type of OCI and
/// Docker, so the registry serves what it holds rather than a conversion.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.artifact.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v1+prettyjws, \
     application/vnd.docker.distribution.manifest.v1+json";

/// Names asked for per page of the catalog and of a tag list.
const PAGE: usize = 1000;
/// Largest page read (a thousand names of at most 255 bytes fit many times over).
const MAX_PAGE: u64 = 64 << 20;

/// How a registry is opened.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Requests kept in flight (`--io-concurrency`).
    pub connections: usize,
    /// Retries of a transient failure (`--io-retries`).
    pub retries: usize,
    /// Extra certificate authorities (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Repositories to audit where the catalog is refused (`--repositories`).
    pub repositories_file: Option<PathBuf>,
    /// Manifest GETs left unspent on a metered registry.
    pub rate_limit_reserve: u64,
}

/// Why a registry could not be opened (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Credentials, connection, certificate, authentication.
    #[error("{registry}: {source}")]
    Client {
        /// The registry.
        registry: String,
        /// What failed.
        source: ClientError,
    },
    /// Credentials could not be read.
    #[error("{registry}: credentials: {source}")]
    Credentials {
        /// The registry.
        registry: String,
        /// What failed.
        source: credentials::CredentialError,
    },
    /// Anything else the registry answered that stops the audit.
    #[error("{registry}: {why}")]
    Refused {
        /// The registry.
        registry: String,
        /// What it answered.
        why: String,
    },
}

/// One registry, opened.
pub struct HttpRegistry {
    address: RegistryAddress,
    client: Client,
    /// Tries after the first for a body cut short (a reset connection).
    retries: usize,
    /// Requests kept in flight, and connections kept open.
    connections: usize,
    /// The repositories came from `--repositories`.
    named: bool,
    repositories: Vec<String>,
    /// Repositories a request of which the rate-limit reserve held back.
    held_back: Mutex<BTreeSet<String>>,
}

impl HttpRegistry {
    /// Finds credentials, asks `/v2/`, and lists the repositories to audit.
    pub fn open(
        address: &RegistryAddress,
        options: &HttpOptions,
    ) -> Result<HttpRegistry, OpenError> {
        let registry = address.to_string();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let credential =
            credentials::find(&address.host, &credentials::auth_files(&env)).map_err(|source| {
                OpenError::Credentials {
                    registry: registry.clone(),
                    source,
                }
            })?;
        let client = Client::new(
            address.base(),
            ClientOptions {
                retries: options.retries,
                ca_file: options.ca_file.clone(),
                credential,
                connections: options.connections,
                rate_limit_reserve: options.rate_limit_reserve,
            },
        )
        .map_err(|source| OpenError::Client {
            registry: registry.clone(),
            source,
        })?;
        let client_error = |source| OpenError::Client {
            registry: registry.clone(),
            source,
        };
        let refused = |why: String| OpenError::Refused {
            registry: registry.clone(),
            why,
        };
        // The scope the first challenge is answered for: the repository, when one is named
        // (a token server may refuse a token for no scope to an anonymous client).
        if options.repositories_file.is_some() && address.scope != Scope::All {
            return Err(refused(
                "--repositories names the repositories of a whole registry: give the registry's address alone (https://HOST/)".to_owned(),
            ));
        }
        let first_scope = address
            .scope
            .repository()
            .map_or_else(String::new, pull_scope);
        let ping = client
            .send(HttpMethod::GET, "/v2/", "", &first_scope)
            .map_err(client_error)?;
        if !ping.status().is_success() {
            return Err(refused(format!(
                "GET /v2/ answered {}: not a registry's distribution API",
                ping.status()
            )));
        }
        drop(ping);
        let mut registry_open = HttpRegistry {
            address: address.clone(),
            client,
            retries: options.retries,
            connections: options.connections.max(1),
            named: options.repositories_file.is_some(),
            repositories: Vec::new(),
            held_back: Mutex::new(BTreeSet::new()),
        };
        registry_open.repositories = match (&address.scope, &options.repositories_file) {
            (Scope::All, Some(file)) => read_repositories(file).map_err(refused)?,
            (Scope::All, None) => registry_open.catalog().map_err(|e| match e {
                CatalogError::Client(source) => client_error(source),
                CatalogError::Refused(why) => refused(why),
            })?,
            (scope, _) => vec![scope.repository().unwrap_or_default().to_owned()],
        };
        // One image named: that it is not there is the answer, not an audit of nothing.
        let one = match &address.scope {
            Scope::Tag(name, tag) => Some((name, ':', tag.clone())),
            Scope::Digest(name, digest) => Some((name, '@', digest.to_string())),
            Scope::All | Scope::Repository(_) => None,
        };
        if let Scope::Repository(name) = &address.scope {
            match registry_open.tags(name) {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {
                    return Err(refused(format!("no repository {name} is served (404)")));
                }
                Err(error) => return Err(refused(error.to_string())),
            }
        }
        if let Some((name, separator, reference)) = one {
            match registry_open.manifest(name, &reference, Method::Head, 0) {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {
                    return Err(refused(format!(
                        "no manifest is served for {name}{separator}{reference} (404)"
                    )));
                }
                Err(error) => return Err(refused(error.to_string())),
            }
        }
        Ok(registry_open)
    }

    /// Requests sent so far: manifest GETs, and all.
    pub fn requests(&self) -> (u64, u64) {
        let counts = &self.client.requests;
        (
            counts
                .manifest_gets
                .load(std::sync::atomic::Ordering::Relaxed),
            counts.all.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Every repository of `/v2/_catalog`, every page.
    fn catalog(&self) -> Result<Vec<String>, CatalogError> {
        let refused = |why: String| {
            CatalogError::Refused(format!(
                "the catalog (/v2/_catalog) is refused ({why}); name the repositories to audit with --repositories FILE, one a line"
            ))
        };
        self.pages("/v2/_catalog", "registry:catalog:*", "repositories")
            .map_err(|e| match e {
                PageError::Client(ClientError::Unauthorized { why, .. }) => refused(why),
                PageError::Client(e) => CatalogError::Client(e),
                PageError::Status(status, _) => refused(status.to_string()),
                PageError::Body(why) => {
                    CatalogError::Refused(format!("/v2/_catalog: not a catalog: {why}"))
                }
            })
    }

    /// The names of a paginated list (`/v2/_catalog`, `/v2/NAME/tags/list`): the `field`
    /// array of every page, following `Link` headers (each page once), sorted.
    fn pages(&self, first: &str, scope: &str, field: &str) -> Result<Vec<String>, PageError> {
        let mut names = Vec::new();
        let mut next = Some(format!("{first}?n={PAGE}"));
        // A next page seen before would loop forever.
        let mut visited = std::collections::HashSet::new();
        while let Some(path) = next.take() {
            let answer = self
                .client
                .send(HttpMethod::GET, &path, "", scope)
                .map_err(PageError::Client)?;
            let status = answer.status();
            if !status.is_success() {
                let url = if path.starts_with('/') {
                    format!("{}{path}", self.client.base())
                } else {
                    path
                };
                return Err(PageError::Status(status, url));
            }
            next = next_page(&answer).filter(|n| visited.insert(n.clone()));
            let page: serde_json::Value =
                client::read_json(answer, MAX_PAGE).map_err(PageError::Body)?;
            match &page[field] {
                serde_json::Value::Null => {}
                serde_json::Value::Array(items) => {
                    for item in items {
                        let name = item.as_str().ok_or_else(|| {
                            PageError::Body(format!("{field} holds something other than names"))
                        })?;
                        names.push(name.to_owned());
                    }
                }
                _ => return Err(PageError::Body(format!("{field} is not a list"))),
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// GET or HEAD of `NAME/ENDPOINT/REFERENCE`, refusing a body over `max`; a body cut
    /// short is asked for again.
    fn fetch(
        &self,
        name: &str,
        endpoint: Endpoint,
        reference: &str,
        method: Method,
        max: u64,
    ) -> Result<Answer, ReadError> {
        self.again(|| self.fetch_once(name, endpoint, reference, method, max))
    }

    /// `attempt` again (with backoff) while it fails with a body cut short.
    fn again<T>(&self, attempt: impl Fn() -> Result<T, Cut>) -> Result<T, ReadError> {
        let mut tries = 0;
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Cut::Short(error)) if tries < self.retries => {
                    drop(error);
                    std::thread::sleep(std::time::Duration::from_millis(250 << tries.min(5)));
                    tries += 1;
                }
                Err(Cut::Short(error) | Cut::Other(error)) => return Err(error),
            }
        }
    }

    fn fetch_once(
        &self,
        name: &str,
        endpoint: Endpoint,
        reference: &str,
        method: Method,
        max: u64,
    ) -> Result<Answer, Cut> {
        let response = self
            .request(name, endpoint, reference, method)
            .map_err(Cut::Other)?;
        let headers = response.headers();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut answer = Answer {
            body: Vec::new(),
            len: response
                .content_length()
                .filter(|_| method == Method::Get)
                .or_else(|| text("content-length").and_then(|l| l.trim().parse().ok())),
            digest: text("docker-content-digest"),
            media_type: text("content-type"),
        };
        if method == Method::Head {
            return Ok(answer);
        }
        if let Some(len) = answer.len.filter(|len| *len > max) {
            return Err(Cut::Other(ReadError::TooLarge { len, max }));
        }
        // Grown as bytes come: a Content-Length is not trusted with an allocation.
        let mut body = Vec::with_capacity(answer.len.unwrap_or(0).min(max).min(1 << 20) as usize);
        let read = response.take(max.saturating_add(1)).read_to_end(&mut body);
        let short = match read {
            Err(e) => Some(client::chain(&e)),
            Ok(_) => answer
                .len
                .filter(|len| *len != body.len() as u64 && body.len() as u64 <= max)
                .map(|len| format!("after {} of {len} bytes", body.len())),
        };
        if let Some(why) = short {
            return Err(Cut::Short(ReadError::Io(io::Error::other(format!(
                "GET {}: the answer was cut short: {why}",
                self.url(name, endpoint, reference),
            )))));
        }
        if body.len() as u64 > max {
            return Err(Cut::Other(ReadError::TooLarge {
                len: body.len() as u64,
                max,
            }));
        }
        answer.len = Some(body.len() as u64);
        answer.body = body;
        Ok(answer)
    }

    /// Sends one request; a 404 is [`ReadError::NotFound`], any other failure
    /// [`ReadError::Io`] naming the URL and the answer.
    fn request(
        &self,
        name: &str,
        endpoint: Endpoint,
        reference: &str,
        method: Method,
    ) -> Result<reqwest::blocking::Response, ReadError> {
        let path = format!("/v2/{}", api::key(name, endpoint, reference).lossy());
        let accept = match endpoint {
            Endpoint::Manifests => MANIFEST_TYPES,
            Endpoint::Blobs => "",
        };
        let http_method = match method {
            Method::Head => HttpMethod::HEAD,
            Method::Get => HttpMethod::GET,
        };
        let response = self
            .client
            .send(http_method, &path, accept, &pull_scope(name))
            .map_err(|e| {
                if let ClientError::RateLimited { .. } = e {
                    self.held_back
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.to_owned());
                    return ReadError::Io(io::Error::new(
                        io::ErrorKind::QuotaExceeded,
                        e.to_string(),
                    ));
                }
                ReadError::Io(io::Error::other(e.to_string()))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = format!("{}{path}", self.client.base());
        let said = match method {
            Method::Head => String::new(),
            Method::Get => error_code(response),
        };
        let why = format!("{} {url} answered {status}{said}", method_name(method));
        Err(if status == StatusCode::NOT_FOUND {
            ReadError::NotFound(io::Error::new(io::ErrorKind::NotFound, why))
        } else {
            ReadError::Io(io::Error::other(why))
        })
    }

    fn url(&self, name: &str, endpoint: Endpoint, reference: &str) -> String {
        format!(
            "{}/v2/{}",
            self.client.base(),
            api::key(name, endpoint, reference).lossy()
        )
    }
}

/// A failed attempt: a body cut short (worth another try), or anything else.
enum Cut {
    Short(ReadError),
    Other(ReadError),
}

/// Why a paginated list could not be read.
enum PageError {
    /// No answer (connection, credentials).
    Client(ClientError),
    /// An answer other than success, and the URL asked.
    Status(StatusCode, String),
    /// An answer that is not the list's JSON.
    Body(String),
}

enum CatalogError {
    Client(ClientError),
    Refused(String),
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Head => "HEAD",
        Method::Get => "GET",
    }
}

/// The distribution error code of an error answer: " (MANIFEST_UNKNOWN)".
fn error_code(response: reqwest::blocking::Response) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Code>,
    }
    #[derive(Deserialize)]
    struct Code {
        code: String,
    }
    let mut body = Vec::new();
    let _ = response.take(64 * 1024).read_to_end(&mut body);
    serde_json::from_slice::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map_or_else(String::new, |c| format!(" ({})", c.code))
}

/// The token scope for pulling from `name`.
fn pull_scope(name: &str) -> String {
    format!("repository:{name}:pull")
}

/// The `Link: <…>; rel="next"` of a paginated answer, resolved against the URL that
/// answered (RFC 8288: a URI reference, relative or absolute).
fn next_page(response: &reqwest::blocking::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        next.then(|| response.url().join(target).ok().map(String::from))
            .flatten()
    })
}

/// `--repositories FILE`: one name a line; blank lines and `#` comments skipped.
fn read_repositories(file: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("--repositories {}: {e}", file.display()))?;
    let mut names = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if !crate::model::reference::is_repository_name(name) {
            return Err(format!(
                "--repositories {} line {}: {name:?} is not a repository name",
                file.display(),
                number + 1
            ));
        }
        names.push(name.to_owned());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

impl RegistryApi for HttpRegistry {
    fn scope(&self) -> &Scope {
        &self.address.scope
    }

    fn repositories(&self) -> &[String] {
        &self.repositories
    }

    fn tags(&self, name: &str) -> Result<Vec<String>, ReadError> {
        let first = format!("/v2/{name}/tags/list");
        self.pages(&first, &pull_scope(name), "tags")
            .map_err(|e| match e {
                PageError::Client(e) => ReadError::Io(io::Error::other(e.to_string())),
                PageError::Status(status, url) => {
                    let why = format!("GET {url} answered {status}");
                    if status == StatusCode::NOT_FOUND {
                        ReadError::NotFound(io::Error::new(io::ErrorKind::NotFound, why))
                    } else {
                        ReadError::Io(io::Error::other(why))
                    }
                }
                PageError::Body(why) => ReadError::Io(io::Error::other(format!(
                    "GET {}{first}: not a tag list: {why}",
                    self.client.base()
                ))),
            })
    }

    fn manifest(
        &self,
        name: &str,
        reference: &str,
        method: Method,
        max: u64,
    ) -> Result<Answer, ReadError> {
        self.fetch(name, Endpoint::Manifests, reference, method, max)
    }

    fn named(&self) -> bool {
        self.named
    }

    fn metered(&self) -> bool {
        self.client.remaining().is_some()
    }

    fn incomplete(&self) -> Option<String> {
        let held_back = self
            .held_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if held_back.is_empty() {
            return None;
        }
        let names: Vec<&str> = held_back.iter().map(String::as_str).collect();
        Some(format!(
            "the registry's pull meter (RateLimit-Remaining) reached the reserve of {} the audit leaves unspent, so manifests of {} repositor{} were not fetched: {}; once the meter's window has passed, resume with --repositories FILE naming them",
            self.client.reserve(),
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", ")
        ))
    }

    fn blob(
        &self,
        name: &str,
        digest: &Digest,
        method: Method,
        max: u64,
    ) -> Result<Answer, ReadError> {
        self.fetch(name, Endpoint::Blobs, &digest.to_string(), method, max)
    }
}

/// A key of the API's grammar, or the error for one that is not.
fn parse_key(key: &Key) -> Result<(&str, Endpoint, &str), ReadError> {
    api::split_key(key).ok_or_else(|| {
        ReadError::NotFound(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: not a key of the distribution API", key.lossy()),
        ))
    })
}

impl Backend for HttpRegistry {
    fn describe(&self) -> String {
        self.address.to_string()
    }

    fn list(&self, dir: &Key) -> Result<Vec<Entry>, ReadError> {
        Err(ReadError::Io(io::Error::other(format!(
            "{}: the distribution API lists no directories",
            dir.lossy()
        ))))
    }

    fn stat(&self, key: &Key) -> Result<Stat, ReadError> {
        if key.as_bytes().is_empty() {
            return Ok(Stat {
                kind: EntryKind::Dir,
                len: 0,
                version: Version::None,
            });
        }
        let (name, endpoint, reference) = parse_key(key)?;
        let answer = self.fetch(name, endpoint, reference, Method::Head, 0)?;
        Ok(Stat {
            kind: EntryKind::File,
            len: answer.len.unwrap_or(0),
            version: version(&answer, reference),
        })
    }

    fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError> {
        let (name, endpoint, reference) = parse_key(key)?;
        Ok(self
            .fetch(name, endpoint, reference, Method::Get, max)?
            .body)
    }

    fn default_concurrency(&self) -> usize {
        // Every request waits on the network; the opener sized the connection pool so.
        self.connections
    }

    fn hash(
        &self,
        key: &Key,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, ReadError> {
        let (name, endpoint, reference) = parse_key(key)?;
        Hasher::new(algorithm).ok_or_else(|| {
            ReadError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "unverifiable algorithm",
            ))
        })?;
        self.again(|| self.hash_once(name, endpoint, reference, algorithm, progress))
    }
}

impl HttpRegistry {
    /// One streamed GET, hashed through one buffer: a blob is never held whole.
    fn hash_once(
        &self,
        name: &str,
        endpoint: Endpoint,
        reference: &str,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, Cut> {
        let mut hasher = Hasher::new(algorithm).expect("checked by the caller");
        let mut response = self
            .request(name, endpoint, reference, Method::Get)
            .map_err(Cut::Other)?;
        let expected = response.content_length();
        let etag = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(reference)
            .to_owned();
        let mut buffer = vec![0; 256 * 1024];
        let mut len = 0u64;
        let short = |len: u64, why: &str| {
            Cut::Short(ReadError::Io(io::Error::other(format!(
                "GET {}: the answer was cut short after {len} bytes{why}",
                self.url(name, endpoint, reference),
            ))))
        };
        loop {
            let n = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(short(len, &format!(": {}", client::chain(&e)))),
            };
            hasher.update(&buffer[..n]);
            len += n as u64;
            progress(n as u64);
        }
        if expected.is_some_and(|expected| expected != len) {
            return Err(short(len, ""));
        }
        Ok(Hashed {
            digest: hasher.finish(),
            len,
            version: Version::ETag(etag.into()),
        })
    }
}

/// What says that an answer is the same content as before: the digest the registry
/// names it by (content is fixed by its digest), else the reference asked for.
fn version(answer: &Answer, reference: &str) -> Version {
    Version::ETag(answer.digest.as_deref().unwrap_or(reference).into())
}
