//! Why an audit could not run at all (exit code 2): the crate's one error type. Problems
//! inside a store are findings, never errors.

use crate::backend::ReadError;

/// Why an audit could not run at all (exit code 2). Problems inside a store are findings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The path (or URL).
        path: String,
        /// What went wrong (part of the message, so not also a `source`).
        error: ReadError,
    },
    /// `--shard` was asked for with something it cannot go with.
    #[error("{0}")]
    Shard(String),
    /// An image archive was asked for with an option it cannot go with.
    #[error("{0}")]
    Archive(String),
    /// The ledger (`--state`) could not be used.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    /// What to audit could not be worked out.
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    /// The object store could not be opened.
    #[cfg(feature = "object-store")]
    #[error(transparent)]
    Open(#[from] crate::backend::object::OpenError),
    /// The registry could not be opened (credentials, connection, certificate,
    /// authentication, a refused catalog).
    #[cfg(feature = "registry-api")]
    #[error(transparent)]
    Registry(#[from] crate::backend::http::OpenError),
    /// Nothing under the path is a store.
    #[error(
        "{path}: no store found: looked at any depth, on this file system, for OCI image \
         layouts (an oci-layout file, or an index.json image index beside blobs/) and Docker \
         Distribution roots (docker/registry/v2, or blobs/ beside repositories/){hint}"
    )]
    NotAStore {
        /// The path (or URL).
        path: String,
        /// What came close, starting with "; " (or empty).
        hint: String,
    },
}

impl From<crate::backend::archive::OpenError> for Error {
    fn from(error: crate::backend::archive::OpenError) -> Error {
        Error::Io {
            path: error.path,
            error: error.error,
        }
    }
}
