//! Document validation: parses an index, manifest, config or `oci-layout` file leniently
//! (simd-json into a borrowed DOM) and checks every field against image-spec's prose and
//! schema, reporting each bad field with its JSON pointer and keeping every good one.
//!
//! The caller hashes the raw bytes *before* calling [`parse`]: simd-json rewrites its input
//! in place ("This function will rewrite the slice to de-escape strings").
//!
//! Split by concern: `json` parses and enforces I-JSON; `manifest` checks indexes and
//! manifests (and the legacy kinds); `descriptor` every descriptor field; `config` image
//! configurations; `annotations` the annotation map and its grammars; `fields` the string,
//! string-array and media-type helpers they share. This file holds the entry points and
//! decides which kind a document is.

mod annotations;
mod config;
mod descriptor;
mod fields;
mod json;
mod manifest;

pub use descriptor::descriptor;

use fields::required_string;
use json::{check_duplicate_keys, with_json};
use manifest::{artifact_manifest, index, manifest, schema_version, schema1};

use simd_json::StaticNode;
use simd_json::borrowed::{Object, Value};
use simd_json::prelude::ValueAsScalar as _;

use crate::finding::{Finding, Location};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document};
use crate::model::key::Key;
use crate::model::media_type::{self, MediaKind};
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
            Expect::Config => Document::Config(config::config(object, cx)),
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
