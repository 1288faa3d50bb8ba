//! Tar framing with limits: one 512-byte header after another, the extension headers
//! (GNU long names, PAX records) folded into the member they describe, every size checked
//! before anything is allocated for it.
//!
//! The `tar` crate parses the header fields (octal and base-256 numbers, the ustar prefix,
//! checksums); the framing is ours because its `Entries` reads a long-name or PAX member
//! whole with no limit (`archive.rs`, `next_entry`: `read_all()`), so a header claiming an
//! 8 GiB name would exhaust memory, and in raw mode it ignores a PAX `size`, which Go's
//! `archive/tar` (and so `docker save`) writes for members of 8 GiB and more. PAX records
//! are read here too, by their declared lengths: the crate's `PaxExtensions` splits on
//! newlines, so a comment holding `\n19 path=index.json\n` would rename a member for it and
//! for no other reader.
//!
//! Where readers disagree, this one reads as Go's `archive/tar` (which `docker load` uses)
//! and GNU tar do: a long name ends at its first NUL, links and directories are headers
//! only whatever their size says, a lone zero block followed by more archive is corrupt.

use std::io::{self, Read};

use tar::Header;

/// A tar block.
pub const BLOCK: u64 = 512;

/// Longest member name (or link target) accepted: Linux's `PATH_MAX`. A longer one is a
/// finding, and its member is skipped.
pub const MAX_NAME: u64 = 4096;

/// Largest PAX extended header read: names are bounded by [`MAX_NAME`], and nothing an
/// image archive needs comes near this.
pub const MAX_EXTENSION: u64 = 1024 * 1024;

/// What a member is, from its type flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file (`0`, the old `\0`, or contiguous `7`).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier member.
    HardLink,
    /// A character or block device.
    Device,
    /// A named pipe.
    Fifo,
    /// Anything else (GNU sparse files, volume labels, unknown flags): its type flag.
    Other(u8),
}

impl MemberKind {
    /// The kind a header's type flag names.
    fn from_flag(flag: u8) -> MemberKind {
        match flag {
            b'0' | b'\0' | b'7' => MemberKind::File,
            b'5' => MemberKind::Dir,
            b'2' => MemberKind::Symlink,
            b'1' => MemberKind::HardLink,
            b'3' | b'4' => MemberKind::Device,
            b'6' => MemberKind::Fifo,
            other => MemberKind::Other(other),
        }
    }
}

/// One member's header, with its extension headers applied.
#[derive(Debug)]
pub struct Member {
    /// The name as stored (raw bytes, not yet normalised).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: MemberKind,
    /// Bytes of content that follow the header.
    pub size: u64,
    /// A link's target.
    pub link: Option<Vec<u8>>,
    /// Offset of its header in the (uncompressed) archive.
    pub offset: u64,
}

/// A fault in the framing: the archive cannot be read past it.
#[derive(Debug)]
pub enum Fault {
    /// The stream ended inside a header or member, or without its end-of-archive blocks.
    Truncated(String),
    /// A header that is not one, or a compressed stream that does not decompress.
    Corrupt(String),
}

/// Something the framing met and skipped, reading on (a finding, not a fault).
#[derive(Debug)]
pub struct Skipped {
    /// Offset of the header.
    pub offset: u64,
    /// The member's name as far as known.
    pub name: Vec<u8>,
    /// Why it was skipped.
    pub why: String,
}

/// What [`Framer::next_member`] found.
#[derive(Debug)]
pub enum Next {
    /// A member: its content follows, to be read with [`Framer::read`].
    Member(Member),
    /// The end-of-archive blocks.
    End,
    /// The framing cannot go on.
    Fault(Fault),
}

/// Reads an archive's headers and members in order from `R`.
pub struct Framer<R> {
    reader: R,
    /// Offset in the uncompressed stream.
    offset: u64,
    /// Content bytes of the current member not yet read.
    remaining: u64,
    /// Padding after the current member's content.
    padding: u64,
    /// Extension headers that were too large, and other members skipped.
    pub skipped: Vec<Skipped>,
}

/// The extension headers read for the member they precede.
#[derive(Default)]
struct Extensions {
    /// A GNU long name (`L`), up to its first NUL.
    long_name: Option<Vec<u8>>,
    /// A GNU long link target (`K`), likewise.
    long_link: Option<Vec<u8>>,
    /// PAX records (`x`), not yet parsed.
    pax: Option<Vec<u8>>,
    /// An extension over its limit was skipped: so is the member it describes.
    skip_member: bool,
}

impl Extensions {
    /// The member whose header (of type `flag`, its size field `size`) is at `offset`, with
    /// the long names and PAX records read before it applied (and taken: the next member
    /// starts without them).
    fn member(
        &mut self,
        header: &Header,
        flag: u8,
        mut size: u64,
        offset: u64,
    ) -> Result<Member, Fault> {
        let mut name = self
            .long_name
            .take()
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let mut link = self
            .long_link
            .take()
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        if let Some(data) = self.pax.take() {
            apply_pax(&data, offset, &mut name, &mut link, &mut size)?;
        }
        let kind = MemberKind::from_flag(flag);
        // Links, directories, devices and FIFOs are headers only, whatever the size
        // field says (as Go's archive/tar, and so Docker, reads them).
        if !matches!(kind, MemberKind::File | MemberKind::Other(_)) {
            size = 0;
        }
        Ok(Member {
            name,
            kind,
            size,
            link,
            offset,
        })
    }
}

/// Applies the PAX records `data` (of the extended header before the member header at
/// `offset`) to a member's name, link target and size.
fn apply_pax(
    data: &[u8],
    offset: u64,
    name: &mut Vec<u8>,
    link: &mut Option<Vec<u8>>,
    size: &mut u64,
) -> Result<(), Fault> {
    let records = pax_records(data).ok_or_else(|| {
        Fault::Corrupt(format!(
            "the PAX extended header before byte {offset} is malformed"
        ))
    })?;
    for (key, value) in records {
        match key {
            b"path" => *name = value.to_vec(),
            b"linkpath" => *link = Some(value.to_vec()),
            b"size" => {
                *size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        Fault::Corrupt(format!("the PAX size before byte {offset} is not a number"))
                    })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// What the framing reads from: something that can skip a member's content.
pub trait Input: Read {
    /// Skips up to `amount` bytes; how many were skipped (0: the input ended).
    fn skip(&mut self, amount: u64) -> io::Result<u64>;
}

/// A stream (a pipe, a decompressor), which skips by reading.
pub struct Stream<R>(pub R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Input for Stream<R> {
    fn skip(&mut self, amount: u64) -> io::Result<u64> {
        let mut sink = [0u8; 64 * 1024];
        let want = sink
            .len()
            .min(usize::try_from(amount).unwrap_or(usize::MAX));
        Ok(self.0.read(&mut sink[..want])? as u64)
    }
}

/// A file of known length, which skips by seeking: the content is read where it lies, by
/// whoever hashes it. Skips within the buffer keep it (`seek_relative`), so the headers of
/// many small members cost one read per buffer, not one per member.
pub struct Seekable {
    reader: io::BufReader<std::fs::File>,
    position: u64,
    len: u64,
}

impl Seekable {
    /// `reader` at offset 0 of a file of `len` bytes.
    pub fn new(reader: io::BufReader<std::fs::File>, len: u64) -> Seekable {
        Seekable {
            reader,
            position: 0,
            len,
        }
    }
}

impl Read for Seekable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Input for Seekable {
    fn skip(&mut self, amount: u64) -> io::Result<u64> {
        let step = amount.min(self.len.saturating_sub(self.position));
        let relative = i64::try_from(step).map_err(io::Error::other)?;
        self.reader.seek_relative(relative)?;
        self.position += step;
        Ok(step)
    }
}

impl<R: Input> Framer<R> {
    /// Frames the tar stream `reader`.
    pub fn new(reader: R) -> Framer<R> {
        Framer {
            reader,
            offset: 0,
            remaining: 0,
            padding: 0,
            skipped: Vec::new(),
        }
    }

    /// Bytes of the uncompressed stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next member, after skipping whatever is left of the current one.
    pub fn next_member(&mut self) -> Next {
        match self.next_header() {
            Ok(Some(member)) => Next::Member(member),
            Ok(None) => Next::End,
            Err(fault) => Next::Fault(fault),
        }
    }

    /// [`Framer::next_member`]: a member, `None` at the end-of-archive blocks.
    fn next_header(&mut self) -> Result<Option<Member>, Fault> {
        self.skip_rest()?;
        let mut extensions = Extensions::default();
        loop {
            let offset = self.offset;
            let Some(block) = self.header_block()? else {
                return Ok(None);
            };
            let header = Header::from_byte_slice(&block);
            let size = header.entry_size().map_err(|error| {
                Fault::Corrupt(format!(
                    "the header at byte {offset} has an unreadable size: {error}"
                ))
            })?;
            let flag = header.entry_type().as_byte();
            if self.extension_header(flag, size, offset, &mut extensions)? {
                continue;
            }
            let member = extensions.member(header, flag, size, offset)?;
            self.remaining = member.size;
            self.padding = padded(member.size) - member.size;
            // Skipped with its content: a member an over-limit extension described, or one
            // whose name or link target is over MAX_NAME.
            if std::mem::take(&mut extensions.skip_member) || !self.names_within_limit(&member) {
                self.skip_rest()?;
                continue;
            }
            return Ok(Some(member));
        }
    }

    /// Reads an extension header (`L`, `K`, `x`) into `extensions`, or skips a global PAX
    /// header: `true` when the header was one of these, which describe no member of their
    /// own; `false` for a member's header.
    fn extension_header(
        &mut self,
        flag: u8,
        size: u64,
        offset: u64,
        extensions: &mut Extensions,
    ) -> Result<bool, Fault> {
        match flag {
            b'L' | b'K' | b'x' => {
                let Some(data) = self.extension(flag, size, offset)? else {
                    extensions.skip_member = true;
                    return Ok(true);
                };
                match flag {
                    b'L' => extensions.long_name = Some(until_nul(data)),
                    b'K' => extensions.long_link = Some(until_nul(data)),
                    _ => extensions.pax = Some(data),
                }
                Ok(true)
            }
            // Global PAX records set defaults (usually only a comment); none of them
            // changes where members are or what they hold.
            b'g' => {
                self.skip(padded(size))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether `member`'s name and link target are within [`MAX_NAME`]; when not, it is
    /// recorded as skipped (the caller skips its content).
    fn names_within_limit(&mut self, member: &Member) -> bool {
        let Member { name, link, .. } = member;
        if name.len() as u64 > MAX_NAME || link.as_ref().is_some_and(|l| l.len() as u64 > MAX_NAME)
        {
            self.skipped.push(Skipped {
                offset: member.offset,
                name: name[..name.len().min(256)].to_vec(),
                why: format!("a name or link target over the {MAX_NAME}-byte limit"),
            });
            return false;
        }
        true
    }

    /// The next header block (its checksum checked), or `None` for the end-of-archive
    /// blocks.
    fn header_block(&mut self) -> Result<Option<[u8; BLOCK as usize]>, Fault> {
        let offset = self.offset;
        let mut block = [0u8; BLOCK as usize];
        if !self.fill(&mut block)? {
            return Err(Fault::Truncated(format!(
                "the archive ends at byte {offset} without its end-of-archive blocks"
            )));
        }
        if block.iter().all(|&b| b == 0) {
            // The end is two zero blocks; one followed by more archive is not an end
            // (Go's reader refuses it), though one at the very end of the input is
            // accepted, as GNU tar does.
            let mut second = [0u8; BLOCK as usize];
            if self.fill(&mut second)? && second.iter().any(|&b| b != 0) {
                return Err(Fault::Corrupt(format!(
                    "a lone zero block at byte {offset}, with more archive after it"
                )));
            }
            return Ok(None);
        }
        if !checksum_matches(&block) {
            return Err(Fault::Corrupt(format!(
                "no tar header at byte {offset} (its checksum does not match)"
            )));
        }
        Ok(Some(block))
    }

    /// The content of an extension header (`L`, `K`: a GNU long name or link; `x`: PAX
    /// records) of `size` bytes, or `None` when it is over its limit: then it is skipped
    /// unread, with the member it describes.
    fn extension(&mut self, flag: u8, size: u64, offset: u64) -> Result<Option<Vec<u8>>, Fault> {
        let (limit, what) = if flag == b'x' {
            (MAX_EXTENSION, "PAX extended header")
        } else {
            (MAX_NAME, "GNU long name")
        };
        if size > limit {
            self.skipped.push(Skipped {
                offset,
                name: Vec::new(),
                why: format!(
                    "a {what} of {size} bytes, over the {limit}-byte limit: the member it describes is skipped"
                ),
            });
            self.skip(padded(size))?;
            return Ok(None);
        }
        // Within the limit, so the allocation is bounded.
        let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
        self.read_exact(&mut data)?;
        self.skip(padded(size) - size)?;
        Ok(Some(data))
    }

    /// Reads up to `buf.len()` bytes of the current member's content; 0 at its end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Fault> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let got = loop {
            match self.reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Fault::Truncated(format!(
                        "the archive ends at byte {} inside a member, {} bytes short",
                        self.offset,
                        self.remaining + self.padding
                    )));
                }
                Ok(n) => break n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.stream_fault(error)),
            }
        };
        self.remaining -= got as u64;
        self.offset += got as u64;
        Ok(got)
    }

    /// Skips the rest of the current member and its padding.
    fn skip_rest(&mut self) -> Result<(), Fault> {
        let rest = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.skip(rest)
    }

    fn skip(&mut self, mut amount: u64) -> Result<(), Fault> {
        while amount > 0 {
            match self.reader.skip(amount) {
                Ok(0) => {
                    return Err(Fault::Truncated(format!(
                        "the archive ends at byte {} inside a member, {amount} bytes short",
                        self.offset
                    )));
                }
                Ok(n) => {
                    amount -= n;
                    self.offset += n;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.stream_fault(error)),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Fault> {
        if self.fill(buf)? {
            Ok(())
        } else {
            Err(Fault::Truncated(format!(
                "the archive ends at byte {} inside an extended header",
                self.offset
            )))
        }
    }

    /// Fills `buf`: `false` when the stream ended before the first byte, a fault when it
    /// ended part way.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, Fault> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(Fault::Truncated(format!(
                        "the archive ends at byte {} inside a header",
                        self.offset + filled as u64
                    )));
                }
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.stream_fault(error)),
            }
        }
        self.offset += filled as u64;
        Ok(true)
    }

    /// A read error: the decompressor's complaint, or the file's.
    fn stream_fault(&self, error: io::Error) -> Fault {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Fault::Truncated(format!(
                "the compressed stream ends early (at uncompressed byte {}): {error}",
                self.offset
            ))
        } else {
            Fault::Corrupt(format!(
                "the stream cannot be read past uncompressed byte {}: {error}",
                self.offset
            ))
        }
    }
}

/// `size` rounded up to whole blocks.
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// A GNU long name ends at its first NUL, as GNU tar, Go and Python read it.
fn until_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(nul);
    }
    bytes
}

/// PAX records (`"%d %s=%s\n"`, the length counting the whole record), read by their
/// declared lengths as Go's `parsePAXRecord` and Python read them: a newline inside a
/// value does not start a record. `None` when a record is malformed.
fn pax_records(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut records = Vec::new();
    // GNU tar pads the data with NULs.
    while let Some(&first) = data.first() {
        if first == 0 {
            break;
        }
        let space = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return None;
        }
        let record = &data[space + 1..len - 1];
        let equals = record.iter().position(|&b| b == b'=')?;
        records.push((&record[..equals], &record[equals + 1..]));
        data = &data[len..];
    }
    Some(records)
}

/// POSIX: the checksum is the sum of the header's bytes with the checksum field itself
/// read as spaces. Some old tars summed signed bytes; both are accepted, as GNU tar does.
fn checksum_matches(block: &[u8; BLOCK as usize]) -> bool {
    let Ok(stored) = Header::from_byte_slice(block).cksum() else {
        return false;
    };
    let field = 148..156;
    let unsigned: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| if field.contains(&i) { 32 } else { u32::from(b) })
        .sum();
    let signed: i32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if field.contains(&i) {
                32
            } else {
                i32::from(b as i8)
            }
        })
        .sum();
    stored == unsigned || i64::from(stored) == i64::from(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn long_names_and_content_come_through() {
        let long = format!("blobs/sha256/{}", "a".repeat(200));
        let bytes = archive(&[("oci-layout", b"{}"), (&long, b"hello")]);
        let mut framer = Framer::new(Stream(&bytes[..]));
        let Next::Member(first) = framer.next_member() else {
            panic!()
        };
        assert_eq!(first.name, b"oci-layout");
        let Next::Member(second) = framer.next_member() else {
            panic!()
        };
        assert_eq!(second.name, long.as_bytes());
        let mut buf = [0u8; 16];
        assert_eq!(framer.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert!(matches!(framer.next_member(), Next::End));
    }

    #[test]
    fn an_oversized_long_name_is_skipped_without_being_read_into_memory() {
        let mut bytes = Vec::new();
        let mut header = Header::new_gnu();
        header.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(1 << 40);
        header.set_cksum();
        bytes.extend_from_slice(header.as_bytes());
        let mut framer = Framer::new(Stream(&bytes[..]));
        // The claimed terabyte is not there: truncated, and nothing was allocated for it.
        assert!(matches!(
            framer.next_member(),
            Next::Fault(Fault::Truncated(_))
        ));
        assert_eq!(framer.skipped.len(), 1);
    }

    #[test]
    fn links_and_directories_are_headers_only_whatever_their_size_says() {
        let mut link = Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.as_gnu_mut().unwrap().name[..4].copy_from_slice(b"link");
        link.set_link_name("target").unwrap();
        link.set_size(512);
        link.set_cksum();
        let mut bytes = link.as_bytes().to_vec();
        bytes.extend(archive(&[("after", b"x")]));
        let mut framer = Framer::new(Stream(&bytes[..]));
        let Next::Member(first) = framer.next_member() else {
            panic!()
        };
        assert_eq!((first.kind, first.size), (MemberKind::Symlink, 0));
        let Next::Member(second) = framer.next_member() else {
            panic!()
        };
        assert_eq!(second.name, b"after");
    }

    /// A raw header block of type `flag` named `name`, with `size` and checksum set.
    fn block(name: &[u8], flag: u8, size: u64) -> Vec<u8> {
        let mut header = Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::new(flag));
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    fn padded_data(data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        out.resize(padded(data.len() as u64) as usize, 0);
        out
    }

    fn frame(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Fault>) {
        let mut framer = Framer::new(Stream(bytes));
        let mut names = Vec::new();
        loop {
            match framer.next_member() {
                Next::Member(member) => names.push(member.name),
                Next::End => return (names, None),
                Next::Fault(fault) => return (names, Some(fault)),
            }
        }
    }

    #[test]
    fn pax_records_are_read_by_their_lengths_and_long_names_end_at_a_nul() {
        // One comment record whose value holds what looks like a path record.
        let records = b"32 comment=A\n19 path=index.json\n";
        let mut bytes = block(b"pax", b'x', records.len() as u64);
        bytes.extend(padded_data(records));
        bytes.extend(block(b"harmless", b'0', 0));
        let long = b"oci-layout\0junk";
        bytes.extend(block(b"././@LongLink", b'L', long.len() as u64));
        bytes.extend(padded_data(long));
        bytes.extend(block(b"short", b'0', 0));
        bytes.extend([0u8; 1024]);
        let (names, fault) = frame(&bytes);
        assert!(fault.is_none(), "{fault:?}");
        assert_eq!(names, [b"harmless".to_vec(), b"oci-layout".to_vec()]);
        // A record whose length does not fit is malformed: corrupt, not guessed at.
        let mut bad = block(b"pax", b'x', 12);
        bad.extend(padded_data(b"99 path=x\n"));
        bad.extend(block(b"after", b'0', 0));
        assert!(matches!(frame(&bad).1, Some(Fault::Corrupt(_))));
    }

    #[test]
    fn an_oversized_extension_skips_its_member_even_after_another_extension() {
        let huge = vec![b'a'; (MAX_NAME + 1) as usize];
        let mut bytes = block(b"././@LongLink", b'L', huge.len() as u64);
        bytes.extend(padded_data(&huge));
        let records = b"15 comment=abc\n";
        bytes.extend(block(b"pax", b'x', records.len() as u64));
        bytes.extend(padded_data(records));
        bytes.extend(block(b"described", b'0', 3));
        bytes.extend(padded_data(b"abc"));
        bytes.extend(block(b"next", b'0', 0));
        bytes.extend([0u8; 1024]);
        let mut framer = Framer::new(Stream(&bytes[..]));
        let Next::Member(member) = framer.next_member() else {
            panic!()
        };
        assert_eq!(member.name, b"next");
        assert_eq!(framer.skipped.len(), 1);
    }

    #[test]
    fn a_lone_zero_block_before_more_archive_is_corrupt() {
        let mut bytes = block(b"first", b'0', 0);
        bytes.extend([0u8; 512]);
        bytes.extend(block(b"hidden", b'0', 0));
        bytes.extend([0u8; 1024]);
        let (names, fault) = frame(&bytes);
        assert_eq!(names, [b"first".to_vec()]);
        assert!(matches!(fault, Some(Fault::Corrupt(_))), "{fault:?}");
        // One zero block at the very end is an end, as GNU tar reads it.
        let mut bytes = block(b"first", b'0', 0);
        bytes.extend([0u8; 512]);
        assert!(frame(&bytes).1.is_none());
    }

    #[test]
    fn a_cut_archive_is_truncated_and_garbage_is_corrupt() {
        let bytes = archive(&[("a", &[7u8; 2000])]);
        let mut framer = Framer::new(Stream(&bytes[..1000]));
        let Next::Member(_) = framer.next_member() else {
            panic!()
        };
        let mut buf = vec![0u8; 4096];
        let mut result = Ok(1);
        while matches!(result, Ok(n) if n > 0) {
            result = framer.read(&mut buf);
        }
        assert!(matches!(result, Err(Fault::Truncated(_))));
        let garbage = vec![b'x'; 1024];
        assert!(matches!(
            Framer::new(Stream(&garbage[..])).next_member(),
            Next::Fault(Fault::Corrupt(_))
        ));
        assert!(matches!(
            Framer::new(Stream(&[][..])).next_member(),
            Next::Fault(Fault::Truncated(_))
        ));
    }
}
