//! Checks: plain functions over what the store layer found, each returning findings.
//! `document` validates one document's JSON; `documents` loads a store's documents (each
//! blob read once: hashed, then parsed); `graph` checks the edges between documents and
//! blobs.

pub mod document;
pub mod documents;
pub mod graph;
