//! One registry's HTTP client: keep-alive connections (reqwest's blocking client, one pool
//! for every thread), authentication as the registry's `WWW-Authenticate` challenge asks
//! (Basic, or a Bearer token from its token server, kept per scope until it expires),
//! retries of 429 and 5xx answers and of dropped connections with backoff (`Retry-After`
//! obeyed), and the pull meter of registries that have one (`RateLimit-Remaining`): past
//! the reserve, no more GETs of manifests are sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap};

use crate::backend::http::credentials::Credential;

/// What the client needs to know beyond the address.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Tries after the first for an answer that may succeed later (429, 5xx, a dropped
    /// connection).
    pub retries: usize,
    /// A PEM file of extra certificate authorities to trust.
    pub ca_file: Option<std::path::PathBuf>,
    /// The credential to answer challenges with, if any.
    pub credential: Option<Credential>,
    /// Connections kept open to the registry.
    pub connections: usize,
    /// Manifest GETs of a metered registry left unspent: past this many remaining, the
    /// audit stops asking (Docker Hub counts manifest GETs, not HEADs).
    pub rate_limit_reserve: u64,
}

/// Why a request had no answer the audit can use.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed (refused, reset, TLS, timeout), every try. (`why` names
    /// the URL: reqwest's errors do.)
    #[error("{why}")]
    Transport {
        /// What was asked.
        url: String,
        /// What failed.
        why: String,
    },
    /// The registry refused the credentials (or asked for some and none were found).
    #[error("{url}: {why}")]
    Unauthorized {
        /// What was asked.
        url: String,
        /// What it said.
        why: String,
    },
    /// The registry's pull meter is down to the reserve.
    #[error("the registry's rate limit is down to its reserve ({remaining} pulls left)")]
    RateLimited {
        /// What `RateLimit-Remaining` said last.
        remaining: u64,
    },
    /// The client could not be built (a bad `--ca-file`).
    #[error("{0}")]
    Setup(String),
}

/// A token and when it stops being good.
struct Token {
    value: String,
    until: Instant,
}

/// One registry's client.
pub struct Client {
    http: Http,
    base: String,
    options: ClientOptions,
    /// Tokens by the scope they were asked for.
    tokens: Mutex<HashMap<String, Token>>,
    /// The registry asked for Basic authentication: send it unasked from now on.
    basic: AtomicBool,
    /// `RateLimit-Remaining` as last seen (`u64::MAX`: unmetered).
    remaining: AtomicU64,
    /// Requests sent, by method (for the report and the benches).
    pub requests: Counts,
}

/// Requests sent.
#[derive(Debug, Default)]
pub struct Counts {
    /// GETs of manifests.
    pub manifest_gets: AtomicU64,
    /// Every request (tokens included).
    pub all: AtomicU64,
}

impl Client {
    /// A client for the registry at `base` (`https://HOST[:PORT]`).
    pub fn new(base: String, options: ClientOptions) -> Result<Client, ClientError> {
        let mut builder = Http::builder()
            .user_agent(concat!("oci-audit/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.connections.max(1))
            .connect_timeout(Duration::from_secs(15))
            // Per operation: sending and reading the headers, and each read of a body. A
            // registry that stops answering fails the request instead of hanging the run
            // (and a ledger's lock); a large blob streams for as long as bytes come.
            .timeout(Duration::from_secs(60))
            // A redirect to storage (S3, a CDN) is followed; credentials are not sent on
            // to another host (reqwest drops Authorization across hosts).
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Setup(format!("--ca-file {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Setup(format!("--ca-file {}: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(ClientError::Setup(format!(
                    "--ca-file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Setup(format!("{base}: {}", chain(&e))))?;
        Ok(Client {
            http,
            base,
            options,
            tokens: Mutex::new(HashMap::new()),
            basic: AtomicBool::new(false),
            remaining: AtomicU64::new(u64::MAX),
            requests: Counts::default(),
        })
    }

    /// `https://HOST[:PORT]`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method` to `path` (below the base; or a full URL, for a next page) with
    /// the `accept` types, authenticated for `scope` (`repository:NAME:pull`), retried as
    /// the module header says. Any status comes back as an answer but 401 after a
    /// challenge was answered, which is [`ClientError::Unauthorized`].
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: &str,
        scope: &str,
    ) -> Result<Response, ClientError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            // A next page the registry named: credentials go only where they were found
            // for, so another host (or scheme, or port) is refused.
            if !same_origin(path, &self.base) {
                return Err(ClientError::Unauthorized {
                    url: path.to_owned(),
                    why: format!(
                        "the registry sends the next page to another origin than {}; not followed, so its credentials stay with it",
                        self.base
                    ),
                });
            }
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let metered = method == reqwest::Method::GET && path.contains("/manifests/");
        if metered {
            // A pull is taken from the meter before it is sent, so requests in flight
            // together cannot spend the reserve between them.
            let reserve = self.options.rate_limit_reserve;
            let taken = self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                    (r > reserve).then(|| if r == u64::MAX { r } else { r - 1 })
                });
            if let Err(remaining) = taken {
                return Err(ClientError::RateLimited { remaining });
            }
            self.requests.manifest_gets.fetch_add(1, Ordering::Relaxed);
        }
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            if !accept.is_empty() {
                request = request.header(header::ACCEPT, accept);
            }
            request = self.authorize(request, scope);
            self.requests.all.fetch_add(1, Ordering::Relaxed);
            let response = match request.send() {
                Ok(response) => response,
                Err(error) if attempt < self.options.retries && retryable(&error) => {
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                    continue;
                }
                Err(error) => {
                    return Err(ClientError::Transport {
                        url,
                        why: chain(&error),
                    });
                }
            };
            self.note_meter(response.headers());
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                if challenged {
                    return Err(unauthorized(
                        &url,
                        &response,
                        self.options.credential.is_some(),
                    ));
                }
                challenged = true;
                self.answer_challenge(&url, &response, scope)?;
                continue;
            }
            let transient = status == StatusCode::TOO_MANY_REQUESTS
                || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED);
            if transient && attempt < self.options.retries {
                let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                drop(response);
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            return Ok(response);
        }
    }

    /// Adds what the registry asked for before: the scope's token, or Basic.
    fn authorize(&self, request: RequestBuilder, scope: &str) -> RequestBuilder {
        let token = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(scope)
            .filter(|t| t.until > Instant::now())
            .map(|t| t.value.clone());
        match (token, &self.options.credential) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some(c)) if self.basic.load(Ordering::Relaxed) => {
                request.basic_auth(&c.username, Some(&c.secret))
            }
            _ => request,
        }
    }

    /// Answers a 401's challenge: Basic from now on, or a token for `scope`.
    fn answer_challenge(
        &self,
        url: &str,
        response: &Response,
        scope: &str,
    ) -> Result<(), ClientError> {
        let has_credential = self.options.credential.is_some();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(Challenge::parse);
        match challenge {
            Some(Challenge::Basic) if has_credential => {
                self.basic.store(true, Ordering::Relaxed);
                Ok(())
            }
            Some(Challenge::Bearer(params)) => {
                let token = self.fetch_token(url, &params, scope)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(scope.to_owned(), token);
                Ok(())
            }
            _ => Err(unauthorized(url, response, has_credential)),
        }
    }

    /// A token from the challenge's realm for `scope`, with the credential as Basic.
    fn fetch_token(
        &self,
        url: &str,
        params: &HashMap<String, String>,
        scope: &str,
    ) -> Result<Token, ClientError> {
        let failed = |why: String| ClientError::Unauthorized {
            url: url.to_owned(),
            why,
        };
        let realm = params
            .get("realm")
            .ok_or_else(|| failed("a Bearer challenge without a realm".to_owned()))?;
        let mut token_url = reqwest::Url::parse(realm)
            .map_err(|e| failed(format!("the token realm {realm:?} is not a URL: {e}")))?;
        // Credentials sent to a registry over TLS are not sent on in the clear.
        if self.base.starts_with("https://")
            && token_url.scheme() != "https"
            && self.options.credential.is_some()
        {
            return Err(failed(format!(
                "the token realm {realm} is not https while the registry is: credentials not sent"
            )));
        }
        {
            let mut query = token_url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            let scope = params.get("scope").map_or(scope, String::as_str);
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(token_url.clone());
        if let Some(c) = &self.options.credential {
            request = request.basic_auth(&c.username, Some(&c.secret));
        }
        self.requests.all.fetch_add(1, Ordering::Relaxed);
        let answer = request.send().map_err(|e| ClientError::Transport {
            url: realm.clone(),
            why: chain(&e),
        })?;
        let status = answer.status();
        if !status.is_success() {
            let why = if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                format!("the token server {realm} refused the credentials ({status})")
            } else {
                format!("the token server {realm} answered {status}")
            };
            return Err(failed(why));
        }
        let started = Instant::now();
        // Read leniently: servers send expires_in as a number, a float or a string.
        let answer: serde_json::Value = read_json(answer, 1 << 20)
            .map_err(|e| failed(format!("the token server {realm} answered no token: {e}")))?;
        let value = ["token", "access_token"]
            .iter()
            .find_map(|k| {
                answer
                    .get(k)
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty())
            })
            .ok_or_else(|| failed(format!("the token server {realm} answered no token")))?
            .to_owned();
        let expires_in = match answer.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        // The spec's default lifetime is 60 s; a token is renewed a little early, and
        // kept at most a day whatever the server says.
        let seconds = expires_in
            .filter(|s| s.is_finite())
            .unwrap_or(60.0)
            .clamp(10.0, 86_400.0) as u64
            - 5;
        let until = started
            .checked_add(Duration::from_secs(seconds))
            .unwrap_or(started);
        Ok(Token { value, until })
    }

    /// Reads a metered registry's `RateLimit-Remaining: N;w=SECONDS`.
    fn note_meter(&self, headers: &HeaderMap) {
        let remaining = headers
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // The lower of what the registry says and what this run counted: answers of
        // requests sent together arrive in any order.
        if let Some(remaining) = remaining {
            self.remaining.fetch_min(remaining, Ordering::SeqCst);
        }
    }

    /// Manifest GETs the audit leaves unspent on a metered registry.
    pub fn reserve(&self) -> u64 {
        self.options.rate_limit_reserve
    }

    /// Pulls left on the registry's meter, if it has one.
    pub fn remaining(&self) -> Option<u64> {
        Some(self.remaining.load(Ordering::Relaxed)).filter(|r| *r != u64::MAX)
    }
}

/// The error for a 401 that stands.
fn unauthorized(url: &str, response: &Response, had_credential: bool) -> ClientError {
    let why = if had_credential {
        format!(
            "{} with the credentials found (REGISTRY_AUTH_FILE, auth.json, ~/.docker/config.json): wrong user or password",
            response.status()
        )
    } else {
        format!(
            "{}: the registry asks for credentials and none were found for it (docker login, podman login, or REGISTRY_AUTH_FILE)",
            response.status()
        )
    };
    ClientError::Unauthorized {
        url: url.to_owned(),
        why,
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq)]
enum Challenge {
    Basic,
    Bearer(HashMap<String, String>),
    Other,
}

impl Challenge {
    /// `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    fn parse(text: &str) -> Challenge {
        let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Challenge::Basic;
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Challenge::Other;
        }
        let mut params = HashMap::new();
        let mut rest = rest.trim();
        while let Some((key, after)) = rest.split_once('=') {
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                // A quoted string ends at the next unescaped quote.
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            params.insert(key, value);
            rest = next.trim_start().trim_start_matches(',').trim_start();
        }
        Challenge::Bearer(params)
    }
}

/// The JSON body of `response`, read up to `cap` bytes: a registry's answer is not
/// trusted to be small.
pub fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    cap: u64,
) -> Result<T, String> {
    use std::io::Read as _;
    let mut body = Vec::new();
    response
        .take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| chain(&e))?;
    if body.len() as u64 > cap {
        return Err(format!("the answer is over {cap} bytes"));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// Whether a failed send may succeed on another try.
fn retryable(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

/// 0.25 s, 0.5 s, 1 s … at most 8 s.
fn backoff(attempt: usize) -> Duration {
    Duration::from_millis(250 << attempt.min(5)).min(Duration::from_secs(8))
}

/// `Retry-After` in seconds, at most 60 (a longer wait would stall the run: the request
/// is tried after 60 s, and reported if it still fails). An HTTP date is not read: the
/// backoff applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(60)))
}

/// Whether `url` is at the origin (scheme, host and port) of `base`.
fn same_origin(url: &str, base: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(base)) {
        (Ok(url), Ok(base)) => {
            url.scheme() == base.scheme()
                && url.host_str() == base.host_str()
                && url.port_or_known_default() == base.port_or_known_default()
        }
        _ => false,
    }
}

/// An error with its causes, one line: "error sending request: … : connection refused".
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_as_registries_send_them() {
        let Challenge::Bearer(params) = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        ) else {
            panic!("not bearer")
        };
        assert_eq!(params["realm"], "https://auth.example/token");
        assert_eq!(params["service"], "registry.example");
        assert_eq!(params["scope"], "repository:a/b:pull,push");
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), Challenge::Basic);
        assert_eq!(Challenge::parse("Negotiate"), Challenge::Other);
        let Challenge::Bearer(params) =
            Challenge::parse(r#"bearer realm=http://t/x, error="in\"valid""#)
        else {
            panic!("not bearer")
        };
        assert_eq!(
            (&*params["realm"], &*params["error"]),
            ("http://t/x", "in\"valid")
        );
    }

    #[test]
    fn next_pages_stay_at_the_registry() {
        let base = "https://r.example:5000";
        assert!(same_origin(
            "https://r.example:5000/v2/_catalog?last=a",
            base
        ));
        assert!(!same_origin("https://other.example:5000/v2/_catalog", base));
        assert!(!same_origin("http://r.example:5000/v2/_catalog", base));
        assert!(!same_origin("https://r.example/v2/_catalog", base));
        assert!(same_origin(
            "https://r.example/v2/",
            "https://r.example:443"
        ));
    }

    #[test]
    fn waits_grow_and_are_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(8));
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(header::RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
    }
}
