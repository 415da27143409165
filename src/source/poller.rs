//! The poll loop: polls the source at an interval with jitter, at once when a trigger fires,
//! with exponential backoff after failures, and publishes the newest snapshot on a `watch`
//! channel (a burst of commits collapses into the latest).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{Disposition, Error, Fetched, Snapshot, Source, SourceConfig};
use crate::net::{Backoff, jittered};

/// What the last poll found.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    pub snapshot: Option<Arc<Snapshot>>,
    /// The last error, if the last poll failed.
    pub error: Option<String>,
    /// Completed polls (successful or not).
    pub polls: u64,
}

/// Timing of the loop.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub interval: Duration,
    /// Fraction of the interval added or removed at random (0.1 = ±10%).
    pub jitter: f64,
    /// First retry delay after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Wait after a trigger before polling, so a burst of pushes is read once.
    pub debounce: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            interval: Duration::from_mins(1),
            jitter: 0.1,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_mins(5),
            debounce: Duration::from_millis(20),
        }
    }
}

/// Runs the poll loop until `shutdown`. `wake` triggers an immediate poll.
pub async fn run(
    config: SourceConfig,
    timing: Timing,
    wake: Arc<Notify>,
    state: watch::Sender<PollState>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(timing.min_backoff, timing.max_backoff);
    let mut source: Option<Source> = None;
    loop {
        let cfg = config.clone();
        let current = source.take();
        // git2 blocks; it runs off the async threads. A poll that outlives twice the network
        // timeout is abandoned and the cache reopened on the next round.
        let job = tokio::task::spawn_blocking(move || {
            let mut s = match current {
                Some(s) => s,
                None => Source::open(cfg)?,
            };
            let r = s.poll();
            Ok::<_, Error>((s, r))
        });
        let limit = config.timeout * 2 + Duration::from_secs(1);
        let waited = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = tokio::time::timeout(limit, job) => r,
        };
        let outcome = match waited {
            Ok(Ok(Ok((s, r)))) => {
                source = Some(s);
                r
            }
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(join)) => Err(Error::Cache {
                path: config.cache_dir.clone(),
                message: format!("poll task failed: {join}"),
            }),
            Err(_) => Err(Error::Timeout {
                url: super::RedactedUrl::new(&config.url),
                timeout: limit,
            }),
        };
        let wait = match outcome {
            Ok(fetched) => {
                backoff.reset();
                state.send_modify(|st| {
                    st.polls += 1;
                    st.error = None;
                    if let Fetched::New(snap) = fetched {
                        tracing::info!(commit = %snap.commit, "new commit");
                        st.snapshot = Some(Arc::new(snap));
                    }
                });
                jittered(timing.interval, timing.jitter)
            }
            Err(e) => {
                let retry = e.disposition() == Disposition::Retry;
                tracing::warn!(error = %e, retry, "poll failed");
                state.send_modify(|st| {
                    st.polls += 1;
                    st.error = Some(e.to_string());
                });
                if retry {
                    jittered(backoff.next_delay(), timing.jitter)
                } else {
                    jittered(timing.interval, timing.jitter)
                }
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = wake.notified() => tokio::time::sleep(timing.debounce).await,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
