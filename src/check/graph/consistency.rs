//! Cross-checks between documents an edge joins: an index entry's platform against the
//! image config it reaches (and, as image-index.md says it SHOULD be, present when the
//! entry names an image manifest rather than an artifact or an attestation), and a
//! manifest's filesystem layers against its config's `rootfs.diff_ids`, one for one.

use super::Graph;
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, Manifest};
use crate::model::media_type::{self, MediaKind};
use crate::rules::Rule;

impl Graph<'_> {
    /// Index platforms against image configs; diff_ids against layers.
    pub fn check_consistency(&self, findings: &mut Vec<Finding>) {
        for (digest, loaded) in self.docs.iter() {
            match &loaded.document {
                Some(Document::Index(index)) => {
                    for entry in &index.manifests {
                        self.check_platform_present(digest, entry, findings);
                        self.check_platform_agrees(digest, entry, findings);
                    }
                }
                Some(Document::Manifest(manifest)) => {
                    self.check_diff_ids(digest, manifest, findings);
                }
                _ => {}
            }
        }
    }

    /// An entry of index `index_digest`: its platform, when it has one, against the
    /// image config of the manifest it names.
    fn check_platform_agrees(
        &self,
        index_digest: &Digest,
        entry: &Descriptor,
        findings: &mut Vec<Finding>,
    ) {
        let (Some(claimed), Some(target)) = (&entry.platform, &entry.digest) else {
            return;
        };
        if entry.is_attestation_entry() {
            return;
        }
        let Some((_, config)) = self.config_of(target) else {
            return;
        };
        let Some(actual) = &config.platform else {
            return;
        };
        let variants_differ =
            matches!((&claimed.variant, &actual.variant), (Some(a), Some(b)) if a != b);
        if claimed.os != actual.os || claimed.architecture != actual.architecture || variants_differ
        {
            findings.push(
                Finding::new(
                    Rule::IndexPlatformMismatch,
                    Location::path(self.blob_key(target))
                        .with_digest(Some(target.clone()))
                        .via(self.blob_key(index_digest), &*entry.pointer),
                    "index entry's platform differs from the image config's",
                )
                .expected_found(claimed, actual),
            );
        }
    }

    /// Manifest `digest`'s layers against its config's `rootfs.diff_ids`, in number.
    fn check_diff_ids(&self, digest: &Digest, manifest: &Manifest, findings: &mut Vec<Finding>) {
        let Some((_, config)) = self.config_of(digest) else {
            return;
        };
        // diff_ids count filesystem changesets; when a manifest carries other "layers"
        // (in-toto statements of an attestation) there is no one-to-one relation to check.
        let Some(layers) = &manifest.layers else {
            return;
        };
        let all_filesystem = layers.iter().all(|l| {
            l.media_type
                .as_deref()
                .is_some_and(media_type::is_filesystem_layer)
        });
        if let Some(diff_ids) = config.diff_ids.filter(|_| all_filesystem) {
            if diff_ids as usize != layers.len() {
                findings.push(
                    Finding::new(
                        Rule::ConfigDiffIdsMismatch,
                        Location::path(self.blob_key(digest))
                            .with_digest(Some(digest.clone()))
                            .via(self.blob_key(digest), "/layers"),
                        "manifest layers and config rootfs.diff_ids differ in number",
                    )
                    .expected_found(format!("{} diff_ids", layers.len()), diff_ids),
                );
            }
        }
    }

    /// image-index.md: platform "SHOULD be present if its target is platform-specific". An
    /// image manifest is; an artifact (an entry with `artifactType`, or a manifest whose
    /// config is not an image config: signatures, SBOMs) is not.
    fn check_platform_present(
        &self,
        index_digest: &Digest,
        entry: &Descriptor,
        findings: &mut Vec<Finding>,
    ) {
        let names_manifest = entry
            .media_type
            .as_deref()
            .is_some_and(|ty| media_type::kind(ty) == MediaKind::Manifest);
        if entry.platform.is_some()
            || entry.is_attestation_entry()
            || !names_manifest
            || self.is_artifact(entry)
        {
            return;
        }
        findings.push(Finding::new(
            Rule::IndexPlatformMissing,
            Location::path(self.blob_key(index_digest))
                .with_digest(Some(index_digest.clone()))
                .via(self.blob_key(index_digest), &*entry.pointer),
            "index entry names an image manifest but has no platform",
        ));
    }
}
