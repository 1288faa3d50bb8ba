//! Platforms: the `platform` object of index entries (image-index.md § platform) and the
//! os/architecture fields of image configs (config.md), as coverage reports them.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

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
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// The shared copy of this platform. A registry's configs and index entries name a
    /// handful of distinct platforms hundreds of thousands of times. Documents are parsed
    /// on many threads, so each thread keeps its own small table: a few copies in all, and
    /// no lock. A table stops growing at [`Platform::SHARED_PER_THREAD`] entries (a hostile
    /// store may make every platform distinct; those are then kept once each, unshared).
    pub fn shared(self) -> Arc<Platform> {
        thread_local! {
            static SHARED: RefCell<HashSet<Arc<Platform>>> = RefCell::new(HashSet::new());
        }
        SHARED.with_borrow_mut(|shared| {
            if let Some(platform) = shared.get(&self) {
                return platform.clone();
            }
            let platform = Arc::new(self);
            if shared.len() < Self::SHARED_PER_THREAD {
                shared.insert(platform.clone());
            }
            platform
        })
    }

    /// How many distinct platforms each thread shares.
    pub const SHARED_PER_THREAD: usize = 256;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_platforms_share_one_copy_on_a_thread() {
        let amd64 = || Platform::new("linux".into(), "amd64".into(), None, None);
        let (a, b) = (amd64().shared(), amd64().shared());
        assert!(Arc::ptr_eq(&a, &b));
        let arm = Platform::new("linux".into(), "arm".into(), Some("v7".into()), None).shared();
        assert!(!Arc::ptr_eq(&a, &arm));
        assert_eq!(arm.to_string(), "linux/arm/v7");
    }
}
