//! A read-only reader of bbolt files (containerd's `meta.db`), over bytes read whole: no
//! lock taken, no byte written, so the audit runs while containerd holds its exclusive
//! `flock` and writes.
//!
//! bbolt's file is pages of `page_size` bytes. Pages 0 and 1 are meta pages; the valid one
//! (its FNV-1a checksum holds) with the higher transaction id names the root bucket. A
//! bucket is a B+tree of branch pages (`pos, ksize, pgid` elements) over leaf pages
//! (`flags, pos, ksize, vsize` elements; flag 1 marks a nested bucket, whose value is a
//! 16-byte header `root, sequence`, followed by an inline page when `root` is 0).
//!
//! bbolt writes a transaction's pages to pages free in the last one and then its meta
//! page, and frees nothing the newest meta reaches: the tree under the newest valid meta
//! is whole whatever a writer does meanwhile, provided no second commit lands while the
//! file is read ([`Bolt::is_current`] tells).
//!
//! Every offset is checked: a page that does not parse is an error naming it, never a
//! panic, and a walk that revisits pages (a cycle) stops.

use thiserror::Error;

/// bbolt's magic number.
const MAGIC: u32 = 0xED0C_DAED;
/// Page header: `id u64, flags u16, count u16, overflow u32`.
const PAGE_HEADER: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
/// A leaf element whose value is a nested bucket.
const BUCKET_LEAF: u32 = 0x01;
/// The meta struct up to its checksum: `magic, version, page_size, flags, root (16),
/// freelist, pgid, txid`.
const META_SUMMED: usize = 56;
/// Deepest B+tree walked; bbolt's are a handful of levels.
const MAX_DEPTH: usize = 32;

/// What makes a bbolt file unreadable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BoltError {
    /// Neither meta page is valid (wrong magic, checksum or page size).
    #[error("neither meta page is valid (not a bbolt file, or torn)")]
    NoValidMeta,
    /// A page number past the end of the file.
    #[error("page {0} is past the end of the file")]
    PageOutOfRange(u64),
    /// A page whose header or elements do not parse.
    #[error("page {page}: {why}")]
    BadPage {
        /// The page number (0 for an inline bucket's page).
        page: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// A B+tree deeper than any bbolt writes, or one that loops.
    #[error("a bucket's tree is deeper than {MAX_DEPTH} levels or loops")]
    TooDeep,
}

/// A bbolt file read whole, and its newest valid meta page.
pub struct Bolt {
    data: Vec<u8>,
    page_size: usize,
    root: u64,
    txid: u64,
}

/// One key of a bucket: a value, or a nested bucket.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value (a bucket's header and inline page, for a nested bucket).
    pub value: &'a [u8],
    /// Whether the value is a nested bucket.
    pub is_bucket: bool,
}

/// A bucket: its root page, or its inline page.
#[derive(Clone, Copy)]
pub struct Bucket<'a> {
    db: &'a Bolt,
    root: u64,
    inline: Option<&'a [u8]>,
}

/// FNV-1a, 64 bits: bbolt's meta checksum.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A meta page at `offset`, if valid: its page size, root page and transaction id.
fn meta_at(data: &[u8], offset: usize) -> Option<(usize, u64, u64)> {
    let page = data.get(offset..)?;
    if u16_at(page, 8)? & META == 0 {
        return None;
    }
    let meta = page.get(PAGE_HEADER..PAGE_HEADER + META_SUMMED + 8)?;
    if u32_at(meta, 0)? != MAGIC || u64_at(meta, META_SUMMED)? != fnv1a64(&meta[..META_SUMMED]) {
        return None;
    }
    let page_size = usize::try_from(u32_at(meta, 8)?).ok()?;
    if !(512..=1 << 20).contains(&page_size) {
        return None;
    }
    Some((page_size, u64_at(meta, 16)?, u64_at(meta, 48)?))
}

/// The newest valid meta page of `data`: page 0's own page size says where page 1 is;
/// when page 0 is torn, page 1 is looked for at the usual page sizes.
fn newest_meta(data: &[u8]) -> Option<(usize, u64, u64)> {
    let first = meta_at(data, 0);
    let second = match first {
        Some((page_size, ..)) => meta_at(data, page_size),
        None => [4096, 8192, 16384, 65536]
            .into_iter()
            .find_map(|size| meta_at(data, size).filter(|m| m.0 == size)),
    };
    match (first, second) {
        (Some(a), Some(b)) => Some(if b.2 > a.2 { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl Bolt {
    /// Parses the meta pages of a bbolt file read whole.
    pub fn parse(data: Vec<u8>) -> Result<Bolt, BoltError> {
        let (page_size, root, txid) = newest_meta(&data).ok_or(BoltError::NoValidMeta)?;
        Ok(Bolt {
            data,
            page_size,
            root,
            txid,
        })
    }

    /// The transaction the file was read at.
    pub fn txid(&self) -> u64 {
        self.txid
    }

    /// How much of the file [`Bolt::is_current`] needs: its two meta pages.
    pub fn head_len(&self) -> u64 {
        2 * self.page_size as u64
    }

    /// Whether `again` (the file's first pages read after this one) shows no transaction
    /// committed since: then every page this one read belongs to its snapshot.
    pub fn is_current(&self, again: &[u8]) -> bool {
        newest_meta(again).is_some_and(|(_, _, txid)| txid == self.txid)
    }

    /// The root bucket, whose keys are the top-level buckets.
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: self.root,
            inline: None,
        }
    }

    /// Page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<&[u8], BoltError> {
        let start = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(self.page_size))
            .filter(|&s| s + PAGE_HEADER <= self.data.len())
            .ok_or(BoltError::PageOutOfRange(id))?;
        let overflow = u32_at(&self.data, start + 12).ok_or(BoltError::PageOutOfRange(id))?;
        let len = (overflow as usize + 1) * self.page_size;
        self.data
            .get(start..start + len)
            .ok_or(BoltError::PageOutOfRange(id))
    }
}

impl<'a> Bucket<'a> {
    /// Every key, in order.
    pub fn items(&self) -> Result<Vec<Item<'a>>, BoltError> {
        let mut items = Vec::new();
        match self.inline {
            Some(page) => leaf_items(page, 0, &mut items)?,
            None => {
                let mut budget = self.db.data.len() / self.db.page_size + 1;
                walk(self.db, self.root, 0, &mut budget, &mut items)?;
            }
        }
        Ok(items)
    }

    /// The nested bucket under `key`, if there is one.
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'a>>, BoltError> {
        Ok(self
            .items()?
            .into_iter()
            .find(|i| i.key == key && i.is_bucket)
            .and_then(|i| self.nested(&i)))
    }

    /// Every nested bucket, with its key.
    pub fn buckets(&self) -> Result<Vec<(&'a [u8], Bucket<'a>)>, BoltError> {
        Ok(self
            .items()?
            .into_iter()
            .filter(|i| i.is_bucket)
            .filter_map(|i| Some((i.key, self.nested(&i)?)))
            .collect())
    }

    /// The value under `key`, if it is a value.
    pub fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>, BoltError> {
        Ok(self
            .items()?
            .into_iter()
            .find(|i| i.key == key && !i.is_bucket)
            .map(|i| i.value))
    }

    /// The bucket an item's value holds (`None` for a header too short).
    fn nested(&self, item: &Item<'a>) -> Option<Bucket<'a>> {
        let root = u64_at(item.value, 0)?;
        let inline = if root == 0 {
            Some(item.value.get(16..)?)
        } else {
            None
        };
        Some(Bucket {
            db: self.db,
            root,
            inline,
        })
    }
}

/// The items under page `id`, depth first, in key order.
fn walk<'a>(
    db: &'a Bolt,
    id: u64,
    depth: usize,
    budget: &mut usize,
    items: &mut Vec<Item<'a>>,
) -> Result<(), BoltError> {
    if depth > MAX_DEPTH || *budget == 0 {
        return Err(BoltError::TooDeep);
    }
    *budget -= 1;
    let page = db.page(id)?;
    let flags = u16_at(page, 8).ok_or(BoltError::PageOutOfRange(id))?;
    if flags & LEAF != 0 {
        return leaf_items(page, id, items);
    }
    if flags & BRANCH == 0 {
        return Err(BoltError::BadPage {
            page: id,
            why: "neither a branch nor a leaf page",
        });
    }
    let bad = |why| BoltError::BadPage { page: id, why };
    let count = u16_at(page, 10).ok_or(bad("no header"))?;
    for i in 0..usize::from(count) {
        let at = PAGE_HEADER + i * 16;
        let child = u64_at(page, at + 8).ok_or(bad("a branch element past the page"))?;
        walk(db, child, depth + 1, budget, items)?;
    }
    Ok(())
}

/// The elements of leaf page `page` (page number `id`, for errors).
fn leaf_items<'a>(page: &'a [u8], id: u64, items: &mut Vec<Item<'a>>) -> Result<(), BoltError> {
    let bad = |why| BoltError::BadPage { page: id, why };
    if u16_at(page, 8).ok_or(bad("no header"))? & LEAF == 0 {
        return Err(bad("not a leaf page"));
    }
    let count = u16_at(page, 10).ok_or(bad("no header"))?;
    for i in 0..usize::from(count) {
        let at = PAGE_HEADER + i * 16;
        let field = |n: usize| u32_at(page, at + 4 * n).ok_or(bad("a leaf element past the page"));
        let (flags, pos, ksize, vsize) = (field(0)?, field(1)?, field(2)?, field(3)?);
        let key_start = at + pos as usize;
        let key_end = key_start + ksize as usize;
        let value_end = key_end + vsize as usize;
        let (Some(key), Some(value)) = (page.get(key_start..key_end), page.get(key_end..value_end))
        else {
            return Err(bad("a key or value past the page"));
        };
        items.push(Item {
            key,
            value,
            is_bucket: flags & BUCKET_LEAF != 0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page bbolt file: two meta pages, a free list, and a root leaf holding
    /// `items` (key, value, is a bucket).
    fn file(items: &[(&[u8], &[u8], bool)], txids: (u64, u64)) -> Vec<u8> {
        let page_size = 4096;
        let mut data = vec![0u8; page_size * 4];
        for (n, txid) in [(0usize, txids.0), (1, txids.1)] {
            let page = &mut data[n * page_size..];
            page[8..10].copy_from_slice(&META.to_le_bytes());
            let meta = &mut page[PAGE_HEADER..];
            meta[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            meta[4..8].copy_from_slice(&2u32.to_le_bytes());
            meta[8..12].copy_from_slice(&(page_size as u32).to_le_bytes());
            meta[16..24].copy_from_slice(&3u64.to_le_bytes());
            meta[48..56].copy_from_slice(&txid.to_le_bytes());
            let sum = fnv1a64(&meta[..META_SUMMED]);
            meta[56..64].copy_from_slice(&sum.to_le_bytes());
        }
        let leaf = &mut data[3 * page_size..];
        leaf[8..10].copy_from_slice(&LEAF.to_le_bytes());
        leaf[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        let mut at = PAGE_HEADER + items.len() * 16;
        for (i, (k, v, is_bucket)) in items.iter().enumerate() {
            let e = PAGE_HEADER + i * 16;
            let pos = (at - e) as u32;
            leaf[e..e + 4].copy_from_slice(&u32::from(*is_bucket).to_le_bytes());
            leaf[e + 4..e + 8].copy_from_slice(&pos.to_le_bytes());
            leaf[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            leaf[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            leaf[at..at + k.len()].copy_from_slice(k);
            leaf[at + k.len()..at + k.len() + v.len()].copy_from_slice(v);
            at += k.len() + v.len();
        }
        data
    }

    #[test]
    fn reads_values_and_inline_buckets_under_the_newest_meta() {
        // An inline bucket: header (root 0), then a leaf page holding one value.
        let inner = file(&[(b"k", b"v", false)], (1, 1));
        let mut nested = vec![0u8; 16];
        nested.extend_from_slice(&inner[3 * 4096..3 * 4096 + 64]);
        let data = file(&[(b"a", b"1", false), (b"b", &nested, true)], (7, 8));
        let db = Bolt::parse(data.clone()).unwrap();
        assert_eq!(db.txid(), 8);
        let root = db.root();
        assert_eq!(root.get(b"a").unwrap(), Some(&b"1"[..]));
        let b = root.bucket(b"b").unwrap().unwrap();
        assert_eq!(b.get(b"k").unwrap(), Some(&b"v"[..]));
        assert!(db.is_current(&data));
        assert!(!db.is_current(&file(&[], (7, 9))));
        // The head alone (what the audit reads the second time) is enough to tell.
        let head = usize::try_from(db.head_len()).unwrap();
        assert!(db.is_current(&data[..head]));
        assert!(!db.is_current(&file(&[], (7, 9))[..head]));
        // A head cut short of the newer meta shows only the older one: not current.
        assert!(!db.is_current(&data[..4096 + 20]));
    }

    #[test]
    fn a_torn_meta_page_falls_back_to_the_other() {
        let mut data = file(&[(b"a", b"1", false)], (5, 6));
        // Page 1's meta (txid 6) torn: its checksum no longer holds.
        data[4096 + PAGE_HEADER + 48] ^= 0xff;
        assert_eq!(Bolt::parse(data.clone()).unwrap().txid(), 5);
        data[PAGE_HEADER] ^= 0xff;
        assert_eq!(Bolt::parse(data).err(), Some(BoltError::NoValidMeta));
    }

    #[test]
    fn bad_pages_are_errors_not_panics() {
        let mut data = file(&[(b"a", b"1", false)], (1, 2));
        // An element count past the page.
        data[3 * 4096 + 10..3 * 4096 + 12].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            Bolt::parse(data.clone()).unwrap().root().items(),
            Err(BoltError::BadPage { page: 3, .. })
        ));
        // A branch page that points at itself.
        data[3 * 4096 + 8..3 * 4096 + 10].copy_from_slice(&BRANCH.to_le_bytes());
        data[3 * 4096 + 10..3 * 4096 + 12].copy_from_slice(&1u16.to_le_bytes());
        data[3 * 4096 + 24..3 * 4096 + 32].copy_from_slice(&3u64.to_le_bytes());
        assert_eq!(
            Bolt::parse(data.clone()).unwrap().root().items().err(),
            Some(BoltError::TooDeep)
        );
        // A root past the end.
        data[3 * 4096 + 24..3 * 4096 + 32].copy_from_slice(&99u64.to_le_bytes());
        assert_eq!(
            Bolt::parse(data).unwrap().root().items().err(),
            Some(BoltError::PageOutOfRange(99))
        );
        assert_eq!(Bolt::parse(vec![0; 10]).err(), Some(BoltError::NoValidMeta));
    }
}
