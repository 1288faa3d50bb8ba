//! `oci-audit history`: the runs a ledger recorded, as a table.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use oci_audit::ledger::RunRecord;

/// One line per run, newest first.
pub fn render(runs: &[RunRecord]) -> String {
    let mut out = String::from(
        "run    started               duration   hashed      errors  warnings  new  resolved  exit\n",
    );
    for run in runs {
        let started = UNIX_EPOCH + Duration::from_secs(u64::try_from(run.started).unwrap_or(0));
        let duration = match run.ended {
            Some(ended) => humantime::format_duration(Duration::from_secs(
                u64::try_from(ended - run.started).unwrap_or(0),
            ))
            .to_string(),
            None => "unfinished".to_owned(),
        };
        let number = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
        let hashed = run.bytes_hashed.map_or("-".to_owned(), |b| {
            bytesize::ByteSize(b).display().iec().to_string()
        });
        let _ = writeln!(
            out,
            "{:<6} {:<21} {:<10} {:<11} {:>6}  {:>8}  {:>3}  {:>8}  {:>4}",
            run.id,
            humantime::format_rfc3339_seconds(started).to_string(),
            duration,
            hashed,
            number(run.errors),
            number(run.warnings),
            number(run.new),
            number(run.resolved),
            run.exit_code.map_or("-".to_owned(), |c| c.to_string()),
        );
    }
    out
}
