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
            ProgressStyle::with_template("{msg} [{bar:40}] {blobs} blobs · {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}")
                .expect("valid template")
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
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
