//! Image archives (`docker save`, `skopeo copy … oci-archive:` and `docker-archive:`),
//! from a file or standard input, plain or compressed: read in one streaming pass into an
//! [`ArchiveBackend`], never extracted.
//!
//! ```text
//! file or stdin ─▶ sniff (gzip, zstd, tar) ─▶ decompress ─▶ tar framing (limits) ─┐
//!   ┌─────────────────────────────────────────────────────────────────────────────┘
//!   └▶ each member's content in 1 MiB chunks ─▶ hashing workers (one per core), each
//!      taking a whole member: hash, sniff, keep it if it can be a document
//!   ─▶ index (normalised names, links, duplicates) + findings ─▶ ArchiveBackend
//! ```
//!
//! A tar is sequential, so from a stream one large member is hashed at a time (small
//! ones overlap). An uncompressed archive *file* is framed by seeking from header to
//! header instead, and the workers read each member of 1 MiB or more themselves, where it
//! lies: several large layers are hashed at once, and each byte is still read once.
//!
//! Memory is bounded by the chunks in flight (a few MiB per worker) and the members kept
//! as documents, never by a layer's size. Names are normalised as extraction would see
//! them; a name that is absolute or climbs out with `..`, a link that points out, a device,
//! a duplicate, a truncated or corrupt stream and anything over a limit become findings,
//! and the rest of the archive is audited.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};

use super::names::{algorithm_of, member_key};
use super::tar::{self, Fault, Framer, MemberKind, Next};
use super::workers::{CHUNK, CHUNKS_IN_FLIGHT, Feed, Job, Streamed, hash_member, send_content};
use crate::backend::archive::{ArchiveBackend, Compression, Node, OpenError};
use crate::backend::{EntryKind, ReadError};
use crate::finding::{Finding, Location};
use crate::model::key::Key;
use crate::rules::Rule;

/// More members than this are not indexed: an index entry costs memory, and no image
/// archive comes near it.
pub const MAX_MEMBERS: u64 = 1 << 20;

/// Members that may be documents are kept in memory up to this many bytes in all: far
/// more than the documents of an image archive (20,000 images of a config and a manifest
/// each hold about 40 MB), far less than an archive of small members made to fill memory.
pub const MAX_KEPT: u64 = 256 << 20;

/// How much of a member's beginning decides whether it may be a document.
const SNIFF: usize = 4096;

/// Where the archive comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file (the user named it; a symlink to it is followed).
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Source {
    /// How the user named it.
    pub fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Stdin => "-".to_owned(),
        }
    }
}

/// How the pass runs.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Hashing workers (0: one per core).
    pub threads: usize,
    /// Members that begin like JSON are kept up to this size, to be parsed.
    pub max_document_size: u64,
    /// Members indexed at most ([`MAX_MEMBERS`]); the rest of the archive is not read.
    pub max_members: u64,
    /// Bytes of members that may be documents kept in memory at most ([`MAX_KEPT`]).
    pub max_kept: u64,
}

/// Reads the archive at `source` in one pass.
pub fn read(
    source: &Source,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ArchiveBackend, OpenError> {
    let name = source.name();
    let error = |error: io::Error| OpenError {
        path: name.clone(),
        error: ReadError::from(error),
    };
    match source {
        Source::File(path) => {
            let mut file = File::open(path).map_err(error)?;
            let metadata = file.metadata().map_err(error)?;
            let head = read_head(&mut file).map_err(error)?;
            let format = sniff(&name, &head)?;
            if format.is_none() && metadata.is_file() {
                // An uncompressed file: the framing seeks from header to header, and the
                // workers read each large member where it lies, several at once.
                let framing = file.try_clone().map_err(error)?;
                let mut framing = BufReader::with_capacity(HEADER_BUFFER, framing);
                framing.seek(io::SeekFrom::Start(0)).map_err(error)?;
                let input = tar::Seekable::new(framing, metadata.len());
                return stream(&name, input, None, Some(&file), options, progress);
            }
            let rest = io::Cursor::new(head).chain(file);
            stream_format(&name, rest, format, options, progress)
        }
        Source::Stdin => {
            let mut stdin = io::stdin().lock();
            let head = read_head(&mut stdin).map_err(error)?;
            let format = sniff(&name, &head)?;
            stream_format(
                &name,
                io::Cursor::new(head).chain(stdin),
                format,
                options,
                progress,
            )
        }
    }
}

/// Reads the archive `reader`, called `name`, as a stream: decompressing what starts like
/// gzip or zstd.
pub fn read_from<R: Read>(
    name: &str,
    mut reader: R,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ArchiveBackend, OpenError> {
    let head = read_head(&mut reader).map_err(|e| OpenError {
        path: name.to_owned(),
        error: ReadError::from(e),
    })?;
    let format = sniff(name, &head)?;
    stream_format(
        name,
        io::Cursor::new(head).chain(reader),
        format,
        options,
        progress,
    )
}

/// Buffer for the framing of a file, whose large members are read by the workers.
const HEADER_BUFFER: usize = 256 * 1024;

/// The first block (or all there is, when less): a pipe may hand over less per read.
fn read_head(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    reader.take(512).read_to_end(&mut head)?;
    Ok(head)
}

/// What the archive is compressed with (`None`: a plain tar), or why it is not an archive.
fn sniff(name: &str, head: &[u8]) -> Result<Option<Compression>, OpenError> {
    let refuse = |why: &str| OpenError {
        path: name.to_owned(),
        error: ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, why.to_owned())),
    };
    if let Some(compression) = Compression::sniff(head) {
        return Ok(Some(compression));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) || head.starts_with(b"BZh") {
        return Err(refuse(
            "compressed with xz or bzip2; oci-audit reads tar, gzip and zstd archives \
             (decompress it into a pipe: xz -dc FILE | oci-audit -)",
        ));
    }
    if head.len() < 512 || &head[257..262] != b"ustar" && !looks_like_v7_tar(head) {
        return Err(refuse(
            "not an image archive: neither a tar nor gzip or zstd (a directory holds a \
             store; a file must be an archive)",
        ));
    }
    Ok(None)
}

/// Streams `reader` through its decompressor.
fn stream_format<R: Read>(
    name: &str,
    reader: R,
    format: Option<Compression>,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ArchiveBackend, OpenError> {
    let label = format.map(Compression::name);
    let buffered = BufReader::with_capacity(HEADER_BUFFER, reader);
    match format {
        None => stream(name, tar::Stream(buffered), label, None, options, progress),
        Some(Compression::Gzip) => {
            let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
            stream(name, tar::Stream(decoder), label, None, options, progress)
        }
        Some(Compression::Zstd) => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| OpenError {
                    path: name.to_owned(),
                    error: ReadError::Io(e),
                })?;
            stream(name, tar::Stream(decoder), label, None, options, progress)
        }
    }
}

/// A pre-POSIX tar header: its checksum field holds octal digits.
fn looks_like_v7_tar(head: &[u8]) -> bool {
    head.len() >= 512
        && head[148..154]
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b' ')
}

/// A member as the index will hold it, before its content is known.
struct Pending {
    key: Key,
    kind: EntryKind,
    len: u64,
    /// Index of its content among the workers' results.
    job: Option<usize>,
    /// A link's target.
    link: Option<Key>,
}

/// The pass: framing on this thread, hashing on `threads` workers. With `file` (an
/// uncompressed archive file), members of a [`CHUNK`] or more are read by the workers
/// from it, and the framing seeks past them.
fn stream<R: tar::Input>(
    name: &str,
    reader: R,
    compression: Option<&'static str>,
    file: Option<&File>,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ArchiveBackend, OpenError> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut framer = Framer::new(reader);
    let mut index = MemberIndex::default();
    let (jobs, queue) = sync_channel::<Job>(threads);
    let queue = Mutex::new(queue);
    let results: Vec<(usize, Streamed)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let queue = &queue;
                scope.spawn(move || {
                    let mut done = Vec::new();
                    let mut buffer = Vec::new();
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { break };
                        done.push((job.id, hash_member(job, &mut buffer, progress)));
                    }
                    done
                })
            })
            .collect();
        let (free, recycled) = channel::<Vec<u8>>();
        let feeder = Feeder {
            jobs,
            kept: Cell::new(0),
            not_kept: Cell::new(0),
            free,
            recycled,
            file,
            options,
            progress,
        };
        if let Err(fault) = read_members(&mut framer, &mut index, &feeder) {
            index.findings.push(fault_finding(fault, compression));
        }
        if feeder.not_kept.get() > 0 {
            index.findings.push(Finding::new(
                Rule::ArchiveLimit,
                Location::path(Key::root()),
                format!(
                    "members that may be documents hold more than {} bytes, the most kept in memory: {} more were hashed but not kept, so a document among them is reported unreadable",
                    options.max_kept,
                    feeder.not_kept.get()
                ),
            ));
        }
        // The workers stop when the queue closes.
        drop(feeder);
        workers
            .into_iter()
            // A worker only hashes and copies: a panic there is a bug, not bad input, and
            // is not to be mistaken for a member cut short.
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    Ok(index.finish(name, results, framer.skipped))
}

/// Every member in order: indexed, and regular files handed to the workers. Returns the
/// fault that ended the pass early, if one did.
fn read_members<R: tar::Input>(
    framer: &mut Framer<R>,
    index: &mut MemberIndex,
    feeder: &Feeder<'_>,
) -> Result<(), Fault> {
    let mut members = 0u64;
    loop {
        let member = match framer.next_member() {
            Next::Member(member) => member,
            Next::End => return Ok(()),
            Next::Fault(fault) => return Err(fault),
        };
        members += 1;
        if members > feeder.options.max_members {
            index.findings.push(Finding::new(
                Rule::ArchiveLimit,
                Location::path(Key::root()),
                format!(
                    "more than {} members: the rest of the archive (from byte {}) is not read",
                    feeder.options.max_members, member.offset
                ),
            ));
            return Ok(());
        }
        let Some((key, link)) = member_key(&member, &mut index.findings) else {
            continue;
        };
        index
            .seen
            .entry(key.clone())
            .or_default()
            .push(member.offset);
        let kind = match member.kind {
            MemberKind::File => EntryKind::File,
            MemberKind::Dir => EntryKind::Dir,
            MemberKind::Symlink | MemberKind::HardLink => EntryKind::Symlink,
            MemberKind::Device => EntryKind::Device,
            MemberKind::Fifo => EntryKind::Fifo,
            MemberKind::Other(_) => EntryKind::Other,
        };
        let (job, fed) = if kind == EntryKind::File {
            let id = index.jobs;
            let (sent, fed) = feeder.feed(framer, id, &key, member.size);
            if !sent {
                // Cut short before it was handed over (not indexed, so whatever names it
                // finds it missing), or the workers are gone.
                return fed;
            }
            // Sent, even if its content was then cut short: its worker reports it.
            index.jobs += 1;
            (Some(id), fed)
        } else {
            (None, Ok(()))
        };
        index.pending.push(Pending {
            key,
            kind,
            len: if job.is_some() { member.size } else { 0 },
            job,
            link,
        });
        fed?;
    }
}

/// What hands members to the workers.
struct Feeder<'a> {
    jobs: SyncSender<Job>,
    /// Bytes kept so far, and members that could be documents but were over the budget.
    kept: Cell<u64>,
    not_kept: Cell<u64>,
    free: Sender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    file: Option<&'a File>,
    options: ReadOptions,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl Feeder<'_> {
    /// Hands the regular member `key` of `len` bytes (whose content is next in `framer`) to
    /// a worker as job `id`: its chunks, or, from a file, where it lies (the framing seeks
    /// past it at the next header). Returns whether the job was sent (its worker then
    /// reports on it, cut short or not), and the fault that cut its content short.
    fn feed<R: tar::Input>(
        &self,
        framer: &mut Framer<R>,
        id: usize,
        key: &Key,
        len: u64,
    ) -> (bool, Result<(), Fault>) {
        let positional = self
            .file
            .filter(|_| len >= CHUNK as u64)
            .and_then(|f| f.try_clone().ok());
        let offset = framer.offset();
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        let (content, first) = match positional {
            Some(file) => (Feed::At { file, offset }, None),
            None => match super::workers::read_chunk(
                framer,
                &self.recycled,
                usize::try_from(len).unwrap_or(usize::MAX),
            ) {
                Ok(chunk) => (
                    Feed::Chunks {
                        chunks: rx,
                        free: self.free.clone(),
                    },
                    Some(chunk),
                ),
                // Cut short in its first chunk: not handed to anyone.
                Err((_, fault)) => return (false, Err(fault)),
            },
        };
        let keep = match (&content, &first) {
            (_, Some(chunk)) => self.keep(chunk.bytes(), len),
            (Feed::At { file, offset }, None) => {
                let mut head = [0u8; SNIFF];
                let want = usize::try_from(len).map_or(SNIFF, |l| l.min(SNIFF));
                let read = file.read_at(&mut head[..want], *offset).unwrap_or(0);
                self.keep(&head[..read], len)
            }
            _ => false,
        };
        let job = Job {
            id,
            algorithm: algorithm_of(key),
            len,
            keep,
            content,
        };
        if self.jobs.send(job).is_err() {
            return (false, Ok(()));
        }
        let fed = match first {
            Some(first) => send_content(framer, &tx, &self.recycled, first, len, self.progress),
            None => Ok(()),
        };
        (true, fed)
    }

    /// Whether to keep a member of `len` bytes beginning with `head`: it may be a document
    /// and the budget allows. Decided here, in archive order, so the budget runs out at the
    /// same member whatever the workers' timing.
    fn keep(&self, head: &[u8], len: u64) -> bool {
        let head = &head[..head.len().min(SNIFF)];
        if !super::workers::may_be_document(head, len, self.options.max_document_size) {
            return false;
        }
        let kept = self.kept.get() + len;
        if kept > self.options.max_kept {
            self.not_kept.set(self.not_kept.get() + 1);
            return false;
        }
        self.kept.set(kept);
        true
    }
}

/// The members as the pass met them, before their content is known, and the findings so
/// far.
#[derive(Default)]
struct MemberIndex {
    pending: Vec<Pending>,
    /// Every name, with the offsets of its headers (more than one: a duplicate).
    seen: HashMap<Key, Vec<u64>>,
    /// Jobs handed to the workers.
    jobs: usize,
    findings: Vec<Finding>,
}

impl MemberIndex {
    /// The backend: each member with what its worker made of it (a member cut short is
    /// left out), and the findings about the archive.
    fn finish(
        mut self,
        name: &str,
        results: Vec<(usize, Streamed)>,
        skipped: Vec<tar::Skipped>,
    ) -> ArchiveBackend {
        let mut streamed: Vec<Option<Streamed>> = (0..self.jobs).map(|_| None).collect();
        for (id, result) in results {
            if let Some(slot) = streamed.get_mut(id) {
                *slot = Some(result);
            }
        }
        for skipped in skipped {
            self.findings.push(Finding::new(
                Rule::ArchiveLimit,
                Location::path(Key::from_bytes(skipped.name)),
                format!("member at byte {}: {}", skipped.offset, skipped.why),
            ));
        }
        let mut nodes = Vec::with_capacity(self.pending.len());
        for member in self.pending {
            let content = match member.job.and_then(|job| streamed[job].take()) {
                Some(done) if done.received == member.len => Some(done.content),
                Some(Streamed {
                    error: Some(error), ..
                }) => {
                    self.findings
                        .push(ReadError::Io(error).finding(&member.key));
                    continue;
                }
                // Cut short by the end of the stream (already a finding): not indexed, so
                // whatever names it finds it missing.
                Some(_) => continue,
                None => None,
            };
            nodes.push((
                member.key,
                Node {
                    kind: member.kind,
                    len: member.len,
                    content,
                    link: member.link,
                },
            ));
        }
        for (key, offsets) in self.seen {
            if let [.., last] = offsets[..] {
                if offsets.len() > 1 {
                    // The first few offsets: a name repeated a million times is one line.
                    let mut at: Vec<String> = offsets.iter().take(8).map(u64::to_string).collect();
                    if offsets.len() > 8 {
                        at.push("…".to_owned());
                    }
                    self.findings.push(Finding::new(
                        Rule::ArchiveMemberDuplicate,
                        Location::path(key),
                        format!(
                            "{} members of this name (at bytes {}); the last read whole (at byte {last}, unless it was cut short) is audited, as extraction would leave it",
                            offsets.len(),
                            at.join(", "),
                        ),
                    ));
                }
            }
        }
        ArchiveBackend::new(name.to_owned(), nodes, self.findings)
    }
}

/// The finding for a fault that ends the pass.
fn fault_finding(fault: Fault, compression: Option<&str>) -> Finding {
    let (rule, why) = match fault {
        Fault::Truncated(why) => (Rule::ArchiveTruncated, why),
        Fault::Corrupt(why) => (Rule::ArchiveCorrupt, why),
    };
    let why = match compression {
        Some(name) => format!("{why} ({name}-compressed); members after it are not audited"),
        None => format!("{why}; members after it are not audited"),
    };
    Finding::new(rule, Location::path(Key::root()), why)
}
