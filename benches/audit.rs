//! The audit end to end on a generated layout, at 1 thread and at every core, against a
//! naive baseline: walk `blobs/` and SHA-256 each file in turn with one 256 KiB buffer,
//! which is what a shell loop over `sha256sum` amounts to without the process costs.
//!
//! Store: 400 images of a config, one 256 KiB layer and a manifest (about 100 MiB), made
//! once by `gen_store` in a temporary directory (`OCI_AUDIT_BENCH_DIR` to choose where).
//!
//! Full run:  `cargo bench --bench audit`
//! Smoke run: `cargo bench --bench audit -- --quick` (or without `--bench`, as `cargo test
//! --benches` does: each benchmark once, on a 20-image store).

#[path = "gen_store.rs"]
mod gen_store;

use std::fs::File;
use std::hint::black_box;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use oci_audit::{NoProgress, Options};
use sha2::Digest as _;

fn quick_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench")
}

/// Walks `blobs/<alg>/` and hashes every file in turn.
fn naive(layout: &Path) -> usize {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut count = 0;
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let mut file = File::open(entry.unwrap().path()).unwrap();
        let mut hasher = sha2::Sha256::new();
        loop {
            let n = file.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        black_box(hasher.finalize());
        count += 1;
    }
    count
}

fn main() {
    let quick = quick_requested();
    let images = if quick { 20 } else { 400 };
    let base = std::env::var_os("OCI_AUDIT_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = dir.path().join("store");
    gen_store::generate(gen_store::Args {
        kind: gen_store::Kind::Layout,
        images,
        layers: 1,
        layer_size: 256 * 1024,
        repositories: 1,
        seed: 7,
        out: store.clone(),
        signed_every: 0,
        sbom_every: 0,
    })
    .unwrap();
    let bytes: u64 = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    naive(&store); // warm the page cache

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick { 50 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 150 } else { 4000 }));
    if quick {
        c = c.without_plots();
    }
    let mut c = c.configure_from_args();
    let mut group = c.benchmark_group(format!("audit/layout-{images}x256KiB"));
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("naive sequential walk + sha256", |b| {
        b.iter(|| naive(&store))
    });
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for threads in [1, cores] {
        group.bench_function(format!("oci-audit {threads} thread(s)"), |b| {
            let mut options = Options::default();
            options.run.threads = threads;
            b.iter(|| {
                let report = oci_audit::audit(&store, &options, &NoProgress).unwrap();
                assert!(report.findings.is_empty());
                black_box(report.stats.bytes_verified)
            })
        });
    }
    group.finish();
    c.final_summary();
}
