//! Pure data of the image-spec: digests, media types, platforms, parsed documents.
//! No I/O here.

pub mod digest;
pub mod document;
pub mod key;
pub mod media_type;
pub mod platform;
pub mod text;
pub mod time;
