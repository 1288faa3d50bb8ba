//! A repository's tags, as distribution lays them out:
//!
//! ```text
//! _manifests/tags/<tag>/current/link                      what the tag points at now
//! _manifests/tags/<tag>/index/<alg>/<encoded>/link        what it has pointed at
//! ```
//!
//! The tags are read in parallel, each as a [`ListedTag`] with what its `current/link`
//! holds kept apart; once the inventory is known, [`ListedTag::settle`] makes it a [`Tag`],
//! whose current link, when it holds the digest of a blob the store has, is kept as that
//! blob's position in the inventory.

use rayon::prelude::*;

use std::sync::Arc;

use crate::backend::Backend;
use crate::finding::Finding;
use crate::model::key::Key;
use crate::store::Inventory;

use super::links::{Form, Link, Under, digest_links, read_link};
use super::root::{list_optional, subdirectories};

/// One tag of a repository.
///
/// A registry has as many tags as images; each keeps its name and what its `current/link`
/// holds beside the repository's shared `tags` directory, and builds its paths (and its
/// current link as a [`Link`]) when they are needed.
#[derive(Clone, Debug)]
pub struct Tag {
    /// `_manifests/tags`, shared by the repository's tags.
    tags: Arc<Key>,
    /// The directory name: the tag.
    name: Box<[u8]>,
    /// What `current/link` holds.
    current: Current,
    /// `index/<alg>/<encoded>/link`, but for the entry of the current manifest when it
    /// holds just the digest its path names (nothing to judge there that `current` does not).
    pub index: Vec<Link>,
}

/// What a tag's `current/link` holds.
#[derive(Clone, Debug)]
enum Current {
    /// Exactly the digest of a blob the store has, as the blob's position in the
    /// inventory: nearly every tag of a registry.
    Held(u32),
    /// Anything else, boxed: rare, and it would double a tag.
    Form(Box<Form>),
}

impl Current {
    /// What `current/link` holds, as listed (`form`), against the store's `inventory`.
    fn settle(form: Form, inventory: &Inventory) -> Current {
        let position = match &form {
            Form::Current(digest) => inventory.position(digest),
            _ => None,
        };
        match position.and_then(|p| u32::try_from(p).ok()) {
            Some(position) => Current::Held(position),
            None => Current::Form(Box::new(form)),
        }
    }
}

impl Tag {
    /// The tag, for display (control characters escaped).
    pub fn name(&self) -> String {
        Key::from_bytes(&*self.name).to_string()
    }

    /// Whether the directory name is valid UTF-8 (otherwise [`Tag::name`] is lossy).
    pub fn name_is_utf8(&self) -> bool {
        std::str::from_utf8(&self.name).is_ok()
    }

    /// Path of `tags/<tag>`.
    pub fn display(&self) -> Key {
        self.tags.join(&self.name)
    }

    /// `current/link` (`inventory` is the one the repository was settled against).
    pub fn current(&self, inventory: &Inventory) -> Link {
        let form = match &self.current {
            Current::Held(position) => {
                Form::Current(inventory.digest_at(*position as usize).clone())
            }
            Current::Form(form) => (**form).clone(),
        };
        Link {
            parent: Arc::new(self.display()),
            form,
        }
    }
}

/// The tags under `dir`, each with what its `current/link` holds (kept apart until the
/// inventory is known: see [`ListedRepository`](super::ListedRepository)).
pub(super) fn tags(
    backend: &dyn Backend,
    dir: &Arc<Key>,
    findings: &mut Vec<Finding>,
) -> Vec<(ListedTag, Form)> {
    let (tags, found): (Vec<_>, Vec<Vec<Finding>>) =
        subdirectories(list_optional(backend, dir, findings))
            .into_par_iter()
            .map(|entry| {
                let mut findings = Vec::new();
                let tag_dir = Arc::new(dir.join(&entry.name));
                let current = tag_dir.join("current");
                let content = read_link(backend, &current.join("link"));
                let current = Link::new(&tag_dir, Under::Current, current, None, content);
                let mut index = digest_links(backend, &tag_dir, Under::History, &mut findings);
                // The history entry of the current manifest, in its usual form, says nothing
                // `current/link` does not (it is judged through that link), and it is all the
                // history most tags have: it is not kept.
                index.retain(|link| !link.repeats(&current));
                index.shrink_to_fit();
                let tag = ListedTag {
                    tags: dir.clone(),
                    name: entry.name,
                    index,
                };
                ((tag, current.form), findings)
            })
            .unzip();
    findings.extend(found.into_iter().flatten());
    tags
}

/// A tag as listed, before its `current/link` is settled against the inventory.
#[derive(Debug)]
pub(super) struct ListedTag {
    tags: Arc<Key>,
    name: Box<[u8]>,
    index: Vec<Link>,
}

impl ListedTag {
    /// The tag, what its `current/link` holds (`current`, as listed) settled against the
    /// store's `inventory`.
    pub(super) fn settle(self, current: Form, inventory: &Inventory) -> Tag {
        Tag {
            tags: self.tags,
            name: self.name,
            current: Current::settle(current, inventory),
            index: self.index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::Digest;

    use super::super::links::{Content, LinkContent};

    #[test]
    fn a_settled_tag_keeps_its_current_link_as_a_position() {
        assert_eq!(std::mem::size_of::<Tag>(), 64);
        let digest = |byte: u8| Digest::sha256([byte; 32]);
        let inventory = Inventory::of_test_bytes(&[1, 2]);
        let tags = Arc::new(Key::from("repositories/r/_manifests/tags"));
        let dir = Arc::new(tags.join("v1"));
        // Held: in the inventory. Absent: a digest the store lacks. Odd: not a digest.
        for content in [
            LinkContent::Digest(digest(2)),
            LinkContent::Digest(digest(9)),
            LinkContent::Bytes(Box::from(&b"sha256:x"[..])),
        ] {
            let listed = Link::new(&dir, Under::Current, dir.join("current"), None, content);
            let tag = Tag {
                tags: tags.clone(),
                name: Box::from(&b"v1"[..]),
                current: Current::settle(listed.form.clone(), &inventory),
                index: Vec::new(),
            };
            let current = tag.current(&inventory);
            assert_eq!(current.display(), listed.display());
            let (a, b) = (current.content(), listed.content());
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            let held = matches!(tag.current, Current::Held(_));
            assert_eq!(held, matches!(b, Content::Digest(d) if *d == digest(2)));
        }
    }
}
