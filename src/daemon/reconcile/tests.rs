use std::time::Duration;

use tokio::time::Instant;

use super::ticks::next_due;

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
