//! Platform coverage: which platforms each root (an `index.json` entry, a registry's
//! `repository:tag`, a Docker archive's RepoTag) covers, as the graph works it out.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::model::platform::Platform;

/// The platforms one entry of a layout's `index.json` covers.
///
/// One is kept per tag until the report is written, and a registry has hundreds of
/// thousands of tags nearly all alike (one or a few platforms, nothing else to say): the
/// platform list is shared by every entry with the same list, and the rarer lists by
/// every entry that has none of them ([`CoverageShare`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// `org.opencontainers.image.ref.name` of the entry, else its digest; for a
    /// Distribution root, `repository:tag`.
    pub root: String,
    /// The `index.json` holding the entry (for a Distribution root, the tag's
    /// `current/link`), relative to the audited root (`path`, and `path_bytes` when it
    /// is not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// The entry's JSON pointer in it.
    pub pointer: String,
    /// The entry's digest.
    pub digest: Digest,
    /// Distinct platforms, in index order (attestations excluded).
    pub platforms: Arc<[Platform]>,
    /// What else the entry lists.
    #[serde(flatten)]
    pub exceptions: Arc<Exceptions>,
}

/// What one coverage root covers, before it is placed in the report: a registry works
/// this out for every tag while its documents are loaded, and names the entries
/// (`repository:tag`, the `current/link` path) once they are dropped.
#[derive(Clone, Debug)]
pub struct Covered {
    /// Distinct platforms, in index order (attestations excluded).
    pub platforms: Arc<[Platform]>,
    /// What else the root lists.
    pub exceptions: Arc<Exceptions>,
}

impl Covered {
    /// The coverage entry of root `digest`, named `root`, at `pointer` in `path`.
    pub fn at(self, root: String, path: Key, pointer: String, digest: Digest) -> Coverage {
        Coverage {
            root,
            path,
            pointer,
            digest,
            platforms: self.platforms,
            exceptions: self.exceptions,
        }
    }
}

/// What a coverage entry lists besides its distinct platforms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exceptions {
    /// Platforms claimed by more than one entry.
    pub duplicates: Vec<Platform>,
    /// Image manifests listed without a platform.
    pub without_platform: Vec<Digest>,
    /// Attestation manifests (`unknown/unknown`, `vnd.docker.reference.type`), not counted.
    pub attestations: Vec<Digest>,
    /// Artifacts (signatures, SBOMs, charts: `artifactType`, or a non-image config), which
    /// are not platform-specific and not counted.
    pub artifacts: Vec<Digest>,
    /// Manifests and nested indexes the index lists but the store does not hold (a sparse
    /// index, as `oras copy --platform` leaves one).
    pub missing: Vec<Digest>,
    /// The platforms of those absent manifests: listed by the index, not present, and not
    /// in `platforms`. "N of M platforms present" is `platforms` against both.
    pub missing_platforms: Vec<Platform>,
    /// Layers its images list that the store's engine discarded once it unpacked them:
    /// containerd's `discard_unpacked_layers` leaves neither record nor file. A fact of a
    /// node's store, not a fault (unless `--require-layers`); empty for other stores.
    #[serde(default)]
    pub discarded_layers: Vec<Digest>,
}

impl Exceptions {
    /// Whether every list is empty.
    pub fn is_empty(&self) -> bool {
        self.duplicates.is_empty()
            && self.without_platform.is_empty()
            && self.attestations.is_empty()
            && self.artifacts.is_empty()
            && self.missing.is_empty()
            && self.missing_platforms.is_empty()
            && self.discarded_layers.is_empty()
    }

    fn shrink_to_fit(&mut self) {
        self.duplicates.shrink_to_fit();
        self.without_platform.shrink_to_fit();
        self.attestations.shrink_to_fit();
        self.artifacts.shrink_to_fit();
        self.missing.shrink_to_fit();
        self.missing_platforms.shrink_to_fit();
        self.discarded_layers.shrink_to_fit();
    }
}

/// What coverage entries built together share: each distinct platform list once, and
/// one empty [`Exceptions`].
#[derive(Debug, Default)]
pub struct CoverageShare {
    platforms: HashSet<Arc<[Platform]>>,
    none: Arc<Exceptions>,
}

impl CoverageShare {
    /// Distinct lists kept for sharing; past this many, a hostile store's every-entry-
    /// different lists are kept once each and not also in the table.
    const MAX_LISTS: usize = 4096;

    /// The shared copy of this platform list.
    pub fn platforms(&mut self, platforms: Vec<Platform>) -> Arc<[Platform]> {
        if let Some(shared) = self.platforms.get(platforms.as_slice()) {
            return shared.clone();
        }
        let list: Arc<[Platform]> = platforms.into();
        if self.platforms.len() < Self::MAX_LISTS {
            self.platforms.insert(list.clone());
        }
        list
    }

    /// These exceptions, without growth slack, or the shared empty value.
    pub fn exceptions(&mut self, mut exceptions: Exceptions) -> Arc<Exceptions> {
        if exceptions.is_empty() {
            return self.none.clone();
        }
        exceptions.shrink_to_fit();
        Arc::new(exceptions)
    }
}
