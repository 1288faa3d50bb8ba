//! The local file-system backend: the only code that opens files of the audited tree.
//!
//! Every open is read-only, `O_NOFOLLOW` (a symlink swapped in after the listing is not
//! followed), `O_NONBLOCK` (a FIFO swapped in does not block the audit) and, where the
//! kernel allows it, `O_NOATIME` (the audit does not even change access times). Before
//! opening, `lstat` must say "regular file" (opening a device can have side effects); after
//! opening, `fstat` must agree. Directories are listed through a descriptor opened
//! `O_NOFOLLOW | O_DIRECTORY | O_NOATIME`, typed by what `getdents` reports, so a
//! symlinked directory is reported and never entered.
//!
//! Content is streamed through a fixed-size buffer, so memory does not grow with blob size.
//! Files at or above [`MMAP_THRESHOLD`] are memory-mapped instead unless `--no-mmap` is
//! given; the threshold comes from `benches/digest.rs` (see BENCHMARKS.md).

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use crate::backend::{Backend, Entry, EntryKind, FileTree, Hashed, ReadError, Stat, Version};
use crate::hash::Hasher;
use crate::model::digest::Algorithm;
use crate::model::key::Key;

/// Files this large or larger are mapped rather than read (when mapping is allowed).
/// `benches/digest.rs` measured sha256 over a warm file: mapping is level with `read` at
/// 1 MiB and 5–10% faster from 4 MiB up (BENCHMARKS.md).
pub const MMAP_THRESHOLD: u64 = 4 * 1024 * 1024;

/// Reads in flight on a local file system unless `--io-concurrency` says otherwise:
/// enough for a disk's queue on a cold cache (BENCHMARKS.md, cold runs), few enough that
/// a warm run spends nothing on switching between them.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Large files are mapped one window at a time, so the pages a hash holds resident (and
/// that count in RSS) are bounded by this, whatever the blob size.
pub const MMAP_WINDOW: u64 = 16 * 1024 * 1024;

/// Size of the per-thread read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// Spare capacity so simd-json does not need to copy the input to pad it.
const SIMD_JSON_PADDING: usize = 64;

/// How blob content is brought into memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// `read` below [`MMAP_THRESHOLD`], `mmap` at or above it.
    #[default]
    Auto,
    /// Always `read` (`--no-mmap`): the smallest resident memory.
    Read,
}

/// A directory tree on a local file system, read as the audited root.
#[derive(Debug)]
pub struct LocalFs {
    root: PathBuf,
    read_mode: ReadMode,
}

impl LocalFs {
    /// The tree at `root` (symlinks in `root` itself already resolved by the caller).
    pub fn new(root: PathBuf, read_mode: ReadMode) -> LocalFs {
        LocalFs { root, read_mode }
    }

    /// The absolute path of the audited root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `key`.
    pub fn path(&self, key: &Key) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(OsStr::from_bytes(key.as_bytes()))
        }
    }
}

impl Backend for LocalFs {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn default_concurrency(&self) -> usize {
        DEFAULT_CONCURRENCY
    }

    fn cpu_bound(&self, len: u64) -> bool {
        // A large file streams at the disk's sequential rate with the kernel's readahead:
        // one reader per core keeps both the disk and the hash units busy.
        len >= MMAP_THRESHOLD
    }

    fn list(&self, dir: &Key) -> Result<Vec<Entry>, ReadError> {
        Ok(list_dir(&self.path(dir))?)
    }

    fn stat(&self, key: &Key) -> Result<Stat, ReadError> {
        let metadata = std::fs::symlink_metadata(self.path(key))?;
        Ok(stat_of(&metadata))
    }

    fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError> {
        read_small(&self.path(key), max)
    }

    fn hash(
        &self,
        key: &Key,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, ReadError> {
        hash_file(&self.path(key), algorithm, self.read_mode, progress)
    }

    fn read_head(&self, key: &Key, len: u64) -> Result<Vec<u8>, ReadError> {
        let (file, _) = open_regular(&self.path(key))?;
        let mut bytes = Vec::new();
        file.take(len).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn file_tree(&self, dir: &Key) -> Result<Box<dyn FileTree + '_>, ReadError> {
        Ok(Box::new(LocalTree::open(&self.path(dir))?))
    }
}

/// A directory of unpacked files (a layer's), held open by its descriptor; each file is
/// opened with `openat2(RESOLVE_IN_ROOT)`, so its path resolves as it would inside a
/// container whose root is this directory: an absolute symlink or `..` stays inside.
#[derive(Debug)]
pub struct LocalTree {
    dir: rustix::fd::OwnedFd,
}

impl LocalTree {
    /// Opens the directory `path` itself without following a symlink.
    pub fn open(path: &Path) -> Result<LocalTree, ReadError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = match rustix::fs::open(path, flags | OFlags::NOATIME, Mode::empty()) {
            Err(rustix::io::Errno::PERM) => rustix::fs::open(path, flags, Mode::empty()),
            other => other,
        }
        .map_err(io::Error::from)?;
        Ok(LocalTree { dir })
    }

    fn resolve(&self, path: &[u8], flags: OFlags) -> io::Result<rustix::fd::OwnedFd> {
        use rustix::fs::ResolveFlags;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let path = OsStr::from_bytes(path);
        let open = |flags| rustix::fs::openat2(&self.dir, path, flags, Mode::empty(), resolve);
        // openat2 refuses O_PATH with any flag but O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW
        // (and an O_PATH descriptor reads nothing, so leaves no access time).
        if flags.contains(OFlags::PATH) {
            return open(flags).map_err(io::Error::from);
        }
        match open(flags | OFlags::NOATIME) {
            // O_NOATIME is refused with EPERM for files we do not own (when not root).
            Err(rustix::io::Errno::PERM) => open(flags),
            other => other,
        }
        .map_err(io::Error::from)
    }
}

impl FileTree for LocalTree {
    fn open(&self, path: &[u8]) -> Result<(Box<dyn Read + Send>, u64), ReadError> {
        // As in `open_regular`: what it is is known before it is opened for reading (an
        // O_PATH descriptor opens nothing), and confirmed on the descriptor read from.
        let base = OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let probe = self.resolve(path, base | OFlags::PATH)?;
        let kind = kind_of(FileType::from_raw_mode(
            rustix::fs::fstat(&probe).map_err(io::Error::from)?.st_mode,
        ));
        if kind != EntryKind::File {
            return Err(ReadError::NotRegular(kind));
        }
        let file = File::from(self.resolve(
            path,
            base | OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
        )?);
        let after = stat_of(&file.metadata()?);
        if after.kind != EntryKind::File {
            return Err(ReadError::NotRegular(after.kind));
        }
        Ok((Box::new(file), after.len))
    }
}

fn kind_of(file_type: FileType) -> EntryKind {
    match file_type {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Dir,
        FileType::Symlink => EntryKind::Symlink,
        FileType::Fifo => EntryKind::Fifo,
        FileType::Socket => EntryKind::Socket,
        FileType::BlockDevice | FileType::CharacterDevice => EntryKind::Device,
        FileType::Unknown => EntryKind::Other,
    }
}

fn version_of(st: &rustix::fs::Stat) -> Version {
    Version::posix(
        st.st_dev,
        st.st_ino,
        nanoseconds(st.st_mtime, st.st_mtime_nsec),
        nanoseconds(st.st_ctime, st.st_ctime_nsec),
    )
}

#[allow(clippy::unnecessary_cast)] // the field types differ between targets
fn nanoseconds(seconds: impl Into<i64>, nanos: impl TryInto<i64>) -> i64 {
    seconds.into() * 1_000_000_000 + nanos.try_into().unwrap_or(0)
}

fn stat_of(metadata: &std::fs::Metadata) -> Stat {
    let kind = kind_of(FileType::from_raw_mode(metadata.mode()));
    Stat {
        kind,
        len: if kind == EntryKind::File {
            metadata.len()
        } else {
            0
        },
        version: Version::posix(
            metadata.dev(),
            metadata.ino(),
            metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
            metadata.ctime() * 1_000_000_000 + metadata.ctime_nsec(),
        ),
    }
}

/// Lists a directory without following a symlink at `path` and without updating its
/// access time. Entries are typed by the type `getdents` reports, which costs nothing;
/// regular files, and entries whose type the file system does not report, are `lstat`ed
/// relative to the open directory (so a renamed path cannot redirect them) for their
/// length and version. A registry's 256-way shards and digest directories are then listed
/// without a `stat` per entry.
pub fn list_dir(path: &Path) -> io::Result<Vec<Entry>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags | OFlags::NOATIME, Mode::empty()) {
        // O_NOATIME is refused with EPERM for directories we do not own (when not root).
        Err(rustix::io::Errno::PERM) => rustix::fs::open(path, flags, Mode::empty())?,
        other => other?,
    };
    // The stream owns the descriptor: `Dir::read_from` would open the directory a second
    // time (and `fcntl` and `close` it), three system calls of seven per directory, and a
    // registry has a million directories.
    let mut dir = Dir::new(fd)?;
    let mut entries = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let stat = match entry.file_type() {
            FileType::RegularFile | FileType::Unknown => {
                rustix::fs::statat(dir.fd()?, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| {
                        let kind = kind_of(FileType::from_raw_mode(st.st_mode));
                        Stat {
                            kind,
                            len: u64::try_from(st.st_size).unwrap_or(0),
                            version: version_of(&st),
                        }
                    })
                    .map_err(|e| ReadError::from(io::Error::from(e)))
            }
            known => Ok(Stat {
                kind: kind_of(known),
                len: 0,
                version: Version::None,
            }),
        };
        entries.push(Entry {
            name: name.to_bytes().into(),
            stat,
        });
    }
    Ok(entries)
}

/// Opens a regular file of the audited tree for reading, never following a symlink,
/// never blocking on a FIFO, never updating its access time. Returns the file and what
/// the `fstat` that confirmed it is regular says (callers need not stat again).
pub fn open_regular(path: &Path) -> Result<(File, Stat), ReadError> {
    // Refuse anything that is not a regular file before opening it: opening a device can
    // have side effects (a tape rewinds, a terminal becomes ours).
    let before = stat_of(&std::fs::symlink_metadata(path)?);
    if before.kind != EntryKind::File {
        return Err(ReadError::NotRegular(before.kind));
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
    let after = stat_of(&file.metadata()?);
    if after.kind != EntryKind::File {
        return Err(ReadError::NotRegular(after.kind));
    }
    Ok((file, after))
}

/// Hashes a file under `algorithm` (which must be verifiable), calling `progress` with byte
/// counts as it goes.
pub fn hash_file(
    path: &Path,
    algorithm: &Algorithm,
    mode: ReadMode,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Hashed, ReadError> {
    let mut hasher = Hasher::new(algorithm).ok_or_else(|| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "unverifiable algorithm",
        ))
    })?;
    let (mut file, stat) = open_regular(path)?;
    let len = stat.len;
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
                return Err(ReadError::Truncated);
            }
            offset += window;
        }
        return Ok(Hashed {
            digest: hasher.finish(),
            len,
            version: stat.version,
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
        version: stat.version,
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
pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let (file, stat) = open_regular(path)?;
    let len = stat.len;
    if len > max {
        return Err(ReadError::TooLarge { len, max });
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
        return Err(ReadError::Grew(max));
    }
    Ok(bytes)
}

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
        assert!(matches!(error, ReadError::Truncated), "{error:?}");
        assert!(error.to_string().contains("truncated"), "{error}");
        // The same file, now short, hashes normally afterwards.
        let whole = hash_file(&path, &Algorithm::Sha256, ReadMode::Auto, &|_| {}).unwrap();
        assert_eq!(whole.len, 1024 * 1024 + 100);
    }
}
