//! Uploads in progress, as distribution lays them out:
//!
//! ```text
//! repositories/<name>/_uploads/<id>/{startedat,data,hashstates/..}      an upload in progress
//! ```
//!
//! Of each, only `startedat` (an RFC 3339 time) is read, and the length of `data`; what
//! they say is judged by `checks`.

use crate::backend::{Backend, EntryKind};
use crate::finding::Finding;
use crate::model::key::Key;

use super::root::{list_optional, subdirectories};

/// `startedat` holds an RFC 3339 time.
const MAX_STARTEDAT: u64 = 4096;

/// One `_uploads/<id>` directory.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Path of the upload directory.
    pub display: Key,
    /// `startedat`, or why it could not be read.
    pub started_at: Result<String, String>,
    /// Length of its `data` file (0 when there is none).
    pub bytes: u64,
}

/// Every upload under `dir` (a repository's `_uploads`), by id.
pub(super) fn uploads(
    backend: &dyn Backend,
    dir: &Key,
    findings: &mut Vec<Finding>,
) -> Vec<Upload> {
    subdirectories(list_optional(backend, dir, findings))
        .into_iter()
        .map(|entry| {
            let upload_dir = dir.join(&entry.name);
            let started_at = match backend.read_small(&upload_dir.join("startedat"), MAX_STARTEDAT)
            {
                Ok(bytes) => {
                    String::from_utf8(bytes).map_err(|_| "startedat is not UTF-8 text".to_owned())
                }
                Err(error) if error.is_not_found() => Err("startedat does not exist".to_owned()),
                Err(error) => Err(format!("startedat cannot be read: {error}")),
            };
            let bytes = backend
                .stat(&upload_dir.join("data"))
                .ok()
                .filter(|stat| stat.kind == EntryKind::File)
                .map_or(0, |stat| stat.len);
            Upload {
                display: upload_dir,
                started_at,
                bytes,
            }
        })
        .collect()
}
