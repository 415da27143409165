//! Waiting for something a test cannot be told about: a daemon's API, the cluster, a Git
//! remote, a log. [`eventually`] looks every [`PERIOD`] until the condition holds and, when it
//! never does, fails with what it waited for and the last thing it saw; [`within`] is the same
//! wait for a caller that handles the timeout itself. A look is a closure returning a future
//! (`|| d.releases()`, `|| async { c.get(args) }`); one that must change state does so in the
//! closure's body (`|| ready(child.try_wait())`) or in `done`. Time is tokio's, so under paused
//! time a wait costs nothing.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is looked at again: as often as the most eager of the hand-written
/// loops this replaced, so that no wait looks less often than it did (a test of a daemon that
/// races its own writes can depend on it; see `git_fds`).
pub(crate) const PERIOD: Duration = Duration::from_millis(50);

/// Looks at `observe` every [`PERIOD`] until `done` holds of what it saw, for at most
/// `timeout`; returns what it saw last: `Ok` when `done` held, `Err` when the time ran out.
/// It looks once at the start and a last time at (or after) the deadline.
pub(crate) async fn within<T, F: Future<Output = T>>(
    timeout: Duration,
    mut observe: impl FnMut() -> F,
    mut done: impl FnMut(&T) -> bool,
) -> Result<T, T> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = observe().await;
        if done(&seen) {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(PERIOD).await;
    }
}

/// [`within`], failing the test when the time runs out: the panic says `what` was awaited, for
/// how long, and the last thing seen.
pub(crate) async fn eventually<T: Debug, F: Future<Output = T>>(
    what: impl Display,
    timeout: Duration,
    observe: impl FnMut() -> F,
    done: impl FnMut(&T) -> bool,
) -> T {
    match within(timeout, observe, done).await {
        Ok(seen) => seen,
        Err(last) => panic!("{}", never(&what, timeout, &last)),
    }
}

/// What a failed wait says: what it waited for, for how long, and the last thing it saw.
pub(crate) fn never(what: &dyn Display, timeout: Duration, last: &dyn Debug) -> String {
    format!("never within {timeout:?}: {what}\nlast seen: {last:?}")
}

#[cfg(test)]
mod tests {
    use std::future::ready;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_value_that_holds_and_fails_with_the_last_one_seen() {
        let mut n = 0;
        let mut count = || {
            n += 1;
            ready(n)
        };
        let got = eventually("three", Duration::from_secs(1), &mut count, |n| *n == 3).await;
        assert_eq!(got, 3);
        let start = Instant::now();
        let late = within(Duration::from_secs(1), &mut count, |_| false).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(late, Err(24), "at 0 s, every 50 ms, and at the deadline");
    }
}
