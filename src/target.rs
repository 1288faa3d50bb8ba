//! What the user asked to audit: a local path, an object-store URL, or the storage a
//! registry's own `config.yml` names (`--registry-config`).
//!
//! ```text
//! /var/lib/registry          → Target::Local
//! s3://bucket/prefix         → Target::Object (gs://, az:// likewise)
//! --registry-config FILE     → storage.filesystem.rootdirectory → Target::Local
//!                              storage.s3 {bucket, rootdirectory, region, regionendpoint,
//!                              accesskey, secretkey, secure} → Target::Object
//! ```
//!
//! The registry lets its environment override its file (`REGISTRY_STORAGE_S3_SECRETKEY`
//! and so on, which is where operators keep secrets); the same variables override here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

#[cfg(feature = "object-store")]
pub use crate::backend::object::{ObjectUrl, S3Settings};

/// Whether `file` would be written inside the tree at `root` (a canonical path): its
/// directory, with symlinks resolved, is `root` or below it. The file need not exist yet;
/// its directory must, or the path is taken as given. The tool writes nothing into a
/// store, so every file it writes (ledger, metrics, partial results) is checked with this.
pub fn is_inside(file: &Path, root: &Path) -> bool {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    parent.starts_with(root)
}

/// The store to audit.
#[derive(Clone, Debug)]
pub enum Target {
    /// A directory (or a symlink to one) on this machine; or an image archive file.
    Local(PathBuf),
    /// An image archive on standard input (`-`).
    Stdin,
    /// A registry reached over its distribution API, and what of it to audit.
    #[cfg(feature = "registry-api")]
    Registry(crate::model::address::RegistryAddress),
    /// A bucket or container, under a prefix.
    #[cfg(feature = "object-store")]
    Object {
        /// Where.
        url: ObjectUrl,
        /// S3 settings from a registry configuration; `None`: the environment's.
        s3: Option<S3Settings>,
    },
}

/// Why the target could not be worked out (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A URL scheme this build does not read.
    #[error(
        "{0}: object storage (s3://, gs://, az://) needs oci-audit built with the object-store feature"
    )]
    NoObjectStore(String),
    /// A registry address that names nothing a registry can serve.
    #[error("{0}")]
    BadAddress(String),
    /// A registry address in a build without the client.
    #[error("{0}: registries over HTTP need oci-audit built with the registry-api feature")]
    NoRegistryApi(String),
    /// A URL that names no bucket.
    #[error(
        "{0}: not a store address (s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX, or a registry's https://HOST/NAME[:TAG])"
    )]
    BadUrl(String),
    /// The registry configuration could not be read.
    #[error("--registry-config {path}: {why}")]
    Config {
        /// The file.
        path: String,
        /// What was wrong with it.
        why: String,
    },
}

impl Target {
    /// A command-line argument: a URL when it starts with `s3://`, `gs://` or `az://`, a
    /// path otherwise (any other `scheme://` is refused rather than read as a directory).
    pub fn parse(argument: &OsStr) -> Result<Target, TargetError> {
        if argument == "-" {
            return Ok(Target::Stdin);
        }
        let Some(text) = argument.to_str().filter(|t| t.contains("://")) else {
            return Ok(Target::Local(PathBuf::from(argument)));
        };
        if let Some(address) = crate::model::address::RegistryAddress::parse(text) {
            #[cfg(feature = "registry-api")]
            return address
                .map(Target::Registry)
                .map_err(|e| TargetError::BadAddress(e.to_string()));
            #[cfg(not(feature = "registry-api"))]
            return Err(TargetError::NoRegistryApi(
                address.map_or_else(|e| e.address, |a| a.to_string()),
            ));
        }
        #[cfg(feature = "object-store")]
        {
            ObjectUrl::parse(text)
                .map(|url| Target::Object { url, s3: None })
                .ok_or_else(|| TargetError::BadUrl(text.to_owned()))
        }
        #[cfg(not(feature = "object-store"))]
        {
            let scheme = text.split("://").next().unwrap_or_default();
            Err(if matches!(scheme, "s3" | "gs" | "az") {
                TargetError::NoObjectStore(text.to_owned())
            } else {
                TargetError::BadUrl(text.to_owned())
            })
        }
    }

    /// The storage a registry configuration file names.
    pub fn from_registry_config(path: &Path) -> Result<Target, TargetError> {
        let text = std::fs::read_to_string(path).map_err(|e| config_error(path, e.to_string()))?;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        from_config_text(&text, &env).map_err(|why| config_error(path, why))
    }

    /// How the user would write it (for messages and the ledger).
    pub fn display(&self) -> String {
        match self {
            Target::Local(path) => path.display().to_string(),
            Target::Stdin => "-".to_owned(),
            #[cfg(feature = "registry-api")]
            Target::Registry(address) => address.to_string(),
            #[cfg(feature = "object-store")]
            Target::Object { url, .. } => url.to_string(),
        }
    }

    /// The local directory, if that is what it is.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Target::Local(path) => Some(path),
            Target::Stdin => None,
            #[cfg(feature = "registry-api")]
            Target::Registry(_) => None,
            #[cfg(feature = "object-store")]
            Target::Object { .. } => None,
        }
    }
}

fn config_error(path: &Path, why: String) -> TargetError {
    TargetError::Config {
        path: path.display().to_string(),
        why,
    }
}

/// The keys of `storage:` that configure the registry rather than name its driver.
const NOT_DRIVERS: &[&str] = &["delete", "redirect", "cache", "maintenance", "tag"];

/// Works out the target from the text of a `config.yml`; `env` reads the environment.
fn from_config_text(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Target, String> {
    let documents = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let config = documents.first().ok_or("empty file")?;
    let storage = &config["storage"];
    let Yaml::Hash(storage_map) = storage else {
        return Err("no storage: section".to_owned());
    };
    let drivers: Vec<&str> = storage_map
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|key| !NOT_DRIVERS.contains(key))
        .collect();
    let driver = match drivers.as_slice() {
        [one] => *one,
        [] => return Err("storage: names no driver".to_owned()),
        many => {
            return Err(format!(
                "storage: names more than one driver ({})",
                many.join(", ")
            ));
        }
    };
    // Values as the registry reads them: the environment's REGISTRY_STORAGE_<DRIVER>_<KEY>
    // first, then the file's (strings, or numbers and booleans written bare).
    let setting = |key: &str| -> Option<String> {
        env(&format!(
            "REGISTRY_STORAGE_{}_{}",
            driver.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        ))
        .or_else(|| match &storage[driver][key] {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Integer(i) => Some(i.to_string()),
            Yaml::Boolean(b) => Some(b.to_string()),
            _ => None,
        })
    };
    match driver {
        "filesystem" => Ok(Target::Local(PathBuf::from(
            setting("rootdirectory").unwrap_or_else(|| "/var/lib/registry".to_owned()),
        ))),
        #[cfg(feature = "object-store")]
        "s3" => {
            let bucket = setting("bucket").ok_or("storage.s3 has no bucket")?;
            let root = setting("rootdirectory").unwrap_or_default();
            let url = ObjectUrl::parse(&format!("s3://{bucket}/{}", root.trim_matches('/')))
                .ok_or_else(|| format!("storage.s3.bucket {bucket:?} is not a bucket name"))?;
            let secure = setting("secure").is_none_or(|s| s != "false");
            let endpoint = setting("regionendpoint").map(|endpoint| {
                if endpoint.contains("://") {
                    endpoint
                } else if secure {
                    format!("https://{endpoint}")
                } else {
                    format!("http://{endpoint}")
                }
            });
            Ok(Target::Object {
                url,
                s3: Some(S3Settings {
                    region: setting("region"),
                    endpoint,
                    access_key: setting("accesskey"),
                    secret_key: setting("secretkey"),
                }),
            })
        }
        other => Err(format!(
            "storage driver {other:?} is not one oci-audit reads from a registry configuration \
             (filesystem and s3 are); name the store itself instead (a path, s3://, gs:// or az://)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn filesystem_root_and_its_default() {
        let target = from_config_text(
            "version: 0.1\nstorage:\n  delete:\n    enabled: true\n  filesystem:\n    rootdirectory: /srv/reg\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(target.local(), Some(Path::new("/srv/reg")));
        let target = from_config_text("storage:\n  filesystem: {}\n", &no_env).unwrap();
        assert_eq!(target.local(), Some(Path::new("/var/lib/registry")));
    }

    #[cfg(feature = "object-store")]
    #[test]
    fn s3_section_with_environment_overrides() {
        let text = "storage:\n  s3:\n    region: us-east-1\n    regionendpoint: 127.0.0.1:7480\n    \
                    bucket: reg\n    rootdirectory: /registry\n    accesskey: AK\n    \
                    secretkey: from-file\n    secure: false\n  redirect:\n    disable: true\n";
        let env =
            |name: &str| (name == "REGISTRY_STORAGE_S3_SECRETKEY").then(|| "from-env".to_owned());
        let Target::Object { url, s3 } = from_config_text(text, &env).unwrap() else {
            panic!("not an object target");
        };
        assert_eq!(url.to_string(), "s3://reg/registry");
        let s3 = s3.unwrap();
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:7480"));
        assert_eq!(s3.region.as_deref(), Some("us-east-1"));
        assert_eq!(s3.access_key.as_deref(), Some("AK"));
        assert_eq!(s3.secret_key.as_deref(), Some("from-env"));
    }

    #[test]
    fn unknown_and_missing_drivers_are_named() {
        let error =
            from_config_text("storage:\n  swift:\n    container: c\n", &no_env).unwrap_err();
        assert!(error.contains("\"swift\""), "{error}");
        let error = from_config_text("storage:\n  delete: {enabled: true}\n", &no_env).unwrap_err();
        assert!(error.contains("no driver"), "{error}");
        let error = from_config_text("version: 0.1\n", &no_env).unwrap_err();
        assert!(error.contains("no storage"), "{error}");
    }

    #[test]
    fn urls_and_paths() {
        assert!(matches!(
            Target::parse(OsStr::new("/var/lib/registry")),
            Ok(Target::Local(_))
        ));
        assert!(matches!(
            Target::parse(OsStr::new("ftp://example/x")),
            Err(TargetError::BadUrl(_) | TargetError::NoObjectStore(_))
        ));
        #[cfg(feature = "registry-api")]
        {
            assert!(matches!(
                Target::parse(OsStr::new("http://127.0.0.1:5000/team/app:v1")),
                Ok(Target::Registry(_))
            ));
            assert!(matches!(
                Target::parse(OsStr::new("https://r.example/App")),
                Err(TargetError::BadAddress(_))
            ));
        }
    }
}
