//! Hashing: one incremental hasher over the verifiable algorithms (sha256, sha512,
//! blake3). Reading the bytes is the backend's business (`backend::local` for files).

use sha2::Digest as _;

use crate::model::digest::{Algorithm, Digest};

/// An incremental hasher for one of the verifiable algorithms.
pub enum Hasher {
    /// SHA-256 (the `sha2` crate; SHA-NI when the CPU has it).
    Sha256(sha2::Sha256),
    /// SHA-512: `aws-lc-rs` (OpenSSL's assembly) where the object-store feature builds it
    /// anyway, 1.2x `sha2` in the interleaved race of `benches/digest.rs`; else `sha2`.
    #[cfg(feature = "object-store")]
    Sha512(Box<aws_lc_rs::digest::Context>),
    /// SHA-512 (`sha2`).
    #[cfg(not(feature = "object-store"))]
    Sha512(sha2::Sha512),
    /// BLAKE3 (SIMD-dispatched).
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// A hasher for `algorithm`, or `None` when we cannot compute it.
    pub fn new(algorithm: &Algorithm) -> Option<Hasher> {
        Some(match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            #[cfg(feature = "object-store")]
            Algorithm::Sha512 => Hasher::Sha512(Box::new(aws_lc_rs::digest::Context::new(
                &aws_lc_rs::digest::SHA512,
            ))),
            #[cfg(not(feature = "object-store"))]
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Other(_) => return None,
        })
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::sha256(h.finalize().into()),
            #[cfg(feature = "object-store")]
            Hasher::Sha512(h) => {
                let digest = h.finish();
                let mut bytes = [0; 64];
                bytes.copy_from_slice(digest.as_ref());
                Digest::sha512(bytes)
            }
            #[cfg(not(feature = "object-store"))]
            Hasher::Sha512(h) => Digest::sha512(h.finalize().into()),
            Hasher::Blake3(h) => Digest::blake3(*h.finalize().as_bytes()),
        }
    }
}

/// The digest of `bytes` under `algorithm`, or `None` when it cannot be computed.
pub fn digest_bytes(algorithm: &Algorithm, bytes: &[u8]) -> Option<Digest> {
    let mut hasher = Hasher::new(algorithm)?;
    hasher.update(bytes);
    Some(hasher.finish())
}

/// The result of hashing a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashResult {
    /// It hashed to its digest.
    Clean,
    /// It did not.
    Mismatch,
    /// It could not be read whole (gone, unreadable, changed length).
    Unreadable,
}

impl HashResult {
    /// Its code in the ledger.
    pub fn code(self) -> i64 {
        match self {
            HashResult::Clean => 0,
            HashResult::Mismatch => 1,
            HashResult::Unreadable => 2,
        }
    }

    /// The result of a ledger code.
    pub fn from_code(code: i64) -> HashResult {
        match code {
            0 => HashResult::Clean,
            1 => HashResult::Mismatch,
            _ => HashResult::Unreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let empty = digest_bytes(&Algorithm::Sha256, b"").unwrap();
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let braces = digest_bytes(&Algorithm::Sha256, b"{}").unwrap();
        assert_eq!(
            braces.encoded(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            digest_bytes(&Algorithm::Blake3, b"").unwrap().encoded(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        // FIPS 180-2, appendix C.1; fed in two pieces, as streaming reads do.
        let mut hasher = Hasher::new(&Algorithm::Sha512).unwrap();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(
            hasher.finish().encoded(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert!(digest_bytes(&Algorithm::Other("md5".into()), b"").is_none());
    }
}
