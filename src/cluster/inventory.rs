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

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub applied: usize,
    pub pruned: Vec<String>,
}

/// Applies `objects` and prunes what the previous inventory held and `objects` and `keep`
/// do not.
pub async fn sync(
    cluster: &impl Cluster,
    inventory_namespace: &str,
    objects: &[Value],
    keep: &BTreeSet<ObjectKey>,
) -> Result<Synced, Error> {
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
    cluster.apply(objects).await?;
    let current: BTreeSet<String> = objects.iter().filter_map(entry).collect();
    let mut pruned = Vec::new();
    for gone in previous.difference(&current) {
        let Some(stub) = parse_entry(gone) else {
            continue;
        };
        let Some(k) = ObjectKey::of(&stub) else {
            continue;
        };
        if keep.contains(&k) {
            continue;
        }
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
    let list: Vec<&String> = current.iter().collect();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": INVENTORY, "namespace": inventory_namespace,
                     "labels": {keys::MANAGED_BY.0: keys::MANAGED_BY.1}},
        "data": {"objects": serde_json::to_string(&list).unwrap_or_default()}});
    cluster.apply(&[cm]).await?;
    Ok(Synced {
        applied: objects.len(),
        pruned,
    })
}

#[cfg(test)]
mod tests;
