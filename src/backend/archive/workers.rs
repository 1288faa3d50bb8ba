//! The hashing workers: each takes a whole member, from chunks the reader sends or (in an
//! uncompressed file) read where it lies, and hashes, sniffs and keeps it as it comes.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use crate::backend::archive::{Compression, Content};
use crate::hash::Hasher;
use crate::model::digest::Algorithm;

use super::tar::{self, Fault, Framer};

/// Content is handed to the hashing workers in chunks of this size.
pub(super) const CHUNK: usize = 1024 * 1024;

/// Chunks queued for one member: enough to keep a worker busy while the reader fetches
/// the next, little enough that memory stays a few MiB per worker.
pub(super) const CHUNKS_IN_FLIGHT: usize = 4;

/// Members kept whatever they begin with, so that a small document that is not JSON at
/// all is reported as the directory audit reports it. Larger members are kept only when
/// they begin like JSON (up to `--max-document-size`): layers do not.
const KEEP_ANY: u64 = 64 * 1024;

/// One member handed to a worker.
pub(super) struct Job {
    pub(super) id: usize,
    pub(super) algorithm: Algorithm,
    pub(super) len: u64,
    /// Keep the whole content (decided by the reader, in archive order).
    pub(super) keep: bool,
    pub(super) content: Feed,
}

/// How a member's content reaches its worker.
pub(super) enum Feed {
    /// In chunks the reader sends, in order; each buffer is sent back through `free`
    /// for the reader to fill again.
    Chunks {
        chunks: Receiver<Chunk>,
        free: Sender<Vec<u8>>,
    },
    /// Read by the worker itself, where it lies in an uncompressed file: large members
    /// are then hashed several at once.
    At { file: File, offset: u64 },
}

/// Content in flight: the first `len` bytes of a [`CHUNK`]-sized buffer. Buffers go round
/// between the reader and the workers, so a pass allocates (and the kernel faults in and
/// zeroes) a few of them, not one per MiB of archive.
pub(super) struct Chunk {
    pub(super) buffer: Vec<u8>,
    pub(super) len: usize,
}

impl Chunk {
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

/// What a worker made of one member.
pub(super) struct Streamed {
    pub(super) content: Content,
    pub(super) received: u64,
    /// Why the worker could not read it all, when it read it itself.
    pub(super) error: Option<io::Error>,
}

/// Reads the next chunk of the current member (`size` bytes at most), into a buffer the
/// workers gave back when there is one. On a fault, what was read comes with it.
pub(super) fn read_chunk<R: tar::Input>(
    framer: &mut Framer<R>,
    recycled: &Receiver<Vec<u8>>,
    size: usize,
) -> Result<Chunk, (Chunk, Fault)> {
    let mut chunk = Chunk {
        buffer: recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]),
        len: 0,
    };
    let size = size.min(CHUNK);
    while chunk.len < size {
        match framer.read(&mut chunk.buffer[chunk.len..size]) {
            Ok(n) => chunk.len += n,
            Err(fault) => return Err((chunk, fault)),
        }
    }
    Ok(chunk)
}

/// Feeds the current member to its worker: `first` (already read), then the rest of its
/// `len` bytes, chunk by chunk.
pub(super) fn send_content<R: tar::Input>(
    framer: &mut Framer<R>,
    tx: &SyncSender<Chunk>,
    recycled: &Receiver<Vec<u8>>,
    first: Chunk,
    len: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), Fault> {
    let mut left = len - first.len as u64;
    progress(first.len as u64);
    if tx.send(first).is_err() {
        return Ok(());
    }
    while left > 0 {
        let size = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let chunk = match read_chunk(framer, recycled, size) {
            Ok(chunk) => chunk,
            Err((chunk, fault)) => {
                let _ = tx.send(chunk);
                return Err(fault);
            }
        };
        left -= size as u64;
        progress(size as u64);
        if tx.send(chunk).is_err() {
            break;
        }
    }
    Ok(())
}

/// Whether a member of `len` bytes that begins with `head` can be a document, and so is
/// kept: anything small (so a document that is not JSON is reported as on disk), or what
/// begins like JSON (layers do not) up to `max_document_size`.
pub(super) fn may_be_document(head: &[u8], len: u64, max_document_size: u64) -> bool {
    let json = head
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    len <= KEEP_ANY || (json && len <= max_document_size)
}

/// A worker's work on one member: hash it as it comes; keep the content if it can be a
/// document (small, or beginning like JSON and no larger than a document may be).
/// `buffer` is the worker's own, for members it reads itself.
pub(super) fn hash_member(
    job: Job,
    buffer: &mut Vec<u8>,
    progress: &(dyn Fn(u64) + Sync),
) -> Streamed {
    let mut digest = Digesting::new(&job);
    match job.content {
        Feed::Chunks { chunks, free } => {
            for chunk in chunks.iter() {
                digest.update(chunk.bytes());
                // The reader may have finished; then the buffer is simply dropped.
                let _ = free.send(chunk.buffer);
            }
            digest.finish(None)
        }
        Feed::At { file, offset } => {
            use std::os::unix::fs::FileExt;
            buffer.resize(CHUNK, 0);
            let mut error = None;
            while digest.received < job.len {
                let want =
                    usize::try_from(job.len - digest.received).map_or(CHUNK, |l| l.min(CHUNK));
                match file.read_at(&mut buffer[..want], offset + digest.received) {
                    // Past the end of the file: the framing reports the cut.
                    Ok(0) => break,
                    Ok(n) => {
                        digest.update(&buffer[..n]);
                        progress(n as u64);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            digest.finish(error)
        }
    }
}

/// One member's content as it arrives: hashed, sniffed, and kept when the reader said so.
pub(super) struct Digesting {
    hasher: Option<Hasher>,
    kept: Option<Vec<u8>>,
    compression: Option<Compression>,
    received: u64,
}

impl Digesting {
    fn new(job: &Job) -> Digesting {
        Digesting {
            hasher: Hasher::new(&job.algorithm),
            kept: job
                .keep
                .then(|| Vec::with_capacity(usize::try_from(job.len).unwrap_or(0))),
            compression: None,
            received: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if self.received == 0 && !bytes.is_empty() {
            self.compression = Compression::sniff(bytes);
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(bytes);
        }
        if let Some(kept) = self.kept.as_mut() {
            kept.extend_from_slice(bytes);
        }
        self.received += bytes.len() as u64;
    }

    fn finish(self, error: Option<io::Error>) -> Streamed {
        Streamed {
            content: Content {
                digest: self.hasher.map(Hasher::finish),
                kept: self.kept.map(Arc::from),
                compression: self.compression,
            },
            received: self.received,
            error,
        }
    }
}
