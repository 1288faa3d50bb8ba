//! Checks: plain functions over what the store layer found, each returning findings.
//! `document` validates one document's JSON; `graph` checks the edges between documents
//! and blobs; `registry` checks a Distribution root's links, tags and uploads and
//! simulates its garbage collection; `docker` checks a Docker archive's `manifest.json`.

pub mod docker;
pub mod document;
pub mod graph;
pub mod registry;
