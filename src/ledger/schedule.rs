//! Which known blobs a nightly run re-hashes: rolling re-verification, as ZFS scrub and
//! `restic check --read-data-subset` do it for storage people.
//!
//! Every blob must be re-hashed at least once per window (`--reverify-after`). Hashing all
//! of them on the last day of the window would make one night as slow as a full audit, so
//! each run earns its fair share of the old bytes, `total × interval / (window −
//! interval)` where the interval is the time since the previous run, and spends it on the
//! oldest blobs. That finishes a cycle one run before the window closes, so no blob need
//! wait longer than the window, and a run after a missed night earns more to catch up.
//! Blobs come whole: what a run cannot spend (its oldest blob is larger than what is left)
//! is carried to the next run as credit, so a store of a few huge layers re-hashes one of
//! them every few nights instead of one every night. A blob that would pass the window
//! before the next run at this pace is due whatever the credit. A budget (`--hash-budget`)
//! caps the bytes a run re-hashes for being due; since the oldest go first, what it leaves
//! goes first next run. New, changed and suspect blobs are not candidates here: they are
//! always hashed.

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
    /// Bytes earned by earlier runs and not spent.
    pub credit: u64,
}

/// What a run re-hashes for being due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// For each candidate, whether it is due now.
    pub due: Vec<bool>,
    /// Bytes earned and not spent, for the next run.
    pub credit: u64,
}

/// Decides which candidates are due now (`now` in seconds since the epoch).
pub fn due(candidates: &[Candidate], now: i64, schedule: &Schedule) -> Due {
    let window = i64::try_from(schedule.window.as_secs()).unwrap_or(i64::MAX);
    let order = order(candidates);
    if window == 0 {
        let due = cap(
            candidates,
            &order,
            vec![true; candidates.len()],
            schedule.budget,
        );
        return Due { due, credit: 0 };
    }
    let interval = i64::try_from(schedule.interval.as_secs())
        .unwrap_or(i64::MAX)
        .clamp(1, window);
    let total: u128 = candidates.iter().map(|c| u128::from(c.len)).sum();
    let cycle = (window - interval).max(interval);
    let earned = total * interval as u128 / cycle as u128;
    // Credit never exceeds a whole cycle's bytes: a long pause does not bank a spike.
    let mut available = (u128::from(schedule.credit) + earned).min(total);
    let mut due = vec![false; candidates.len()];
    for &i in &order {
        let candidate = candidates[i];
        let len = u128::from(candidate.len);
        let age = now.saturating_sub(candidate.hashed_at);
        let mandatory = age >= window - interval;
        if !mandatory && len > available {
            break;
        }
        due[i] = true;
        available = available.saturating_sub(len);
    }
    let due = cap(candidates, &order, due, schedule.budget);
    Due {
        due,
        credit: u64::try_from(available).unwrap_or(u64::MAX),
    }
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

    fn nightly() -> Schedule {
        Schedule {
            window: Duration::from_secs(30 * DAY as u64),
            interval: Duration::from_secs(DAY as u64),
            budget: None,
            credit: 0,
        }
    }

    /// Runs `days` nightly runs over `blobs`, all hashed on day 0, checking that no blob
    /// waits longer than the window; returns the bytes each night hashed.
    fn simulate(blobs: &mut [Candidate], days: i64) -> Vec<u64> {
        let mut schedule = nightly();
        let mut nights = Vec::new();
        for day in 1..=days {
            let now = day * DAY;
            let Due { due, credit } = due(blobs, now, &schedule);
            schedule.credit = credit;
            let mut bytes = 0;
            for (blob, due) in blobs.iter_mut().zip(&due) {
                if *due {
                    blob.hashed_at = now;
                    bytes += blob.len;
                }
                assert!(
                    now - blob.hashed_at <= 30 * DAY,
                    "day {day}: a blob waited too long"
                );
            }
            nights.push(bytes);
        }
        nights
    }

    /// A simulated month and a half of nightly runs over 1,000 blobs of varied sizes: no
    /// run after the first hashes more than twice its fair share of the bytes.
    #[test]
    fn a_month_of_nightly_runs_spreads_the_work() {
        let mut blobs: Vec<Candidate> = (0..1000u64)
            .map(|i| Candidate {
                len: 1 + (i * 7919) % 5000,
                hashed_at: 0,
                tie: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            })
            .collect();
        let fair = blobs.iter().map(|b| b.len).sum::<u64>() as f64 / 30.0;
        for (day, bytes) in simulate(&mut blobs, 90).into_iter().enumerate() {
            assert!(
                bytes as f64 <= 2.0 * fair,
                "day {}: {bytes} bytes against a fair share of {fair}",
                day + 1
            );
        }
    }

    /// Eight blobs of 256 MiB on a 30-day window: most nights re-hash nothing, none more
    /// than one, and every blob is still re-hashed within the window.
    #[test]
    fn a_few_huge_blobs_are_spread_over_the_window_by_credit() {
        let mut blobs: Vec<Candidate> = (0..8)
            .map(|i| Candidate {
                len: 256 << 20,
                hashed_at: 0,
                tie: i,
            })
            .collect();
        let nights = simulate(&mut blobs, 60);
        assert!(nights.iter().all(|&b| b <= 256 << 20), "{nights:?}");
        let busy = nights.iter().filter(|&&b| b > 0).count();
        assert!(busy <= 20, "{busy} of 60 nights hashed a blob");
        assert_eq!(nights[0], 0, "the night after a full audit hashes nothing");
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
            ..nightly()
        };
        assert!(due(&blobs, 100, &schedule).due.iter().all(|d| *d));
        schedule.budget = Some(35);
        let due = due(&blobs, 100, &schedule).due;
        let expected = [
            true, true, true, false, false, false, false, false, false, false,
        ];
        assert_eq!(due, expected);
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
        let count = |schedule: &Schedule, now| {
            due(&blobs, now, schedule)
                .due
                .iter()
                .filter(|d| **d)
                .count()
        };
        let one = count(&nightly(), DAY);
        let two = count(
            &Schedule {
                interval: Duration::from_secs(2 * DAY as u64),
                ..nightly()
            },
            2 * DAY,
        );
        assert!(two >= 2 * one - 1, "{one} then {two}");
    }
}
