//! Store-relative paths, held losslessly as bytes.
//!
//! A file name on Linux is any byte string without `/` or NUL; it need not be UTF-8 and
//! may hold a newline. Findings must name such files exactly (a JSON consumer has to find
//! them again), while text output must stay one line per finding. So a [`Key`] keeps the
//! raw bytes, and each rendering decides how to show them: [`Key::lossy`] for JSON (real
//! characters, JSON escapes applied by the serialiser, plus the raw bytes when they are
//! not UTF-8) and `Display` for text (control characters escaped).

use std::borrow::Cow;
use std::fmt;

/// A `/`-separated path relative to the audited root (empty for the root itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Box<[u8]>);

impl Key {
    /// The audited root itself.
    pub fn root() -> Key {
        Key::default()
    }

    /// A key of these bytes.
    pub fn from_bytes(bytes: impl Into<Box<[u8]>>) -> Key {
        Key(bytes.into())
    }

    /// This key with `name` (one component, or several joined by `/`) appended.
    #[must_use]
    pub fn join(&self, name: impl AsRef<[u8]>) -> Key {
        let name = name.as_ref();
        if self.0.is_empty() {
            return Key(name.into());
        }
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0);
        bytes.push(b'/');
        bytes.extend_from_slice(name);
        Key(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the root (no bytes).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key as text when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The key as text, with bytes that are not UTF-8 replaced by U+FFFD and nothing
    /// escaped: what JSON shows in `path` (the serialiser escapes control characters).
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(slash) => &self.0[slash + 1..],
            None => &self.0,
        }
    }

    /// Everything before the last component (`None` for a key of one component).
    pub fn parent(&self) -> Option<Key> {
        let slash = self.0.iter().rposition(|&b| b == b'/')?;
        Some(Key::from_bytes(&self.0[..slash]))
    }

    /// This key as a prefix for the paths below it: empty for the root, else with a
    /// trailing `/`, for messages such as "not reachable from a/b/index.json".
    pub fn prefix(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{self}/")
        }
    }
}

/// Text rendering: lossy UTF-8, and a component holding a control character (a newline in
/// a file name) is shown escaped, so one finding stays one line. `.` for the root.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, component) in self.0.split(|&b| b == b'/').enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            let lossy = String::from_utf8_lossy(component);
            if lossy.chars().any(char::is_control) {
                for c in lossy.chars().flat_map(char::escape_default) {
                    fmt::Write::write_char(f, c)?;
                }
            } else {
                f.write_str(&lossy)?;
            }
        }
        Ok(())
    }
}

/// Serialises `key` as the fields `path` (the text, lossy where the bytes are not UTF-8,
/// with real characters: the JSON serialiser escapes a newline as `\n`) and, only when the
/// bytes are not UTF-8, `path_bytes` (the raw bytes, standard base64), so that a JSON
/// consumer can always name the file exactly. Used with `#[serde(flatten)]`.
pub fn as_path_fields<S: serde::Serializer>(key: &Key, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    use serde::ser::SerializeMap as _;
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("path", &key.lossy())?;
    if key.to_str().is_none() {
        let raw = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
        map.serialize_entry("path_bytes", &raw)?;
    }
    map.end()
}

/// Reads what [`as_path_fields`] wrote: the raw bytes when `path_bytes` is there, else
/// the text of `path`.
pub fn from_path_fields<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
    #[derive(serde::Deserialize)]
    struct Fields {
        path: String,
        path_bytes: Option<String>,
    }
    let fields = <Fields as serde::Deserialize>::deserialize(d)?;
    from_path_texts(Some(&fields.path), fields.path_bytes.as_deref())
        .ok_or_else(|| serde::de::Error::custom("path_bytes is not base64"))
}

/// The key [`as_path_fields`] wrote as `path` and, when not UTF-8, `path_bytes`: the raw
/// bytes when given (`None` when they are not base64), else the text (`None` without it).
pub fn from_path_texts(path: Option<&str>, path_bytes: Option<&str>) -> Option<Key> {
    use base64::Engine as _;
    match path_bytes {
        Some(raw) => base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .map(Key::from_bytes),
        None => path.map(Key::from),
    }
}

/// Reads what [`as_lossy`] wrote.
pub fn from_lossy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Key::from)
}

/// Serialises `key` as its lossy text (for fields that name a store, never a file to open).
pub fn as_lossy<S: serde::Serializer>(key: &Key, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.lossy())
}

impl From<&str> for Key {
    fn from(text: &str) -> Key {
        Key(text.as_bytes().into())
    }
}

impl From<String> for Key {
    fn from(text: String) -> Key {
        Key(text.into_bytes().into_boxed_slice())
    }
}

impl From<&String> for Key {
    fn from(text: &String) -> Key {
        Key::from(text.as_str())
    }
}

impl From<&Key> for Key {
    fn from(key: &Key) -> Key {
        key.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_render() {
        let root = Key::root();
        assert_eq!(root.to_string(), ".");
        let a = root.join("a").join(b"new\nline").join([0xff, b'x']);
        assert_eq!(a.as_bytes(), b"a/new\nline/\xffx");
        assert_eq!(a.to_string(), "a/new\\nline/\u{fffd}x");
        assert_eq!(a.lossy(), "a/new\nline/\u{fffd}x");
        assert_eq!(a.to_str(), None);
        assert_eq!(a.file_name(), b"\xffx");
        assert_eq!(Key::from("x/y").prefix(), "x/y/");
        assert_eq!(root.prefix(), "");
    }

    #[test]
    fn path_fields_read_back_exactly() {
        use crate::finding::Location;
        for key in [Key::from("a/b"), Key::from_bytes(&b"a/\xffb\nc"[..])] {
            let at = Location::path(key.clone()).via(key.clone(), "/layers/0");
            let json = serde_json::to_string(&at).unwrap();
            let back: Location = serde_json::from_str(&json).unwrap();
            assert_eq!(back, at, "{json}");
        }
    }
}
