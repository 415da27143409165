//! The tick steps of the reconciler: tick every release that is due, each on a schedule that
//! drops missed ticks (every analysis observes a full interval); supply the source of a primary
//! deleted during a rollout; and keep a failing tick visible — in the release's view and
//! status, an alert and a metric — until it clears.

use std::sync::Arc;

use futures_util::StreamExt;

use tokio::time::Instant;
use tracing::warn;

use super::{Reconciler, policy};
use crate::chain::{Chain, Disposition};
use crate::daemon::report::Outgoing;
use crate::ids::CommitId;
use crate::release::spec::{ReleaseKey, Severity};
use crate::release::state::{Event, EventType, TickError};
use crate::release::{PrimarySource, ReleaseState, ReleaseTarget};
use crate::report::alerts::{self, Alert};
use crate::rollout::executor::TickReport;
use crate::rollout::objects::PrimaryLeft;
use crate::rollout::targets;

/// How many releases tick at once.
const TICKS_AT_ONCE: usize = 16;

/// A release's tick that ran.
struct Ticked {
    k: ReleaseKey,
    target: Arc<ReleaseTarget>,
    /// How long after it was due it started.
    late: std::time::Duration,
    start: Instant,
    end: Instant,
    result: Result<TickReport, crate::rollout::executor::Error>,
}

impl Reconciler {
    /// Ticks every release that is due, [`TICKS_AT_ONCE`] at a time; returns when the next one
    /// is.
    pub(super) async fn tick_due(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let due: Vec<(ReleaseKey, Arc<ReleaseTarget>, Instant)> = self
            .entries
            .iter()
            .filter(|(k, e)| e.due <= now && !self.held.contains_key(*k))
            .map(|(k, e)| (k.clone(), e.target.clone(), e.due))
            .collect();
        // The ticks wait on the API server, Prometheus and webhooks, not on the CPU: run
        // together, a thousand releases keep a ten-second interval. Their outcomes are then
        // taken in order, one at a time.
        let (exec, clock) = (&self.exec, &self.ctx.clock);
        let ticked: Vec<Ticked> = futures_util::stream::iter(due)
            .map(|(k, target, due)| async move {
                let start = Instant::now();
                let late = start.saturating_duration_since(due);
                let result = exec.tick(&target, clock.now()).await;
                Ticked {
                    k,
                    target,
                    late,
                    start,
                    end: Instant::now(),
                    result,
                }
            })
            .buffered(TICKS_AT_ONCE)
            .collect()
            .await;
        for t in ticked {
            self.ticked(t).await;
        }
        self.entries
            .iter()
            .filter(|(k, _)| !self.held.contains_key(*k))
            .map(|(_, e)| e.due)
            .min()
    }

    /// Takes the outcome of a release's tick: its next tick, its state, alerts and counts.
    async fn ticked(&mut self, ticked: Ticked) {
        let Ticked {
            k,
            target,
            late,
            start,
            end,
            result,
        } = ticked;
        let k = &k;
        self.ctx
            .shared
            .counters()
            .tick_lateness
            .observe(late.as_secs_f64());
        let interval = self
            .ctx
            .clock
            .real(target.spec.analysis.interval.max(self.config.min_interval));
        if let Some(e) = self.entries.get_mut(k) {
            (e.due, e.failures) = match &result {
                Ok(_) => (policy::next_due(start, end, interval), 0),
                Err(err) => {
                    let n = e.failures.saturating_add(1);
                    (
                        policy::retry_at(err.disposition(), n, start, end, interval),
                        n,
                    )
                }
            };
        }
        match result {
            Ok(report) => {
                self.alert(&target, report.state.reason.as_str(), &report.events)
                    .await;
                self.count_tick(&target, &report);
                let left = report.primary_left.clone();
                self.states.insert(k.to_owned(), report.state);
                if let Some(left) = left.filter(|l| l.missing) {
                    self.rebuild_primary(k, &target, &left).await;
                }
            }
            Err(err) => {
                let error = TickError {
                    reason: err.reason().to_owned(),
                    message: err.detail(),
                    since: self.ctx.clock.now(),
                };
                self.tick_failed(k, &target, error, err.disposition()).await;
            }
        }
    }

    /// A primary deleted during a rollout: rebuilt from Git as it was at the commit that
    /// brought the revision it served (read from the poll cache), ticking again at once; when
    /// that cannot be done, the release's tick fails with the reason `PrimaryLost`.
    async fn rebuild_primary(
        &mut self,
        k: &ReleaseKey,
        target: &Arc<ReleaseTarget>,
        left: &PrimaryLeft,
    ) {
        let source = match &left.commit {
            None => Err(left.to_string()),
            Some(commit) => self.primary_source(k, commit.as_str()).await.and_then(|s| {
                if s.revision.id == left.revision {
                    Ok(s)
                } else {
                    Err(format!(
                        "{left}, but Git's revision at that commit is {}, not {}",
                        s.revision.id.short(),
                        &left.revision[..left.revision.len().min(12)]
                    ))
                }
            }),
        };
        match source {
            Ok(src) => {
                warn!(release = %k, commit = %src.commit, "the primary is missing; rebuilding it from the revision it served");
                let mut t = ReleaseTarget::clone(target);
                t.primary_source = Some(Arc::new(src));
                if let Some(e) = self.entries.get_mut(k) {
                    e.target = Arc::new(t);
                    e.due = Instant::now();
                }
            }
            Err(why) => {
                let error = TickError {
                    reason: "PrimaryLost".into(),
                    message: why,
                    since: self.ctx.clock.now(),
                };
                self.tick_failed(k, target, error, Disposition::Stalled)
                    .await;
            }
        }
    }

    /// The release `k` as Git had it at `commit`, read from the poll cache.
    async fn primary_source(&self, k: &ReleaseKey, commit: &str) -> Result<PrimarySource, String> {
        let (source, path, provider, key, commit, k, env) = (
            self.config.source.clone(),
            self.ctx.path.clone(),
            self.ctx.provider.clone(),
            self.ctx.key.clone(),
            commit.to_owned(),
            k.to_owned(),
            self.ctx.env.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let snap = crate::source::read_commit(&source, &commit)
                .map_err(|e| format!("reading commit {commit}: {}", Chain(&e)))?;
            let d = targets::desired(&snap.files, &path, &commit, &provider, &key, &env)
                .map_err(|e| format!("rendering commit {commit}: {}", Chain(&e)))?;
            let t = d
                .releases
                .get(&k)
                .ok_or_else(|| format!("commit {commit} has no release {k}"))?;
            Ok(PrimarySource {
                commit: CommitId::from(commit.as_str()),
                target: t.target.clone(),
                revision: t.revision.clone(),
                configs: t.configs.clone(),
            })
        })
        .await
        .map_err(|e| format!("reading Git: {e}"))?
    }

    /// A tick that failed: kept in the release's state (so that its view, status file and
    /// commit status say it), recorded in its Release status where it can be, counted, logged,
    /// and alerted when it begins or its reason or message changes. It clears at the next tick
    /// that succeeds.
    async fn tick_failed(
        &mut self,
        k: &ReleaseKey,
        t: &ReleaseTarget,
        mut error: TickError,
        disposition: Disposition,
    ) {
        let mut state = self.states.get(k).cloned().unwrap_or_else(|| ReleaseState {
            message: "not ticked yet".into(),
            ..ReleaseState::default()
        });
        let before = state.error.clone();
        if let Some(b) = &before
            && b.reason == error.reason
        {
            error.since = b.since;
        }
        let retried = policy::retried(disposition);
        warn!(release = %k, reason = %error.reason, error = %error.message, "tick failed; {retried}");
        self.ctx
            .shared
            .counters()
            .count_tick_error(&t.spec, &error.reason);
        let changed = before
            .as_ref()
            .is_none_or(|b| b.reason != error.reason || b.message != error.message);
        if changed {
            let text = format!(
                "fledge cannot act on the release ({}): {}; {retried}",
                error.reason, error.message
            );
            let event = Event {
                event_type: EventType::Warning,
                message: text.clone(),
                alert: Some((Severity::Error, text)),
                failure: None,
            };
            self.alert(t, &error.reason, std::slice::from_ref(&event))
                .await;
            // Best effort: the failure may be the reason it cannot be written.
            if let Err(e) = self.exec.record_error(&t.spec, &error).await {
                warn!(release = %k, error = %Chain(&e), "the tick's failure could not be recorded in the Release status");
            }
        }
        state.error = Some(error);
        self.states.insert(k.to_owned(), state);
    }

    /// Counts a tick, the outcome it reached, and the metric values it read.
    fn count_tick(&self, t: &ReleaseTarget, report: &TickReport) {
        let prev = self.states.get(&t.spec.key()).map(|s| s.phase);
        let mut c = self.ctx.shared.counters();
        c.ticks += 1;
        if let Some(prev) = prev {
            c.count_outcome(&t.spec, prev, report.state.phase);
        }
        for m in &report.metrics {
            c.record_metric(&t.spec, &m.name, m.value);
        }
    }

    /// Queues the alerts a tick's events carry, with the release's reason beside the message.
    async fn alert(&self, t: &ReleaseTarget, reason: &str, events: &[Event]) {
        for ev in events {
            let Some((severity, text)) = &ev.alert else {
                continue;
            };
            let targets = alerts::targets_for(
                &self.exec.cluster,
                t,
                &self.providers,
                &self.ctx.global_alerts,
                *severity,
            )
            .await;
            if targets.is_empty() {
                continue;
            }
            let mut fields = alerts::details(&t.spec, Some(&self.config.cluster_name));
            fields.push(("Reason".to_owned(), reason.to_owned()));
            let alert = Alert {
                object: t.spec.dotted(),
                message: text.clone(),
                severity: *severity,
                fields,
            };
            // A full queue drops the alert rather than hold back the rollout.
            if self
                .ctx
                .alerts
                .try_send(Outgoing { alert, targets })
                .is_err()
            {
                warn!(release = %t.spec.key(), "alert queue full; alert dropped");
            }
        }
    }
}
