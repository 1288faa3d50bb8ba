//! The verification ledger (`--state FILE`): what each blob looked like when it was last
//! hashed and with what result, and every run with its findings, in one SQLite file that
//! operators can query with `sqlite3`.
//!
//! ```text
//! store (id, identity)                         the audited root: a path or a URL
//! place (id, store, prefix)                    a layout, registry root or zot repository
//! blob  (place, alg, digest, size, dev, ino,   one row per blob file: its fingerprint when
//!        mtime_ns, ctime_ns, etag,             last hashed, when, and the result
//!        hashed_at, result)                    (0 clean, 1 digest mismatch, 2 unreadable)
//! run   (id, store, pid, started, ended, options, errors, warnings, infos,
//!        blobs_hashed, bytes_hashed, blobs_trusted, new, resolved, exit_code)
//! finding (run, rule, severity, path, digest, via_path, via_pointer, message, expected, found)
//! ```
//!
//! A blob row holds the digest as its algorithm code and raw bytes and no path (the path is
//! derived from the place and the digest), so a row is under 100 bytes on disk.
//!
//! Crash safety: the database is in WAL mode and hash results are committed in batches
//! while the run goes on (at least every second), so a run killed at any moment leaves a
//! consistent ledger holding what was recorded, and the next run goes on from there. A run
//! that never finished keeps `ended` NULL. One writer at a time: a run holds an exclusive
//! `flock` on `FILE.lock` for its whole life (the kernel drops it when the process dies),
//! and a second run exits at once naming the one that holds it.

mod documents;
pub mod schedule;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::backend::Version;
use crate::finding::{Finding, Severity, Via};
use crate::hash::HashResult;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;

/// Results are committed at least this often while a run goes on.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// Or when this many are waiting.
const COMMIT_ROWS: usize = 65_536;
/// Page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// Findings are kept for this many runs of a store (the runs themselves stay): enough to
/// compare against, without growing by a full report every night.
const KEEP_FINDINGS_OF_RUNS: i64 = 32;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS place (
    id INTEGER PRIMARY KEY, store INTEGER NOT NULL, prefix BLOB NOT NULL,
    UNIQUE (store, prefix));
CREATE TABLE IF NOT EXISTS blob (
    place INTEGER NOT NULL, alg INTEGER NOT NULL, digest BLOB NOT NULL,
    size INTEGER NOT NULL, dev INTEGER, ino INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    etag TEXT, hashed_at INTEGER NOT NULL, result INTEGER NOT NULL,
    PRIMARY KEY (place, alg, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY, store INTEGER NOT NULL, pid INTEGER NOT NULL,
    started INTEGER NOT NULL, ended INTEGER, options TEXT NOT NULL,
    errors INTEGER, warnings INTEGER, infos INTEGER,
    blobs_hashed INTEGER, bytes_hashed INTEGER, blobs_trusted INTEGER,
    new INTEGER, resolved INTEGER, exit_code INTEGER, credit INTEGER);
CREATE INDEX IF NOT EXISTS run_by_store ON run (store, id);
CREATE TABLE IF NOT EXISTS finding (
    run INTEGER NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, path BLOB NOT NULL,
    digest TEXT, via_path BLOB, via_pointer TEXT, message TEXT NOT NULL,
    expected TEXT, found TEXT);
CREATE INDEX IF NOT EXISTS finding_by_run ON finding (run);
CREATE TABLE IF NOT EXISTS document (
    store INTEGER NOT NULL, digest TEXT NOT NULL, body BLOB NOT NULL,
    hashed_at INTEGER NOT NULL, PRIMARY KEY (store, digest)) WITHOUT ROWID;
";

/// Takes the lock on `path`'s ledger. Held by a run that is recorded as running: busy at
/// once. Held with no run recorded as running, it is about to be free: a run between
/// recording its end and exiting, or a process that forked while it held the lock (the
/// child keeps the descriptor until its exec closes it); that is waited for, briefly.
fn lock_exclusive(lock: &File, path: &Path) -> Result<(), LedgerError> {
    let started = Instant::now();
    loop {
        match rustix::fs::flock(lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = running_run(path);
                if holder.is_some() || started.elapsed() >= Duration::from_millis(200) {
                    return Err(LedgerError::Busy {
                        path: path.display().to_string(),
                        holder,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(errno) => {
                return Err(LedgerError::Io {
                    path: lock_path(path).display().to_string(),
                    error: errno.into(),
                });
            }
        }
    }
}

/// Why the ledger could not be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Another run holds it.
    #[error(
        "{path}: in use by another run{}: a ledger takes one writer at a time",
        holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Busy {
        /// The ledger.
        path: String,
        /// Which run holds it, as far as the ledger says.
        holder: Option<String>,
    },
    /// The ledger would be written inside the audited tree.
    #[error(
        "{path}: the ledger must be outside the audited tree ({root}); nothing is written into a store"
    )]
    InsideStore {
        /// The ledger.
        path: String,
        /// The audited root.
        root: String,
    },
    /// SQLite refused (a file that is no database, a full disk, permissions).
    #[error("{path}: {error}")]
    Database {
        /// The ledger.
        path: String,
        /// SQLite's error.
        error: rusqlite::Error,
    },
    /// The file system refused (the lock file).
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
}

/// Seconds since the epoch.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// What the ledger knows of one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    /// The blob.
    pub digest: Digest,
    /// Its size when last hashed.
    pub size: u64,
    /// Its version when last hashed.
    pub version: Version,
    /// When, in seconds since the epoch.
    pub hashed_at: i64,
    /// With what result.
    pub result: HashResult,
}

/// One hash result to record.
#[derive(Clone, Debug)]
pub struct Record {
    /// The place (from [`Ledger::place`]).
    pub place: i64,
    /// The blob.
    pub digest: Digest,
    /// Its length as read.
    pub size: u64,
    /// Its version as read.
    pub version: Version,
    /// The result.
    pub result: HashResult,
}

/// A run as the ledger holds it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRecord {
    /// Its number.
    pub id: i64,
    /// The audited root.
    pub store: String,
    /// When it started (seconds since the epoch).
    pub started: i64,
    /// When it ended; `None` for a run that never finished (killed) or is running.
    pub ended: Option<i64>,
    /// Its options, as given.
    pub options: String,
    /// Findings by severity.
    pub errors: Option<u64>,
    /// Warnings.
    pub warnings: Option<u64>,
    /// Infos.
    pub infos: Option<u64>,
    /// Blobs hashed.
    pub blobs_hashed: Option<u64>,
    /// Bytes hashed.
    pub bytes_hashed: Option<u64>,
    /// Blobs whose last result was trusted instead.
    pub blobs_trusted: Option<u64>,
    /// Findings new since the run before.
    pub new: Option<u64>,
    /// Findings resolved since the run before.
    pub resolved: Option<u64>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Re-verification credit it carried to the next run, in bytes.
    pub credit: Option<u64>,
}

/// How a finished run is summed up.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Findings by severity.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
    /// Infos.
    pub infos: u64,
    /// Blobs hashed.
    pub blobs_hashed: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Blobs trusted from the ledger.
    pub blobs_trusted: u64,
    /// New findings (`None` without a baseline).
    pub new: Option<u64>,
    /// Resolved findings (`None` without a baseline).
    pub resolved: Option<u64>,
    /// Exit code.
    pub exit_code: i32,
    /// Re-verification credit carried to the next run.
    pub credit: u64,
}

/// An open ledger, locked for one run.
pub struct Ledger {
    path: PathBuf,
    conn: Connection,
    store: i64,
    run: i64,
    started: i64,
    /// Held for the life of the run; closing it releases the lock.
    _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({}, run {})", self.path.display(), self.run)
    }
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl Ledger {
    /// Opens (or creates) the ledger at `path`, takes its lock and starts a run of the
    /// store `identity` at `now`. A ledger another run holds is [`LedgerError::Busy`].
    pub fn open(
        path: &Path,
        identity: &str,
        options: &str,
        now: SystemTime,
    ) -> Result<Ledger, LedgerError> {
        let shown = path.display().to_string();
        let db = |error| LedgerError::Database {
            path: shown.clone(),
            error,
        };
        let lock_path = lock_path(path);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(
                |error| match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    // The lock file is ours; the directory the user named is what is missing.
                    Some(dir) if error.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() => {
                        LedgerError::Io {
                            path: shown.clone(),
                            error: std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                format!("its directory {} does not exist", dir.display()),
                            ),
                        }
                    }
                    _ => LedgerError::Io {
                        path: lock_path.display().to_string(),
                        error,
                    },
                },
            )?;
        lock_exclusive(&lock, path)?;
        let conn = open_connection(path).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        conn.execute(
            "INSERT INTO store (identity) VALUES (?1) ON CONFLICT (identity) DO NOTHING",
            [identity],
        )
        .map_err(db)?;
        let store: i64 = conn
            .query_row(
                "SELECT id FROM store WHERE identity = ?1",
                [identity],
                |r| r.get(0),
            )
            .map_err(db)?;
        let started = unix_seconds(now);
        conn.execute(
            "INSERT INTO run (store, pid, started, options) VALUES (?1, ?2, ?3, ?4)",
            params![store, std::process::id(), started, options],
        )
        .map_err(db)?;
        let run = conn.last_insert_rowid();
        Ok(Ledger {
            path: path.to_owned(),
            conn,
            store,
            run,
            started,
            _lock: lock,
        })
    }

    /// This run's number.
    pub fn run(&self) -> i64 {
        self.run
    }

    fn db(&self, error: rusqlite::Error) -> LedgerError {
        LedgerError::Database {
            path: self.path.display().to_string(),
            error,
        }
    }

    /// The id of the place `prefix` (a layout, registry root or zot repository).
    pub fn place(&self, prefix: &Key) -> Result<i64, LedgerError> {
        self.conn
            .execute(
                "INSERT INTO place (store, prefix) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![self.store, prefix.as_bytes()],
            )
            .map_err(|e| self.db(e))?;
        self.conn
            .query_row(
                "SELECT id FROM place WHERE store = ?1 AND prefix = ?2",
                params![self.store, prefix.as_bytes()],
                |r| r.get(0),
            )
            .map_err(|e| self.db(e))
    }

    /// Every blob the ledger knows in `place`, in digest order (the inventory's), handed to
    /// `each` one at a time: a million-blob store is never held in memory twice.
    pub fn each_known(&self, place: i64, mut each: impl FnMut(Known)) -> Result<(), LedgerError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT alg, digest, size, dev, ino, mtime_ns, ctime_ns, etag, hashed_at, result
                 FROM blob WHERE place = ?1 ORDER BY alg, digest",
            )
            .map_err(|e| self.db(e))?;
        let mut rows = statement.query([place]).map_err(|e| self.db(e))?;
        while let Some(row) = rows.next().map_err(|e| self.db(e))? {
            let known = known_row(row).map_err(|e| self.db(e))?;
            if let Some(known) = known {
                each(known);
            }
        }
        Ok(())
    }

    /// Forgets blobs that are no longer in the store.
    pub fn forget(&self, place: i64, gone: &[Digest]) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.db(e))?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM blob WHERE place = ?1 AND alg = ?2 AND digest = ?3")
                .map_err(|e| self.db(e))?;
            for digest in gone {
                if let Some((alg, raw)) = digest.raw() {
                    delete
                        .execute(params![place, alg, raw])
                        .map_err(|e| self.db(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.db(e))
    }

    /// The latest finished run of this store before this one.
    pub fn previous_run(&self) -> Result<Option<RunRecord>, LedgerError> {
        self.conn
            .query_row(
                &format!("{RUN_COLUMNS} WHERE run.store = ?1 AND run.id < ?2 AND ended IS NOT NULL ORDER BY run.id DESC LIMIT 1"),
                params![self.store, self.run],
                run_record,
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// The findings a run recorded.
    pub fn findings_of(&self, run: i64) -> Result<Vec<Finding>, LedgerError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT rule, severity, path, digest, via_path, via_pointer, message, expected, found
                 FROM finding WHERE run = ?1",
            )
            .map_err(|e| self.db(e))?;
        let rows = statement
            .query_map([run], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<Vec<u8>>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(|e| self.db(e))?;
        let mut findings = Vec::new();
        for row in rows {
            let (rule, severity, path, digest, via_path, via_pointer, message, expected, found) =
                row.map_err(|e| self.db(e))?;
            // A rule this version no longer knows cannot be compared; it is left out.
            let (Ok(rule), Ok(severity)) = (rule.parse::<Rule>(), severity.parse::<Severity>())
            else {
                continue;
            };
            let mut location = crate::finding::Location::path(Key::from_bytes(path));
            location.digest = digest.and_then(|d| Digest::parse(&d).ok());
            location.via = via_path.map(|p| Via {
                path: Key::from_bytes(p),
                pointer: via_pointer.unwrap_or_default(),
            });
            findings.push(Finding {
                rule,
                severity,
                location,
                message,
                expected,
                found,
                bytes: None,
                new: None,
                cause: None,
            });
        }
        Ok(findings)
    }

    /// A recorder of hash results, committing them in batches on its own connection
    /// while the run goes on. Dropping it (or [`Recorder::finish`]) commits the rest.
    pub fn recorder(&self) -> Result<Recorder, LedgerError> {
        let conn = open_connection(&self.path).map_err(|e| self.db(e))?;
        // A first run inserts every blob in hash order, which is random in key order: a
        // cache that holds the leaf pages a batch touches saves rereading them.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(|e| self.db(e))?;
        let (sender, receiver) = mpsc::channel();
        let started = self.started;
        let path = self.path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || {
                write_records(&conn, &receiver, started)
                    .map_err(|error| LedgerError::Database { path, error })
            })
            .map_err(|error| LedgerError::Io {
                path: self.path.display().to_string(),
                error,
            })?;
        Ok(Recorder {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Ends the run: its summary and findings, and findings of old runs pruned.
    pub fn finish(
        self,
        summary: &RunSummary,
        findings: &[Finding],
        now: SystemTime,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE run SET ended = ?2, errors = ?3, warnings = ?4, infos = ?5,
                 blobs_hashed = ?6, bytes_hashed = ?7, blobs_trusted = ?8, new = ?9,
                 resolved = ?10, exit_code = ?11, credit = ?12 WHERE id = ?1",
            params![
                self.run,
                unix_seconds(now),
                count(summary.errors),
                count(summary.warnings),
                count(summary.infos),
                count(summary.blobs_hashed),
                count(summary.bytes_hashed),
                count(summary.blobs_trusted),
                summary.new.map(count),
                summary.resolved.map(count),
                summary.exit_code,
                count(summary.credit)
            ],
        )
        .map_err(|e| self.db(e))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO finding (run, rule, severity, path, digest, via_path,
                         via_pointer, message, expected, found)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| self.db(e))?;
            for f in findings {
                insert
                    .execute(params![
                        self.run,
                        f.rule.id(),
                        f.severity.as_str(),
                        f.location.path.as_bytes(),
                        f.location.digest.as_ref().map(ToString::to_string),
                        f.location.via.as_ref().map(|v| v.path.as_bytes().to_vec()),
                        f.location.via.as_ref().map(|v| v.pointer.clone()),
                        f.message,
                        f.expected,
                        f.found
                    ])
                    .map_err(|e| self.db(e))?;
            }
        }
        tx.execute(
            "DELETE FROM finding WHERE run IN (SELECT id FROM run WHERE store = ?1
                 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
            params![self.store, KEEP_FINDINGS_OF_RUNS],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))
    }
}

/// One row of `blob`; `None` for a digest this version cannot read back.
fn known_row(row: &rusqlite::Row) -> rusqlite::Result<Option<Known>> {
    let alg: u8 = row.get(0)?;
    let raw: Vec<u8> = row.get(1)?;
    let version = match (
        row.get::<_, Option<i64>>(3)?,
        row.get::<_, Option<String>>(7)?,
    ) {
        (Some(dev), _) => Version::posix(
            dev as u64,
            row.get::<_, i64>(4)? as u64,
            row.get(5)?,
            row.get(6)?,
        ),
        (None, Some(etag)) => Version::ETag(etag.into()),
        (None, None) => Version::None,
    };
    Ok(Digest::from_raw(alg, &raw).map(|digest| Known {
        digest,
        size: row.get::<_, i64>(2).map(|n| n.max(0) as u64).unwrap_or(0),
        version,
        hashed_at: row.get(8).unwrap_or(0),
        result: HashResult::from_code(row.get(9).unwrap_or(2)),
    }))
}

/// SQLite integers are signed 64-bit.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The lock file beside the ledger.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Which run holds the ledger, as far as it says (the latest unfinished run).
fn running_run(path: &Path) -> Option<String> {
    let conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.busy_timeout(Duration::from_secs(2)).ok()?;
    conn.query_row(
        "SELECT id, pid, started FROM run WHERE ended IS NULL ORDER BY id DESC LIMIT 1",
        [],
        |row| {
            let started: i64 = row.get(2)?;
            let when = UNIX_EPOCH + Duration::from_secs(u64::try_from(started).unwrap_or(0));
            Ok(format!(
                "run {} of pid {}, started {}",
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                humantime::format_rfc3339_seconds(when)
            ))
        },
    )
    .ok()
}

const RUN_COLUMNS: &str =
    "SELECT run.id, store.identity, started, ended, options, errors, warnings,
    infos, blobs_hashed, bytes_hashed, blobs_trusted, new, resolved, exit_code, credit
    FROM run JOIN store ON store.id = run.store";

fn run_record(row: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
    let count = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|n| n.max(0) as u64))
    };
    Ok(RunRecord {
        id: row.get(0)?,
        store: row.get(1)?,
        started: row.get(2)?,
        ended: row.get(3)?,
        options: row.get(4)?,
        errors: count(5)?,
        warnings: count(6)?,
        infos: count(7)?,
        blobs_hashed: count(8)?,
        bytes_hashed: count(9)?,
        blobs_trusted: count(10)?,
        new: count(11)?,
        resolved: count(12)?,
        exit_code: row.get(13)?,
        credit: count(14)?,
    })
}

/// The last `limit` runs recorded in the ledger at `path`, newest first. Read-only: it
/// takes no lock, so it can look at a ledger a run is writing.
pub fn history(path: &Path, limit: usize) -> Result<Vec<RunRecord>, LedgerError> {
    let db = |error| LedgerError::Database {
        path: path.display().to_string(),
        error,
    };
    if !path.exists() {
        return Err(LedgerError::Io {
            path: path.display().to_string(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such ledger"),
        });
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    let mut statement = conn
        .prepare(&format!("{RUN_COLUMNS} ORDER BY run.id DESC LIMIT ?1"))
        .map_err(db)?;
    let rows = statement
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], run_record)
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

/// Hash results on their way to the ledger, from any thread.
pub struct Recorder {
    sender: Option<Sender<Record>>,
    thread: Option<JoinHandle<Result<(), LedgerError>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// Queues one result; it is committed within a second.
    pub fn record(&self, record: Record) {
        if let Some(sender) = &self.sender {
            // A writer that stopped has reported its error through `finish`.
            let _ = sender.send(record);
        }
    }

    /// Commits what is queued and waits for the writer.
    pub fn finish(mut self) -> Result<(), LedgerError> {
        self.close()
    }

    fn close(&mut self) -> Result<(), LedgerError> {
        drop(self.sender.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Ok(()),
            None => Ok(()),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The writer thread: batches of results, each committed as one transaction.
fn write_records(
    conn: &Connection,
    receiver: &Receiver<Record>,
    hashed_at: i64,
) -> Result<(), rusqlite::Error> {
    let mut batch: Vec<Record> = Vec::with_capacity(COMMIT_ROWS);
    let mut last_commit = Instant::now();
    loop {
        let wait = COMMIT_EVERY.saturating_sub(last_commit.elapsed());
        let closed = match receiver.recv_timeout(wait) {
            Ok(record) => {
                batch.push(record);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if closed || batch.len() >= COMMIT_ROWS || last_commit.elapsed() >= COMMIT_EVERY {
            commit(conn, &mut batch, hashed_at)?;
            batch.clear();
            last_commit = Instant::now();
        }
        if closed {
            return Ok(());
        }
    }
}

fn commit(conn: &Connection, batch: &mut [Record], hashed_at: i64) -> Result<(), rusqlite::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    // In key order, each B-tree page a batch touches is written once.
    batch.sort_unstable_by(|a, b| (a.place, &a.digest).cmp(&(b.place, &b.digest)));
    let tx = conn.unchecked_transaction()?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO blob (place, alg, digest, size, dev, ino, mtime_ns, ctime_ns, etag,
                 hashed_at, result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (place, alg, digest) DO UPDATE SET size = excluded.size,
                 dev = excluded.dev, ino = excluded.ino, mtime_ns = excluded.mtime_ns,
                 ctime_ns = excluded.ctime_ns, etag = excluded.etag,
                 hashed_at = excluded.hashed_at, result = excluded.result",
        )?;
        for record in batch {
            let Some((alg, raw)) = record.digest.raw() else {
                continue;
            };
            let (dev, ino, mtime, ctime, etag) = match (&record.version, record.version.file()) {
                (_, Some((dev, ino, mtime_ns, ctime_ns))) => (
                    Some(dev as i64),
                    Some(ino as i64),
                    Some(mtime_ns),
                    Some(ctime_ns),
                    None,
                ),
                (Version::ETag(etag), _) => (None, None, None, None, Some(etag.to_string())),
                _ => (None, None, None, None, None),
            };
            upsert.execute(params![
                record.place,
                alg,
                raw,
                record.size as i64,
                dev,
                ino,
                mtime,
                ctime,
                etag,
                hashed_at,
                record.result.code()
            ])?;
        }
    }
    tx.commit()
}
