//! The reconciler: the one task that owns the releases. It renders each new snapshot, syncs
//! plain objects, and ticks every release when its analysis interval comes round (a schedule
//! ordered by due time), publishing views for the API and the world for the writers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::any::{AnyCluster, AnyMetrics};
use super::report::{Outgoing, alert_targets};
use super::{Clock, Config, ReleaseView, Shared, World, desired, sync};
use crate::revision::HashKey;
use crate::rollout::executor::{Executor, ReleaseTarget};
use crate::rollout::state::ReleaseState;
use crate::source::poller::PollState;

struct Entry {
    /// Shared with the writers' world, so publishing it copies no target.
    target: Arc<ReleaseTarget>,
    due: tokio::time::Instant,
}

/// The reconciler: applies each new snapshot and ticks every release when it is due.
#[allow(clippy::too_many_arguments)]
pub(super) async fn reconcile(
    config: &Config,
    mut exec: Executor<AnyCluster, AnyMetrics>,
    key: HashKey,
    mut polls: watch::Receiver<PollState>,
    world: watch::Sender<World>,
    alerts: tokio::sync::mpsc::Sender<Outgoing>,
    shared: &Arc<Shared>,
    clock: Clock,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut states: BTreeMap<String, ReleaseState> = BTreeMap::new();
    // The commit that brought each release's current revision.
    let mut brought: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut seen_commit: Option<String> = None;
    let mut providers = BTreeMap::new();
    let mut last_polls = 0;
    loop {
        let next_due = entries.values().map(|e| e.due).min();
        let sleep = async {
            match next_due {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            changed = polls.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            () = sleep => {}
        }
        let poll = polls.borrow_and_update().clone();
        if poll.polls != last_polls {
            last_polls = poll.polls;
            let mut c = shared.counters();
            c.polls += 1;
            if poll.error.is_some() {
                c.poll_errors += 1;
            }
        }
        if let Some(snap) = poll.snapshot.clone()
            && seen_commit.as_deref() != Some(&snap.commit.to_string())
        {
            let commit = snap.commit.to_string();
            seen_commit = Some(commit.clone());
            let (path, provider, key2) = (
                config.path.clone(),
                config.mesh_provider.clone(),
                key.clone(),
            );
            let c2 = commit.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                desired::desired(&snap.files, &path, &c2, &provider, &key2)
            })
            .await?;
            shared.counters().renders += 1;
            match rendered {
                Err(e) => {
                    shared.counters().render_errors += 1;
                    warn!(commit = %commit, error = %e, "render failed; the cluster keeps the last good commit");
                }
                Ok(d) => {
                    for p in &d.problems {
                        warn!(commit = %commit, "{p}");
                    }
                    match sync::sync(
                        &exec.cluster,
                        &config.inventory_namespace,
                        &d.plain,
                        &d.owned,
                    )
                    .await
                    {
                        Ok(s) => {
                            shared.counters().applies += 1;
                            info!(commit = %commit, applied = s.applied, pruned = s.pruned.len(), "synced");
                            shared
                                .ready
                                .store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => {
                            shared.counters().apply_errors += 1;
                            warn!(commit = %commit, error = %e, "sync failed; retried at the next commit or poll");
                        }
                    }
                    exec.templates = d.templates.clone();
                    providers = d.alert_providers.clone();
                    let now = tokio::time::Instant::now();
                    let mut next: BTreeMap<String, Entry> = BTreeMap::new();
                    for (k, mut t) in d.releases {
                        let rev = t.revision.id.0.clone();
                        // Keep the commit that first brought this revision.
                        let prior = match brought.get(&k) {
                            Some((r, c)) if *r == rev => Some(c.clone()),
                            Some(_) => None,
                            None => match exec.load(&t.spec).await {
                                Ok(s) if s.canary_revision.as_deref() == Some(rev.as_str()) => {
                                    s.source_commit.clone()
                                }
                                Ok(s) if s.primary_revision.as_deref() == Some(rev.as_str()) => {
                                    s.primary_commit.clone()
                                }
                                _ => None,
                            },
                        };
                        let c = prior.unwrap_or_else(|| commit.clone());
                        brought.insert(k.clone(), (rev, c.clone()));
                        t.commit = Some(c);
                        let due = match entries.remove(&k) {
                            Some(old)
                                if old.target.revision == t.revision
                                    && old.target.spec == t.spec =>
                            {
                                old.due
                            }
                            _ => now,
                        };
                        next.insert(
                            k,
                            Entry {
                                target: Arc::new(t),
                                due,
                            },
                        );
                    }
                    for gone in entries.keys() {
                        info!(release = %gone, "release removed from the repository; its objects stay as they are");
                        states.remove(gone);
                        shared
                            .releases
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(gone);
                    }
                    entries = next;
                }
            }
        }
        // Tick what is due.
        let now = tokio::time::Instant::now();
        let due: BTreeSet<String> = entries
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let Some(e) = entries.get_mut(&k) else {
                continue;
            };
            let interval = e.target.spec.analysis.interval.max(config.min_interval);
            e.due = tokio::time::Instant::now() + clock.real(interval);
            match exec.tick(&e.target, clock.now()).await {
                Ok(report) => {
                    let prev = states.get(&k).map(|s| s.phase);
                    {
                        let mut c = shared.counters();
                        c.ticks += 1;
                        let label = (
                            e.target.spec.target.name.clone(),
                            e.target.spec.namespace.clone(),
                            e.target.spec.strategy().flagger_label().to_owned(),
                        );
                        if prev.is_some() && prev != Some(report.state.phase) {
                            match report.state.phase {
                                crate::rollout::Phase::Succeeded => {
                                    *c.successes.entry(label).or_default() += 1;
                                }
                                crate::rollout::Phase::Failed => {
                                    *c.failures.entry(label).or_default() += 1;
                                }
                                _ => {}
                            }
                        }
                    }
                    for ev in &report.events {
                        let Some((severity, text)) = &ev.alert else {
                            continue;
                        };
                        let targets = alert_targets(
                            &exec.cluster,
                            &e.target,
                            &providers,
                            &config.global_alerts,
                            *severity,
                        )
                        .await;
                        if targets.is_empty() {
                            continue;
                        }
                        let alert = crate::report::alerts::Alert {
                            object: e.target.spec.dotted(),
                            message: text.clone(),
                            severity: *severity,
                            fields: crate::report::alerts::details(
                                &e.target.spec,
                                Some(&config.cluster_name),
                            ),
                        };
                        // A full queue drops the alert rather than hold back the rollout.
                        if alerts.try_send(Outgoing { alert, targets }).is_err() {
                            warn!(release = %k, "alert queue full; alert dropped");
                        }
                    }
                    {
                        let mut c = shared.counters();
                        for m in &report.metrics {
                            c.metric_values.insert(
                                (
                                    e.target.spec.target.name.clone(),
                                    e.target.spec.namespace.clone(),
                                    m.name.clone(),
                                ),
                                m.value,
                            );
                        }
                    }
                    shared
                        .releases
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(k.clone(), ReleaseView::of(&e.target, &report.state));
                    states.insert(k.clone(), report.state);
                }
                Err(err) => {
                    warn!(release = %k, error = %err, "tick failed; retried at the next interval");
                }
            }
        }
        world.send_replace(World {
            commit: seen_commit.clone(),
            releases: entries
                .iter()
                .filter_map(|(k, e)| {
                    states
                        .get(k)
                        .map(|s| (k.clone(), (e.target.clone(), s.clone())))
                })
                .collect(),
        });
    }
}
