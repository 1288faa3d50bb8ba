//! Short strings a store repeats hundreds of thousands of times: JSON pointers such as
//! `/layers/0` and media types. One from a fixed table shares the table's copy; any other
//! has its own. Either way it is one thin pointer, 8 bytes where a `Cow<'static, str>`
//! takes 24, and a registry keeps two of them in each of millions of descriptors.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use crate::model::media_type;

/// How many entries of each descriptor array (`/layers`, `/manifests`, `/blobs`) have a
/// pointer in the table.
const COMMON_ENTRIES: usize = 32;

/// The empty string, the common media types, then the common pointers: `/config`,
/// `/subject`, and the first entries of `/layers`, `/manifests` and `/blobs`.
static TABLE: LazyLock<Vec<Arc<Box<str>>>> = LazyLock::new(|| {
    let mut table: Vec<&str> = vec![""];
    table.extend(media_type::COMMON);
    table.extend(["/config", "/subject"]);
    let mut pointers = Vec::new();
    for array in ["/layers", "/manifests", "/blobs"] {
        pointers.extend((0..COMMON_ENTRIES).map(|i| format!("{array}/{i}")));
    }
    table.extend(pointers.iter().map(String::as_str));
    table.into_iter().map(|s| Arc::new(s.into())).collect()
});

/// Where the pointers start in [`TABLE`].
fn pointers() -> usize {
    1 + media_type::COMMON.len()
}

/// A string, shared with `TABLE` when it is a common one. (A reference count instead
/// of an index into the table: an index beside a pointer for the other strings would
/// take 16 bytes.)
#[derive(Clone)]
pub struct Text(Arc<Box<str>>);

impl Text {
    /// `s`, shared when it is in the table.
    pub fn new(s: &str) -> Text {
        match common_index(s) {
            Some(i) => Text(TABLE[i].clone()),
            None => Text(Arc::new(s.into())),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is the table's copy.
    #[cfg(test)]
    fn is_shared(&self) -> bool {
        TABLE.iter().any(|common| Arc::ptr_eq(common, &self.0))
    }
}

/// Where `s` is in [`TABLE`], found without comparing it against every entry.
fn common_index(s: &str) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    if !s.starts_with('/') {
        let i = media_type::COMMON.iter().position(|&ty| ty == s)?;
        return Some(1 + i);
    }
    let pointers = pointers();
    match s.rsplit_once('/') {
        Some(("", "config")) => Some(pointers),
        Some(("", "subject")) => Some(pointers + 1),
        Some((array, i)) => {
            let first = match array {
                "/layers" => 2,
                "/manifests" => 2 + COMMON_ENTRIES,
                "/blobs" => 2 + 2 * COMMON_ENTRIES,
                _ => return None,
            };
            // Only the canonical decimal (digits only, no leading zero) is in the table.
            let canonical = !i.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && (i == "0" || !i.starts_with('0'));
            let index = canonical
                .then(|| i.parse::<usize>().ok())
                .flatten()
                .filter(|&n| n < COMMON_ENTRIES)?;
            Some(pointers + first + index)
        }
        None => None,
    }
}

impl Default for Text {
    fn default() -> Text {
        Text(TABLE[0].clone())
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        match common_index(&s) {
            Some(i) => Text(TABLE[i].clone()),
            None => Text(Arc::new(s.into_boxed_str())),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_strings_are_shared_and_every_string_keeps_its_text() {
        let cases = [
            ("", true),
            ("/config", true),
            ("/subject", true),
            ("/layers/0", true),
            ("/manifests/31", true),
            ("/blobs/7", true),
            (media_type::OCI_MANIFEST, true),
            ("application/vnd.oci.image.layer.v1.tar+gzip", true),
            ("/layers/32", false),
            ("/layers/01", false),
            ("/layers/+1", false),
            ("/config/x", false),
            ("/x/0", false),
            ("application/x-unknown", false),
        ];
        for (s, shared) in cases {
            let text = Text::new(s);
            assert_eq!(text.is_shared(), shared, "{s}");
            assert_eq!(text.as_str(), s);
            assert_eq!(Text::from(s.to_owned()), text);
        }
        assert_eq!(std::mem::size_of::<Text>(), 8);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 8);
    }
}
