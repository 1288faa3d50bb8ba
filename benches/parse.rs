//! JSON parsing: simd-json's borrowed DOM (what oci-audit parses with) against
//! serde_json's `Value`, on realistic documents, and the whole validation path
//! (`check::document::parse`: simd-json DOM plus every image-spec check) for reference.
//!
//! Documents: a multi-platform index of 512 entries (platform, annotations, as registries
//! serve for large fan-out images) and a manifest of 100 layers with annotations.
//!
//! Full run:  `cargo bench --bench parse`
//! Smoke run: `cargo bench --bench parse -- --quick` (or without `--bench`, as `cargo test
//! --benches` does: each benchmark once).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use oci_audit::check::document::{self, Context, Expect};

fn digest(i: usize) -> String {
    format!("sha256:{:064x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn index(entries: usize) -> Vec<u8> {
    let arches = [
        ("amd64", None),
        ("arm64", Some("v8")),
        ("arm", Some("v7")),
        ("ppc64le", None),
        ("s390x", None),
        ("riscv64", None),
    ];
    let manifests: Vec<String> = (0..entries)
        .map(|i| {
            let (arch, variant) = arches[i % arches.len()];
            let variant = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"{variant},"os.version":"{i}"}},"annotations":{{"org.opencontainers.image.created":"2024-01-02T03:04:05Z","org.opencontainers.image.revision":"{i:040x}"}}}}"#,
                digest(i),
                1000 + i
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}],"annotations":{{"org.opencontainers.image.ref.name":"large"}}}}"#,
        manifests.join(",")
    )
    .into_bytes()
}

fn manifest(layers: usize) -> Vec<u8> {
    let layers: Vec<String> = (0..layers)
        .map(|i| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.title":"layer-{i}.tar.gz"}}}}"#,
                digest(i),
                1 << 20 | i
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":1234}},"layers":[{}]}}"#,
        digest(99_999),
        layers.join(",")
    )
    .into_bytes()
}

fn quick_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench")
}

fn main() {
    let quick = quick_requested();
    let mut c = Criterion::default()
        .sample_size(if quick { 10 } else { 30 })
        .warm_up_time(Duration::from_millis(if quick { 50 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 150 } else { 2000 }));
    if quick {
        c = c.without_plots();
    }
    let mut c = c.configure_from_args();
    for (name, bytes, expect) in [
        ("index-512", index(512), Expect::Index),
        ("manifest-100-layers", manifest(100), Expect::Manifest),
    ] {
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("simd-json borrowed DOM", |b| {
            b.iter_batched_ref(
                || bytes.clone(),
                |copy| {
                    black_box(simd_json::to_borrowed_value(copy).is_ok());
                },
                criterion::BatchSize::SmallInput,
            )
        });
        group.bench_function("serde_json Value", |b| {
            b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()))
        });
        group.bench_function("oci-audit validate (simd-json + checks)", |b| {
            b.iter_batched_ref(
                || bytes.clone(),
                |copy| {
                    let mut findings = Vec::new();
                    let mut cx = Context {
                        path: &"bench".into(),
                        digest: None,
                        findings: &mut findings,
                    };
                    let document = document::parse(copy, expect, &mut cx);
                    assert!(findings.is_empty(), "{findings:?}");
                    black_box(document.is_some());
                },
                criterion::BatchSize::SmallInput,
            )
        });
        group.finish();
    }
    c.final_summary();
}
