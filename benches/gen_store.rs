//! Synthetic stores for benches and the end-to-end script: an OCI layout, a tree of
//! layouts, or a Distribution root, of a chosen count and size, identical for the same
//! arguments (every byte derives from `--seed`). Output is never committed.
//!
//! ```text
//! cargo run --release --example gen-store -- --kind distribution --images 20000 \
//!     --layers 1 --layer-size 512 --repositories 100 --out /tmp/store
//! ```
//!
//! Each image is a config, `--layers` layers of `--layer-size` pseudo-random bytes
//! (incompressible, unique per image) and an OCI manifest. A layout's `index.json` tags
//! every image; a Distribution root links each image in repository `repo-<i mod R>` as a
//! revision, a tag, and `_layers` links for its config and layers, as a registry does.
//! A zot root (`--kind zot`, zot's deduplication on a local file system) pushes every
//! image to all R repositories: configs and layers once in `_blobstore`, hard-linked into
//! each repository, manifests written into each: heavy sharing, as on a registry whose
//! base images every team pulls.
//!
//! `--signed-every N` signs every Nth image as cosign does (a tag `sha256-<hex>.sig` of a
//! simple-signing manifest), and `--sbom-every N` attaches an SPDX SBOM to every Nth as an
//! OCI 1.1 referrer (a manifest with a `subject`), listed in the fallback tag
//! `sha256-<hex>` as a registry without the referrers API holds it.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Layout,
    Layouts,
    Distribution,
    Zot,
}

/// What to generate (the command line's flags).
pub struct Args {
    pub kind: Kind,
    pub images: u64,
    pub layers: u64,
    pub layer_size: u64,
    pub repositories: u64,
    pub seed: u64,
    pub out: PathBuf,
    /// Sign every Nth image (0: none).
    pub signed_every: u64,
    /// Attach an SBOM to every Nth image (0: none).
    pub sbom_every: u64,
}

#[allow(dead_code)]
fn usage() -> ! {
    eprintln!(
        "usage: gen-store --kind layout|layouts|distribution|zot --images N [--layers L] \
         [--layer-size BYTES] [--repositories R] [--seed S] [--signed-every N] \
         [--sbom-every N] --out DIR"
    );
    std::process::exit(2)
}

#[allow(dead_code)]
fn parse_args() -> Args {
    let mut args = Args {
        kind: Kind::Layout,
        images: 0,
        layers: 1,
        layer_size: 1024,
        repositories: 1,
        seed: 1,
        out: PathBuf::new(),
        signed_every: 0,
        sbom_every: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--kind" => {
                args.kind = match value.as_str() {
                    "layout" => Kind::Layout,
                    "layouts" => Kind::Layouts,
                    "distribution" => Kind::Distribution,
                    "zot" => Kind::Zot,
                    _ => usage(),
                }
            }
            "--images" => args.images = number(),
            "--layers" => args.layers = number(),
            "--layer-size" => args.layer_size = number(),
            "--repositories" => args.repositories = number().max(1),
            "--seed" => args.seed = number(),
            "--signed-every" => args.signed_every = number(),
            "--sbom-every" => args.sbom_every = number(),
            "--out" => args.out = PathBuf::from(value),
            _ => usage(),
        }
    }
    if args.images == 0 || args.out.as_os_str().is_empty() {
        usage();
    }
    args
}

/// splitmix64: a fast, well-mixed stream; the same seed gives the same bytes.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Where one store keeps blobs, and how it records an image.
struct Writer {
    kind: Kind,
    root: PathBuf,
    /// Per layout (or repository): the index.json entries written so far.
    entries: Vec<Vec<String>>,
}

impl Writer {
    fn unit_dir(&self, unit: u64) -> PathBuf {
        match self.kind {
            Kind::Layout => self.root.clone(),
            Kind::Layouts | Kind::Zot => self.root.join(format!("repo-{unit}")),
            Kind::Distribution => self
                .root
                .join(format!("docker/registry/v2/repositories/repo-{unit}")),
        }
    }

    fn blob_path(&self, unit: u64, hex: &str) -> PathBuf {
        match self.kind {
            Kind::Distribution => self
                .root
                .join("docker/registry/v2/blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data"),
            _ => self.unit_dir(unit).join("blobs/sha256").join(hex),
        }
    }

    /// Writes a blob; returns its hex digest. In a zot root it goes to `_blobstore` and
    /// is hard-linked into every repository, as zot's `LinkBlob` does.
    fn blob(&self, unit: u64, bytes: &[u8]) -> std::io::Result<String> {
        let hex = hex(&Sha256::digest(bytes));
        if self.kind == Kind::Zot {
            let master = self.root.join("_blobstore/blobs/sha256").join(&hex);
            write_file(&master, bytes)?;
            for repository in 0..self.entries.len() as u64 {
                let path = self.blob_path(repository, &hex);
                fs::create_dir_all(path.parent().expect("blob paths have parents"))?;
                fs::hard_link(&master, path)?;
            }
            return Ok(hex);
        }
        write_file(&self.blob_path(unit, &hex), bytes)?;
        Ok(hex)
    }

    /// Writes a manifest (in a zot root, into every repository: zot does not deduplicate
    /// manifests); returns its hex digest.
    fn manifest(&self, unit: u64, bytes: &[u8]) -> std::io::Result<String> {
        let hex = hex(&Sha256::digest(bytes));
        if self.kind == Kind::Zot {
            for repository in 0..self.entries.len() as u64 {
                write_file(&self.blob_path(repository, &hex), bytes)?;
            }
            return Ok(hex);
        }
        write_file(&self.blob_path(unit, &hex), bytes)?;
        Ok(hex)
    }

    fn link(&self, unit: u64, relative: &str, hex: &str) -> std::io::Result<()> {
        let path = self.unit_dir(unit).join(relative);
        fs::create_dir_all(path.parent().expect("link paths have parents"))?;
        fs::write(path, format!("sha256:{hex}"))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(path.parent().expect("blob paths have parents"))?;
    fs::write(path, bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn descriptor(media_type: &str, hex: &str, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"sha256:{hex}","size":{size}}}"#)
}

fn image(writer: &mut Writer, args: &Args, i: u64, layer: &mut Vec<u8>) -> std::io::Result<()> {
    let unit = i % args.repositories;
    let mut stream = Stream(args.seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f));
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for _ in 0..args.layers {
        layer.clear();
        while (layer.len() as u64) < args.layer_size {
            layer.extend_from_slice(&stream.next().to_le_bytes());
        }
        layer.truncate(args.layer_size as usize);
        let hex = writer.blob(unit, layer)?;
        layer_descriptors.push(descriptor(
            "application/vnd.oci.image.layer.v1.tar",
            &hex,
            layer.len(),
        ));
        diff_ids.push(format!(r#""sha256:{hex}""#));
        layer_digests.push(hex);
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["IMAGE={i}"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_hex = writer.blob(unit, config.as_bytes())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
        descriptor(
            "application/vnd.oci.image.config.v1+json",
            &config_hex,
            config.len()
        ),
        layer_descriptors.join(",")
    );
    let manifest_hex = writer.manifest(unit, manifest.as_bytes())?;
    let mut blobs = layer_digests;
    blobs.push(config_hex);
    let tag = format!("img-{i}");
    tag_manifest(writer, unit, &manifest, MANIFEST, &tag, &blobs)?;
    if args.signed_every > 0 && i % args.signed_every == 0 {
        signature(writer, unit, &manifest_hex)?;
    }
    // Another third than the signed one, where both are every third.
    if args.sbom_every > 0 && (i + 1) % args.sbom_every == 0 {
        sbom(writer, unit, i, &manifest_hex, manifest.len())?;
    }
    Ok(())
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Records `manifest` (already written) under `tag`, with the blobs it names: a
/// Distribution root's revision, tag and layer links, or an `index.json` entry.
fn tag_manifest(
    writer: &mut Writer,
    unit: u64,
    manifest: &str,
    media_type: &str,
    tag: &str,
    blobs: &[String],
) -> std::io::Result<()> {
    let manifest_hex = hex(&Sha256::digest(manifest.as_bytes()));
    match writer.kind {
        Kind::Distribution => {
            writer.link(
                unit,
                &format!("_manifests/revisions/sha256/{manifest_hex}/link"),
                &manifest_hex,
            )?;
            writer.link(
                unit,
                &format!("_manifests/tags/{tag}/current/link"),
                &manifest_hex,
            )?;
            writer.link(
                unit,
                &format!("_manifests/tags/{tag}/index/sha256/{manifest_hex}/link"),
                &manifest_hex,
            )?;
            for hex in blobs {
                writer.link(unit, &format!("_layers/sha256/{hex}/link"), hex)?;
            }
        }
        _ => {
            let entry = format!(
                r#"{{"mediaType":"{media_type}","digest":"sha256:{manifest_hex}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}"#,
                manifest.len()
            );
            if writer.kind == Kind::Zot {
                for entries in &mut writer.entries {
                    entries.push(entry.clone());
                }
            } else {
                writer.entries[unit as usize].push(entry);
            }
        }
    }
    Ok(())
}

/// cosign's signature of image `image_hex`: a simple-signing payload as the one layer of
/// a manifest whose config names no platform, tagged `sha256-<hex>.sig`.
fn signature(writer: &mut Writer, unit: u64, image_hex: &str) -> std::io::Result<()> {
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example.com/app"}},"image":{{"docker-manifest-digest":"sha256:{image_hex}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let payload_hex = writer.blob(unit, payload.as_bytes())?;
    let config = format!(
        r#"{{"architecture":"","os":"","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{payload_hex}"]}}}}"#
    );
    let config_hex = writer.blob(unit, config.as_bytes())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:{payload_hex}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQDx"}}}}]}}"#,
        descriptor(
            "application/vnd.oci.image.config.v1+json",
            &config_hex,
            config.len()
        ),
        payload.len()
    );
    writer.manifest(unit, manifest.as_bytes())?;
    let tag = format!("sha256-{image_hex}.sig");
    tag_manifest(
        writer,
        unit,
        &manifest,
        MANIFEST,
        &tag,
        &[payload_hex, config_hex],
    )
}

/// An SPDX SBOM of image `i` as an OCI 1.1 artifact with the image as its `subject`,
/// listed in the image's referrers fallback tag.
fn sbom(
    writer: &mut Writer,
    unit: u64,
    i: u64,
    image_hex: &str,
    image_size: usize,
) -> std::io::Result<()> {
    let document = format!(r#"{{"spdxVersion":"SPDX-2.3","name":"image {i}"}}"#);
    let document_hex = writer.blob(unit, document.as_bytes())?;
    let empty_hex = writer.blob(unit, b"{}")?;
    let created = "2026-12-01T00:00:00Z";
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","artifactType":"application/spdx+json","config":{},"layers":[{}],"subject":{},"annotations":{{"org.opencontainers.image.created":"{created}"}}}}"#,
        descriptor("application/vnd.oci.empty.v1+json", &empty_hex, 2),
        descriptor("application/spdx+json", &document_hex, document.len()),
        descriptor(MANIFEST, image_hex, image_size)
    );
    let manifest_hex = writer.manifest(unit, manifest.as_bytes())?;
    // The referrer itself is untagged: only a revision (or, in a layout, reached through
    // the fallback index).
    if writer.kind == Kind::Distribution {
        writer.link(
            unit,
            &format!("_manifests/revisions/sha256/{manifest_hex}/link"),
            &manifest_hex,
        )?;
        for hex in [&document_hex, &empty_hex] {
            writer.link(unit, &format!("_layers/sha256/{hex}/link"), hex)?;
        }
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"sha256:{manifest_hex}","size":{},"artifactType":"application/spdx+json","annotations":{{"org.opencontainers.image.created":"{created}"}}}}]}}"#,
        manifest.len()
    );
    writer.manifest(unit, index.as_bytes())?;
    let tag = format!("sha256-{image_hex}");
    tag_manifest(writer, unit, &index, INDEX, &tag, &[])
}

fn write_layout_files(dir: &Path, entries: &[String]) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("blobs/sha256"))?;
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut index = fs::File::create(dir.join("index.json"))?;
    write!(
        index,
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    )
}

#[allow(dead_code)] // also compiled into benches/audit.rs, which has its own main
fn main() -> std::io::Result<()> {
    let args = parse_args();
    if args.out.exists() {
        eprintln!("{} exists; refusing to write into it", args.out.display());
        std::process::exit(2);
    }
    generate(args)
}

/// Writes the store `args` describes.
pub fn generate(args: Args) -> std::io::Result<()> {
    let units = if args.kind == Kind::Layout {
        1
    } else {
        args.repositories
    };
    let args = Args {
        repositories: units,
        ..args
    };
    let mut writer = Writer {
        kind: args.kind,
        root: args.out.clone(),
        entries: vec![Vec::new(); units as usize],
    };
    let mut layer = Vec::with_capacity(args.layer_size as usize);
    for i in 0..args.images {
        image(&mut writer, &args, i, &mut layer)?;
    }
    match args.kind {
        Kind::Distribution => {
            fs::create_dir_all(args.out.join("docker/registry/v2/blobs"))?;
        }
        _ => {
            for unit in 0..units {
                write_layout_files(&writer.unit_dir(unit), &writer.entries[unit as usize])?;
            }
        }
    }
    if args.kind == Kind::Zot {
        // zot's initRepo for _blobstore, and its migration marker.
        let blobstore = args.out.join("_blobstore");
        fs::create_dir_all(blobstore.join("blobs/sha256"))?;
        fs::write(
            blobstore.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs::write(
            blobstore.join("index.json"),
            r#"{"schemaVersion":2,"manifests":null}"#,
        )?;
        fs::write(args.out.join("_global_blobstore_migrated"), "1")?;
        for unit in 0..units {
            fs::create_dir_all(writer.unit_dir(unit).join(".uploads"))?;
        }
    }
    Ok(())
}
