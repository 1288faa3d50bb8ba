//! Pure data: digests, media types, platforms, parsed documents, and what the checks work
//! out from them (platform coverage, reclaimable space, the supply-chain view). No I/O here.

pub mod address;
pub mod coverage;
pub mod digest;
pub mod document;
pub mod key;
pub mod media_type;
pub mod platform;
pub mod reclaim;
pub mod reference;
pub mod supply_chain;
pub mod text;
pub mod time;
