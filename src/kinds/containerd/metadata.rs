//! What containerd's `meta.db` says, read into plain data: per namespace its images (a
//! name and a target descriptor), its content records (a digest, a size, labels) and its
//! leases (the content each keeps). The layout, from containerd's `metadata/buckets.go`:
//!
//! ```text
//! v1/<namespace>/images/<name>/target/{digest, mediatype, size}
//! v1/<namespace>/content/blob/<digest>/{size, labels/<key> = <value>}
//! v1/<namespace>/leases/<id>/content/<digest>
//! ```
//!
//! Sizes are Go's signed varints. Every record that does not parse is a finding at the
//! JSON pointer of its bucket path (`/v1/default/images/docker.io~1library~1a:1/target`)
//! and the rest is read on.

use crate::finding::{Finding, Location};
use crate::kinds::containerd::bolt::{Bolt, BoltError, Bucket};
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::model::time;
use crate::rules::Rule;

/// One namespace of `meta.db`.
#[derive(Debug, Default)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Its images, in name order.
    pub images: Vec<Image>,
    /// Its content records, in digest order.
    pub content: Vec<Record>,
    /// Digests its leases keep (those not expired), each once, in digest order.
    pub leased: Vec<Digest>,
}

impl Namespace {
    /// JSON pointer of the content record of `digest` in `meta.db`, and of `below` in it
    /// (`/v1/<namespace>/content/blob/<digest>/labels/…`).
    pub fn record_pointer(&self, digest: &Digest, below: &[&[u8]]) -> String {
        let digest = digest.to_string();
        let mut path: Vec<&[u8]> = vec![
            b"v1",
            self.name.as_bytes(),
            b"content",
            b"blob",
            digest.as_bytes(),
        ];
        path.extend_from_slice(below);
        pointer(&path)
    }
}

/// An image: a name and its target.
#[derive(Debug)]
pub struct Image {
    /// The image's name (`docker.io/library/alpine:3.20`).
    pub name: String,
    /// The target's media type.
    pub media_type: String,
    /// The target's digest.
    pub digest: Digest,
    /// The target's size.
    pub size: Option<u64>,
    /// JSON pointer of the target bucket in `meta.db`.
    pub pointer: String,
}

/// A content record.
#[derive(Debug)]
pub struct Record {
    /// The blob it records.
    pub digest: Digest,
    /// Its recorded size.
    pub size: Option<u64>,
    /// Its labels (`containerd.io/gc.ref.content.*`, `containerd.io/uncompressed`, …).
    pub labels: Labels,
}

/// JSON pointer of a bucket path: `/`-joined, `~` and `/` escaped (RFC 6901).
pub fn pointer(path: &[&[u8]]) -> String {
    path.iter()
        .map(|part| {
            String::from_utf8_lossy(part)
                .replace('~', "~0")
                .replace('/', "~1")
        })
        .fold(String::new(), |mut out, part| {
            out.push('/');
            out.push_str(&part);
            out
        })
}

/// Seconds since the epoch, now.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Go's `binary.Varint`: zig-zag, seven bits a byte.
fn varint(bytes: &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let signed = (value >> 1) as i64 ^ -((value & 1) as i64);
            return Some(signed);
        }
    }
    None
}

/// Reads every namespace. `db_key` names `meta.db` in findings.
pub fn read(db: &Bolt, db_key: &Key, findings: &mut Vec<Finding>) -> Vec<Namespace> {
    let mut bad = |pointer: String, what: String| {
        findings.push(Finding::new(
            Rule::ContainerdMetadataUnreadable,
            Location::path(db_key).via(db_key, &pointer),
            what,
        ));
    };
    let root = db.root();
    let version = match root.bucket(b"v1") {
        Ok(Some(v1)) => v1,
        Ok(None) => return Vec::new(),
        Err(error) => {
            bad(String::new(), format!("meta.db does not parse: {error}"));
            return Vec::new();
        }
    };
    let namespaces = match version.buckets() {
        Ok(namespaces) => namespaces,
        Err(error) => {
            bad(
                "/v1".into(),
                format!("the namespaces do not parse: {error}"),
            );
            return Vec::new();
        }
    };
    namespaces
        .into_iter()
        .map(|(name, bucket)| {
            let mut namespace = Namespace {
                name: String::from_utf8_lossy(name).into_owned(),
                ..Namespace::default()
            };
            let mut problems = Vec::new();
            read_namespace(name, bucket, &mut namespace, &mut problems);
            for (pointer, what) in problems {
                bad(pointer, what);
            }
            namespace
        })
        .collect()
}

/// What one namespace holds; what does not parse goes to `problems` as (pointer, what).
fn read_namespace(
    name: &[u8],
    bucket: Bucket,
    namespace: &mut Namespace,
    problems: &mut Vec<(String, String)>,
) {
    let mut child = |path: &[&[u8]]| match children(bucket, path) {
        Ok(found) => found,
        Err(error) => {
            let mut at: Vec<&[u8]> = vec![b"v1", name];
            at.extend_from_slice(path);
            problems.push((pointer(&at), format!("does not parse: {error}")));
            Vec::new()
        }
    };
    let images = child(&[b"images"]);
    let blobs = child(&[b"content", b"blob"]);
    let leases = child(&[b"leases"]);
    for (image, b) in images {
        let at = pointer(&[b"v1", name, b"images", image, b"target"]);
        match target(b) {
            Ok(Some((media_type, digest, size))) => namespace.images.push(Image {
                name: String::from_utf8_lossy(image).into_owned(),
                media_type,
                digest,
                size,
                pointer: at,
            }),
            Ok(None) => problems.push((
                at,
                "the image has no usable target (digest and media type)".into(),
            )),
            Err(error) => problems.push((at, format!("does not parse: {error}"))),
        }
    }
    for (digest, b) in blobs {
        let at = pointer(&[b"v1", name, b"content", b"blob", digest]);
        let Some(parsed) = std::str::from_utf8(digest)
            .ok()
            .and_then(|d| Digest::parse(d).ok())
        else {
            problems.push((at, "a content record whose key is not a digest".into()));
            continue;
        };
        match record(b) {
            Ok((size, labels)) => namespace.content.push(Record {
                digest: parsed,
                size,
                labels,
            }),
            Err(error) => problems.push((at, format!("does not parse: {error}"))),
        }
    }
    for (id, b) in leases {
        // A lease past its `containerd.io/gc.expire` keeps nothing: the collector
        // removes it first.
        let expired = record(b).ok().is_some_and(|(_, labels)| {
            labels.iter().any(|(key, value)| {
                key == "containerd.io/gc.expire"
                    && time::parse_rfc3339(value).is_some_and(|at| at < now_secs())
            })
        });
        if expired {
            continue;
        }
        let content = b
            .bucket(b"content")
            .and_then(|c| c.map_or(Ok(Vec::new()), |c| c.items()));
        match content {
            Ok(items) => namespace.leased.extend(
                items
                    .iter()
                    .filter_map(|i| Digest::parse(std::str::from_utf8(i.key).ok()?).ok()),
            ),
            Err(error) => problems.push((
                pointer(&[b"v1", name, b"leases", id]),
                format!("does not parse: {error}"),
            )),
        }
    }
    namespace.images.sort_by(|a, b| a.name.cmp(&b.name));
    namespace.content.sort_by(|a, b| a.digest.cmp(&b.digest));
    namespace.leased.sort();
    namespace.leased.dedup();
}

/// The nested buckets of the bucket at `path` under `bucket` (none when it is absent).
fn children<'a>(
    bucket: Bucket<'a>,
    path: &[&[u8]],
) -> Result<Vec<(&'a [u8], Bucket<'a>)>, BoltError> {
    let mut at = bucket;
    for part in path {
        match at.bucket(part)? {
            Some(next) => at = next,
            None => return Ok(Vec::new()),
        }
    }
    at.buckets()
}

/// An image's target: media type, digest and size, when it has a digest and a type.
fn target(image: Bucket) -> Result<Option<(String, Digest, Option<u64>)>, BoltError> {
    let Some(target) = image.bucket(b"target")? else {
        return Ok(None);
    };
    let text = |key: &[u8]| -> Result<Option<String>, BoltError> {
        Ok(target
            .get(key)?
            .and_then(|v| std::str::from_utf8(v).ok().map(str::to_owned)))
    };
    let (Some(media_type), Some(digest)) = (text(b"mediatype")?, text(b"digest")?) else {
        return Ok(None);
    };
    let Ok(digest) = Digest::parse(&digest) else {
        return Ok(None);
    };
    let size = target
        .get(b"size")?
        .and_then(varint)
        .and_then(|s| u64::try_from(s).ok());
    Ok(Some((media_type, digest, size)))
}

/// A record's labels, in key order.
type Labels = Vec<(String, String)>;

/// A content record's (or a lease's) size and labels.
fn record(blob: Bucket) -> Result<(Option<u64>, Labels), BoltError> {
    let size = blob
        .get(b"size")?
        .and_then(varint)
        .and_then(|s| u64::try_from(s).ok());
    let labels = match blob.bucket(b"labels")? {
        Some(labels) => labels
            .items()?
            .into_iter()
            .filter(|i| !i.is_bucket)
            .map(|i| {
                (
                    String::from_utf8_lossy(i.key).into_owned(),
                    String::from_utf8_lossy(i.value).into_owned(),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    Ok((size, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_varints_and_json_pointers() {
        assert_eq!(varint(&[0x9a, 0x0a]), Some(653));
        assert_eq!(varint(&[0x01]), Some(-1));
        assert_eq!(varint(&[0x80]), None);
        assert_eq!(
            pointer(&[b"v1", b"default", b"images", b"docker.io/a~b:1"]),
            "/v1/default/images/docker.io~1a~0b:1"
        );
    }
}
