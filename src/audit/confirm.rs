//! Confirming findings a concurrent writer can produce, before they fail a job.
//!
//! oci-audit reads a registry while it keeps serving. A push creates a tag directory a
//! moment before its `current/link`, a delete by digest removes a revision before its
//! tags, garbage collection removes blobs a listing saw: each can look like a fault for
//! the instant the audit passes. So every finding of such a kind at or above the failure
//! threshold is re-checked after a short settle time (`--settle`), by reading again the
//! files behind it. If the evidence changed, the finding was the writer in mid-write: it
//! becomes `changed-during-audit` (info), saying what changed. If the evidence is the
//! same, the finding stands as it was.
//!
//! Findings about content are never downgraded by this: a blob whose content does not
//! match its digest is hashed again, and stays an error unless it now hashes clean (it
//! was rewritten meanwhile); a document that breaks the spec is what it is, whoever reads
//! it. Re-checks go through the backend, so on object storage an object that appeared,
//! vanished or changed its ETag is the evidence.

use std::time::Duration;

use crate::backend::{Backend, EntryKind, ReadError};
use crate::finding::{Cause, Finding, Severity};
use crate::kinds;
use crate::rules::Rule;
use crate::store::{Presence, presence};

/// What confirmation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// Findings re-checked whose evidence was the same: they stand.
    pub confirmed: u64,
    /// Findings whose evidence changed: now `changed-during-audit`.
    pub changed: u64,
}

pub use crate::kinds::is_confirmable;

/// Re-checks, after `settle`, every confirmable finding at or above `threshold`, and turns
/// those whose evidence changed into `changed-during-audit`. Nothing is slept when there
/// is nothing to re-check.
pub fn confirm(
    backend: &dyn Backend,
    findings: &mut [Finding],
    threshold: Severity,
    settle: Duration,
    progress: &dyn crate::audit::Progress,
) -> Confirmed {
    let mut outcome = Confirmed::default();
    let candidates: Vec<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.severity >= threshold && is_confirmable(f))
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return outcome;
    }
    progress.settle(settle, candidates.len());
    std::thread::sleep(settle);
    for i in candidates {
        match recheck(backend, &findings[i]) {
            None => outcome.confirmed += 1,
            Some(what) => {
                outcome.changed += 1;
                findings[i] = changed(&findings[i], &what);
            }
        }
    }
    outcome
}

/// The finding a changed one becomes: the same place, the original rule in the message
/// and, for `merge`, in its cause.
fn changed(original: &Finding, what: &str) -> Finding {
    let mut finding = Finding::new(
        Rule::ChangedDuringAudit,
        original.location.clone(),
        format!("{} no longer holds: {what}", original.rule.id()),
    )
    .with_cause(Cause::Changed {
        was: original.rule,
        was_cause: original.cause.clone().map(Box::new),
    });
    finding.expected = Some(format!("{}: {}", original.rule.id(), original.message));
    finding.found = Some(what.to_owned());
    finding
}

/// `None` when the evidence behind `finding` is as it was (the finding stands); else what
/// changed. Findings about content are re-checked here, whatever the store; the rest by
/// the kind that made them.
fn recheck(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    if let Some(kind) = kinds::rechecking(finding) {
        return kind.recheck(backend, finding);
    }
    let key = &finding.location.path;
    match finding.rule {
        // A blob named but absent: has it appeared (pushed after the listing)?
        Rule::DescriptorBlobMissing | Rule::IndexManifestMissing | Rule::SubjectMissing => {
            match presence(backend, key) {
                Presence::Present(..) => {
                    Some("the blob is there now (written during the audit)".into())
                }
                _ => None,
            }
        }
        Rule::RegistryUploadStale | Rule::RegistryUploadInvalid => match presence(backend, key) {
            Presence::Absent => {
                Some("the upload is gone (finished or purged during the audit)".into())
            }
            _ => None,
        },
        Rule::IoError => recheck_io(backend, finding),
        Rule::BlobDigestMismatch => {
            let digest = finding.location.digest.as_ref()?;
            match backend.hash(key, digest.algorithm(), &|_| {}) {
                Ok(hashed) if hashed.digest == *digest => {
                    Some("it hashes to its digest now (rewritten during the audit)".into())
                }
                Ok(_) => None,
                Err(error) if error.is_not_found() => {
                    Some("the blob is gone (deleted during the audit)".into())
                }
                Err(_) => None,
            }
        }
        Rule::DocumentJsonInvalid | Rule::DocumentSchemaInvalid => {
            // index.json or oci-layout, rewritten in place: does it read now?
            let mut bytes = match backend.read_small(key, 8 * 1024 * 1024) {
                Ok(bytes) => bytes,
                Err(error) if error.is_not_found() => {
                    return Some("the file is gone (removed during the audit)".into());
                }
                Err(_) => return None,
            };
            let parses = simd_json::to_borrowed_value(&mut bytes).is_ok();
            (finding.rule == Rule::DocumentJsonInvalid && parses)
                .then(|| "it parses now (rewritten during the audit)".into())
        }
        _ => None,
    }
}

/// An unreadable or changed file: gone, readable, or the same length again?
fn recheck_io(backend: &dyn Backend, finding: &Finding) -> Option<String> {
    let key = &finding.location.path;
    match presence(backend, key) {
        Presence::Absent => Some("the file is gone (deleted during the audit)".into()),
        Presence::Present(kind, len) => {
            if finding.cause == Some(Cause::LengthChanged) {
                // The length moved under the hash. A blob rewritten whole hashes clean now
                // (a writer at work); one truncated in place and left so is corrupt at
                // rest, and the finding stands.
                let digest = finding.location.digest.as_ref()?;
                return match backend.hash(key, digest.algorithm(), &|_| {}) {
                    Ok(hashed) if hashed.digest == *digest => Some(format!(
                        "it is {len} bytes now and hashes to its digest (rewritten during the audit)"
                    )),
                    Err(error) if error.is_not_found() => {
                        Some("the file is gone (deleted during the audit)".into())
                    }
                    _ => None,
                };
            }
            if matches!(kind, EntryKind::File) && finding.cause == Some(Cause::Unreadable) {
                return match backend.read_small(key, 0) {
                    Ok(_) | Err(ReadError::TooLarge { .. }) => {
                        Some("it reads now (a passing error)".into())
                    }
                    Err(_) => None,
                };
            }
            None
        }
        Presence::Unreadable => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::{LocalFs, ReadMode};
    use crate::finding::Location;
    use crate::model::digest::Digest;

    fn at(path: &str) -> Location {
        Location::path(path)
    }
    use std::fs;

    const HEX: &str = "4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27";

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{HEX}")).unwrap()
    }

    /// A registry root in a temporary directory, and a backend on it.
    fn root() -> (tempfile::TempDir, LocalFs) {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalFs::new(dir.path().to_owned(), ReadMode::Auto);
        (dir, backend)
    }

    fn write(dir: &tempfile::TempDir, key: &str, bytes: &[u8]) {
        let path = dir.path().join(key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn finding(rule: Rule, location: Location, message: &str) -> Finding {
        Finding::new(rule, location, message)
    }

    /// Confirms one finding twice: as found (it must stand), then after `change` (it must
    /// become changed-during-audit).
    fn stands_then_changes(
        dir: &tempfile::TempDir,
        backend: &LocalFs,
        original: Finding,
        change: impl FnOnce(&tempfile::TempDir),
    ) {
        let mut findings = vec![original.clone()];
        let outcome = confirm(
            backend,
            &mut findings,
            Severity::Warning,
            Duration::ZERO,
            &crate::audit::NoProgress,
        );
        assert_eq!(
            outcome,
            Confirmed {
                confirmed: 1,
                changed: 0
            },
            "{findings:?}"
        );
        assert_eq!(findings[0], original);
        change(dir);
        let outcome = confirm(
            backend,
            &mut findings,
            Severity::Warning,
            Duration::ZERO,
            &crate::audit::NoProgress,
        );
        assert_eq!(
            outcome,
            Confirmed {
                confirmed: 0,
                changed: 1
            }
        );
        assert_eq!(findings[0].rule, Rule::ChangedDuringAudit, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Info);
        assert!(findings[0].message.starts_with(original.rule.id()));
    }

    const TAG: &str = "repositories/app/_manifests/tags/v1";
    const BLOB: &str =
        "blobs/sha256/4f/4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27/data";

    #[test]
    fn a_tag_without_its_current_link() {
        let (dir, backend) = root();
        fs::create_dir_all(dir.path().join(TAG)).unwrap();
        let original = finding(
            Rule::RegistryLinkInvalid,
            at(&format!("{TAG}/current/link")),
            "tag has no current/link: it points at nothing",
        )
        .with_cause(Cause::LinkAbsent);
        stands_then_changes(&dir, &backend, original, |dir| {
            write(
                dir,
                &format!("{TAG}/current/link"),
                format!("sha256:{HEX}").as_bytes(),
            );
        });
    }

    #[test]
    fn an_empty_link_stays_an_error_while_it_stays_empty() {
        let (dir, backend) = root();
        let link = "repositories/app/_layers/sha256/x/link";
        write(&dir, link, b"");
        let original = finding(
            Rule::RegistryLinkInvalid,
            at(link),
            "link is empty (zero bytes)",
        );
        // A truncated link that stays truncated is still an error, however often re-read.
        for _ in 0..3 {
            let mut findings = vec![original.clone()];
            confirm(
                &backend,
                &mut findings,
                Severity::Warning,
                Duration::ZERO,
                &crate::audit::NoProgress,
            );
            assert_eq!(findings[0], original);
        }
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_file(dir.path().join(link)).unwrap();
        });
    }

    #[test]
    fn a_tag_whose_revision_is_missing() {
        let (dir, backend) = root();
        let current = format!("{TAG}/current/link");
        write(&dir, &current, format!("sha256:{HEX}").as_bytes());
        let original = finding(
            Rule::RegistryTagRevisionMissing,
            at(&current).with_digest(Some(digest())),
            "tag v1 points at a manifest with no revision link in app",
        );
        stands_then_changes(&dir, &backend, original.clone(), |dir| {
            // A delete by digest finishing: the tag goes too.
            fs::remove_dir_all(dir.path().join(TAG)).unwrap();
        });
        let (dir, backend) = root();
        write(&dir, &current, format!("sha256:{HEX}").as_bytes());
        stands_then_changes(&dir, &backend, original, |dir| {
            write(
                dir,
                &format!("repositories/app/_manifests/revisions/sha256/{HEX}/link"),
                format!("sha256:{HEX}").as_bytes(),
            );
        });
    }

    #[test]
    fn a_link_to_a_blob_that_is_gone() {
        let (dir, backend) = root();
        let link = format!("repositories/app/_manifests/revisions/sha256/{HEX}/link");
        write(&dir, &link, format!("sha256:{HEX}").as_bytes());
        let original = finding(
            Rule::RegistryLinkTargetMissing,
            at(BLOB).with_digest(Some(digest())).via(link.as_str(), ""),
            "link names a blob that does not exist",
        );
        stands_then_changes(&dir, &backend, original, move |dir| {
            fs::remove_file(dir.path().join(&link)).unwrap();
        });
    }

    #[test]
    fn a_blob_named_but_absent_appears() {
        let (dir, backend) = root();
        let original = finding(
            Rule::DescriptorBlobMissing,
            at(BLOB)
                .with_digest(Some(digest()))
                .via("blobs/sha256/aa/aa/data", "/layers/0"),
            "descriptor names a blob that is not in the store",
        );
        stands_then_changes(&dir, &backend, original, |dir| write(dir, BLOB, b"late"));
    }

    #[test]
    fn a_blob_directory_whose_data_arrives_or_that_goes() {
        let (dir, backend) = root();
        let blob_dir = std::path::Path::new(BLOB).parent().unwrap();
        fs::create_dir_all(dir.path().join(blob_dir)).unwrap();
        let original = finding(Rule::RegistryBlobPathInvalid, at(BLOB), "no data file")
            .with_cause(Cause::NoDataFile);
        stands_then_changes(&dir, &backend, original.clone(), |dir| {
            write(dir, BLOB, b"moved in");
        });
        fs::remove_dir_all(dir.path().join(blob_dir)).unwrap();
        fs::create_dir_all(dir.path().join(blob_dir)).unwrap();
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_dir_all(dir.path().join(blob_dir)).unwrap();
        });
        // Other kinds of this rule are about names, which a writer does not get wrong.
        let other = finding(Rule::RegistryBlobPathInvalid, at(BLOB), "not a directory");
        assert!(!is_confirmable(&other));
    }

    #[test]
    fn an_upload_that_finishes() {
        let (dir, backend) = root();
        let upload = "repositories/app/_uploads/u1";
        write(
            &dir,
            &format!("{upload}/startedat"),
            b"2020-01-01T00:00:00Z",
        );
        let original = finding(
            Rule::RegistryUploadStale,
            at(upload),
            "upload never finished (0 bytes)",
        );
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_dir_all(dir.path().join(upload)).unwrap();
        });
    }

    #[test]
    fn a_file_that_vanished_and_one_that_changed_length() {
        let (dir, backend) = root();
        fs::create_dir_all(dir.path().join(BLOB).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join(BLOB)).unwrap();
        let original = finding(
            Rule::IoError,
            at(BLOB).with_digest(Some(digest())),
            "is a symlink; not followed",
        );
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_file(dir.path().join(BLOB)).unwrap();
        });
        // A length that moved under the hash: a blob truncated and left so stands (it is
        // corrupt at rest); one rewritten whole, hashing to its digest now, was a writer.
        let (dir, backend) = root();
        write(&dir, BLOB, b"trunc");
        let original = finding(
            Rule::IoError,
            at(BLOB).with_digest(Some(digest())),
            "blob changed length while being audited",
        )
        .with_cause(Cause::LengthChanged);
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_file(dir.path().join(BLOB)).unwrap();
        });
        let content = b"the whole blob";
        let whole =
            crate::hash::digest_bytes(&crate::model::digest::Algorithm::Sha256, content).unwrap();
        let key = format!("blobs/sha256/{}", whole.encoded());
        write(&dir, &key, content);
        let mut findings = vec![
            finding(
                Rule::IoError,
                at(&key).with_digest(Some(whole)),
                "blob changed length while being audited",
            )
            .with_cause(Cause::LengthChanged),
        ];
        confirm(
            &backend,
            &mut findings,
            Severity::Warning,
            Duration::ZERO,
            &crate::audit::NoProgress,
        );
        assert_eq!(findings[0].rule, Rule::ChangedDuringAudit);
    }

    /// A bit flip stays an error: the blob is hashed again and still does not match.
    #[test]
    fn a_digest_mismatch_is_never_downgraded_while_the_content_stays() {
        let (dir, backend) = root();
        write(&dir, BLOB, b"flipped content");
        let original = finding(
            Rule::BlobDigestMismatch,
            at(BLOB).with_digest(Some(digest())),
            "content does not hash to the digest in its name",
        );
        stands_then_changes(&dir, &backend, original, |dir| {
            fs::remove_file(dir.path().join(BLOB)).unwrap();
        });
    }

    #[test]
    fn the_wait_is_announced_to_the_progress_bar_only_when_there_is_one() {
        /// Records what `settle` was told.
        #[derive(Default)]
        struct Told(std::sync::Mutex<Vec<(Duration, usize)>>);
        impl crate::audit::Progress for Told {
            fn settle(&self, wait: Duration, findings: usize) {
                self.0.lock().unwrap().push((wait, findings));
            }
        }
        let (_dir, backend) = root();
        let told = Told::default();
        let mut none = vec![finding(Rule::BlobUnreferenced, at(BLOB), "unreferenced")];
        confirm(&backend, &mut none, Severity::Info, Duration::ZERO, &told);
        assert!(told.0.lock().unwrap().is_empty());
        let mut two = vec![
            finding(
                Rule::DescriptorBlobMissing,
                at(BLOB).with_digest(Some(digest())),
                "a",
            ),
            finding(
                Rule::IndexManifestMissing,
                at(BLOB).with_digest(Some(digest())),
                "b",
            ),
        ];
        confirm(
            &backend,
            &mut two,
            Severity::Info,
            Duration::from_millis(1),
            &told,
        );
        assert_eq!(*told.0.lock().unwrap(), [(Duration::from_millis(1), 2)]);
    }

    #[test]
    fn only_findings_at_the_threshold_are_re_checked_and_nothing_is_slept_otherwise() {
        let (_dir, backend) = root();
        let mut findings = vec![finding(Rule::BlobUnreferenced, at(BLOB), "unreferenced")];
        let started = std::time::Instant::now();
        let outcome = confirm(
            &backend,
            &mut findings,
            Severity::Error,
            Duration::from_secs(5),
            &crate::audit::NoProgress,
        );
        assert_eq!(outcome, Confirmed::default());
        assert!(started.elapsed() < Duration::from_secs(1));
        let mut warning = vec![finding(
            Rule::DescriptorBlobMissing,
            at(BLOB).with_digest(Some(digest())),
            "gone",
        )];
        warning[0].severity = Severity::Warning;
        let outcome = confirm(
            &backend,
            &mut warning,
            Severity::Error,
            Duration::ZERO,
            &crate::audit::NoProgress,
        );
        assert_eq!(outcome, Confirmed::default());
    }
}
