//! How evenly `--shard I/N` spreads a store's hashing: reads a partial result written with
//! `--shard 0/1` (whose listing holds every blob) and prints, for each N, the bytes and
//! blobs of the largest and smallest slice against an even share.
//!
//! ```text
//! oci-audit --shard 0/1 --partial /tmp/all.json STORE
//! cargo run --release --example slices -- /tmp/all.json 2 3 7 16 64
//! ```

use oci_audit::shard::{Partial, Shard};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: slices PARTIAL.json N...")?;
    let counts: Vec<u32> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if counts.contains(&0) {
        return Err("a shard count is at least 1".into());
    }
    let partial = Partial::read(std::path::Path::new(&file))?;
    let sliced: Vec<_> = partial.listed.iter().filter(|l| l.sliced).collect();
    let total: u64 = sliced.iter().map(|l| l.len).sum();
    println!(
        "{file}: {} blobs hashed by slice, {} bytes",
        sliced.len(),
        total
    );
    println!(
        "{:>4}  {:>12}  {:>12}  {:>12}  {:>8}  {:>10}  {:>10}",
        "N", "even bytes", "largest", "smallest", "max/even", "blobs max", "blobs min"
    );
    for count in counts {
        let mut bytes = vec![0u64; count as usize];
        let mut blobs = vec![0u64; count as usize];
        for listed in &sliced {
            let slice = Shard::slice_of(&listed.digest, count) as usize;
            bytes[slice] += listed.len;
            blobs[slice] += 1;
        }
        let even = total as f64 / f64::from(count);
        let (max, min) = (bytes.iter().max().unwrap(), bytes.iter().min().unwrap());
        println!(
            "{count:>4}  {:>12.0}  {max:>12}  {min:>12}  {:>8.2}  {:>10}  {:>10}",
            even,
            *max as f64 / even,
            blobs.iter().max().unwrap(),
            blobs.iter().min().unwrap()
        );
    }
    Ok(())
}
