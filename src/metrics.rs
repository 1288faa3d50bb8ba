//! `--metrics-file`: the Prometheus rendering written atomically (a temporary file in the
//! same directory, then a rename), outside the audited tree, whatever the audit's outcome.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context as _, Result};

use oci_audit::Report;
use oci_audit::ledger::{self, unix_seconds};
use oci_audit::report::metrics::{self, RunFacts};

/// Writes the metrics of this run: the report's when the audit ran, else when it ran and
/// when the last run that did ran (from the ledger, or the file written before).
pub fn write(
    file: &Path,
    store: &str,
    ledger: Option<&Path>,
    report: Option<&Report>,
    started: SystemTime,
) -> Result<()> {
    let duration = started.elapsed().map_or(0.0, |d| d.as_secs_f64());
    let started = unix_seconds(started);
    let text = match report {
        Some(report) => metrics::render(
            report,
            RunFacts {
                started,
                duration,
                last_success: Some(started),
            },
        ),
        None => metrics::render_failure(
            store,
            RunFacts {
                started,
                duration,
                last_success: last_success(file, ledger),
            },
        ),
    };
    write_atomically(file, &text).with_context(|| format!("--metrics-file {}", file.display()))
}

/// When the last run that completed an audit started, for a run that did not: from the
/// ledger when there is one and it knows, else from the metrics file written before.
fn last_success(file: &Path, ledger: Option<&Path>) -> Option<i64> {
    let from_ledger = ledger.and_then(|ledger| {
        let runs = ledger::history(ledger, 1000).ok()?;
        runs.iter()
            .find(|run| matches!(run.exit_code, Some(0 | 1)))
            .map(|run| run.started)
    });
    let from_file = std::fs::read_to_string(file)
        .ok()
        .and_then(|text| metrics::previous_success(&text));
    from_ledger.or(from_file)
}

/// Writes `text` to `file` atomically (`atomic`): a collector reading the file sees the
/// old metrics or the new, whole.
fn write_atomically(file: &Path, text: &str) -> Result<()> {
    oci_audit::atomic::write_file(file, |out| out.write_all(text.as_bytes()))?;
    Ok(())
}
