//! Media types: the RFC 6838 grammar the image-spec schema enforces, and the
//! types this tool knows how to read.
//!
//! image-spec `descriptor.md`: "`mediaType` … Values MUST comply with RFC 6838, including the
//! naming requirements in its section 4.2." The spec's schema pins this down as
//! `^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`.
//! Unknown but grammatical types are not errors: "implementations MUST NOT generate an error"
//! on them (image-layout.md § index.json, manifest.md § layers).

/// OCI image index (`image-index.md`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (`manifest.md`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI artifact manifest of image-spec v1.1.0-rc1 to rc2 (`artifact.md`), withdrawn
/// before 1.1.0 in favour of image manifests with `artifactType`. Registries still hold
/// them: its `blobs` and `subject` are followed, like a manifest's layers and subject.
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
/// OCI image configuration (`config.md`).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The empty descriptor's type (`manifest.md` § Guidance for an Empty Descriptor).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The `oci-layout` file's media type.
pub const OCI_LAYOUT_HEADER: &str = "application/vnd.oci.layout.header.v1+json";
/// Docker manifest list (the compatibility matrix's counterpart of the OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker container configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker schema 1 manifest (deprecated; unsigned).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1 manifest (deprecated; signed).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Media types seen in nearly every descriptor: kept by their index in the table of
/// [`Text`](crate::model::text::Text)
/// instead of a heap copy per descriptor (a registry holds millions of descriptors).
pub(crate) const COMMON: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    OCI_ARTIFACT_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
    DOCKER_CONFIG,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.in-toto+json",
];

/// What a media type tells this tool to do with the blob it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaKind {
    /// An OCI index or a Docker manifest list: parsed, its `manifests` followed.
    Index,
    /// An OCI or Docker schema 2 image manifest, or the withdrawn OCI artifact manifest:
    /// parsed, config and layers (an artifact manifest's blobs) followed.
    Manifest,
    /// Docker schema 1: legacy, not followed.
    Schema1,
    /// An OCI or Docker image configuration: parsed and checked against config.md.
    Config,
    /// Anything else: existence, size and digest only.
    Other,
}

/// Classifies a media type string.
pub fn kind(media_type: &str) -> MediaKind {
    match media_type {
        OCI_INDEX | DOCKER_MANIFEST_LIST => MediaKind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST | OCI_ARTIFACT_MANIFEST => MediaKind::Manifest,
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => MediaKind::Schema1,
        OCI_CONFIG | DOCKER_CONFIG => MediaKind::Config,
        _ => MediaKind::Other,
    }
}

/// Whether a layer media type is a filesystem changeset (OCI `…image.layer.v1.tar*`, the
/// deprecated non-distributable variants, or Docker `…image.rootfs.*`): the layers that
/// `rootfs.diff_ids` counts. In-toto statements and other artifact "layers" are not.
pub fn is_filesystem_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// Whether `s` satisfies the RFC 6838 pattern of the image-spec schema.
pub fn is_valid(s: &str) -> bool {
    fn restricted_name(part: &str) -> bool {
        let bytes = part.as_bytes();
        (1..=127).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes[1..].iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'#' | b'$' | b'&' | b'^' | b'_' | b'.' | b'+' | b'-'
                    )
            })
    }
    match s.split_once('/') {
        Some((kind, subtype)) => restricted_name(kind) && restricted_name(subtype),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert!(is_valid(OCI_MANIFEST));
        assert!(is_valid("text/plain"));
        assert!(is_valid(&format!(
            "{}/{}",
            "a".repeat(127),
            "b".repeat(127)
        )));
        for bad in [
            "",
            "invalid",
            "application/",
            "/json",
            ".application/json",
            "application/.json",
            "application/json/x",
            "application/js on",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(!is_valid(&format!("{}/b", "a".repeat(128))));
        assert!(!is_valid(&format!("a/{}", "b".repeat(128))));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(DOCKER_MANIFEST_LIST), MediaKind::Index);
        assert_eq!(kind(OCI_MANIFEST), MediaKind::Manifest);
        assert_eq!(kind(OCI_EMPTY), MediaKind::Other);
        assert_eq!(kind("application/vnd.example+type"), MediaKind::Other);
    }
}
