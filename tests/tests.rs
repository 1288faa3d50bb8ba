//! The one integration-test binary (ripgrep's layout). Each module tests one surface:
//!
//! - `corpus`: every committed store under `corpus/` audits to exactly the rule ids its
//!   `case.toml` expects, and its text rendering matches the committed `audit.txt`.
//! - `containerd`: a real containerd's root audited while containerd imports and deletes,
//!   without a write (inotify, every file's facts), and its own garbage collection deleting
//!   exactly what the audit called reclaimable.
//! - `containers_storage`: a containers-storage root written by skopeo, audited while
//!   skopeo writes to it, and without a write (inotify, every file's facts).
//! - `conformance`: the image-spec's own schema vectors classify as `cases.tsv` says.
//! - `archive`: image archives (skopeo's, committed; every corpus layout tarred, plain,
//!   gzip and zstd): the directory's findings, tar-level faults as findings, each Docker
//!   archive check, a Docker 25+ archive's two views, stdin, refusals.
//! - `builder`: defects that cannot be committed to git (FIFOs, permissions, cycles that
//!   need a digest mismatch, size limits) built in temporary directories.
//! - `cli`: exit codes, JSON shape, determinism across thread counts, nothing written.
//! - `detect`: which stores a path holds: positive evidence, any depth, several kinds,
//!   a symlinked PATH, one file system.
//! - `hostile`: a store changing under the audit, permission denied, devices and sockets,
//!   a huge document, a closed stdout.
//! - `identity`: findings known by identity, never by message: every message reworded
//!   leaves exit codes, counters, merges, baselines and the ledger's comparison unchanged.
//! - `live`: a real docker-registry written to while oci-audit audits it: only the
//!   planted fault is an error in every audit.
//! - `nightly`: the verification ledger, rolling re-verification, crash safety, one
//!   writer, new versus known, history, metrics (promtool, node_exporter).
//! - `object`: object storage against a real S3 server (a one-node Ceph RADOS gateway):
//!   the corpus from a bucket as from disk, a registry on the S3 driver against its
//!   file-system twin and its garbage collector, only GET and HEAD sent, faults injected
//!   by a proxy.
//! - `referrers`: signatures, SBOMs and attestations pushed into Debian's docker-registry
//!   (images and cosign tags by skopeo, referrers with fallback tags by a client following
//!   the distribution-spec's steps): the same supply-chain view on disk and over HTTP, the
//!   spec's lost update, orphans after a delete, and garbage collection against the
//!   registry's own.
//! - `shard`: `--shard I/N` in parallel processes and `merge`: the merged report is the
//!   unsharded one for every corpus case and shard count; every refusal; a store changed
//!   between shards.
//! - `zot`: zot roots where git cannot hold the shape: hard links, upload ages, sync
//!   layouts, recognition.

mod archive;
mod azure;
mod builder;
mod cli;
mod conformance;
mod containerd;
mod containers_storage;
mod corpus;
mod dashboard;
mod detect;
mod hostile;
mod html;
mod identity;
mod live;
mod nightly;
mod object;
mod referrers;
mod registry_api;
mod shard;
mod support;
mod zot;
