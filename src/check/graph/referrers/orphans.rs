//! Orphaned referrers: a cosign or fallback tag whose subject is not in its repository,
//! and a manifest whose `subject` is gone. Each is in the view with what deleting it would
//! reclaim (what it holds that no other document of the repository names), and a finding:
//! `referrer-tag-orphaned` for a tag, `subject-missing` (once per referrer) for a manifest
//! whose subject the store lacks.

use std::collections::{HashMap, HashSet};

use super::{Category, Membership, ReferrerCheck, Scope, TagRef, classify, traits};
use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::supply_chain::Orphan;
use crate::rules::Rule;

impl ReferrerCheck<'_> {
    /// An orphaned referrer: in the view, and a finding (`subject-missing` for a manifest
    /// whose subject the store lacks, once; `referrer-tag-orphaned` for a tag).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn orphan(
        &mut self,
        scope: &Scope,
        referrer: &Digest,
        subject: &Digest,
        tag: Option<&TagRef>,
        cosign_tag: Option<Category>,
        bytes: u64,
        findings: &mut Vec<Finding>,
    ) {
        let graph = self.graph;
        let (artifact_type, format) = match self.document(referrer) {
            Some(document) => {
                let traits = traits(document, cosign_tag);
                let format = classify(&traits)
                    .first()
                    .map(|(_, f)| *f)
                    .unwrap_or("other");
                (traits.listed_type().map(str::to_owned), format)
            }
            None => (None, "other"),
        };
        let path = match tag {
            Some(tag) => {
                findings.push(
                    Finding::new(
                        Rule::ReferrerTagOrphaned,
                        scope.location(tag),
                        format!(
                            "tag {} refers to {subject}, which is not in the {}",
                            tag.name,
                            match scope.repository {
                                "." => "layout".to_owned(),
                                name => format!("repository {name}"),
                            }
                        ),
                    )
                    .with_bytes(bytes),
                );
                (scope.locate)(tag.at).0
            }
            None => {
                let in_store =
                    graph.blobs.len_of(subject).is_some() || graph.blobs.is_accounted(subject);
                if !in_store && self.reported.insert(referrer.clone()) {
                    let pointer = self
                        .document(referrer)
                        .and_then(Document::subject)
                        .map_or("/subject", |s| &*s.pointer)
                        .to_owned();
                    findings.push(
                        Finding::new(
                            Rule::SubjectMissing,
                            Location::path(graph.blob_key(subject))
                                .with_digest(Some(subject.clone()))
                                .via(graph.blob_key(referrer), pointer),
                            "subject names a manifest that is not in the store",
                        )
                        .with_bytes(bytes),
                    );
                }
                graph.blob_key(referrer)
            }
        };
        self.chain.orphans.push(Orphan {
            repository: scope.repository.to_owned(),
            tag: tag.map(|t| t.name.to_string()),
            digest: referrer.clone(),
            subject: subject.clone(),
            artifact_type,
            format: format.to_owned(),
            bytes,
            path,
        });
    }

    /// What deleting each orphan would reclaim: its document and what it names (an
    /// index's entries and theirs), less what a document that is not an orphan names.
    pub(super) fn orphan_bytes(
        &self,
        members: &Membership,
        orphans: &[(&Digest, &Digest, Option<&TagRef>, Option<Category>)],
    ) -> HashMap<Digest, u64> {
        if orphans.is_empty() {
            return HashMap::new();
        }
        let held = |root: &Digest| -> Vec<Digest> {
            let mut out = vec![root.clone()];
            let mut next = 0;
            while let Some(digest) = out.get(next).cloned() {
                next += 1;
                let children: Vec<&Digest> = match self.document(&digest) {
                    Some(Document::Index(index)) => index
                        .manifests
                        .iter()
                        .filter_map(|d| d.digest.as_ref())
                        .collect(),
                    Some(Document::Manifest(manifest)) => {
                        manifest.blobs().filter_map(|d| d.digest.as_ref()).collect()
                    }
                    _ => Vec::new(),
                };
                for child in children {
                    if !out.contains(child) {
                        out.push(child.clone());
                    }
                }
            }
            out
        };
        // In digest order: a blob two orphans share counts in the first, whatever the
        // order the scope listed them in.
        let mut orphaned: Vec<&Digest> = orphans.iter().map(|o| o.0).collect();
        orphaned.sort_unstable();
        orphaned.dedup();
        // What the documents that stay name.
        let mut kept: HashSet<Digest> = HashSet::new();
        for member in members
            .iter()
            .filter(|m| orphaned.binary_search(m).is_err())
        {
            if kept.contains(member) {
                continue;
            }
            kept.extend(held(member));
        }
        let mut counted: HashSet<Digest> = HashSet::new();
        let mut bytes = HashMap::new();
        for referrer in orphaned {
            let total = held(referrer)
                .into_iter()
                .filter(|d| !kept.contains(d))
                .filter(|d| counted.insert(d.clone()))
                .filter_map(|d| self.graph.blobs.len_of(&d))
                .sum();
            bytes.insert(referrer.clone(), total);
        }
        bytes
    }
}
