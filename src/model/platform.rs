//! Platforms: the `platform` object of index entries (image-index.md § platform) and the
//! os/architecture fields of image configs (config.md), as coverage reports them.

use serde::Serialize;
use std::fmt;

/// One platform. Field order gives the sort order of coverage output.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Platform {
    /// "This REQUIRED property specifies the operating system", e.g. `linux`.
    pub os: String,
    /// "This REQUIRED property specifies the CPU architecture", e.g. `arm64`.
    pub architecture: String,
    /// "This OPTIONAL property specifies the variant of the CPU", e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// "This OPTIONAL property specifies the version of the operating system".
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Platform {
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
