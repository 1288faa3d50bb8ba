//! Opening what the user named: a directory, an image archive (a file or a pipe, read
//! whole in one pass), or an object store; and refusing a ledger inside the store.

use std::path::Path;

use crate::audit::{Options, Progress};
use crate::backend::api::RegistryApi;
use crate::backend::archive::ArchiveBackend;
use crate::backend::archive::reader::{self, ReadOptions, Source};
use crate::backend::local::LocalFs;
use crate::backend::{Backend, ReadError};
use crate::error::Error;
use crate::ledger::LedgerError;
use crate::target::Target;

/// A backend opened for an audit, and the image archive behind it when it reads one (the
/// Docker archive kind reads the archive's member index).
#[derive(Clone, Copy)]
pub struct Opened<'a> {
    /// What the audit reads through.
    pub backend: &'a dyn Backend,
    /// The archive, when the backend is one.
    pub archive: Option<&'a ArchiveBackend>,
    /// The registry's distribution API, when the backend reaches a registry over HTTP.
    pub api: Option<&'a dyn RegistryApi>,
}

impl<'a> From<&'a ArchiveBackend> for Opened<'a> {
    fn from(archive: &'a ArchiveBackend) -> Opened<'a> {
        Opened {
            backend: archive,
            archive: Some(archive),
            api: None,
        }
    }
}

impl<'a> From<&'a LocalFs> for Opened<'a> {
    fn from(backend: &'a LocalFs) -> Opened<'a> {
        Opened {
            backend,
            archive: None,
            api: None,
        }
    }
}

/// Requests in flight to a registry over HTTP unless `--io-concurrency` says otherwise.
#[cfg(feature = "registry-api")]
const HTTP_CONCURRENCY: usize = 16;
/// Retries of a registry's transient failure unless `--io-retries` says otherwise.
#[cfg(feature = "registry-api")]
const HTTP_RETRIES: usize = 4;
/// Manifest GETs left unspent on a registry that meters pulls.
#[cfg(feature = "registry-api")]
const RATE_LIMIT_RESERVE: u64 = 10;

/// The local directory `path` as a backend, and the name it is reported under.
pub(super) fn open_local(path: &Path, options: &Options) -> Result<(LocalFs, String), Error> {
    let name = path.display().to_string();
    let root = std::fs::canonicalize(path).map_err(|error| Error::Io {
        path: name.clone(),
        error: ReadError::from(error),
    })?;
    if let Some(state) = &options.run.state {
        refuse_inside(&state.path, &root)?;
    }
    Ok((LocalFs::new(root, options.open.read_mode), name))
}

/// Opens `target` (a directory, an image archive read in one pass, or an object store
/// with the options' concurrency and retries) and runs `run` on it with the name it is
/// reported under.
pub(super) fn with_backend<T>(
    target: &Target,
    options: &Options,
    progress: &dyn Progress,
    run: &dyn Fn(Opened, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    match target {
        // A file, or a pipe (`oci-audit <(docker save app)`): an archive.
        Target::Local(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) => {
            let source = Source::File(path.clone());
            let backend = open_archive(&source, options, progress)?;
            run(Opened::from(&backend), &source.name())
        }
        Target::Stdin => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                // Nobody types a tar: waiting for one would wait forever.
                return Err(Error::Archive(
                    "-: standard input is a terminal; pipe an image archive into it (docker save app:1.0 | oci-audit -)".to_owned(),
                ));
            }
            let backend = open_archive(&Source::Stdin, options, progress)?;
            run(Opened::from(&backend), "-")
        }
        Target::Local(path) => {
            let (backend, name) = open_local(path, options)?;
            run(Opened::from(&backend), &name)
        }
        #[cfg(feature = "object-store")]
        Target::Object { url, s3 } => {
            let backend = crate::backend::object::ObjectBackend::open(
                url,
                s3.as_ref(),
                options.open.io_concurrency,
                options.open.io_retries,
            )?;
            let opened = Opened {
                backend: &backend,
                archive: None,
                api: None,
            };
            run(opened, &url.to_string())
        }
        #[cfg(feature = "registry-api")]
        Target::Registry(address) => {
            let backend = crate::backend::http::HttpRegistry::open(
                address,
                &crate::backend::http::HttpOptions {
                    connections: options
                        .open
                        .io_concurrency
                        .unwrap_or(HTTP_CONCURRENCY)
                        .max(1),
                    retries: options.open.io_retries.unwrap_or(HTTP_RETRIES),
                    ca_file: options.open.ca_file.clone(),
                    repositories_file: options.open.repositories.clone(),
                    rate_limit_reserve: RATE_LIMIT_RESERVE,
                },
            )?;
            let opened = Opened {
                backend: &backend,
                archive: None,
                api: Some(&backend),
            };
            run(opened, &address.to_string())
        }
    }
}

/// Reads the archive at `source` in one pass. A ledger and shards are refused: every run
/// and every shard would read the whole stream, so neither saves anything.
fn open_archive(
    source: &Source,
    options: &Options,
    progress: &dyn Progress,
) -> Result<ArchiveBackend, Error> {
    let refuse = |what: &str| {
        Err(Error::Archive(format!(
            "{}: an image archive is read whole in one pass, so {what} has nothing to save; audit it without",
            source.name()
        )))
    };
    if options.run.state.is_some() {
        return refuse("a ledger (--state)");
    }
    if options.run.shard.is_some_and(|s| s.count > 1) {
        return refuse("--shard");
    }
    progress.phase("archive");
    let read = ReadOptions {
        threads: options.run.threads,
        max_document_size: options.check.max_document_size,
        max_members: reader::MAX_MEMBERS,
        max_kept: reader::MAX_KEPT,
    };
    Ok(reader::read(source, read, &|bytes| {
        progress.advance(bytes)
    })?)
}

/// A ledger inside the audited tree would be written into the store: refused.
fn refuse_inside(ledger: &Path, root: &Path) -> Result<(), Error> {
    if crate::target::is_inside(ledger, root) {
        return Err(Error::Ledger(LedgerError::InsideStore {
            path: ledger.display().to_string(),
            root: root.display().to_string(),
        }));
    }
    Ok(())
}
