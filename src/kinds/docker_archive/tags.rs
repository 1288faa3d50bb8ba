//! RepoTags and `repositories`. Each RepoTag is parsed as `docker load` parses it
//! (`reference.ParseNormalizedNamed`: a name and a tag, the name normalised as
//! distribution/reference's `splitDockerDomain` does); when its entry's config was read,
//! it is a coverage root with that config's platform. The legacy `repositories` file,
//! when present, must tag exactly what `manifest.json`'s RepoTags tag.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::Archive;
use super::manifest::{DockerAudit, Image, MANIFEST, invalid, read_json};
use crate::finding::{Finding, Location};
use crate::model::coverage::{Coverage, Exceptions};
use crate::model::key::Key;
use crate::model::reference::{is_repository_name, is_tag};
use crate::rules::Rule;

/// An entry's `RepoTags` (at `at`): each in the reference grammar, and covered by the
/// entry's image. Adds each (normalised name, tag) to `tagged`.
pub(super) fn check_repo_tags(
    tags: Option<&Value>,
    at: &str,
    image: Option<&Image>,
    tagged: &mut BTreeSet<(String, String)>,
    audit: &mut DockerAudit,
) {
    let tags = match tags {
        None | Some(Value::Null) => return,
        Some(Value::Array(tags)) => tags,
        Some(_) => {
            audit.findings.push(invalid(at, "RepoTags is not an array"));
            return;
        }
    };
    for (k, tag) in tags.iter().enumerate() {
        let pointer = format!("{at}/{k}");
        match tag.as_str().ok_or("not a string").and_then(parse_repo_tag) {
            Ok(name_tag) => {
                tagged.insert(name_tag);
                if let Some(image) = image {
                    audit.coverage.push(Coverage {
                        root: tag.as_str().unwrap_or_default().to_owned(),
                        path: Key::from(MANIFEST),
                        pointer,
                        digest: image.digest.clone(),
                        platforms: Arc::from(
                            image.platform.clone().into_iter().collect::<Vec<_>>(),
                        ),
                        exceptions: Arc::new(Exceptions::default()),
                    });
                }
            }
            Err(why) => audit.findings.push(Finding::new(
                Rule::DockerRepoTagInvalid,
                Location::path(Key::from(MANIFEST)).via(MANIFEST, pointer),
                format!("RepoTag {tag}: {why}"),
            )),
        }
    }
}

/// `repositories` (when present) must tag what `manifest.json` tags.
pub(super) fn check_repositories(
    archive: &Archive,
    tagged: &BTreeSet<(String, String)>,
    max: u64,
    audit: &mut DockerAudit,
) {
    let key = Key::from("repositories");
    if archive.stat(&key).is_err() {
        return;
    }
    let Some(repositories) = read_json(archive, &key, max, audit) else {
        return;
    };
    let mut listed = BTreeSet::new();
    if let Value::Object(names) = &repositories {
        for (name, tags) in names {
            for tag in tags.as_object().into_iter().flat_map(|t| t.keys()) {
                listed.insert((normalise_name(name), tag.clone()));
            }
        }
    } else {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key),
            "repositories is not a JSON object of {name: {tag: id}}",
        ));
        return;
    }
    for (name, tag) in listed.difference(tagged) {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key.clone()),
            format!("repositories tags {name}:{tag}, which no manifest.json entry's RepoTags does"),
        ));
    }
    for (name, tag) in tagged.difference(&listed) {
        audit.findings.push(Finding::new(
            Rule::DockerRepositoriesMismatch,
            Location::path(key.clone()),
            format!("manifest.json tags {name}:{tag}, which repositories does not"),
        ));
    }
}

/// A RepoTag as `docker load` parses it (`reference.ParseNormalizedNamed`, which must give
/// a name and a tag): the normalised name and the tag, or why not.
pub fn parse_repo_tag(text: &str) -> Result<(String, String), &'static str> {
    if text.contains('@') {
        return Err("a digest reference, not name:tag");
    }
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => return Err("no tag"),
    };
    if !is_tag(tag) {
        return Err("the tag breaks [\\w][\\w.-]{0,127}");
    }
    let (domain, path) = split_domain(name);
    if let Some(domain) = domain {
        if !is_domain(domain) {
            return Err("the registry host breaks the reference grammar");
        }
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("the repository name must be lowercase");
    }
    if !is_repository_name(path) {
        return Err("the repository name breaks the reference grammar");
    }
    let normalised = normalise_name(name);
    if normalised == "docker.io/library/sha256" {
        // moby's reference store: "refusing to create an ambiguous tag using digest
        // algorithm as name".
        return Err("the name is a digest algorithm, which docker refuses as ambiguous");
    }
    Ok((normalised, tag.to_owned()))
}

/// `docker.io/library/x` for `x`, as distribution/reference's `splitDockerDomain` does.
fn normalise_name(name: &str) -> String {
    match split_domain(name) {
        (Some("index.docker.io"), path) | (Some("docker.io"), path) | (None, path) => {
            if path.contains('/') {
                format!("docker.io/{path}")
            } else {
                format!("docker.io/library/{path}")
            }
        }
        (Some(domain), path) => format!("{domain}/{path}"),
    }
}

/// The first component is a registry host when it is `localhost`, or holds `.` or `:`,
/// or an upper-case letter (`splitDockerDomain`).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `domainName optionalPort`, or a bracketed IPv6 address and port.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    host.split('.').all(|component| {
        let bytes = component.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_follow_the_reference_grammar() {
        let ok = |t: &str| parse_repo_tag(t).map(|(n, t)| format!("{n}:{t}"));
        assert_eq!(
            ok("busybox:latest").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            ok("example.com/audit/single:1.0").unwrap(),
            "example.com/audit/single:1.0"
        );
        assert_eq!(ok("localhost:5000/x:v1").unwrap(), "localhost:5000/x:v1");
        // ParseNormalizedNamed refuses a bare 64-hex name (an image ID), not one with a tag.
        assert!(ok(&format!("{}:v1", "a".repeat(64))).is_ok());
        assert_eq!(
            ok("index.docker.io/user/x:v1").unwrap(),
            "docker.io/user/x:v1"
        );
        assert_eq!(ok("[::1]:5000/x:v1").unwrap(), "[::1]:5000/x:v1");
        for bad in [
            "busybox",
            "Busybox:latest",
            "busybox:-x",
            "busybox@sha256:abc",
            "exa_mple.com/x:v1",
            "a//b:v1",
            "sha256:latest",
            &format!("x:{}", "t".repeat(129)),
        ] {
            assert!(parse_repo_tag(bad).is_err(), "{bad}");
        }
    }
}
