//! Store kinds: each kind of store in one module, which owns everything that knows its
//! grammar.

pub mod detect;
pub mod distribution;
pub mod docker_archive;
pub mod layout;
pub mod zot;
