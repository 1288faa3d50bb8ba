//! A Docker Distribution (registry v2/v3) storage root, as distribution's
//! `registry/storage/paths.go` lays it out:
//!
//! ```text
//! <rootdirectory>/docker/registry/v2/
//!   blobs/<alg>/<first 2 hex>/<encoded>/data                 the content, by digest
//!   repositories/<name: one or more components>/
//!     _manifests/revisions/<alg>/<encoded>/link               a manifest in this repository
//!     _manifests/tags/<tag>/current/link                      what the tag points at now
//!     _manifests/tags/<tag>/index/<alg>/<encoded>/link        what it has pointed at
//!     _layers/<alg>/<encoded>/link                            a blob linked into this repository
//!     _uploads/<id>/{startedat,data,hashstates/..}            an upload in progress
//! ```
//!
//! This layer lists directories and reads the small `link` and `startedat` files; what
//! they must hold is judged by `checks`. Nothing is followed through a symlink. By what
//! it reads:
//!
//! - `root`: the `v2` directory, the keys under it, and how a directory there is listed;
//! - `blobs`: the inventory of `blobs/`, shard by shard;
//! - `links`: a `link` file, kept compactly, and the `<alg>/<encoded>/link` files of a
//!   directory (`_layers`, `_manifests/revisions`, a tag's `index`);
//! - `tags`: `_manifests/tags`;
//! - `uploads`: `_uploads`;
//! - `repositories`: finding the repositories under `repositories/`, and reading each.

mod blobs;
mod links;
mod repositories;
mod root;
mod tags;
mod uploads;

pub use blobs::inventory;
pub use links::{Content, DigestLinks, Link, LinkContent};
pub use repositories::{
    ListedRepository, Repository, read_repositories, read_repository, repositories,
};
pub use root::RegistryRoot;
pub use tags::Tag;
pub use uploads::Upload;
