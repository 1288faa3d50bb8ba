//! Digest benchmarks: which SHA-2 implementation to use, and when `mmap` beats `read`.
//!
//! Groups:
//! - `hash/sha256`, `hash/sha512`: the `sha2` crate vs `ring` vs `aws-lc-rs` (OpenSSL's
//!   assembly kernels, in the build already through the object-store TLS stack) over
//!   in-memory buffers;
//!   `hash/blake3`: single-threaded `blake3::Hasher::update`, for reference.
//! - `file/<mode>`: hashing a warm-page-cache file with SHA-256 (`sha2`): `file/read`
//!   (`read` into a 256 KiB buffer), `file/mmap`, `file/mmap_populate` (`MAP_POPULATE`),
//!   and `file/hash_file_read`, the crate's own `hash_file(.., ReadMode::Read)`, as a
//!   check that it adds nothing to plain `read`.
//!   The variants are implemented here, so results do not depend on `MMAP_THRESHOLD`.
//!
//! Full run:  `cargo bench --bench digest`
//! Smoke run: `cargo bench --bench digest -- --quick`, or `OCI_AUDIT_BENCH_QUICK=1`
//! (tiny sizes and times; well under a minute). Run without `--bench` (as `cargo test
//! --benches` does), every benchmark runs once on the quick sizes.
//!
//! Files are written once, before timing, in a temporary directory under
//! `OCI_AUDIT_BENCH_DIR` (default: the system temporary directory), then read once so the
//! page cache is warm.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use oci_audit::backend::local::{ReadMode, hash_file};
use oci_audit::model::digest::Algorithm;
use sha2::Digest as _;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The read buffer of the `read` variant (the crate's per-thread buffer size).
const READ_BUFFER: usize = 256 * KIB;

/// Chunk fed to the hasher from a mapping (the crate feeds 1 MiB at a time for progress).
const MAP_CHUNK: usize = 4 * READ_BUFFER;

/// Sizes and timings for one run.
struct Plan {
    hash_sizes: &'static [usize],
    file_sizes: &'static [usize],
    warm_up: Duration,
    measurement: Duration,
    samples: usize,
}

const FULL: Plan = Plan {
    hash_sizes: &[4 * KIB, 64 * KIB, MIB, 64 * MIB],
    file_sizes: &[64 * KIB, MIB, 4 * MIB, 16 * MIB, 64 * MIB],
    warm_up: Duration::from_millis(700),
    measurement: Duration::from_millis(2500),
    samples: 15,
};

const QUICK: Plan = Plan {
    hash_sizes: &[4 * KIB, 64 * KIB, MIB],
    file_sizes: &[64 * KIB, MIB],
    warm_up: Duration::from_millis(50),
    measurement: Duration::from_millis(150),
    samples: 10,
};

fn quick_requested() -> bool {
    let env =
        std::env::var("OCI_AUDIT_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0");
    let args: Vec<String> = std::env::args().collect();
    // Without `--bench`, criterion only runs each benchmark once (test mode).
    env || args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench")
}

fn label(size: usize) -> String {
    if size >= MIB {
        format!("{}MiB", size / MIB)
    } else {
        format!("{}KiB", size / KIB)
    }
}

/// Deterministic, incompressible-looking bytes (xorshift64*).
/// One hash implementation: its name, and a function from bytes to the digest.
type Impl = (&'static str, fn(&[u8]) -> Vec<u8>);

fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha2_256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

fn ring_256(bytes: &[u8]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(bytes);
    context.finish().as_ref().to_vec()
}

fn sha2_512(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha512::digest(bytes).to_vec()
}

fn ring_512(bytes: &[u8]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA512);
    context.update(bytes);
    context.finish().as_ref().to_vec()
}

fn aws_lc_256(bytes: &[u8]) -> Vec<u8> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(bytes);
    context.finish().as_ref().to_vec()
}

fn aws_lc_512(bytes: &[u8]) -> Vec<u8> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    context.update(bytes);
    context.finish().as_ref().to_vec()
}

fn blake3_single(bytes: &[u8]) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(bytes);
    hasher.finalize().as_bytes().to_vec()
}

fn bench_hash(c: &mut Criterion, plan: &Plan) {
    let groups: [(&str, &[Impl]); 3] = [
        (
            "hash/sha256",
            &[
                ("sha2", sha2_256),
                ("ring", ring_256),
                ("aws-lc-rs", aws_lc_256),
            ],
        ),
        (
            "hash/sha512",
            &[
                ("sha2", sha2_512),
                ("ring", ring_512),
                ("aws-lc-rs", aws_lc_512),
            ],
        ),
        ("hash/blake3", &[("blake3", blake3_single)]),
    ];
    let largest = plan.hash_sizes.iter().copied().max().unwrap_or(0);
    let data = pattern(largest);
    for (name, impls) in groups {
        let mut group = c.benchmark_group(name);
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(plan.samples)
            .warm_up_time(plan.warm_up)
            .measurement_time(plan.measurement);
        for &size in plan.hash_sizes {
            let input = &data[..size];
            // The implementations must agree before their speeds are compared.
            let expected = impls[0].1(input);
            for &(imp, f) in impls {
                assert_eq!(f(input), expected, "{name} {imp} disagrees at {size} bytes");
            }
            group.throughput(Throughput::Bytes(size as u64));
            for &(imp, f) in impls {
                group.bench_with_input(BenchmarkId::new(imp, label(size)), input, |b, input| {
                    b.iter(|| f(black_box(input)));
                });
            }
        }
        group.finish();
    }
}

/// SHA-256 of a file through `read` into a reused buffer.
fn file_read(path: &Path, buffer: &mut [u8]) -> [u8; 32] {
    let mut file = File::open(path).expect("open");
    let mut hasher = sha2::Sha256::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => panic!("read {}: {error}", path.display()),
        }
    }
    hasher.finalize().into()
}

/// SHA-256 of a file through a read-only mapping.
fn file_mmap(path: &Path, populate: bool) -> [u8; 32] {
    let file = File::open(path).expect("open");
    let mut options = memmap2::MmapOptions::new();
    if populate {
        options.populate();
    }
    // SAFETY: a read-only private mapping of a file this benchmark created in its own
    // temporary directory and never modifies or truncates while it is mapped, so no page
    // can disappear under us (no SIGBUS) and the bytes seen are the bytes written.
    let map = unsafe { options.map(&file) }.expect("mmap");
    let mut hasher = sha2::Sha256::new();
    for chunk in map.chunks(MAP_CHUNK) {
        hasher.update(chunk);
    }
    hasher.finalize().into()
}

/// SHA-256 of a file through the crate's own `hash_file` in `ReadMode::Read`.
fn file_crate_read(path: &Path) -> String {
    hash_file(path, &Algorithm::Sha256, ReadMode::Read, &|_n| {})
        .expect("hash_file")
        .digest
        .encoded()
        .into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bench_file(c: &mut Criterion, plan: &Plan) {
    let base = std::env::var_os("OCI_AUDIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("oci-audit-bench-")
        .tempdir_in(base)
        .expect("temporary directory");
    let largest = plan.file_sizes.iter().copied().max().unwrap_or(0);
    let data = pattern(largest);
    let mut files = Vec::new();
    for &size in plan.file_sizes {
        let path = dir.path().join(format!("blob-{size}"));
        let mut file = File::create(&path).expect("create");
        file.write_all(&data[..size]).expect("write");
        file.sync_all().expect("fsync");
        files.push((size, path));
    }
    drop(data);

    let mut buffer = vec![0u8; READ_BUFFER];
    for (size, path) in &files {
        // Warms the page cache, and checks that every variant hashes the same bytes.
        let expected = hex(&file_read(path, &mut buffer));
        assert_eq!(hex(&file_mmap(path, false)), expected);
        assert_eq!(hex(&file_mmap(path, true)), expected);
        assert_eq!(file_crate_read(path), expected);

        // One group per mode (`file/<mode>`), reopened for each size so that the modes
        // are measured back to back at each size and share the same background noise.
        for mode in ["read", "mmap", "mmap_populate", "hash_file_read"] {
            let mut group = c.benchmark_group(format!("file/{mode}"));
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(plan.samples)
                .warm_up_time(plan.warm_up)
                .measurement_time(plan.measurement)
                .throughput(Throughput::Bytes(*size as u64));
            let id = BenchmarkId::from_parameter(label(*size));
            group.bench_with_input(id, path, |b, path| match mode {
                "read" => b.iter(|| file_read(black_box(path), &mut buffer)),
                "mmap" => b.iter(|| file_mmap(black_box(path), false)),
                "mmap_populate" => b.iter(|| file_mmap(black_box(path), true)),
                _ => b.iter(|| file_crate_read(black_box(path))),
            });
            group.finish();
        }
    }
}

fn main() {
    let quick = quick_requested();
    let plan = if quick { &QUICK } else { &FULL };
    let mut c = Criterion::default()
        .sample_size(plan.samples)
        .warm_up_time(plan.warm_up)
        .measurement_time(plan.measurement);
    if quick {
        // Plotting costs about 2 s per benchmark, ten times the quick measurement itself.
        c = c.without_plots();
    }
    let mut c = c.configure_from_args();
    bench_hash(&mut c, plan);
    bench_file(&mut c, plan);
    c.final_summary();
    if std::env::var_os("OCI_AUDIT_BENCH_RACE").is_some() {
        race(if quick { 3 } else { 40 });
    }
}

/// The implementations of one algorithm, run in turn over the same 16 MiB buffer, `rounds`
/// times; the best time of each. On a shared virtual machine, whose neighbours steal
/// cycles in bursts, the best of interleaved runs compares implementations where
/// criterion's means, taken minutes apart, can differ by a third.
fn race(rounds: usize) {
    let input = pattern(16 * MIB);
    let candidates: [(&str, &[Impl]); 2] = [
        (
            "sha256",
            &[
                ("sha2", sha2_256),
                ("ring", ring_256),
                ("aws-lc-rs", aws_lc_256),
            ],
        ),
        (
            "sha512",
            &[
                ("sha2", sha2_512),
                ("ring", ring_512),
                ("aws-lc-rs", aws_lc_512),
            ],
        ),
    ];
    for (algorithm, impls) in candidates {
        let mut best = vec![Duration::MAX; impls.len()];
        for _ in 0..rounds {
            for (i, (_, hash)) in impls.iter().enumerate() {
                let started = std::time::Instant::now();
                black_box(hash(black_box(&input)));
                best[i] = best[i].min(started.elapsed());
            }
        }
        let line: Vec<String> = impls
            .iter()
            .zip(&best)
            .map(|((name, _), t)| format!("{name} {:.0} MiB/s", 16.0 / t.as_secs_f64()))
            .collect();
        println!(
            "race {algorithm} (best of {rounds}, 16 MiB): {}",
            line.join(", ")
        );
    }
}
