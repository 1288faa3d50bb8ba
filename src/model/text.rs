//! Short strings a store repeats hundreds of thousands of times: JSON pointers such as
//! `/layers/0` and media types. One from a fixed table is kept as its index in it; any
//! other is boxed. The whole is 16 bytes where a `Cow<'static, str>` takes 24, and a
//! registry keeps two of them in each of millions of descriptors.

use std::fmt;
use std::ops::Deref;
use std::sync::LazyLock;

use crate::model::media_type;

/// How many entries of each descriptor array (`/layers`, `/manifests`, `/blobs`) have a
/// pointer in the table.
const COMMON_ENTRIES: usize = 32;

/// The empty string, the common media types, then the common pointers: `/config`,
/// `/subject`, and the first entries of `/layers`, `/manifests` and `/blobs`.
static TABLE: LazyLock<Vec<Box<str>>> = LazyLock::new(|| {
    let mut table: Vec<Box<str>> = vec!["".into()];
    table.extend(media_type::COMMON.iter().map(|&ty| ty.into()));
    table.extend(["/config".into(), "/subject".into()]);
    for array in ["/layers", "/manifests", "/blobs"] {
        table.extend((0..COMMON_ENTRIES).map(|i| format!("{array}/{i}").into()));
    }
    table
});

/// Where the pointers start in [`TABLE`].
fn pointers() -> usize {
    1 + media_type::COMMON.len()
}

/// A string, shared when it is a common one.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    /// `TABLE[i]`.
    Common(u16),
    /// Any other string. Boxed twice (a thin pointer to a fat one) so that the whole
    /// stays 16 bytes: these are rare.
    Other(Box<Box<str>>),
}

impl Text {
    /// `s`, shared when it is in the table.
    pub fn new(s: &str) -> Text {
        match common_index(s) {
            Some(i) => Text(Repr::Common(i as u16)),
            None => Text(Repr::Other(Box::new(s.into()))),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Common(i) => &TABLE[usize::from(*i)],
            Repr::Other(s) => s,
        }
    }

    /// Whether it is kept as an index into the table.
    #[cfg(test)]
    fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Common(_))
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
        Text(Repr::Common(0))
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
            Some(i) => Text(Repr::Common(i as u16)),
            None => Text(Repr::Other(Box::new(s.into_boxed_str()))),
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
        assert_eq!(std::mem::size_of::<Text>(), 16);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
    }
}
