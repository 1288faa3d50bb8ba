//! The distribution API as the `registry-api` kind asks it: repositories, tags, manifests
//! and blobs, each answer with the headers that matter (length, `Docker-Content-Digest`,
//! `Content-Type`). The HTTP client behind it (`backend::http`) is one implementation; the
//! kind knows only this trait, so it builds without the client.
//!
//! The same registry is also a [`super::Backend`] over keys of the grammar below, so that
//! the verify phase, the ledger, shards and confirmation read blobs through it as they read
//! files: `NAME/manifests/REFERENCE` and `NAME/blobs/DIGEST` (a repository name may hold
//! `/`, so a key is read from its end).

use crate::backend::ReadError;
use crate::model::address::Scope;
use crate::model::digest::Digest;
use crate::model::key::Key;

/// A request's method: HEAD answers presence and length, GET the content too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Headers only.
    Head,
    /// Headers and body.
    Get,
}

/// What a registry answered.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
    /// `Content-Length` (for GET, the body's length).
    pub len: Option<u64>,
    /// `Docker-Content-Digest`, as sent.
    pub digest: Option<String>,
    /// `Content-Type`.
    pub media_type: Option<String>,
}

/// The distribution API of one registry.
pub trait RegistryApi: Sync {
    /// What the address names.
    fn scope(&self) -> &Scope;

    /// The repositories to audit, in order: the catalog's, `--repositories`', or the one
    /// the address names (listed when the registry was opened: a refused catalog is an
    /// error then, not a finding).
    fn repositories(&self) -> &[String];

    /// Every tag of repository `name` (`/v2/NAME/tags/list`, every page).
    fn tags(&self, name: &str) -> Result<Vec<String>, ReadError>;

    /// A manifest or index by tag or digest, with the Accept types of OCI and Docker;
    /// a GET refuses a body over `max` bytes.
    fn manifest(
        &self,
        name: &str,
        reference: &str,
        method: Method,
        max: u64,
    ) -> Result<Answer, ReadError>;

    /// Whether the user named the repositories (`--repositories`): one that is not
    /// served is then a finding, not a catalog entry whose tags are all gone.
    fn named(&self) -> bool {
        false
    }

    /// Whether the registry meters pulls (it sent `RateLimit-Remaining`): then manifests
    /// are asked with HEAD first, which is not counted.
    fn metered(&self) -> bool {
        false
    }

    /// Why the audit could not ask everything it needed (a metered registry's reserve
    /// reached), naming what to resume with; `None` when it asked everything.
    fn incomplete(&self) -> Option<String> {
        None
    }

    /// A blob of repository `name`; a GET refuses a body over `max` bytes.
    fn blob(
        &self,
        name: &str,
        digest: &Digest,
        method: Method,
        max: u64,
    ) -> Result<Answer, ReadError>;
}

/// Which endpoint a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/NAME/manifests/REFERENCE`.
    Manifests,
    /// `/v2/NAME/blobs/DIGEST`.
    Blobs,
}

impl Endpoint {
    fn segment(self) -> &'static str {
        match self {
            Endpoint::Manifests => "manifests",
            Endpoint::Blobs => "blobs",
        }
    }
}

/// The key of `reference` at `endpoint` of repository `name`.
pub fn key(name: &str, endpoint: Endpoint, reference: &str) -> Key {
    Key::from(format!("{name}/{}/{reference}", endpoint.segment()))
}

/// What a key names: repository, endpoint and reference; `None` for other keys.
pub fn split_key(key: &Key) -> Option<(&str, Endpoint, &str)> {
    let text = std::str::from_utf8(key.as_bytes()).ok()?;
    let (rest, reference) = text.rsplit_once('/')?;
    let (name, segment) = rest.rsplit_once('/')?;
    let endpoint = match segment {
        "manifests" => Endpoint::Manifests,
        "blobs" => Endpoint::Blobs,
        _ => return None,
    };
    (!name.is_empty() && !reference.is_empty()).then_some((name, endpoint, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_their_end() {
        let k = key("team/app", Endpoint::Blobs, "sha256:00");
        assert_eq!(k.lossy(), "team/app/blobs/sha256:00");
        assert_eq!(
            split_key(&k),
            Some(("team/app", Endpoint::Blobs, "sha256:00"))
        );
        assert_eq!(
            split_key(&key("blobs", Endpoint::Manifests, "v1")),
            Some(("blobs", Endpoint::Manifests, "v1"))
        );
        assert_eq!(split_key(&Key::from("app/tags/list")), None);
        assert_eq!(split_key(&Key::from("manifests/v1")), None);
    }
}
