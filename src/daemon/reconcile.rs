//! The reconciler: the one task that owns the releases, structured as a controller's loop with
//! named steps — [`on_snapshot`](Reconciler::on_snapshot) (render a new commit, sync its plain
//! objects, adopt its releases once they synced), [`tick_due`](Reconciler::tick_due) (tick every
//! release whose analysis interval came round; returns when it wants to be called next) and
//! [`publish`](Reconciler::publish) (the views for the API and the world for the writers, once
//! per round). Syncing is in [`syncing`], ticking in [`ticks`], handing back the releases whose
//! Canary left the repository in [`retiring`].
//!
//! Invariants: a commit whose objects the cluster refuses changes nothing, its releases
//! included; a failure stays visible (sync status, release views, alerts) until it clears,
//! and an older commit's re-sync never hides a newer commit's failure.

mod hooks;
mod policy;
mod retiring;
mod syncing;
mod ticks;
mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::config::Config;
use super::context::Context;
use super::edges::{AnyCluster, AnyMetrics};
use super::shared::World;
use crate::ids::CommitId;
use crate::object::ObjectKey;
use crate::release::spec::{AlertProvider, ReleaseKey};
use crate::release::{ReleaseState, ReleaseTarget, ReleaseView};
use crate::report::sync::NotReady;
use crate::revision::RevisionId;
use crate::rollout::executor::Executor;
use crate::rollout::targets::{self, Desired};
use crate::source::poller::PollState;

/// One release and when it is next due.
struct Entry {
    /// Shared with the writers' world, so publishing it copies no target.
    target: Arc<ReleaseTarget>,
    due: Instant,
    /// Ticks failed in a row, for the error policy's backoff.
    failures: u32,
}

/// The plain objects of the last commit that rendered, in sync units, each with when sync
/// applies it next: a unit runs again each interval on the same commit (correcting drift), and
/// sooner after a passing fault (see [`policy`]) or while it waits for another.
struct Declared {
    commit: CommitId,
    plain: Vec<Value>,
    owned: BTreeSet<ObjectKey>,
    /// Releases whose Canary this commit breaks, with why.
    held: BTreeMap<ReleaseKey, String>,
    /// The Namespaces and CRDs (and removed Kustomizations) the commits since the last synced
    /// one allow to prune.
    allowed: BTreeSet<String>,
    /// The sync units, dependencies first.
    units: Vec<UnitRun>,
    /// Whether the inventories of Kustomizations removed from the repository were taken down.
    retired: bool,
    /// The commit's releases, adopted as the units that declare their Canaries sync.
    releases: Option<Desired>,
    /// What another shard owns of the commit: never applied, pruned or retired here.
    foreign: super::shard::Foreign,
}

/// A sync unit and when it is applied next.
struct UnitRun {
    unit: targets::SyncUnit,
    next: Instant,
    /// Syncs failed in a row, for the error policy's backoff.
    failures: u32,
    /// It waits for another unit, or failed: the loop wakes for it rather than at the polls.
    urgent: bool,
    /// Since when it waits for its objects' health, applied at the commit.
    health_since: Option<Instant>,
    /// Its objects were applied at the commit (healthy or not): the Kustomizations it declares
    /// exist, as Flux creates them before it waits for anything.
    put: bool,
    /// A digest of its objects as built ([`units::digest`]).
    built: String,
}

/// The reconciler's state and edges.
pub(super) struct Reconciler {
    config: Config,
    ctx: Context,
    exec: Executor<AnyCluster, AnyMetrics>,
    world: watch::Sender<World>,
    entries: BTreeMap<ReleaseKey, Entry>,
    states: BTreeMap<ReleaseKey, ReleaseState>,
    /// The (revision, commit) that brought each release's current revision.
    brought: BTreeMap<ReleaseKey, (RevisionId, CommitId)>,
    seen_commit: Option<CommitId>,
    /// The snapshot of the commit last rendered, built again when a unit could not read what
    /// it needs from the cluster.
    snapshot: Option<Arc<crate::source::Snapshot>>,
    /// The newest commit when it did not render, with why: its failure stays the sync's
    /// status while the last good commit is synced again.
    unrendered: Option<(CommitId, NotReady)>,
    declared: Option<Declared>,
    /// Releases whose Canary the adopted commit breaks, with why: held as they were (no tick,
    /// their objects neither applied nor pruned by sync) until a commit fixes the Canary.
    held: BTreeMap<ReleaseKey, String>,
    providers: BTreeMap<(String, String), AlertProvider>,
    last_polls: u64,
    /// The inventory this process last wrote for each unit (by ConfigMap name): it stands in
    /// for the inventory ConfigMap if that is deleted.
    inventories: BTreeMap<String, BTreeSet<String>>,
    /// Flux's Providers, Alerts and Receivers of the commit last rendered.
    notifications: Arc<targets::Notifications>,
    /// The cluster as each ServiceAccount a Kustomization names (`serviceAccountName`).
    tenants: BTreeMap<String, super::edges::AnyCluster>,
    /// The inventories of Flux Kustomizations recorded in the cluster, once read.
    recorded: Option<BTreeSet<String>>,
    /// Each unit's status, by unit name.
    unit_status: BTreeMap<String, crate::report::sync::UnitStatus>,
    /// The last sync's commit and outcome.
    last_sync: Option<(CommitId, Result<(), NotReady>)>,
    /// Why the repository cannot be polled, when it cannot (for longer than an interval), or
    /// why its newest commit was refused (at once): the reason and the message.
    source_failure: Option<(crate::report::sync::SyncReason, String)>,
    /// What this pass found that the sync's status says with its outcome.
    warnings: Vec<String>,
    /// Whether this process looked for objects fledge applied that a lost inventory held.
    scanned: bool,
    /// When a commit `spec.verify` refused is checked again (its keys may have been fixed), as
    /// source-controller verifies again at each interval.
    verify_again: Option<Instant>,
    /// The GitRepository fledge runs on, as the commit last rendered names it, and the last
    /// commit of it announced to Flux's Alerts (`NewArtifact`).
    root_repository: Option<crate::flux::Id>,
    announced: Option<CommitId>,
    /// The image automation of the commit last rendered, for the image automation task.
    images: Arc<super::shared::ImageWorld>,
    /// The polls of further repositories under way (on a blocking thread, so that a slow
    /// remote never holds up releases' ticks).
    further_poll: Option<tokio::task::JoinHandle<super::repositories::Refreshed>>,
    /// The sync unit that declared each release's Canary at the last commit adopted.
    unit_of: BTreeMap<ReleaseKey, String>,
    /// Releases whose Canary left the repository, being handed back to what Git declares.
    retiring: BTreeMap<ReleaseKey, retiring::Retiring>,
    /// Whether this process looked for the Releases it ran that no Canary declares any more.
    releases_scanned: bool,
    /// HelmReleases' hooks running, by unit name.
    hook_runs: BTreeMap<String, hooks::HookRun>,
    /// The release (its digest) recorded in each HelmRelease unit's inventory: its hooks ran.
    released: BTreeMap<String, String>,
    /// The release (digest) whose `pre-` hooks ran whole (or that had none), and what Helm
    /// does to it, for each HelmRelease unit being applied.
    hooks_done: BTreeMap<String, (String, crate::helm::hooks::Action)>,
    /// When the cluster's capabilities (for charts' `.Capabilities`) were last read whole.
    capabilities_at: Option<Instant>,
    /// Whether the cluster's capabilities were ever read whole.
    capabilities_read: bool,
    /// The releases another shard runs, as the commit last adopted says.
    foreign_releases: BTreeSet<ReleaseKey>,
}

impl Declared {
    /// When the loop should wake for a unit that failed or waits.
    fn wake(&self) -> Option<Instant> {
        self.units.iter().filter(|u| u.urgent).map(|u| u.next).min()
    }
}

impl Reconciler {
    pub(super) fn new(
        config: Config,
        ctx: Context,
        exec: Executor<AnyCluster, AnyMetrics>,
        world: watch::Sender<World>,
    ) -> Self {
        Self {
            config,
            ctx,
            exec,
            world,
            entries: BTreeMap::new(),
            states: BTreeMap::new(),
            brought: BTreeMap::new(),
            seen_commit: None,
            snapshot: None,
            unrendered: None,
            declared: None,
            held: BTreeMap::new(),
            providers: BTreeMap::new(),
            last_polls: 0,
            inventories: BTreeMap::new(),
            notifications: Arc::default(),
            tenants: BTreeMap::new(),
            recorded: None,
            unit_status: BTreeMap::new(),
            last_sync: None,
            source_failure: None,
            warnings: Vec::new(),
            scanned: false,
            verify_again: None,
            root_repository: None,
            announced: None,
            images: Arc::default(),
            further_poll: None,
            unit_of: BTreeMap::new(),
            retiring: BTreeMap::new(),
            releases_scanned: false,
            hook_runs: BTreeMap::new(),
            released: BTreeMap::new(),
            hooks_done: BTreeMap::new(),
            capabilities_at: None,
            capabilities_read: false,
            foreign_releases: BTreeSet::new(),
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
                && self.seen_commit.as_ref() != Some(&snap.commit)
            {
                self.on_snapshot(snap).await?;
            } else {
                self.resync_if_due().await;
            }
            next_due = self.tick_due().await;
            if let Some(at) = self.retire_due().await {
                next_due = Some(next_due.map_or(at, |t| t.min(at)));
            }
            // A failed or waiting unit is tried again on its own schedule; one that succeeded
            // runs again at the polls.
            if let Some(at) = self.declared.as_ref().and_then(Declared::wake) {
                next_due = Some(next_due.map_or(at, |t| t.min(at)));
            }
            // A poll under way is looked at again shortly.
            let polling = self
                .further_poll
                .as_ref()
                .map(|_| Instant::now() + std::time::Duration::from_millis(500));
            for at in [self.ctx.further.due(), self.verify_again, polling]
                .into_iter()
                .flatten()
            {
                next_due = Some(next_due.map_or(at, |t| t.min(at)));
            }
            self.publish();
        }
    }

    fn count_poll(&mut self, poll: &PollState) {
        if poll.polls == self.last_polls {
            return;
        }
        self.last_polls = poll.polls;
        {
            let mut c = self.ctx.shared.counters();
            c.polls += 1;
            if poll.error.is_some() {
                c.poll_errors += 1;
            }
        }
        self.observe_source(poll);
    }

    /// Takes the commit's releases: each keeps the commit that first brought its revision, and
    /// its schedule unless its target or spec changed (then it is due at once). Releases in
    /// `pending` (their unit did not sync yet) keep what they had. A release no longer
    /// declared is handed back to what Git declares when it is `retirable` (the unit that
    /// declared its Canary synced the commit and builds); otherwise its objects stay.
    async fn adopt(
        &mut self,
        d: Desired,
        commit: &CommitId,
        pending: &BTreeSet<ReleaseKey>,
        retirable: &BTreeSet<ReleaseKey>,
    ) {
        self.exec.templates = d.templates;
        self.providers = d.alert_providers;
        let now = Instant::now();
        let mut next = BTreeMap::new();
        for (k, mut t) in d.releases {
            t.spec.ingress_class.clone_from(&self.ctx.ingress_class);
            let rev = t.revision.id.clone();
            let earlier = self.brought.get(&k);
            let persisted = match earlier {
                Some(_) => None,
                None => self
                    .exec
                    .load(&t, self.ctx.clock.now())
                    .await
                    .ok()
                    .map(|l| l.state),
            };
            let c = targets::bringing_commit(&t.revision, commit, earlier, persisted.as_ref());
            self.brought.insert(k.clone(), (rev, c.clone()));
            t.commit = Some(c);
            let (due, failures) = match self.entries.remove(&k) {
                Some(old) if old.target.revision == t.revision && old.target.spec == t.spec => {
                    (old.due, old.failures)
                }
                _ => (now, 0),
            };
            next.insert(
                k,
                Entry {
                    target: Arc::new(t),
                    due,
                    failures,
                },
            );
        }
        for (k, e) in std::mem::take(&mut self.entries) {
            if self.held.contains_key(&k) || pending.contains(&k) {
                next.insert(k, e);
                continue;
            }
            self.states.remove(&k);
            if self.foreign_releases.contains(&k) {
                info!(release = %k, "its Canary's labels now select another shard, which runs it from here on");
            } else if retirable.contains(&k) {
                info!(release = %k, "release removed from the repository; handing its app back to what Git declares");
                let interval = e
                    .target
                    .spec
                    .analysis
                    .interval
                    .max(self.config.min_interval);
                self.retiring
                    .insert(k, retiring::Retiring::removed(&e.target, interval));
            } else {
                info!(release = %k, "release removed from the repository with its unit, which does not build or sync: its objects stay as they are until a commit whose units all build shows it gone");
                self.releases_scanned = false;
            }
        }
        for k in next.keys().chain(self.held.keys()).chain(pending) {
            self.retiring.remove(k);
        }
        self.entries = next;
    }

    /// Publishes the releases' latest states: the views for the API and the world for the
    /// writers.
    fn publish(&self) {
        let releases: BTreeMap<ReleaseKey, (Arc<ReleaseTarget>, ReleaseState)> = self
            .entries
            .iter()
            .filter_map(|(k, e)| {
                self.states
                    .get(k)
                    .map(|s| (k.clone(), (e.target.clone(), s.clone())))
            })
            .collect();
        *self.ctx.shared.releases() = releases
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
            sync: self.ctx.shared.sync().clone(),
            releases,
            images: self.images.clone(),
        });
    }
}

/// The first 12 digits of a commit.
fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[cfg(test)]
mod tests;
