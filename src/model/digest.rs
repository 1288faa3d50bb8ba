//! Content digests: `algorithm ":" encoded`, parsed and checked against the grammar of
//! image-spec `descriptor.md` § Digests.
//!
//! ```text
//! digest                ::= algorithm ":" encoded
//! algorithm             ::= algorithm-component (algorithm-separator algorithm-component)*
//! algorithm-component   ::= [a-z0-9]+
//! algorithm-separator   ::= [+._-]
//! encoded               ::= [a-zA-Z0-9=_-]+
//! ```
//!
//! Registered algorithms add their own encoding rule (lower-case hex of a fixed length).
//! Unregistered algorithms that satisfy the grammar are valid but cannot be verified
//! ("SHOULD pass validation", descriptor.md), so they parse as [`Algorithm::Other`].

use std::borrow::Cow;
use std::fmt;

/// A digest algorithm. Registered ones are those of image-spec `descriptor.md`
/// § Registered algorithms; everything else that fits the grammar is `Other`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// "Implementations MUST implement SHA-256 digest verification" — 64 lower-case hex.
    Sha256,
    /// "sha512 … MAY be implemented" — 128 lower-case hex.
    Sha512,
    /// "blake3 … MAY be implemented" (image-spec main, PR #1240) — 64 lower-case hex.
    Blake3,
    /// A grammatical algorithm we cannot hash, e.g. `sha256+b64` or `multihash+base58`.
    Other(Box<str>),
}

impl Algorithm {
    /// The algorithm's name as it appears before the `:`.
    pub fn as_str(&self) -> &str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
            Algorithm::Other(name) => name,
        }
    }

    /// The algorithm called `name` (`Other` for names not registered).
    pub fn from_name(name: &str) -> Algorithm {
        match name {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "blake3" => Algorithm::Blake3,
            other => Algorithm::Other(other.into()),
        }
    }

    /// Length of the lower-case hex encoding for registered algorithms.
    pub fn hex_len(&self) -> Option<usize> {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => Some(64),
            Algorithm::Sha512 => Some(128),
            Algorithm::Other(_) => None,
        }
    }

    /// Whether this tool can recompute digests of this algorithm.
    pub fn is_verifiable(&self) -> bool {
        !matches!(self, Algorithm::Other(_))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A digest that satisfies the grammar and its algorithm's encoding rule.
///
/// Registered algorithms are kept as raw bytes, not hex text: a store can hold millions of
/// blobs and each is named by a digest in several maps, so a sha256 digest is 40 bytes
/// with no allocation rather than about 120 with one. Ordering is the same as that of the
/// text (`sha256 < sha512 < blake3 < other`, then the hex, whose order is the bytes').
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(Repr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    Sha256([u8; 32]),
    Sha512(Box<[u8; 64]>),
    Blake3([u8; 32]),
    /// An unregistered algorithm (always `Algorithm::Other`) and its encoded text.
    Other(Box<(Algorithm, Box<str>)>),
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

fn decode_hex<const N: usize>(hex: &str) -> [u8; N] {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    out
}

fn write_hex(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        f.write_char(HEX[usize::from(b >> 4)] as char)?;
        f.write_char(HEX[usize::from(b & 15)] as char)?;
    }
    Ok(())
}

/// Why a string is not a valid digest. The text is the finding's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `:` separates algorithm and encoded part.
    #[error("no ':' between algorithm and encoded part")]
    MissingSeparator,
    /// The algorithm part breaks `[a-z0-9]+([+._-][a-z0-9]+)*`.
    #[error("algorithm {0:?} does not match [a-z0-9]+([+._-][a-z0-9]+)*")]
    BadAlgorithm(String),
    /// The encoded part is empty or has characters outside `[a-zA-Z0-9=_-]`.
    #[error("encoded part {0:?} does not match [a-zA-Z0-9=_-]+")]
    BadEncoded(String),
    /// A registered algorithm with an encoding of the wrong shape.
    #[error("{algorithm} digests must be {len} lower-case hex characters, found {found:?}")]
    BadHex {
        /// The registered algorithm.
        algorithm: &'static str,
        /// Its required length.
        len: usize,
        /// What was there (truncated if huge).
        found: String,
    },
}

fn truncated(s: &str) -> String {
    const MAX: usize = 140;
    if s.len() <= MAX {
        s.to_owned()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

fn is_algorithm(s: &str) -> bool {
    // Components of [a-z0-9]+ separated by exactly one of [+._-].
    !s.is_empty()
        && s.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Digest {
    /// Parses and validates `algorithm:encoded`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (algorithm, encoded) = s.split_once(':').ok_or(DigestError::MissingSeparator)?;
        if !is_algorithm(algorithm) {
            return Err(DigestError::BadAlgorithm(truncated(algorithm)));
        }
        if encoded.is_empty()
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        {
            return Err(DigestError::BadEncoded(truncated(encoded)));
        }
        let algorithm = Algorithm::from_name(algorithm);
        if let Some(len) = algorithm.hex_len() {
            if encoded.len() != len || !is_lower_hex(encoded) {
                return Err(DigestError::BadHex {
                    algorithm: match algorithm {
                        Algorithm::Sha256 => "sha256",
                        Algorithm::Sha512 => "sha512",
                        _ => "blake3",
                    },
                    len,
                    found: truncated(encoded),
                });
            }
        }
        // Validated above: registered encodings are lower-case hex of the right length.
        Ok(Digest(match algorithm {
            Algorithm::Sha256 => Repr::Sha256(decode_hex(encoded)),
            Algorithm::Sha512 => Repr::Sha512(Box::new(decode_hex(encoded))),
            Algorithm::Blake3 => Repr::Blake3(decode_hex(encoded)),
            other => Repr::Other(Box::new((other, encoded.into()))),
        }))
    }

    /// A sha256 digest from its 32 bytes.
    pub fn sha256(bytes: [u8; 32]) -> Digest {
        Digest(Repr::Sha256(bytes))
    }

    /// A sha512 digest from its 64 bytes.
    pub fn sha512(bytes: [u8; 64]) -> Digest {
        Digest(Repr::Sha512(Box::new(bytes)))
    }

    /// A blake3 digest from its 32 bytes.
    pub fn blake3(bytes: [u8; 32]) -> Digest {
        Digest(Repr::Blake3(bytes))
    }

    /// A registered digest as (algorithm code, raw bytes): 0 sha256, 1 sha512, 2 blake3,
    /// in this type's order, so ordering by (code, bytes) is ordering by digest. `None` for
    /// an unregistered algorithm. The ledger stores digests so: 33 bytes, not 71.
    pub fn raw(&self) -> Option<(u8, &[u8])> {
        match &self.0 {
            Repr::Sha256(b) => Some((0, b)),
            Repr::Sha512(b) => Some((1, &b[..])),
            Repr::Blake3(b) => Some((2, b)),
            Repr::Other(_) => None,
        }
    }

    /// The digest [`Digest::raw`] gave, or `None` when the code or length is wrong.
    pub fn from_raw(code: u8, bytes: &[u8]) -> Option<Digest> {
        Some(match code {
            0 => Digest::sha256(bytes.try_into().ok()?),
            1 => Digest::sha512(bytes.try_into().ok()?),
            2 => Digest::blake3(bytes.try_into().ok()?),
            _ => return None,
        })
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> &Algorithm {
        match &self.0 {
            Repr::Sha256(_) => &Algorithm::Sha256,
            Repr::Sha512(_) => &Algorithm::Sha512,
            Repr::Blake3(_) => &Algorithm::Blake3,
            Repr::Other(other) => &other.0,
        }
    }

    /// The encoded part: lower-case hex for registered algorithms (formatted on demand),
    /// the text as given otherwise.
    pub fn encoded(&self) -> Cow<'_, str> {
        let bytes: &[u8] = match &self.0 {
            Repr::Sha256(b) | Repr::Blake3(b) => b,
            Repr::Sha512(b) => &b[..],
            Repr::Other(other) => return Cow::Borrowed(&other.1),
        };
        let mut hex = String::with_capacity(bytes.len() * 2);
        let _ = write_hex(&mut hex, bytes);
        Cow::Owned(hex)
    }
}

impl Digest {
    /// 32 bits that order digests as `Ord` does, as far as they go: the algorithm's rank
    /// in the top two bits, then the first bits of the hash (an unregistered algorithm's
    /// digests share one value). Hashes spread uniformly, so these locate a digest in a
    /// sorted vector ([`DigestIndex`]).
    fn order_key(&self) -> u32 {
        let (rank, bytes): (u32, &[u8]) = match &self.0 {
            Repr::Sha256(b) => (0, b),
            Repr::Sha512(b) => (1, &b[..]),
            Repr::Blake3(b) => (2, b),
            Repr::Other(_) => return 3 << 30,
        };
        let prefix = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        (rank << 30) | (prefix >> 2)
    }
}

/// Where each run of leading bits starts in a vector sorted by digest, so that a search
/// bisects a handful of entries instead of all of them: bisecting a vector of hundreds of
/// thousands of digests misses the cache at nearly every one of its twenty steps, and a
/// store's checks look up every descriptor.
#[derive(Clone, Debug, Default)]
pub struct DigestIndex {
    /// `starts[b]` is the first position whose [`Digest::order_key`] >> `shift` is `b` or
    /// more; one entry past the last run.
    starts: Vec<u32>,
    shift: u32,
    /// The number of entries (searched whole when there are too many for `u32` starts).
    len: usize,
}

impl DigestIndex {
    /// The index of `len` entries sorted by digest, `digest_at(i)` being the i-th digest:
    /// a run for every two entries (at most 2^20 runs, 4 bytes each). The top two bits
    /// rank the algorithm, so in a store of one algorithm a quarter of the runs are used:
    /// a lookup bisects about eight entries.
    pub fn new<'a>(len: usize, digest_at: impl Fn(usize) -> &'a Digest) -> DigestIndex {
        if u32::try_from(len).is_err() {
            return DigestIndex {
                len,
                ..DigestIndex::default()
            };
        }
        let bits = (len / 2).max(1).ilog2().clamp(1, 20);
        let shift = 32 - bits;
        let runs = 1usize << bits;
        let mut starts = Vec::with_capacity(runs + 1);
        let mut position = 0;
        for run in 0..runs {
            while position < len && (digest_at(position).order_key() >> shift) < run as u32 {
                position += 1;
            }
            starts.push(position as u32);
        }
        starts.push(len as u32);
        DigestIndex { starts, shift, len }
    }

    /// The range of positions where `digest` can be.
    pub fn range(&self, digest: &Digest) -> std::ops::Range<usize> {
        if self.starts.is_empty() {
            return 0..self.len;
        }
        let run = (digest.order_key() >> self.shift) as usize;
        self.starts[run] as usize..self.starts[run + 1] as usize
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm().as_str())?;
        f.write_str(":")?;
        match &self.0 {
            Repr::Sha256(b) | Repr::Blake3(b) => write_hex(f, b),
            Repr::Sha512(b) => write_hex(f, &b[..]),
            Repr::Other(other) => f.write_str(&other.1),
        }
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b";

    #[test]
    fn the_index_finds_every_digest_where_bisection_does() {
        // Digests of every kind, clustered prefixes included, at sizes around the run
        // boundaries; and absent digests.
        let made = |i: u32| -> Digest {
            let mut bytes = [0u8; 64];
            let x = i.wrapping_mul(2_654_435_761);
            bytes[..4]
                .copy_from_slice(&(if i % 7 == 0 { x & 0xff00_0000 } else { x }).to_be_bytes());
            bytes[4..8].copy_from_slice(&i.to_be_bytes());
            match i % 5 {
                0 => Digest::sha512(bytes),
                1 => Digest::blake3(bytes[..32].try_into().unwrap()),
                2 => Digest::parse(&format!("sha256+b64:{i:x}")).unwrap(),
                _ => Digest::sha256(bytes[..32].try_into().unwrap()),
            }
        };
        for len in [0, 1, 2, 3, 5, 64, 1000, 5000] {
            let mut digests: Vec<Digest> = (0..len).map(made).collect();
            digests.sort();
            digests.dedup();
            let index = DigestIndex::new(digests.len(), |i| &digests[i]);
            for probe in (0..len + 500).map(|i| made(i * 3 + 1)) {
                let run = index.range(&probe);
                let start = run.start;
                let found = digests[run].binary_search(&probe).ok().map(|i| start + i);
                assert_eq!(
                    found,
                    digests.binary_search(&probe).ok(),
                    "{probe} in {len}"
                );
            }
        }
    }

    #[test]
    fn registered_algorithms() {
        let d = Digest::parse(&format!("sha256:{HEX64}")).unwrap();
        assert_eq!(d.algorithm(), &Algorithm::Sha256);
        assert_eq!(d.to_string(), format!("sha256:{HEX64}"));
        assert!(Digest::parse(&format!("blake3:{HEX64}")).is_ok());
        assert!(Digest::parse(&format!("sha512:{HEX64}{HEX64}")).is_ok());
    }

    #[test]
    fn registered_algorithms_demand_lower_hex_of_their_length() {
        for bad in [
            format!("sha256:{}", HEX64.to_uppercase()),
            format!("sha256:{}", &HEX64[1..]),
            format!("sha512:{HEX64}"),
            format!("blake3:{HEX64}0"),
            "sha256:zz".to_owned(),
        ] {
            assert!(
                matches!(Digest::parse(&bad), Err(DigestError::BadHex { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unregistered_algorithms_follow_the_grammar_only() {
        for ok in [
            format!("sha256+b64:{HEX64}"),
            format!("sha256.foo-bar:{HEX64}"),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".to_owned(),
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564".to_owned(),
        ] {
            let d = Digest::parse(&ok).unwrap();
            assert!(!d.algorithm().is_verifiable(), "{ok}");
        }
        for bad in [
            format!("sha256+foo+-b:{HEX64}"),
            format!("SHA256:{HEX64}"),
            format!(":{HEX64}"),
            format!("sha256+:{HEX64}"),
            "sha256:".to_owned(),
            HEX64.to_owned(),
            "sha256:abc def".to_owned(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
    }
}
