//! The JSON rendering: one document, `version` 1. The shape is a public contract (see the
//! README); tests deserialize it into strict mirror types.

use crate::report::Report;

/// Renders the report as one JSON document followed by a newline.
pub fn render(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("report serialises");
    out.push('\n');
    out
}
