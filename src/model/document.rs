//! What the audit keeps of a parsed document: the descriptors it holds (with the JSON
//! pointer of each) and the few fields later phases need. Validation produces these from
//! a lenient JSON walk (`check::document`), so a bad field yields a finding and leaves
//! the rest of the document usable.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use crate::model::digest::Digest;
use crate::model::platform::Platform;

/// `vnd.docker.reference.type` value that marks a BuildKit attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Pointers nearly every descriptor has: `/config`, `/subject`, and the first entries of
/// `/layers`, `/manifests` and `/blobs`.
static COMMON_POINTERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut common = vec!["/config".to_owned(), "/subject".to_owned()];
    for array in ["/layers", "/manifests", "/blobs"] {
        common.extend((0..COMMON_ENTRIES).map(|i| format!("{array}/{i}")));
    }
    common
});

/// How many entries of each array have a shared pointer.
const COMMON_ENTRIES: usize = 32;

/// `pointer` as a shared static string when it is a common one, else a copy: a registry
/// holds hundreds of thousands of descriptors, nearly all at the same few pointers.
pub fn shared_pointer(pointer: &str) -> Cow<'static, str> {
    let common: &'static [String] = &COMMON_POINTERS;
    let position = match pointer.rsplit_once('/') {
        Some(("", "config")) => Some(0),
        Some(("", "subject")) => Some(1),
        Some((array, i)) => {
            let first = match array {
                "/layers" => Some(2),
                "/manifests" => Some(2 + COMMON_ENTRIES),
                "/blobs" => Some(2 + 2 * COMMON_ENTRIES),
                _ => None,
            };
            // Only the canonical decimal (digits only, no leading zero) is shared.
            let canonical = !i.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && (i == "0" || !i.starts_with('0'));
            let index = canonical
                .then(|| i.parse::<usize>().ok())
                .flatten()
                .filter(|&n| n < COMMON_ENTRIES);
            first.zip(index).map(|(first, index)| first + index)
        }
        None => None,
    };
    match position {
        Some(position) => Cow::Borrowed(common[position].as_str()),
        None => Cow::Owned(pointer.to_owned()),
    }
}

/// A descriptor as far as it was valid. Absent fields were missing or invalid (and reported).
#[derive(Clone, Debug, Default)]
pub struct Descriptor {
    /// JSON pointer of the descriptor inside its document, e.g. `/manifests/0`; the
    /// common ones are shared static strings ([`shared_pointer`]).
    pub pointer: Cow<'static, str>,
    /// `mediaType`, when it is a string (grammar already checked); common types are
    /// shared static strings (`media_type::shared`).
    pub media_type: Option<Cow<'static, str>>,
    /// `digest`, when valid.
    pub digest: Option<Digest>,
    /// `size`, when a non-negative int64.
    pub size: Option<u64>,
    /// Whether `urls` lists at least one location (non-distributable content).
    pub has_urls: bool,
    /// `platform`, when valid (shared: [`Platform::shared`]).
    pub platform: Option<Arc<Platform>>,
    /// Whether `vnd.docker.reference.type` is `attestation-manifest`.
    pub attestation_annotated: bool,
    /// The rarer fields, boxed: most descriptors are configs and layers, which have none,
    /// and a registry keeps hundreds of thousands of them.
    pub names: Option<Box<Names>>,
}

/// A descriptor's rarer fields.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// `org.opencontainers.image.ref.name`, when present.
    pub ref_name: Option<String>,
    /// `artifactType`, when valid.
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// `org.opencontainers.image.ref.name`, when present.
    pub fn ref_name(&self) -> Option<&str> {
        self.names.as_ref()?.ref_name.as_deref()
    }

    /// `artifactType`, when valid.
    pub fn artifact_type(&self) -> Option<&str> {
        self.names.as_ref()?.artifact_type.as_deref()
    }

    /// A BuildKit attestation entry: annotated as one, or placed at `unknown/unknown`. It
    /// describes no runnable platform, so platform checks and coverage set it apart.
    pub fn is_attestation_entry(&self) -> bool {
        self.attestation_annotated || self.platform.as_deref().is_some_and(Platform::is_unknown)
    }
}

/// An image index (or Docker manifest list).
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// The document's own `mediaType` (common types shared, as in descriptors).
    pub media_type: Option<Cow<'static, str>>,
    /// `manifests`, in order.
    pub manifests: Vec<Descriptor>,
    /// `subject` (boxed: rare, and a descriptor is large).
    pub subject: Option<Box<Descriptor>>,
}

/// An image manifest (OCI or Docker schema 2), or the withdrawn OCI artifact manifest.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    /// The document's own `mediaType` (common types shared, as in descriptors).
    pub media_type: Option<Cow<'static, str>>,
    /// `config` (an artifact manifest has none).
    pub config: Option<Descriptor>,
    /// `layers`, in order (an artifact manifest's `blobs`); `None` when absent or not an
    /// array.
    pub layers: Option<Vec<Descriptor>>,
    /// Whether this is the withdrawn OCI artifact manifest: an artifact, never an image.
    pub withdrawn_artifact: bool,
    /// `subject` (boxed: rare, and a descriptor is large).
    pub subject: Option<Box<Descriptor>>,
}

impl Manifest {
    /// The blobs the manifest is made of: `config`, then `layers`.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter().flatten())
    }

    /// Every descriptor the manifest names (config, layers, subject), for graph walks.
    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.blobs().chain(self.subject.as_deref())
    }
}

/// An image configuration, as far as coverage and cross-checks need it.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// os/architecture/variant/os.version when os and architecture are valid strings
    /// (shared, [`Platform::shared`]: a registry's configs name a handful of platforms).
    pub platform: Option<Arc<Platform>>,
    /// Number of `rootfs.diff_ids`, when it is an array.
    pub diff_ids: Option<usize>,
}

/// A document, by the kind it was read as.
#[derive(Clone, Debug)]
pub enum Document {
    /// An index (boxed: descriptors make it large).
    Index(Box<Index>),
    /// A manifest (boxed: descriptors make it large).
    Manifest(Box<Manifest>),
    /// A config.
    Config(Config),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_pointers_are_shared_and_every_pointer_keeps_its_text() {
        let cases = [
            ("/config", true),
            ("/subject", true),
            ("/layers/0", true),
            ("/manifests/31", true),
            ("/blobs/7", true),
            ("", false),
            ("/layers/32", false),
            ("/layers/01", false),
            ("/layers/+1", false),
            ("/config/x", false),
            ("/x/0", false),
        ];
        for (pointer, shared) in cases {
            let got = shared_pointer(pointer);
            assert_eq!(matches!(got, Cow::Borrowed(_)), shared, "{pointer}");
            assert_eq!(got, pointer);
        }
    }
}
