//! The progress bar (indicatif) drawn on stderr when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A [`oci_audit::Progress`] drawn as one bar: a spinner while documents load, then bytes
/// hashed against the total to verify.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar(bar)
    }
}

impl oci_audit::Progress for Bar {
    fn phase(&self, name: &'static str) {
        self.0.set_message(name);
    }

    fn total(&self, bytes: u64) {
        self.0.set_length(bytes);
        self.0.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
