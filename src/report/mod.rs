//! The audit's result and its renderings: one [`Report`] type, one file per output format.
//! The library never prints; the binary picks a format and writes the rendering.

mod json;
mod text;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::model::digest::Digest;
use crate::model::platform::Platform;
use crate::store::StoreKind;

pub use json::render as render_json;
pub use text::render as render_text;

/// JSON document version; bumped on any incompatible change of the shape.
pub const JSON_VERSION: u32 = 1;

/// What was audited.
#[derive(Clone, Debug, Serialize)]
pub struct StoreInfo {
    /// The kind of store.
    pub kind: StoreKind,
    /// The path as given on the command line.
    pub path: String,
}

/// Counters of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Layouts audited.
    pub layouts: u64,
    /// Blob files found.
    pub blobs: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Bytes hashed to verify content.
    pub bytes_verified: u64,
    /// Indexes, manifests and configs parsed.
    pub documents: u64,
    /// Wall-clock time of the audit; the one field that differs between identical runs.
    pub elapsed_ms: u64,
}

/// The platforms one entry of a layout's `index.json` covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// `org.opencontainers.image.ref.name` of the entry, else its digest.
    pub root: String,
    /// The `index.json` holding the entry, relative to the audited root.
    pub path: String,
    /// The entry's JSON pointer in it.
    pub pointer: String,
    /// The entry's digest.
    pub digest: Digest,
    /// Distinct platforms, in index order (attestations excluded).
    pub platforms: Vec<Platform>,
    /// Platforms claimed by more than one entry.
    pub duplicates: Vec<Platform>,
    /// Image manifests listed without a platform.
    pub without_platform: Vec<Digest>,
    /// Attestation manifests (`unknown/unknown`, `vnd.docker.reference.type`), not counted.
    pub attestations: Vec<Digest>,
    /// Artifacts (signatures, SBOMs, charts: `artifactType`, or a non-image config), which
    /// are not platform-specific and not counted.
    pub artifacts: Vec<Digest>,
}

/// The result of an audit.
#[derive(Clone, Debug, Serialize)]
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
}

impl Report {
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

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => render_text(report),
        Format::Json => render_json(report),
    }
}
