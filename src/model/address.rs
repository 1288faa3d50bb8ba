//! A registry's address as the user writes it: `https://HOST[:PORT]/` (every repository
//! the catalog lists), `https://HOST/NAME` (one repository, all its tags),
//! `https://HOST/NAME:TAG` and `https://HOST/NAME@DIGEST` (one image). `http://` only when
//! written so; skopeo's `docker://HOST/NAME[:TAG]` means the same over https.

use std::fmt;

use crate::model::digest::Digest;
use crate::model::reference::{is_repository_name, is_tag};

/// What part of a registry an address names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every repository the catalog lists (or `--repositories` names).
    All,
    /// One repository and all its tags.
    Repository(String),
    /// One tag of one repository.
    Tag(String, String),
    /// One manifest or index of one repository, by digest.
    Digest(String, Digest),
}

impl Scope {
    /// The one repository it names, if it names one.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Repository(name) | Scope::Tag(name, _) | Scope::Digest(name, _) => Some(name),
        }
    }
}

/// A registry and the part of it to audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryAddress {
    /// `https` unless `http://` was written.
    pub secure: bool,
    /// `HOST[:PORT]`, as written (lowercased).
    pub host: String,
    /// What to audit there.
    pub scope: Scope,
}

/// Why an address could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{address}: {why}")]
pub struct AddressError {
    /// The address as written.
    pub address: String,
    /// What is wrong with it.
    pub why: String,
}

impl RegistryAddress {
    /// Reads an `https://`, `http://` or `docker://` address; `None` for other schemes.
    pub fn parse(text: &str) -> Option<Result<RegistryAddress, AddressError>> {
        let (secure, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("docker://") {
            (true, rest)
        } else {
            return None;
        };
        let error = |why: &str| AddressError {
            address: text.to_owned(),
            why: why.to_owned(),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        // skopeo's docker://NAME[:TAG] without a registry means Docker Hub, as a first
        // component with no '.' or ':' that is not localhost does (containers/image).
        let short = !rest.contains('/') || is_not_a_host(host);
        let (host, path) = if text.starts_with("docker://") && short {
            ("docker.io", rest)
        } else {
            (host, path)
        };
        if host.is_empty() || host.contains(['@', '?', '#']) {
            return Some(Err(error(
                "no registry host (https://HOST[:PORT]/NAME[:TAG])",
            )));
        }
        let path = path.trim_end_matches('/');
        // The distribution API is at /v2/: a copied API URL names the same registry (but
        // `v2fly/app` is a repository).
        let path = match path.strip_prefix("v2") {
            Some("") => "",
            Some(rest) if rest.starts_with('/') => &rest[1..],
            _ => path,
        };
        let scope = if path.is_empty() {
            Ok(Scope::All)
        } else {
            scope(path)
        };
        let host = host.to_ascii_lowercase();
        Some(
            scope
                .map_err(|why| error(&why))
                .map(|scope| RegistryAddress {
                    secure,
                    scope: hub_name(&host, scope),
                    host,
                }),
        )
    }

    /// `https://HOST` (no path): where `/v2/` is. Docker Hub's API is not at the name
    /// people write (`docker.io`) but at `registry-1.docker.io`, as docker and skopeo know.
    pub fn base(&self) -> String {
        let host = if is_docker_hub(&self.host) {
            "registry-1.docker.io"
        } else {
            &self.host
        };
        format!("{}://{host}", if self.secure { "https" } else { "http" })
    }
}

/// Whether the first component of a docker:// reference is a repository, not a
/// registry: no '.', no ':', not localhost.
fn is_not_a_host(component: &str) -> bool {
    !component.contains(['.', ':']) && component != "localhost"
}

/// Docker Hub, by the names people write for it.
fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// On Docker Hub, an official image's one-component name is `library/NAME`.
fn hub_name(host: &str, scope: Scope) -> Scope {
    if !is_docker_hub(host) {
        return scope;
    }
    let full = |name: String| {
        if name.contains('/') {
            name
        } else {
            format!("library/{name}")
        }
    };
    match scope {
        Scope::All => Scope::All,
        Scope::Repository(name) => Scope::Repository(full(name)),
        Scope::Tag(name, tag) => Scope::Tag(full(name), tag),
        Scope::Digest(name, digest) => Scope::Digest(full(name), digest),
    }
}

/// The scope a path names: `NAME`, `NAME:TAG` or `NAME@DIGEST`.
fn scope(path: &str) -> Result<Scope, String> {
    let name_ok = |name: &str| {
        if is_repository_name(name) {
            Ok(name.to_owned())
        } else {
            Err(format!(
                "{name:?} is not a repository name (lowercase letters, digits and separators)"
            ))
        }
    };
    if let Some((name, digest)) = path.split_once('@') {
        let digest = Digest::parse(digest).map_err(|e| format!("not a digest: {e}"))?;
        return Ok(Scope::Digest(name_ok(name)?, digest));
    }
    // A tag follows the last ':' after the last '/' (a port is in the host, not here).
    let last = path.rsplit('/').next().unwrap_or(path);
    if let Some((_, tag)) = last.split_once(':') {
        let name = &path[..path.len() - tag.len() - 1];
        if !is_tag(tag) {
            return Err(format!("{tag:?} is not a tag"));
        }
        return Ok(Scope::Tag(name_ok(name)?, tag.to_owned()));
    }
    Ok(Scope::Repository(name_ok(path)?))
}

impl fmt::Display for RegistryAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.base())?;
        match &self.scope {
            Scope::All => Ok(()),
            Scope::Repository(name) => write!(f, "{name}"),
            Scope::Tag(name, tag) => write!(f, "{name}:{tag}"),
            Scope::Digest(name, digest) => write!(f, "{name}@{digest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RegistryAddress {
        RegistryAddress::parse(text).unwrap().unwrap()
    }

    #[test]
    fn addresses_name_a_registry_a_repository_a_tag_or_a_digest() {
        let all = parse("https://Registry.example:5000/");
        assert_eq!((all.secure, &*all.host), (true, "registry.example:5000"));
        assert_eq!(all.scope, Scope::All);
        assert_eq!(parse("http://127.0.0.1:5000").scope, Scope::All);
        assert!(!parse("http://127.0.0.1:5000").secure);
        assert_eq!(parse("https://r.example/v2/").scope, Scope::All);
        assert_eq!(
            parse("https://r.example/team/app").scope,
            Scope::Repository("team/app".into())
        );
        assert_eq!(
            parse("docker://r.example:443/team/app:v1.2").scope,
            Scope::Tag("team/app".into(), "v1.2".into())
        );
        assert!(parse("docker://r.example/a").secure);
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parse(&format!("https://r.example/app@{digest}")).scope,
            Scope::Digest("app".into(), Digest::parse(&digest).unwrap())
        );
        assert_eq!(
            parse("https://r.example:5000/team/app:v1").to_string(),
            "https://r.example:5000/team/app:v1"
        );
    }

    #[test]
    fn docker_hub_is_reached_where_its_api_is() {
        let hub = parse("docker://docker.io/alpine:3.20");
        assert_eq!(
            hub.scope,
            Scope::Tag("library/alpine".into(), "3.20".into())
        );
        assert_eq!(hub.base(), "https://registry-1.docker.io");
        assert_eq!(hub.host, "docker.io");
        assert_eq!(
            parse("https://docker.io/team/app").scope,
            Scope::Repository("team/app".into())
        );
        assert_eq!(
            parse("https://r.example/alpine").scope,
            Scope::Repository("alpine".into())
        );
        let short = parse("docker://alpine:3.20");
        assert_eq!(
            (&*short.host, short.base()),
            ("docker.io", "https://registry-1.docker.io".into())
        );
        assert_eq!(
            short.scope,
            Scope::Tag("library/alpine".into(), "3.20".into())
        );
        assert_eq!(
            parse("docker://team/app").scope,
            Scope::Repository("team/app".into())
        );
        assert_eq!(parse("docker://localhost/app").host, "localhost");
        assert_eq!(
            parse("https://r.example/v2fly/v2ray").scope,
            Scope::Repository("v2fly/v2ray".into())
        );
        assert_eq!(
            parse("https://r.example/v2/app").scope,
            Scope::Repository("app".into())
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(RegistryAddress::parse("s3://bucket").is_none());
        for bad in [
            "https:///app",
            "https://r.example/App",
            "https://r.example/app:-x",
            "https://r.example/app@sha256:12",
            "https://user@r.example/app",
        ] {
            assert!(RegistryAddress::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
