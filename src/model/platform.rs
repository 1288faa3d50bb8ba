//! Platforms: the `platform` object of index entries (image-index.md § platform) and the
//! os/architecture fields of image configs (config.md), as coverage reports them.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// Values nearly every platform uses (Go's GOOS and GOARCH, ARM variants): shared static
/// strings instead of a heap copy in every config and coverage entry of a registry.
const COMMON: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "unknown", "amd64", "arm64", "arm", "386", "ppc64le",
    "s390x", "riscv64", "mips64le", "loong64", "v5", "v6", "v7", "v8",
];

fn shared(value: String) -> Cow<'static, str> {
    match COMMON.iter().find(|&&common| common == value) {
        Some(common) => Cow::Borrowed(common),
        None => Cow::Owned(value),
    }
}

/// One platform. Field order gives the sort order of coverage output.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Platform {
    /// "This REQUIRED property specifies the operating system", e.g. `linux`.
    pub os: Cow<'static, str>,
    /// "This REQUIRED property specifies the CPU architecture", e.g. `arm64`.
    pub architecture: Cow<'static, str>,
    /// "This OPTIONAL property specifies the variant of the CPU", e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<Cow<'static, str>>,
    /// "This OPTIONAL property specifies the version of the operating system".
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Platform {
    /// A platform of these values, common ones shared.
    pub fn new(
        os: String,
        architecture: String,
        variant: Option<String>,
        os_version: Option<String>,
    ) -> Platform {
        Platform {
            os: shared(os),
            architecture: shared(architecture),
            variant: variant.map(shared),
            os_version,
        }
    }

    /// BuildKit's attestation entries use `unknown/unknown`; they describe no runnable platform.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, " ({version})")?;
        }
        Ok(())
    }
}
