//! The reconciler's schedule and error policy (kube-runtime's `error_policy`): when a release
//! ticks next, and when a failed tick or sync is tried again, from what its error says of
//! trying again ([`Disposition`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::chain::Disposition;

/// The first wait after an error worth retrying; it doubles with every failure in a row.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// When a release is next due, after a tick that ran from `start` to `end`: an interval after
/// it started, as Flagger's ticker; but after a slow tick (an API server that stalled), an
/// interval after it ended — the ticks missed meanwhile are dropped, not run back to back, so
/// every analysis observes a full interval of traffic.
#[must_use]
pub(in crate::daemon) fn next_due(start: Instant, end: Instant, interval: Duration) -> Instant {
    if end.duration_since(start) > interval / 10 {
        end + interval
    } else {
        start + interval
    }
}

/// When to try again after an attempt from `start` to `end` failed, the `failures`-th time in a
/// row (1 for the first): a passing fault (the API server did not answer) after 1 s, doubling
/// with each failure up to the interval; anything else at the next interval, as a success
/// would be (a new commit is acted on at once anyway).
#[must_use]
pub(in crate::daemon) fn retry_at(
    disposition: Disposition,
    failures: u32,
    start: Instant,
    end: Instant,
    interval: Duration,
) -> Instant {
    match disposition {
        Disposition::Retry => {
            let doubled = 2u32.saturating_pow(failures.saturating_sub(1));
            end + FIRST_RETRY.saturating_mul(doubled).min(interval)
        }
        Disposition::Stalled => next_due(start, end, interval),
    }
}

/// What people are told of when a failure is tried again.
#[must_use]
pub(in crate::daemon) fn retried(disposition: Disposition) -> &'static str {
    match disposition {
        Disposition::Retry => "retried with backoff, at most an interval apart",
        Disposition::Stalled => "retried every interval and at the next commit",
    }
}
