//! Files the tool writes beside the store (a report with `--output`, the metrics file, a
//! shard's partial result): written to a temporary file in the same directory, made
//! world-readable, synced, then renamed over the target, so a reader (a collector, a
//! browser, a web server) sees the old file or the new one whole, and a run killed at any
//! moment leaves the old one.

use std::io::{self, Write};
use std::path::Path;

/// Writes `file` atomically with what `write` produces.
pub fn write_file(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let directory = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    {
        let mut out = io::BufWriter::with_capacity(1 << 16, temporary.as_file_mut());
        write(&mut out)?;
        out.flush()?;
    }
    temporary.as_file().sync_all()?;
    // Read as its owner's other files are: node_exporter's textfile collector, a web
    // server publishing the page (a temporary file is created 0600).
    std::fs::set_permissions(
        temporary.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    temporary.persist(file).map_err(|e| e.error)?;
    Ok(())
}
