//! One metadata pass for a sharded audit: `oci-audit plan PATH --plan FILE` lists the store
//! and reads its documents once, and writes a [`Plan`]: each store's part of the metadata
//! pass, its findings, and the blobs left to hash with their sizes. Every shard then reads
//! the plan instead of the store's metadata (`--plan FILE --shard I/N`), hashes only its
//! slice ([`Plan::slice`]), and writes a [`PlannedPart`]: what it verified, as indexes into
//! the plan, and the findings of its hashing. `merge --plan FILE` checks that every part
//! came from that plan and covers its slice, and assembles the report one unsharded run
//! prints.
//!
//! The plan file is two zstd frames of JSON: first what every shard needs (what was
//! audited, how, and the blobs to hash), then the metadata pass's results (each store's
//! part, the findings), which only `merge` decompresses.
//!
//! ```text
//! plan ─► PLAN (zstd JSON: blobs to hash | parts, findings)
//!           ├─► --plan PLAN --shard 0/N ─► part 0 (indexes hashed, findings)   ┐
//!           └─► --plan PLAN --shard I/N ─► part I                                ├─► merge --plan PLAN
//! ```
//!
//! Slices are balanced by bytes, not by digest: the largest blob goes to the shard with
//! the fewest bytes so far (longest processing time first), so 8 layers of 256 MiB over 8
//! shards give each one layer. The plan fixes the listing, so no blob can appear or vanish
//! between shards: what changes meanwhile is a read error or a mismatch at hashing time,
//! which the shard re-checks after `--settle` as any audit does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::assemble::{StorePart, Verified};
use crate::finding::Finding;
use crate::model::digest::Digest;
use crate::model::key::Key;
use crate::shard::{PartialError, Shard};

/// The version of the plan's shape; shards and `merge` refuse any other.
pub const PLAN_VERSION: u32 = 1;

/// The version of a planned part's shape.
pub const PLANNED_PART_VERSION: u32 = 1;

/// The zstd level plans and the index lists of parts are written at: zstd's default. On
/// the 100k-image root's plan (78.6 MB of JSON) it packs to 12.6 MB in 0.30 s; level 9
/// took 1.33 s and packed to 13.1 MB.
const LEVEL: i32 = 3;

/// One blob the verify phase hashes: where it is, what it should be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedBlob {
    /// Its file or key (`path`, and `path_bytes` when not UTF-8).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub path: Key,
    /// Its digest, as its name says.
    pub digest: Digest,
    /// Its size when the plan listed it.
    pub len: u64,
    /// Which file it is (device, inode), when the store says: names of one file (zot's
    /// hard links) go to one shard together, which reads the file once for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<(u64, u64)>,
}

/// The blobs of one store the verify phase hashes, sorted by digest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PlannedSet {
    /// The store's own key (a layout's directory, a registry's `v2`).
    #[serde(
        flatten,
        serialize_with = "crate::model::key::as_path_fields",
        deserialize_with = "crate::model::key::from_path_fields"
    )]
    pub place: Key,
    /// Its blobs to hash.
    pub blobs: Vec<PlannedBlob>,
}

/// The metadata pass of a sharded audit, made once.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub oci_audit_plan: u32,
    /// The version of oci-audit that wrote it: shards must run the same.
    pub tool_version: String,
    /// The audited store, as its backend names it.
    pub store: String,
    /// The store as the user named it.
    pub name: String,
    /// The options that change results ([`crate::audit::Options::results`]).
    pub options: String,
    /// How long the metadata pass took.
    pub elapsed_ms: u64,
    /// Whether its findings were re-checked for a concurrent writer (not in an archive).
    pub rechecked: bool,
    /// Why the pass did not see everything (a registry's rate limit), if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Every finding of the metadata pass, raw and confirmed, each with its cause (in the
    /// file's second frame).
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// Each store's part of the metadata pass, its findings in `findings` (in the file's
    /// second frame).
    #[serde(skip)]
    pub parts: Vec<StorePart>,
    /// The blobs left to hash, per store.
    pub sets: Vec<PlannedSet>,
}

/// The second frame of a plan file: the metadata pass's results, which only `merge`
/// reads, so that a shard decompresses and parses none of them.
#[derive(Serialize)]
struct ResultsOut<'a> {
    #[serde(serialize_with = "carried_findings")]
    findings: &'a [Finding],
    parts: &'a [StorePart],
}

/// [`ResultsOut`] as read back.
#[derive(Deserialize)]
struct ResultsIn {
    #[serde(with = "crate::finding::carried")]
    findings: Vec<Finding>,
    parts: Vec<StorePart>,
}

fn carried_findings<S: serde::Serializer>(
    findings: &&[Finding],
    out: S,
) -> Result<S::Ok, S::Error> {
    crate::finding::carried::serialize(findings, out)
}

/// What a shard reads of a plan: what it checks the run against, and the blobs. The
/// metadata pass's results (parts, findings), which only `merge` needs, are skipped
/// unparsed.
#[derive(Debug, Deserialize)]
pub struct ShardPlan {
    /// [`PLAN_VERSION`].
    pub oci_audit_plan: u32,
    /// The version of oci-audit that wrote it.
    pub tool_version: String,
    /// The audited store, as its backend names it.
    pub store: String,
    /// The options that change results.
    pub options: String,
    /// The blobs left to hash, per store.
    pub sets: Vec<PlannedSet>,
}

/// What a shard run with a plan writes: the plan it came from, what it hashed (as
/// indexes into the plan's blobs) and the findings of its hashing.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlannedPart {
    /// [`PLANNED_PART_VERSION`].
    pub oci_audit_planned_part: u32,
    /// The version of oci-audit that wrote it.
    pub tool_version: String,
    /// The plan it came from: [`Plan::id`] of the file the shard read.
    pub plan: String,
    /// Which shard this is.
    pub shard: Shard,
    /// How long the shard ran.
    pub elapsed_ms: u64,
    /// What its verify phase hashed.
    pub verified: Verified,
    /// Whether its findings were re-checked for a concurrent writer.
    pub rechecked: bool,
    /// The plan's blobs this shard hashed, as [`Indexes`].
    pub hashed: Indexes,
    /// The findings of its hashing, raw and confirmed, each with its cause.
    #[serde(with = "crate::finding::carried")]
    pub findings: Vec<Finding>,
}

/// A sorted list of indexes, written compactly: the gaps between them as LEB128 varints,
/// zstd-compressed, in base64. A shard's slice of consecutive-ish indexes costs a byte or
/// two a blob before compression, and well under one after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indexes(pub Vec<u32>);

impl Serialize for Indexes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut gaps = Vec::with_capacity(self.0.len() * 2);
        let mut last = 0u32;
        for (i, &index) in self.0.iter().enumerate() {
            // Sorted, so the first is itself and every later one a gap of at least 1.
            if i > 0 && index <= last {
                return Err(serde::ser::Error::custom(
                    "an index list that is not strictly sorted",
                ));
            }
            let mut gap = if i == 0 { index } else { index - last };
            last = index;
            loop {
                let byte = (gap & 0x7f) as u8;
                gap >>= 7;
                if gap == 0 {
                    gaps.push(byte);
                    break;
                }
                gaps.push(byte | 0x80);
            }
        }
        let packed = zstd::encode_all(gaps.as_slice(), LEVEL).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(packed))
    }
}

impl<'de> Deserialize<'de> for Indexes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Indexes, D::Error> {
        use serde::de::Error as _;
        let text = String::deserialize(deserializer)?;
        let packed = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(D::Error::custom)?;
        let gaps = zstd::decode_all(packed.as_slice()).map_err(D::Error::custom)?;
        let mut indexes = Vec::new();
        let (mut value, mut shift, mut last) = (0u64, 0u32, 0u64);
        for byte in gaps {
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if shift > 35 {
                return Err(D::Error::custom("an index list with a gap past 32 bits"));
            }
            if byte & 0x80 == 0 {
                let index = if indexes.is_empty() {
                    value
                } else {
                    last + value
                };
                let index = u32::try_from(index)
                    .map_err(|_| D::Error::custom("an index list past 32 bits"))?;
                if !indexes.is_empty() && value == 0 {
                    return Err(D::Error::custom(
                        "an index list that is not strictly sorted",
                    ));
                }
                indexes.push(index);
                last = u64::from(index);
                (value, shift) = (0, 0);
            }
        }
        if shift != 0 {
            return Err(D::Error::custom(
                "an index list cut in the middle of a number",
            ));
        }
        Ok(Indexes(indexes))
    }
}

/// How many blobs `sets` plan to hash.
pub fn blob_count(sets: &[PlannedSet]) -> usize {
    sets.iter().map(|s| s.blobs.len()).sum()
}

/// Every planned blob of `sets` with its index, in plan order: set by set, each by digest.
pub fn blobs(sets: &[PlannedSet]) -> impl Iterator<Item = (u32, &PlannedBlob)> {
    sets.iter()
        .flat_map(|set| &set.blobs)
        .enumerate()
        // A plan holds fewer than 2^32 blobs: reading refuses more.
        .map(|(i, blob)| (i as u32, blob))
}

/// The shard of `count` that hashes each blob of `sets`, by index. The units are the blobs,
/// the names of one file counting as one unit of its size; largest first (then in plan
/// order), each goes to the shard with the fewest bytes so far (the lowest index on a
/// tie). Every shard computes the same owners from the same plan; the largest slice is at
/// most an even share plus one unit.
pub fn owners(sets: &[PlannedSet], count: u32) -> Vec<u32> {
    let mut unit_of_file: HashMap<(u64, u64), u32> = HashMap::new();
    // (size, first blob's index) per unit, and each blob's unit.
    let mut units: Vec<(u64, u32)> = Vec::new();
    let mut unit_of: Vec<u32> = Vec::with_capacity(blob_count(sets));
    for (i, blob) in blobs(sets) {
        let mut new_unit = || {
            units.push((blob.len, i));
            // Fewer units than blobs, which are fewer than 2^32.
            (units.len() - 1) as u32
        };
        let unit = match blob.file {
            Some(file) => *unit_of_file.entry(file).or_insert_with(new_unit),
            None => new_unit(),
        };
        unit_of.push(unit);
    }
    let mut order: Vec<u32> = (0..units.len() as u32).collect();
    order.sort_unstable_by_key(|&u| (Reverse(units[u as usize].0), units[u as usize].1));
    // Shards past the count of units would get nothing: leaving them out of the heap
    // changes no owner, and keeps a huge count from taking memory.
    let used = count.clamp(1, u32::try_from(units.len().max(1)).unwrap_or(u32::MAX));
    let mut loads: BinaryHeap<Reverse<(u64, u32)>> = (0..used).map(|s| Reverse((0, s))).collect();
    let mut unit_owner = vec![0u32; units.len()];
    for unit in order {
        // Never empty: every entry popped is pushed back.
        let Some(Reverse((load, shard))) = loads.pop() else {
            break;
        };
        unit_owner[unit as usize] = shard;
        loads.push(Reverse((
            load.saturating_add(units[unit as usize].0),
            shard,
        )));
    }
    unit_of
        .into_iter()
        .map(|u| unit_owner[u as usize])
        .collect()
}

/// Reads the first frame of the plan in `file` as `T` (what every shard needs, and the
/// plan's header), streaming its JSON out of zstd, refusing another shape's version; with
/// the plan's id, the file's bytes, and where its second frame starts.
fn read_plan<T: serde::de::DeserializeOwned>(
    file: &Path,
    version: impl Fn(&T) -> (u32, &str),
) -> Result<(T, String, Vec<u8>, usize), PartialError> {
    let path = file.display().to_string();
    let packed = std::fs::read(file).map_err(|error| PartialError::Read {
        path: path.clone(),
        error,
    })?;
    let invalid = |what: String| PartialError::Invalid {
        path: path.clone(),
        what,
    };
    let first = zstd::zstd_safe::find_frame_compressed_size(&packed).map_err(|_| {
        // zstd's magic number: a frame that does not end was cut short.
        invalid(match packed.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            true => "a damaged plan (cut short)".to_owned(),
            false => "not a plan of `oci-audit plan PATH --plan FILE` (not zstd)".to_owned(),
        })
    })?;
    let json = || {
        zstd::Decoder::new(&packed[..first])
            .map(std::io::BufReader::new)
            .map_err(|e| invalid(format!("cannot read the plan: {e}")))
    };
    /// The fields that say which shape the rest has.
    #[derive(Deserialize)]
    struct Header {
        oci_audit_plan: Option<u32>,
        tool_version: Option<String>,
    }
    let wrong_version = |found: u32, written_by: Option<&str>| {
        invalid(format!(
            "a plan of format {found}, written by oci-audit {}; this is oci-audit {}, which reads format {PLAN_VERSION}",
            written_by.unwrap_or("?"),
            env!("CARGO_PKG_VERSION"),
        ))
    };
    match serde_json::from_reader::<_, T>(json()?) {
        Ok(plan) => match version(&plan) {
            (PLAN_VERSION, _) => {
                let id = Plan::id_of(&packed);
                Ok((plan, id, packed, first))
            }
            (found, written_by) => Err(wrong_version(found, Some(written_by))),
        },
        Err(error) => {
            let header: Option<Header> = serde_json::from_reader(json()?).ok();
            // A plan cut short fails the header too (the object never ends); its start
            // still says what it is.
            let mut start = [0u8; 18];
            let starts_as_plan = std::io::Read::read_exact(&mut json()?, &mut start).is_ok()
                && &start == b"{\"oci_audit_plan\":";
            Err(match header {
                Some(Header {
                    oci_audit_plan: Some(found),
                    tool_version,
                }) if found != PLAN_VERSION => wrong_version(found, tool_version.as_deref()),
                _ if starts_as_plan => invalid(format!("a damaged plan: {error}")),
                _ => invalid(format!(
                    "not a plan of `oci-audit plan PATH --plan FILE` ({error})"
                )),
            })
        }
    }
}

impl ShardPlan {
    /// Reads what a shard needs of the plan in `file`, and the plan's id.
    pub fn read(file: &Path) -> Result<(ShardPlan, String), PartialError> {
        let (plan, id, ..) = read_plan(file, |p: &ShardPlan| (p.oci_audit_plan, &p.tool_version))?;
        too_many(file, &plan.sets)?;
        Ok((plan, id))
    }
}

/// Appends `value` as JSON in one zstd frame to `packed`.
fn frame(packed: &mut Vec<u8>, value: &impl Serialize) -> std::io::Result<()> {
    let mut encoder = zstd::Encoder::new(packed, LEVEL)?;
    {
        let mut out = std::io::BufWriter::new(&mut encoder);
        serde_json::to_writer(&mut out, value)?;
        out.flush()?;
    }
    encoder.finish()?;
    Ok(())
}

/// Refuses a plan of more blobs than an index can number.
fn too_many(file: &Path, sets: &[PlannedSet]) -> Result<(), PartialError> {
    match u32::try_from(blob_count(sets)) {
        Ok(_) => Ok(()),
        Err(_) => Err(PartialError::Invalid {
            path: file.display().to_string(),
            what: "a plan of more than 2^32 blobs".to_owned(),
        }),
    }
}

impl Plan {
    /// The plan's identity: the BLAKE3 hash of the file's bytes, in hex (128 bits). Parts
    /// carry it, and `merge` refuses a part whose plan is not the one it was given.
    pub fn id_of(bytes: &[u8]) -> String {
        let hash = blake3::hash(bytes);
        hash.to_hex()[..32].to_owned()
    }

    /// Writes the plan to `file` atomically (two zstd frames of JSON), returning its id.
    pub fn write(&self, file: &Path) -> Result<String, PartialError> {
        let failed = |error: std::io::Error| PartialError::Write {
            path: file.display().to_string(),
            error,
        };
        let mut packed = Vec::new();
        frame(&mut packed, self).map_err(failed)?;
        let results = ResultsOut {
            findings: &self.findings,
            parts: &self.parts,
        };
        frame(&mut packed, &results).map_err(failed)?;
        crate::atomic::write_file(file, |out| out.write_all(&packed)).map_err(failed)?;
        Ok(Plan::id_of(&packed))
    }

    /// Reads the plan in `file` and its id, refusing another shape's version.
    pub fn read(file: &Path) -> Result<(Plan, String), PartialError> {
        let (mut plan, id, packed, first) =
            read_plan(file, |p: &Plan| (p.oci_audit_plan, &p.tool_version))?;
        too_many(file, &plan.sets)?;
        let results: ResultsIn = zstd::Decoder::new(&packed[first..])
            .map_err(serde_json::Error::io)
            .and_then(|json| serde_json::from_reader(std::io::BufReader::new(json)))
            .map_err(|e| PartialError::Invalid {
                path: file.display().to_string(),
                what: format!("a damaged plan: its metadata pass cannot be read ({e})"),
            })?;
        plan.findings = results.findings;
        plan.parts = results.parts;
        Ok((plan, id))
    }
}

impl PlannedPart {
    /// Writes the part to `file` atomically, as JSON.
    pub fn write(&self, file: &Path) -> Result<(), PartialError> {
        let failed = |error: std::io::Error| PartialError::Write {
            path: file.display().to_string(),
            error,
        };
        crate::atomic::write_file(file, |out| {
            serde_json::to_writer(&mut *out, self).map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        })
        .map_err(failed)
    }

    /// Reads a part from `file`; `None` when it is not a planned part at all (a part of a
    /// plan-less shard, say), so that the caller can say what it is.
    pub fn read(file: &Path) -> Result<Option<PlannedPart>, PartialError> {
        let path = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|error| PartialError::Read {
            path: path.clone(),
            error,
        })?;
        #[derive(Deserialize)]
        struct Header {
            oci_audit_planned_part: Option<u32>,
        }
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| PartialError::Invalid {
            path: path.clone(),
            what: format!("not a part of a sharded audit, or a damaged one ({e})"),
        })?;
        match header.oci_audit_planned_part {
            None => Ok(None),
            Some(PLANNED_PART_VERSION) => {
                let part: PlannedPart =
                    serde_json::from_slice(&bytes).map_err(|e| PartialError::Invalid {
                        path: path.clone(),
                        what: format!("a damaged part of a planned shard: {e}"),
                    })?;
                match Shard::new(part.shard.index, part.shard.count) {
                    Some(_) => Ok(Some(part)),
                    None => Err(PartialError::Invalid {
                        path,
                        what: format!(
                            "a damaged part of a planned shard: shard {} of {} does not exist",
                            part.shard.index, part.shard.count
                        ),
                    }),
                }
            }
            Some(other) => Err(PartialError::Invalid {
                path,
                what: format!(
                    "a planned part of format {other}; this oci-audit reads format {PLANNED_PART_VERSION}"
                ),
            }),
        }
    }
}

/// Parts that do not belong to the plan `merge` was given.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A part of another plan.
    #[error(
        "{path} came from another plan ({found}) than the one given ({expected}): every part must come from the plan given to merge"
    )]
    OtherPlan {
        /// The part.
        path: String,
        /// Its plan.
        found: String,
        /// The plan given.
        expected: String,
    },
    /// A part of another version.
    #[error(
        "{path} was written by oci-audit {found}, the plan by {expected}: run the plan and every shard with one version"
    )]
    OtherVersion {
        /// The part.
        path: String,
        /// Its version.
        found: String,
        /// The plan's.
        expected: String,
    },
    /// A part that hashed a blob of another shard's slice.
    #[error(
        "{path} (shard {shard}) lists blob {index} of the plan as hashed, which is not in its slice: it was not made from this plan with this count of shards"
    )]
    NotItsSlice {
        /// The part.
        path: String,
        /// Its shard.
        shard: Shard,
        /// The blob's index in the plan.
        index: u32,
    },
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Plans for the tests of this module and of [`crate::shard::merge`].
    use super::*;

    /// The indexes of the blobs of `sets` that shard `shard.index` of `shard.count` hashes,
    /// sorted ([`owners`]).
    pub(crate) fn slice(sets: &[PlannedSet], shard: Shard) -> Vec<u32> {
        owners(sets, shard.count)
            .into_iter()
            .enumerate()
            .filter(|&(_, owner)| owner == shard.index)
            .map(|(i, _)| i as u32)
            .collect()
    }

    pub(crate) fn plan_of(lens: &[u64]) -> Plan {
        let blobs = lens
            .iter()
            .enumerate()
            .map(|(i, &len)| PlannedBlob {
                path: Key::from(format!("blobs/sha256/{i:064x}")),
                digest: Digest::parse(&format!("sha256:{i:064x}")).unwrap(),
                len,
                file: None,
            })
            .collect();
        Plan {
            oci_audit_plan: PLAN_VERSION,
            tool_version: "test".to_owned(),
            store: "s".to_owned(),
            name: "s".to_owned(),
            options: String::new(),
            elapsed_ms: 0,
            rechecked: true,
            incomplete: None,
            findings: Vec::new(),
            parts: Vec::new(),
            sets: vec![PlannedSet {
                place: Key::from(""),
                blobs,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{plan_of, slice};
    use super::*;

    #[test]
    fn eight_equal_layers_over_eight_shards_give_each_one() {
        let plan = plan_of(&[256 << 20; 8]);
        for index in 0..8 {
            assert_eq!(slice(&plan.sets, Shard { index, count: 8 }).len(), 1);
        }
    }

    #[test]
    fn names_of_one_file_go_to_one_shard_and_a_huge_count_costs_nothing() {
        let mut plan = plan_of(&[100, 100, 100, 50]);
        // Blobs 0 and 2 are one file under two names (zot's hard links).
        plan.sets[0].blobs[0].file = Some((1, 7));
        plan.sets[0].blobs[2].file = Some((1, 7));
        plan.sets[0].blobs[1].file = Some((1, 8));
        let two = owners(&plan.sets, 2);
        assert_eq!(two[0], two[2]);
        // The file (100 bytes, once) and blob 1 (100) are the two largest units.
        assert_ne!(two[0], two[1]);
        assert_eq!(owners(&plan.sets, u32::MAX), [0, 1, 0, 2]);
    }

    #[test]
    fn slices_cover_every_blob_once_and_balance_bytes() {
        // Sizes spread over six orders of magnitude, as layers and configs are.
        let lens: Vec<u64> = (0..5000u64)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) % (1 << (i % 20 + 1)))
            .collect();
        let plan = plan_of(&lens);
        let total: u64 = lens.iter().sum();
        let largest = *lens.iter().max().unwrap();
        for count in [1, 2, 3, 7, 16] {
            let mut seen = vec![0u32; lens.len()];
            for index in 0..count {
                let mine = slice(&plan.sets, Shard { index, count });
                let bytes: u64 = mine.iter().map(|&i| lens[i as usize]).sum();
                // Greedy by size: no slice exceeds an even share by more than one blob.
                assert!(bytes <= total / u64::from(count) + largest, "{count}");
                for i in mine {
                    seen[i as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{count}");
        }
    }

    #[test]
    fn index_lists_round_trip_and_refuse_damage() {
        for list in [vec![], vec![0], vec![5, 6, 7, 300, 70_000, u32::MAX]] {
            let json = serde_json::to_string(&Indexes(list.clone())).unwrap();
            let back: Indexes = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0, list);
        }
        let packed = |bytes: &[u8]| {
            let z = zstd::encode_all(bytes, 1).unwrap();
            format!("{:?}", base64::engine::general_purpose::STANDARD.encode(z))
        };
        // Cut inside a number; a repeated index.
        for bad in [packed(&[0x80]), packed(&[3, 0])] {
            assert!(serde_json::from_str::<Indexes>(&bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Indexes>("\"not base64!\"").is_err());
    }
}
