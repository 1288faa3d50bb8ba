//! Checks: plain functions over what the store layer found, each returning findings.
//! `document` validates one document's JSON; `graph` checks the edges between documents
//! and blobs.

pub mod document;
pub mod graph;
