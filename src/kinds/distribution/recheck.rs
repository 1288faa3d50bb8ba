//! What a registry serving pushes and deletes can cause while the audit reads it: a tag
//! directory made a moment before its `current/link`, a revision removed before its tags,
//! a blob directory made before its data is renamed in, a layer linked just after the
//! manifest that uses it. Each is re-read here, by the registry's own path grammar.

use crate::backend::{Backend, EntryKind};
use crate::finding::{Cause, Finding};
use crate::kinds::distribution::checks::parse_link;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::{Presence, presence};

/// Largest link file read again.
const MAX_LINK: u64 = 64 * 1024;

/// Whether `finding` is one of a registry's that a concurrent writer can cause.
pub(super) fn is_confirmable(finding: &Finding) -> bool {
    match finding.rule {
        Rule::RegistryLinkInvalid
        | Rule::RegistryLinkPathMismatch
        | Rule::RegistryTagRevisionMissing
        | Rule::RegistryLinkTargetMissing
        | Rule::RegistryReferenceUnlinked => true,
        // The registry makes a blob's directory, then renames its data into it.
        Rule::RegistryBlobPathInvalid => finding.cause == Some(Cause::NoDataFile),
        _ => false,
    }
}

/// `None` when the evidence behind `finding` is as it was (the finding stands); else what
/// changed.
pub(super) fn recheck(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    let key = &finding.location.path;
    match finding.rule {
        Rule::RegistryLinkTargetMissing => {
            if matches!(presence(backend, key), Presence::Present(..)) {
                return Some("the blob is there now (written during the audit)".into());
            }
            let link = &finding.location.via.as_ref()?.path;
            match (link_now(backend, link), &finding.location.digest) {
                (Ok(digest), Some(named)) if digest == *named => None,
                (Ok(digest), _) => Some(format!("the link holds {digest} now")),
                (Err(why), _) => Some(format!("the link is {why} now (removed during the audit)")),
            }
        }
        Rule::RegistryLinkInvalid | Rule::RegistryLinkPathMismatch => {
            recheck_link(backend, finding)
        }
        Rule::RegistryTagRevisionMissing => recheck_tag(backend, finding),
        Rule::RegistryReferenceUnlinked => {
            // Unlinked in the repository its cause names: look for the link now.
            let Some(Cause::Unlinked { repository }) = &finding.cause else {
                return None;
            };
            let digest = finding.location.digest.as_ref()?;
            let root = registry_root(key)?;
            let name = Key::from(repository.as_str());
            let relative = |what: &str| {
                root.join("repositories")
                    .join(name.as_bytes())
                    .join(format!(
                        "{what}/{}/{}/link",
                        digest.algorithm(),
                        digest.encoded()
                    ))
            };
            let linked = [relative("_layers"), relative("_manifests/revisions")]
                .iter()
                .any(|link| link_now(backend, link).is_ok_and(|d| d == *digest));
            linked.then(|| format!("{repository} links it now (linked during the audit)"))
        }
        Rule::RegistryBlobPathInvalid if finding.cause == Some(Cause::NoDataFile) => {
            match presence(backend, key) {
                Presence::Present(EntryKind::File, _) => {
                    Some("the data file is there now (written during the audit)".into())
                }
                Presence::Absent => match key.parent().map(|dir| presence(backend, &dir)) {
                    Some(Presence::Absent) => {
                        Some("the blob directory is gone (removed during the audit)".into())
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// Why a link holds no digest now.
enum NoDigest {
    /// The link file is gone.
    Absent,
    /// It cannot be read, or does not hold one digest: why.
    Unusable(String),
}

impl std::fmt::Display for NoDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoDigest::Absent => f.write_str("absent"),
            NoDigest::Unusable(why) => f.write_str(why),
        }
    }
}

/// The digest a link file holds now, or why not.
fn link_now(backend: &dyn Backend, key: &Key) -> Result<Digest, NoDigest> {
    match backend.read_small(key, MAX_LINK) {
        Ok(bytes) => parse_link(&bytes).map_err(NoDigest::Unusable),
        Err(error) if error.is_not_found() => Err(NoDigest::Absent),
        Err(error) => Err(NoDigest::Unusable(error.to_string())),
    }
}

/// A link that was empty, garbled, absent where required, or held another digest.
fn recheck_link(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    let key = &finding.location.path;
    let was_absent = finding.cause == Some(Cause::LinkAbsent);
    match link_now(backend, key) {
        Ok(digest) if finding.rule == Rule::RegistryLinkPathMismatch => {
            // Still a mismatch unless it now holds the digest its path names.
            (named_by_path(key) == Some(digest))
                .then(|| "the link holds the digest its path names now".into())
        }
        Ok(digest) => Some(format!(
            "the link holds {digest} now (written during the audit)"
        )),
        Err(NoDigest::Absent) if !was_absent => {
            // Gone: for a tag's current link, is the whole tag gone (deleted)?
            Some("the link is gone (removed during the audit)".into())
        }
        Err(NoDigest::Absent) => {
            let tag = tag_dir(key)?;
            match presence(backend, &tag) {
                Presence::Absent => Some("the tag is gone (deleted during the audit)".into()),
                _ => None,
            }
        }
        Err(_) => None,
    }
}

/// A tag whose current manifest has no revision link: has the tag moved, gone, or the
/// revision appeared?
fn recheck_tag(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    let current = &finding.location.path;
    let named = finding.location.digest.as_ref()?;
    match link_now(backend, current) {
        Ok(digest) if digest != *named => return Some(format!("the tag points at {digest} now")),
        Ok(_) => {}
        Err(why) => return Some(format!("the tag's link is {why} now (the tag was deleted)")),
    }
    let revision = revision_link(current, named)?;
    link_now(backend, &revision)
        .is_ok_and(|d| d == *named)
        .then(|| "the revision link is there now (written during the audit)".into())
}

/// The digest `<alg>/<encoded>/link` names.
fn named_by_path(link: &Key) -> Option<Digest> {
    let text = link.to_str()?.strip_suffix("/link")?;
    let mut parts = text.rsplitn(3, '/');
    let encoded = parts.next()?;
    let algorithm = parts.next()?;
    Digest::parse(&format!("{algorithm}:{encoded}")).ok()
}

/// `…/docker/registry/v2` above a key under it.
fn registry_root(key: &Key) -> Option<Key> {
    let text = key.to_str()?;
    if let Some(at) = text.find("/blobs/").or_else(|| text.find("/repositories/")) {
        return Some(Key::from(&text[..at]));
    }
    (text.starts_with("blobs/") || text.starts_with("repositories/")).then(Key::root)
}

/// `<repo>/_manifests/tags/<tag>` from its `current/link`.
fn tag_dir(current: &Key) -> Option<Key> {
    let text = current.to_str()?;
    Some(Key::from(text.strip_suffix("/current/link")?))
}

/// `<repo>/_manifests/revisions/<alg>/<hex>/link` from a tag's `current/link`.
fn revision_link(current: &Key, digest: &Digest) -> Option<Key> {
    let text = current.to_str()?;
    let at = text.find("/_manifests/tags/")?;
    Some(Key::from(format!(
        "{}/_manifests/revisions/{}/{}/link",
        &text[..at],
        digest.algorithm(),
        digest.encoded()
    )))
}
