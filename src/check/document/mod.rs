//! Document validation: parses an index, manifest, config or `oci-layout` file leniently
//! (simd-json into a borrowed DOM) and checks every field against image-spec's prose and
//! schema, reporting each bad field with its JSON pointer and keeping every good one.
//!
//! The caller hashes the raw bytes *before* calling [`parse`]: simd-json rewrites its input
//! in place ("This function will rewrite the slice to de-escape strings").

use std::borrow::Cow;

use base64::Engine as _;
use simd_json::StaticNode;
use simd_json::borrowed::{Object, Value};
use simd_json::prelude::ValueAsScalar as _;

use crate::finding::{Finding, Location};
use crate::hash;
use crate::model::digest::Digest;
use crate::model::document::{
    ATTESTATION_MANIFEST, Config, Descriptor, DescriptorExtras, Document, Index, Manifest,
};
use crate::model::key::Key;
use crate::model::media_type::{self, MediaKind};
use crate::model::platform::Platform;
use crate::model::text::Text;
use crate::model::time::is_rfc3339;
use crate::rules::Rule;

/// What a document is expected to be, which decides the checks applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expect {
    /// A layout's `index.json`: an index whose entries are tags, not platforms.
    LayoutIndex,
    /// A zot repository's `index.json`: as a layout's, except that `"manifests": null` is
    /// an empty list. zot writes it so for every new repository (`initRepo` marshals an
    /// `ispec.Index` whose nil slice has no `omitempty`), and for `_blobstore` forever.
    ZotIndex,
    /// An index or manifest list named by a descriptor.
    Index,
    /// An image manifest named by a descriptor.
    Manifest,
    /// The withdrawn OCI artifact manifest, named by a descriptor of that type.
    ArtifactManifest,
    /// An image config named by a manifest.
    Config,
    /// A manifest a Distribution revision link names. No descriptor says what it is, so
    /// its kind is read from the content as the registry's manifest store does:
    /// `schemaVersion` 1 is Docker schema 1; otherwise `mediaType`; otherwise an index when
    /// it has `manifests`.
    Revision,
}

impl Expect {
    /// Whether this is a layout's `index.json` (zot's included).
    pub fn is_layout_index(self) -> bool {
        matches!(self, Expect::LayoutIndex | Expect::ZotIndex)
    }
}

const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// Where findings about one document go, and how they are located.
pub struct Context<'a> {
    /// The document's path relative to the audited root.
    pub path: &'a Key,
    /// The document's digest, when it is a blob.
    pub digest: Option<&'a Digest>,
    /// Findings are appended here.
    pub findings: &'a mut Vec<Finding>,
}

impl Context<'_> {
    fn report(&mut self, rule: Rule, pointer: &str, message: impl Into<String>) -> &mut Finding {
        let location = Location::path(self.path)
            .with_digest(self.digest.cloned())
            .via(self.path, pointer);
        self.findings.push(Finding::new(rule, location, message));
        self.findings.last_mut().expect("just pushed")
    }

    fn schema(&mut self, pointer: &str, message: impl Into<String>) -> &mut Finding {
        self.report(Rule::DocumentSchemaInvalid, pointer, message)
    }

    fn wrong_type(&mut self, pointer: &str, expected: &str, value: &Value) {
        self.report(
            Rule::DocumentSchemaInvalid,
            pointer,
            format!("{} has the wrong JSON type", field_name(pointer)),
        )
        .set_expected_found(expected, type_name(value));
    }

    fn missing(&mut self, pointer: &str) {
        self.schema(
            pointer,
            format!("required field {} is missing", field_name(pointer)),
        );
    }
}

fn field_name(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".to_owned()
    } else {
        pointer.to_owned()
    }
}

/// Appends `key` to a JSON pointer, escaped per RFC 6901.
pub fn pointer(base: &str, key: impl std::fmt::Display) -> String {
    let key = key.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{key}")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Static(StaticNode::Null) => "null",
        Value::Static(StaticNode::Bool(_)) => "boolean",
        Value::Static(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses `bytes` with simd-json and hands the DOM to `check`; a document that does not
/// parse is reported instead. Describing the error needs `bytes` again, so the DOM (which
/// borrows them) must be gone first: hence a callback rather than a returned DOM.
fn with_json<T>(
    bytes: &mut [u8],
    cx: &mut Context,
    check: impl FnOnce(&Value, &mut Context) -> Option<T>,
) -> Option<T> {
    let error = match simd_json::to_borrowed_value(bytes) {
        Ok(value) => return check(&value, cx),
        Err(error) => error,
    };
    cx.report(Rule::DocumentJsonInvalid, "", json_error(&error, bytes));
    None
}

/// Parses `bytes` (rewritten in place) as `expect`; `None` when nothing usable was found.
/// `Expect::Config` returns `Document::Config`; indexes and manifests return what the
/// document *is*, judged by its `mediaType` or shape, so the caller can compare it with
/// what the descriptor promised.
pub fn parse(bytes: &mut [u8], expect: Expect, cx: &mut Context) -> Option<Document> {
    with_json(bytes, cx, |value, cx| {
        check_duplicate_keys(value, cx);
        let Value::Object(object) = value else {
            cx.wrong_type("", "object", value);
            return None;
        };
        Some(match expect {
            Expect::Config => Document::Config(config(object, cx)),
            Expect::Revision if is_schema1(object) => {
                Document::Manifest(Box::new(schema1(object, cx)))
            }
            Expect::LayoutIndex
            | Expect::ZotIndex
            | Expect::Index
            | Expect::Manifest
            | Expect::ArtifactManifest
            | Expect::Revision => image_document(object, expect, cx),
        })
    })
}

/// A message for a document that does not parse. simd-json locates structural errors at
/// character 0, so the error is described (not located) by a second, slow parse with
/// serde_json; this runs only for broken documents.
fn json_error(error: &simd_json::Error, bytes: &[u8]) -> String {
    use simd_json::ErrorType;
    match error.error() {
        ErrorType::DepthLimitExceeded => {
            return format!("nested deeper than {} levels", simd_json::DEFAULT_MAX_DEPTH);
        }
        ErrorType::InvalidUtf8 => return "not valid UTF-8".to_owned(),
        _ if std::str::from_utf8(bytes).is_err() => return "not valid UTF-8".to_owned(),
        _ => {}
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(serde_error) => {
            let text = serde_error.to_string();
            let what = text.split(" at line ").next().unwrap_or(&text);
            format!("not valid JSON: {what}")
        }
        // serde_json accepts what simd-json refused: in practice a number that does not
        // fit 64 bits, which I-JSON (RFC 7493) also rules out.
        Ok(_) if *error.error() == ErrorType::InvalidNumber => {
            "a number does not fit 64 bits (I-JSON)".to_owned()
        }
        Ok(_) => format!("not valid JSON: {:?}", error.error()),
    }
}

/// I-JSON (RFC 7493) forbids duplicate member names; simd-json keeps both, so a reader's
/// choice between them is arbitrary (most parsers let the last win). Walks every object
/// and array; the JSON pointer of a level is only built when a duplicate is found, since
/// nearly every document has none.
fn check_duplicate_keys(value: &Value, cx: &mut Context) {
    let mut path = Vec::new();
    walk_duplicate_keys(value, &mut path, cx);
}

/// One step of a JSON pointer, kept unformatted until needed.
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

fn pointer_of(path: &[Step]) -> String {
    path.iter().fold(String::new(), |at, step| match step {
        Step::Key(key) => pointer(&at, key),
        Step::Index(i) => pointer(&at, i),
    })
}

fn walk_duplicate_keys<'v>(value: &'v Value<'v>, path: &mut Vec<Step<'v>>, cx: &mut Context) {
    match value {
        Value::Object(object) => {
            // Few keys (the common case): compare pairs, no allocation. Many: sort.
            let mut few = [""; 16];
            let keys: std::borrow::Cow<'_, [&str]> = if object.len() <= few.len() {
                for (slot, key) in few.iter_mut().zip(object.keys()) {
                    *slot = key;
                }
                std::borrow::Cow::Borrowed(&few[..object.len()])
            } else {
                let mut all: Vec<&str> = object.keys().map(Cow::as_ref).collect();
                all.sort_unstable();
                std::borrow::Cow::Owned(all)
            };
            let sorted = object.len() > few.len();
            for (i, key) in keys.iter().enumerate() {
                let duplicate = if sorted {
                    keys.get(i + 1) == Some(key)
                } else {
                    keys[i + 1..].contains(key)
                };
                if duplicate {
                    path.push(Step::Key(key));
                    let at = pointer_of(path);
                    path.pop();
                    cx.report(
                        Rule::DocumentJsonInvalid,
                        &at,
                        format!("duplicate member name {key:?} (I-JSON forbids it)"),
                    );
                }
            }
            for (key, child) in object.iter() {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    path.push(Step::Key(key));
                    walk_duplicate_keys(child, path, cx);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    path.push(Step::Index(i));
                    walk_duplicate_keys(child, path, cx);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Index or manifest. Reports the CVE-2021-41190 ambiguity and decides which one it is.
fn image_document(object: &Object, expect: Expect, cx: &mut Context) -> Document {
    let has_manifests = object.contains_key("manifests");
    let has_manifest_fields = object.contains_key("config") || object.contains_key("layers");
    if has_manifests && has_manifest_fields {
        cx.report(
            Rule::ManifestAmbiguous,
            "",
            "document has both manifests and config/layers: it reads as an index and as a manifest",
        );
    }
    let own_type = object.get("mediaType").and_then(Value::as_str);
    let artifact = match own_type {
        Some(ty) => ty == media_type::OCI_ARTIFACT_MANIFEST,
        None => expect == Expect::ArtifactManifest,
    };
    if artifact && !expect.is_layout_index() {
        return Document::Manifest(Box::new(artifact_manifest(object, cx)));
    }
    // image-layout.md: index.json "MUST be an image index", whatever it claims; a wrong
    // mediaType there is reported by `index()`.
    let is_index = expect.is_layout_index()
        || match own_type.map(media_type::kind) {
            Some(MediaKind::Index) => true,
            Some(MediaKind::Manifest) => false,
            _ => match expect {
                Expect::Index => !has_manifest_fields || has_manifests,
                _ => has_manifests && !has_manifest_fields,
            },
        };
    schema_version(object, cx);
    if is_index {
        Document::Index(Box::new(index(object, expect, cx)))
    } else {
        Document::Manifest(Box::new(manifest(object, cx)))
    }
}

/// Docker schema 1, as distribution's manifest store recognises it: `schemaVersion` 1.
fn is_schema1(object: &Object) -> bool {
    let version_one = matches!(
        object.get("schemaVersion"),
        Some(Value::Static(StaticNode::I64(1) | StaticNode::U64(1)))
    );
    let typed_one = object
        .get("mediaType")
        .and_then(Value::as_str)
        .is_some_and(|ty| media_type::kind(ty) == MediaKind::Schema1);
    version_one || typed_one
}

/// A Docker schema 1 manifest (distribution `docs/spec/manifest-v2-1.md`): reported as
/// legacy, and read far enough to know its layers (`fsLayers[].blobSum`), which garbage
/// collection keeps and the repository must link. It has no config.
fn schema1(object: &Object, cx: &mut Context) -> Manifest {
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

fn schema_version(object: &Object, cx: &mut Context) {
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

fn index(object: &Object, expect: Expect, cx: &mut Context) -> Index {
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
    optional_media_type(object, "", "artifactType", cx);
    annotations(object.get("annotations"), "/annotations", cx);
    Index {
        media_type,
        manifests,
        subject: subject(object, cx).map(Box::new),
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

fn manifest(object: &Object, cx: &mut Context) -> Manifest {
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
    annotations(object.get("annotations"), "/annotations", cx);
    Manifest::new(media_type, config, layers, false, subject(object, cx))
}

/// The OCI artifact manifest of image-spec v1.1.0-rc1 and rc2 (`artifact.md`: `mediaType`,
/// `artifactType`, `blobs`, `subject`, `annotations`), withdrawn before 1.1.0. It is
/// reported once, and read far enough to follow its `blobs` and `subject`, so reachability
/// and garbage collection stay right; fields it never had (`config`, `layers`,
/// `schemaVersion`) are not asked for.
fn artifact_manifest(object: &Object, cx: &mut Context) -> Manifest {
    cx.report(
        Rule::ArtifactManifestWithdrawn,
        "/mediaType",
        "OCI artifact manifest: a type of image-spec 1.1.0-rc1/rc2, withdrawn before 1.1.0",
    );
    let media_type = object
        .get("mediaType")
        .and_then(Value::as_str)
        .map(Text::new);
    optional_media_type(object, "", "artifactType", cx);
    let blobs = match object.get("blobs") {
        None => Vec::new(),
        Some(Value::Array(items)) => descriptors(items, "/blobs", cx),
        Some(value) => {
            cx.wrong_type("/blobs", "array", value);
            Vec::new()
        }
    };
    annotations(object.get("annotations"), "/annotations", cx);
    Manifest::new(media_type, None, Some(blobs), true, subject(object, cx))
}

/// An optional media-type-valued field `key` (such as `artifactType`) of the object at
/// pointer `base`.
fn optional_media_type(object: &Object, base: &str, key: &str, cx: &mut Context) -> Option<String> {
    let at = &pointer(base, key);
    match object.get(key)? {
        Value::String(s) => {
            if media_type::is_valid(s) {
                Some(s.to_string())
            } else {
                cx.report(
                    Rule::DescriptorMediaTypeInvalid,
                    at,
                    format!("{key} {s:?} breaks the RFC 6838 grammar"),
                );
                None
            }
        }
        value => {
            cx.wrong_type(at, "string", value);
            None
        }
    }
}

/// A descriptor (descriptor.md). Returns what was valid of it; `None` if it is not an object.
pub fn descriptor(value: &Value, at: &str, cx: &mut Context) -> Option<Descriptor> {
    let Value::Object(object) = value else {
        cx.wrong_type(at, "object (a descriptor)", value);
        return None;
    };
    let mut out = Descriptor {
        pointer: Text::new(at),
        ..Descriptor::default()
    };
    match object.get("mediaType") {
        None => cx.missing(&pointer(at, "mediaType")),
        Some(Value::String(s)) => {
            if !media_type::is_valid(s) {
                cx.report(
                    Rule::DescriptorMediaTypeInvalid,
                    &pointer(at, "mediaType"),
                    format!("mediaType {s:?} breaks the RFC 6838 grammar"),
                );
            }
            out.media_type = Some(Text::new(s));
        }
        Some(value) => cx.wrong_type(&pointer(at, "mediaType"), "string", value),
    }
    match object.get("digest") {
        None => cx.missing(&pointer(at, "digest")),
        Some(Value::String(s)) => match Digest::parse(s) {
            Ok(digest) => out.digest = Some(digest),
            Err(error) => {
                cx.report(
                    Rule::DescriptorDigestInvalid,
                    &pointer(at, "digest"),
                    format!("invalid digest: {error}"),
                );
            }
        },
        Some(value) => cx.wrong_type(&pointer(at, "digest"), "string", value),
    }
    match object.get("size") {
        None => cx.missing(&pointer(at, "size")),
        Some(value) => out.size = size(value, &pointer(at, "size"), cx).into(),
    }
    let mut extras = DescriptorExtras::default();
    if let Some(value) = object.get("urls") {
        extras.has_urls = urls(value, &pointer(at, "urls"), cx);
    }
    let annotation_map = annotations(object.get("annotations"), &pointer(at, "annotations"), cx);
    if let Some(map) = annotation_map {
        extras.ref_name = map
            .get(ANNOTATION_REF_NAME)
            .and_then(Value::as_str)
            .map(str::to_owned);
        extras.attestation_annotated = map.get(ANNOTATION_REFERENCE_TYPE).and_then(Value::as_str)
            == Some(ATTESTATION_MANIFEST);
    }
    extras.artifact_type = optional_media_type(object, at, "artifactType", cx);
    if extras != DescriptorExtras::default() {
        out.extras = Some(Box::new(extras));
    }
    if let Some(value) = object.get("platform") {
        out.platform = platform(value, &pointer(at, "platform"), cx).map(Platform::shared);
    }
    if let Some(value) = object.get("data") {
        data(value, &out, &pointer(at, "data"), cx);
    }
    Some(out)
}

/// `size`: "REQUIRED … int64 … MUST NOT be negative" (JSON schema: integer, minimum 0).
fn size(value: &Value, at: &str, cx: &mut Context) -> Option<u64> {
    match value {
        Value::Static(StaticNode::I64(n)) if *n >= 0 => Some(n.unsigned_abs()),
        Value::Static(StaticNode::U64(n)) if i64::try_from(*n).is_ok() => Some(*n),
        Value::Static(StaticNode::I64(n)) => {
            cx.schema(at, "size must not be negative")
                .set_expected_found(">= 0", n);
            None
        }
        Value::Static(StaticNode::U64(n)) => {
            cx.schema(at, "size does not fit int64")
                .set_expected_found("<= 9223372036854775807", n);
            None
        }
        value => {
            cx.wrong_type(at, "integer", value);
            None
        }
    }
}

/// `urls`: each "MUST conform to RFC 3986". Returns whether any URL is listed.
fn urls(value: &Value, at: &str, cx: &mut Context) -> bool {
    let Value::Array(items) = value else {
        cx.wrong_type(at, "array of strings", value);
        return false;
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if is_uri(s) => {}
            Value::String(s) => {
                cx.schema(&pointer(at, i), format!("url {s:?} is not an RFC 3986 URI"));
            }
            other => cx.wrong_type(&pointer(at, i), "string", other),
        }
    }
    !items.is_empty()
}

/// RFC 3986 `URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, checked for its
/// scheme and character repertoire (percent-escapes well formed, at most one `#`).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || rest.matches('#').count() > 1 {
        return false;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#[]".contains(&b);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

/// `annotations`: "MUST be a key-value map where both the key and value MUST be strings".
/// Checks `created`'s format here; `ref.name` is checked on `index.json` entries only,
/// where it "SHOULD only be considered" (annotations.md). Returns the map when it is one.
fn annotations<'v>(
    value: Option<&'v Value<'v>>,
    at: &str,
    cx: &mut Context,
) -> Option<&'v Object<'v>> {
    let value = value?;
    let Value::Object(map) = value else {
        cx.wrong_type(at, "object of strings", value);
        return None;
    };
    for (key, item) in map.iter() {
        let Value::String(text) = item else {
            cx.wrong_type(&pointer(at, key), "string", item);
            continue;
        };
        if key == ANNOTATION_CREATED && !is_rfc3339(text) {
            cx.report(
                Rule::AnnotationValueInvalid,
                &pointer(at, key),
                format!("{key} {text:?} is not an RFC 3339 date-time"),
            );
        }
    }
    Some(map)
}

/// annotations.md: `ref ::= component ("/" component)*`,
/// `component ::= alphanum (separator alphanum)*`, `alphanum ::= [A-Za-z0-9]+`,
/// `separator ::= [-._:@+] | "--"`.
fn is_ref_name(s: &str) -> bool {
    s.split('/').all(|component| {
        let bytes = component.as_bytes();
        if bytes.is_empty()
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphanumeric() {
                i += 1;
            } else if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            } else if b"-._:@+".contains(&bytes[i]) {
                i += 1;
                if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            } else {
                return false;
            }
        }
        true
    })
}

/// `platform`: `architecture` and `os` REQUIRED strings; `os.version`, `variant` strings;
/// `os.features`, `features` arrays of strings.
fn platform(value: &Value, at: &str, cx: &mut Context) -> Option<Platform> {
    let Value::Object(object) = value else {
        cx.wrong_type(at, "object", value);
        return None;
    };
    let os = required_string(object, at, "os", cx);
    let architecture = required_string(object, at, "architecture", cx);
    let variant = optional_string(object, at, "variant", cx);
    let os_version = optional_string(object, at, "os.version", cx);
    for key in ["os.features", "features"] {
        string_array(object, at, key, cx);
    }
    Some(Platform::new(os?, architecture?, variant, os_version))
}

fn required_string(object: &Object, at: &str, key: &str, cx: &mut Context) -> Option<String> {
    if object.contains_key(key) {
        optional_string(object, at, key, cx)
    } else {
        cx.missing(&pointer(at, key));
        None
    }
}

fn optional_string(object: &Object, at: &str, key: &str, cx: &mut Context) -> Option<String> {
    match object.get(key)? {
        Value::String(s) => Some(s.to_string()),
        value => {
            cx.wrong_type(&pointer(at, key), "string", value);
            None
        }
    }
}

/// An optional array of strings; returns the strings that are strings.
fn string_array<'v>(
    object: &'v Object<'v>,
    at: &str,
    key: &str,
    cx: &mut Context,
) -> Option<Vec<&'v str>> {
    let value = object.get(key)?;
    let Value::Array(items) = value else {
        cx.wrong_type(&pointer(at, key), "array of strings", value);
        return None;
    };
    let at = pointer(at, key);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.as_ref()),
            other => cx.wrong_type(&pointer(&at, i), "string", other),
        }
    }
    Some(out)
}

/// `data`: "MUST be base64 (RFC 4648 §4)"; decoded, "MUST be identical to the referenced
/// content and SHOULD be verified against the digest and size fields".
fn data(value: &Value, descriptor: &Descriptor, at: &str, cx: &mut Context) {
    let Value::String(text) = value else {
        cx.wrong_type(at, "string (base64)", value);
        return;
    };
    let decoded = match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
        Ok(decoded) => decoded,
        Err(error) => {
            cx.schema(at, format!("data is not canonical base64: {error}"));
            return;
        }
    };
    if let Some(size) = descriptor.size() {
        if decoded.len() as u64 != size {
            cx.report(
                Rule::DescriptorDataMismatch,
                at,
                "embedded data length differs from size",
            )
            .set_expected_found(size, decoded.len());
            return;
        }
    }
    if let Some(digest) = &descriptor.digest {
        if let Some(actual) = hash::digest_bytes(digest.algorithm(), &decoded) {
            if &actual != digest {
                cx.report(
                    Rule::DescriptorDataMismatch,
                    at,
                    "embedded data does not hash to digest",
                )
                .set_expected_found(digest, actual);
            }
        }
    }
}

/// Image configuration (config.md; schema/config-schema.json).
fn config(object: &Object, cx: &mut Context) -> Config {
    let os = required_string(object, "", "os", cx);
    let architecture = required_string(object, "", "architecture", cx);
    let variant = optional_string(object, "", "variant", cx);
    let os_version = optional_string(object, "", "os.version", cx);
    optional_string(object, "", "author", cx);
    if let Some(created) = optional_string(object, "", "created", cx) {
        if !is_rfc3339(&created) {
            cx.schema(
                "/created",
                format!("created {created:?} is not an RFC 3339 date-time"),
            );
        }
    }
    string_array(object, "", "os.features", cx);
    if let Some(value) = object.get("config") {
        execution_config(value, cx);
    }
    let diff_ids = match object.get("rootfs") {
        None => {
            cx.missing("/rootfs");
            None
        }
        Some(Value::Object(rootfs)) => {
            match rootfs.get("type") {
                None => cx.missing("/rootfs/type"),
                Some(Value::String(s)) if s == "layers" => {}
                Some(Value::String(s)) => {
                    cx.schema("/rootfs/type", "rootfs.type must be \"layers\"")
                        .set_expected_found("layers", s);
                }
                Some(value) => cx.wrong_type("/rootfs/type", "string", value),
            }
            if !rootfs.contains_key("diff_ids") {
                cx.missing("/rootfs/diff_ids");
            }
            string_array(rootfs, "/rootfs", "diff_ids", cx).map(|ids| {
                for (i, id) in ids.iter().enumerate() {
                    if let Err(error) = Digest::parse(id) {
                        cx.report(
                            Rule::DescriptorDigestInvalid,
                            &pointer("/rootfs/diff_ids", i),
                            format!("invalid diff_id: {error}"),
                        );
                    }
                }
                u32::try_from(ids.len()).unwrap_or(u32::MAX)
            })
        }
        Some(value) => {
            cx.wrong_type("/rootfs", "object", value);
            None
        }
    };
    if let Some(value) = object.get("history") {
        history(value, cx);
    }
    let platform = match (os, architecture) {
        (Some(os), Some(architecture)) => {
            Some(Platform::new(os, architecture, variant, os_version))
        }
        _ => None,
    };
    Config {
        platform: platform.map(Platform::shared),
        diff_ids,
    }
}

/// The `config` object of an image configuration: execution parameters.
fn execution_config(value: &Value, cx: &mut Context) {
    const AT: &str = "/config";
    let Value::Object(object) = value else {
        cx.wrong_type(AT, "object", value);
        return;
    };
    for key in ["User", "WorkingDir", "StopSignal"] {
        optional_string(object, AT, key, cx);
    }
    // Go writes nil slices as null ("Env": null in configs from `docker import`).
    let env = match object.get("Env") {
        Some(Value::Static(StaticNode::Null)) => None,
        _ => string_array(object, AT, "Env", cx),
    };
    if let Some(env) = env {
        // config.md: "Entries are in the format of VARNAME=VARVALUE."
        for (i, entry) in env.iter().enumerate() {
            if entry
                .split_once('=')
                .is_none_or(|(name, _)| name.is_empty())
            {
                cx.schema(
                    &pointer("/config/Env", i),
                    format!("Env entry {entry:?} is not VARNAME=VARVALUE"),
                );
            }
        }
    }
    for key in ["Entrypoint", "Cmd"] {
        if !matches!(object.get(key), Some(Value::Static(StaticNode::Null))) {
            string_array(object, AT, key, cx);
        }
    }
    for key in ["ExposedPorts", "Volumes", "Labels"] {
        match object.get(key) {
            None | Some(Value::Static(StaticNode::Null)) => {}
            Some(Value::Object(map)) => {
                for (name, item) in map.iter() {
                    let ok = if key == "Labels" {
                        matches!(item, Value::String(_))
                    } else {
                        matches!(item, Value::Object(_))
                    };
                    if !ok {
                        let expected = if key == "Labels" { "string" } else { "object" };
                        cx.wrong_type(&pointer(&pointer(AT, key), name), expected, item);
                    }
                }
            }
            Some(other) => cx.wrong_type(&pointer(AT, key), "object", other),
        }
    }
    if let Some(value) = object.get("ArgsEscaped") {
        if !matches!(value, Value::Static(StaticNode::Bool(_))) {
            cx.wrong_type("/config/ArgsEscaped", "boolean", value);
        }
    }
}

fn history(value: &Value, cx: &mut Context) {
    let Value::Array(items) = value else {
        cx.wrong_type("/history", "array", value);
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = pointer("/history", i);
        let Value::Object(entry) = item else {
            cx.wrong_type(&at, "object", item);
            continue;
        };
        for key in ["created", "author", "created_by", "comment"] {
            optional_string(entry, &at, key, cx);
        }
        if let Some(value) = entry.get("empty_layer") {
            if !matches!(value, Value::Static(StaticNode::Bool(_))) {
                cx.wrong_type(&pointer(&at, "empty_layer"), "boolean", value);
            }
        }
    }
}

/// The `oci-layout` file: a JSON object with `imageLayoutVersion`. Returns the version.
pub fn layout_header(bytes: &mut [u8], cx: &mut Context) -> Option<String> {
    with_json(bytes, cx, |value, cx| {
        let Value::Object(object) = value else {
            cx.wrong_type("", "object", value);
            return None;
        };
        required_string(object, "", "imageLayoutVersion", cx)
    })
}

/// Validates a lone descriptor document (the image-spec's descriptor test vectors).
pub fn standalone_descriptor(bytes: &mut [u8], cx: &mut Context) -> Option<Descriptor> {
    with_json(bytes, cx, |value, cx| descriptor(value, "", cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        for ok in [
            "2023-01-02T03:04:05Z",
            "2015-10-31T22:22:56.015925234Z",
            "2019-07-23T08:21:48+02:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2023-01-02",
            "2023-13-02T03:04:05Z",
            "2023-01-02T03:04:05",
            "yesterday",
            "2023-01-02T03:04:05.Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn ref_names() {
        for ok in [
            "v1.0",
            "stable-release",
            "latest",
            "a/b:c",
            "1.0--rc1",
            "sha256-abc",
        ] {
            assert!(is_ref_name(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "a//b", "a b", "a..b", "tag!"] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn uris() {
        for ok in [
            "https://example.com/x",
            "http://a/b?c=d#e",
            "urn:isbn:0451450523",
            "https://[::1]:80/%20",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "value",
            "://x",
            "http://a b",
            "http://a/%zz",
            "1http://x",
            "http://a#b#c",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}
