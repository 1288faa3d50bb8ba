//! The rule table: every finding oci-audit can report, with its stable id, default severity,
//! the spec text it enforces and an explanation. This is the only place rules are declared;
//! `oci-audit rules`, `--explain`, the table in docs/checks.md and the JSON output all read it.
//!
//! Ids are kebab-case `<subject>-<problem>` and never change or get reused. Default
//! severities follow the spec's keywords: MUST → error, SHOULD → warning, MAY and hygiene → info.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! rules {
    ($(
        $(#[$attr:meta])*
        $variant:ident = $id:literal, $severity:ident, $spec:literal,
            summary: $summary:literal,
            why: $why:literal;
    )*) => {
        /// A check oci-audit performs. Serialises as its id.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $( $(#[$attr])* $variant, )*
        }

        impl Rule {
            /// Every rule, in table order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable kebab-case id.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// Severity when the user overrides nothing; `None` for opt-in rules, which
            /// report only when `--severity RULE=LEVEL` turns them on.
            pub fn default_severity(self) -> Option<Severity> {
                match self { $(Rule::$variant => rules!(@level $severity),)* }
            }

            /// The lowest severity the rule may be set to: `io-error` means part of the store
            /// was not seen, which no policy may hide below a warning (git fsck's fatal
            /// message ids cannot be lowered either).
            pub fn lowest_severity(self) -> Option<Severity> {
                match self {
                    Rule::IoError => Some(Severity::Warning),
                    _ => None,
                }
            }

            /// The spec document and section (or other source) the rule enforces.
            pub fn spec(self) -> &'static str {
                match self { $(Rule::$variant => $spec,)* }
            }

            /// One line: what the rule checks.
            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary,)* }
            }

            /// Why it matters and what to do about it.
            pub fn why(self) -> &'static str {
                match self { $(Rule::$variant => $why,)* }
            }
        }
    };
    (@level Off) => { None };
    (@level $severity:ident) => { Some(Severity::$severity) };
}

rules! {
    /// `oci-layout` is absent.
    LayoutMarkerMissing = "layout-marker-missing", Error, "image-layout.md § oci-layout file",
        summary: "the layout has no oci-layout file",
        why: "\"The oci-layout file MUST exist\" and is how tools recognise a layout and its version. Without it, readers cannot tell which layout version the directory follows.";
    /// `imageLayoutVersion` is not one this tool understands.
    LayoutVersionUnsupported = "layout-version-unsupported", Warning, "image-layout.md § oci-layout file",
        summary: "imageLayoutVersion is not 1.0.0",
        why: "The only layout version the image-spec defines is 1.0.0. A layout that claims another version may follow rules this audit does not know; the audit goes on as if it were 1.0.0.";
    /// `blobs/` is absent or not a directory.
    LayoutBlobsMissing = "layout-blobs-missing", Error, "image-layout.md § Blobs",
        summary: "the layout has no blobs directory",
        why: "\"The blobs directory MUST exist\" (it MAY be empty). Without it no descriptor of the layout can be resolved.";
    /// `index.json` is absent.
    IndexJsonMissing = "index-json-missing", Error, "image-layout.md § index.json file",
        summary: "the layout has no index.json",
        why: "\"This REQUIRED file is the entry point for references and descriptors of the image-layout.\" Without it nothing in the layout is reachable.";
    /// A name under `blobs/` breaks the digest grammar.
    BlobNameInvalid = "blob-name-invalid", Error, "image-layout.md § Blobs; descriptor.md § Digests",
        summary: "a file under blobs/ is not named blobs/<alg>/<encoded> by the digest grammar",
        why: "Blob paths are \"blobs/<alg>/<encoded>\" and \"MUST match\" the digest grammar (registered algorithms: lower-case hex of their length). A misnamed file is unreachable by any descriptor and is often a leftover temporary file of an interrupted writer.";
    /// Something under `blobs/` is not a regular file (directory, symlink, FIFO, device).
    BlobNotRegular = "blob-not-regular", Error, "image-layout.md § Blobs",
        summary: "an entry under blobs/ is a symlink, FIFO, socket, device or directory where a blob file (or an algorithm directory) belongs",
        why: "Blobs are files of content. A symlink may point out of the store, a FIFO would block a reader and a device has no content: none of them is followed or opened.";
    /// Blob content does not hash to its name.
    BlobDigestMismatch = "blob-digest-mismatch", Error, "image-layout.md § Blobs; descriptor.md § Verification",
        summary: "a blob's content does not hash to the digest in its name",
        why: "\"The content of blobs/<alg>/<encoded> MUST match the digest <alg>:<encoded>\". The content is corrupt (bit rot, a truncated write, tampering): every image using it is broken. Restore the blob from a good copy.";
    /// A blob nothing reachable names.
    BlobUnreferenced = "blob-unreferenced", Info, "image-layout.md § Blobs",
        summary: "a blob nothing reachable names: index.json in a layout, a linked manifest in a Distribution root",
        why: "\"The blobs directory MAY contain blobs which are not referenced by any of the refs\", so this is not an error; it is space a garbage collection would reclaim (git fsck's dangling/unreachable). The finding carries the blob's bytes. In a Distribution root it is exactly what `registry garbage-collect` would delete (with --untagged: what --delete-untagged would, keeping children of tagged indexes and referrers of kept manifests).";
    /// A zot 0-byte marker whose digest has no full copy in the root.
    BlobMarkerUnresolved = "blob-marker-unresolved", Error, "zot pkg/storage (s3 driver Link, imagestore DedupeBlob)",
        summary: "a 0-byte marker blob of a zot root whose digest has no full copy anywhere in the root: the content is lost",
        why: "zot on object storage stores a deduplicated blob once and leaves a 0-byte marker in every other repository, resolved through its cache database to the full copy (in _blobstore, or the first repository that pushed it). When no full copy of the digest is left anywhere, every pull of that blob fails: restore it from a good copy. Outside a zot root a 0-byte blob is judged by its digest and size like any other.";
    /// A blob whose algorithm this tool cannot hash.
    BlobUnverifiable = "blob-unverifiable", Warning, "descriptor.md § Digests",
        summary: "a blob's digest algorithm is grammatical but not one this tool can compute",
        why: "Digests with unregistered algorithms \"SHOULD pass validation\" but their content cannot be re-hashed, so nothing vouches for it. This is not corruption; only sha256, sha512 and blake3 are verified.";
    /// A descriptor names a blob that is absent.
    DescriptorBlobMissing = "descriptor-blob-missing", Error, "image-layout.md § Blobs; manifest.md; image-index.md",
        summary: "a descriptor names a blob that is not in the store",
        why: "A missing manifest, config or layer makes the image unusable. The layout spec lets a layout be sparse (\"MAY be missing referenced blobs\"); for such stores lower the severity with --severity descriptor-blob-missing=warning.";
    /// A missing blob whose descriptor carries `urls`.
    DescriptorBlobExternal = "descriptor-blob-external", Info, "descriptor.md § urls; layer.md § Non-distributable layers",
        summary: "a blob absent from the store but named with urls to fetch it from",
        why: "Non-distributable (foreign) layers are fetched from their urls, so their absence is expected; this is reported so the dependency on an outside server is visible.";
    /// A descriptor's size differs from the blob's.
    DescriptorSizeMismatch = "descriptor-size-mismatch", Error, "descriptor.md § Properties (size)",
        summary: "a descriptor's size differs from the length of the blob it names",
        why: "\"size … SHOULD be used as a pre-check to verify content\"; content whose length differs \"SHOULD NOT be trusted\". Pullers reject such content.";
    /// A descriptor digest breaks the grammar.
    DescriptorDigestInvalid = "descriptor-digest-invalid", Error, "descriptor.md § Digests",
        summary: "a digest string breaks the digest grammar or its algorithm's encoding",
        why: "Digests MUST match `algorithm \":\" encoded` and registered algorithms fix their encoding (sha256 and blake3: 64 lower-case hex, sha512: 128). An invalid digest names nothing.";
    /// A `mediaType` or `artifactType` breaks RFC 6838.
    DescriptorMediaTypeInvalid = "descriptor-media-type-invalid", Error, "descriptor.md § Properties (mediaType, artifactType)",
        summary: "a mediaType or artifactType breaks the RFC 6838 grammar",
        why: "\"Values MUST comply with RFC 6838, including the naming requirements in its section 4.2\". Unknown but grammatical types are fine; ungrammatical ones are not.";
    /// A descriptor says index where the document is a manifest, or the reverse.
    DescriptorMediaTypeMismatch = "descriptor-media-type-mismatch", Error, "manifest.md, image-index.md § mediaType; GHSA-77vh-xpmg-72qh",
        summary: "a descriptor names an index where the document is a manifest, or a manifest where it is an index (by its mediaType or shape)",
        why: "media-types.md lets a reader respect the descriptor's type when the digest matches, so one set of bytes is read as an index by one client and as a manifest by another: the CVE-2021-41190 confusion. A disagreement of the same kind (OCI against Docker) is descriptor-media-type-variant.";
    /// A descriptor and its document name the same kind of document with different types.
    DescriptorMediaTypeVariant = "descriptor-media-type-variant", Warning, "media-types.md § Compatibility Matrix",
        summary: "a descriptor's mediaType differs from the document's own, though both name a manifest (or both an index): OCI against Docker schema 2",
        why: "media-types.md: \"Respect the expected media type if the blob matches the expected digest. Implementations MAY warn about the media type mismatch.\" The shapes are compatible, so pulls work, but tools that dispatch on the type may treat the image differently.";
    /// Embedded `data` differs from the content.
    DescriptorDataMismatch = "descriptor-data-mismatch", Error, "descriptor.md § Embedded content",
        summary: "a descriptor's embedded data does not match its size and digest",
        why: "\"The decoded data MUST be identical to the referenced content and SHOULD be verified against the digest and size fields\". Readers that use the embedded copy would get different bytes.";
    /// JSON that does not parse.
    DocumentJsonInvalid = "document-json-invalid", Error, "considerations.md § JSON",
        summary: "a document (index, manifest, config, oci-layout) is not valid UTF-8 JSON",
        why: "Every document is I-JSON (RFC 7493). A document that does not parse cannot be used; often it is truncated.";
    /// A field missing, of the wrong type, or with a value the schema forbids.
    DocumentSchemaInvalid = "document-schema-invalid", Error, "manifest.md, image-index.md, config.md, descriptor.md, image-layout.md; schema/*.json",
        summary: "a document breaks its schema: required field missing, wrong JSON type, value out of range",
        why: "The spec's properties are REQUIRED or typed; readers reject documents that break them. Each bad field is reported with its JSON pointer; the audit goes on with the rest.";
    /// A document larger than `--max-document-size`.
    DocumentTooLarge = "document-too-large", Error, "distribution-spec § Pushing manifests (4 MiB)",
        summary: "an index, manifest or config is larger than --max-document-size",
        why: "Registries need only accept manifests up to 4 MiB; larger documents are not parsed (they would cost memory), only hashed.";
    /// A document omits `mediaType`.
    DocumentMediaTypeMissing = "document-media-type-missing", Off, "manifest.md, image-index.md § mediaType",
        summary: "an index or manifest does not carry its own mediaType",
        why: "mediaType \"SHOULD be used\": without it the document's kind is guessed from its shape, which is what the CVE-2021-41190 ambiguity abused. Off by default: umoci and skopeo write layouts whose index.json and manifests omit it, and the descriptor naming a document already states its type (a disagreement is descriptor-media-type-mismatch). Turn it on with --severity document-media-type-missing=warning.";
    /// Both `manifests` and `config`/`layers`.
    ManifestAmbiguous = "manifest-ambiguous", Error, "GHSA-77vh-xpmg-72qh (CVE-2021-41190); image-spec v1.0.2",
        summary: "a document has both manifests and config/layers, so it reads as an index and as a manifest",
        why: "Such a document can be interpreted as an index by one client and as a manifest by another, with different content. Image-spec 1.0.2 forbids it.";
    /// `artifactType` absent although config is the empty type.
    ManifestArtifactTypeMissing = "manifest-artifact-type-missing", Error, "manifest.md § artifactType",
        summary: "a manifest whose config is the empty descriptor does not set artifactType",
        why: "\"This MUST be set when config.mediaType is set to the empty value\"; without it the artifact's type is lost.";
    /// `layers` is empty.
    ManifestLayersEmpty = "manifest-layers-empty", Error, "manifest.md § layers; schema/image-manifest-schema.json (minItems 1)",
        summary: "a manifest has an empty layers array",
        why: "The prose says layers \"SHOULD have at least one entry\"; the spec's JSON schema (and its own tests) reject an empty array. Lower with --severity manifest-layers-empty=warning if you store such artifacts on purpose.";
    /// rootfs.diff_ids and layers disagree in count.
    ConfigDiffIdsMismatch = "config-diff-ids-mismatch", Error, "config.md § rootfs",
        summary: "an image config's rootfs.diff_ids does not have one entry per layer of the manifest",
        why: "diff_ids are the uncompressed layer digests \"in order from first to last\"; a count that differs from the manifest's layers means the image cannot be unpacked and verified.";
    /// An index names a child manifest or index the store lacks.
    IndexManifestMissing = "index-manifest-missing", Warning, "image-layout.md § Blobs; image-index.md § manifests",
        summary: "an index names a manifest or nested index that is not in the store (a sparse index)",
        why: "image-layout.md: \"The blobs directory MAY be missing referenced blobs\". `oras copy --platform`, `crane pull --platform` and registry mirrors keep only some platforms of an index on purpose; the absent ones cannot be pulled from this store. The coverage report says how many of each index's platforms are present. A missing config or layer of a manifest that is present stays descriptor-blob-missing, and a layout's index.json entry (a tag) whose manifest is absent does too.";
    /// The withdrawn OCI artifact manifest type.
    ArtifactManifestWithdrawn = "artifact-manifest-withdrawn", Warning, "image-spec v1.1.0-rc1/rc2 artifact.md; v1.1.0 release notes",
        summary: "a document is an OCI artifact manifest (application/vnd.oci.artifact.manifest.v1+json), a type withdrawn before image-spec 1.1.0",
        why: "The artifact manifest existed in image-spec 1.1.0-rc1 and rc2 and was removed before 1.1.0 in favour of image manifests with artifactType. Registries still hold them and current clients may refuse them; its blobs and subject are followed as usual. Re-push such artifacts as image manifests (oras does so since 1.0).";
    /// An index reaches itself.
    IndexCycle = "index-cycle", Error, "image-index.md § manifests",
        summary: "an index refers, directly or through nested indexes, back to itself",
        why: "Cycles cannot be created with content addressing unless digests collide or a document is edited in place; clients that follow them never finish.";
    /// An index entry for a manifest has no platform.
    IndexPlatformMissing = "index-platform-missing", Warning, "image-index.md § manifests (platform)",
        summary: "an index entry that names an image manifest has no platform",
        why: "platform \"SHOULD be present if its target is platform-specific\"; without it clients cannot pick an image and coverage reports cannot count it. index.json entries (tags of a layout) are exempt.";
    /// Two entries claim the same platform.
    IndexPlatformDuplicate = "index-platform-duplicate", Info, "image-index.md § manifests",
        summary: "two entries of one index claim the same platform",
        why: "Legal (\"the first match SHOULD be used\"), but the later entries are then never chosen by a client.";
    /// An index entry's platform disagrees with the image's config.
    IndexPlatformMismatch = "index-platform-mismatch", Warning, "image-index.md § platform; config.md",
        summary: "an index entry's platform disagrees with the os/architecture/variant of the image config it names",
        why: "Clients select by the index's platform and then run the image; if the config says otherwise, the wrong binary is pulled for that platform.";
    /// A `subject` names a manifest the store lacks.
    SubjectMissing = "subject-missing", Warning, "manifest.md § subject; distribution-spec § Pushing manifests with subject",
        summary: "a subject descriptor names a manifest that is not in the store",
        why: "subject \"defines a weak association to a separate Merkle Directed Acyclic Graph (DAG) structure\": registries accept a referrer before its subject. In a store meant to be complete, the referrer (signature, SBOM) now describes nothing present; the finding's bytes are what deleting it would reclaim.";
    /// A referrers fallback index lists a manifest the store lacks.
    ReferrersIndexEntryMissing = "referrers-index-entry-missing", Error, "distribution-spec § Referrers Tag Schema; § Listing Referrers",
        summary: "a referrers fallback tag's index lists a manifest that is not in the store, or not in its repository",
        why: "On a registry without the referrers API, the tag <alg>-<ref> \"should return an image index matching the expected response of the referrers API\", whose descriptors are each \"of an image manifest or index in the same <name> namespace\". A client that lists referrers through the tag and pulls this one gets a 404: a signature or SBOM it was told exists is not there. Usually a referrer deleted without its entry being removed (\"Deleting Manifests\": clients SHOULD remove the descriptor entry).";
    /// A manifest with a subject is missing from its subject's fallback index.
    ReferrersIndexIncomplete = "referrers-index-incomplete", Warning, "distribution-spec § Pushing Manifests with Subject",
        summary: "a manifest with a subject is not listed in that subject's referrers fallback tag",
        why: "A client pushing a manifest with a subject to a registry without the referrers API MUST pull the fallback index, append a descriptor of the manifest and push it back. The spec warns: \"multiple clients could attempt to update the tag simultaneously resulting in race conditions and data loss.\" A referrer missing from the index is invisible to every client that lists referrers through the tag: a signature that verifiers never see. Push the index again with the entry added.";
    /// A fallback index entry says other than the referrer it names.
    ReferrersIndexEntryMismatch = "referrers-index-entry-mismatch", Warning, "distribution-spec § Pushing Manifests with Subject; § Listing Referrers",
        summary: "a referrers fallback index entry's artifactType or annotations differ from the manifest's own",
        why: "\"The value of the artifactType MUST be set to the artifactType value in the pushed manifest, if present. If the artifactType is empty or missing in a pushed image manifest, the value of artifactType MUST be set to the config descriptor mediaType value. All annotations from the pushed manifest MUST be copied to this descriptor.\" Clients filter referrers by artifactType (?artifactType= or by hand) and read annotations from the list without pulling each manifest; an entry that says otherwise hides the referrer from a filter or misdescribes it.";
    /// A tag of the fallback form holds something other than an image index.
    ReferrersTagNotIndex = "referrers-tag-not-index", Error, "distribution-spec § Referrers Tag Schema; § Pushing Manifests with Subject",
        summary: "a tag of the referrers fallback form <alg>-<ref> holds something other than an image index",
        why: "The fallback tag \"should return an image index matching the expected response of the referrers API\"; \"If that pull returns a manifest other than the expected image index, the client SHOULD report a failure and skip the remaining steps.\" Every client that pushes a referrer of that digest then fails, and none can list its referrers. Rename the tag if it is an image, or replace it with the referrers index.";
    /// A fallback index lists a manifest whose subject is another digest.
    ReferrersTagSubjectMismatch = "referrers-tag-subject-mismatch", Error, "distribution-spec § Listing Referrers",
        summary: "a referrers fallback index lists a manifest whose subject is not the digest the tag names",
        why: "Each descriptor of a referrers list is of a manifest \"with a subject field that specifies the value of <digest>\". An entry whose manifest refers to something else (or to nothing) makes clients attach a signature or SBOM to the wrong image.";
    /// A cosign or fallback tag whose subject the repository lacks.
    ReferrerTagOrphaned = "referrer-tag-orphaned", Warning, "distribution-spec § Deleting Manifests; cosign tag convention",
        summary: "a cosign tag (sha256-<hex>.sig/.att/.sbom) or referrers fallback tag names a digest that is not in its repository",
        why: "Signatures, attestations and SBOMs are tagged after the digest they describe; when that image is deleted, the tags stay (\"clients MAY also delete the referrers tag\"), and the registry's garbage collection keeps them because they are tagged. They describe nothing, and their bytes are reclaimable: delete the tag, then collect garbage.";
    /// `--require signature`: a tag without a signature.
    TagSignatureMissing = "tag-signature-missing", Error, "(policy: --require signature)",
        summary: "with --require signature: a tag of an image has no signature (cosign, Sigstore bundle or notation)",
        why: "Reported only when --require asks for it, so that a nightly job fails on an unsigned tag. A signature counts when it refers to the tag's digest or to a manifest its index lists, through a cosign tag, a referrers fallback tag or a manifest with a subject; whether it verifies is not checked here.";
    /// `--require sbom`: a tag without an SBOM.
    TagSbomMissing = "tag-sbom-missing", Error, "(policy: --require sbom)",
        summary: "with --require sbom: a tag of an image has no SBOM (SPDX, CycloneDX, Syft; as an artifact or in-toto predicate)",
        why: "Reported only when --require asks for it. An SBOM counts as an artifact of an SBOM type, a cosign .sbom tag, an attestation with an SPDX or CycloneDX predicate, or a BuildKit attestation manifest in the image's index.";
    /// `--require provenance`: a tag without provenance.
    TagProvenanceMissing = "tag-provenance-missing", Error, "(policy: --require provenance)",
        summary: "with --require provenance: a tag of an image has no provenance (a SLSA predicate)",
        why: "Reported only when --require asks for it. Provenance counts as an in-toto attestation with a SLSA provenance predicate, from cosign, a Sigstore bundle or BuildKit.";
    /// An annotation value breaks its key's documented format.
    AnnotationValueInvalid = "annotation-value-invalid", Warning, "annotations.md § Pre-Defined Annotation Keys",
        summary: "a pre-defined annotation has a value outside its documented format",
        why: "org.opencontainers.image.ref.name SHOULD follow the ref grammar and org.opencontainers.image.created is an RFC 3339 date-time; tools that parse them fail on other values.";
    /// A path under a Distribution root's `blobs/` that breaks `<alg>/<2 hex>/<encoded>/data`.
    RegistryBlobPathInvalid = "registry-blob-path-invalid", Error, "distribution registry/storage/paths.go (blobDataPathSpec)",
        summary: "a path under blobs/ is not blobs/<alg>/<first 2 hex>/<encoded>/data",
        why: "The registry finds a blob only at blobs/<alg>/<first two characters>/<encoded>/data. Content in the wrong shard, under a name that is not a digest, or without its data file can never be served, and garbage collection may stumble on it. Often the leftover of a copy or restore done by hand.";
    /// A `link` file that is empty, not a digest, or not a regular file.
    RegistryLinkInvalid = "registry-link-invalid", Error, "distribution registry/storage/paths.go; blobstore.go (readlink)",
        summary: "a link file is empty, does not hold a digest, or is missing from a tag",
        why: "A link holds exactly one digest. A zero-byte or garbled link (a crash mid-write, a full disk, a bad sync) makes the registry answer 500 or 404 for the manifest, tag or layer, and `registry garbage-collect` stops at the first one without naming it.";
    /// A revision, tag-index or layer link whose content differs from the digest in its path.
    RegistryLinkPathMismatch = "registry-link-path-mismatch", Error, "distribution registry/storage/paths.go",
        summary: "a revision, tag index or layer link holds a digest other than the one its path names",
        why: "Revision, tag-index and layer links live at <alg>/<encoded>/link and must hold that same digest: the registry looks a digest up by path and serves what the link names. A mismatch serves different content than was asked for.";
    /// A link whose target blob does not exist, where something needs it.
    RegistryLinkTargetMissing = "registry-link-target-missing", Error, "distribution registry/storage/linkedblobstore.go",
        summary: "a manifest revision, a tag, or a layer a linked manifest uses, links a blob that does not exist",
        why: "The registry resolves the link and then finds no data: pulls fail with unknown manifest or unknown blob. Links nobody needs any more are reported by registry-link-dangling instead.";
    /// A layer or tag-index link whose blob is gone, which nothing needs.
    RegistryLinkDangling = "registry-link-dangling", Info, "distribution registry/storage/garbagecollect.go",
        summary: "a layer or tag-history link names a blob that is gone, and nothing needs it",
        why: "distribution 2.x garbage collection deletes unused blobs but leaves their _layers links, and deleting a manifest leaves other tags' history links: harmless leftovers that make the repository claim content it does not have. distribution 3 removes layer links during collection.";
    /// A tag whose current manifest has no revision link in the repository.
    RegistryTagRevisionMissing = "registry-tag-revision-missing", Error, "distribution registry/storage/tagstore.go",
        summary: "a tag points at a manifest that has no revision link in the same repository",
        why: "Pulling the tag resolves the digest and then asks the repository for that manifest revision: without the revision link the pull fails with manifest unknown, and garbage collection does not keep the manifest.";
    /// A config, layer or child manifest a linked manifest names, not linked in the repository.
    RegistryReferenceUnlinked = "registry-reference-unlinked", Error, "distribution registry/storage/linkedblobstore.go; manifest verification",
        summary: "a linked manifest names a config, layer or child manifest that is not linked in the same repository",
        why: "The registry serves a repository only what it links: a manifest whose config or layer has no _layers link, or an index whose child has no revision link, fails to pull with blob unknown or manifest unknown even though the blob exists. Layers with urls (non-distributable) are exempt.";
    /// A repository name that breaks the distribution-spec grammar.
    RegistryRepositoryNameInvalid = "registry-repository-name-invalid", Error, "distribution-spec § Pulling manifests (<name>)",
        summary: "a repository name breaks [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*",
        why: "No client can address a repository whose name breaks the grammar (upper case, a leading separator, a component that is not UTF-8), so its content is unreachable, usually after a copy by hand.";
    /// A tag that breaks the distribution-spec grammar.
    RegistryTagInvalid = "registry-tag-invalid", Error, "distribution-spec § Pulling manifests (<reference>)",
        summary: "a tag breaks [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
        why: "A tag that breaks the grammar cannot be pulled or listed by conforming clients.";
    /// An upload older than `--upload-max-age`.
    RegistryUploadStale = "registry-upload-stale", Warning, "distribution registry/storage/purgeuploads.go",
        summary: "an upload started longer ago than --upload-max-age (default 168h) and never finished",
        why: "The registry purges uploads older than a week (uploadpurging, on by default). An older one means purging is off or failing; its bytes are wasted space.";
    /// An upload without a readable `startedat`.
    RegistryUploadInvalid = "registry-upload-invalid", Warning, "distribution registry/storage/purgeuploads.go",
        summary: "an upload has no readable startedat, so the registry never purges it",
        why: "The purger reads startedat to decide an upload's age; without it the upload is treated as new forever and its bytes are never reclaimed.";
    /// A Docker schema 1 manifest.
    RegistryManifestSchema1 = "registry-manifest-schema1", Warning, "distribution docs: deprecated schema1; distribution v3 (#4358)",
        summary: "a linked manifest is Docker schema 1 (deprecated)",
        why: "Schema 1 was deprecated in 2017 and distribution 3, containerd 2 and Docker 28 refuse it. Images still stored this way cannot be pulled by current clients; re-push them as schema 2 or OCI.";
    /// A registry's `Docker-Content-Digest` names another digest than the one asked for.
    HttpDigestHeaderMismatch = "http-digest-header-mismatch", Error, "distribution-spec § Pulling manifests (Docker-Content-Digest)",
        summary: "a registry's Docker-Content-Digest header names another digest than the content asked for by digest",
        why: "\"If a Docker-Content-Digest header is returned, the client SHOULD verify that it matches the digest of the content\" and clients that pin by the header (docker pull, containerd) pin the wrong image or refuse it. A proxy or cache that rewrites answers, or a registry serving one manifest under another's digest, does this; fix or bypass it.";
    /// A tag a registry lists but cannot serve.
    HttpTagUnresolvable = "http-tag-unresolvable", Error, "distribution-spec § Content discovery (tags/list), § Pulling manifests",
        summary: "a tag the registry's tag list names answers 404 to its manifest request",
        why: "The tag list says the tag exists, yet pulling it fails with MANIFEST_UNKNOWN: its manifest was deleted while the tag stayed (on a Distribution root, a current link to a revision or blob that is gone). Every pull of the tag fails; re-push it or delete the tag.";
    /// An answer that kept failing.
    HttpRequestFailed = "http-request-failed", Error, "(tool) distribution-spec § Error codes",
        summary: "a registry request had no usable answer: 5xx, 429 or a dropped connection after every retry, or a refusal (401, 403) of one repository",
        why: "What the registry will not serve cannot be audited, and clients pulling it meet the same failure. The finding names the URL and the last answer; the audit goes on without it. A 403 on one repository is also reported so: the credentials do not reach it.";
    /// A member whose name, or link target, would land outside the extraction directory.
    ArchiveMemberUnsafe = "archive-member-unsafe", Error, "POSIX pax/ustar; moby pkg/archive (breakoutError), Go filepath.IsLocal",
        summary: "an archive member's name is absolute or holds .., or a link member points outside the archive",
        why: "Extracting such a member writes outside the target directory (the classic tar path traversal); docker load refuses it as a breakout. oci-audit never extracts: the member is reported, left out of the audit, and the rest of the archive is audited.";
    /// A name that occurs more than once.
    ArchiveMemberDuplicate = "archive-member-duplicate", Warning, "POSIX pax (later members replace earlier ones)",
        summary: "an archive holds several members of one name; the last is audited, as extraction would leave it",
        why: "Tools disagree on duplicates: extraction keeps the last, a reader that stops at the first match sees the first. The two can hold different content, so what one tool verified is not what another loads.";
    /// A symlink or hard link member that stays inside the archive.
    ArchiveMemberLink = "archive-member-link", Info, "POSIX pax/ustar; containers/image docker/internal/tarfile (legacy layer.tar links)",
        summary: "an archive member is a symlink or hard link to another member; it is reported and not followed",
        why: "skopeo's and older Docker's docker-archive write <id>/layer.tar as a symlink to the layer; nothing an image needs is reached only through one. A link is not followed by the layout audit (as on disk); a Docker manifest.json that names one is resolved inside the archive.";
    /// A device, FIFO or other special member.
    ArchiveMemberSpecial = "archive-member-special", Error, "POSIX pax/ustar; image-layout.md",
        summary: "an archive member is a device node, FIFO or other special file",
        why: "An image archive holds only files, directories and links; extracting a device node as root creates one. The member is reported and never read.";
    /// The archive ends early.
    ArchiveTruncated = "archive-truncated", Error, "POSIX pax/ustar (end-of-archive: two zero blocks)",
        summary: "an archive ends inside a member or header, or without its end-of-archive blocks",
        why: "A cut transfer or a full disk. Members read whole before the cut are audited; the member cut short and everything after it are missing, and findings that follow from that say so.";
    /// The archive cannot be read past some point.
    ArchiveCorrupt = "archive-corrupt", Error, "POSIX pax/ustar; RFC 1952 (gzip); RFC 8878 (zstd)",
        summary: "an archive's compressed stream does not decompress, or a tar header is not one",
        why: "The bytes from that point on cannot be trusted to be the archive's. Members read whole before it are audited; the rest are not.";
    /// A member over a limit meant to bound memory.
    ArchiveLimit = "archive-limit", Error, "(tool)",
        summary: "an archive exceeds a limit that bounds memory: member count, name length, extended header size",
        why: "A name or header of gigabytes, or millions of members, is a way to exhaust a reader's memory; no image archive needs them. What is over the limit is skipped (the member count: the rest of the archive is not read).";
    /// manifest.json is not what docker load reads.
    DockerManifestInvalid = "docker-manifest-invalid", Error, "moby image/tarexport (manifestItem)",
        summary: "a Docker archive's manifest.json is not a JSON array of {Config, RepoTags, Layers}",
        why: "docker load reads manifest.json to find each image's config and layers; one it cannot read loads nothing.";
    /// A config or layer manifest.json names is not in the archive.
    DockerMemberMissing = "docker-member-missing", Error, "moby image/tarexport/load.go",
        summary: "a Docker archive's manifest.json names a config or layer the archive does not hold",
        why: "docker load fails on the first image whose config or layer is missing.";
    /// A member's content does not match the digest its name says.
    DockerDigestMismatch = "docker-digest-mismatch", Error, "moby image/tarexport (blobs/sha256/<hex>, <hex>.json)",
        summary: "a Docker archive's config or layer does not hash to the digest its name says",
        why: "Docker names a config by its digest (the image ID) and, since Docker 25, layers by theirs; content that does not match was corrupted or altered after it was written.";
    /// A layer that does not hash to its diff_id.
    DockerDiffIdMismatch = "docker-diff-id-mismatch", Error, "config.md § rootfs; moby load.go (invalid diffID)",
        summary: "a Docker archive's layer does not hash to the config's rootfs.diff_ids entry, or the counts differ",
        why: "diff_ids are the digests of the uncompressed layers; docker load refuses a layer whose content differs (invalid diffID for layer) or a layer count that differs (layers length mismatch).";
    /// A compressed layer whose diff_id was not computed.
    DockerDiffIdUnverified = "docker-diff-id-unverified", Info, "config.md § rootfs",
        summary: "a Docker archive's layer is compressed, so its diff_id was not checked",
        why: "The archive is read once and layers are not decompressed, so a compressed layer (the containerd image store's docker save writes them) is checked against its name's digest only.";
    /// A RepoTag that breaks the reference grammar.
    DockerRepoTagInvalid = "docker-repo-tag-invalid", Error, "distribution/reference regexp.go (ParseNormalizedNamed, NamedTagged)",
        summary: "a Docker archive's RepoTags entry is not a name:tag in the reference grammar",
        why: "docker load parses each RepoTag with ParseNormalizedNamed and stops at one it cannot (invalid tag), so the archive does not load.";
    /// `repositories` and manifest.json disagree.
    DockerRepositoriesMismatch = "docker-repositories-mismatch", Warning, "moby image/tarexport (legacy repositories file)",
        summary: "a Docker archive's repositories file names tags that manifest.json does not, or the reverse",
        why: "Older loaders read repositories instead of manifest.json; when the two disagree, what is tagged depends on who loads the archive.";
    /// The Docker and OCI views of a Docker 25+ archive disagree.
    DockerOciMismatch = "docker-oci-mismatch", Error, "moby image/tarexport/save.go (Docker 25+: manifest.json beside index.json)",
        summary: "a Docker archive that is also an OCI layout lists an image whose config or layers no OCI manifest of index.json has",
        why: "Since Docker 25, docker save writes both views of each image; a loader reads one, an OCI tool the other. When they disagree, the image depends on the tool.";
    /// containerd's `meta.db`, or a record in it, does not parse.
    ContainerdMetadataUnreadable = "containerd-metadata-unreadable", Error, "containerd metadata/buckets.go (bbolt)",
        summary: "containerd's meta.db, or one of its records (an image target, a content record, a lease), does not parse",
        why: "containerd keeps its images, content records and leases in a bbolt file; a page that does not parse, or a record without its fields, leaves what it holds unknown to containerd as to the audit. The finding names the record by its bucket path as a JSON pointer (/v1/<namespace>/images/<name>/target); the rest of the file is read on. When meta.db itself does not parse, no image, record or lease is checked.";
    /// A content record whose blob is absent.
    ContainerdContentMissing = "containerd-content-missing", Error, "containerd metadata/content.go",
        summary: "containerd's meta.db records a blob in a namespace that the content store does not hold",
        why: "containerd answers Info for the recorded digest and then fails to open it: pulls and unpacks fail with \"content digest not found\", and containerd does not fetch it again because it believes it has it. Delete the image and pull it again, or remove the record (ctr content rm).";
    /// A blob an image needs that its namespace does not record.
    ContainerdContentUnrecorded = "containerd-content-unrecorded", Error, "containerd metadata/content.go (namespaced content)",
        summary: "an image's manifest names a config or manifest that its containerd namespace has no record of, though another namespace keeps the file",
        why: "containerd's content is namespaced: a namespace reads only the blobs it records, whatever files the store shares. The image cannot be unpacked or run in that namespace (\"content digest not found\"), and a garbage collection in the namespace that keeps the file may delete it. Pull or import the image again in that namespace. A layer without a record is not reported: containerd discards layers once unpacked.";
    /// A blob an image needs that containerd's collector would delete.
    ContainerdContentUnprotected = "containerd-content-unprotected", Warning, "containerd metadata/gc.go (gc.ref labels)",
        summary: "a blob an image needs, which containerd's garbage collection would delete: no containerd.io/gc.ref label, lease or gc.root keeps it",
        why: "containerd's collector never reads a manifest: it keeps an image's target, and from a content record follows only its containerd.io/gc.ref.content* labels, which the puller sets on each manifest and index for their children. A child no label names is deleted at the next collection, and the image breaks (\"content digest not found\"). Pull the image again so its labels are set, or label the record (ctr content label).";
    /// A layer's `containerd.io/uncompressed` label is not its diff_id.
    ContainerdUncompressedLabelMismatch = "containerd-uncompressed-label-mismatch", Warning, "containerd images/diffid.go, pkg/unpack (containerd.io/uncompressed)",
        summary: "the containerd.io/uncompressed label of a layer's record is not the diff_id its image config lists for that layer",
        why: "containerd records the digest of a layer's uncompressed content in this label when it unpacks or converts the layer, and trusts it afterwards instead of decompressing again (diff IDs for export, conversion and snapshot lookups). A label that disagrees with the config's rootfs.diff_ids makes those operations build on a layer that is not the image's: the record was edited, or the layer replaced under the same digest. Remove the label (ctr content label DIGEST containerd.io/uncompressed=) so containerd computes it again.";
    /// A content record whose size is not its blob's.
    ContainerdContentSizeMismatch = "containerd-content-size-mismatch", Error, "containerd metadata/content.go",
        summary: "a blob of containerd's content store is not the size its record in meta.db says",
        why: "containerd serves the recorded size: a reader stops short or finds extra bytes (\"unexpected EOF\", \"failed to extract layer\"). The blob was truncated or replaced behind containerd's back.";
    /// An ingest nothing has written to for longer than --upload-max-age.
    ContainerdIngestStale = "containerd-ingest-stale", Warning, "containerd plugins/content/local/store.go",
        summary: "an ingest (a write to containerd's content store that never finished) untouched for longer than --upload-max-age",
        why: "An interrupted pull or import leaves ingest/<hash>/{ref,data,updatedat}; containerd resumes it when the same ref is written again, and its garbage collection removes it only once its lease expires. One older than --upload-max-age (default 168h) is wasted space: `ctr content active` lists it, `ctr content rm` or a restart with garbage collection removes it.";
    /// containers-storage's `images.json` or `layers.json` is missing or does not parse.
    ContainersStorageMetadataUnreadable = "containers-storage-metadata-unreadable", Error, "containers/storage images.go, layers.go",
        summary: "containers-storage's images.json, layers.json or containers.json is missing or does not parse",
        why: "containers-storage keeps every image and layer it knows in these files (rewritten whole under its lock files). A torn or missing one leaves podman, CRI-O and buildah unable to list or use what the store holds; the audit checks nothing that depends on it.";
    /// An image's big-data item has no file.
    ContainersStorageBigDataMissing = "containers-storage-big-data-missing", Error, "containers/storage images.go (big data)",
        summary: "an image's big-data item (its manifest, config or a signature) that images.json lists has no file",
        why: "The image's manifest or config is read from these files: the image cannot be run, pushed or inspected. Pull it again.";
    /// An image's big-data item is not the size images.json records.
    ContainersStorageBigDataMismatch = "containers-storage-big-data-mismatch", Error, "containers/storage images.go (big data)",
        summary: "an image's big-data item is not the size that images.json records for it",
        why: "containers-storage records each item's size (and digest) when it writes it; content of another size was cut short or replaced, and the image's manifest or config cannot be trusted. (Content of the recorded size that does not hash to the recorded digest is blob-digest-mismatch, from the verify phase.) Pull the image again.";
    /// A layer an image or container needs is not in layers.json.
    ContainersStorageLayerMissing = "containers-storage-layer-missing", Error, "containers/storage layers.go",
        summary: "an image's top layer, a container's layer, or a layer's parent is not in layers.json",
        why: "A layer's chain must reach a base layer through parents that all exist; one missing breaks every image and container above it (\"layer not known\").";
    /// A layer's tar-split is missing or does not decode.
    ContainersStorageTarSplitMissing = "containers-storage-tar-split-missing", Error, "containers/storage layers.go (tar-split)",
        summary: "a layer's tar-split (<driver>-layers/<id>.tar-split.gz) is missing or does not decode",
        why: "The tar-split records how to re-assemble the layer's original tar from its unpacked files; without it the layer cannot be pushed, saved or checked against its diff digest, though containers still run.";
    /// An image's layer chain is not the one its config lists.
    ContainersStorageLayerChainMismatch = "containers-storage-layer-chain-mismatch", Error, "containers/storage images.go, layers.go; image-spec config.md (rootfs.diff_ids)",
        summary: "an image's layer chain in layers.json (its top layer down to a base) is not the layers its config's rootfs.diff_ids lists",
        why: "containers-storage runs an image as the chain from its top layer down, and pushes those layers; its config names the layers by their uncompressed digests, base first. A chain of another length, or a layer whose diff-digest is not the diff_id at its place, means the image record points at another image's layers or a layer was swapped under it: containers see other files than the config describes, and a push publishes layers the config does not name (which a registry or a verifier rejects). Pull the image again.";
    /// A layer's tar, re-assembled from its tar-split and its files, is not its diff-digest.
    ContainersStorageLayerModified = "containers-storage-layer-modified", Error, "containers/storage layers.go (Diff), tar-split tar/asm",
        summary: "with --verify-layers: a layer's tar, re-assembled from its tar-split and its unpacked files, does not hash to the diff-digest layers.json records",
        why: "containers-storage re-assembles a layer exactly so when it pushes or saves it, and the result must be the layer's diff ID. A file changed, cut short or deleted under <driver>/ (a container or a process writing into an image's layer, a disk fault) gives a different tar: every container started from the image sees the changed file, and a push fails or publishes other content. The message names the files whose bytes no longer match the tar-split's checksums; when none does, the tar-split or the recorded digest changed. Only what the diff ID covers is compared, the files' bytes and the tar-split's own headers, never metadata on disk: a directory's mtime changed by a mount or a file's owner shifted by a rootless ID mapping is not a modified layer (the false alarms of `podman system check`, podman#25101). Pull the image again (podman rmi, then pull).";
    /// A file in an image's directory that images.json does not list.
    ContainersStorageBigDataUnlisted = "containers-storage-big-data-unlisted", Info, "containers/storage images.go (big data)",
        summary: "a file under <driver>-images/<id>/ that images.json lists for no image (its bytes)",
        why: "containers-storage writes a big-data item's file, then names it in images.json; a writer that stopped in between leaves a file nothing reads, and a removal that failed half-way leaves the directory of an image no longer recorded. Neither harms the images, and both take space until removed by hand (the store's own tools never look at them).";
    /// A layer no image's or container's chain uses.
    ContainersStorageLayerUnused = "containers-storage-layer-unused", Info, "containers/storage layers.go",
        summary: "a layer that no image's or container's chain uses (its unpacked bytes)",
        why: "A layer left behind by an interrupted pull or a removal that did not finish; nothing refers to it, and its unpacked files take space until it is deleted.";
    /// A finding whose evidence changed when it was read again.
    ChangedDuringAudit = "changed-during-audit", Info, "(tool)",
        summary: "a finding a concurrent writer can produce did not hold when its files were read again after --settle",
        why: "oci-audit reads a registry while it keeps serving: a tag directory is created a moment before its link, a delete by digest removes a revision before its tags, garbage collection removes blobs a listing saw. Such a finding is re-read after a short settle time before it can fail a job; when its evidence changed, it was the registry in the middle of a write, and it is reported here, with what changed, instead of as an error. Findings about content (a digest mismatch, a document that breaks the spec) are never downgraded while the content stays.";
    /// A blob some shard listed that the shard owning its slice did not.
    ShardBlobUnverified = "shard-blob-unverified", Warning, "(tool)",
        summary: "a sharded audit: a blob some shards listed was not listed by the shard whose slice it is, so no shard hashed it",
        why: "`--shard I/N` gives every blob to one shard by its digest; shards list the store at different moments, and a blob written after its owner listed the store was never hashed. Its content is unchecked, not known bad: the next run verifies it. On a store no one writes to, this means the shards audited different stores.";
    /// A blob listed by some shards and not by others.
    ShardListingChanged = "shard-listing-changed", Info, "(tool)",
        summary: "a sharded audit: a blob was listed by some shards and not by others (written or deleted while the shards ran)",
        why: "Shards of one audit list the store at different moments. A blob that appeared or vanished in between is reported here, once, instead of as a different finding in each shard; the shard that owns its slice listed it and verified what it saw.";
    /// A file or directory that could not be read.
    IoError = "io-error", Error, "(tool)",
        summary: "a file or directory could not be read (permission, I/O error, changed during the audit)",
        why: "What cannot be read cannot be audited; the finding names the path and the operating system's error, and the audit goes on without it.";
}

impl std::str::FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Rule, String> {
        Rule::ALL
            .iter()
            .copied()
            .find(|rule| rule.id() == s)
            .ok_or_else(|| format!("unknown rule id {s:?} (see `oci-audit rules`)"))
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let id = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

/// How much a finding matters. Declared low to high so `Ord` means "worse".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never a problem by itself.
    Info,
    /// Breaks a SHOULD, or is likely to surprise a client.
    Warning,
    /// Breaks a MUST: content is corrupt, missing or unreadable.
    Error,
}

impl Severity {
    /// The lower-case name used on the command line and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            _ => Err(format!("unknown severity {s:?} (error, warning, info)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &rule in Rule::ALL {
            let id = rule.id();
            assert!(seen.insert(id), "duplicate id {id}");
            assert!(
                id.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{id}"
            );
            assert_eq!(id.parse::<Rule>(), Ok(rule));
            assert!(!rule.summary().is_empty() && !rule.why().is_empty());
        }
    }
}
