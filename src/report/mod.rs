//! The audit's result and its renderings: one [`Report`] type, one file per output format.
//! The library never prints; the binary picks a format and writes the rendering.

mod json;
pub mod metrics;
mod text;

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

use crate::finding::{Finding, Severity};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::model::platform::Platform;
use crate::store::StoreKind;

pub use json::render as render_json;
pub use text::render as render_text;

/// JSON document version; bumped on any incompatible change of the shape.
pub const JSON_VERSION: u32 = 1;

/// What was audited.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreInfo {
    /// The kind of the whole tree: the kind of its one store, `oci-layouts` for several
    /// layouts, `mixed` for several stores not all layouts.
    pub kind: StoreKind,
    /// The path as given on the command line.
    pub path: String,
    /// Every store found under it, by path.
    pub stores: Vec<FoundStore>,
}

/// One store found under the audited path.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundStore {
    /// `oci-layout` or `distribution`.
    pub kind: StoreKind,
    /// Where, relative to the audited path (`path`, and `path_bytes` when not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// A Distribution root: what garbage collection would reclaim in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable_total: Option<ReclaimableTotal>,
}

/// Counters of the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Layouts audited (0 for a Distribution root).
    pub layouts: u64,
    /// Repositories of a Distribution root (0 for layouts).
    pub repositories: u64,
    /// Blob files found.
    pub blobs: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Bytes hashed to verify content.
    pub bytes_verified: u64,
    /// Indexes, manifests and configs parsed.
    pub documents: u64,
    /// Findings the policy hid (`--skip`, `--skip-list`, `--severity RULE=ignore`).
    pub suppressed: u64,
    /// Findings a concurrent writer can produce, read again after `--settle` and standing.
    pub confirmed: u64,
    /// Such findings whose evidence changed: reported as `changed-during-audit`.
    pub changed: u64,
    /// Blobs hashed this run (documents included).
    pub blobs_hashed: u64,
    /// Blobs whose last clean hash in the ledger was trusted instead (`--state`).
    pub blobs_trusted: u64,
    /// Their bytes.
    pub bytes_trusted: u64,
    /// With a ledger: the age in seconds of the oldest verification standing after this
    /// run (0 when everything was hashed now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_verification_s: Option<u64>,
    /// Uploads in progress or stale under a Distribution root's `_uploads`.
    pub uploads: u64,
    /// Bytes those uploads hold.
    pub upload_bytes: u64,
    /// Wall-clock time of the audit; the one field that differs between identical runs.
    pub elapsed_ms: u64,
}

/// The platforms one entry of a layout's `index.json` covers.
///
/// One is kept per tag until the report is written, and a registry has hundreds of
/// thousands of tags nearly all alike (one or a few platforms, nothing else to say): the
/// platform list is shared by every entry with the same list, and the rarer lists by
/// every entry that has none of them ([`CoverageShare`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// `org.opencontainers.image.ref.name` of the entry, else its digest; for a
    /// Distribution root, `repository:tag`.
    pub root: String,
    /// The `index.json` holding the entry (for a Distribution root, the tag's
    /// `current/link`), relative to the audited root (`path`, and `path_bytes` when it
    /// is not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// The entry's JSON pointer in it.
    pub pointer: String,
    /// The entry's digest.
    pub digest: Digest,
    /// Distinct platforms, in index order (attestations excluded).
    pub platforms: Arc<[Platform]>,
    /// What else the entry lists.
    #[serde(flatten)]
    pub exceptions: Arc<Exceptions>,
}

/// What one coverage root covers, before it is placed in the report: a registry works
/// this out for every tag while its documents are loaded, and names the entries
/// (`repository:tag`, the `current/link` path) once they are dropped.
#[derive(Clone, Debug)]
pub struct Covered {
    /// Distinct platforms, in index order (attestations excluded).
    pub platforms: Arc<[Platform]>,
    /// What else the root lists.
    pub exceptions: Arc<Exceptions>,
}

impl Covered {
    /// The coverage entry of root `digest`, named `root`, at `pointer` in `path`.
    pub fn at(self, root: String, path: Key, pointer: String, digest: Digest) -> Coverage {
        Coverage {
            root,
            path,
            pointer,
            digest,
            platforms: self.platforms,
            exceptions: self.exceptions,
        }
    }
}

/// What a coverage entry lists besides its distinct platforms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exceptions {
    /// Platforms claimed by more than one entry.
    pub duplicates: Vec<Platform>,
    /// Image manifests listed without a platform.
    pub without_platform: Vec<Digest>,
    /// Attestation manifests (`unknown/unknown`, `vnd.docker.reference.type`), not counted.
    pub attestations: Vec<Digest>,
    /// Artifacts (signatures, SBOMs, charts: `artifactType`, or a non-image config), which
    /// are not platform-specific and not counted.
    pub artifacts: Vec<Digest>,
    /// Manifests and nested indexes the index lists but the store does not hold (a sparse
    /// index, as `oras copy --platform` leaves one).
    pub missing: Vec<Digest>,
    /// The platforms of those absent manifests: listed by the index, not present, and not
    /// in `platforms`. "N of M platforms present" is `platforms` against both.
    pub missing_platforms: Vec<Platform>,
}

impl Exceptions {
    /// Whether every list is empty.
    pub fn is_empty(&self) -> bool {
        self.duplicates.is_empty()
            && self.without_platform.is_empty()
            && self.attestations.is_empty()
            && self.artifacts.is_empty()
            && self.missing.is_empty()
            && self.missing_platforms.is_empty()
    }

    fn shrink_to_fit(&mut self) {
        self.duplicates.shrink_to_fit();
        self.without_platform.shrink_to_fit();
        self.attestations.shrink_to_fit();
        self.artifacts.shrink_to_fit();
        self.missing.shrink_to_fit();
        self.missing_platforms.shrink_to_fit();
    }
}

/// What coverage entries built together share: each distinct platform list once, and
/// one empty [`Exceptions`].
#[derive(Debug, Default)]
pub struct CoverageShare {
    platforms: HashSet<Arc<[Platform]>>,
    none: Arc<Exceptions>,
}

impl CoverageShare {
    /// Distinct lists kept for sharing; past this many, a hostile store's every-entry-
    /// different lists are kept once each and not also in the table.
    const MAX_LISTS: usize = 4096;

    /// The shared copy of this platform list.
    pub fn platforms(&mut self, platforms: Vec<Platform>) -> Arc<[Platform]> {
        if let Some(shared) = self.platforms.get(platforms.as_slice()) {
            return shared.clone();
        }
        let list: Arc<[Platform]> = platforms.into();
        if self.platforms.len() < Self::MAX_LISTS {
            self.platforms.insert(list.clone());
        }
        list
    }

    /// These exceptions, without growth slack, or the shared empty value.
    pub fn exceptions(&mut self, mut exceptions: Exceptions) -> Arc<Exceptions> {
        if exceptions.is_empty() {
            return self.none.clone();
        }
        exceptions.shrink_to_fit();
        Arc::new(exceptions)
    }
}

/// What garbage collection would reclaim in one repository of a Distribution root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclaimable {
    /// The Distribution root (its `v2` directory) relative to the audited path.
    #[serde(
        serialize_with = "crate::model::key::as_lossy",
        deserialize_with = "crate::model::key::from_lossy"
    )]
    pub store: Key,
    /// Repository name.
    pub repository: String,
    /// Manifests linked as revisions.
    pub manifests: u64,
    /// Tags.
    pub tags: u64,
    /// Blobs linked under `_layers`.
    pub layers: u64,
    /// Manifests no tag keeps (neither tagged, nor a child of a tagged index, nor a
    /// referrer of a kept manifest): what `--untagged` collection deletes.
    pub unused_manifests: u64,
    /// Bytes of the blobs this repository links that collection would delete. A blob
    /// linked by several repositories counts in each.
    pub bytes: u64,
}

/// The total of the reclaimable table; every blob counted once. Over several Distribution
/// roots, the sum of theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimableTotal {
    /// Whether only tagged manifests were roots (`--untagged`).
    pub untagged: bool,
    /// False when a linked manifest could not be read, so what it references is unknown:
    /// then no blob is reported unreferenced and the figures are an upper bound (some of
    /// those blobs may be what the unread manifest references).
    pub complete: bool,
    /// Blobs collection would delete.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Manifests no tag keeps, over all repositories.
    pub unused_manifests: u64,
    /// Bytes of deletable blobs that no repository links at all.
    pub unlinked_bytes: u64,
}

/// The result of an audit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// JSON document version.
    pub version: u32,
    /// What was audited.
    pub store: StoreInfo,
    /// Counters.
    pub stats: Stats,
    /// Findings, sorted.
    pub findings: Vec<Finding>,
    /// Platform coverage per root.
    pub coverage: Vec<Coverage>,
    /// Distribution roots only: what garbage collection would reclaim, per repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable: Option<Vec<Reclaimable>>,
    /// Distribution roots only: the total of `reclaimable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable_total: Option<ReclaimableTotal>,
    /// With a baseline: what it was, and what changed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineInfo>,
    /// With a baseline: its findings that are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Vec<Finding>>,
    /// With a ledger: which run this was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerInfo>,
}

/// What the findings were compared against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// `--baseline`'s file, or `ledger run N`.
    pub source: String,
    /// Findings not in the baseline.
    pub new: u64,
    /// Baseline findings gone now.
    pub resolved: u64,
}

/// The ledger a run used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerInfo {
    /// Its file.
    pub path: String,
    /// This run's number in it.
    pub run: i64,
    /// Bytes of re-verification earned and not spent, carried to the next run.
    pub credit_bytes: u64,
}

impl ReclaimableTotal {
    /// Nothing yet: the start of a sum.
    pub fn empty(untagged: bool) -> ReclaimableTotal {
        ReclaimableTotal {
            untagged,
            complete: true,
            blobs: 0,
            bytes: 0,
            unused_manifests: 0,
            unlinked_bytes: 0,
        }
    }

    /// Adds another root's total (roots share no blobs).
    pub fn add(&mut self, other: &ReclaimableTotal) {
        self.complete &= other.complete;
        self.blobs += other.blobs;
        self.bytes += other.bytes;
        self.unused_manifests += other.unused_manifests;
        self.unlinked_bytes += other.unlinked_bytes;
    }
}

impl Report {
    /// The exit code `policy` gives these findings: 1 when they fail the audit, else 0.
    pub fn exit_code(&self, policy: &crate::finding::Policy) -> i32 {
        i32::from(policy.fails(&self.findings))
    }

    /// A report of nothing, for unit tests.
    #[cfg(test)]
    pub fn empty_for_tests() -> Report {
        Report {
            version: JSON_VERSION,
            store: StoreInfo {
                kind: StoreKind::OciLayout,
                path: String::new(),
                stores: Vec::new(),
            },
            stats: Stats::default(),
            findings: Vec::new(),
            coverage: Vec::new(),
            reclaimable: None,
            reclaimable_total: None,
            baseline: None,
            resolved: None,
            ledger: None,
        }
    }

    /// Number of findings at each severity: (errors, warnings, infos).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        (
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
        )
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per finding, then coverage and a summary.
    Text,
    /// One JSON document.
    Json,
}

/// How much of the platform coverage the text shows (JSON always holds all of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CoverageDetail {
    /// A store-wide summary: each platform with the number of tags covering it, tags
    /// without a platform, sparse indexes. A registry of thousands of tags stays readable.
    #[default]
    Summary,
    /// One line per tag (per `index.json` entry of a layout).
    Full,
    /// Nothing.
    None,
}

/// Writes `report` in `format` to `out` (JSON is streamed, not built in memory first).
pub fn write(
    report: &Report,
    format: Format,
    coverage: CoverageDetail,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => out.write_all(render_text(report, coverage).as_bytes()),
        Format::Json => json::write(report, out),
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format, coverage: CoverageDetail) -> String {
    match format {
        Format::Text => render_text(report, coverage),
        Format::Json => render_json(report),
    }
}
