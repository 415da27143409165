//! The poll loop: polls the source at an interval with jitter, at once when a trigger fires,
//! with exponential backoff after failures, and publishes the newest snapshot on a `watch`
//! channel (a burst of commits collapses into the latest).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{
    CommitId, Disposition, Error, Fetched, Refusal, Rewrite, Snapshot, Source, SourceConfig,
};
use crate::net::{Backoff, jittered};

/// What the last poll found.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// The newest commit's files.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Why the last poll failed (the whole message: the remote, the step, the cause), if it did.
    pub error: Option<String>,
    /// When the current run of failed polls began: set by the first failure after a success
    /// (or at start), kept while polls keep failing, cleared by the next successful poll. With
    /// `error`, says how long fledge has been unable to see the repository.
    pub failing_since: Option<SystemTime>,
    /// The tracked reference's history was rewritten: the newest commit does not descend from
    /// the commit fetched for the same reference before it (a force push, a reset, a tag moved
    /// to another commit), so fledge now deploys from a history that dropped what it deployed
    /// before. `from` is the commit fetched before (remembered in the cache, so a rewrite made
    /// while fledge was stopped is seen by the first poll after the restart), `to` the new one.
    /// Set by the poll that fetched the new commit and kept until the next poll that finds a
    /// new commit (which clears it, or sets it again if that one is a rewrite too).
    pub rewritten: Option<Rewrite>,
    /// The commit the last poll refused, and why: it (or the tag naming it) failed the
    /// signature verification of [`SourceConfig::verify`], so nothing of it was rendered or
    /// applied. Set with `error` by a refused poll, cleared by the next poll that is not one.
    pub refused: Option<Refused>,
    /// What the poll that took the newest commit verified, with which keys (as the message of
    /// Flux's `SourceVerified` condition); `None` without verification.
    pub verified: Option<String>,
    /// Completed polls (successful or not).
    pub polls: u64,
}

/// A commit the source would not hand on: see [`PollState::refused`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The refused commit (full hex id).
    pub commit: CommitId,
    /// Why: [`Refusal::reason`] is the reason source-controller gives.
    pub refusal: Refusal,
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
            let r = s.poll().map(|f| match f {
                Fetched::New(_) => {
                    let seen = (s.rewritten().cloned(), s.verified().map(str::to_owned));
                    (f, seen)
                }
                Fetched::Unchanged(_) => (f, (None, None)),
            });
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
            Ok((fetched, (rewritten, verified))) => {
                backoff.reset();
                state.send_modify(|st| {
                    st.polls += 1;
                    st.error = None;
                    st.failing_since = None;
                    st.refused = None;
                    if let Fetched::New(snap) = fetched {
                        tracing::info!(commit = %snap.commit, verified = verified.is_some(), "new commit");
                        st.verified = verified;
                        if let Some(r) = &rewritten {
                            tracing::warn!(
                                reference = %config.reference,
                                from = %r.from,
                                to = %r.to,
                                "history rewritten: the new commit does not descend from the one fetched before"
                            );
                        }
                        st.snapshot = Some(Arc::new(snap));
                        st.rewritten = rewritten;
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
                    st.refused = e.refusal().map(|(commit, refusal)| Refused {
                        commit: commit.clone(),
                        refusal: refusal.clone(),
                    });
                    // Wall-clock time, for people and alerts; the loop's timing is tokio's.
                    st.failing_since.get_or_insert_with(SystemTime::now);
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
