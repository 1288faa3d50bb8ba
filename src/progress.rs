//! The progress bar (indicatif) drawn on stderr when it is a terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// A [`oci_audit::Progress`] drawn as one bar: a spinner while an archive streams by or
/// documents load, then bytes
/// hashed against the total to verify, with the count of blobs done (on a store of many
/// small blobs the count moves when the bytes barely do).
pub struct Bar {
    bar: ProgressBar,
    blobs_done: Arc<AtomicU64>,
    blobs_total: Arc<AtomicU64>,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar {
            bar,
            blobs_done: Arc::new(AtomicU64::new(0)),
            blobs_total: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl oci_audit::Progress for Bar {
    fn phase(&self, name: &'static str) {
        self.bar.set_message(name);
        if name == "archive" {
            // An archive's one pass: bytes read so far (a pipe has no known length).
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} {binary_bytes} read · {binary_bytes_per_sec}",
                )
                .expect("valid template"),
            );
        }
    }

    fn total(&self, bytes: u64, blobs: u64) {
        self.blobs_total.store(blobs, Ordering::Relaxed);
        let (done, total) = (self.blobs_done.clone(), self.blobs_total.clone());
        self.bar.set_position(0);
        self.bar.set_length(bytes);
        self.bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {blobs} blobs · {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {settled_eta}")
                .expect("valid template")
                // The first seconds' rate says little (reads in flight, files opened, the
                // page cache): no estimate until 3 s or 2% have passed.
                .with_key("settled_eta", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = if state.elapsed().as_secs() < 3 && state.fraction() < 0.02 {
                        write!(w, "…")
                    } else {
                        write!(w, "{}", humantime::format_duration(std::time::Duration::from_secs(state.eta().as_secs())))
                    };
                })
                .with_key("blobs", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(
                        w,
                        "{}/{}",
                        done.load(Ordering::Relaxed),
                        total.load(Ordering::Relaxed)
                    );
                })
                .progress_chars("=> "),
        );
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn blob_done(&self) {
        self.blobs_done.fetch_add(1, Ordering::Relaxed);
    }

    /// A spinner and what is awaited: a bar frozen with a decaying rate looked stuck.
    fn settle(&self, wait: std::time::Duration, findings: usize) {
        self.bar
            .set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        self.bar.set_message(format!(
            "waiting {} (--settle) before re-reading {findings} finding{} a concurrent writer can cause",
            humantime::format_duration(wait),
            if findings == 1 { "" } else { "s" }
        ));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
