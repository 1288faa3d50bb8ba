//! The supply-chain view: what refers to each tagged image (signatures, SBOMs,
//! provenance, other artifacts) and the referrers whose subject is gone, store-wide.
//!
//! A registry holds referrers written three ways at once, and this module knows their
//! grammar without knowing any store:
//! - a manifest with a `subject` (image-spec manifest.md § subject: "a weak association
//!   to a separate Merkle Directed Acyclic Graph (DAG) structure, … used by the
//!   `referrers` API"), listed on registries without that API in the fallback tag
//!   `<alg>-<ref>` (distribution-spec § Referrers Tag Schema), an image index;
//! - cosign's tags `sha256-<hex>.sig`, `.att` and `.sbom`;
//! - BuildKit's attestation manifests, entries of the image's own index.
//!
//! [`classify`] says what a referrer is from its types and annotations alone; the graph
//! phase (`check::graph::referrers`) finds the referrers of each tag.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::digest::Digest;
use crate::model::document::Descriptor;
use crate::model::key::Key;

/// notation's signature (notaryproject specs, signature-specification.md).
pub const NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// A Sigstore bundle's media types begin so (`…bundle.v0.3+json`).
const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle";
/// cosign's signature payload layer.
const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// cosign's artifact types when it writes OCI 1.1 referrers.
const COSIGN_ARTIFACT_SIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const COSIGN_ARTIFACT_SBOM: &str = "application/vnd.dev.cosign.artifact.sbom.v1+json";
/// An in-toto statement in a DSSE envelope (cosign's attestations), or bare (BuildKit's).
const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// What a referrer is to the image it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// A signature (cosign, a Sigstore bundle, notation).
    Signature,
    /// A software bill of materials (SPDX, CycloneDX, Syft), as an artifact or as an
    /// in-toto predicate.
    Sbom,
    /// Provenance (a SLSA predicate).
    Provenance,
    /// Anything else that refers to the image (other predicates, unknown artifact types).
    Other,
}

/// One referrer of a tagged image, as one category sees it (a BuildKit attestation
/// manifest with an SBOM and a provenance layer is an SBOM and a provenance).
///
/// 88 bytes with nothing on the heap of its own: a registry has one for each signature
/// and SBOM of its images, and artifact types are few (shared, [`Arc`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// The referrer's manifest (or index).
    pub digest: Digest,
    /// Its `artifactType`, else its config's `mediaType` (as a referrers list says it).
    #[serde(default)]
    pub artifact_type: Option<Arc<str>>,
    /// What wrote it or what it holds: `cosign`, `cosign-bundle`, `notation`, `spdx`,
    /// `cyclonedx`, `syft`, `slsa`, `in-toto`, `other`.
    pub format: Cow<'static, str>,
    /// The manifest it refers to, when not the tag's own digest (a platform's manifest
    /// inside the tag's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<Digest>>,
}

/// What a list of referrers is, for people: each distinct format, or for what is of no
/// known format its artifact type, comma-separated ("cosign, notation").
pub fn labels(entries: &[Entry]) -> String {
    let mut labels: Vec<&str> = entries
        .iter()
        .map(|e| match (&*e.format, &e.artifact_type) {
            ("other", Some(ty)) => &**ty,
            (format, _) => format,
        })
        .collect();
    labels.sort_unstable();
    labels.dedup();
    labels.join(", ")
}

/// What refers to one tagged image, by category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referred {
    /// Signatures.
    pub signatures: Vec<Entry>,
    /// SBOMs.
    pub sboms: Vec<Entry>,
    /// Provenance.
    pub provenance: Vec<Entry>,
    /// Other referrers.
    pub other: Vec<Entry>,
}

/// One tag of an image (not a referrer tag) and what refers to it.
///
/// A registry has a row per tag and most refer to nothing: the lists are boxed apart
/// (absent when empty) and the repository's name shared by its rows, which keeps a row
/// in 80 bytes and its tag. It serialises as the contract's flat row
/// {`repository`, `tag`, `digest`, `signatures`, `sboms`, `provenance`, `other`}.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FlatRow", from = "FlatRow")]
pub struct TagRow {
    /// The repository (a layout's path, for a layout).
    pub repository: Arc<str>,
    /// The tag (a layout's `ref.name`).
    pub tag: Box<str>,
    /// The image's digest.
    pub digest: Digest,
    referred: Option<Box<Referred>>,
}

/// [`TagRow`] as the JSON contract spells it.
#[derive(Serialize, Deserialize)]
struct FlatRow {
    repository: Arc<str>,
    tag: Box<str>,
    digest: Digest,
    #[serde(flatten)]
    referred: Referred,
}

impl From<TagRow> for FlatRow {
    fn from(row: TagRow) -> FlatRow {
        FlatRow {
            repository: row.repository,
            tag: row.tag,
            digest: row.digest,
            referred: row.referred.map(|r| *r).unwrap_or_default(),
        }
    }
}

impl From<FlatRow> for TagRow {
    fn from(row: FlatRow) -> TagRow {
        let empty = row.referred == Referred::default();
        TagRow {
            repository: row.repository,
            tag: row.tag,
            digest: row.digest,
            referred: (!empty).then(|| Box::new(row.referred)),
        }
    }
}

const NOTHING: &[Entry] = &[];

impl Referred {
    /// Adds `entry` to the list of `category`, once.
    pub fn add(&mut self, category: Category, entry: Entry) {
        let list = match category {
            Category::Signature => &mut self.signatures,
            Category::Sbom => &mut self.sboms,
            Category::Provenance => &mut self.provenance,
            Category::Other => &mut self.other,
        };
        if !list.contains(&entry) {
            // Most lists hold one entry: a doubling growth would keep room for four.
            list.reserve_exact(1);
            list.push(entry);
        }
    }

    /// The list of `category`.
    pub fn of(&self, category: Category) -> &[Entry] {
        match category {
            Category::Signature => &self.signatures,
            Category::Sbom => &self.sboms,
            Category::Provenance => &self.provenance,
            Category::Other => &self.other,
        }
    }
}

impl TagRow {
    /// The row of `repository:tag` at `digest`, and what refers to it (`None`: nothing).
    pub fn new(
        repository: Arc<str>,
        tag: Box<str>,
        digest: Digest,
        referred: Option<Box<Referred>>,
    ) -> TagRow {
        TagRow {
            repository,
            tag,
            digest,
            referred,
        }
    }

    /// Signatures.
    pub fn signatures(&self) -> &[Entry] {
        self.referred.as_ref().map_or(NOTHING, |r| &r.signatures)
    }

    /// SBOMs.
    pub fn sboms(&self) -> &[Entry] {
        self.referred.as_ref().map_or(NOTHING, |r| &r.sboms)
    }

    /// Provenance.
    pub fn provenance(&self) -> &[Entry] {
        self.referred.as_ref().map_or(NOTHING, |r| &r.provenance)
    }

    /// Other referrers.
    pub fn other(&self) -> &[Entry] {
        self.referred.as_ref().map_or(NOTHING, |r| &r.other)
    }

    /// Every list in a fixed order, for stable output.
    pub fn sort(&mut self) {
        if let Some(referred) = &mut self.referred {
            for list in [
                &mut referred.signatures,
                &mut referred.sboms,
                &mut referred.provenance,
                &mut referred.other,
            ] {
                list.sort();
                list.shrink_to_fit();
            }
        }
    }
}

/// A referrer whose subject is not in its repository: a cosign tag or fallback tag
/// naming a digest the repository lacks, or a manifest whose `subject` is gone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Orphan {
    /// The repository (a layout's path, for a layout).
    pub repository: String,
    /// The tag holding it, when a tag does (`sha256-<hex>.sig`, `sha256-<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The referrer (the tagged document, for a tag).
    pub digest: Digest,
    /// The subject it names.
    pub subject: Digest,
    /// Its artifact type, as in [`Entry`].
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Its format, as in [`Entry`] (the first, when it holds several).
    pub format: String,
    /// What it holds that nothing else in the repository uses: what deleting it would
    /// reclaim.
    pub bytes: u64,
    /// Where it is: the tag's link or `index.json`, or the referrer's blob.
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
}

/// The store-wide counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Tags of images (referrer tags are not counted).
    pub tags: u64,
    /// Tags with at least one signature.
    pub signed: u64,
    /// Signed tags per signature format (a tag signed two ways counts in both).
    pub signed_by_format: BTreeMap<String, u64>,
    /// Tags with at least one SBOM.
    pub with_sbom: u64,
    /// Tags with provenance.
    pub with_provenance: u64,
    /// Tags with other referrers (other predicates, unknown artifact types).
    pub with_other: u64,
    /// Distinct referrers of tagged images.
    pub referrers: u64,
    /// Orphaned referrers.
    pub orphans: u64,
    /// What deleting them would reclaim.
    pub orphan_bytes: u64,
}

/// The supply-chain view of a store, or of every store audited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyChain {
    /// The counts.
    pub summary: Summary,
    /// One row per tag of an image.
    pub tags: Vec<TagRow>,
    /// Referrers whose subject is gone.
    pub orphans: Vec<Orphan>,
}

impl SupplyChain {
    /// Adds another store's view (the summary is worked out by [`SupplyChain::finish`]).
    pub fn append(&mut self, other: SupplyChain) {
        self.tags.extend(other.tags);
        self.orphans.extend(other.orphans);
    }

    /// Sorts the rows and works out the summary from them: output is identical whatever
    /// the order stores and threads produced them in.
    pub fn finish(&mut self) {
        for row in &mut self.tags {
            row.sort();
        }
        self.tags.sort_by(|a, b| {
            (&a.repository, &a.tag, &a.digest).cmp(&(&b.repository, &b.tag, &b.digest))
        });
        self.tags.shrink_to_fit();
        self.orphans.sort();
        let mut summary = Summary::default();
        let mut referrers = std::collections::HashSet::new();
        for row in &self.tags {
            summary.tags += 1;
            summary.signed += u64::from(!row.signatures().is_empty());
            summary.with_sbom += u64::from(!row.sboms().is_empty());
            summary.with_provenance += u64::from(!row.provenance().is_empty());
            summary.with_other += u64::from(!row.other().is_empty());
            let mut formats: Vec<&str> = row.signatures().iter().map(|e| &*e.format).collect();
            formats.sort_unstable();
            formats.dedup();
            for format in formats {
                *summary
                    .signed_by_format
                    .entry(format.to_owned())
                    .or_default() += 1;
            }
            for entry in [row.signatures(), row.sboms(), row.provenance(), row.other()]
                .into_iter()
                .flatten()
            {
                referrers.insert(&entry.digest);
            }
        }
        summary.referrers = referrers.len() as u64;
        summary.orphans = self.orphans.len() as u64;
        summary.orphan_bytes = self.orphans.iter().map(|o| o.bytes).sum();
        self.summary = summary;
    }

    /// Whether anything refers to anything: no tag has a referrer and there is no orphan.
    pub fn has_referrers(&self) -> bool {
        self.summary.referrers > 0 || self.summary.orphans > 0
    }
}

/// What a tag's name says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagForm {
    /// An image's tag.
    Image,
    /// The referrers fallback tag of a digest: `<alg>-<encoded>` (distribution-spec §
    /// Referrers Tag Schema), which holds an image index of its referrers.
    Fallback(Digest),
    /// A cosign tag: `sha256-<hex>.sig`, `.att` or `.sbom`.
    Cosign(Digest, Category),
}

/// What the tag `name` is, by its form alone.
pub fn tag_form(name: &str) -> TagForm {
    let Some((algorithm, rest)) = name.split_once('-') else {
        return TagForm::Image;
    };
    if !matches!(algorithm, "sha256" | "sha512") {
        return TagForm::Image;
    }
    let (encoded, suffix) = match rest.split_once('.') {
        Some((encoded, suffix)) => (encoded, Some(suffix)),
        None => (rest, None),
    };
    let Ok(digest) = Digest::parse(&format!("{algorithm}:{encoded}")) else {
        return TagForm::Image;
    };
    match suffix {
        None => TagForm::Fallback(digest),
        Some("sig") => TagForm::Cosign(digest, Category::Signature),
        Some("sbom") => TagForm::Cosign(digest, Category::Sbom),
        Some("att") => TagForm::Cosign(digest, Category::Other),
        Some(_) => TagForm::Image,
    }
}

/// What a referrer document says of itself, as [`classify`] reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traits<'a> {
    /// `artifactType`.
    pub artifact_type: Option<&'a str>,
    /// The config's `mediaType`.
    pub config_type: Option<&'a str>,
    /// Its layers (an artifact manifest's blobs).
    pub layers: &'a [Descriptor],
    /// A Sigstore bundle's predicate type, from the manifest's annotations.
    pub bundle_predicate: Option<&'a str>,
    /// The cosign tag it was found through, when it was.
    pub cosign_tag: Option<Category>,
}

impl Traits<'_> {
    /// The artifact type a referrers list gives it: `artifactType`, else the config's
    /// `mediaType` (distribution-spec § Listing Referrers).
    pub fn listed_type(&self) -> Option<&str> {
        self.artifact_type.or(self.config_type)
    }
}

/// What a referrer is: one or more (category, format) pairs, never none ("other").
pub fn classify(traits: &Traits) -> Vec<(Category, &'static str)> {
    let mut found = Vec::new();
    // notation writes its type as the config's (an empty artifactType), as image-spec
    // 1.1's artifact guidance allows.
    let artifact_type = traits.listed_type().unwrap_or_default();
    if artifact_type == NOTARY_SIGNATURE {
        found.push((Category::Signature, "notation"));
    } else if artifact_type.starts_with(SIGSTORE_BUNDLE) {
        found.push(bundle(traits.bundle_predicate));
    } else if artifact_type == COSIGN_ARTIFACT_SIG {
        found.push((Category::Signature, "cosign"));
    } else if let Some(sbom) = sbom_type(artifact_type) {
        found.push(sbom);
    }
    if found.is_empty() {
        for layer in traits.layers {
            let layer_type = layer.media_type.as_deref().unwrap_or_default();
            let what = if layer_type == COSIGN_SIMPLE_SIGNING {
                Some((Category::Signature, "cosign"))
            } else if layer_type == DSSE_ENVELOPE || layer_type == IN_TOTO {
                Some(predicate(layer.predicate_type()))
            } else if layer_type.starts_with(SIGSTORE_BUNDLE) {
                Some(bundle(traits.bundle_predicate))
            } else {
                sbom_type(layer_type)
            };
            if let Some(what) = what.filter(|w| !found.contains(w)) {
                found.push(what);
            }
        }
    }
    if found.is_empty() {
        found.push(match traits.cosign_tag {
            Some(Category::Signature) => (Category::Signature, "cosign"),
            Some(Category::Sbom) => (Category::Sbom, "other"),
            Some(_) => (Category::Other, "in-toto"),
            None if artifact_type == COSIGN_ARTIFACT_SBOM => (Category::Sbom, "other"),
            None => (Category::Other, "other"),
        });
    }
    found
}

/// A Sigstore bundle: a signature, unless it carries an attestation of a known predicate.
fn bundle(predicate_type: Option<&str>) -> (Category, &'static str) {
    match predicate_type.map(|p| predicate(Some(p))) {
        Some((category, format)) if category != Category::Other => (category, format),
        _ => (Category::Signature, "cosign-bundle"),
    }
}

/// An in-toto predicate type: SPDX or CycloneDX (an SBOM), SLSA (provenance), or other.
fn predicate(predicate_type: Option<&str>) -> (Category, &'static str) {
    let predicate_type = predicate_type.unwrap_or_default();
    if predicate_type.starts_with("https://spdx.dev/") {
        (Category::Sbom, "spdx")
    } else if predicate_type.starts_with("https://cyclonedx.org/") {
        (Category::Sbom, "cyclonedx")
    } else if predicate_type.starts_with("https://slsa.dev/provenance/") {
        (Category::Provenance, "slsa")
    } else {
        (Category::Other, "in-toto")
    }
}

/// A media type that is an SBOM document's own.
fn sbom_type(media_type: &str) -> Option<(Category, &'static str)> {
    // Parameters (`;version=…`) and structured-syntax suffixes do not change the format.
    let base = media_type.split(';').next().unwrap_or_default().trim();
    if base.contains("spdx") {
        Some((Category::Sbom, "spdx"))
    } else if base.contains("cyclonedx") {
        Some((Category::Sbom, "cyclonedx"))
    } else if base.starts_with("application/vnd.syft") {
        Some((Category::Sbom, "syft"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::document::{DescriptorExtras, ReferrerExtras};

    fn layer(media_type: &str, predicate_type: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: Some(media_type.into()),
            extras: predicate_type.map(|p| {
                Box::new(DescriptorExtras {
                    referrer: Some(Box::new(ReferrerExtras {
                        predicate_type: Some(p.to_owned()),
                        ..ReferrerExtras::default()
                    })),
                    ..DescriptorExtras::default()
                })
            }),
            ..Descriptor::default()
        }
    }

    #[test]
    fn rows_and_entries_are_small_and_serialise_flat() {
        // A row per tag of a registry, an entry per referrer.
        assert_eq!(std::mem::size_of::<TagRow>(), 80);
        assert_eq!(std::mem::size_of::<Entry>(), 88);
        let digest = Digest::sha256([7; 32]);
        let row = TagRow::new("app".into(), "v1".into(), digest.clone(), None);
        let bare = serde_json::to_value(&row).unwrap();
        assert_eq!(bare["signatures"], serde_json::json!([]));
        assert_eq!(serde_json::from_value::<TagRow>(bare).unwrap(), row);
        let mut referred = Referred::default();
        referred.add(
            Category::Sbom,
            Entry {
                digest: digest.clone(),
                artifact_type: Some("application/spdx+json".into()),
                format: "spdx".into(),
                subject: None,
            },
        );
        let row = TagRow::new("app".into(), "v1".into(), digest, Some(Box::new(referred)));
        let full = serde_json::to_value(&row).unwrap();
        assert_eq!(full["sboms"][0]["format"], "spdx");
        assert!(full["sboms"][0].get("subject").is_none());
        assert_eq!(serde_json::from_value::<TagRow>(full).unwrap(), row);
    }

    #[test]
    fn tag_names_say_fallback_cosign_or_image() {
        let hex = "a".repeat(64);
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(
            tag_form(&format!("sha256-{hex}")),
            TagForm::Fallback(digest.clone())
        );
        assert_eq!(
            tag_form(&format!("sha256-{hex}.sig")),
            TagForm::Cosign(digest.clone(), Category::Signature)
        );
        assert_eq!(
            tag_form(&format!("sha256-{hex}.sbom")),
            TagForm::Cosign(digest.clone(), Category::Sbom)
        );
        assert_eq!(
            tag_form(&format!("sha256-{hex}.att")),
            TagForm::Cosign(digest, Category::Other)
        );
        for image in [
            "latest",
            "sha256-abc",
            &format!("sha256-{hex}.tar"),
            &format!("md5-{hex}"),
            &format!("sha256-{}", "A".repeat(64)),
        ] {
            assert_eq!(tag_form(image), TagForm::Image, "{image}");
        }
    }

    #[test]
    fn referrers_are_classified_by_type_then_layers_then_tag() {
        let of = |traits: Traits| classify(&traits);
        assert_eq!(
            of(Traits {
                artifact_type: Some(NOTARY_SIGNATURE),
                ..Traits::default()
            }),
            [(Category::Signature, "notation")]
        );
        assert_eq!(
            of(Traits {
                artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
                ..Traits::default()
            }),
            [(Category::Signature, "cosign-bundle")]
        );
        assert_eq!(
            of(Traits {
                artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
                bundle_predicate: Some("https://slsa.dev/provenance/v1"),
                ..Traits::default()
            }),
            [(Category::Provenance, "slsa")]
        );
        assert_eq!(
            of(Traits {
                artifact_type: Some("application/spdx+json"),
                ..Traits::default()
            }),
            [(Category::Sbom, "spdx")]
        );
        let cosign = [layer(COSIGN_SIMPLE_SIGNING, None)];
        assert_eq!(
            of(Traits {
                layers: &cosign,
                ..Traits::default()
            }),
            [(Category::Signature, "cosign")]
        );
        // BuildKit's attestation manifest: an SBOM and provenance in one.
        let buildkit = [
            layer(IN_TOTO, Some("https://spdx.dev/Document")),
            layer(IN_TOTO, Some("https://slsa.dev/provenance/v0.2")),
        ];
        assert_eq!(
            of(Traits {
                layers: &buildkit,
                ..Traits::default()
            }),
            [(Category::Sbom, "spdx"), (Category::Provenance, "slsa")]
        );
        let vuln = [layer(
            DSSE_ENVELOPE,
            Some("https://cosign.sigstore.dev/attestation/vuln/v1"),
        )];
        assert_eq!(
            of(Traits {
                layers: &vuln,
                ..Traits::default()
            }),
            [(Category::Other, "in-toto")]
        );
        let cyclonedx = [layer("application/vnd.cyclonedx+json", None)];
        assert_eq!(
            of(Traits {
                layers: &cyclonedx,
                cosign_tag: Some(Category::Sbom),
                ..Traits::default()
            }),
            [(Category::Sbom, "cyclonedx")]
        );
        // Unknown types are "other", never dropped; a .sig tag is a signature.
        assert_eq!(
            of(Traits {
                artifact_type: Some("application/vnd.example.thing"),
                ..Traits::default()
            }),
            [(Category::Other, "other")]
        );
        assert_eq!(
            of(Traits {
                cosign_tag: Some(Category::Signature),
                ..Traits::default()
            }),
            [(Category::Signature, "cosign")]
        );
    }
}
