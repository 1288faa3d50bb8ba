//! The JSON rendering: one document, `version` 1. The shape is a public contract (see
//! docs/output.md); tests deserialize it into strict mirror types.

use std::io;

use crate::report::Report;

/// Renders the report as one JSON document followed by a newline.
pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    write(report, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes the report as one JSON document followed by a newline, streaming: a store with
/// hundreds of thousands of tags has a report of hundreds of MB, never held in memory.
pub fn write(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
