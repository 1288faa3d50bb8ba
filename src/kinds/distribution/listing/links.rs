//! `link` files: what one holds, how a listed link is kept, and reading every
//! `<alg>/<encoded>/link` of a directory. As distribution lays them out:
//!
//! ```text
//! repositories/<name>/
//!   _manifests/revisions/<alg>/<encoded>/link               a manifest in this repository
//!   _manifests/tags/<tag>/current/link                      what the tag points at now
//!   _manifests/tags/<tag>/index/<alg>/<encoded>/link        what it has pointed at
//!   _layers/<alg>/<encoded>/link                            a blob linked into this repository
//! ```
//!
//! A `link` file holds a digest and nothing else. An empty `<alg>/<encoded>/` without
//! `link` is what deleting a manifest (or a layer link) leaves: not a finding. Here links
//! are only read, and kept compactly (see [`Link`]); what they must hold is judged by
//! `checks`.

use rayon::prelude::*;

use std::sync::Arc;

use crate::backend::Backend;
use crate::finding::Finding;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::store::Inventory;

use super::root::{list_optional, subdirectories};

/// A link holds one digest: "sha512:" and 128 hex digits is 135 bytes. Anything much
/// longer is not a link, and is not read whole.
const MAX_LINK: u64 = 4096;

/// What a `link` file holds, as read.
#[derive(Clone, Debug)]
pub enum LinkContent {
    /// A digest, when the bytes are exactly its text (the common case, kept in 40 bytes
    /// instead of a copy of the text: a registry has hundreds of thousands of links).
    Digest(Digest),
    /// Any other bytes, which may or may not be a digest (judged by `checks`),
    /// boxed to their length.
    Bytes(Box<[u8]>),
    /// `link` is absent where it is required (a tag without `current/link`).
    Missing,
    /// `link` is not a regular file, is too long, or cannot be read: why.
    Unreadable(String),
}

/// A link's content, borrowed from however the link keeps it.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// Exactly a digest's text.
    Digest(&'a Digest),
    /// Any other bytes.
    Bytes(&'a [u8]),
    /// No `link` file.
    Missing,
    /// Why it could not be read.
    Unreadable(&'a str),
}

/// One `link` file.
///
/// A registry has hundreds of thousands of links, nearly all of one shape: a link under
/// `<alg>/<encoded>/` holding exactly the digest its path names, or a tag's `current/link`
/// holding a digest. Those keep the digest once, beside the directory they are listed from
/// (shared by every link listed there); the path is rebuilt from the two when a finding
/// needs it. Any other link keeps its path, the digest its path names and its bytes.
#[derive(Clone, Debug)]
pub struct Link {
    /// The directory the link was listed from: `_layers`, `_manifests/revisions`, or the
    /// tag's directory for its `current` and `index` links.
    pub(super) parent: Arc<Key>,
    pub(super) form: Form,
}

#[derive(Clone, Debug)]
pub(super) enum Form {
    /// `<parent>/<alg>/<encoded>/link` holding exactly the digest its path names.
    Named(Digest),
    /// `<parent>/index/<alg>/<encoded>/link` likewise (a tag's history).
    History(Digest),
    /// `<parent>/current/link` holding exactly a digest's text.
    Current(Digest),
    /// Any other link, boxed: rare, and larger.
    Odd(Box<Odd>),
}

#[derive(Clone, Debug)]
pub(super) struct Odd {
    /// The link's own directory.
    dir: Key,
    /// The digest the directory names, or why it names none; `None` for `current`.
    named: Option<Result<Digest, String>>,
    content: LinkContent,
}

/// Where, under the directory a link was listed from, its own directory is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Under {
    /// `<alg>/<encoded>`.
    Named,
    /// `index/<alg>/<encoded>`.
    History,
    /// `current`.
    Current,
}

impl Link {
    /// The link in `dir` (listed from `parent`, where `under` says) whose path names
    /// `named` and whose file holds `content`, in the compact form when it has one.
    pub(super) fn new(
        parent: &Arc<Key>,
        under: Under,
        dir: Key,
        named: Option<Result<Digest, String>>,
        content: LinkContent,
    ) -> Link {
        let form = match (under, named, content) {
            (Under::Named | Under::History, Some(Ok(named)), LinkContent::Digest(held))
                if named == held && digest_dir(parent, under, &named) == dir =>
            {
                match under {
                    Under::History => Form::History(named),
                    _ => Form::Named(named),
                }
            }
            (Under::Current, None, LinkContent::Digest(held)) => Form::Current(held),
            (_, named, content) => Form::Odd(Box::new(Odd {
                dir,
                named,
                content,
            })),
        };
        Link {
            parent: parent.clone(),
            form,
        }
    }

    /// The digest the link's directory names, or why that is not a digest; `None` for a
    /// tag's `current/link`, whose path names no digest.
    pub fn named(&self) -> Option<Result<&Digest, &str>> {
        match &self.form {
            Form::Named(digest) | Form::History(digest) => Some(Ok(digest)),
            Form::Current(_) => None,
            Form::Odd(odd) => odd
                .named
                .as_ref()
                .map(|named| named.as_ref().map_err(String::as_str)),
        }
    }

    /// What the link file holds.
    pub fn content(&self) -> Content<'_> {
        match &self.form {
            Form::Named(digest) | Form::History(digest) | Form::Current(digest) => {
                Content::Digest(digest)
            }
            Form::Odd(odd) => match &odd.content {
                LinkContent::Digest(digest) => Content::Digest(digest),
                LinkContent::Bytes(bytes) => Content::Bytes(bytes),
                LinkContent::Missing => Content::Missing,
                LinkContent::Unreadable(why) => Content::Unreadable(why),
            },
        }
    }

    /// Whether this is a tag's history entry, in compact form, for the digest `current`
    /// (the tag's `current/link`, in compact form) holds.
    pub(super) fn repeats(&self, current: &Link) -> bool {
        matches!((&self.form, &current.form), (Form::History(a), Form::Current(b)) if a == b)
    }

    /// Path of the `link` file, relative to the audited root.
    pub fn display(&self) -> Key {
        let dir = match &self.form {
            Form::Named(digest) => digest_dir(&self.parent, Under::Named, digest),
            Form::History(digest) => digest_dir(&self.parent, Under::History, digest),
            Form::Current(_) => self.parent.join("current"),
            Form::Odd(odd) => odd.dir.clone(),
        };
        dir.join("link")
    }
}

/// The directory of a link that names `digest`: `<alg>/<encoded>` under `parent`, or
/// under `parent/index` for a tag's history.
fn digest_dir(parent: &Key, under: Under, digest: &Digest) -> Key {
    let named = format!("{}/{}", digest.algorithm(), digest.encoded());
    match under {
        Under::History => parent.join(format!("index/{named}")),
        Under::Named | Under::Current => parent.join(named),
    }
}

/// The `<alg>/<encoded>/link` files of one directory (`_layers`, `_manifests/revisions`).
///
/// Once the inventory is known ([`DigestLinks::settle`]), a link that holds the digest its
/// path names, of a blob the store has, is kept as that blob's position in the inventory:
/// nothing about it can be wrong, and a registry has hundreds of thousands of them.
#[derive(Clone, Debug, Default)]
pub struct DigestLinks {
    /// Sound links, by their blob's position in the inventory, ascending.
    pub intact: Vec<u32>,
    /// Every other link (all of them before `settle`).
    pub links: Vec<Link>,
}

impl DigestLinks {
    /// Moves every intact link into `intact`.
    pub fn settle(&mut self, inventory: &Inventory) {
        debug_assert!(
            self.intact.is_empty(),
            "links are settled once, against one inventory"
        );
        let links = std::mem::take(&mut self.links);
        let mut intact = Vec::new();
        for link in links {
            let position = match &link.form {
                Form::Named(digest) => inventory.position(digest),
                _ => None,
            };
            match position.and_then(|p| u32::try_from(p).ok()) {
                Some(position) => intact.push(position),
                None => self.links.push(link),
            }
        }
        intact.sort_unstable();
        intact.shrink_to_fit();
        self.links.shrink_to_fit();
        self.intact = intact;
    }

    /// How many links there are.
    pub fn len(&self) -> usize {
        self.intact.len() + self.links.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `<alg>/<encoded>/link` under `parent` (under `parent/index` for a tag's history) for
/// every pair; digest directories without `link` are skipped (a deleted manifest or layer
/// link leaves one behind). The links are read in parallel: on object storage each is a
/// request, and a repository can hold thousands.
pub(super) fn digest_links(
    backend: &dyn Backend,
    parent: &Arc<Key>,
    under: Under,
    findings: &mut Vec<Finding>,
) -> Vec<Link> {
    let dir = match under {
        Under::History => parent.join("index"),
        Under::Named | Under::Current => (**parent).clone(),
    };
    let mut named_links = Vec::new();
    for algorithm in subdirectories(list_optional(backend, &dir, findings)) {
        let alg_name = algorithm.name_str().map(str::to_owned);
        let alg_dir = dir.join(&algorithm.name);
        for encoded in subdirectories(list_optional(backend, &alg_dir, findings)) {
            let named = match (&alg_name, encoded.name_str()) {
                (Some(a), Some(e)) => Digest::parse(&format!("{a}:{e}"))
                    .map_err(|error| format!("path does not name a digest: {error}")),
                _ => Err("path is not UTF-8, so it names no digest".to_owned()),
            };
            named_links.push((alg_dir.join(&encoded.name), named));
        }
    }
    let mut links: Vec<Link> = named_links
        .into_par_iter()
        .filter_map(|(link_dir, named)| {
            let content = read_link(backend, &link_dir.join("link"));
            (!matches!(content, LinkContent::Missing))
                .then(|| Link::new(parent, under, link_dir, Some(named), content))
        })
        .collect();
    // Kept for the whole run: without the slack a parallel collect leaves.
    links.shrink_to_fit();
    links
}

/// What the `link` file `key` holds.
pub(super) fn read_link(backend: &dyn Backend, key: &Key) -> LinkContent {
    match backend.read_small(key, MAX_LINK) {
        Ok(bytes) => match std::str::from_utf8(&bytes)
            .ok()
            .map(|text| (text, Digest::parse(text)))
        {
            // `Digest::parse` accepts only the canonical text (lower-case algorithm and
            // hex, no whitespace), so the digest renders back to exactly these bytes and
            // nothing the checks judge is lost; anything else stays bytes.
            Some((text, Ok(digest))) => {
                debug_assert_eq!(digest.to_string(), text);
                LinkContent::Digest(digest)
            }
            _ => LinkContent::Bytes(bytes.into_boxed_slice()),
        },
        Err(error) if error.is_not_found() => LinkContent::Missing,
        Err(error) => LinkContent::Unreadable(error.to_string()),
    }
}
