//! oci-audit: audits OCI image storage the way `git fsck` audits a repository.
//!
//! ```text
//! store (detect, inventory) → documents (hash, then parse) → graph (edges, reachability,
//! cycles, coverage) → verify (re-hash blobs) → policy (overrides, skip list, sort) → Report
//! ```
//!
//! [`audit`] runs it all and returns a [`Report`]; [`report::render`] turns that into text
//! or JSON. The library never prints. Problems in the store are [`Finding`]s; only a store
//! that cannot be audited at all is an [`Error`].

#![deny(missing_docs)]

pub mod archive;
pub mod assemble;
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

pub use audit::{NoProgress, Options, Progress, audit, audit_shard, audit_target};
pub use error::Error;
pub use finding::{Finding, Location, Override, Policy, Severity, Via};
pub use report::{Format, Report};
pub use rules::Rule;
pub use store::StoreKind;
pub use target::Target;
