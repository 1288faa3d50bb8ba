//! The text rendering, for people: one line per finding (`via` on an indented line),
//! a platform coverage table, for a Distribution root what garbage collection would
//! reclaim per repository, and a summary line.
//!
//! ```text
//! error[blob-digest-mismatch] blobs/sha256/3f1a…: content hashes to sha256:9b0c…
//!   via blobs/sha256/77aa… /layers/2
//! ```

use std::fmt::Write as _;

use crate::report::{Coverage, Reclaimable, ReclaimableTotal, Report};
use crate::store::StoreKind;

/// Renders the report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let _ = write!(
            out,
            "{}[{}] {}: {}",
            finding.severity,
            finding.rule.id(),
            finding.location.path,
            finding.message
        );
        if let (Some(expected), Some(found)) = (&finding.expected, &finding.found) {
            let _ = write!(out, " (expected {expected}, found {found})");
        }
        out.push('\n');
        if let Some(via) = &finding.location.via {
            let _ = writeln!(
                out,
                "  via {} {}",
                via.path,
                if via.pointer.is_empty() {
                    "/"
                } else {
                    &via.pointer
                }
            );
        }
    }
    if !report.coverage.is_empty() {
        if !report.findings.is_empty() {
            out.push('\n');
        }
        // A registry's roots are tags, named in full by `repository:tag`.
        let show_path = report.store.kind != StoreKind::Distribution;
        coverage(&mut out, &report.coverage, show_path);
    }
    if let Some(rows) = &report.reclaimable {
        let registries: Vec<_> = report
            .store
            .stores
            .iter()
            .filter_map(|s| Some((&s.path, s.reclaimable_total.as_ref()?)))
            .collect();
        for (path, total) in &registries {
            out.push('\n');
            let rows: Vec<&Reclaimable> = rows.iter().filter(|r| r.store == **path).collect();
            let place = if registries.len() > 1 {
                format!(" in {path}")
            } else {
                String::new()
            };
            reclaimable(&mut out, &place, &rows, total);
        }
    }
    let (errors, warnings, infos) = report.counts();
    let stats = &report.stats;
    let has_registry = report
        .store
        .stores
        .iter()
        .any(|s| s.kind == StoreKind::Distribution);
    let registry = if has_registry {
        format!(
            " · {} repositor{} · {} upload{} ({})",
            stats.repositories,
            if stats.repositories == 1 { "y" } else { "ies" },
            stats.uploads,
            plural(stats.uploads as usize),
            bytes(stats.upload_bytes)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{} finding{} ({errors} error{}, {warnings} warning{}, {infos} info) · {} blob{}, {} · {} verified · {} document{}{registry} · {:.2} s",
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
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Bytes in binary units, one decimal.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One Distribution root's table; `place` names the root when there are several.
fn reclaimable(out: &mut String, place: &str, rows: &[&Reclaimable], total: &ReclaimableTotal) {
    let command = if total.untagged {
        "registry garbage-collect --delete-untagged"
    } else {
        "registry garbage-collect"
    };
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
            "{command}{place} would reclaim at most {} (a linked manifest could not be read, and what it keeps is unknown):",
            bytes(total.bytes),
        );
    }
    let width = rows
        .iter()
        .map(|r| r.repository.len())
        .max()
        .unwrap_or(0)
        .max("repository".len());
    let _ = writeln!(
        out,
        "  {:<width$}  manifests  tags  layers  untagged  reclaimable",
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
    let _ = writeln!(
        out,
        "  total: {} in {} blob{} ({} linked by no repository); {} untagged manifest{}",
        bytes(total.bytes),
        total.blobs,
        plural(total.blobs as usize),
        bytes(total.unlinked_bytes),
        total.unused_manifests,
        plural(total.unused_manifests as usize)
    );
}

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
        let mut notes = Vec::new();
        if !entry.without_platform.is_empty() {
            notes.push(format!("{} without platform", entry.without_platform.len()));
        }
        if !entry.duplicates.is_empty() {
            let dups: Vec<String> = entry.duplicates.iter().map(ToString::to_string).collect();
            notes.push(format!("duplicated: {}", dups.join(", ")));
        }
        if !entry.artifacts.is_empty() {
            notes.push(format!(
                "{} artifact{}",
                entry.artifacts.len(),
                plural(entry.artifacts.len())
            ));
        }
        if !entry.attestations.is_empty() {
            notes.push(format!(
                "{} attestation{}",
                entry.attestations.len(),
                plural(entry.attestations.len())
            ));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  [{}]", notes.join("; "))
        };
        let _ = writeln!(out, "  {name:<width$}  {}{notes}", parts.join(", "));
    }
}
