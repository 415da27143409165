use std::time::Duration;

use super::*;

#[test]
fn backoff_doubles_and_caps() {
    let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
    let seq: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
    assert_eq!(seq, [1, 2, 4, 5, 5]);
    b.reset();
    assert_eq!(b.next_delay().as_secs(), 1);
}

#[test]
fn jitter_stays_in_range() {
    for _ in 0..1000 {
        let d = jittered(Duration::from_secs(100), 0.1);
        assert!(
            d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
            "{d:?}"
        );
    }
    assert_eq!(
        jittered(Duration::from_secs(7), 0.0),
        Duration::from_secs(7)
    );
}
