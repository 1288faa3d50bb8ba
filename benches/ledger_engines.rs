//! Which embedded database holds the verification ledger: SQLite (through `rusqlite`, the
//! ledger as built) against `redb` (a pure-Rust B-tree store), on the ledger's workload:
//! a first run records every blob (transactions of up to 65,536 rows, each in key order), a
//! later run reads
//! every row of a place in digest order, and the file must stay small.
//!
//! ```text
//! cargo bench --bench ledger_engines               # 1,000,000 rows
//! cargo bench --bench ledger_engines -- --quick    # 10,000 rows (CI smoke run)
//! ```

use std::time::{Duration, Instant, SystemTime};

use oci_audit::backend::Version;
use oci_audit::hash::HashResult;
use oci_audit::ledger::{Ledger, Record};
use oci_audit::model::digest::Digest;
use oci_audit::model::key::Key;
use redb::{ReadableDatabase, TableDefinition};

/// Rows per transaction, as the ledger's writer commits them (at most this many, or
/// every second), each batch in key order.
const BATCH: usize = 65_536;

/// (place, digest code and bytes) → size, dev, ino, mtime, ctime, hashed_at, result.
const BLOBS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("blob");

fn digest(i: u64) -> Digest {
    let mut bytes = [0u8; 32];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    for chunk in bytes.chunks_mut(8) {
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9).rotate_left(17) ^ i;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    Digest::sha256(bytes)
}

fn version(i: u64) -> Version {
    Version::posix(
        2049,
        1_000_000 + i,
        1_795_000_000_000_000_000 + i as i64,
        1_795_000_000_000_000_000 + i as i64,
    )
}

fn size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(std::path::PathBuf::from(name)).map_or(0, |m| m.len());
    }
    total
}

fn sqlite(rows: u64, dir: &std::path::Path) -> (Duration, Duration, u64) {
    let path = dir.join("ledger.db");
    let ledger = Ledger::open(&path, "bench", "", SystemTime::now()).unwrap();
    let place = ledger.place(&Key::from("store")).unwrap();
    let started = Instant::now();
    let recorder = ledger.recorder().unwrap();
    for i in 0..rows {
        recorder.record(Record {
            place,
            digest: digest(i),
            size: 4096 + i % 1000,
            version: version(i),
            result: HashResult::Clean,
        });
    }
    recorder.finish().unwrap();
    let write = started.elapsed();
    let started = Instant::now();
    let mut known = 0;
    ledger.each_known(place, |_| known += 1).unwrap();
    assert_eq!(known, rows);
    let read = started.elapsed();
    drop(ledger);
    (write, read, size(&path))
}

fn redb(rows: u64, dir: &std::path::Path) -> (Duration, Duration, u64) {
    let path = dir.join("ledger.redb");
    let db = redb::Database::create(&path).unwrap();
    let started = Instant::now();
    let mut i = 0;
    while i < rows {
        let tx = db.begin_write().unwrap();
        {
            let mut table = tx.open_table(BLOBS).unwrap();
            let mut batch: Vec<(Digest, u64)> = (i..(i + BATCH as u64).min(rows))
                .map(|j| (digest(j), j))
                .collect();
            batch.sort_unstable();
            for (d, j) in batch {
                let (code, raw) = d.raw().unwrap();
                let mut key = Vec::with_capacity(33);
                key.push(code);
                key.extend_from_slice(raw);
                let (dev, ino, mtime_ns, ctime_ns) = version(j).file().unwrap();
                let mut value = Vec::with_capacity(49);
                for n in [
                    4096 + j % 1000,
                    dev,
                    ino,
                    mtime_ns as u64,
                    ctime_ns as u64,
                    1_800_000_000,
                ] {
                    value.extend_from_slice(&n.to_le_bytes());
                }
                value.push(0);
                table
                    .insert((1u64, key.as_slice()), value.as_slice())
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        i += BATCH as u64;
    }
    let write = started.elapsed();
    let started = Instant::now();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(BLOBS).unwrap();
    let mut n = 0u64;
    for row in table.range((1u64, &[][..])..(2u64, &[][..])).unwrap() {
        let (key, value) = row.unwrap();
        let (_, raw) = key.value();
        let _ = Digest::from_raw(raw[0], &raw[1..]);
        n += u64::from(value.value()[48] == 0);
    }
    assert_eq!(n, rows);
    let read = started.elapsed();
    drop(table);
    drop(tx);
    drop(db);
    (write, read, size(&path))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rows: u64 = if quick { 10_000 } else { 1_000_000 };
    let dir = tempfile::tempdir().unwrap();
    println!("ledger engines, {rows} blob rows (batches of {BATCH}):");
    println!("engine    write        read (ordered scan)  file        bytes/row");
    for (name, run) in [
        (
            "sqlite",
            sqlite as fn(u64, &std::path::Path) -> (Duration, Duration, u64),
        ),
        ("redb", redb),
    ] {
        let (write, read, bytes) = run(rows, dir.path());
        println!(
            "{name:<9} {:>8.2} s   {:>8.3} s            {:>8.1} MB   {:>6.1}",
            write.as_secs_f64(),
            read.as_secs_f64(),
            bytes as f64 / 1e6,
            bytes as f64 / rows as f64
        );
    }
}
