//! Reading and hashing blob files: the only code that opens files of the audited tree.
//!
//! Every open is read-only, `O_NOFOLLOW` (a symlink swapped in after the inventory is not
//! followed), `O_NONBLOCK` (a FIFO swapped in does not block the audit) and, where the
//! kernel allows it, `O_NOATIME` (the audit does not even change access times). After
//! opening, `fstat` must say "regular file".
//!
//! Content is streamed through a fixed-size buffer, so memory does not grow with blob size.
//! Files at or above [`MMAP_THRESHOLD`] are memory-mapped instead unless `--no-mmap` is
//! given; the threshold comes from `benches/digest.rs` (see BENCHMARKS.md).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::Digest as _;

use crate::model::digest::{Algorithm, Digest};

/// Files this large or larger are mapped rather than read (when mapping is allowed).
/// `benches/digest.rs` measured sha256 over a warm file: mapping is level with `read` at
/// 1 MiB and 5–10% faster from 4 MiB up (BENCHMARKS.md).
pub const MMAP_THRESHOLD: u64 = 4 * 1024 * 1024;

/// Large files are mapped one window at a time, so the pages a hash holds resident (and
/// that count in RSS) are bounded by this, whatever the blob size.
pub const MMAP_WINDOW: u64 = 16 * 1024 * 1024;

/// Size of the per-thread read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// How blob content is brought into memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// `read` below [`MMAP_THRESHOLD`], `mmap` at or above it.
    #[default]
    Auto,
    /// Always `read` (`--no-mmap`): safe against files truncated while we hash them.
    Read,
}

/// An incremental hasher for one of the verifiable algorithms.
pub enum Hasher {
    /// SHA-256 (the `sha2` crate; SHA-NI when the CPU has it).
    Sha256(sha2::Sha256),
    /// SHA-512.
    Sha512(sha2::Sha512),
    /// BLAKE3 (SIMD-dispatched).
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// A hasher for `algorithm`, or `None` when we cannot compute it.
    pub fn new(algorithm: &Algorithm) -> Option<Hasher> {
        Some(match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Other(_) => return None,
        })
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::sha256(h.finalize().into()),
            Hasher::Sha512(h) => Digest::sha512(h.finalize().into()),
            Hasher::Blake3(h) => Digest::blake3(*h.finalize().as_bytes()),
        }
    }
}

/// The digest of `bytes` under `algorithm`, or `None` when it cannot be computed.
pub fn digest_bytes(algorithm: &Algorithm, bytes: &[u8]) -> Option<Digest> {
    let mut hasher = Hasher::new(algorithm)?;
    hasher.update(bytes);
    Some(hasher.finish())
}

/// Opens a regular file of the audited tree for reading, never following a symlink,
/// never blocking on a FIFO, never updating its access time. Returns the file and its
/// length from the `fstat` that confirmed it is regular (callers need not stat again).
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    // Refuse anything that is not a regular file before opening it: opening a device can
    // have side effects (a tape rewinds, a terminal becomes ours).
    let before = std::fs::symlink_metadata(path)?;
    if !before.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            not_regular(&before),
        ));
    }
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let file = match File::options()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        // O_NOATIME is refused with EPERM for files we do not own (when not root).
        Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
            File::options().read(true).custom_flags(base).open(path)?
        }
        other => other?,
    };
    // The entry may have been swapped between the check and the open.
    let after = file.metadata()?;
    if !after.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            not_regular(&after),
        ));
    }
    Ok((file, after.len()))
}

fn not_regular(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = metadata.file_type();
    if t.is_symlink() {
        "is a symlink; not followed"
    } else if t.is_dir() {
        "is a directory, not a file"
    } else if t.is_fifo() {
        "is a FIFO, not a file"
    } else if t.is_socket() {
        "is a socket, not a file"
    } else if t.is_block_device() || t.is_char_device() {
        "is a device node, not a file"
    } else {
        "is not a regular file"
    }
}

/// The outcome of hashing a file.
pub struct Hashed {
    /// What the content hashes to.
    pub digest: Digest,
    /// How many bytes were hashed (the length at the time of reading).
    pub len: u64,
}

/// Hashes a file under `algorithm` (which must be verifiable), calling `progress` with byte
/// counts as it goes.
pub fn hash_file(
    path: &Path,
    algorithm: &Algorithm,
    mode: ReadMode,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<Hashed> {
    let mut hasher = Hasher::new(algorithm)
        .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "unverifiable algorithm"))?;
    let (mut file, len) = open_regular(path)?;
    if mode == ReadMode::Auto && len >= MMAP_THRESHOLD {
        let mut offset = 0;
        while offset < len {
            let window = (len - offset).min(MMAP_WINDOW);
            let window_len = usize::try_from(window).map_err(io::Error::other)?;
            // SAFETY: the mapping is read-only and private to this loop iteration, and no
            // reference into it outlives `map`. The one hazard is a file truncated by
            // another process while mapped (a registry garbage-collecting beside us):
            // touching pages past the new end raises SIGBUS. `guard::watch` turns that into
            // zero pages and an error for this blob instead of the death of the process.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(offset)
                    .len(window_len)
                    .map(&file)?
            };
            // Sequential access: the kernel reads ahead and drops pages behind us.
            map.advise(memmap2::Advice::Sequential).ok();
            let truncated = guard::watch(&map, || {
                for chunk in map.chunks(READ_BUFFER * 4) {
                    hasher.update(chunk);
                    progress(chunk.len() as u64);
                }
            });
            if truncated {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated by another process while being read (mapped pages vanished)",
                ));
            }
            offset += window;
        }
        return Ok(Hashed {
            digest: hasher.finish(),
            len,
        });
    }
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUFFER]);
    }
    let total = BUFFER.with_borrow_mut(|buffer| -> io::Result<u64> {
        let mut total = 0;
        loop {
            let n = match file.read(buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            hasher.update(&buffer[..n]);
            total += n as u64;
            progress(n as u64);
        }
        Ok(total)
    })?;
    Ok(Hashed {
        digest: hasher.finish(),
        len: total,
    })
}

/// Survives SIGBUS from a mapped blob that another process truncates while we hash it.
///
/// While a window is hashed, its address range is registered for the hashing thread. The
/// handler answers a fault inside that range by mapping a private zero page over the
/// faulting page, so the load completes, and records the fault; [`watch`] then reports the
/// blob as truncated, and the audit goes on with an honest finding. A fault anywhere else
/// is not ours and goes to the handler that was installed before (Rust's own, or the
/// default action, which ends the process as it would have without us).
mod guard {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    thread_local! {
        // `const` thread-locals need no lazy initialisation, so reading them in a signal
        // handler neither allocates nor takes a lock.
        static WINDOW: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
        static FAULTED: Cell<bool> = const { Cell::new(false) };
    }

    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
    static PAGE: AtomicUsize = AtomicUsize::new(4096);

    /// Runs `hash` over `window` (a mapping) with faults in it answered; returns whether
    /// any page vanished, i.e. the file was truncated underneath.
    pub fn watch(window: &[u8], hash: impl FnOnce()) -> bool {
        install();
        WINDOW.with(|w| w.set((window.as_ptr() as usize, window.len())));
        FAULTED.with(|f| f.set(false));
        hash();
        WINDOW.with(|w| w.set((0, 0)));
        FAULTED.with(Cell::get)
    }

    fn install() {
        PREVIOUS.get_or_init(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            PAGE.store(usize::try_from(page).unwrap_or(4096), Ordering::Relaxed);
            // SAFETY: a zeroed sigaction is a valid value to fill in; the handler is an
            // `extern "C"` function with the SA_SIGINFO signature, and `previous` is a valid
            // out-pointer.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGBUS, &action, &mut previous);
                previous
            }
        });
    }

    extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler.
        let address = unsafe { (*info).si_addr() } as usize;
        let (start, len) = WINDOW.with(Cell::get);
        if len != 0 && address >= start && address - start < len {
            let page = PAGE.load(Ordering::Relaxed);
            let base = address & !(page - 1);
            // SAFETY: `base` is a page inside our own read-only mapping, which is only read
            // through; replacing it with an anonymous page changes what the hash sees (zeros,
            // reported as truncation), never memory anyone else owns. mmap is a plain system
            // call on Linux and safe to make here.
            let mapped = unsafe {
                libc::mmap(
                    base as *mut c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                FAULTED.with(|f| f.set(true));
                return;
            }
        }
        chain(signal, info, context);
    }

    /// Hands a fault that is not ours to the handler installed before.
    fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
        let Some(previous) = PREVIOUS.get() else {
            return;
        };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: restoring the default action; returning re-runs the faulting load,
            // which then ends the process as SIGBUS always did.
            unsafe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
            }
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
            // signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(handler) };
            f(signal, info, context);
        } else {
            // SAFETY: without SA_SIGINFO the previous handler takes only the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(signal);
        }
    }
}

/// Reads a whole (small) file, refusing more than `max` bytes.
pub fn read_small(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{len} bytes, over the {max}-byte limit"),
        ));
    }
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let mut bytes = vec![0u8; len + 1];
    bytes.reserve_exact(SIMD_JSON_PADDING);
    // One read sized by fstat, one byte over: a regular file returns fewer bytes than asked
    // only at its end, so a read of exactly `len` is the whole file, and `read_to_end`'s
    // second call to confirm the end (one system call per link file and document, of six)
    // is saved. Anything else (a signal, a file that shrank or grew) falls back to the loop.
    let first = loop {
        match (&file).read(&mut bytes) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    bytes.truncate(first);
    if first != len {
        (&file)
            .take(max + 1 - first as u64)
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("grew past the {max}-byte limit while being read"),
        ));
    }
    Ok(bytes)
}

/// Spare capacity so simd-json does not need to copy the input to pad it.
const SIMD_JSON_PADDING: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    /// A mapped blob truncated while it is hashed (in the progress callback, after the
    /// first chunk): every later page of the window and the windows beyond the new end
    /// raise SIGBUS. The process survives and the blob is reported as truncated.
    #[test]
    fn truncation_under_a_mapping_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let len = MMAP_WINDOW * 2 + MMAP_THRESHOLD;
        std::fs::write(&path, vec![7u8; usize::try_from(len).unwrap()]).unwrap();
        let truncate = std::sync::Once::new();
        let shorten = |_| {
            truncate.call_once(|| {
                let file = File::options().write(true).open(&path).unwrap();
                file.set_len(1024 * 1024 + 100).unwrap();
            });
        };
        let error = match hash_file(&path, &Algorithm::Sha256, ReadMode::Auto, &shorten) {
            Err(error) => error,
            Ok(_) => panic!("a truncated mapping must not hash as if whole"),
        };
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(error.to_string().contains("truncated"), "{error}");
        // The same file, now short, hashes normally afterwards.
        let whole = hash_file(&path, &Algorithm::Sha256, ReadMode::Auto, &|_| {}).unwrap();
        assert_eq!(whole.len, 1024 * 1024 + 100);
    }

    #[test]
    fn known_vectors() {
        let empty = digest_bytes(&Algorithm::Sha256, b"").unwrap();
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let braces = digest_bytes(&Algorithm::Sha256, b"{}").unwrap();
        assert_eq!(
            braces.encoded(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            digest_bytes(&Algorithm::Blake3, b"").unwrap().encoded(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            digest_bytes(&Algorithm::Sha512, b"abc")
                .unwrap()
                .encoded()
                .len(),
            128
        );
        assert!(digest_bytes(&Algorithm::Other("md5".into()), b"").is_none());
    }
}
