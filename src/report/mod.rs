//! The audit's result and its renderings: one [`Report`] type, one file per output format.
//! The library never prints; the binary picks a format and writes the rendering.

pub mod html;
mod json;
pub mod metrics;
mod text;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Severity};
use crate::model::key::Key;
use crate::store::StoreKind;

pub use crate::model::coverage::{Coverage, CoverageShare, Covered, Exceptions};
pub use crate::model::reclaim::{Reclaimable, ReclaimableTotal};
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
    /// What garbage collection would reclaim in it (none over HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable_total: Option<ReclaimableTotal>,
    /// What this kind of store cannot show, so the audit did not check it (a registry
    /// over HTTP lists no blobs or uploads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// Its tags, signed tags, tags with an SBOM or provenance, and orphaned referrers.
    #[serde(default)]
    pub supply_chain: crate::model::supply_chain::Summary,
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
    /// What garbage collection would reclaim, per repository of every store (none over HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable: Option<Vec<Reclaimable>>,
    /// The total of `reclaimable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaimable_total: Option<ReclaimableTotal>,
    /// What refers to each tag of an image (signatures, SBOMs, provenance, other), and
    /// the referrers whose subject is gone.
    #[serde(default)]
    pub supply_chain: crate::model::supply_chain::SupplyChain,
    /// With a baseline: what it was, and what changed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineInfo>,
    /// With a baseline: its findings that are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Vec<Finding>>,
    /// With a ledger: which run this was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerInfo>,
    /// Why the audit stopped before it saw everything (a registry's rate limit reached its
    /// reserve), and where to resume: the run exits 2 whatever it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
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

impl Report {
    /// The exit code `policy` gives these findings: 1 when they fail the audit, else 0.
    pub fn exit_code(&self, policy: &crate::finding::Policy) -> i32 {
        if self.incomplete.is_some() {
            return 2;
        }
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
            supply_chain: Default::default(),
            baseline: None,
            resolved: None,
            ledger: None,
            incomplete: None,
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
    /// One self-contained HTML page.
    Html,
}

/// What a rendering needs beside the report: how much platform coverage the text and the
/// page show, and for the page the run's exit status and the ledger's last runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct View<'a> {
    /// How much of the coverage (JSON always holds all of it).
    pub coverage: CoverageDetail,
    /// How much of what garbage collection would reclaim the text shows.
    pub reclaimable: ReclaimableDetail,
    /// How much of the supply-chain view the text shows (the same three levels as the
    /// coverage: a store-wide summary, a line per tag, nothing).
    pub referrers: CoverageDetail,
    /// The exit status the policy gives the report.
    pub exit_code: i32,
    /// With a ledger, its last runs, newest first.
    pub history: &'a [crate::ledger::RunRecord],
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

/// How much of the garbage-collection tables the text shows (JSON always holds every row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReclaimableDetail {
    /// One registry root: its table, the repositories that reclaim the most first, at most
    /// [`text::RECLAIMABLE_ROWS`] of them; several roots: a line each and the total.
    #[default]
    Summary,
    /// Every root's whole table.
    Full,
    /// Nothing.
    None,
}

/// Writes `report` in `format` to `out` (JSON is streamed, not built in memory first).
pub fn write(
    report: &Report,
    format: Format,
    view: &View,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => json::write(report, out),
        Format::Text | Format::Html => out.write_all(render(report, format, view).as_bytes()),
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format, view: &View) -> String {
    match format {
        Format::Text => text::render_view(report, view),
        Format::Json => render_json(report),
        Format::Html => html::render(
            report,
            view.coverage,
            view.referrers,
            view.exit_code,
            view.history,
        ),
    }
}
