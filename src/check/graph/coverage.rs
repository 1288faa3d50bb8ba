//! Platform coverage: for each root (an `index.json` entry, or a tag of a Distribution
//! repository), the platforms it covers, from its index's entries or from a lone
//! manifest's entry or config, and the exceptions: attestations and artifacts (no
//! platform of their own), manifests without a platform, duplicated platforms, and
//! images a sparse index lists but the store does not hold. Referrers (a referrer tag, a
//! manifest with a `subject`) are no images: they are left to the supply-chain view.
//! Values are shared between
//! roots that cover alike ([`CoverageShare`]).

use std::collections::HashSet;

use super::Graph;
use crate::model::coverage::{Coverage, CoverageShare, Covered, Exceptions};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, Index};
use crate::model::media_type::{self, MediaKind};
use crate::model::platform::Platform;
use crate::model::supply_chain::{TagForm, tag_form};

impl Graph<'_> {
    /// Platform coverage of every `index.json` entry.
    pub fn coverage(&self) -> Vec<Coverage> {
        let Some(index) = self.index_json else {
            return Vec::new();
        };
        let mut share = CoverageShare::default();
        index
            .manifests
            .iter()
            .filter_map(|entry| {
                let digest = entry.digest.as_ref()?;
                // A referrer tag names no image: it is in the supply-chain view instead.
                if entry
                    .ref_name()
                    .is_some_and(|n| tag_form(n) != TagForm::Image)
                {
                    return None;
                }
                let root = entry
                    .ref_name()
                    .map_or_else(|| digest.to_string(), str::to_owned);
                let covered = self.covered(entry, &mut share)?;
                let pointer = entry.pointer.to_string();
                Some(covered.at(root, self.index_path.clone(), pointer, digest.clone()))
            })
            .collect()
    }

    /// What the document `digest` covers when a tag names it: no descriptor says what it
    /// is, so its own `mediaType` (or its shape's OCI type) stands for one, as a
    /// registry's tag does. `None` when it was not loaded or is not an index or manifest.
    pub fn covered_by_tag(&self, digest: &Digest, share: &mut CoverageShare) -> Option<Covered> {
        let document = self.docs.get(digest)?.document.as_ref()?;
        let (own_type, fallback) = match document {
            Document::Index(index) => (index.media_type.clone(), media_type::OCI_INDEX),
            Document::Manifest(m) => (m.media_type.clone(), media_type::OCI_MANIFEST),
            Document::Config(_) => return None,
        };
        let entry = Descriptor {
            pointer: "".into(),
            media_type: Some(own_type.unwrap_or(fallback.into())),
            digest: Some(digest.clone()),
            ..Descriptor::default()
        };
        self.covered(&entry, share)
    }

    /// What one root covers: an `index.json` entry, or a tag of a Distribution
    /// repository (given as a descriptor of the document it points at). `None` when the
    /// entry names neither an index nor a manifest, or its document was not loaded.
    pub fn covered(&self, entry: &Descriptor, share: &mut CoverageShare) -> Option<Covered> {
        let digest = entry.digest.as_ref()?;
        let kind = media_type::kind(entry.media_type.as_deref()?);
        if !matches!(kind, MediaKind::Index | MediaKind::Manifest) {
            return None;
        }
        let mut platforms = Vec::new();
        let mut exceptions = Exceptions::default();
        let document = self.docs.get(digest).and_then(|l| l.document.as_ref());
        // A referrer (a signature, an SBOM, an attestation) is no image.
        let is_referrer = match document {
            Some(Document::Index(index)) => index.subject.is_some(),
            Some(Document::Manifest(manifest)) => manifest.subject().is_some(),
            _ => false,
        };
        if is_referrer {
            return None;
        }
        match &document {
            Some(Document::Index(_)) => {
                self.collect(digest, &mut platforms, &mut exceptions);
            }
            Some(Document::Manifest(_)) => {
                // An artifact is no platform whatever its config says (cosign's config has
                // an empty os and architecture, which would read as a platform "/").
                if self.is_artifact(entry) {
                    exceptions.artifacts.push(digest.clone());
                } else {
                    let platform = entry.platform.as_deref().cloned().or_else(|| {
                        self.config_of(digest)
                            .and_then(|(_, c)| c.platform.as_deref().cloned())
                    });
                    match platform {
                        Some(p) => platforms.push(p),
                        None => exceptions.without_platform.push(digest.clone()),
                    }
                }
            }
            _ => return None,
        }
        Some(Covered {
            platforms: share.platforms(platforms),
            exceptions: share.exceptions(exceptions),
        })
    }

    /// Walks an index depth-first, in entry order, with an explicit stack: nesting depth
    /// is attacker-controlled, so recursion could overflow a worker thread's stack.
    fn collect(&self, root: &Digest, platforms: &mut Vec<Platform>, exceptions: &mut Exceptions) {
        let index_of =
            |digest: &Digest| match self.docs.get(digest).and_then(|l| l.document.as_ref()) {
                Some(Document::Index(index)) => Some(index.as_ref()),
                _ => None,
            };
        let mut visited: HashSet<&Digest> = HashSet::from([root]);
        // Platforms seen, and those already listed as duplicates: sets, so an index of
        // hundreds of entries is not a quadratic scan of the coverage lists.
        let mut seen: HashSet<&Platform> = HashSet::new();
        let mut duplicated: HashSet<&Platform> = HashSet::new();
        let Some(first) = index_of(root) else { return };
        let mut stack: Vec<(&Index, usize)> = vec![(first, 0)];
        while let Some((index, position)) = stack.last_mut() {
            let Some(entry) = index.manifests.get(*position) else {
                stack.pop();
                continue;
            };
            *position += 1;
            let Some(digest) = &entry.digest else {
                continue;
            };
            let kind = entry.media_type.as_deref().map(media_type::kind);
            let is_image = matches!(kind, Some(MediaKind::Index | MediaKind::Manifest));
            if is_image && self.blobs.len_of(digest).is_none() {
                // A sparse index: the platform is listed, its image is not here.
                exceptions.missing.push(digest.clone());
                if let Some(p) = entry
                    .platform
                    .as_ref()
                    .filter(|_| !entry.is_attestation_entry())
                {
                    exceptions.missing_platforms.push(Platform::clone(p));
                }
                continue;
            }
            match kind {
                Some(MediaKind::Index) if visited.insert(digest) => {
                    if let Some(nested) = index_of(digest) {
                        stack.push((nested, 0));
                    }
                }
                Some(MediaKind::Manifest) => match entry.platform.as_deref() {
                    _ if entry.is_attestation_entry() => {
                        exceptions.attestations.push(digest.clone())
                    }
                    Some(p) if seen.insert(p) => platforms.push(p.clone()),
                    Some(p) => {
                        if duplicated.insert(p) {
                            exceptions.duplicates.push(p.clone());
                        }
                    }
                    None if self.is_artifact(entry) => exceptions.artifacts.push(digest.clone()),
                    None => exceptions.without_platform.push(digest.clone()),
                },
                _ => {}
            }
        }
    }
}
