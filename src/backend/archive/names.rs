//! Member names as extraction would see them: normalised, refused when they (or a link's
//! target) would land outside the directory; and the algorithm a member's name implies.

use crate::finding::{Finding, Location};
use crate::model::digest::Algorithm;
use crate::model::key::Key;
use crate::rules::Rule;

use super::tar::{self, MemberKind};

/// The algorithm a member is hashed under: the one its name says (`…/blobs/<alg>/<hex>`),
/// else sha256 (Docker archives name configs and layers by sha256).
pub(super) fn algorithm_of(key: &Key) -> Algorithm {
    let mut parts = key.as_bytes().rsplit(|&b| b == b'/');
    let (_file, algorithm, blobs) = (parts.next(), parts.next(), parts.next());
    match (algorithm, blobs) {
        (Some(algorithm), Some(b"blobs")) => std::str::from_utf8(algorithm)
            .map(Algorithm::from_name)
            .unwrap_or(Algorithm::Sha256),
        _ => Algorithm::Sha256,
    }
}

/// A member's name as extraction would place it, and a link's target, or `None` (with a
/// finding) when it would land outside the directory, or names the root itself.
pub(super) fn member_key(
    member: &tar::Member,
    findings: &mut Vec<Finding>,
) -> Option<(Key, Option<Key>)> {
    let raw = Key::from_bytes(member.name.clone());
    let unsafe_name = |why: String| {
        Finding::new(
            Rule::ArchiveMemberUnsafe,
            Location::path(raw.clone()),
            format!("member at byte {}: {why}; not audited", member.offset),
        )
    };
    let key = match normalise(&member.name, &[], false) {
        Ok(Some(key)) => key,
        Ok(None) => return None,
        Err(why) => {
            findings.push(unsafe_name(format!("its name {why}")));
            return None;
        }
    };
    match member.kind {
        MemberKind::Symlink | MemberKind::HardLink => {
            let target = member.link.as_deref().unwrap_or_default();
            // A symlink is relative to its directory, a hard link names another member.
            let parent = match member.kind {
                MemberKind::Symlink => key.parent().unwrap_or_default(),
                _ => Key::root(),
            };
            let what = if member.kind == MemberKind::Symlink {
                "a symlink"
            } else {
                "a hard link"
            };
            match normalise(target, parent.as_bytes(), true) {
                Ok(resolved) => {
                    findings.push(Finding::new(
                        Rule::ArchiveMemberLink,
                        Location::path(key.clone()),
                        format!(
                            "{what} to {}, inside the archive; not followed",
                            String::from_utf8_lossy(target)
                        ),
                    ));
                    return Some((key, resolved));
                }
                Err(why) => {
                    findings.push(unsafe_name(format!(
                        "{what} to {}, which {why}",
                        String::from_utf8_lossy(target)
                    )));
                    return None;
                }
            }
        }
        MemberKind::Device => special(findings, &key, "a device node"),
        MemberKind::Fifo => special(findings, &key, "a FIFO"),
        MemberKind::Other(flag) => special(
            findings,
            &key,
            &format!("a member of type '{}'", flag.escape_ascii()),
        ),
        MemberKind::File | MemberKind::Dir => {}
    }
    Some((key, None))
}

/// An `archive-member-special` finding: `what` the member at `key` is.
fn special(findings: &mut Vec<Finding>, key: &Key, what: &str) {
    findings.push(Finding::new(
        Rule::ArchiveMemberSpecial,
        Location::path(key.clone()),
        format!("{what}, which an image archive never holds; not read"),
    ));
}

/// `name` resolved against the directory `base` (both `/`-separated, relative to the
/// archive's root) without leaving it: `Ok(None)` for the root itself, `Err` saying why
/// it would leave. Only a link target (`link`) may use `..` at all: a member name with
/// one is refused even when it comes back inside, since extraction tools differ on it
/// (GNU tar drops such members, Go's `filepath.IsLocal` refuses them).
fn normalise(name: &[u8], base: &[u8], link: bool) -> Result<Option<Key>, &'static str> {
    if name.first() == Some(&b'/') {
        return Err("is absolute");
    }
    if name.is_empty() {
        return Err("is empty");
    }
    let mut parts: Vec<&[u8]> = base
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for component in name.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("climbs out of the archive with ..");
                }
            }
            other => parts.push(other),
        }
    }
    if !link && name.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err("holds a .. component");
    }
    Ok((!parts.is_empty()).then(|| Key::from_bytes(parts.join(&b'/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_as_extraction_sees_them() {
        let key = |name: &str| {
            normalise(name.as_bytes(), b"", false).map(|k| k.map(|k| k.lossy().into_owned()))
        };
        assert_eq!(
            key("./blobs//sha256/ab"),
            Ok(Some("blobs/sha256/ab".to_owned()))
        );
        assert_eq!(key("./"), Ok(None));
        assert!(key("/etc/passwd").is_err());
        assert!(key("../x").is_err());
        assert!(key("a/../b").is_err());
        let link = |target: &str, base: &str| {
            normalise(target.as_bytes(), base.as_bytes(), true)
                .map(|k| k.map(|k| k.lossy().into_owned()))
        };
        assert_eq!(link("../abc.tar", "id"), Ok(Some("abc.tar".to_owned())));
        assert!(link("../../abc.tar", "id").is_err());
        assert!(link("/abc.tar", "id").is_err());
    }

    #[test]
    fn members_are_hashed_under_the_algorithm_their_name_says() {
        assert_eq!(
            algorithm_of(&Key::from_bytes(&b"blobs/sha512/ab"[..])),
            Algorithm::Sha512
        );
        assert_eq!(
            algorithm_of(&Key::from_bytes(&b"x/blobs/blake3/ab"[..])),
            Algorithm::Blake3
        );
        assert_eq!(
            algorithm_of(&Key::from_bytes(&b"abc.tar"[..])),
            Algorithm::Sha256
        );
    }
}
