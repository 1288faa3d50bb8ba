//! The object-storage backend: S3 and S3-compatible servers (Ceph, MinIO), Google Cloud
//! Storage and Azure Blob Storage, through the `object_store` crate. Read-only by
//! construction: this module issues LIST, HEAD and GET requests and nothing else.
//!
//! ```text
//! s3://bucket/prefix     the prefix is the audited root: a registry's rootdirectory, a
//! gs://bucket/prefix     layout, or a tree of layouts (zot on S3)
//! az://container/prefix
//! ```
//!
//! Keys map to object names under the prefix. A listing with a delimiter gives a
//! directory's objects (files: their size and ETag) and common prefixes (directories);
//! there are no empty directories on object storage, and no symlinks. Credentials and
//! endpoints come from the standard environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, …; `GOOGLE_*`; `AZURE_*`) and are never printed;
//! plain http is allowed only when the endpoint URL says `http://`.
//!
//! The crate retries throttling, 5xx answers and dropped connections with backoff, and
//! resumes a GET cut short from the byte it stopped at, checking that the ETag is the
//! same, so the rest comes from the same object. The engine is synchronous: each call
//! blocks its caller on a small runtime kept here, and the caller's pool decides how many
//! requests are in flight (`--io-concurrency`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::backend::{Backend, Entry, EntryKind, Hashed, ReadError, Stat, Version, Walked};
use crate::hash::Hasher;
use crate::model::digest::Algorithm;
use crate::model::key::Key;

/// Requests in flight unless `--io-concurrency` says otherwise: enough to hide a
/// round trip of tens of milliseconds behind the hashing of the bytes already arrived.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Retries of a failed request (throttling, 5xx, a dropped connection) unless
/// `--io-retries` says otherwise; with backoff from 100 ms doubling to 15 s between them.
pub const DEFAULT_RETRIES: usize = 10;

/// Where objects live: the scheme, the bucket or container, and the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectUrl {
    /// `s3`, `gs` or `az`.
    pub scheme: String,
    /// The bucket (or Azure container).
    pub bucket: String,
    /// The prefix under it, without leading or trailing `/` (empty for the whole bucket).
    pub prefix: String,
}

impl ObjectUrl {
    /// Parses `s3://bucket/prefix`, `gs://…`, `az://…`; `None` for anything else.
    pub fn parse(text: &str) -> Option<ObjectUrl> {
        let (scheme, rest) = text.split_once("://")?;
        if !matches!(scheme, "s3" | "gs" | "az") {
            return None;
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(ObjectUrl {
            scheme: scheme.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// S3 settings given explicitly (from a registry's `config.yml`) rather than by the
/// environment.
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    /// `region`.
    pub region: Option<String>,
    /// `regionendpoint`: an S3-compatible server's URL.
    pub endpoint: Option<String>,
    /// `accesskey`.
    pub access_key: Option<String>,
    /// `secretkey`.
    pub secret_key: Option<String>,
}

/// Why the object store could not be opened (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{url}: {why}")]
pub struct OpenError {
    /// The store.
    pub url: String,
    /// What went wrong.
    pub why: String,
}

/// An object store read as the audited root.
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    url: ObjectUrl,
    runtime: tokio::runtime::Runtime,
    concurrency: usize,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectBackend({})", self.url)
    }
}

impl ObjectBackend {
    /// Opens `url`, with credentials and endpoint from the environment unless `s3` gives
    /// them; `concurrency` is how many requests the audit keeps in flight, `retries` how
    /// often a failed one is retried (`None`: the defaults).
    pub fn open(
        url: &ObjectUrl,
        s3: Option<&S3Settings>,
        concurrency: Option<usize>,
        retries: Option<usize>,
    ) -> Result<ObjectBackend, OpenError> {
        let concurrency = concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1);
        let error = |why: String| OpenError {
            url: url.to_string(),
            why,
        };
        let retry = object_store::RetryConfig {
            max_retries: retries.unwrap_or(DEFAULT_RETRIES),
            retry_timeout: Duration::from_secs(180),
            ..Default::default()
        };
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(300))
            .with_pool_max_idle_per_host(concurrency.max(8));
        let store: Arc<dyn ObjectStore> = match url.scheme.as_str() {
            "s3" => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&url.bucket)
                    .with_retry(retry)
                    .with_client_options(client);
                if let Some(s3) = s3 {
                    if let Some(region) = &s3.region {
                        builder = builder.with_region(region);
                    }
                    if let Some(endpoint) = &s3.endpoint {
                        builder = builder.with_endpoint(endpoint);
                    }
                    if let Some(key) = &s3.access_key {
                        builder = builder.with_access_key_id(key);
                    }
                    if let Some(secret) = &s3.secret_key {
                        builder = builder.with_secret_access_key(secret);
                    }
                }
                // Plain http only where the endpoint URL says so.
                let endpoint = builder
                    .get_config_value(&object_store::aws::AmazonS3ConfigKey::Endpoint)
                    .unwrap_or_default();
                builder = builder.with_allow_http(endpoint.starts_with("http://"));
                Arc::new(builder.build().map_err(|e| error(describe(&e)))?)
            }
            "gs" => {
                let builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&url.bucket)
                    .with_retry(retry);
                // Plain http only where GOOGLE_BASE_URL says so (an emulator): the client
                // options set here replace those the environment gave.
                let base = builder
                    .get_config_value(&object_store::gcp::GoogleConfigKey::BaseUrl)
                    .unwrap_or_default();
                let client = client.with_allow_http(base.starts_with("http://"));
                Arc::new(
                    builder
                        .with_client_options(client)
                        .build()
                        .map_err(|e| error(describe(&e)))?,
                )
            }
            "az" => {
                let builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(&url.bucket)
                    .with_retry(retry);
                // Plain http only where AZURE_STORAGE_ENDPOINT says so (Azurite's emulator
                // mode turns it on by itself), as for the other providers.
                let endpoint = builder
                    .get_config_value(&object_store::azure::AzureConfigKey::Endpoint)
                    .unwrap_or_default();
                let client = client.with_allow_http(endpoint.starts_with("http://"));
                Arc::new(
                    builder
                        .with_client_options(client)
                        .build()
                        .map_err(|e| error(describe(&e)))?,
                )
            }
            other => return Err(error(format!("unknown scheme {other:?}"))),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("object-store")
            .enable_all()
            .build()
            .map_err(|e| error(e.to_string()))?;
        Ok(ObjectBackend {
            store,
            url: url.clone(),
            runtime,
            concurrency,
        })
    }

    /// The object name of `key`.
    fn path(&self, key: &Key) -> ObjectPath {
        let key = key.lossy();
        match (self.url.prefix.is_empty(), key.is_empty()) {
            (true, _) => ObjectPath::from(key.as_ref()),
            (false, true) => ObjectPath::from(self.url.prefix.as_str()),
            (false, false) => ObjectPath::from(format!("{}/{key}", self.url.prefix)),
        }
    }

    /// The object name of `key` as a listing prefix (`None` for the bucket's root).
    fn dir(&self, key: &Key) -> Option<ObjectPath> {
        (!(self.url.prefix.is_empty() && key.is_empty())).then(|| self.path(key))
    }
}

/// The crate's message, led by what it means for the user: a missing bucket, refused
/// credentials, an endpoint that does not answer. (The crate's S3 errors carry the
/// server's answer as text; its error codes are S3's public contract.) Credentials are
/// never part of a request line or an answer, so none are printed.
fn describe(error: &object_store::Error) -> String {
    let text = error.to_string();
    let has = |code: &str| text.contains(code);
    let meaning = if has("NoSuchBucket") || has("ContainerNotFound") {
        Some("the bucket does not exist")
    } else if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || has("SignatureDoesNotMatch")
        || has("InvalidAccessKeyId")
        || has("AccessDenied")
        || has("403 Forbidden")
        || has("401 Unauthorized")
    {
        Some(
            "access refused: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; GOOGLE_*; AZURE_*)",
        )
    } else if has("error sending request") || has("Connection refused") || has("dns error") {
        Some("the endpoint does not answer")
    } else {
        None
    };
    match (meaning, error) {
        (_, object_store::Error::NotFound { .. }) => "no such object".to_owned(),
        (Some(meaning), _) => format!("{meaning} ({text})"),
        (None, _) => text,
    }
}

fn read_error(error: object_store::Error) -> ReadError {
    match error {
        object_store::Error::NotFound { .. } if !error.to_string().contains("NoSuchBucket") => {
            ReadError::NotFound(io::Error::new(io::ErrorKind::NotFound, "no such object"))
        }
        other => ReadError::Io(io::Error::other(describe(&other))),
    }
}

fn version(meta: &object_store::ObjectMeta) -> Version {
    match &meta.e_tag {
        Some(tag) => Version::ETag(tag.as_str().into()),
        None => Version::None,
    }
}

impl Backend for ObjectBackend {
    fn describe(&self) -> String {
        self.url.to_string()
    }

    fn default_concurrency(&self) -> usize {
        // Every GET waits on the network, large or small: none is cpu_bound.
        self.concurrency
    }

    fn list(&self, dir: &Key) -> Result<Vec<Entry>, ReadError> {
        let prefix = self.dir(dir);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map_err(read_error)?;
        let base = prefix.as_ref().map_or(0, |p| p.as_ref().len() + 1);
        let name = |path: &ObjectPath| -> Box<[u8]> {
            path.as_ref().get(base..).unwrap_or("").as_bytes().into()
        };
        let mut entries: Vec<Entry> = listed
            .common_prefixes
            .iter()
            .map(|p| Entry {
                name: name(p),
                stat: Ok(Stat {
                    kind: EntryKind::Dir,
                    len: 0,
                    version: Version::None,
                }),
            })
            .collect();
        entries.extend(listed.objects.iter().map(|meta| Entry {
            name: name(&meta.location),
            stat: Ok(Stat {
                kind: EntryKind::File,
                len: meta.size,
                version: version(meta),
            }),
        }));
        Ok(entries)
    }

    fn walk(&self, dir: &Key, _depth: usize) -> Result<Walked, ReadError> {
        let prefix = self.dir(dir);
        let base = prefix.as_ref().map_or(0, |p| p.as_ref().len() + 1);
        self.runtime.block_on(async {
            let mut out = Vec::new();
            let mut listing = self.store.list(prefix.as_ref());
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(read_error)?;
                let name = meta.location.as_ref().get(base..).unwrap_or("");
                out.push((
                    Key::from(name),
                    Ok(Stat {
                        kind: EntryKind::File,
                        len: meta.size,
                        version: version(&meta),
                    }),
                ));
            }
            Ok(out)
        })
    }

    fn stat(&self, key: &Key) -> Result<Stat, ReadError> {
        if !key.is_empty() {
            match self.runtime.block_on(self.store.head(&self.path(key))) {
                Ok(meta) => {
                    return Ok(Stat {
                        kind: EntryKind::File,
                        len: meta.size,
                        version: version(&meta),
                    });
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(other) => return Err(read_error(other)),
            }
        }
        // No object: a "directory" exists when something is under it.
        let prefix = self.dir(key);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map_err(read_error)?;
        if listed.objects.is_empty() && listed.common_prefixes.is_empty() {
            return Err(ReadError::NotFound(io::Error::new(
                io::ErrorKind::NotFound,
                "no such object or prefix",
            )));
        }
        Ok(Stat {
            kind: EntryKind::Dir,
            len: 0,
            version: Version::None,
        })
    }

    fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError> {
        let path = self.path(key);
        self.runtime.block_on(async {
            let result = self.store.get(&path).await.map_err(read_error)?;
            let len = result.meta.size;
            if len > max {
                return Err(ReadError::TooLarge { len, max });
            }
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 64);
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(read_error)?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > max {
                    return Err(ReadError::Grew(max));
                }
            }
            Ok(bytes)
        })
    }

    fn hash(
        &self,
        key: &Key,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, ReadError> {
        let mut hasher = Hasher::new(algorithm).ok_or_else(|| {
            ReadError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "unverifiable algorithm",
            ))
        })?;
        let path = self.path(key);
        self.runtime.block_on(async {
            // The crate resumes a body cut short from the byte it stopped at, and gives
            // up if the object's ETag changed meanwhile: the rest is from the same object.
            let result = self.store.get(&path).await.map_err(read_error)?;
            let meta = result.meta.clone();
            let mut stream = result.into_stream();
            let mut offset: u64 = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(read_error)?;
                hasher.update(&chunk);
                offset += chunk.len() as u64;
                progress(chunk.len() as u64);
            }
            Ok(Hashed {
                digest: hasher.finish(),
                len: offset,
                version: version(&meta),
            })
        })
    }
}
