use std::time::Duration;

use tokio::time::Instant;

use super::policy::{next_due, retry_at};
use crate::chain::Disposition;

#[test]
fn a_slow_tick_drops_the_ticks_it_missed_so_the_next_observes_a_full_interval() {
    let start = Instant::now();
    let interval = Duration::from_secs(10);
    // A quick tick keeps the schedule.
    let end = start + Duration::from_millis(200);
    assert_eq!(next_due(start, end, interval), start + interval);
    // A tick that stalled for 30 s: the next is a full interval after it ended, not at once.
    let end = start + Duration::from_secs(30);
    assert_eq!(next_due(start, end, interval), end + interval);
    assert!(next_due(start, end, interval).duration_since(end) >= interval);
}

#[test]
fn a_passing_fault_is_retried_with_backoff_up_to_the_interval_and_anything_else_at_the_interval() {
    let start = Instant::now();
    let end = start + Duration::from_millis(100);
    let interval = Duration::from_secs(10);
    let waits: Vec<Duration> = (1..=6)
        .map(|n| retry_at(Disposition::Retry, n, start, end, interval).duration_since(end))
        .collect();
    let secs = |s: &[u64]| {
        s.iter()
            .map(|&s| Duration::from_secs(s))
            .collect::<Vec<_>>()
    };
    assert_eq!(waits, secs(&[1, 2, 4, 8, 10, 10]));
    // Even after very many failures in a row.
    assert_eq!(
        retry_at(Disposition::Retry, 400, start, end, interval).duration_since(end),
        interval
    );
    // A refusal waits the interval, on the ticker's schedule.
    for n in [1, 5] {
        assert_eq!(
            retry_at(Disposition::Stalled, n, start, end, interval),
            start + interval
        );
    }
}
