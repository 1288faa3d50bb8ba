//! Which known blobs a nightly run re-hashes: rolling re-verification, as ZFS scrub and
//! `restic check --read-data-subset` do it for storage people.
//!
//! Every blob must be re-hashed at least once per window (`--reverify-after`). Hashing all
//! of them on the last day of the window would make one night as slow as a full audit, so
//! each run takes its fair share of the old bytes, oldest first: `total × interval /
//! (window − interval)`, where the interval is the time since the previous run. That
//! finishes a cycle one run before the window closes, so no blob need wait longer than the
//! window, and a run after a missed night takes a bigger share to catch up. A blob that
//! would pass the window before the next run at this pace is due whatever the share. A
//! budget (`--hash-budget`) caps the bytes a run re-hashes for being due; since the
//! oldest go first, what it leaves goes first next run. New, changed and suspect blobs
//! are not candidates here: they are always hashed.

use std::time::Duration;

/// A known blob that may be re-hashed.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Its length.
    pub len: u64,
    /// When it was last hashed, in seconds since the epoch.
    pub hashed_at: i64,
    /// A stable tie-break among blobs hashed at the same time (from the digest), so the
    /// choice is the same whatever order the candidates come in.
    pub tie: u64,
}

/// How a run re-verifies.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Every blob is re-hashed at least once this often.
    pub window: Duration,
    /// Time since the previous run (how often runs come).
    pub interval: Duration,
    /// At most this many bytes re-hashed for being due; `None` for no cap.
    pub budget: Option<u64>,
}

/// For each candidate, whether it is due now (`now` in seconds since the epoch).
pub fn due(candidates: &[Candidate], now: i64, schedule: &Schedule) -> Vec<bool> {
    let window = i64::try_from(schedule.window.as_secs()).unwrap_or(i64::MAX);
    let mut due = vec![window == 0; candidates.len()];
    if window == 0 {
        return cap(candidates, &order(candidates), due, schedule.budget);
    }
    let interval = i64::try_from(schedule.interval.as_secs())
        .unwrap_or(i64::MAX)
        .clamp(1, window);
    let total: u128 = candidates.iter().map(|c| u128::from(c.len)).sum();
    let cycle = (window - interval).max(interval);
    let share = (total * interval as u128).div_ceil(cycle as u128);
    let mut taken: u128 = 0;
    let order = order(candidates);
    for &i in &order {
        let candidate = candidates[i];
        let age = now.saturating_sub(candidate.hashed_at);
        let mandatory = age >= window - interval;
        if !mandatory && taken >= share {
            break;
        }
        due[i] = true;
        taken += u128::from(candidate.len);
    }
    cap(candidates, &order, due, schedule.budget)
}

/// Oldest first, then by the tie-break.
fn order(candidates: &[Candidate]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| (candidates[i].hashed_at, candidates[i].tie));
    order
}

/// Keeps, oldest first, the due blobs that fit in `budget`.
fn cap(
    candidates: &[Candidate],
    order: &[usize],
    mut due: Vec<bool>,
    budget: Option<u64>,
) -> Vec<bool> {
    let Some(budget) = budget else {
        return due;
    };
    let mut spent: u64 = 0;
    let mut full = false;
    for &i in order {
        if !due[i] {
            continue;
        }
        if full || spent.saturating_add(candidates[i].len) > budget {
            full = true;
            due[i] = false;
            continue;
        }
        spent += candidates[i].len;
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// A simulated month of nightly runs over 1,000 blobs of varied sizes, all hashed on
    /// day 0: no blob waits longer than the window, and no run after the first hashes more
    /// than twice its fair share of the bytes.
    #[test]
    fn a_month_of_nightly_runs_spreads_the_work() {
        let mut blobs: Vec<Candidate> = (0..1000u64)
            .map(|i| Candidate {
                len: 1 + (i * 7919) % 5000,
                hashed_at: 0,
                tie: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            })
            .collect();
        let total: u64 = blobs.iter().map(|b| b.len).sum();
        let schedule = Schedule {
            window: Duration::from_secs(30 * DAY as u64),
            interval: Duration::from_secs(DAY as u64),
            budget: None,
        };
        let fair = total as f64 / 30.0;
        for day in 1..=90 {
            let now = day * DAY;
            let due = due(&blobs, now, &schedule);
            let bytes: u64 = blobs
                .iter()
                .zip(&due)
                .filter(|(_, d)| **d)
                .map(|(b, _)| b.len)
                .sum();
            assert!(
                (bytes as f64) <= 2.0 * fair,
                "day {day}: {bytes} bytes against a fair share of {fair}"
            );
            for (blob, due) in blobs.iter_mut().zip(&due) {
                if *due {
                    blob.hashed_at = now;
                }
                assert!(
                    now - blob.hashed_at <= 30 * DAY,
                    "day {day}: a blob waited too long"
                );
            }
        }
    }

    #[test]
    fn a_zero_window_hashes_everything_and_a_budget_leaves_the_youngest() {
        let blobs: Vec<Candidate> = (0..10)
            .map(|i| Candidate {
                len: 10,
                hashed_at: i,
                tie: 0,
            })
            .collect();
        let mut schedule = Schedule {
            window: Duration::ZERO,
            interval: Duration::from_secs(DAY as u64),
            budget: None,
        };
        assert!(due(&blobs, 100, &schedule).iter().all(|d| *d));
        schedule.budget = Some(35);
        let due = due(&blobs, 100, &schedule);
        assert_eq!(
            due,
            [
                true, true, true, false, false, false, false, false, false, false
            ]
        );
    }

    #[test]
    fn a_missed_night_is_caught_up() {
        let blobs: Vec<Candidate> = (0..300)
            .map(|i| Candidate {
                len: 1,
                hashed_at: 0,
                tie: i,
            })
            .collect();
        let nightly = Schedule {
            window: Duration::from_secs(30 * DAY as u64),
            interval: Duration::from_secs(DAY as u64),
            budget: None,
        };
        let one = due(&blobs, DAY, &nightly).iter().filter(|d| **d).count();
        let two = due(
            &blobs,
            2 * DAY,
            &Schedule {
                interval: Duration::from_secs(2 * DAY as u64),
                ..nightly
            },
        )
        .iter()
        .filter(|d| **d)
        .count();
        assert!(two >= 2 * one - 1, "{one} then {two}");
    }
}
