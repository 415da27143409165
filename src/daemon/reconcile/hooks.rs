//! A HelmRelease's hooks, run as Helm runs them around an install or an upgrade: when the
//! release changes (its chart, values or anything else it renders), its `pre-install` or
//! `pre-upgrade` hooks run before its objects are applied, and its `post-install` or
//! `post-upgrade` hooks once those are healthy; each hook is created, waited for (a Job until
//! complete, a Pod until it succeeded) and deleted as its `helm.sh/hook-delete-policy` says,
//! in Helm's order. A hook that fails fails the release, and a failed `pre-` hook means nothing
//! of the new release is applied. The release whose hooks ran whole is recorded in its
//! inventory, so a restart or a later sync of the same release runs none again, as a Helm
//! release not upgraded runs none. Objects Helm installed (taken over from helm-controller) are
//! adopted without running any hook: helm-controller would not upgrade a release it already
//! holds at the same revision.
//!
//! Hooks run on a task of their own, looked at on each of the unit's turns, so that a long Job
//! never holds up releases' ticks or other units.

use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use super::units::{Turn, in_unit};
use super::{Declared, Reconciler};
use crate::chain::Chain;
use crate::cluster::Cluster as _;
use crate::cluster::inventory;
use crate::daemon::edges::AnyCluster;
use crate::helm::hooks::{self, Action, Hook, Progress};
use crate::object::ObjectRef;
use crate::report::sync::{NotReady, SyncReason};
use crate::rollout::targets::SyncUnit;
use crate::rollout::targets::helm::UNIT_PREFIX;

/// How soon a unit whose hooks run is looked at again.
const RECHECK: Duration = Duration::from_secs(2);

/// How often a hook's object is read while it runs or goes.
const POLL: Duration = Duration::from_millis(500);

/// The annotation Helm sets on every object of a release it installed.
const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";

/// The hooks of one event of a release, running.
pub(super) struct HookRun {
    /// The digest of the release they run for.
    digest: String,
    action: Action,
    /// Whether they run after the release's objects were applied (`post-`).
    post: bool,
    task: JoinHandle<Result<(), String>>,
}

impl Reconciler {
    /// The turn of a HelmRelease unit whose objects hold hooks, while they run or once they
    /// failed, or once the `post-` hooks ran whole; `None` when the unit is applied (or waits
    /// for its health) as any other.
    pub(super) async fn hook_turn(&mut self, d: &Declared, i: usize) -> Option<Turn> {
        let unit = &d.units[i].unit;
        let objects = hooked(unit, d)?;
        let digest = super::units::digest(unit, &d.plain);
        if let Some(turn) = self.hooks_running(d, i, &digest).await {
            return Some(turn);
        }
        if self.released.get(&unit.name) == Some(&digest)
            || self
                .hooks_done
                .get(&unit.name)
                .is_some_and(|(g, _)| g == &digest)
            || self.waiting_for(unit, d).is_some()
        {
            return None;
        }
        let action = match self.action(unit, &objects, &digest).await {
            Ok(Some(action)) => action,
            Ok(None) => return None,
            Err(why) => return Some(Turn::stalled(d, i, self.interval(unit), why, false)),
        };
        let (pre, _) = action.events();
        let run = hooks::for_event(&objects, pre);
        if run.is_empty() {
            self.hooks_done.insert(unit.name.clone(), (digest, action));
            return None;
        }
        Some(self.start(d, i, digest, action, run, false))
    }

    /// After `turn`, which applied a hooked release whole (and healthy, when it waits for
    /// that): its `post-` hooks started, or the release recorded when it has none.
    pub(super) async fn after_apply(&mut self, d: &Declared, i: usize, turn: Turn) -> Turn {
        let unit = &d.units[i].unit;
        let Some(objects) = hooked(unit, d) else {
            return turn;
        };
        let digest = super::units::digest(unit, &d.plain);
        let action = match self.hooks_done.get(&unit.name) {
            Some((g, action)) if g == &digest && turn.outcome.is_ok() && turn.applied => *action,
            _ => return turn,
        };
        let (_, post) = action.events();
        let run = hooks::for_event(&objects, post);
        if run.is_empty() {
            self.record(unit, digest).await;
            return turn;
        }
        self.start(d, i, digest, action, run, true)
    }

    /// The turn of a unit whose hooks run (or just ended), if any run for `digest`; a run for
    /// another digest (the release changed meanwhile) is stopped.
    async fn hooks_running(&mut self, d: &Declared, i: usize, digest: &str) -> Option<Turn> {
        let unit = &d.units[i].unit;
        let run = self.hook_runs.remove(&unit.name)?;
        if run.digest != digest {
            run.task.abort();
            return None;
        }
        if !run.task.is_finished() {
            let turn = running(d, i, run.post, "its hooks run".to_owned());
            self.hook_runs.insert(unit.name.clone(), run);
            return Some(turn);
        }
        let result = run
            .task
            .await
            .unwrap_or_else(|e| Err(format!("the hooks' task ended: {e}")));
        let interval = self.interval(unit);
        match (result, run.post) {
            (Err(why), post) => {
                let applied = if post {
                    "its objects were applied"
                } else {
                    "nothing of the new release was applied, the cluster keeps what it had"
                };
                warn!(unit = %unit.name, error = %why, "a hook failed");
                let why = NotReady::new(SyncReason::ApplyFailed, format!("{why}; {applied}"));
                Some(Turn::stalled(d, i, interval, why, false))
            }
            (Ok(()), false) => {
                self.hooks_done
                    .insert(unit.name.clone(), (run.digest, run.action));
                None
            }
            (Ok(()), true) => {
                self.record(unit, run.digest).await;
                Some(Turn {
                    outcome: Ok(()),
                    applied: true,
                    next: Instant::now() + interval.mul_f64(0.9),
                    failures: 0,
                    urgent: false,
                    health_since: None,
                    put: true,
                })
            }
        }
    }

    /// Starts `hooks` of `unit` on a task of their own; the turn says which run.
    fn start(
        &mut self,
        d: &Declared,
        i: usize,
        digest: String,
        action: Action,
        hooks: Vec<Hook>,
        post: bool,
    ) -> Turn {
        let unit = &d.units[i].unit;
        let (pre, after) = action.events();
        let event = if post { after } else { pre };
        let names: Vec<String> = hooks.iter().map(Hook::describe).collect();
        let message = format!("running its {event} hooks: {}", names.join(", "));
        let cluster = match self.tenant(unit.service_account.as_deref()) {
            Ok(c) => c,
            Err((why, _)) => return Turn::stalled(d, i, self.interval(unit), why, false),
        };
        info!(unit = %unit.name, event, hooks = %names.join(", "), "running hooks");
        let task = tokio::spawn(run(cluster, hooks, event, unit.timeout));
        self.hook_runs.insert(
            unit.name.clone(),
            HookRun {
                digest,
                action,
                post,
                task,
            },
        );
        running(d, i, post, message)
    }

    /// What Helm would do to the release the unit holds now: install it (nothing of it in the
    /// cluster), upgrade it, or nothing (`None`: recorded already, or installed by Helm and
    /// adopted, remembered as recorded).
    async fn action(
        &mut self,
        unit: &SyncUnit,
        objects: &[Value],
        digest: &str,
    ) -> Result<Option<Action>, NotReady> {
        let cannot = |e: crate::cluster::Error| {
            NotReady::new(
                SyncReason::ApplyFailed,
                format!(
                    "cannot read what the release's inventory records: {}",
                    Chain(&e)
                ),
            )
        };
        let home = self.home(unit);
        let own = &self.exec.cluster;
        let stored = own.get(&home.configmap()).await.map_err(cannot)?;
        let recorded = stored
            .as_ref()
            .and_then(|cm| cm["data"]["release"].as_str().map(str::to_owned));
        if let Some(r) = recorded {
            let same = r == digest;
            self.released.insert(unit.name.clone(), r);
            if same {
                return Ok(None);
            }
        }
        if stored.is_some() {
            return Ok(Some(Action::Upgrade));
        }
        let first = objects
            .iter()
            .filter(|o| !hooks::is_hook(o))
            .find_map(ObjectRef::of);
        let live = match first {
            Some(r) => own.get(&r).await.map_err(cannot)?,
            None => None,
        };
        match live {
            Some(o) if o["metadata"]["annotations"][HELM_RELEASE_NAME].is_string() => {
                info!(unit = %unit.name, "the release was installed by Helm: adopted, no hook runs");
                self.released.insert(unit.name.clone(), digest.to_owned());
                Ok(None)
            }
            Some(_) => Ok(Some(Action::Upgrade)),
            None => Ok(Some(Action::Install)),
        }
    }

    /// Records in `unit`'s inventory that the release `digest` ran its hooks whole. Remembered
    /// even when the write fails (said in the log): the next sync of the unit writes it again.
    async fn record(&mut self, unit: &SyncUnit, digest: String) {
        self.hooks_done.remove(&unit.name);
        self.released.insert(unit.name.clone(), digest);
        let home = self.home(unit);
        let entries = self
            .inventories
            .get(&unit.inventory)
            .cloned()
            .unwrap_or_default();
        if let Err(e) = inventory::record_release(&self.exec.cluster, &home, &entries).await {
            warn!(unit = %unit.name, error = %Chain(&e), "cannot record the release in its inventory; written at its next sync");
        }
    }
}

/// The objects of `unit` when it is a HelmRelease's and some are hooks.
fn hooked(unit: &SyncUnit, d: &Declared) -> Option<Vec<Value>> {
    if !unit.name.starts_with(UNIT_PREFIX) || unit.hold.is_some() {
        return None;
    }
    let objects: Vec<Value> = d
        .plain
        .iter()
        .filter(|o| in_unit(unit, o))
        .cloned()
        .collect();
    objects.iter().any(hooks::is_hook).then_some(objects)
}

/// The turn of a unit whose hooks run: looked at again soon.
fn running(d: &Declared, i: usize, post: bool, message: String) -> Turn {
    Turn {
        outcome: Err(NotReady::new(SyncReason::Progressing, message)),
        applied: false,
        next: Instant::now() + RECHECK,
        failures: d.units[i].failures,
        urgent: true,
        health_since: None,
        put: post,
    }
}

/// Runs `hooks` of `event` one after the other as Helm's `execHook` does, within `timeout`;
/// `Err` names the hook that failed and why.
async fn run(
    cluster: AnyCluster,
    hooks: Vec<Hook>,
    event: &'static str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(&cluster, h, deadline, timeout).await {
            // Helm deletes the failed hook under `hook-failed`, those that ran under
            // `hook-succeeded`; what cannot be deleted stays, said in the log.
            let ran = hooks[..i].iter().filter(|h| h.deleted_on(hooks::SUCCEEDED));
            let failed = h.deleted_on(hooks::FAILED).then_some(h);
            for gone in failed.into_iter().chain(ran) {
                if let Err(e) = remove(&cluster, gone, deadline).await {
                    warn!(hook = %gone.describe(), error = %e, "cannot delete a hook");
                }
            }
            return Err(format!("{event} hook {} failed: {e}", h.describe()));
        }
    }
    for h in hooks
        .iter()
        .rev()
        .filter(|h| h.deleted_on(hooks::SUCCEEDED))
    {
        remove(&cluster, h, deadline)
            .await
            .map_err(|e| format!("{event} hook {}: {e}", h.describe()))?;
    }
    Ok(())
}

/// Creates one hook (deleting the one before it first under `before-hook-creation`) and
/// waits until it is done.
async fn run_one(
    cluster: &AnyCluster,
    h: &Hook,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), String> {
    if h.deleted_on(hooks::BEFORE_CREATION) {
        remove(cluster, h, deadline).await?;
    }
    let r = ObjectRef::of(&h.object).ok_or("it has no name")?;
    cluster
        .apply(std::slice::from_ref(&h.object))
        .await
        .map_err(|e| Chain(&e).to_string())?;
    loop {
        let live = cluster.get(&r).await.map_err(|e| Chain(&e).to_string())?;
        match live.as_ref().map(hooks::progress) {
            Some(Progress::Done) => return Ok(()),
            Some(Progress::Failed(why)) => return Err(why),
            Some(Progress::Running) => {}
            None => return Err("it was deleted while it ran".to_owned()),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not done within spec.timeout ({} s)",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes a hook and waits until it is gone (a CustomResourceDefinition is never deleted, as
/// Helm never deletes one: what it defines would go with it).
async fn remove(cluster: &AnyCluster, h: &Hook, deadline: Instant) -> Result<(), String> {
    if h.object["kind"] == "CustomResourceDefinition" {
        return Ok(());
    }
    let r = ObjectRef::of(&h.object).ok_or("it has no name")?;
    cluster
        .delete(&r)
        .await
        .map_err(|e| Chain(&e).to_string())?;
    while cluster
        .get(&r)
        .await
        .map_err(|e| Chain(&e).to_string())?
        .is_some()
    {
        if Instant::now() >= deadline {
            return Err("the one before it is not gone within spec.timeout".to_owned());
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
