//! Index and manifest checks (image-index.md, manifest.md; schema/image-index-schema.json,
//! schema/image-manifest-schema.json): `schemaVersion`, the document's own `mediaType`,
//! `manifests`, `config`, `layers`, `artifactType`, `subject` and `annotations`; also the
//! legacy kinds still found in stores, Docker schema 1 and the withdrawn OCI artifact
//! manifest. image-index.md § mediaType: "when used, this field MUST contain the media type
//! application/vnd.oci.image.index.v1+json".

use simd_json::StaticNode;
use simd_json::borrowed::{Object, Value};
use simd_json::prelude::ValueAsScalar as _;

use super::annotations::{
    ANNOTATION_REF_NAME, annotations, bundle_predicate_type, is_ref_name, kept,
};
use super::descriptor::descriptor;
use super::fields::{optional_media_type, required_string};
use super::{Context, Expect, pointer};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Index, Manifest, Referrer};
use crate::model::media_type::{self, MediaKind};
use crate::model::platform::Platform;
use crate::model::text::Text;
use crate::rules::Rule;

/// `schemaVersion`: REQUIRED, and 2 for an index or an image manifest.
pub(super) fn schema_version(object: &Object, cx: &mut Context) {
    match object.get("schemaVersion") {
        None => cx.missing("/schemaVersion"),
        Some(Value::Static(StaticNode::I64(2) | StaticNode::U64(2))) => {}
        Some(value @ Value::Static(StaticNode::I64(_) | StaticNode::U64(_))) => {
            cx.schema("/schemaVersion", "schemaVersion must be 2")
                .set_expected_found("2", value.to_string());
        }
        Some(value) => cx.wrong_type("/schemaVersion", "integer", value),
    }
}

/// The document's own `mediaType`: grammar, and absence (a SHOULD).
fn own_media_type(object: &Object, expected: &[&str], cx: &mut Context) -> Option<Text> {
    match object.get("mediaType") {
        None => {
            cx.report(
                Rule::DocumentMediaTypeMissing,
                "/mediaType",
                "document has no mediaType",
            );
            None
        }
        Some(Value::String(s)) => {
            if !media_type::is_valid(s) {
                cx.report(
                    Rule::DescriptorMediaTypeInvalid,
                    "/mediaType",
                    format!("mediaType {s:?} breaks the RFC 6838 grammar"),
                );
            } else if !expected.contains(&s.as_ref()) && media_type::kind(s) == MediaKind::Other {
                cx.schema(
                    "/mediaType",
                    format!("mediaType {s:?} is not a type this document can have"),
                )
                .set_expected_found(expected.join(" or "), s);
            }
            Some(Text::new(s))
        }
        Some(value) => {
            cx.wrong_type("/mediaType", "string", value);
            None
        }
    }
}

pub(super) fn index(object: &Object, expect: Expect, cx: &mut Context) -> Index {
    let media_type = own_media_type(
        object,
        &[media_type::OCI_INDEX, media_type::DOCKER_MANIFEST_LIST],
        cx,
    );
    // image-index.md § mediaType: "when used, this field MUST contain the media type
    // application/vnd.oci.image.index.v1+json", and index.json is an OCI image index
    // (image-layout.md). A Docker manifest list there is as wrong as a manifest type.
    // (A type outside every known kind was already reported by `own_media_type`.)
    if expect.is_layout_index() {
        if let Some(ty) = &media_type {
            if ty != media_type::OCI_INDEX && media_type::kind(ty) != MediaKind::Other {
                cx.schema("/mediaType", "index.json must be an OCI image index")
                    .set_expected_found(media_type::OCI_INDEX, ty);
            }
        }
    }
    let mut manifests = Vec::new();
    match object.get("manifests") {
        None => cx.missing("/manifests"),
        Some(Value::Array(items)) => {
            manifests = descriptors(items, "/manifests", cx);
        }
        Some(Value::Static(StaticNode::Null)) if expect == Expect::ZotIndex => {}
        Some(value) => cx.wrong_type("/manifests", "array", value),
    }
    if expect.is_layout_index() {
        for entry in &manifests {
            if let Some(name) = entry.ref_name().filter(|n| !is_ref_name(n)) {
                cx.report(
                    Rule::AnnotationValueInvalid,
                    &pointer(&pointer(&entry.pointer, "annotations"), ANNOTATION_REF_NAME),
                    format!("{ANNOTATION_REF_NAME} {name:?} does not follow the ref grammar"),
                );
            }
        }
    } else {
        index_platforms(&manifests, cx);
    }
    let artifact_type = optional_media_type(object, "", "artifactType", cx);
    let annotation_map = annotations(object.get("annotations"), "/annotations", cx);
    let subject = subject(object, cx).map(Box::new);
    Index {
        media_type,
        manifests,
        annotations: annotation_map.filter(|_| subject.is_some()).map(kept),
        subject,
        artifact_type,
    }
}

/// What a manifest says of itself as an artifact: `artifactType`, and with a `subject`
/// its annotations; a Sigstore bundle's predicate type.
fn referrer(
    artifact_type: Option<String>,
    annotation_map: Option<&Object>,
    subject: Option<&Descriptor>,
) -> Referrer {
    Referrer {
        artifact_type,
        annotations: annotation_map.filter(|_| subject.is_some()).map(kept),
        predicate_type: annotation_map.and_then(bundle_predicate_type),
    }
}

/// The valid descriptors of the array at `at`, in a vector of exactly their number: they
/// are kept for the whole run, and `collect` would round a single layer up to four slots.
fn descriptors(items: &[Value], at: &str, cx: &mut Context) -> Vec<Descriptor> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(descriptor) = descriptor(item, &pointer(at, i), cx) {
            out.push(descriptor);
        }
    }
    out.shrink_to_fit();
    out
}

/// Two entries for one platform make the second unreachable by platform selection.
/// (Entries without a platform are judged by the graph phase, which knows whether the
/// target is an image or an artifact.)
fn index_platforms(manifests: &[Descriptor], cx: &mut Context) {
    // A set: an index of a few hundred entries would otherwise cost a quadratic scan.
    let mut seen: std::collections::HashSet<&Platform> = std::collections::HashSet::new();
    for entry in manifests {
        let Some(platform) = &entry.platform else {
            continue;
        };
        if entry.is_attestation_entry() {
            continue;
        }
        if !seen.insert(platform) {
            cx.report(
                Rule::IndexPlatformDuplicate,
                &entry.pointer,
                format!("platform {platform} is claimed by an earlier entry too"),
            );
        }
    }
}

fn subject(object: &Object, cx: &mut Context) -> Option<Descriptor> {
    object
        .get("subject")
        .and_then(|value| descriptor(value, "/subject", cx))
}

pub(super) fn manifest(object: &Object, cx: &mut Context) -> Manifest {
    let media_type = own_media_type(
        object,
        &[media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST],
        cx,
    );
    let config = match object.get("config") {
        None => {
            cx.missing("/config");
            None
        }
        Some(value) => descriptor(value, "/config", cx),
    };
    let layers = match object.get("layers") {
        None => {
            cx.missing("/layers");
            None
        }
        Some(Value::Array(items)) => {
            if items.is_empty() {
                cx.report(Rule::ManifestLayersEmpty, "/layers", "layers is empty");
            }
            Some(descriptors(items, "/layers", cx))
        }
        Some(value) => {
            cx.wrong_type("/layers", "array", value);
            None
        }
    };
    let artifact_type = optional_media_type(object, "", "artifactType", cx);
    let config_is_empty = config
        .as_ref()
        .and_then(|c| c.media_type.as_deref())
        .is_some_and(|ty| ty == media_type::OCI_EMPTY);
    if config_is_empty && artifact_type.is_none() && !object.contains_key("artifactType") {
        cx.report(
            Rule::ManifestArtifactTypeMissing,
            "/artifactType",
            "config is the empty descriptor type but artifactType is not set",
        );
    }
    let annotation_map = annotations(object.get("annotations"), "/annotations", cx);
    let subject = subject(object, cx);
    let referrer = referrer(artifact_type, annotation_map, subject.as_ref());
    Manifest::new(media_type, config, layers, false, subject).with_referrer(referrer)
}

/// The OCI artifact manifest of image-spec v1.1.0-rc1 and rc2 (`artifact.md`: `mediaType`,
/// `artifactType`, `blobs`, `subject`, `annotations`), withdrawn before 1.1.0. It is
/// reported once, and read far enough to follow its `blobs` and `subject`, so reachability
/// and garbage collection stay right; fields it never had (`config`, `layers`,
/// `schemaVersion`) are not asked for.
pub(super) fn artifact_manifest(object: &Object, cx: &mut Context) -> Manifest {
    cx.report(
        Rule::ArtifactManifestWithdrawn,
        "/mediaType",
        "OCI artifact manifest: a type of image-spec 1.1.0-rc1/rc2, withdrawn before 1.1.0",
    );
    let media_type = object
        .get("mediaType")
        .and_then(Value::as_str)
        .map(Text::new);
    let artifact_type = optional_media_type(object, "", "artifactType", cx);
    let blobs = match object.get("blobs") {
        None => Vec::new(),
        Some(Value::Array(items)) => descriptors(items, "/blobs", cx),
        Some(value) => {
            cx.wrong_type("/blobs", "array", value);
            Vec::new()
        }
    };
    let annotation_map = annotations(object.get("annotations"), "/annotations", cx);
    let subject = subject(object, cx);
    let referrer = referrer(artifact_type, annotation_map, subject.as_ref());
    Manifest::new(media_type, None, Some(blobs), true, subject).with_referrer(referrer)
}

/// A Docker schema 1 manifest (distribution `docs/spec/manifest-v2-1.md`): reported as
/// legacy, and read far enough to know its layers (`fsLayers[].blobSum`), which garbage
/// collection keeps and the repository must link. It has no config.
pub(super) fn schema1(object: &Object, cx: &mut Context) -> Manifest {
    cx.report(
        Rule::RegistryManifestSchema1,
        "",
        "Docker schema 1 manifest: deprecated, refused by distribution 3 and current clients",
    );
    let media_type = match object.get("mediaType").and_then(Value::as_str) {
        Some(ty) => Text::new(ty),
        None if object.contains_key("signatures") => media_type::DOCKER_SCHEMA1_SIGNED.into(),
        None => media_type::DOCKER_SCHEMA1.into(),
    };
    required_string(object, "", "name", cx);
    required_string(object, "", "tag", cx);
    let mut layers = Vec::new();
    match object.get("fsLayers") {
        None => cx.missing("/fsLayers"),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = pointer("/fsLayers", i);
                let Value::Object(layer) = item else {
                    cx.wrong_type(&at, "object", item);
                    continue;
                };
                let sum = pointer(&at, "blobSum");
                match layer.get("blobSum") {
                    None => cx.missing(&sum),
                    Some(Value::String(s)) => match Digest::parse(s) {
                        Ok(digest) => layers.push(Descriptor {
                            pointer: at.into(),
                            digest: Some(digest),
                            ..Descriptor::default()
                        }),
                        Err(error) => {
                            cx.report(
                                Rule::DescriptorDigestInvalid,
                                &sum,
                                format!("invalid digest: {error}"),
                            );
                        }
                    },
                    Some(value) => cx.wrong_type(&sum, "string", value),
                }
            }
        }
        Some(value) => cx.wrong_type("/fsLayers", "array", value),
    }
    Manifest::new(Some(media_type), None, Some(layers), false, None)
}
