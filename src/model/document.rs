//! What the audit keeps of a parsed document: the descriptors it holds (with the JSON
//! pointer of each) and the few fields later phases need. Validation produces these from
//! a lenient JSON walk (`check::document`), so a bad field yields a finding and leaves
//! the rest of the document usable.

use std::sync::Arc;

use crate::model::digest::Digest;
use crate::model::platform::Platform;
use crate::model::text::Text;

/// `vnd.docker.reference.type` value that marks a BuildKit attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// A document's or descriptor's `annotations`, sorted by key: kept only where a check
/// compares them (a referrer's own, and the entries of what may be a referrers index).
pub type Annotations = Box<[(String, String)]>;

/// A descriptor as far as it was valid. Absent fields were missing or invalid (and reported).
///
/// 80 bytes: a registry keeps one per config and layer, and a manifest's config inline.
#[derive(Clone, Debug, Default)]
pub struct Descriptor {
    /// JSON pointer of the descriptor inside its document, e.g. `/manifests/0`; the
    /// common ones (`/config`, `/layers/0`…) are shared ([`Text`]).
    pub pointer: Text,
    /// `mediaType`, when it is a string (grammar already checked); common types are
    /// shared ([`Text`]).
    pub media_type: Option<Text>,
    /// `digest`, when valid.
    pub digest: Option<Digest>,
    /// `size`, when a non-negative int64.
    pub size: Size,
    /// `platform`, when valid (shared: [`Platform::shared`]).
    pub platform: Option<Arc<Platform>>,
    /// The rarer fields, boxed: most descriptors are configs and layers, which have none.
    pub extras: Option<Box<DescriptorExtras>>,
}

/// A descriptor's `size`: a non-negative int64, or none. 8 bytes where an `Option<u64>`
/// takes 16: a valid size fits int64, so the top value of a `u64` stands for none.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Size(u64);

impl Size {
    /// No valid size.
    pub const NONE: Size = Size(u64::MAX);

    /// The size, if valid.
    pub fn get(self) -> Option<u64> {
        (self != Size::NONE).then_some(self.0)
    }
}

impl From<Option<u64>> for Size {
    /// `size`, or none when it is absent or does not fit int64.
    fn from(size: Option<u64>) -> Size {
        size.filter(|&n| i64::try_from(n).is_ok())
            .map_or(Size::NONE, Size)
    }
}

impl Default for Size {
    fn default() -> Size {
        Size::NONE
    }
}

impl std::fmt::Debug for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// A descriptor's rarer fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescriptorExtras {
    /// `org.opencontainers.image.ref.name`, when present.
    pub ref_name: Option<String>,
    /// `artifactType`, when valid.
    pub artifact_type: Option<String>,
    /// Whether `urls` lists at least one location (non-distributable content).
    pub has_urls: bool,
    /// Whether `vnd.docker.reference.type` is `attestation-manifest`.
    pub attestation_annotated: bool,
    /// What only the supply-chain view reads, boxed again: every `index.json` entry has
    /// extras (its `ref.name`), few have these.
    pub referrer: Option<Box<ReferrerExtras>>,
}

/// A descriptor's fields for the supply-chain view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferrerExtras {
    /// `vnd.docker.reference.digest`: the manifest a BuildKit attestation attests.
    pub reference_digest: Option<Digest>,
    /// The in-toto predicate type a layer carries (`predicateType`, as cosign annotates an
    /// attestation, or BuildKit's `in-toto.io/predicate-type`).
    pub predicate_type: Option<String>,
    /// `annotations`, kept when the descriptor has an `artifactType`: an entry of a
    /// referrers list, whose annotations are the referrer's own (distribution-spec §
    /// Listing Referrers).
    pub annotations: Option<Annotations>,
}

impl Descriptor {
    /// `size`, when a non-negative int64.
    pub fn size(&self) -> Option<u64> {
        self.size.get()
    }

    /// `org.opencontainers.image.ref.name`, when present.
    pub fn ref_name(&self) -> Option<&str> {
        self.extras.as_ref()?.ref_name.as_deref()
    }

    /// `artifactType`, when valid.
    pub fn artifact_type(&self) -> Option<&str> {
        self.extras.as_ref()?.artifact_type.as_deref()
    }

    /// Whether `urls` lists at least one location (non-distributable content).
    pub fn has_urls(&self) -> bool {
        self.extras.as_ref().is_some_and(|n| n.has_urls)
    }

    /// The manifest a BuildKit attestation entry attests (`vnd.docker.reference.digest`).
    pub fn reference_digest(&self) -> Option<&Digest> {
        self.referrer()?.reference_digest.as_ref()
    }

    fn referrer(&self) -> Option<&ReferrerExtras> {
        self.extras.as_ref()?.referrer.as_deref()
    }

    /// The in-toto predicate type the descriptor is annotated with, when it is.
    pub fn predicate_type(&self) -> Option<&str> {
        self.referrer()?.predicate_type.as_deref()
    }

    /// `annotations`, when kept (see [`DescriptorExtras::annotations`]).
    pub fn annotations(&self) -> Option<&[(String, String)]> {
        self.referrer()?.annotations.as_deref()
    }

    /// A BuildKit attestation entry: annotated as one, or placed at `unknown/unknown`. It
    /// describes no runnable platform, so platform checks and coverage set it apart.
    pub fn is_attestation_entry(&self) -> bool {
        self.extras
            .as_ref()
            .is_some_and(|n| n.attestation_annotated)
            || self.platform.as_deref().is_some_and(Platform::is_unknown)
    }
}

/// An image index (or Docker manifest list).
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// The document's own `mediaType` (common types shared, as in descriptors).
    pub media_type: Option<Text>,
    /// `manifests`, in order.
    pub manifests: Vec<Descriptor>,
    /// `subject` (boxed: rare, and a descriptor is large).
    pub subject: Option<Box<Descriptor>>,
    /// `artifactType`, when valid.
    pub artifact_type: Option<String>,
    /// `annotations`, kept when the index has a `subject` (see [`Annotations`]).
    pub annotations: Option<Annotations>,
}

/// An image manifest (OCI or Docker schema 2), or the withdrawn OCI artifact manifest.
///
/// A registry holds one per image, all at once: the fields most manifests lack are boxed,
/// which keeps a manifest in 112 bytes.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    /// The document's own `mediaType` (common types shared, as in descriptors).
    pub media_type: Option<Text>,
    /// `config` (an artifact manifest has none).
    pub config: Option<Descriptor>,
    /// `layers`, in order (an artifact manifest's `blobs`); `None` when absent or not an
    /// array.
    pub layers: Option<Box<[Descriptor]>>,
    /// `subject` and whether this is the withdrawn artifact manifest, when either is there.
    extras: Option<Box<ManifestExtras>>,
}

#[derive(Clone, Debug, Default)]
struct ManifestExtras {
    withdrawn_artifact: bool,
    subject: Option<Descriptor>,
    referrer: Referrer,
}

/// What a manifest says of itself as an artifact, for the supply-chain view: kept only
/// for manifests that have any of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Referrer {
    /// `artifactType`, when valid.
    pub artifact_type: Option<String>,
    /// `annotations`, kept when the manifest has a `subject`: a referrers list copies
    /// them, and `referrers-index-entry-mismatch` compares the two.
    pub annotations: Option<Annotations>,
    /// The predicate type a Sigstore bundle is annotated with
    /// (`dev.sigstore.bundle.predicateType`).
    pub predicate_type: Option<String>,
}

impl Referrer {
    fn is_empty(&self) -> bool {
        *self == Referrer::default()
    }
}

impl Manifest {
    /// A manifest of these fields; `withdrawn_artifact` says it is the withdrawn OCI
    /// artifact manifest (whose `blobs` are its `layers`).
    pub fn new(
        media_type: Option<Text>,
        config: Option<Descriptor>,
        layers: Option<Vec<Descriptor>>,
        withdrawn_artifact: bool,
        subject: Option<Descriptor>,
    ) -> Manifest {
        let extras = (withdrawn_artifact || subject.is_some()).then(|| {
            Box::new(ManifestExtras {
                withdrawn_artifact,
                subject,
                referrer: Referrer::default(),
            })
        });
        Manifest {
            media_type,
            config,
            layers: layers.map(Vec::into_boxed_slice),
            extras,
        }
    }

    /// Whether this is the withdrawn OCI artifact manifest: an artifact, never an image.
    pub fn withdrawn_artifact(&self) -> bool {
        self.extras.as_ref().is_some_and(|r| r.withdrawn_artifact)
    }

    /// `subject`.
    pub fn subject(&self) -> Option<&Descriptor> {
        self.extras.as_ref()?.subject.as_ref()
    }

    /// The same manifest, with what it says of itself as an artifact.
    pub fn with_referrer(mut self, referrer: Referrer) -> Manifest {
        if !referrer.is_empty() {
            self.extras.get_or_insert_default().referrer = referrer;
        }
        self
    }

    /// What the manifest says of itself as an artifact (empty when nothing).
    pub fn referrer(&self) -> Option<&Referrer> {
        self.extras.as_ref().map(|e| &e.referrer)
    }

    /// `artifactType`, when valid.
    pub fn artifact_type(&self) -> Option<&str> {
        self.extras.as_ref()?.referrer.artifact_type.as_deref()
    }

    /// The blobs the manifest is made of: `config`, then `layers`.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter().flatten())
    }

    /// Every descriptor the manifest names (config, layers, subject), for graph walks.
    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.blobs().chain(self.subject())
    }
}

/// An image configuration, as far as coverage and cross-checks need it.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// os/architecture/variant/os.version when os and architecture are valid strings
    /// (shared, [`Platform::shared`]: a registry's configs name a handful of platforms).
    pub platform: Option<Arc<Platform>>,
    /// Number of `rootfs.diff_ids`, when it is an array (32 bits, which keeps a document
    /// in 16 bytes; an array longer than that saturates, and would not fit the document
    /// size limit anyway).
    pub diff_ids: Option<u32>,
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

impl Document {
    /// The `subject` an index or a manifest names, if it names one.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Document::Index(index) => index.subject.as_deref(),
            Document::Manifest(manifest) => manifest.subject(),
            Document::Config(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_keeps_its_rare_fields_apart_in_112_bytes() {
        // jemalloc's size classes: 112 bytes, and 80 for a descriptor (one layer).
        assert_eq!(std::mem::size_of::<Manifest>(), 112);
        assert_eq!(std::mem::size_of::<Descriptor>(), 80);
        assert_eq!(std::mem::size_of::<Document>(), 16);
        let subject = Descriptor::default();
        let plain = Manifest::new(None, None, Some(Vec::new()), false, None);
        assert!(!plain.withdrawn_artifact() && plain.subject().is_none() && plain.extras.is_none());
        let artifact = Manifest::new(None, None, None, true, None);
        assert!(artifact.withdrawn_artifact() && artifact.subject().is_none());
        let referrer = Manifest::new(None, None, None, false, Some(subject));
        assert!(!referrer.withdrawn_artifact() && referrer.subject().is_some());
        assert_eq!(referrer.descriptors().count(), 1);
    }
}
