//! read-probe: reads a list of small files the way the audit reads links and documents
//! (`lstat`, open without following, one read, close; the audit's `fstat` after the open
//! is left out, so the probe is a floor), either on blocking threads or
//! through one io_uring, so that the choice between the two for cold stores is measured
//! rather than argued (BENCHMARKS.md, "Cold stores"; run by `benches/e2e.sh --cold`).
//!
//! Usage: `read-probe LIST threads|uring N` — LIST holds one path per line; N is the
//! number of threads, or of files in flight in the ring. Prints the files read, their
//! bytes, the failures and the elapsed time.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use io_uring::{IoUring, opcode, squeue, types};

/// Read buffer per file in flight: the audit reads links and documents whole.
const BUFFER: usize = 64 * 1024;

/// The ring's open, as the audit opens a file (`backend::local::open_regular`), less
/// O_CLOEXEC, which the kernel refuses for a fixed-file slot (never inherited anyway).
const RING_OPEN_FLAGS: i32 =
    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOATIME;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (list, mode, depth) = match args.as_slice() {
        [_, list, mode, depth] => (list, mode.as_str(), depth.parse::<usize>()),
        _ => usage(),
    };
    let Ok(depth) = depth else { usage() };
    let depth = depth.max(1);
    let text = std::fs::read(list).unwrap_or_else(|e| fail(&format!("{list}: {e}")));
    let paths: Vec<CString> = text
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(CString::new)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| fail(&format!("{list}: {e}")));
    let started = Instant::now();
    let (bytes, failed) = match mode {
        "threads" => on_threads(&paths, depth),
        "uring" => on_ring(&paths, depth).unwrap_or_else(|e| fail(&format!("io_uring: {e}"))),
        _ => usage(),
    };
    println!(
        "{mode} {depth}: {} files, {bytes} bytes, {failed} failed, {:.2} s",
        paths.len(),
        started.elapsed().as_secs_f64()
    );
}

fn usage() -> ! {
    fail("usage: read-probe LIST threads|uring N")
}

fn fail(message: &str) -> ! {
    eprintln!("read-probe: {message}");
    std::process::exit(2)
}

/// `depth` blocking threads, each taking the next path: lstat, open, read, close.
fn on_threads(paths: &[CString], depth: usize) -> (u64, u64) {
    let next = AtomicUsize::new(0);
    let (bytes, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        for _ in 0..depth {
            scope.spawn(|| {
                let mut buffer = vec![0u8; BUFFER];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    match read_blocking(path, &mut buffer) {
                        Some(n) => bytes.fetch_add(n, Ordering::Relaxed),
                        None => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    (bytes.into_inner(), failed.into_inner())
}

fn read_blocking(path: &CString, buffer: &mut [u8]) -> Option<u64> {
    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let flags = OFlags::RDONLY
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC
        | OFlags::NOATIME;
    let fd = rustix::fs::open(path.as_c_str(), flags, Mode::empty()).ok()?;
    // The descriptor is closed when `fd` drops.
    rustix::io::read(&fd, buffer).ok().map(|n| n as u64)
}

/// One ring with `depth` files in flight, each a hard-linked chain of statx, openat into
/// a fixed-file slot, read and close, so that one submission carries a file's four
/// operations and the kernel runs them in order.
fn on_ring(paths: &[CString], depth: usize) -> std::io::Result<(u64, u64)> {
    let mut ring = IoUring::new(
        u32::try_from(depth * 4)
            .unwrap_or(u32::MAX)
            .next_power_of_two(),
    )?;
    ring.submitter()
        .register_files_sparse(u32::try_from(depth).unwrap_or(u32::MAX))?;
    let mut buffers = vec![vec![0u8; BUFFER]; depth];
    // SAFETY: `statx` is a plain C struct of integers; all zeroes is a valid value. (io_uring
    // takes raw pointers, so this probe needs `unsafe` where the audit needs none.)
    let mut stats: Vec<libc::statx> = (0..depth).map(|_| unsafe { std::mem::zeroed() }).collect();
    // Completions still expected per slot; a slot is free again at zero.
    let mut pending = vec![0u8; depth];
    // Whether an operation of the slot's current file failed.
    let mut broken = vec![false; depth];
    let (mut bytes, mut failed, mut next, mut done) = (0u64, 0u64, 0usize, 0usize);
    let queue = |ring: &mut IoUring,
                 slot: usize,
                 path: &CString,
                 buffer: &mut [u8],
                 st: &mut libc::statx| {
        // SAFETY: the path, buffer and statx buffer of `slot` live (in `paths`, `buffers`
        // and `stats`) until its four completions have been reaped.
        unsafe {
            ring.submission()
                .push_multiple(&chain(slot, path, buffer, st))
        }
        .expect("the ring holds depth chains");
    };
    // Slots with no file in flight, taken lowest first.
    let mut free: Vec<usize> = (0..depth).rev().collect();
    while done < paths.len() {
        while next < paths.len() {
            let Some(slot) = free.pop() else { break };
            queue(
                &mut ring,
                slot,
                &paths[next],
                &mut buffers[slot],
                &mut stats[slot],
            );
            pending[slot] = 4;
            next += 1;
        }
        ring.submit_and_wait(1)?;
        let completed: Vec<(u64, i32)> = ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user, result) in completed {
            let (slot, op) = ((user >> 2) as usize, user & 3);
            match u64::try_from(result) {
                Ok(n) if op == 2 => bytes += n,
                Ok(_) => {}
                Err(_) => {
                    // The first failure is named: a chain the kernel refuses whole (an
                    // invalid flag) would otherwise show only as every file failing.
                    if failed == 0 && !broken.iter().any(|&b| b) {
                        let error = std::io::Error::from_raw_os_error(-result);
                        eprintln!("read-probe: first failure: operation {op} of a chain: {error}");
                    }
                    broken[slot] = true;
                }
            }
            pending[slot] -= 1;
            if pending[slot] == 0 {
                done += 1;
                failed += u64::from(std::mem::take(&mut broken[slot]));
                free.push(slot);
            }
        }
    }
    Ok((bytes, failed))
}

/// One file's operations for ring slot `slot`, hard-linked so that each runs after the one
/// before, whatever its result (a failed open still reaches the close).
fn chain(
    slot: usize,
    path: &CString,
    buffer: &mut [u8],
    st: &mut libc::statx,
) -> [squeue::Entry; 4] {
    let fixed = u32::try_from(slot).expect("slot fits u32");
    let user = |op: u64| (slot as u64) << 2 | op;
    let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
    [
        opcode::Statx::new(
            types::Fd(libc::AT_FDCWD),
            path.as_ptr(),
            (st as *mut libc::statx).cast(),
        )
        .flags(libc::AT_SYMLINK_NOFOLLOW)
        .mask(libc::STATX_BASIC_STATS)
        .build()
        .flags(squeue::Flags::IO_HARDLINK)
        .user_data(user(0)),
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
            .flags(RING_OPEN_FLAGS)
            .file_index(types::DestinationSlot::try_from_slot_target(fixed).ok())
            .build()
            .flags(squeue::Flags::IO_HARDLINK)
            .user_data(user(1)),
        opcode::Read::new(types::Fixed(fixed), buffer.as_mut_ptr(), len)
            .build()
            .flags(squeue::Flags::IO_HARDLINK)
            .user_data(user(2)),
        opcode::Close::new(types::Fixed(fixed))
            .build()
            .user_data(user(3)),
    ]
}
