//! Sync of plain objects and the one prune implementation: apply them all (all or nothing),
//! then prune what fledge applied before and the repository no longer declares. What fledge
//! applied is recorded in an inventory ConfigMap, so only fledge's own objects are ever pruned;
//! an object annotated `fledge.dev/prune: disabled` (or Flux's
//! `kustomize.toolkit.fluxcd.io/prune: disabled`) is left in place. Works on any [`Cluster`].

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Cluster, Error};
use crate::keys::{self, INVENTORY, PRUNE_OPT_OUT};
use crate::object::ObjectKey;

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

fn parse_entry(e: &str) -> Option<Value> {
    let mut parts = e.split('|');
    let (api, kind, ns, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let mut meta = json!({"name": name});
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    Some(json!({"apiVersion": api, "kind": kind, "metadata": meta}))
}

/// Writes the inventory ConfigMap.
async fn write(
    cluster: &impl Cluster,
    namespace: &str,
    entries: BTreeSet<&String>,
) -> Result<(), Error> {
    let list: Vec<&String> = entries.into_iter().collect();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": INVENTORY, "namespace": namespace,
                     "labels": {keys::MANAGED_BY.0: keys::MANAGED_BY.1}},
        "data": {"objects": serde_json::to_string(&list).unwrap_or_default()}});
    cluster.apply(&[cm]).await?;
    Ok(())
}

/// Why a sync did nothing, or failed part-way.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Cluster(#[from] Error),
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
}

/// The prune guard: the largest share (0 to 1) of the inventory one sync may prune; a render
/// that declares nothing at all never prunes below 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneGuard {
    pub max_share: f64,
}

impl Default for PruneGuard {
    fn default() -> Self {
        Self { max_share: 0.5 }
    }
}

impl PruneGuard {
    /// Refuses pruning `prune` of `held` when `declared` objects remain: more than the share
    /// (and more than one object), or everything because the render declares nothing.
    fn check(self, prune: &[String], held: usize, declared: usize) -> Result<(), SyncError> {
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
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub applied: usize,
    pub pruned: Vec<String>,
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
    let previous: BTreeSet<String> = cluster
        .get("v1", "ConfigMap", inventory_namespace, INVENTORY)
        .await?
        .and_then(|cm| {
            cm["data"]["objects"]
                .as_str()
                .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        })
        .unwrap_or_default()
        .into_iter()
        .collect();
    let current: BTreeSet<String> = objects.iter().filter_map(entry).collect();
    let gone: Vec<(Value, ObjectKey)> = previous
        .difference(&current)
        .filter_map(|e| parse_entry(e))
        .filter_map(|stub| ObjectKey::of(&stub).map(|k| (stub, k)))
        .filter(|(_, k)| !keep.contains(k))
        .collect();
    let names: Vec<String> = gone.iter().map(|(_, k)| k.to_string()).collect();
    guard.check(&names, previous.len(), objects.len() + keep.len())?;
    // Recorded before the apply: an apply that fails part-way (a real server applies
    // Namespaces and CRDs before the rest) leaves nothing applied that is not in the inventory.
    if !current.is_subset(&previous) {
        let union: BTreeSet<&String> = previous.iter().chain(&current).collect();
        write(cluster, inventory_namespace, union).await?;
    }
    cluster.apply(objects).await?;
    let mut pruned = Vec::new();
    for (stub, k) in gone {
        let live = cluster
            .get(
                stub["apiVersion"].as_str().unwrap_or(""),
                &k.kind,
                &k.namespace,
                &k.name,
            )
            .await?;
        let Some(live) = live else { continue };
        if PRUNE_OPT_OUT
            .iter()
            .any(|a| live["metadata"]["annotations"][*a] == "disabled")
        {
            continue;
        }
        cluster.delete(&stub).await?;
        pruned.push(k.to_string());
    }
    write(cluster, inventory_namespace, current.iter().collect()).await?;
    Ok(Synced {
        applied: objects.len(),
        pruned,
    })
}

#[cfg(test)]
mod tests;
