//! The sync units of the declared commit — the root path and each Flux Kustomization — synced
//! as Flux's kustomize-controller reconciles Kustomizations: dependencies first, each unit with
//! its own inventory, prune guard and status; a unit waits while one it depends on is not
//! ready at the commit; a suspended or failed unit keeps what it applied before. The releases a
//! unit's Canaries declare are adopted once that unit synced, and the inventories of
//! Kustomizations removed from the repository are taken down as their deletion policy says.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::{Declared, Reconciler, policy, short};
use crate::chain::{Chain, Disposition};
use crate::cluster::Cluster as _;
use crate::cluster::inventory::{self, Home, SyncError};
use crate::daemon::edges::AnyCluster;
use crate::daemon::notifications;
use crate::ids::CommitId;
use crate::object::health::{self, Verdict};
use crate::object::{ObjectKey, ObjectRef};
use crate::release::spec::ReleaseKey;
use crate::report::sync::{NotReady, SyncReason, UnitStatus};
use crate::rollout::targets::{Hold, SyncUnit, UnitSource};

/// How soon a unit waiting for another looks again.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(5);

/// How often a unit waiting for its objects' health looks again (kustomize-controller polls
/// every 5 s).
const HEALTH_RECHECK: Duration = Duration::from_secs(5);

/// What became of one unit's turn.
pub(super) struct Turn {
    pub(super) outcome: Result<(), NotReady>,
    /// Its objects were applied whole (and are healthy when it waits for that).
    pub(super) applied: bool,
    pub(super) next: Instant,
    pub(super) failures: u32,
    pub(super) urgent: bool,
    /// Since when it waits for its objects' health, applied at the commit.
    pub(super) health_since: Option<Instant>,
    /// Its objects were applied at the commit, healthy or not.
    pub(super) put: bool,
}

impl Turn {
    /// The turn of unit `i` after a failure that waits for a change (its health, a hook):
    /// tried again at its retry interval (else `interval`), backing off; `put` says whether
    /// its objects were applied at the commit.
    pub(super) fn stalled(
        d: &Declared,
        i: usize,
        interval: Duration,
        why: NotReady,
        put: bool,
    ) -> Self {
        let failures = d.units[i].failures.saturating_add(1);
        let retry = d.units[i].unit.retry_interval.unwrap_or(interval);
        let now = Instant::now();
        Self {
            outcome: Err(why),
            applied: false,
            next: policy::retry_at(Disposition::Stalled, failures, now, now, retry),
            failures,
            urgent: true,
            health_since: None,
            put,
        }
    }
}

impl Reconciler {
    /// Syncs the declared commit's units again once they are due; builds the commit again
    /// first when a unit that could not read what it needs from the cluster is due and what it
    /// depends on is ready.
    pub(super) async fn resync_if_due(&mut self) {
        let now = Instant::now();
        if self.verify_again.is_some_and(|at| at <= now)
            && let Some(snap) = self.snapshot.clone()
        {
            if let Err(e) = self.on_snapshot(snap).await {
                warn!(error = %e, "verifying the commit again failed");
            }
            return;
        }
        let moved = self.poll_further().await;
        let Some(d) = self.declared.as_ref() else {
            return;
        };
        let rebuild = moved
            || d.units.iter().any(|u| {
                matches!(u.unit.hold, Some(Hold::Unreadable(_)))
                    && u.next <= now
                    && self.waiting_for(&u.unit, d).is_none()
            });
        if rebuild && let Some(snap) = self.snapshot.clone() {
            if let Err(e) = self.on_snapshot(snap).await {
                warn!(error = %e, "building the commit again failed");
            }
        } else if d.units.iter().any(|u| u.next <= now) {
            self.sync_declared().await;
        }
    }

    /// Starts polling the further repositories that are due, on a blocking thread; once a poll
    /// is done, whether one moved (the commit is then built again). A repository that cannot
    /// be polled is said with the sync's outcome.
    async fn poll_further(&mut self) -> bool {
        let Some(poll) = self.further_poll.take() else {
            let further = self.ctx.further.clone();
            if further.due().is_some_and(|at| at <= Instant::now()) {
                self.further_poll = Some(tokio::task::spawn_blocking(move || further.refresh()));
            }
            return false;
        };
        if !poll.is_finished() {
            self.further_poll = Some(poll);
            return false;
        }
        let Ok(r) = poll.await else {
            return false;
        };
        let now = self.now();
        for m in &r.moved {
            info!(repository = %m.repository, commit = %short(&m.commit), "GitRepository moved; building its Kustomizations again");
            let revision = crate::flux::source::revision(&m.tracks, m.commit.as_str());
            let event = notifications::source_event(&m.repository, Ok(&m.message), &revision, &now);
            self.send(event);
        }
        for (id, why) in r.failed {
            warn!("{why}");
            let new = !self.ctx.shared.sync().warnings.contains(&why);
            if new {
                self.send(notifications::source_event(&id, Err(&why), "", &now));
                self.ctx.shared.sync().warnings.push(why);
            }
        }
        for (id, revision) in &r.artifacts.moved {
            info!(repository = %id, revision, "OCIRepository moved; building its Kustomizations again");
        }
        for (_, why) in r.artifacts.failed {
            warn!("{why}");
            let mut shared = self.ctx.shared.sync();
            if !shared.warnings.contains(&why) {
                shared.warnings.push(why);
            }
        }
        !r.moved.is_empty() || !r.artifacts.moved.is_empty()
    }

    /// Syncs each unit that is due, dependencies first; then adopts the releases of the units
    /// that synced and takes down removed Kustomizations. Records the outcome: a newer commit
    /// that did not render stays the status.
    pub(super) async fn sync_declared(&mut self) {
        let Some(mut d) = self.declared.take() else {
            return;
        };
        let keep = declared_keys(&d);
        let now = Instant::now();
        for i in 0..d.units.len() {
            if d.units[i].next > now {
                continue;
            }
            let turn = self.turn(&d, i, &keep).await;
            let run = &mut d.units[i];
            (run.next, run.failures, run.urgent) = (turn.next, turn.failures, turn.urgent);
            run.health_since = turn.health_since;
            run.put |= turn.put;
            let before = self.unit_status.get(&run.unit.name).cloned();
            let before = before.unwrap_or_else(|| UnitStatus {
                name: run.unit.name.clone(),
                ..UnitStatus::default()
            });
            let commit = revision(&d.commit, &run.unit).clone();
            let mut next = before.after(&commit, &turn.outcome, turn.applied, &self.now());
            next.path.clone_from(&run.unit.path);
            next.source = run.unit.source.as_ref().map(UnitSource::describe);
            let revision = self.flux_revision(&run.unit, &commit);
            self.notify(&before, &next, &revision);
            self.unit_status.insert(run.unit.name.clone(), next);
        }
        if let Err(e) = self.record_units(&d).await {
            warn!(error = %Chain(&e), "cannot record the inventories of Kustomizations");
        } else if !d.retired && d.units.iter().all(|u| u.unit.hold.is_none()) {
            d.retired = self.retire_removed(&d, &keep).await;
        }
        self.adopt_synced(&mut d).await;
        self.publish_units(&d);
        let outcome = self.outcome(&d);
        match self.unrendered.clone() {
            Some((commit, why)) => {
                let message = match outcome {
                    Ok(()) => why.message,
                    Err(e) => format!(
                        "{}; syncing the last good commit {} again failed too: {}",
                        why.message,
                        short(&d.commit),
                        e.message
                    ),
                };
                self.synced(&commit, Err(NotReady::new(why.reason, message)));
            }
            None => self.synced(&d.commit, outcome),
        }
        let found = std::mem::take(&mut self.warnings);
        self.ctx.shared.sync().warnings.extend(found);
        self.declared = Some(d);
    }

    /// Sends `event` to the Alerts of the commit last rendered that match it.
    pub(super) fn send(&self, event: crate::flux::notification::Event) {
        notifications::send(
            &self.exec.cluster,
            &self.notifications,
            event,
            &self.config.cluster_name,
        );
    }

    /// A commit of the repository fledge runs on as Flux writes a revision.
    pub(super) fn root_revision(&self, commit: &CommitId) -> String {
        let tracks = self.config.source.reference.to_string();
        crate::flux::source::revision(&tracks, commit.as_str())
    }

    /// A revision of `unit`'s source as Flux writes it: `main@sha1:<commit>` for a branch,
    /// `sha1:<commit>` otherwise, an OCI artifact's `<tag>@sha256:<digest>`.
    fn flux_revision(&self, unit: &SyncUnit, commit: &CommitId) -> String {
        match &unit.source {
            Some(s) => s.revision(commit),
            None => self.root_revision(commit),
        }
    }

    /// Sends the event of a Kustomization's status change to the Alerts that match it.
    fn notify(&self, before: &UnitStatus, after: &UnitStatus, revision: &str) {
        if let Some(event) = notifications::unit_event(before, after, revision, &self.now()) {
            self.send(event);
        }
    }

    pub(super) fn now(&self) -> String {
        crate::release::state::rfc3339(self.ctx.clock.now())
    }

    /// One unit's turn: held, waiting for a dependency, running a release's hooks (see
    /// [`super::hooks`]), or applied and pruned.
    async fn turn(&mut self, d: &Declared, i: usize, keep: &BTreeSet<ObjectKey>) -> Turn {
        if let Some(turn) = self.hook_turn(d, i).await {
            return turn;
        }
        let turn = self.apply_turn(d, i, keep).await;
        self.after_apply(d, i, turn).await
    }

    /// A unit's turn beyond its hooks: held, waiting for a dependency, or applied and pruned.
    async fn apply_turn(&mut self, d: &Declared, i: usize, keep: &BTreeSet<ObjectKey>) -> Turn {
        let unit = &d.units[i].unit;
        let interval = self.interval(unit);
        let start = Instant::now();
        let later = |why: NotReady, next: Instant, urgent: bool| Turn {
            outcome: Err(why),
            applied: false,
            next,
            failures: 0,
            urgent,
            health_since: None,
            put: false,
        };
        match &unit.hold {
            Some(Hold::Suspended) => {
                let why = NotReady::new(
                    SyncReason::Suspended,
                    "spec.suspend is true: nothing is applied or pruned until it is resumed",
                );
                return later(why, start + interval, false);
            }
            Some(Hold::Failed(why)) => {
                let why = NotReady::new(
                    SyncReason::RenderFailed,
                    format!("not applied, the cluster keeps what it applied before: {why}"),
                );
                return later(why, start + interval, false);
            }
            Some(Hold::Unreadable(_)) | None => {}
        }
        if let Some(why) = self.waiting_for(unit, d) {
            return later(why, start + DEPENDENCY_RECHECK, true);
        }
        if let Some(Hold::Unreadable(why)) = &unit.hold {
            // Built again when due (see `resync_if_due`), backing off as a passing fault does.
            let failures = d.units[i].failures.saturating_add(1);
            let retry = unit.retry_interval.unwrap_or(interval);
            let next = policy::retry_at(Disposition::Retry, failures, start, start, retry);
            let why = NotReady::new(
                SyncReason::RenderFailed,
                format!(
                    "not applied, the cluster keeps what it applied before: {why}; {}",
                    policy::retried(Disposition::Retry)
                ),
            );
            return Turn {
                outcome: Err(why),
                applied: false,
                next,
                failures,
                urgent: true,
                health_since: None,
                put: false,
            };
        }
        if let Some(since) = d.units[i].health_since {
            return self.wait_health(d, i, since).await;
        }
        match self.apply_unit(d, unit, keep).await {
            Ok(()) if unit.health.waits() => self.wait_health(d, i, start).await,
            Ok(()) => Turn {
                outcome: Ok(()),
                applied: true,
                // Polls come every interval; a tenth of it is slack for the poll's own time.
                next: start + interval.mul_f64(0.9),
                failures: 0,
                urgent: false,
                health_since: None,
                put: true,
            },
            Err((why, disposition)) => {
                let failures = d.units[i].failures.saturating_add(1);
                let retry = unit.retry_interval.unwrap_or(interval);
                let next = policy::retry_at(disposition, failures, start, Instant::now(), retry);
                Turn {
                    outcome: Err(why),
                    applied: false,
                    next,
                    failures,
                    urgent: true,
                    health_since: None,
                    put: false,
                }
            }
        }
    }

    /// A unit applied at the commit `since` then, and waiting for its objects' health (all it
    /// applied with `wait`, else its `healthChecks`): ready once every one is `Current`; failed
    /// at once when one is `Failed` (Flux's fail-fast), or when `timeout` passed; else looked at
    /// again in 5 s. The message is the one kustomize-controller puts in its `Ready` condition.
    async fn wait_health(&self, d: &Declared, i: usize, since: Instant) -> Turn {
        let unit = &d.units[i].unit;
        let interval = self.interval(unit);
        let now = Instant::now();
        let fail = |why: NotReady| Turn::stalled(d, i, interval, why, true);
        let assessment = match self.assess(d, unit).await {
            Ok(a) => a,
            Err(why) => return fail(why),
        };
        let message = assessment.message().map(|m| unit.mask.apply(&m));
        match assessment.verdict() {
            Verdict::Ready => Turn {
                outcome: Ok(()),
                applied: true,
                next: since + interval.mul_f64(0.9),
                failures: 0,
                urgent: false,
                health_since: None,
                put: true,
            },
            Verdict::Failed => fail(NotReady::new(
                SyncReason::HealthCheckFailed,
                message.unwrap_or_default(),
            )),
            Verdict::InProgress if now.duration_since(since) >= unit.timeout => fail(
                NotReady::new(SyncReason::HealthCheckFailed, message.unwrap_or_default()),
            ),
            Verdict::InProgress => {
                let pending: Vec<String> = assessment
                    .pending()
                    .map(|(k, h)| format!("{} ({})", health::flux_name(k), h.status))
                    .collect();
                Turn {
                    outcome: Err(NotReady::new(
                        SyncReason::Progressing,
                        format!(
                            "applied; waiting (up to spec.timeout, {} s) for: {}",
                            unit.timeout.as_secs(),
                            pending.join(", ")
                        ),
                    )),
                    applied: false,
                    next: now + HEALTH_RECHECK,
                    failures: d.units[i].failures,
                    urgent: true,
                    health_since: Some(since),
                    put: true,
                }
            }
        }
    }

    /// The health of what `unit` waits for, read from the cluster now.
    async fn assess(&self, d: &Declared, unit: &SyncUnit) -> Result<health::Assessment, NotReady> {
        let exprs = health::compile(&unit.health.exprs).map_err(|e| {
            NotReady::new(
                SyncReason::RenderFailed,
                format!("spec.healthCheckExprs: {e}"),
            )
        })?;
        let mut refs: Vec<ObjectRef> = if unit.health.all {
            d.plain
                .iter()
                .filter(|o| applied_by(unit, o))
                .filter_map(ObjectRef::of)
                .collect()
        } else {
            unit.health.checks.clone()
        };
        // Flux applies the Kustomizations a unit declares and waits for them as for any object
        // it applied; fledge keeps them as units, so their health is their unit's status.
        let mut live: Vec<serde_json::Value> = d
            .units
            .iter()
            .map(|u| &u.unit)
            .filter(|u| {
                (unit.health.all && u.parent.as_ref() == Some(&unit.name))
                    || refs.iter().any(|r| names_unit(r, u))
            })
            .map(|u| self.kustomization_now(d, u))
            .collect();
        refs.retain(|r| !d.units.iter().any(|u| names_unit(r, &u.unit)));
        let mut absent = Vec::new();
        for r in &refs {
            match self.exec.cluster.get(r).await {
                Ok(Some(o)) => live.push(o),
                Ok(None) => absent.push(r.key()),
                Err(e) => {
                    return Err(NotReady::new(
                        SyncReason::HealthCheckFailed,
                        format!("cannot read {} for its health: {}", r.key(), Chain(&e)),
                    ));
                }
            }
        }
        let now = jiff::Timestamp::from_second(self.ctx.clock.now()).unwrap_or_default();
        let mut assessment = health::assess(&live, &exprs, now);
        for k in absent {
            assessment.not_found(k);
        }
        Ok(assessment)
    }

    /// Why `unit` must wait, when a unit it depends on is not ready at the commit it is built
    /// from (as Flux's `dependsOn` requires).
    pub(super) fn waiting_for(&self, unit: &SyncUnit, d: &Declared) -> Option<NotReady> {
        let built_from = |dep: &str| {
            d.units
                .iter()
                .find(|u| u.unit.name == dep)
                .map_or(&d.commit, |u| revision(&d.commit, &u.unit))
        };
        let mut pending: Vec<String> = unit
            .depends_on
            .iter()
            .filter_map(|dep| {
                if d.foreign.units.iter().any(|u| &u.name == dep) {
                    return Some(format!(
                        "'{dep}' is another shard's (its labels do not match --watch-label-selector): its readiness cannot be seen from this shard; keep units that depend on each other in one shard"
                    ));
                }
                let Some(s) = self.unit_status.get(dep) else {
                    return Some(format!("'{dep}' not found"));
                };
                // A readyExpr says, in place of Flux's own check.
                if let Some(expr) = unit.ready_exprs.get(dep) {
                    return self.ready_by_expr(d, unit, dep, expr).err();
                }
                if !s.ready {
                    Some(format!("'{dep}' is not ready ({})", s.reason))
                } else if s.last_applied_revision.as_ref() != Some(built_from(dep)) {
                    Some(format!("'{dep}' is not synced at this commit yet"))
                } else {
                    None
                }
            })
            .collect();
        // Flux creates a Kustomization only when the one declaring it applies it: a unit never
        // applied waits until that one applied the commit (the policies and rights it sets up
        // come first; healthy or not yet, as Flux creates it before it waits), and then goes on
        // its own.
        let applied_before = self
            .unit_status
            .get(&unit.name)
            .is_some_and(|s| s.last_applied_revision.is_some());
        // A parent of another shard's applies this Kustomization there, as Flux's shards do.
        let theirs = |p: &String| d.foreign.units.iter().any(|u| &u.name == p);
        if let Some(parent) = unit
            .parent
            .as_ref()
            .filter(|p| !applied_before && !theirs(p))
        {
            let put = d.units.iter().any(|u| &u.unit.name == parent && u.put);
            let applied = put
                || self
                    .unit_status
                    .get(parent)
                    .is_some_and(|s| s.last_applied_revision.as_ref() == Some(built_from(parent)));
            if !applied {
                let kind = if unit
                    .name
                    .starts_with(crate::rollout::targets::helm::UNIT_PREFIX)
                {
                    "HelmRelease"
                } else {
                    "Kustomization"
                };
                pending.push(format!("'{parent}' has not applied this {kind} yet"));
            }
        }
        (!pending.is_empty()).then(|| {
            NotReady::new(
                SyncReason::DependencyNotReady,
                format!(
                    "dependency {}; checked again every {} s",
                    pending.join(", dependency "),
                    DEPENDENCY_RECHECK.as_secs()
                ),
            )
        })
    }

    /// Whether the dependency `dep` of `unit` is ready as its `readyExpr` says, evaluated as
    /// kustomize-controller does over `self` (the Kustomization) and `dep` (the dependency),
    /// each as written with the status fledge keeps of it; `Err` says why it is not.
    fn ready_by_expr(
        &self,
        d: &Declared,
        unit: &SyncUnit,
        dep: &str,
        expr: &str,
    ) -> Result<(), String> {
        let object = |u: &SyncUnit| self.kustomization(u);
        let dep_unit = d
            .units
            .iter()
            .find(|u| u.unit.name == dep)
            .ok_or_else(|| format!("'{dep}' not found"))?;
        let condition = crate::object::health::Condition::parse(expr)
            .map_err(|e| format!("'{dep}': readyExpr: {e}"))?;
        match condition.holds(&[("self", &object(unit)), ("dep", &object(&dep_unit.unit))]) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("'{dep}' is not ready according to readyExpr eval")),
            Err(e) => Err(format!("'{dep}': readyExpr: {e}")),
        }
    }

    /// `u`'s Kustomization as written, with the status fledge keeps of it as Flux writes it.
    fn kustomization(&self, u: &SyncUnit) -> serde_json::Value {
        let mut o = u.declared.clone();
        o["metadata"]["generation"] = 1.into();
        if let Some(s) = self.unit_status.get(&u.name) {
            o["status"] = s.flux_status(|c| self.flux_revision(u, c));
        }
        o
    }

    /// `u`'s Kustomization as a unit waiting for it reads its health: as [`Self::kustomization`],
    /// but not ready until it is ready at the commit it is built from (Flux's kstatus waits for
    /// a Kustomization's `Ready` condition at its latest generation).
    fn kustomization_now(&self, d: &Declared, u: &SyncUnit) -> serde_json::Value {
        let mut o = self.kustomization(u);
        let status = self.unit_status.get(&u.name);
        let current = status.is_some_and(|s| {
            s.ready && s.last_applied_revision.as_ref() == Some(revision(&d.commit, u))
        });
        if !current {
            let message = match status {
                Some(s) if !s.ready => format!("{}: {}", s.reason.as_str(), s.message),
                _ => format!("not synced at {} yet", short(revision(&d.commit, u))),
            };
            o["status"]["observedGeneration"] = 1.into();
            o["status"]["conditions"] = serde_json::json!([{
                "type": "Ready", "status": "False", "reason": "Progressing", "message": message,
            }]);
        }
        o
    }

    /// Applies and prunes a unit; a failure says why, and whether trying again soon may help.
    async fn apply_unit(
        &mut self,
        d: &Declared,
        unit: &SyncUnit,
        keep: &BTreeSet<ObjectKey>,
    ) -> Result<(), (NotReady, Disposition)> {
        let objects: Vec<serde_json::Value> = d
            .plain
            .iter()
            .filter(|o| applied_by(unit, o))
            .cloned()
            .collect();
        let mut guard = self.config.prune_guard.clone();
        guard.allowed.extend(d.allowed.iter().cloned());
        let home = self.home(unit);
        let tenant = self.tenant(unit.service_account.as_deref())?;
        if let Some(account) = &unit.service_account {
            tenant_may_configure(&tenant, account, unit).await?;
        }
        let remembered = self.inventories.get(&unit.inventory);
        let own = &self.exec.cluster;
        let synced =
            inventory::sync_as(own, &tenant, &home, &objects, keep, &guard, remembered).await;
        match synced {
            Ok(s) => {
                self.ctx.shared.counters().applies += 1;
                if s.inventory_restored {
                    warn!(namespace = %home.namespace, inventory = %home.name, "the inventory ConfigMap was missing (deleted by hand?); restored from the one this process last wrote");
                }
                for r in &s.recreated {
                    info!(unit = %unit.name, object = %r, "an immutable field changed: deleted and created anew (force)");
                }
                info!(commit = %d.commit, unit = %unit.name, applied = s.applied, pruned = s.pruned.len(), "synced");
                self.inventories.insert(unit.inventory.clone(), s.inventory);
                self.ctx.shared.set_ready();
                if s.inventory_missing && !self.scanned {
                    self.scanned = true;
                    self.find_unaccounted(d).await;
                }
                Ok(())
            }
            Err(e) => {
                self.ctx.shared.counters().apply_errors += 1;
                // An object the cluster refused may quote a value substituted from a Secret.
                let error = unit.mask.apply(&Chain(&e).to_string());
                warn!(commit = %d.commit, unit = %unit.name, %error, "sync failed; {}", policy::retried(e.disposition()));
                let (mut why, disposition) = refusal(&e);
                why.message = unit.mask.apply(&why.message);
                Err((why, disposition))
            }
        }
    }

    /// `unit`'s interval: its own, else fledge's.
    pub(super) fn interval(&self, unit: &SyncUnit) -> Duration {
        unit.interval.unwrap_or(self.config.timing.interval)
    }

    /// Where `unit`'s inventory is kept, and how it applies and prunes.
    pub(super) fn home(&self, unit: &SyncUnit) -> Home {
        Home {
            namespace: self.config.inventory_namespace.clone(),
            name: unit.inventory.clone(),
            unit: unit.name.clone(),
            prune: unit.prune,
            deletion: unit.deletion.as_str().to_owned(),
            service_account: unit.service_account.clone(),
            force: unit.force,
            // Checked when the commit was built.
            ignore: crate::cluster::drift::compile(&unit.ignore)
                .unwrap_or_else(|_| std::sync::Arc::new([])),
            release: self.released.get(&unit.name).cloned(),
        }
    }

    /// The cluster as `account` (`<namespace>/<name>`, impersonated), or as fledge itself.
    /// Made once per account, then shared (clones share the connection).
    pub(super) fn tenant(
        &mut self,
        account: Option<&str>,
    ) -> Result<AnyCluster, (NotReady, Disposition)> {
        let Some(account) = account else {
            return Ok(self.exec.cluster.clone());
        };
        if let Some(c) = self.tenants.get(account) {
            return Ok(c.clone());
        }
        let made = self.exec.cluster.impersonating(account).map_err(|e| {
            let why = NotReady::new(
                SyncReason::ApplyFailed,
                format!(
                    "spec.serviceAccountName: cannot act as ServiceAccount {account}: {}",
                    Chain(&e)
                ),
            );
            (why, Disposition::Stalled)
        })?;
        self.tenants.insert(account.to_owned(), made.clone());
        Ok(made)
    }

    /// Records the inventories of the commit's Kustomizations beside those recorded before, so
    /// that one removed from the repository is found, even after a restart.
    async fn record_units(&mut self, d: &Declared) -> Result<(), crate::cluster::Error> {
        let home = self.config.inventory_namespace.clone();
        let record = self.config.own(crate::keys::UNIT_INVENTORIES);
        let mut recorded = match self.recorded.take() {
            Some(r) => r,
            None => inventory::recorded_units(&self.exec.cluster, &home, &record).await?,
        };
        let before = recorded.clone();
        recorded.extend(
            d.units
                .iter()
                .filter(|u| !u.unit.root)
                .map(|u| u.unit.inventory.clone()),
        );
        // A unit another shard took over is that shard's to take down once removed.
        for u in &d.foreign.units {
            recorded.remove(&u.inventory);
        }
        if recorded != before {
            let written =
                inventory::record_units(&self.exec.cluster, &home, &record, &recorded).await;
            written?;
        }
        self.recorded = Some(recorded);
        Ok(())
    }

    /// Takes down the inventories of Kustomizations no longer in the repository, as each one's
    /// recorded deletion policy says; pruning all that one applied needs the allowance
    /// `Fledge-Allow-Prune: Kustomization/<namespace>/<name>` (or a prune guard that allows
    /// it), since a path typo removes a Kustomization as surely as a decision does. Returns
    /// whether all are taken down.
    async fn retire_removed(&mut self, d: &Declared, keep: &BTreeSet<ObjectKey>) -> bool {
        let home = self.config.inventory_namespace.clone();
        let record = self.config.own(crate::keys::UNIT_INVENTORIES);
        // Another shard's units are in the repository still: none of them is removed.
        let current: BTreeSet<&str> = d
            .units
            .iter()
            .map(|u| &u.unit)
            .chain(&d.foreign.units)
            .map(|u| u.inventory.as_str())
            .collect();
        let names: BTreeSet<&str> = d.units.iter().map(|u| u.unit.name.as_str()).collect();
        let mut gone = std::mem::take(&mut self.unit_status);
        self.unit_status = gone
            .extract_if(.., |n, _| names.contains(n.as_str()))
            .collect();
        let recorded = self.recorded.clone().unwrap_or_default();
        if recorded.iter().all(|r| current.contains(r.as_str())) {
            return true;
        }
        let stored = match inventory::unit_inventories(&self.exec.cluster, &home, &record).await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %Chain(&e), "cannot read the inventories of Kustomizations");
                return false;
            }
        };
        let mut kept: BTreeSet<String> = d
            .units
            .iter()
            .filter(|u| !u.unit.root)
            .map(|u| u.unit.inventory.clone())
            .collect();
        let listed = kept.len();
        for s in stored.iter().filter(|s| !current.contains(s.name.as_str())) {
            let status = gone.remove(&s.unit).unwrap_or_else(|| UnitStatus {
                name: s.unit.clone(),
                ..UnitStatus::default()
            });
            if let Err(why) = self.retire(d, s, keep).await {
                kept.insert(s.name.clone());
                let next = status.after(&d.commit, &Err(why), false, &self.now());
                self.unit_status.insert(s.unit.clone(), next);
            }
        }
        let all = kept.len() == listed;
        if kept != recorded {
            match inventory::record_units(&self.exec.cluster, &home, &record, &kept).await {
                Ok(()) => self.recorded = Some(kept),
                Err(e) => {
                    warn!(error = %Chain(&e), "cannot record the inventories of Kustomizations");
                }
            }
        }
        all
    }

    /// Takes down one removed Kustomization's inventory, under the prune guard and the commits'
    /// allowances.
    async fn retire(
        &mut self,
        d: &Declared,
        s: &inventory::Stored,
        keep: &BTreeSet<ObjectKey>,
    ) -> Result<(), NotReady> {
        let mut guard = self.config.prune_guard.clone();
        guard.allowed.extend(d.allowed.iter().cloned());
        let allowance = allowance(&s.unit);
        if guard.allowed.contains(&allowance) {
            guard.max_share = 1.0;
        }
        let tenant = self
            .tenant(s.service_account.as_deref())
            .map_err(|(why, _)| why)?;
        let home = &self.config.inventory_namespace;
        match inventory::retire(&self.exec.cluster, &tenant, home, s, keep, &guard).await {
            Ok(r) => {
                info!(unit = %s.unit, pruned = r.pruned.len(), policy = %s.deletion, "Kustomization removed from the repository; its inventory is taken down");
                Ok(())
            }
            Err(e) => {
                let (mut why, _) = refusal(&e);
                why.message = format!(
                    "removed from the repository; its objects stay until this is resolved: {}. To delete what it applied, allow it with the commit trailer `Fledge-Allow-Prune: {allowance}`",
                    why.message
                );
                Err(why)
            }
        }
    }

    /// Adopts the releases whose Canary a unit that synced at the commit declares; the others
    /// keep what they had until their unit syncs. Once every unit synced, the commit's
    /// releases are all taken.
    async fn adopt_synced(&mut self, d: &mut Declared) {
        let Some(releases) = d.releases.as_ref() else {
            return;
        };
        let synced = |u: &SyncUnit| {
            self.unit_status
                .get(&u.name)
                .is_some_and(|s| s.last_applied_revision.as_ref() == Some(revision(&d.commit, u)))
        };
        let pending: BTreeSet<ReleaseKey> = releases
            .releases
            .keys()
            .filter(|key| {
                d.units
                    .iter()
                    .find(|u| declares_canary(&u.unit, key))
                    .is_some_and(|u| !synced(&u.unit))
            })
            .cloned()
            .collect();
        let in_commit: BTreeSet<ReleaseKey> = releases.releases.keys().cloned().collect();
        // Another shard's releases are declared still: this one hands none of them back.
        let in_repository: BTreeSet<ReleaseKey> =
            in_commit.union(&d.foreign.releases).cloned().collect();
        let all_synced = pending.is_empty();
        // A Canary gone from a unit that synced the commit and builds was removed; one whose
        // unit is gone, held or failing may only be unreadable, and keeps its objects.
        let building: BTreeSet<String> = d
            .units
            .iter()
            .filter(|u| u.unit.hold.is_none() && synced(&u.unit))
            .map(|u| u.unit.name.clone())
            .collect();
        if !d.units.iter().any(|u| synced(&u.unit)) {
            return;
        }
        let mut taken = if all_synced {
            d.releases.take().unwrap_or_default()
        } else {
            releases.clone()
        };
        taken.releases.retain(|k, _| !pending.contains(k));
        self.held.clone_from(&d.held);
        let retirable: BTreeSet<ReleaseKey> = self
            .unit_of
            .iter()
            .filter(|(k, unit)| !in_repository.contains(*k) && building.contains(*unit))
            .map(|(k, _)| k.clone())
            .collect();
        for k in taken.releases.keys() {
            if let Some(u) = d.units.iter().find(|u| declares_canary(&u.unit, k)) {
                self.unit_of.insert(k.clone(), u.unit.name.clone());
            }
        }
        self.unit_of
            .retain(|k, _| in_commit.contains(k) || self.held.contains_key(k));
        let declared: BTreeSet<ReleaseKey> =
            in_repository.iter().chain(d.held.keys()).cloned().collect();
        let scan = all_synced
            && d.retired
            && !self.releases_scanned
            && d.units.iter().all(|u| u.unit.hold.is_none());
        self.foreign_releases.clone_from(&d.foreign.releases);
        self.adopt(taken, &d.commit, &pending, &retirable).await;
        if scan {
            self.find_retiring(&declared).await;
        }
    }

    /// Makes the sync's status list the units, in order, with any removed one not taken down.
    fn publish_units(&self, d: &Declared) {
        let mut units: Vec<UnitStatus> = d
            .units
            .iter()
            .filter_map(|u| self.unit_status.get(&u.unit.name).cloned())
            .collect();
        let listed: BTreeSet<&str> = d.units.iter().map(|u| u.unit.name.as_str()).collect();
        units.extend(
            self.unit_status
                .values()
                .filter(|s| !listed.contains(s.name.as_str()))
                .cloned(),
        );
        self.ctx.shared.sync().units = units;
    }

    /// The commit's outcome: ready when every unit is, else what the first that is not says,
    /// with any other unit not ready named; an invalid Canary holds its app.
    fn outcome(&self, d: &Declared) -> Result<(), NotReady> {
        let units = self.ctx.shared.sync().units.clone();
        // A suspended unit says so in its own row; it fails nothing else.
        let mut failing = units
            .iter()
            .filter(|u| !u.ready && u.reason != SyncReason::Suspended);
        if let Some(first) = failing.next() {
            let rest: Vec<&str> = failing.map(|u| u.name.as_str()).collect();
            let mut message = match first.name.as_str() {
                "root" => first.message.clone(),
                name if name.starts_with(crate::rollout::targets::helm::UNIT_PREFIX) => {
                    format!("{name}: {}", first.message)
                }
                name => format!("Kustomization {name}: {}", first.message),
            };
            if !rest.is_empty() {
                message = format!("{message}; not ready either: {}", rest.join(", "));
            }
            return Err(NotReady::new(first.reason, message));
        }
        if d.held.is_empty() {
            return Ok(());
        }
        let why: Vec<&str> = d.held.values().map(String::as_str).collect();
        Err(NotReady::new(
            SyncReason::CanaryInvalid,
            format!(
                "invalid Canary, its release held as it is: {}",
                why.join("; ")
            ),
        ))
    }
}

/// The commit `unit` is built from: its further repository's, else the declared commit.
/// What a commit trailer `Fledge-Allow-Prune:` names to let a removed unit's objects go:
/// `Kustomization/<namespace>/<name>` or `HelmRelease/<namespace>/<name>`.
fn allowance(unit: &str) -> String {
    if unit.starts_with(crate::rollout::targets::helm::UNIT_PREFIX) {
        unit.to_owned()
    } else {
        format!("Kustomization/{unit}")
    }
}

fn revision<'a>(commit: &'a CommitId, unit: &'a SyncUnit) -> &'a CommitId {
    unit.source.as_ref().map_or(commit, |s| &s.commit)
}

/// The keys of everything the commit declares (and its releases own): no unit prunes them,
/// whichever unit declared them before.
fn declared_keys(d: &Declared) -> BTreeSet<ObjectKey> {
    d.plain
        .iter()
        .filter_map(ObjectKey::of)
        .chain(d.owned.iter().cloned())
        .chain(d.units.iter().flat_map(|u| u.unit.keys.iter().cloned()))
        .chain(d.foreign.units.iter().flat_map(|u| u.keys.iter().cloned()))
        .collect()
}

/// Whether `r` names the Kustomization of `u`.
fn names_unit(r: &ObjectRef, u: &SyncUnit) -> bool {
    let id = format!("{}/{}", r.namespace, r.name);
    match r.kind.as_str() {
        "Kustomization" => {
            r.api_version.starts_with("kustomize.toolkit.fluxcd.io/") && u.name == id
        }
        "HelmRelease" => {
            r.api_version.starts_with("helm.toolkit.fluxcd.io/")
                && u.name
                    .strip_prefix(crate::rollout::targets::helm::UNIT_PREFIX)
                    == Some(id.as_str())
        }
        _ => false,
    }
}

/// A digest of `unit`'s objects of `plain`, as built: a unit built again with other objects
/// is due at once.
pub(super) fn digest(unit: &SyncUnit, plain: &[serde_json::Value]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for o in plain.iter().filter(|o| in_unit(unit, o)) {
        h.update(o.to_string().as_bytes());
    }
    hex::encode(h.finalize())
}

/// Whether `o` is `unit`'s; an object without a name is the root's (the cluster refuses it).
pub(super) fn in_unit(unit: &SyncUnit, o: &serde_json::Value) -> bool {
    ObjectKey::of(o).map_or(unit.root, |k| unit.keys.contains(&k))
}

/// Whether `o` is among what `unit` applies, keeps in its inventory and waits for: all it
/// declares but a HelmRelease's hooks, which run apart (see [`super::hooks`]) and belong to no
/// inventory, as Helm keeps them out of its release.
fn applied_by(unit: &SyncUnit, o: &serde_json::Value) -> bool {
    in_unit(unit, o)
        && !(unit
            .name
            .starts_with(crate::rollout::targets::helm::UNIT_PREFIX)
            && crate::helm::hooks::is_hook(o))
}

/// The Flagger objects (Canaries, MetricTemplates, AlertProviders) a Kustomization with
/// `serviceAccountName` declares are configuration: fledge acts on them with its own rights, as
/// Flagger does. Flux would apply them as that account, so the account must be allowed to
/// (create and patch them in their namespace, as the API server's authorizer answers): what it
/// may not declare fails the unit, naming it, and nothing of the unit is applied. Otherwise a
/// tenant could have fledge roll out in a namespace it may not write.
async fn tenant_may_configure(
    tenant: &AnyCluster,
    account: &str,
    unit: &SyncUnit,
) -> Result<(), (NotReady, Disposition)> {
    for key in unit.keys.iter().filter(|k| k.group == "flagger.app") {
        let resource = match key.kind.as_str() {
            "Canary" => "canaries",
            "MetricTemplate" => "metrictemplates",
            "AlertProvider" => "alertproviders",
            _ => continue,
        };
        let namespace = if key.namespace.is_empty() {
            "default"
        } else {
            key.namespace.as_str()
        };
        for verb in ["create", "patch"] {
            let refused = |message: String, disposition| {
                Err((NotReady::new(SyncReason::ApplyFailed, message), disposition))
            };
            match tenant
                .allowed(verb, "flagger.app", resource, namespace)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return refused(
                        format!(
                            "{key}: ServiceAccount {account} may not {verb} {resource}.flagger.app in namespace {namespace}, so Flux could not apply it as that account, and fledge does not act on it; nothing of this Kustomization is applied (grant the account that, or move the object)"
                        ),
                        Disposition::Stalled,
                    );
                }
                Err(e) => {
                    return refused(
                        format!(
                            "{key}: whether ServiceAccount {account} may {verb} it cannot be told: {}",
                            Chain(&e)
                        ),
                        e.disposition(),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Whether `unit` declares the Canary of release `key`.
fn declares_canary(unit: &SyncUnit, key: &ReleaseKey) -> bool {
    unit.keys.iter().any(|k| {
        let ns = if k.namespace.is_empty() {
            "default"
        } else {
            &k.namespace
        };
        k.kind == "Canary" && ReleaseKey::new(ns, &k.name) == *key
    })
}

/// A failed sync as the status says it, and whether trying again soon may help.
fn refusal(e: &SyncError) -> (NotReady, Disposition) {
    let reason = match e {
        SyncError::MassPrune { .. } | SyncError::DestructivePrune { .. } => {
            SyncReason::PruneRefused
        }
        _ => SyncReason::ApplyFailed,
    };
    let disposition = e.disposition();
    let why = NotReady::new(
        reason,
        format!(
            "sync failed, {}: {}",
            policy::retried(disposition),
            Chain(e)
        ),
    );
    (why, disposition)
}
