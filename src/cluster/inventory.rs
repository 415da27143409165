//! Sync of plain objects and the one prune implementation: apply them all (all or nothing),
//! then prune what fledge applied before and the repository no longer declares. What fledge
//! applied is recorded in an inventory ConfigMap, so only fledge's own objects are ever pruned;
//! an object annotated `fledge.dev/prune: disabled` (or Flux's
//! `kustomize.toolkit.fluxcd.io/prune: disabled`) is left in place. Works on any [`Cluster`].
//!
//! The prune guard ([`PruneGuard`]) counts a prune by its consequence and refuses a commit that
//! would prune too much, or a Namespace or CRD without an allowance; only objects that exist are
//! counted (what the server refused before was never applied). Unlike Flux, which prunes a
//! Namespace dropped from Git with everything in it, fledge asks for the allowance first.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Cluster, Error};
use crate::keys::{self, ALLOW_PRUNE_TRAILER, INVENTORY, PRUNE_OPT_OUT};
use crate::object::{ObjectKey, ObjectRef, flux_says};

/// One entry of the inventory: enough to find and delete the object.
fn entry(o: &Value) -> Option<String> {
    let k = ObjectKey::of(o)?;
    Some(format!(
        "{}|{}|{}|{}",
        o["apiVersion"].as_str()?,
        k.kind,
        k.namespace,
        k.name
    ))
}

fn parse_entry(e: &str) -> Option<ObjectRef> {
    let mut parts = e.split('|');
    let (api, kind, ns, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(ObjectRef::new(api, kind, ns, name))
}

/// Where a sync unit's inventory ConfigMap lives, and how the unit prunes.
#[derive(Debug, Clone)]
pub struct Home {
    pub namespace: String,
    /// The ConfigMap's name: [`INVENTORY`] for the root path, `fledge-inventory.<ns>.<name>`
    /// for a Flux Kustomization.
    pub name: String,
    /// The unit's name (`root`, or the Kustomization's `<namespace>/<name>`), recorded in it.
    pub unit: String,
    /// Whether what the unit dropped is deleted (Flux's `spec.prune`); the inventory is kept
    /// true either way.
    pub prune: bool,
    /// What becomes of the unit's objects once it is removed from the repository, recorded in
    /// the inventory (Flux's `spec.deletionPolicy`), since by then its spec is gone.
    pub deletion: String,
    /// The ServiceAccount (`<namespace>/<name>`) it applies as, recorded so that its removal
    /// prunes with the same rights.
    pub service_account: Option<String>,
    /// Flux's `spec.force`: an object whose update the server refuses for an immutable field
    /// is deleted and created anew (as is one annotated `kustomize.toolkit.fluxcd.io/force:
    /// enabled` in any unit).
    pub force: bool,
    /// Flux's `spec.ignore`: fields kept as the cluster has them (see [`super::drift`]).
    pub ignore: super::drift::IgnoreRules,
    /// A HelmRelease's unit: the digest of the release whose hooks last ran whole (recorded in
    /// the inventory, so that a restart does not run them again).
    pub release: Option<String>,
}

impl Home {
    /// fledge's one inventory in `namespace`, for a repository without Kustomizations.
    #[must_use]
    pub fn root(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: INVENTORY.to_owned(),
            unit: "root".to_owned(),
            prune: true,
            deletion: "MirrorPrune".to_owned(),
            service_account: None,
            force: false,
            ignore: Arc::new([]),
            release: None,
        }
    }

    /// The inventory ConfigMap.
    #[must_use]
    pub fn configmap(&self) -> ObjectRef {
        ObjectRef::new("v1", "ConfigMap", &self.namespace, &self.name)
    }
}

/// Writes the inventory ConfigMap.
async fn write(
    cluster: &impl Cluster,
    home: &Home,
    entries: BTreeSet<&String>,
) -> Result<(), Error> {
    let list: Vec<&String> = entries.into_iter().collect();
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": home.name, "namespace": home.namespace,
                     "labels": {keys::MANAGED_BY.0: keys::MANAGED_BY.1}},
        "data": {"objects": serde_json::to_string(&list).unwrap_or_default(),
                 "unit": home.unit,
                 "prune": home.prune.to_string(),
                 "deletionPolicy": home.deletion,
                 "serviceAccount": home.service_account.clone().unwrap_or_default()}});
    if let Some(release) = &home.release {
        cm["data"]["release"] = release.as_str().into();
    }
    cluster.apply(&[cm]).await?;
    Ok(())
}

/// Records in `home`'s inventory (holding `entries`) the release `home.release` names: its
/// hooks ran whole.
pub async fn record_release(
    cluster: &impl Cluster,
    home: &Home,
    entries: &BTreeSet<String>,
) -> Result<(), Error> {
    write(cluster, home, entries.iter().collect()).await
}

/// The release recorded in `home`'s inventory ConfigMap (see [`Home::release`]), if any.
pub async fn recorded_release(
    cluster: &impl Cluster,
    home: &Home,
) -> Result<Option<String>, Error> {
    let stored = cluster.get(&home.configmap()).await?;
    Ok(stored.and_then(|cm| cm["data"]["release"].as_str().map(str::to_owned)))
}

/// The inventory a ConfigMap holds.
fn entries_of(cm: &Value) -> BTreeSet<String> {
    cm["data"]["objects"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Why a sync did nothing, or failed part-way.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Cluster(#[from] Error),
    /// A Secret the API server would refuse; its values are never quoted.
    #[error("sync refused, nothing was applied or pruned: {}", .0.join("; "))]
    InvalidSecrets(Vec<String>),
    /// The commit would prune more of what fledge applied than the guard allows.
    #[error(
        "sync refused: this commit would prune {prune} of the {held} objects fledge applied ({share:.0}%{why}): nothing was applied or pruned. If the repository really drops them, raise --max-prune-share (1 turns the guard off) for this sync; if not, check --path and the last commit. To be pruned: {names}"
    )]
    MassPrune {
        prune: usize,
        held: usize,
        share: f64,
        why: String,
        names: String,
    },
    /// The commit would prune a Namespace (and everything in it) or a CustomResourceDefinition
    /// (and every object of its kind) without an allowance.
    #[error(
        "sync refused: this commit would delete {}: nothing was applied or pruned. If that is meant, allow it in a commit message with the trailer `{ALLOW_PRUNE_TRAILER}: {}` (an empty commit will do: git commit --allow-empty) or run with --allow-destructive-prune; if not, put it back in Git (a dropped resources line in a kustomization.yaml, say)",
        .what.join("; "),
        .allow.join(", ")
    )]
    DestructivePrune {
        /// Each object and what would go with it.
        what: Vec<String>,
        /// The allowance to write for each (`Namespace/team-a`).
        allow: Vec<String>,
    },
    /// An object deleted to be created anew (`force`) did not go in time.
    #[error(
        "{0}: deleted to be created anew (force), and still there after {wait:?}: look at its finalizers; it is created again once it is gone",
        wait = RECREATE_WAIT.0
    )]
    RecreateStalled(String),
}

impl SyncError {
    /// Whether trying again soon may help: only when the API server did not answer; a commit
    /// the guard or the checks refuse waits for another commit (or flag).
    #[must_use]
    pub fn disposition(&self) -> crate::chain::Disposition {
        match self {
            Self::Cluster(e) => e.disposition(),
            _ => crate::chain::Disposition::Stalled,
        }
    }
}

/// The prune guard: the largest share (0 to 1) of the inventory one sync may prune, counted by
/// consequence (a Namespace counts with everything fledge applied in it); a render that declares
/// nothing at all never prunes below 1. A Namespace or a CustomResourceDefinition is pruned only
/// when allowed: by `destructive` (`--allow-destructive-prune`, Flux's behaviour) or by name in
/// `allowed` (the commits' `Fledge-Allow-Prune` trailers).
#[derive(Debug, Clone, PartialEq)]
pub struct PruneGuard {
    pub max_share: f64,
    /// Namespaces and CRDs are pruned like any object.
    pub destructive: bool,
    /// Namespaces and CRDs this sync may prune, as `Namespace/<name>` or
    /// `CustomResourceDefinition/<name>`.
    pub allowed: BTreeSet<String>,
}

impl Default for PruneGuard {
    fn default() -> Self {
        Self {
            max_share: 0.5,
            destructive: false,
            allowed: BTreeSet::new(),
        }
    }
}

/// Kinds whose deletion takes other objects with it.
const DEFINITIONS: &[&str] = &["Namespace", "CustomResourceDefinition"];

impl PruneGuard {
    /// Refuses pruning `prune` of `held` when `declared` objects remain: more than the share
    /// (and more than one object), or everything because the render declares nothing.
    fn check(&self, prune: &[String], held: usize, declared: usize) -> Result<(), SyncError> {
        if prune.is_empty() || self.max_share >= 1.0 {
            return Ok(());
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "object counts are far below 2^52"
        )]
        let share = prune.len() as f64 / held.max(1) as f64;
        let why = if declared == 0 {
            ", and the commit declares no object at all".to_owned()
        } else if share > self.max_share && prune.len() > 1 {
            format!(", more than --max-prune-share {}", self.max_share)
        } else {
            return Ok(());
        };
        Err(SyncError::MassPrune {
            prune: prune.len(),
            held,
            share: share * 100.0,
            why,
            names: prune.join(", "),
        })
    }

    /// Whether pruning this Namespace or CRD is allowed.
    fn allows(&self, k: &ObjectKey) -> bool {
        self.destructive
            || self.allowed.contains("*")
            || self.allowed.contains(&format!("{}/{}", k.kind, k.name))
    }
}

/// The allowances in commit messages: every `Fledge-Allow-Prune: Kind/name[, Kind/name…]`
/// trailer line (`*` allows every Namespace and CRD).
#[must_use]
pub fn allowances<'a>(messages: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let prefix = format!("{ALLOW_PRUNE_TRAILER}:");
    messages
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub applied: usize,
    pub pruned: Vec<String>,
    /// The inventory it wrote.
    pub inventory: BTreeSet<String>,
    /// The inventory ConfigMap was missing and the remembered one stood in for it.
    pub inventory_restored: bool,
    /// The inventory ConfigMap was missing and nothing stood in for it: what an earlier sync
    /// applied and the repository dropped since cannot be told (see [`applied_elsewhere`]).
    pub inventory_missing: bool,
    /// The objects deleted and created anew for a change of an immutable field (Flux's
    /// `force`).
    pub recreated: Vec<String>,
}

/// Applies `objects` and prunes what the previous inventory held and `objects` and `keep`
/// do not; refuses (before applying anything) when `guard` forbids pruning that much.
pub async fn sync(
    cluster: &impl Cluster,
    inventory_namespace: &str,
    objects: &[Value],
    keep: &BTreeSet<ObjectKey>,
    guard: PruneGuard,
) -> Result<Synced, SyncError> {
    let home = Home::root(inventory_namespace);
    sync_with(cluster, &home, objects, keep, &guard, None).await
}

/// [`sync`], with the inventory this process last wrote: it stands in for the inventory
/// ConfigMap when that is gone (deleted by hand), so that what the repository dropped meanwhile
/// is still pruned.
pub async fn sync_with(
    cluster: &impl Cluster,
    home: &Home,
    objects: &[Value],
    keep: &BTreeSet<ObjectKey>,
    guard: &PruneGuard,
    remembered: Option<&BTreeSet<String>>,
) -> Result<Synced, SyncError> {
    sync_as(cluster, cluster, home, objects, keep, guard, remembered).await
}

/// [`sync_with`], the objects applied, read and pruned as `tenant` (a Kustomization's
/// `serviceAccountName`, impersonated), the inventory kept as `own` (fledge itself).
pub async fn sync_as<C: Cluster>(
    own: &C,
    cluster: &C,
    home: &Home,
    objects: &[Value],
    keep: &BTreeSet<ObjectKey>,
    guard: &PruneGuard,
    remembered: Option<&BTreeSet<String>>,
) -> Result<Synced, SyncError> {
    check_secrets(objects)?;
    let stored = own.get(&home.configmap()).await?;
    let inventory_restored = stored.is_none() && remembered.is_some();
    let inventory_missing = stored.is_none() && remembered.is_none();
    let previous: BTreeSet<String> = match stored {
        Some(cm) => entries_of(&cm),
        None => remembered.cloned().unwrap_or_default(),
    };
    let current: BTreeSet<String> = objects.iter().filter_map(entry).collect();
    let (mut gone, missing) = if home.prune {
        prunable(own, cluster, &previous, &current, keep).await?
    } else {
        (Vec::new(), 0)
    };
    let held = previous.len() - missing;
    // Counted by consequence: what fledge applied inside a pruned Namespace goes with it.
    let mut names: Vec<String> = gone.iter().map(|(_, k, _)| k.to_string()).collect();
    for (_, ns, _) in gone.iter().filter(|(_, k, _)| k.kind == "Namespace") {
        names.extend(
            previous
                .iter()
                .filter_map(|e| parse_entry(e))
                .map(|r| r.key())
                .filter(|k| k.namespace == ns.name && !names.contains(&k.to_string()))
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
        );
    }
    guard.check(&names, held, objects.len() + keep.len())?;
    let refused: Vec<&ObjectKey> = gone
        .iter()
        .map(|(_, k, _)| k)
        .filter(|k| DEFINITIONS.contains(&k.kind.as_str()) && !guard.allows(k))
        .collect();
    if !refused.is_empty() {
        let mut what = Vec::new();
        for k in &refused {
            what.push(consequence(cluster, k, &gone).await);
        }
        return Err(SyncError::DestructivePrune {
            what,
            allow: refused
                .iter()
                .map(|k| format!("{}/{}", k.kind, k.name))
                .collect(),
        });
    }
    // Recorded before the apply: an apply that fails part-way (a real server applies
    // Namespaces and CRDs before the rest) leaves nothing applied that is not in the inventory.
    if !current.is_subset(&previous) || inventory_restored {
        let union: BTreeSet<&String> = previous.iter().chain(&current).collect();
        write(own, home, union).await?;
    }
    let applied = applied_as_flux_says(cluster, objects, &home.ignore).await?;
    let recreated = recreate_forced(cluster, &applied, home.force).await?;
    cluster.apply_from_git(&applied).await?;
    let mut pruned = Vec::new();
    // Definitions last: what they take with them is deleted by name first.
    gone.sort_by_key(|(_, k, _)| DEFINITIONS.contains(&k.kind.as_str()));
    for (object, k, _) in gone {
        cluster.delete(&object).await?;
        pruned.push(k.to_string());
    }
    write(own, home, current.iter().collect()).await?;
    Ok(Synced {
        applied: objects.len(),
        pruned,
        inventory: current,
        inventory_restored,
        inventory_missing,
        recreated,
    })
}

/// How long an object deleted for `force` may take to go (its finalizers) before the sync
/// fails, saying so; and how often it is looked at meanwhile.
const RECREATE_WAIT: (Duration, Duration) = (Duration::from_secs(60), Duration::from_millis(250));

/// Flux's `force` (`spec.force`, or the object's `kustomize.toolkit.fluxcd.io/force: enabled`):
/// an existing object whose update the server refuses because a field it holds cannot change
/// is deleted (background propagation) and, once gone, created anew by the apply that
/// follows. Narrower than Flux, which takes any `Invalid` or `Conflict` refusal for an
/// immutable field: only a refusal that says so (`immutable`, `may not change once set`), and
/// only once the rest of the batch would be accepted, so that nothing is deleted for an apply
/// that fails anyway. Returns what it deleted.
async fn recreate_forced(
    cluster: &impl Cluster,
    objects: &[Value],
    force_all: bool,
) -> Result<Vec<String>, SyncError> {
    let forced: Vec<&Value> = objects
        .iter()
        .filter(|o| force_all || flux_says(o, keys::FLUX_FORCE, "enabled"))
        .collect();
    if forced.is_empty() || cluster.dry_run(objects).await.is_ok() {
        return Ok(Vec::new());
    }
    let mut stale = Vec::new();
    for o in forced {
        let Some(r) = ObjectRef::of(o) else { continue };
        if cluster.get(&r).await?.is_none() {
            continue;
        }
        if let Err(e) = cluster.dry_run(std::slice::from_ref(o)).await
            && immutable(&e)
        {
            stale.push(r);
        }
    }
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    let rest: Vec<Value> = objects
        .iter()
        .filter(|o| ObjectRef::of(o).is_none_or(|r| !stale.contains(&r)))
        .cloned()
        .collect();
    cluster.dry_run(&rest).await?;
    let mut recreated = Vec::new();
    for r in stale {
        cluster.delete(&r).await?;
        let deadline = tokio::time::Instant::now() + RECREATE_WAIT.0;
        while cluster.get(&r).await?.is_some() {
            if tokio::time::Instant::now() >= deadline {
                return Err(SyncError::RecreateStalled(r.to_string()));
            }
            tokio::time::sleep(RECREATE_WAIT.1).await;
        }
        recreated.push(r.to_string());
    }
    Ok(recreated)
}

/// Whether a refusal says a field cannot change.
fn immutable(e: &Error) -> bool {
    let text = e.to_string();
    e.fault() == crate::cluster::Fault::Refused
        && (text.contains("immutable") || text.contains("may not change once set"))
}

/// The inventory of a Flux Kustomization as the cluster holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The ConfigMap's name.
    pub name: String,
    /// The unit's name, as it recorded it.
    pub unit: String,
    pub entries: BTreeSet<String>,
    /// What the unit asked when it last synced.
    pub prune: bool,
    pub deletion: String,
    pub service_account: Option<String>,
}

/// The inventories of Flux Kustomizations in `namespace` that [`record_units`] named in the
/// record `record` (the root path's is not among them); one named but gone is left out.
pub async fn unit_inventories(
    cluster: &impl Cluster,
    namespace: &str,
    record: &str,
) -> Result<Vec<Stored>, Error> {
    let mut out = Vec::new();
    for name in recorded_units(cluster, namespace, record).await? {
        let Some(cm) = cluster
            .get(&ObjectRef::new("v1", "ConfigMap", namespace, &name))
            .await?
        else {
            continue;
        };
        out.push(Stored {
            unit: cm["data"]["unit"].as_str().unwrap_or(&name).to_owned(),
            entries: entries_of(&cm),
            prune: cm["data"]["prune"] != "false",
            deletion: cm["data"]["deletionPolicy"]
                .as_str()
                .unwrap_or("MirrorPrune")
                .to_owned(),
            service_account: cm["data"]["serviceAccount"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            name,
        });
    }
    Ok(out)
}

/// The names of the Kustomizations' inventories recorded in `namespace`, in the ConfigMap
/// `record` ([`keys::UNIT_INVENTORIES`], a shard's own with its name appended).
pub async fn recorded_units(
    cluster: &impl Cluster,
    namespace: &str,
    record: &str,
) -> Result<BTreeSet<String>, Error> {
    let list = cluster
        .get(&ObjectRef::new("v1", "ConfigMap", namespace, record))
        .await?;
    Ok(list.as_ref().map(entries_of).unwrap_or_default())
}

/// Records the names of the Kustomizations' inventories in `namespace`, in the ConfigMap
/// `record`.
pub async fn record_units(
    cluster: &impl Cluster,
    namespace: &str,
    record: &str,
    names: &BTreeSet<String>,
) -> Result<(), Error> {
    let list: Vec<&String> = names.iter().collect();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": record, "namespace": namespace,
                     "labels": {keys::MANAGED_BY.0: keys::MANAGED_BY.1}},
        "data": {"objects": serde_json::to_string(&list).unwrap_or_default()}});
    cluster.apply(&[cm]).await?;
    Ok(())
}

/// Takes down the inventory of a unit removed from the repository: first, as its recorded
/// `deletionPolicy` says, prunes what it applied and `keep` does not hold (`MirrorPrune` when
/// it pruned, `Delete` and `WaitForTermination` always, `Orphan` never), under `guard`.
pub async fn retire<C: Cluster>(
    own: &C,
    cluster: &C,
    namespace: &str,
    stored: &Stored,
    keep: &BTreeSet<ObjectKey>,
    guard: &PruneGuard,
) -> Result<Synced, SyncError> {
    let home = Home {
        namespace: namespace.to_owned(),
        name: stored.name.clone(),
        unit: stored.unit.clone(),
        prune: match stored.deletion.as_str() {
            "Orphan" => false,
            "Delete" | "WaitForTermination" => true,
            _ => stored.prune,
        },
        deletion: stored.deletion.clone(),
        service_account: stored.service_account.clone(),
        force: false,
        ignore: Arc::new([]),
        release: None,
    };
    let synced = sync_as(own, cluster, &home, &[], keep, guard, None).await?;
    own.delete(&home.configmap()).await?;
    Ok(synced)
}

/// The objects to apply, as Flux's per-object annotations in Git say: one annotated
/// `kustomize.toolkit.fluxcd.io/ssa: Ignore` (or `kustomize.toolkit.fluxcd.io/reconcile:
/// disabled`) is never applied, one annotated `…/ssa: IfNotPresent` only while it does not exist;
/// both stay in the inventory, so neither is pruned. The fields the unit's drift-ignore rules
/// name keep the cluster's values (see [`super::drift`]).
async fn applied_as_flux_says(
    cluster: &impl Cluster,
    objects: &[Value],
    ignore: &[super::drift::IgnoreRule],
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::with_capacity(objects.len());
    for o in objects {
        if flux_says(o, keys::FLUX_SSA, "Ignore")
            || flux_says(o, keys::FLUX_OPT_OUT[0].0, keys::FLUX_OPT_OUT[0].1)
        {
            continue;
        }
        let if_not_present = flux_says(o, keys::FLUX_SSA, "IfNotPresent");
        let targeted = ignore
            .iter()
            .any(|r| r.target.as_ref().is_none_or(|t| t.matches(o)));
        let live = match ObjectRef::of(o) {
            Some(r) if if_not_present || targeted => cluster.get(&r).await?,
            _ => None,
        };
        if if_not_present && live.is_some() {
            continue;
        }
        let mut o = o.clone();
        if let Some(live) = &live {
            // As the apply will find it: with what fledge takes over first its own.
            let live = super::takeover::folded(&o, live, keys::FIELD_MANAGER);
            super::drift::keep_live(&mut o, &live, ignore, keys::FIELD_MANAGER);
        }
        out.push(o);
    }
    Ok(out)
}

/// The objects that fledge applied (its field manager owns them by server-side apply) and that
/// `expected` says nothing of: when the inventory is lost, what an earlier sync applied and the
/// repository dropped since. Lists every kind the cluster serves once; kinds it may not list
/// are skipped. A cluster that keeps no managed fields (the simulated one) finds none.
pub async fn applied_elsewhere(
    cluster: &impl Cluster,
    expected: impl Fn(&ObjectKey, &Value) -> bool,
) -> Result<Vec<ObjectKey>, Error> {
    let mut out = Vec::new();
    for (api_version, kind) in cluster.kinds().await? {
        let Ok(objects) = cluster.list(&api_version, &kind, "").await else {
            continue;
        };
        out.extend(
            objects
                .iter()
                .filter(|o| crate::object::owned::applied_by(o, keys::FIELD_MANAGER).is_some())
                .filter_map(|o| ObjectKey::of(o).filter(|k| !expected(k, o))),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Refuses Secrets the API server would refuse, naming the Secret and field, never a value.
fn check_secrets(objects: &[Value]) -> Result<(), SyncError> {
    let invalid: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "Secret" && o["apiVersion"] == "v1")
        .flat_map(|o| {
            let who = ObjectKey::of(o).map_or_else(|| "Secret".to_owned(), |k| k.to_string());
            crate::object::secret_problems(o)
                .into_iter()
                .map(move |p| format!("{who}: {p}"))
        })
        .collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(SyncError::InvalidSecrets(invalid))
    }
}

/// An object to prune: how to address it, its key and its live state.
type Prunable = (ObjectRef, ObjectKey, Value);

/// What `previous` holds and `current` and `keep` do not, as it exists in the cluster, and how
/// many of those do not exist. Only what exists is pruned or counted: an object the server
/// refused before (recorded, never applied) or deleted by hand simply leaves the inventory; one
/// annotated to opt out of pruning stays.
async fn prunable<C: Cluster>(
    own: &C,
    cluster: &C,
    previous: &BTreeSet<String>,
    current: &BTreeSet<String>,
    keep: &BTreeSet<ObjectKey>,
) -> Result<(Vec<Prunable>, usize), Error> {
    let candidates: Vec<(ObjectRef, ObjectKey)> = previous
        .difference(current)
        .filter_map(|e| parse_entry(e))
        .map(|r| {
            let k = r.key();
            (r, k)
        })
        .filter(|(_, k)| !keep.contains(k))
        .collect();
    let mut gone = Vec::new();
    let mut missing = 0;
    for (object, k) in candidates {
        let live = match cluster.get(&object).await {
            // A tenant may not read what it was refused and never applied (the inventory
            // records an apply before it is tried): fledge looks as itself whether it exists.
            Err(e) if e.fault() == super::Fault::Forbidden => match own.get(&object).await? {
                None => None,
                Some(_) => return Err(e),
            },
            read => read?,
        };
        match live {
            None => missing += 1,
            Some(live)
                if PRUNE_OPT_OUT
                    .iter()
                    .any(|a| live["metadata"]["annotations"][*a] == "disabled") => {}
            Some(live) => gone.push((object, k, live)),
        }
    }
    Ok((gone, missing))
}

/// Kinds listed to say what a Namespace's deletion would take with it.
const CONTENTS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("batch/v1", "CronJob"),
];

/// How many objects a refusal names before it counts the rest.
const NAMED: usize = 12;

/// A Namespace or CRD, and what its deletion would take with it: for a Namespace, what it holds
/// of the common kinds; for a CRD, how many objects of its kind the cluster holds.
async fn consequence(cluster: &impl Cluster, k: &ObjectKey, gone: &[Prunable]) -> String {
    if k.kind == "Namespace" {
        let mut inside = Vec::new();
        for (api, kind) in CONTENTS {
            if let Ok(list) = cluster.list(api, kind, &k.name).await {
                inside.extend(
                    list.iter()
                        .filter_map(ObjectKey::of)
                        .map(|o| format!("{kind} {}", o.name)),
                );
            }
        }
        let shown: Vec<&String> = inside.iter().take(NAMED).collect();
        let more = inside.len().saturating_sub(NAMED);
        return format!(
            "Namespace {} and everything in it ({}{}{})",
            k.name,
            if inside.is_empty() {
                "nothing of the common kinds found".to_owned()
            } else {
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            if inside.is_empty() {
                ""
            } else {
                ", among others"
            }
        );
    }
    let live = gone
        .iter()
        .find(|(_, g, _)| g == k)
        .map(|(_, _, live)| live);
    let spec = live.map(|l| &l["spec"]);
    let group = spec.and_then(|s| s["group"].as_str()).unwrap_or("");
    let kind = spec.and_then(|s| s["names"]["kind"].as_str()).unwrap_or("");
    let version = spec
        .and_then(|s| s["versions"].as_array())
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or("");
    let count = match cluster.list(&format!("{group}/{version}"), kind, "").await {
        Ok(list) => format!("{} found", list.len()),
        Err(e) => format!("how many could not be listed: {e}"),
    };
    format!(
        "CustomResourceDefinition {} and every {kind} in the cluster ({count})",
        k.name
    )
}

#[cfg(test)]
mod tests;
