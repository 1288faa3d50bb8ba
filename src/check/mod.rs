//! Checks: plain functions over what the store layer found, each returning findings.
//! `document` validates one document's JSON; `documents` loads a store's documents (each
//! blob read once: hashed, then parsed); `graph` holds those documents and checks the
//! edges between documents and blobs, the documents' consistency with one another, and
//! the platforms each root covers.

pub mod document;
pub mod documents;
pub mod graph;
