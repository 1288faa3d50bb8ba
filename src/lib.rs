//! oci-audit: audits OCI image storage the way `git fsck` audits a repository.
//!
//! ```text
//! open (directory, archive, object store) → detect (each kind in kinds::KINDS recognises
//! its stores) → each store's audit (inventory, documents hashed then parsed, graph, the
//! kind's own checks) → verify (re-hash every other blob; ledger, shards) → assemble (one
//! StorePart per store) → policy (overrides, skip list, one sort) → confirm → baseline
//! → Report
//! ```
//!
//! [`audit()`] runs it all and returns a [`Report`]; [`report::render`] turns that into text
//! or JSON. The library never prints. Problems in the store are [`Finding`]s, known by
//! their identity, never their message; only a store that cannot be audited at all is an
//! [`Error`]. ARCHITECTURE.md draws the layers.

#![deny(missing_docs)]

pub mod assemble;
pub mod atomic;
pub mod audit;
pub mod backend;
pub mod baseline;
pub mod check;
pub mod error;
pub mod finding;
pub mod hash;
pub mod kinds;
pub mod ledger;
pub mod model;
pub mod report;
pub mod rules;
pub mod shard;
pub mod store;
pub mod target;

pub use audit::{
    CheckOptions, NoProgress, OpenOptions, Options, Progress, RunOptions, audit, audit_shard,
    audit_target,
};
/// The image-archive reader (`backend::archive::reader`), where callers have always found it.
pub use backend::archive::reader as archive;
pub use error::Error;
pub use finding::{Finding, Location, Override, Policy, Severity, Via};
pub use report::{Format, Report};
pub use rules::Rule;
pub use store::StoreKind;
pub use target::Target;
