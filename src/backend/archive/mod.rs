//! An image archive as a backend: what one streaming pass over a tarball left behind
//! ([`reader`] reads it: `tar` frames it, `names` normalises member names, `workers` hash
//! and keep members), served to the store kinds like a directory.
//!
//! Every regular member was hashed as it streamed by, under the algorithm its name says
//! (`blobs/<alg>/<hex>`; sha256 for other names, which is what a Docker archive's names
//! and `diff_ids` use), and members that can be documents were kept. So `hash` answers
//! from the index, `read_small` from memory, and nothing is ever read twice: an archive
//! from a pipe cannot be.

pub mod reader;
pub mod tar;

mod names;
mod workers;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::backend::{Backend, Entry, EntryKind, Hashed, ReadError, Stat, Version};
use crate::finding::Finding;
use crate::model::digest::{Algorithm, Digest};
use crate::model::key::Key;

/// How a member's content begins, for what a Docker archive says about its layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The compression `head` starts with, if any.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// What the pass learned of one regular member.
#[derive(Clone, Debug)]
pub struct Content {
    /// Its digest, under the algorithm its name implies; `None` when that algorithm is
    /// not one this tool computes.
    pub digest: Option<Digest>,
    /// The whole content, when it could be a document.
    pub kept: Option<Arc<[u8]>>,
    /// How it is compressed, if it begins like gzip or zstd.
    pub compression: Option<Compression>,
}

/// One name in the archive.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it is.
    pub kind: EntryKind,
    /// Its length (regular members).
    pub len: u64,
    /// Regular members: what streaming learned.
    pub content: Option<Content>,
    /// Links: the member they name, resolved inside the archive.
    pub link: Option<Key>,
}

impl Node {
    /// A directory.
    pub fn dir() -> Node {
        Node {
            kind: EntryKind::Dir,
            len: 0,
            content: None,
            link: None,
        }
    }
}

/// The archive, indexed by normalised member name, with the findings the pass made.
#[derive(Debug)]
pub struct ArchiveBackend {
    name: String,
    nodes: HashMap<Key, Node>,
    children: HashMap<Key, Vec<Box<[u8]>>>,
    findings: Vec<Finding>,
}

/// The archive's members by name, with links inside the archive followed: what a check of
/// the archive's own files (a Docker archive's `manifest.json`) needs beyond the
/// [`Backend`] reads, handed to it as a value rather than found by a downcast.
pub trait MemberIndex: Sync {
    /// The regular member `key` names, following links inside the archive (a few deep),
    /// and its name; `None` when it names no regular member.
    fn resolve(&self, key: &Key) -> Option<(&Key, &Node)>;
}

impl MemberIndex for ArchiveBackend {
    fn resolve(&self, key: &Key) -> Option<(&Key, &Node)> {
        ArchiveBackend::resolve(self, key)
    }
}

/// An archive that could not be read at all (exit code 2): the path (or `-`) and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct OpenError {
    /// The archive's path, or `-`.
    pub path: String,
    /// Why.
    pub error: ReadError,
}

impl ArchiveBackend {
    /// What the reader found wrong with the archive itself (its tar framing, names,
    /// members), reported with the stores' findings.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.clone()
    }

    /// An archive called `name` (a path, or `-`) holding `members` (normalised names;
    /// a name given twice keeps its last node), with findings about the archive itself.
    pub fn new(name: String, members: Vec<(Key, Node)>, findings: Vec<Finding>) -> ArchiveBackend {
        let mut nodes: HashMap<Key, Node> = HashMap::with_capacity(members.len() + 1);
        let mut children: HashMap<Key, Vec<Box<[u8]>>> = HashMap::new();
        nodes.insert(Key::root(), Node::dir());
        for (key, node) in members {
            // The directories a member's name implies exist, as extraction would make them.
            if !nodes.contains_key(&key) {
                let mut child = key.clone();
                while !child.is_empty() {
                    // A name of one component is in the root.
                    let parent = child.parent().unwrap_or_default();
                    children
                        .entry(parent.clone())
                        .or_default()
                        .push(child.file_name().into());
                    if nodes.contains_key(&parent) {
                        break;
                    }
                    nodes.insert(parent.clone(), Node::dir());
                    child = parent;
                }
            }
            nodes.insert(key, node);
        }
        ArchiveBackend {
            name,
            nodes,
            children,
            findings,
        }
    }

    fn node(&self, key: &Key) -> Result<&Node, ReadError> {
        self.nodes.get(key).ok_or_else(|| {
            ReadError::NotFound(io::Error::new(
                io::ErrorKind::NotFound,
                "no such member in the archive",
            ))
        })
    }

    /// The regular member `key` names, following links inside the archive (a Docker
    /// archive's `<id>/layer.tar` is one), with what streaming learned of it; `None` when
    /// there is none.
    pub fn resolve(&self, key: &Key) -> Option<(&Key, &Node)> {
        let mut key = key;
        // Links are followed only here, inside the index, and only so far.
        for _ in 0..8 {
            let (found, node) = self.nodes.get_key_value(key)?;
            match &node.link {
                Some(target) => key = target,
                None => return (node.kind == EntryKind::File).then_some((found, node)),
            }
        }
        None
    }
}

impl Backend for ArchiveBackend {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn list(&self, dir: &Key) -> Result<Vec<Entry>, ReadError> {
        let node = self.node(dir)?;
        if node.kind != EntryKind::Dir {
            return Err(ReadError::NotRegular(node.kind));
        }
        Ok(self
            .children
            .get(dir)
            .map(|names| {
                names
                    .iter()
                    .map(|name| Entry {
                        name: name.clone(),
                        stat: self.stat(&dir.join(name)),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn stat(&self, key: &Key) -> Result<Stat, ReadError> {
        let node = self.node(key)?;
        Ok(Stat {
            kind: node.kind,
            len: node.len,
            version: Version::None,
        })
    }

    fn read_small(&self, key: &Key, max: u64) -> Result<Vec<u8>, ReadError> {
        let node = self.node(key)?;
        if node.kind != EntryKind::File {
            return Err(ReadError::NotRegular(node.kind));
        }
        if node.len > max {
            return Err(ReadError::TooLarge { len: node.len, max });
        }
        match node.content.as_ref().and_then(|c| c.kept.as_ref()) {
            Some(bytes) => {
                let mut out = Vec::with_capacity(bytes.len() + 64);
                out.extend_from_slice(bytes);
                Ok(out)
            }
            None => Err(ReadError::Io(io::Error::other(
                "not kept: the archive is read once, and only members that begin like JSON \
                 (or are at most 64 KiB) are kept to be parsed, 256 MiB in all",
            ))),
        }
    }

    fn default_concurrency(&self) -> usize {
        // Everything is in memory: reads wait on nothing.
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    fn hash(
        &self,
        key: &Key,
        algorithm: &Algorithm,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Hashed, ReadError> {
        let node = self.node(key)?;
        if node.kind != EntryKind::File {
            return Err(ReadError::NotRegular(node.kind));
        }
        let digest = node.content.as_ref().and_then(|c| c.digest.as_ref());
        match digest {
            Some(digest) if digest.algorithm() == algorithm => {
                progress(node.len);
                Ok(Hashed {
                    digest: digest.clone(),
                    len: node.len,
                    version: Version::None,
                })
            }
            _ => Err(ReadError::Io(io::Error::other(format!(
                "hashed as {} when the archive streamed by, which cannot be read again as {algorithm}",
                digest.map_or("nothing", |d| d.algorithm().as_str())
            )))),
        }
    }
}
