//! `--verify-layers`: each layer's tar re-assembled from its tar-split and its unpacked
//! files, hashed, and compared with the `diff-digest` that `layers.json` records.
//!
//! A tar-split (`<driver>-layers/<id>.tar-split.gz`, gzip of one JSON object per line) is
//! the layer's tar with the file contents taken out: segments (`"type":2`) carry raw tar
//! bytes (headers, padding, the end of the archive) as base64, and file entries
//! (`"type":1`) name a member whose `size` bytes come from the unpacked file, with the
//! CRC-64 (ISO) of those bytes as their payload. containers-storage pushes and saves a
//! layer by writing exactly this stream (tar-split's `asm.NewOutputTarStream`), so its
//! digest is the layer's diff ID.
//!
//! How this avoids `podman system check`'s false "layer content modified" on fresh pulls
//! (podman#25101): that check compares each member's header (mode, owner, mtime) with the
//! file on disk, and directories' mtimes and owners legitimately change once a layer is
//! unpacked and mounted. Here the headers come from the tar-split itself and only regular
//! files' bytes come from disk, which is all the diff ID covers: metadata on disk is never
//! compared, and a fresh pull re-assembles to its diff ID by construction.
//!
//! A clean layer costs one pass (one hash over the tar); only a layer that does not match
//! is read again, file by file against the tar-split's checksums, to name what changed.

use std::io::{self, BufRead, BufReader, Read};

use rayon::prelude::*;
use serde::Deserialize;

use crate::backend::{Backend, FileTree, ReadError};
use crate::finding::{Finding, Location};
use crate::hash::Hasher;
use crate::kinds::containers_storage::model::Layer;
use crate::kinds::containers_storage::records;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::rules::Rule;
use crate::store::read_error;

/// Bytes read from a file at a time.
const CHUNK: usize = 256 * 1024;
/// Files a finding names before it says how many more there are.
const NAMED: usize = 3;

/// What verifying a driver's layers came to, beyond its findings.
#[derive(Debug, Default)]
pub struct Tally {
    /// The bytes of the tars re-assembled and hashed.
    pub bytes: u64,
    /// Layers that could not be: no diff-digest (a container's own layer, a partial
    /// pull), a driver whose layers are not directories here, a composefs layer.
    pub unverifiable: u64,
}

/// Where `driver` keeps a layer's unpacked files, below the store's root; `None` for a
/// driver whose layers are not plain directories there (zfs mounts each layer's dataset
/// only while it is in use).
fn files_dir(root: &Key, driver: &str, id: &str) -> Option<Key> {
    match driver {
        "vfs" => Some(root.join("vfs").join("dir").join(id)),
        "overlay" => Some(root.join("overlay").join(id).join("diff")),
        "btrfs" => Some(root.join("btrfs").join("subvolumes").join(id)),
        _ => None,
    }
}

/// Whether an overlay layer is kept for composefs (`overlay/<id>/composefs-data/`): its
/// `diff/` then holds the files under their digests, not their paths, so the tar-split's
/// names do not find them there. Such a layer is not verifiable here.
fn is_composefs(backend: &dyn Backend, root: &Key, id: &str) -> bool {
    let data = root.join("overlay").join(id).join("composefs-data");
    backend
        .stat(&data)
        .is_ok_and(|s| s.kind == crate::backend::EntryKind::Dir)
}

/// Verifies `layers` (complete ones, with a tar-split expected) of `driver` in the store
/// at `root`, on the hashing threads; each tar-split's own trouble is reported here too.
pub fn verify(
    backend: &dyn Backend,
    hashing: &rayon::ThreadPool,
    root: &Key,
    driver: &str,
    layers_dir: &Key,
    layers: &[&Layer],
    findings: &mut Vec<Finding>,
) -> Tally {
    let outcomes: Vec<(Option<u64>, Vec<Finding>)> = hashing.install(|| {
        layers
            .par_iter()
            .map(|layer| {
                let mut found = Vec::new();
                let bytes = verify_layer(backend, root, driver, layers_dir, layer, &mut found);
                (bytes, found)
            })
            .collect()
    });
    let mut tally = Tally::default();
    for (bytes, mut found) in outcomes {
        match bytes {
            Some(bytes) => tally.bytes += bytes,
            None if found.is_empty() => tally.unverifiable += 1,
            None => {}
        }
        findings.append(&mut found);
    }
    tally
}

/// One layer: the bytes of its tar when it was re-assembled (matching or not), `None`
/// when it could not be (with a finding, or unverifiable without one).
pub(super) fn verify_layer(
    backend: &dyn Backend,
    root: &Key,
    driver: &str,
    layers_dir: &Key,
    layer: &Layer,
    findings: &mut Vec<Finding>,
) -> Option<u64> {
    let tar_split_key = records::tar_split(layers_dir, &layer.id);
    let compressed = records::read_tar_split(backend, &tar_split_key, layer, findings)?;
    let expected = layer.diff_digest.as_deref().map(Digest::parse)?.ok()?;
    let mut hasher = Hasher::new(expected.algorithm())?;
    let dir = files_dir(root, driver, &layer.id)?;
    if driver == "overlay" && is_composefs(backend, root, &layer.id) {
        return None;
    }
    let modified = |message: String| {
        Finding::new(
            Rule::ContainersStorageLayerModified,
            Location::path(&tar_split_key),
            format!("layer {} {message}", layer.id),
        )
        .with_bytes(layer.diff_size.unwrap_or(0))
    };
    let tree = match backend.file_tree(&dir) {
        Ok(tree) => tree,
        Err(error) if error.is_not_found() => {
            findings.push(modified(format!(
                "cannot be re-assembled: its unpacked files ({dir}) are gone"
            )));
            return None;
        }
        Err(error) => {
            findings.push(read_error(&dir, &error));
            return None;
        }
    };
    let assembled = assemble(&compressed, tree.as_ref(), &mut |bytes| {
        hasher.update(bytes)
    });
    let tar = match assembled {
        Ok(len) => {
            let found = hasher.finish();
            if found == expected && layer.diff_size.is_none_or(|size| size == len) {
                return Some(len);
            }
            Some((found, len))
        }
        Err(Stop::TarSplit(why)) => {
            findings.push(Finding::new(
                Rule::ContainersStorageTarSplitMissing,
                Location::path(&tar_split_key),
                format!("layer {}'s tar-split does not decode: {why}", layer.id),
            ));
            return None;
        }
        // A file missing, unreadable or of another size: the second pass names it.
        Err(Stop::File) => None,
    };
    let length = match (&tar, layer.diff_size) {
        (Some((_, len)), Some(size)) if *len != size => {
            format!(" (its tar has {len} bytes, not {size})")
        }
        _ => String::new(),
    };
    let what = what_differs(&compressed, tree.as_ref());
    let mut finding = modified(format!(
        "does not re-assemble to its diff-digest{length}: {what}"
    ));
    if let Some((found, _)) = &tar {
        finding.set_expected_found(&expected, found);
    }
    findings.push(finding);
    tar.map(|(_, len)| len)
}

/// The second pass over a layer that does not match: the files that differ, for its
/// finding's message.
fn what_differs(compressed: &[u8], tree: &dyn FileTree) -> String {
    let changed = match differing_files(compressed, tree) {
        Ok(changed) => changed,
        Err(why) => vec![format!("(the tar-split stopped decoding: {why})")],
    };
    if changed.is_empty() {
        return "every file matches its tar-split checksum, so the tar-split's headers or \
                the recorded digest changed"
            .to_owned();
    }
    let more = changed.len().saturating_sub(NAMED);
    let mut named = changed[..changed.len().min(NAMED)].join(", ");
    if more > 0 {
        named.push_str(&format!(", and {more} more"));
    }
    named
}

/// Why re-assembling stopped.
enum Stop {
    /// The tar-split does not decode.
    TarSplit(String),
    /// A file it names is missing, unreadable or not of the recorded size.
    File,
}

/// One line of a tar-split.
#[derive(Deserialize)]
struct Entry {
    /// 1: a file whose content comes from disk; 2: raw tar bytes.
    #[serde(rename = "type")]
    kind: u8,
    /// The member's name, when it is UTF-8.
    #[serde(default)]
    name: Option<String>,
    /// The member's name as raw bytes (base64), when it is not UTF-8.
    #[serde(default)]
    name_raw: Option<String>,
    /// The file's length.
    #[serde(default)]
    size: u64,
    /// Raw tar bytes (segments) or the file's CRC-64 (files), base64.
    #[serde(default)]
    payload: Option<String>,
}

impl Entry {
    /// The name containers-storage opens: the raw bytes when recorded, else the name.
    fn name(&self) -> Result<Vec<u8>, String> {
        match &self.name_raw {
            Some(raw) => decode(raw),
            None => Ok(self.name.clone().unwrap_or_default().into_bytes()),
        }
    }

    fn payload(&self) -> Result<Vec<u8>, String> {
        self.payload.as_deref().map_or(Ok(Vec::new()), decode)
    }
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))
}

/// Each entry of a gzip-compressed tar-split, in order.
fn entries(compressed: &[u8]) -> impl Iterator<Item = Result<Entry, String>> + '_ {
    let mut lines = BufReader::new(flate2::read::MultiGzDecoder::new(compressed)).split(b'\n');
    std::iter::from_fn(move || {
        loop {
            let line = match lines.next()? {
                Ok(line) => line,
                Err(error) => return Some(Err(error.to_string())),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(serde_json::from_slice(&line).map_err(|e| e.to_string()));
        }
    })
}

/// Re-assembles the tar, feeding it to `sink`; its length, or why it stopped.
fn assemble(
    compressed: &[u8],
    tree: &dyn FileTree,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<u64, Stop> {
    let mut len = 0;
    let mut buffer = vec![0; CHUNK];
    for entry in entries(compressed) {
        let entry = entry.map_err(Stop::TarSplit)?;
        match entry.kind {
            2 => {
                let bytes = entry.payload().map_err(Stop::TarSplit)?;
                sink(&bytes);
                len += bytes.len() as u64;
            }
            1 if entry.size > 0 => {
                let name = entry.name().map_err(Stop::TarSplit)?;
                let (file, on_disk) = tree.open(&name).map_err(|_| Stop::File)?;
                if on_disk != entry.size {
                    return Err(Stop::File);
                }
                let copied = copy(file, entry.size, &mut buffer, sink).map_err(|_| Stop::File)?;
                if copied != entry.size {
                    return Err(Stop::File);
                }
                len += copied;
            }
            1 => {}
            other => return Err(Stop::TarSplit(format!("an entry of unknown type {other}"))),
        }
    }
    Ok(len)
}

/// Feeds at most `size` bytes of `file` to `sink`; how many there were.
fn copy(
    mut file: Box<dyn Read + Send>,
    size: u64,
    buffer: &mut [u8],
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    let mut left = size;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        sink(&buffer[..n]);
        left -= n as u64;
    }
    Ok(size - left)
}

/// The files whose bytes are not what the tar-split recorded (missing, unreadable, of
/// another size, or another CRC-64), each described for a message.
fn differing_files(compressed: &[u8], tree: &dyn FileTree) -> Result<Vec<String>, String> {
    const CRC: crc::Crc<u64, crc::Table<16>> =
        crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_GO_ISO);
    let mut changed = Vec::new();
    let mut buffer = vec![0; CHUNK];
    for entry in entries(compressed) {
        let entry = entry?;
        if entry.kind != 1 || entry.size == 0 {
            continue;
        }
        let name = entry.name()?;
        let shown = String::from_utf8_lossy(&name).into_owned();
        let (file, on_disk) = match tree.open(&name) {
            Ok(opened) => opened,
            Err(ReadError::NotFound(_)) => {
                changed.push(format!("{shown} is missing"));
                continue;
            }
            Err(error) => {
                changed.push(format!("{shown} cannot be read ({error})"));
                continue;
            }
        };
        if on_disk != entry.size {
            changed.push(format!("{shown} has {on_disk} bytes, not {}", entry.size));
            continue;
        }
        let mut digest = CRC.digest();
        match copy(file, entry.size, &mut buffer, &mut |bytes| {
            digest.update(bytes)
        }) {
            Ok(n) if n == entry.size => {}
            Ok(n) => {
                changed.push(format!("{shown} has {n} bytes, not {}", entry.size));
                continue;
            }
            Err(error) => {
                changed.push(format!("{shown} cannot be read ({error})"));
                continue;
            }
        }
        if digest.finalize().to_be_bytes()[..] != entry.payload()?[..] {
            changed.push(format!("{shown} differs"));
        }
    }
    Ok(changed)
}
