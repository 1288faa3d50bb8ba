//! The text rendering, for people: one line per finding (`via` on an indented line) and,
//! against a baseline, the findings resolved since; a platform coverage table; the
//! supply-chain view (signed tags, SBOMs, provenance, orphaned referrers); what garbage
//! collection would reclaim per repository; and a summary
//! line. [`render`] writes these sections in that order, one function each.
//!
//! ```text
//! error[blob-digest-mismatch] blobs/sha256/3f1a…: content hashes to sha256:9b0c…
//!   via blobs/sha256/77aa… /layers/2
//! ```

use std::fmt::Write as _;

use std::collections::BTreeMap;

use crate::model::key::Key;
use crate::model::platform::Platform;
use crate::model::supply_chain::{SupplyChain, labels};
use crate::report::{
    Coverage, CoverageDetail, Reclaimable, ReclaimableDetail, ReclaimableTotal, Report, Stats, View,
};
use crate::rules::Rule;
use crate::store::StoreKind;

/// Renders the report as text, with as much platform coverage as `detail` asks and the
/// garbage-collection tables summarised: each section in turn, then the summary line.
pub fn render(report: &Report, detail: CoverageDetail) -> String {
    render_view(
        report,
        &View {
            coverage: detail,
            ..View::default()
        },
    )
}

/// Renders the report as text as `view` asks.
pub fn render_view(report: &Report, view: &View) -> String {
    let mut out = String::new();
    findings(&mut out, report);
    coverage_section(&mut out, report, view.coverage);
    supply_chain_section(&mut out, report, view.referrers);
    reclaimable_tables(&mut out, report, view.reclaimable);
    not_checked(&mut out, report);
    if let Some(why) = &report.incomplete {
        out.push_str(&format!("\nincomplete: {why}\n"));
    }
    summary(&mut out, report);
    out
}

/// What the stores' kinds could not show, so the audit did not check.
fn not_checked(out: &mut String, report: &Report) {
    let mut said: Vec<&str> = report
        .store
        .stores
        .iter()
        .filter_map(|s| s.not_checked.as_deref())
        .collect();
    said.dedup();
    for text in said {
        out.push_str(&format!("\nnot checked: {text}\n"));
    }
}

/// One line per finding, then the findings of the baseline that are gone.
fn findings(out: &mut String, report: &Report) {
    for finding in &report.findings {
        line(out, "", finding);
    }
    if let (Some(baseline), Some(resolved)) = (&report.baseline, &report.resolved) {
        if !resolved.is_empty() {
            if !report.findings.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "resolved since {}:", baseline.source);
            for finding in resolved {
                line(out, "  ", finding);
            }
        }
    }
}

/// Platform coverage, one line per root or summed over the store, as `detail` asks.
fn coverage_section(out: &mut String, report: &Report, detail: CoverageDetail) {
    if report.coverage.is_empty() || detail == CoverageDetail::None {
        return;
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    if detail == CoverageDetail::Full {
        // A registry's roots are tags, named in full by `repository:tag`.
        let show_path = report.store.kind != StoreKind::Distribution;
        coverage(out, &report.coverage, show_path);
    } else {
        coverage_summary(out, &report.coverage);
    }
}

/// The supply-chain view: the store-wide line (when anything refers to anything, or a
/// tag lacks what `--require` asks), or a line per tag and per orphan (`Full`).
fn supply_chain_section(out: &mut String, report: &Report, detail: CoverageDetail) {
    let chain = &report.supply_chain;
    let required = report.findings.iter().any(|f| {
        matches!(
            f.rule,
            Rule::TagSignatureMissing | Rule::TagSbomMissing | Rule::TagProvenanceMissing
        )
    });
    let shown = match detail {
        CoverageDetail::None => false,
        CoverageDetail::Summary => chain.has_referrers() || required,
        CoverageDetail::Full => !chain.tags.is_empty() || !chain.orphans.is_empty(),
    };
    if !shown {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "supply chain: {}", supply_chain_line(chain));
    if detail != CoverageDetail::Full {
        return;
    }
    // A layout at the audited root is repository "."; its tags are named alone.
    let name = |repository: &str, tag: &str| match repository {
        "." => tag.to_owned(),
        _ => format!("{repository}:{tag}"),
    };
    let names: Vec<String> = chain
        .tags
        .iter()
        .map(|t| name(&t.repository, &t.tag))
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0).min(40);
    for (row, name) in chain.tags.iter().zip(&names) {
        let mut parts = Vec::new();
        for (what, entries) in [
            ("signed", row.signatures()),
            ("sbom", row.sboms()),
            ("provenance", row.provenance()),
            ("other", row.other()),
        ] {
            if !entries.is_empty() {
                parts.push(format!("{what} ({})", labels(entries)));
            }
        }
        let what = match parts.is_empty() {
            true => "nothing refers to it".to_owned(),
            false => parts.join("; "),
        };
        let _ = writeln!(out, "  {name:<width$}  {what}");
    }
    for orphan in &chain.orphans {
        let by = orphan.tag.as_deref().map_or_else(
            || orphan.digest.to_string(),
            |t| name(&orphan.repository, t),
        );
        let _ = writeln!(
            out,
            "  orphaned {} {by} refers to {} ({})",
            orphan.format,
            orphan.subject,
            bytes(orphan.bytes)
        );
    }
}

/// "812 of 1024 tags signed (cosign 700, notation 112), 640 with an SBOM, 300 with
/// provenance; 14 orphaned referrers, 3.2 MiB".
pub(crate) fn supply_chain_line(chain: &SupplyChain) -> String {
    let summary = &chain.summary;
    let formats: Vec<String> = summary
        .signed_by_format
        .iter()
        .map(|(format, n)| format!("{format} {n}"))
        .collect();
    let formats = match formats.is_empty() {
        true => String::new(),
        false => format!(" ({})", formats.join(", ")),
    };
    let mut line = format!(
        "{} of {} tag{} signed{formats}, {} with an SBOM, {} with provenance",
        summary.signed,
        summary.tags,
        plural(summary.tags as usize),
        summary.with_sbom,
        summary.with_provenance,
    );
    if summary.with_other > 0 {
        let _ = write!(line, ", {} with other referrers", summary.with_other);
    }
    if summary.orphans > 0 {
        let _ = write!(
            line,
            "; {} orphaned referrer{}, {}",
            summary.orphans,
            plural(summary.orphans as usize),
            bytes(summary.orphan_bytes)
        );
    }
    line
}

/// Repositories a summarised table shows, those that reclaim the most.
pub const RECLAIMABLE_ROWS: usize = 10;

/// What garbage collection would reclaim: a table for each store (`Full`); in summary,
/// one store's table cut to the repositories that reclaim the most, or a line per store
/// when there are several (a machine's `/` holds hundreds). A registry's table is always
/// shown; a layout's only when it has something to reclaim, since most have nothing and
/// their `blob-unreferenced` findings already name each blob.
fn reclaimable_tables(out: &mut String, report: &Report, detail: ReclaimableDetail) {
    let Some(rows) = &report.reclaimable else {
        return;
    };
    let stores: Vec<Collected> = report
        .store
        .stores
        .iter()
        .filter_map(|s| {
            let total = s.reclaimable_total.as_ref()?;
            let shown = s.kind.is_registry() || total.bytes > 0;
            shown.then_some(Collected {
                path: &s.path,
                kind: s.kind,
                total,
            })
        })
        .collect();
    match detail {
        ReclaimableDetail::None => return,
        ReclaimableDetail::Summary if stores.len() > 1 => {
            reclaimable_roots(out, &stores);
            return;
        }
        _ => {}
    }
    for store in &stores {
        out.push('\n');
        let mut rows: Vec<&Reclaimable> = rows.iter().filter(|r| r.store == *store.path).collect();
        let place = if stores.len() > 1 {
            format!(" in {}", store.path)
        } else {
            String::new()
        };
        let mut more = 0;
        if detail == ReclaimableDetail::Summary && rows.len() > RECLAIMABLE_ROWS {
            // The most first; the rest counted. (Full keeps the repositories' order.)
            rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.repository.cmp(&b.repository)));
            more = rows.len() - RECLAIMABLE_ROWS;
            rows.truncate(RECLAIMABLE_ROWS);
        }
        reclaimable(out, &place, store, &rows, more);
    }
}

/// One store's garbage collection, as the reclaimable tables show it.
struct Collected<'r> {
    path: &'r Key,
    kind: StoreKind,
    total: &'r ReclaimableTotal,
}

impl Collected<'_> {
    /// The collector whose deletions the figures are, as the table's heading names it.
    fn collector(&self) -> &'static str {
        match (self.kind, self.total.untagged) {
            (StoreKind::Distribution, false) => "registry garbage-collect",
            (StoreKind::Distribution, true) => "registry garbage-collect --delete-untagged",
            (StoreKind::Zot, false) => "zot's garbage collection",
            (StoreKind::Zot, true) => {
                "zot's garbage collection with its default retention (untagged manifests deleted)"
            }
            (StoreKind::Containerd, _) => "containerd's garbage collection",
            (_, false) => "deleting what index.json does not reach",
            (_, true) => "deleting what no tag in index.json keeps",
        }
    }

    /// What the total calls the blobs that belong to no repository (or namespace), if
    /// the store's blobs belong to some.
    fn unlinked(&self) -> Option<&'static str> {
        match self.kind {
            StoreKind::Distribution | StoreKind::Zot => Some("linked by no repository"),
            StoreKind::Containerd => Some("recorded by no namespace"),
            _ => None,
        }
    }
}

/// Several stores in summary: what each would reclaim, and the sum.
fn reclaimable_roots(out: &mut String, stores: &[Collected]) {
    let _ = writeln!(
        out,
        "\ngarbage collection would reclaim, per store (--reclaimable full for each table):"
    );
    let width = stores
        .iter()
        .map(|s| s.path.lossy().len())
        .max()
        .unwrap_or(0);
    let (mut bytes_total, mut blobs_total) = (0, 0);
    for store in stores {
        let total = store.total;
        let at_most = if total.complete { "" } else { "at most " };
        let _ = writeln!(
            out,
            "  {:<width$}  {at_most}{} in {} blob{}",
            store.path.lossy(),
            bytes(total.bytes),
            total.blobs,
            plural(total.blobs as usize)
        );
        bytes_total += total.bytes;
        blobs_total += total.blobs;
    }
    let _ = writeln!(
        out,
        "  total: {} in {} blob{} across {} stores",
        bytes(bytes_total),
        blobs_total,
        plural(blobs_total as usize),
        stores.len()
    );
}

/// The summary line: findings by severity, then what the run did and how long it took.
fn summary(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\n{}", summary_line(report));
}

/// The summary line itself (the HTML page shows it too).
pub(crate) fn summary_line(report: &Report) -> String {
    let (errors, warnings, infos) = report.counts();
    let stats = &report.stats;
    let suppressed = triage_note(report);
    let ledger = ledger_note(stats);
    let registry = registry_note(report);
    format!(
        "{} finding{} ({errors} error{}, {warnings} warning{}, {infos} info){suppressed} · {} blob{}, {} · {} verified{ledger} · {} document{}{registry} · {:.2} s",
        report.findings.len(),
        plural(report.findings.len()),
        plural(errors),
        plural(warnings),
        stats.blobs,
        plural(stats.blobs as usize),
        bytes(stats.bytes),
        bytes(stats.bytes_verified),
        stats.documents,
        plural(stats.documents as usize),
        stats.elapsed_ms as f64 / 1000.0,
    )
}

/// What became of the findings beyond those shown: suppressed, confirmed or changed under
/// --settle, new and resolved against a baseline.
fn triage_note(report: &Report) -> String {
    let stats = &report.stats;
    let mut note = if stats.suppressed > 0 {
        format!(" · {} suppressed", stats.suppressed)
    } else {
        String::new()
    };
    if stats.changed > 0 || stats.confirmed > 0 {
        let _ = write!(
            note,
            " · {} confirmed, {} changed during the audit",
            stats.confirmed, stats.changed
        );
    }
    if let Some(baseline) = &report.baseline {
        let _ = write!(
            note,
            " · {} new, {} resolved since {}",
            baseline.new, baseline.resolved, baseline.source
        );
    }
    note
}

/// With a ledger: blobs hashed and trusted, and the oldest verification standing.
fn ledger_note(stats: &Stats) -> String {
    match stats.oldest_verification_s {
        Some(oldest) => format!(
            " · {} blob{} hashed, {} ({}) trusted from the ledger, oldest verification {} old",
            stats.blobs_hashed,
            plural(stats.blobs_hashed as usize),
            stats.blobs_trusted,
            bytes(stats.bytes_trusted),
            humantime::format_duration(std::time::Duration::from_secs(oldest))
        ),
        None => String::new(),
    }
}

/// With a registry (Distribution or zot) among the stores: repositories and uploads.
fn registry_note(report: &Report) -> String {
    let has_registry = report.store.stores.iter().any(|s| s.kind.is_registry());
    if !has_registry {
        return String::new();
    }
    let stats = &report.stats;
    let repositories = format!(
        " · {} repositor{}",
        stats.repositories,
        if stats.repositories == 1 { "y" } else { "ies" },
    );
    // Uploads are counted only where something lists them: not over HTTP.
    if report
        .store
        .stores
        .iter()
        .all(|s| s.kind == StoreKind::RegistryApi)
    {
        return repositories;
    }
    format!(
        "{repositories} · {} upload{} ({})",
        stats.uploads,
        plural(stats.uploads as usize),
        bytes(stats.upload_bytes)
    )
}

/// One finding: `severity[rule] path: message (expected …, found …)`, ` [new]` when a
/// baseline says so, and the referrer on an indented line.
fn line(out: &mut String, indent: &str, finding: &crate::finding::Finding) {
    let _ = write!(
        out,
        "{indent}{}[{}] {}: {}",
        finding.severity,
        finding.rule.id(),
        finding.location.path,
        finding.message
    );
    if let (Some(expected), Some(found)) = (&finding.expected, &finding.found) {
        let _ = write!(out, " (expected {expected}, found {found})");
    }
    if finding.new == Some(true) {
        out.push_str(" [new]");
    }
    out.push('\n');
    if let Some(via) = &finding.location.via {
        let pointer = if via.pointer.is_empty() {
            "/"
        } else {
            &via.pointer
        };
        let _ = writeln!(out, "{indent}  via {} {pointer}", via.path);
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Bytes in binary units, one decimal ("7.8 KiB", "15 B").
pub(super) fn bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

/// One store's table; `place` names the store when there are several, and `more` counts
/// the rows a summary left out.
fn reclaimable(
    out: &mut String,
    place: &str,
    store: &Collected,
    rows: &[&Reclaimable],
    more: usize,
) {
    let (command, total) = (store.collector(), store.total);
    if total.complete {
        let _ = writeln!(
            out,
            "{command}{place} would reclaim {} in {} blob{}:",
            bytes(total.bytes),
            total.blobs,
            plural(total.blobs as usize)
        );
    } else {
        let _ = writeln!(
            out,
            "{command}{place} would reclaim at most {} (a manifest could not be read, and what it keeps is unknown):",
            bytes(total.bytes),
        );
    }
    let width = rows
        .iter()
        .map(|r| r.repository.len())
        .max()
        .unwrap_or(0)
        .max("repository".len());
    // A Distribution root's blobs are linked to repositories as layers; a layout's are
    // its own.
    let blobs = if store.kind == StoreKind::Distribution {
        "layers"
    } else {
        " blobs"
    };
    let _ = writeln!(
        out,
        "  {:<width$}  manifests  tags  {blobs}  untagged  reclaimable",
        "repository"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>9}  {:>4}  {:>6}  {:>8}  {:>11}",
            row.repository,
            row.manifests,
            row.tags,
            row.layers,
            row.unused_manifests,
            bytes(row.bytes)
        );
    }
    if more > 0 {
        let _ = writeln!(
            out,
            "  … {more} more repositor{} (--reclaimable full lists each)",
            if more == 1 { "y" } else { "ies" }
        );
    }
    let unlinked = store.unlinked().map_or(String::new(), |what| {
        format!(" ({} {what})", bytes(total.unlinked_bytes))
    });
    let _ = writeln!(
        out,
        "  total: {} in {} blob{}{unlinked}; {} untagged manifest{}",
        bytes(total.bytes),
        total.blobs,
        plural(total.blobs as usize),
        total.unused_manifests,
        plural(total.unused_manifests as usize)
    );
}

/// One line per root: its platforms, then its exceptions.
fn coverage(out: &mut String, coverage: &[Coverage], show_path: bool) {
    let _ = writeln!(out, "platform coverage:");
    let name = |c: &Coverage| {
        if show_path {
            format!("{} {}", c.path, c.root)
        } else {
            c.root.clone()
        }
    };
    let width = coverage.iter().map(|c| name(c).len()).max().unwrap_or(0);
    for entry in coverage {
        let name = name(entry);
        let mut parts: Vec<String> = entry.platforms.iter().map(ToString::to_string).collect();
        if parts.is_empty() {
            parts.push("(no platform)".to_owned());
        }
        let notes = coverage_notes(entry);
        let _ = writeln!(out, "  {name:<width$}  {}{notes}", parts.join(", "));
    }
}

/// A root's exceptions after its platforms: `  [2 without platform; 1 artifact]`, or
/// nothing when it has none.
fn coverage_notes(entry: &Coverage) -> String {
    let mut notes = Vec::new();
    if !entry.exceptions.without_platform.is_empty() {
        notes.push(format!(
            "{} without platform",
            entry.exceptions.without_platform.len()
        ));
    }
    if !entry.exceptions.duplicates.is_empty() {
        let dups: Vec<String> = entry
            .exceptions
            .duplicates
            .iter()
            .map(ToString::to_string)
            .collect();
        notes.push(format!("duplicated: {}", dups.join(", ")));
    }
    if !entry.exceptions.artifacts.is_empty() {
        notes.push(format!(
            "{} artifact{}",
            entry.exceptions.artifacts.len(),
            plural(entry.exceptions.artifacts.len())
        ));
    }
    if !entry.exceptions.attestations.is_empty() {
        notes.push(format!(
            "{} attestation{}",
            entry.exceptions.attestations.len(),
            plural(entry.exceptions.attestations.len())
        ));
    }
    if !entry.exceptions.missing.is_empty() {
        notes.push(sparse_note(entry));
    }
    let discarded = entry.exceptions.discarded_layers.len();
    if discarded > 0 {
        notes.push(format!(
            "{discarded} layer{} discarded once unpacked",
            plural(discarded)
        ));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("  [{}]", notes.join("; "))
    }
}

/// "2 of 3 platforms present" for a sparse index (or "1 of 2 manifests present" where the
/// absent entries name no platform).
fn sparse_note(entry: &Coverage) -> String {
    if entry.exceptions.missing_platforms.is_empty() {
        let listed = entry.platforms.len() + entry.exceptions.missing.len();
        return format!("{} of {listed} manifests present", entry.platforms.len());
    }
    let listed = entry.platforms.len() + entry.exceptions.missing_platforms.len();
    format!(
        "{} of {listed} platform{} present",
        entry.platforms.len(),
        plural(listed)
    )
}

/// The store-wide summary: each platform with the number of tags that cover it (most
/// first), then tags without a platform, artifact-only tags and sparse indexes.
fn coverage_summary(out: &mut String, coverage: &[Coverage]) {
    let tags = coverage.len();
    let _ = writeln!(
        out,
        "platform coverage ({tags} tag{}; --coverage full lists each):",
        plural(tags)
    );
    let mut by_platform: BTreeMap<&Platform, usize> = BTreeMap::new();
    for entry in coverage {
        for platform in entry.platforms.iter() {
            *by_platform.entry(platform).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, usize)> = by_platform
        .into_iter()
        .map(|(platform, n)| (platform.to_string(), n))
        .collect();
    // Most-covered first; ties in platform order (the map's), as the sort is stable.
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    let extra = coverage_exceptions(coverage);
    let width = rows
        .iter()
        .map(|(name, _)| name.len())
        .chain(extra.iter().map(|(name, _)| name.len()))
        .max()
        .unwrap_or(0);
    for (name, n) in rows {
        let _ = writeln!(out, "  {name:<width$}  {}", tags_count(n));
    }
    for (name, what) in extra {
        let _ = writeln!(out, "  {name:<width$}  {what}");
    }
}

/// The summary's rows after the platforms, each `(name, tags)`: tags without a platform,
/// artifact-only tags and sparse indexes, those there are.
fn coverage_exceptions(coverage: &[Coverage]) -> Vec<(String, String)> {
    let no_platform = coverage
        .iter()
        .filter(|c| {
            c.platforms.is_empty()
                && c.exceptions.artifacts.is_empty()
                && c.exceptions.missing.is_empty()
        })
        .count();
    let artifacts_only = coverage
        .iter()
        .filter(|c| c.platforms.is_empty() && !c.exceptions.artifacts.is_empty())
        .count();
    let sparse: Vec<&Coverage> = coverage
        .iter()
        .filter(|c| !c.exceptions.missing.is_empty())
        .collect();
    let mut extra: Vec<(String, String)> = Vec::new();
    if no_platform > 0 {
        extra.push(("without a platform".to_owned(), tags_count(no_platform)));
    }
    if artifacts_only > 0 {
        extra.push(("artifacts only".to_owned(), tags_count(artifacts_only)));
    }
    if !sparse.is_empty() {
        let absent: usize = sparse.iter().map(|c| c.exceptions.missing.len()).sum();
        extra.push((
            "sparse indexes".to_owned(),
            format!(
                "{} ({absent} listed manifest{} not in the store)",
                tags_count(sparse.len()),
                plural(absent)
            ),
        ));
    }
    extra
}

fn tags_count(n: usize) -> String {
    format!("{n} tag{}", plural(n))
}
