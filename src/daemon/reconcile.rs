//! The reconciler: the one task that owns the releases, structured as a controller's loop with
//! named steps — [`on_snapshot`](Reconciler::on_snapshot) (render a new commit, sync its plain
//! objects, adopt its releases), [`tick_due`](Reconciler::tick_due) (tick every release whose
//! analysis interval came round; returns when it wants to be called next) and
//! [`publish`](Reconciler::publish) (the views for the API and the world for the writers, once
//! per round).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::config::Config;
use super::edges::{AnyCluster, AnyMetrics};
use super::report::Outgoing;
use super::shared::{Clock, Shared, World};
use crate::chain::Chain;
use crate::cluster::{Cluster, inventory};
use crate::keys;
use crate::object::ObjectKey;
use crate::release::spec::AlertProvider;
use crate::release::state::Event;
use crate::release::{Phase, ReleaseState, ReleaseTarget, ReleaseView};
use crate::report::alerts::{self, Alert};
use crate::revision::HashKey;
use crate::rollout::executor::{Executor, TickReport};
use crate::rollout::targets::{self, Desired};
use crate::source::Snapshot;
use crate::source::poller::PollState;

/// One release and when it is next due.
struct Entry {
    /// Shared with the writers' world, so publishing it copies no target.
    target: Arc<ReleaseTarget>,
    due: Instant,
}

/// The plain objects of the last commit that rendered, and when sync last applied them: sync
/// runs again each `--interval` on the same commit (correcting drift, retrying a failure).
struct Declared {
    commit: String,
    plain: Vec<Value>,
    owned: BTreeSet<ObjectKey>,
    synced_at: Instant,
}

/// The reconciler's state and edges.
pub(super) struct Reconciler {
    pub(super) config: Config,
    pub(super) exec: Executor<AnyCluster, AnyMetrics>,
    pub(super) key: HashKey,
    pub(super) shared: Arc<Shared>,
    pub(super) world: watch::Sender<World>,
    pub(super) alerts: mpsc::Sender<Outgoing>,
    pub(super) clock: Clock,
    entries: BTreeMap<String, Entry>,
    states: BTreeMap<String, ReleaseState>,
    /// The (revision, commit) that brought each release's current revision.
    brought: BTreeMap<String, (String, String)>,
    seen_commit: Option<String>,
    declared: Option<Declared>,
    /// Releases whose Canary the current commit breaks, with why: held as they were (no tick,
    /// their objects neither applied nor pruned by sync) until a commit fixes the Canary.
    held: BTreeMap<String, String>,
    providers: BTreeMap<(String, String), AlertProvider>,
    last_polls: u64,
}

impl Reconciler {
    pub(super) fn new(
        config: Config,
        exec: Executor<AnyCluster, AnyMetrics>,
        key: HashKey,
        shared: Arc<Shared>,
        world: watch::Sender<World>,
        alerts: mpsc::Sender<Outgoing>,
        clock: Clock,
    ) -> Self {
        Self {
            config,
            exec,
            key,
            shared,
            world,
            alerts,
            clock,
            entries: BTreeMap::new(),
            states: BTreeMap::new(),
            brought: BTreeMap::new(),
            seen_commit: None,
            declared: None,
            held: BTreeMap::new(),
            providers: BTreeMap::new(),
            last_polls: 0,
        }
    }

    /// Runs until `shutdown` (or the poller stops): each round takes the newest poll, applies a
    /// new commit, ticks what is due and publishes.
    pub(super) async fn run(
        mut self,
        mut polls: watch::Receiver<PollState>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut next_due: Option<Instant> = None;
        loop {
            let sleep = async {
                match next_due {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                changed = polls.changed() => if changed.is_err() { return Ok(()) },
                () = sleep => {}
            }
            let poll = polls.borrow_and_update().clone();
            self.count_poll(&poll);
            if let Some(snap) = poll.snapshot
                && self.seen_commit.as_deref() != Some(&snap.commit.to_string())
            {
                self.on_snapshot(snap).await?;
            } else {
                self.resync_if_due().await;
            }
            next_due = self.tick_due().await;
            self.publish();
        }
    }

    fn count_poll(&mut self, poll: &PollState) {
        if poll.polls == self.last_polls {
            return;
        }
        self.last_polls = poll.polls;
        let mut c = self.shared.counters();
        c.polls += 1;
        if poll.error.is_some() {
            c.poll_errors += 1;
        }
    }

    /// A new commit: render it, sync its plain objects, adopt its releases. A commit that does
    /// not render leaves the cluster on the last good one.
    async fn on_snapshot(&mut self, snap: Arc<Snapshot>) -> anyhow::Result<()> {
        let commit = snap.commit.to_string();
        self.seen_commit = Some(commit.clone());
        let (path, provider, key, c) = (
            self.config.path.clone(),
            self.config.mesh_provider.clone(),
            self.key.clone(),
            commit.clone(),
        );
        let rendered = tokio::task::spawn_blocking(move || {
            targets::desired(&snap.files, &path, &c, &provider, &key)
        })
        .await?;
        self.shared.counters().renders += 1;
        match rendered {
            Err(e) => {
                self.shared.counters().render_errors += 1;
                warn!(commit = %commit, error = %Chain(&e), "render failed; the cluster keeps the last good commit");
                self.synced(
                    &commit,
                    Err(format!(
                        "render failed, the cluster keeps the last good commit: {}",
                        Chain(&e)
                    )),
                );
            }
            Ok(mut d) => {
                for p in &d.problems {
                    warn!(commit = %commit, "{p}");
                }
                self.hold_broken(&mut d).await;
                let declared = Declared {
                    commit: commit.clone(),
                    plain: d.plain.clone(),
                    owned: d.owned.clone(),
                    synced_at: Instant::now(),
                };
                self.sync(&declared).await;
                self.declared = Some(declared);
                self.adopt(d, &commit).await;
            }
        }
        Ok(())
    }

    /// A Canary the commit breaks keeps its app under the rollout, as Flagger leaves the
    /// workloads of a failed Canary alone: the app's objects (a Deployment, Service or HPA with
    /// a live `-primary`, an Ingress with a live `-canary`) are neither applied as plain objects
    /// nor pruned, and the release keeps its state without ticking.
    async fn hold_broken(&mut self, d: &mut Desired) {
        self.held = d
            .problems
            .iter()
            .filter_map(|p| p.release.clone().map(|r| (r, p.message.clone())))
            .collect();
        let namespaces: BTreeSet<&str> = self
            .held
            .keys()
            .filter_map(|k| k.split_once('/').map(|(ns, _)| ns))
            .collect();
        let mut kept = Vec::new();
        for o in std::mem::take(&mut d.plain) {
            let Some(key) = ObjectKey::of(&o).filter(|k| namespaces.contains(k.namespace.as_str()))
            else {
                kept.push(o);
                continue;
            };
            let sibling = match key.kind.as_str() {
                "Deployment" | "Service" | "HorizontalPodAutoscaler" => keys::primary(&key.name),
                "Ingress" => format!("{}-canary", key.name),
                _ => {
                    kept.push(o);
                    continue;
                }
            };
            let api = o["apiVersion"].as_str().unwrap_or("");
            let made = self
                .exec
                .cluster
                .get(api, &key.kind, &key.namespace, &sibling)
                .await;
            // Held when the release made it, or when that cannot be told.
            if let Ok(None) = made {
                kept.push(o);
            } else {
                warn!(object = %key, "held as it is: its release's Canary is invalid");
                d.owned.insert(key);
            }
        }
        d.plain = kept;
    }

    /// Syncs the last commit's plain objects again once an interval has passed since the last
    /// sync (polls come every interval; a tenth of it is slack for the poll's own time).
    async fn resync_if_due(&mut self) {
        let every = self.config.timing.interval.mul_f64(0.9);
        if let Some(mut d) = self.declared.take() {
            if d.synced_at.elapsed() >= every {
                d.synced_at = Instant::now();
                self.sync(&d).await;
            }
            self.declared = Some(d);
        }
    }

    /// Applies the plain objects and prunes what the repository dropped; records the outcome
    /// (with the Canaries the commit breaks, which keep the sync from being ready).
    async fn sync(&mut self, d: &Declared) {
        let outcome = self.apply_declared(d).await;
        let outcome = outcome.and_then(|()| {
            if self.held.is_empty() {
                Ok(())
            } else {
                let why: Vec<&str> = self.held.values().map(String::as_str).collect();
                Err(format!(
                    "invalid Canary, its release held as it is: {}",
                    why.join("; ")
                ))
            }
        });
        self.synced(&d.commit, outcome);
    }

    async fn apply_declared(&self, d: &Declared) -> Result<(), String> {
        let commit = &d.commit;
        match inventory::sync(
            &self.exec.cluster,
            &self.config.inventory_namespace,
            &d.plain,
            &d.owned,
            self.config.prune_guard,
        )
        .await
        {
            Ok(s) => {
                self.shared.counters().applies += 1;
                info!(commit = %commit, applied = s.applied, pruned = s.pruned.len(), "synced");
                self.shared.set_ready();
                Ok(())
            }
            Err(e) => {
                self.shared.counters().apply_errors += 1;
                warn!(commit = %commit, error = %Chain(&e), "sync failed; retried at the next commit or after --interval");
                Err(format!(
                    "sync failed, retried after --interval: {}",
                    Chain(&e)
                ))
            }
        }
    }

    /// Records the sync's outcome for `commit`; a new failure (or a new reason) is alerted.
    fn synced(&mut self, commit: &str, outcome: Result<(), String>) {
        let before = self.shared.sync().clone();
        let mut now = before.clone();
        now.commit = Some(commit.to_owned());
        match &outcome {
            Ok(()) => {
                now.applied_commit = Some(commit.to_owned());
                now.ready = true;
                now.message.clear();
            }
            Err(why) => {
                now.ready = false;
                now.message.clone_from(why);
            }
        }
        if now.ready != before.ready || now.message != before.message || before.commit.is_none() {
            now.last_transition_time = crate::release::view::rfc3339(self.clock.now());
        }
        if now == before {
            return;
        }
        *self.shared.sync() = now.clone();
        if let Err(why) = outcome
            && (before.ready || before.message != why)
        {
            self.alert_sync(commit, &why);
        }
    }

    /// Alerts a failed sync to the global alert targets (it is no one release's).
    fn alert_sync(&self, commit: &str, why: &str) {
        let targets: Vec<_> = self.config.global_alerts.clone();
        if targets.is_empty() {
            return;
        }
        let alert = Alert {
            object: format!("sync of {}", &commit[..commit.len().min(12)]),
            message: why.to_owned(),
            severity: crate::release::spec::Severity::Error,
            fields: Vec::new(),
        };
        if self.alerts.try_send(Outgoing { alert, targets }).is_err() {
            warn!("alert queue full; sync alert dropped");
        }
    }

    /// Takes the commit's releases: each keeps the commit that first brought its revision, and
    /// its schedule unless its target or spec changed (then it is due at once).
    async fn adopt(&mut self, d: Desired, commit: &str) {
        self.exec.templates = d.templates;
        self.providers = d.alert_providers;
        let now = Instant::now();
        let mut next = BTreeMap::new();
        for (k, mut t) in d.releases {
            let rev = t.revision.id.0.clone();
            let earlier = self.brought.get(&k);
            let persisted = match earlier {
                Some(_) => None,
                None => self.exec.load(&t.spec).await.ok(),
            };
            let c = targets::bringing_commit(&rev, commit, earlier, persisted.as_ref());
            self.brought.insert(k.clone(), (rev, c.clone()));
            t.commit = Some(c);
            let due = match self.entries.remove(&k) {
                Some(old) if old.target.revision == t.revision && old.target.spec == t.spec => {
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
        for (k, e) in std::mem::take(&mut self.entries) {
            if self.held.contains_key(&k) {
                next.insert(k, e);
                continue;
            }
            info!(release = %k, "release removed from the repository; its objects stay as they are");
            self.states.remove(&k);
        }
        self.entries = next;
    }

    /// Ticks every release that is due; returns when the next one is.
    async fn tick_due(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let due: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, e)| e.due <= now && !self.held.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.tick(&k).await;
        }
        self.entries
            .iter()
            .filter(|(k, _)| !self.held.contains_key(*k))
            .map(|(_, e)| e.due)
            .min()
    }

    async fn tick(&mut self, k: &str) {
        let Some(e) = self.entries.get_mut(k) else {
            return;
        };
        let interval = e
            .target
            .spec
            .analysis
            .interval
            .max(self.config.min_interval);
        e.due = Instant::now() + self.clock.real(interval);
        let target = e.target.clone();
        match self.exec.tick(&target, self.clock.now()).await {
            Ok(report) => {
                self.alert(&target, &report.events).await;
                self.count_tick(&target, &report);
                self.states.insert(k.to_owned(), report.state);
            }
            Err(err) => {
                warn!(release = %k, error = %Chain(&err), "tick failed; retried at the next interval");
            }
        }
    }

    /// Counts a tick, the outcome it reached, and the metric values it read.
    fn count_tick(&self, t: &ReleaseTarget, report: &TickReport) {
        let prev = self.states.get(&t.spec.key()).map(|s| s.phase);
        let mut c = self.shared.counters();
        c.ticks += 1;
        let label = (
            t.spec.target.name.clone(),
            t.spec.namespace.clone(),
            t.spec.strategy().flagger_label().to_owned(),
        );
        if prev.is_some() && prev != Some(report.state.phase) {
            match report.state.phase {
                Phase::Succeeded => *c.successes.entry(label).or_default() += 1,
                Phase::Failed => *c.failures.entry(label).or_default() += 1,
                _ => {}
            }
        }
        for m in &report.metrics {
            c.metric_values.insert(
                (
                    t.spec.target.name.clone(),
                    t.spec.namespace.clone(),
                    m.name.clone(),
                ),
                m.value,
            );
        }
    }

    /// Queues the alerts a tick's events carry.
    async fn alert(&self, t: &ReleaseTarget, events: &[Event]) {
        for ev in events {
            let Some((severity, text)) = &ev.alert else {
                continue;
            };
            let targets = alerts::targets_for(
                &self.exec.cluster,
                t,
                &self.providers,
                &self.config.global_alerts,
                *severity,
            )
            .await;
            if targets.is_empty() {
                continue;
            }
            let alert = Alert {
                object: t.spec.dotted(),
                message: text.clone(),
                severity: *severity,
                fields: alerts::details(&t.spec, Some(&self.config.cluster_name)),
            };
            // A full queue drops the alert rather than hold back the rollout.
            if self.alerts.try_send(Outgoing { alert, targets }).is_err() {
                warn!(release = %t.spec.key(), "alert queue full; alert dropped");
            }
        }
    }

    /// Publishes the releases' latest states: the views for the API and the world for the
    /// writers.
    fn publish(&self) {
        let releases: BTreeMap<String, (Arc<ReleaseTarget>, ReleaseState)> = self
            .entries
            .iter()
            .filter_map(|(k, e)| {
                self.states
                    .get(k)
                    .map(|s| (k.clone(), (e.target.clone(), s.clone())))
            })
            .collect();
        *self.shared.releases() = releases
            .iter()
            .map(|(k, (t, s))| {
                let mut v = ReleaseView::of(t, s);
                if let Some(why) = self.held.get(k) {
                    v.message = format!("held: the Canary in Git is invalid: {why}");
                }
                (k.clone(), v)
            })
            .collect();
        self.world.send_replace(World {
            commit: self.seen_commit.clone(),
            sync: self.shared.sync().clone(),
            releases,
        });
    }
}
