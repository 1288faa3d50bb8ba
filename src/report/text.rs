//! The text rendering, for people: one line per finding (`via` on an indented line),
//! a platform coverage table, and a summary line.
//!
//! ```text
//! error[blob-digest-mismatch] blobs/sha256/3f1a…: content hashes to sha256:9b0c…
//!   via blobs/sha256/77aa… /layers/2
//! ```

use std::fmt::Write as _;

use crate::report::{Coverage, Report};

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
        coverage(&mut out, &report.coverage);
    }
    let (errors, warnings, infos) = report.counts();
    let stats = &report.stats;
    let _ = writeln!(
        out,
        "\n{} finding{} ({errors} error{}, {warnings} warning{}, {infos} info) · {} blob{}, {} · {} verified · {} document{} · {:.2} s",
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

fn coverage(out: &mut String, coverage: &[Coverage]) {
    let _ = writeln!(out, "platform coverage:");
    let width = coverage
        .iter()
        .map(|c| c.path.len() + c.root.len() + 1)
        .max()
        .unwrap_or(0);
    for entry in coverage {
        let name = format!("{} {}", entry.path, entry.root);
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
