//! Taking over what was set by hand, as kustomize-controller does before each apply
//! (fluxcd/pkg/ssa `cleanupMetadata`, with kustomize-controller v1.9.6's cleanup options): the
//! fields of `kubectl` (`apply --server-side`, `edit`, `apply`, `patch`, …), of
//! `before-first-apply`, of fledge's own non-apply writes, and of kustomize-controller (the
//! controller fledge takes over from) become fledge's, so that the apply that follows removes
//! those Git does not set; kubectl's `last-applied-configuration` annotation and Flux's retired
//! checksum annotations and label go. An object that asks `kustomize.toolkit.fluxcd.io/ssa:
//! Merge` (as Git has it, or as stored) keeps everything others set. Only objects from Git are
//! taken over so ([`super::Cluster::apply_from_git`]): the objects fledge's rollouts make are
//! left as Flagger leaves its own.
//!
//! Written here, not taken from a crate: it is fluxcd/pkg's own rule (`PatchReplaceFieldsManagers`)
//! over managed-fields entries as JSON, which no Rust crate carries.

use serde_json::{Map, Value, json};

/// The managers whose fields are taken over: a name prefix and an operation, as
/// kustomize-controller lists them (`kustomize-controller` in place of its own name, which is
/// fledge's: fledge takes over from it as it takes over from its own earlier writes).
const TAKEN_OVER: [(&str, &str); 6] = [
    ("kubectl", "Apply"),
    ("kubectl", "Update"),
    ("before-first-apply", "Update"),
    (crate::keys::FIELD_MANAGER, "Update"),
    ("kustomize-controller", "Apply"),
    ("kustomize-controller", "Update"),
];

/// The annotations removed: kubectl's, and the checksums Flux v1 wrote.
const ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];

/// The labels removed: Flux v1's garbage-collection mark.
const LABELS: [&str; 1] = ["fluxcd.io/sync-gc-mark"];

/// Whether `object` asks to keep what others set (`ssa: Merge`).
fn merges(object: &Value) -> bool {
    crate::object::flux_says(object, crate::keys::FLUX_SSA, "Merge")
}

/// Whether the managed-fields entry `e` is one whose fields are taken over.
fn taken_over(e: &Value) -> bool {
    let manager = e["manager"].as_str().unwrap_or("");
    e["subresource"].as_str().unwrap_or("").is_empty()
        && TAKEN_OVER
            .iter()
            .any(|(name, op)| e["operation"] == *op && manager.starts_with(name))
}

/// `object`'s managed-fields entries once the fields of the managers taken over are
/// `manager`'s (its `Apply` entry, made from the first one taken over when it has none);
/// `None` when there is nothing to take over, or when `desired` or `object` asks `ssa: Merge`.
#[must_use]
pub fn managed_fields(desired: &Value, object: &Value, manager: &str) -> Option<Vec<Value>> {
    if merges(desired) || merges(object) {
        return None;
    }
    let entries = object["metadata"]["managedFields"].as_array()?;
    let ours = |e: &Value| {
        e["manager"] == manager
            && e["operation"] == "Apply"
            && e["subresource"].as_str().unwrap_or("").is_empty()
    };
    let mut own: Option<Value> = entries.iter().find(|e| ours(e)).cloned();
    let mut kept = Vec::new();
    let mut edited = false;
    for e in entries {
        if ours(e) {
            continue;
        }
        if !taken_over(e) {
            kept.push(e.clone());
            continue;
        }
        edited = true;
        if let Some(o) = &mut own {
            o["fieldsV1"] = union(&o["fieldsV1"], &e["fieldsV1"]);
        } else {
            let mut renamed = e.clone();
            renamed["manager"] = manager.into();
            renamed["operation"] = "Apply".into();
            own = Some(renamed);
        }
    }
    if !edited {
        return None;
    }
    kept.extend(own);
    Some(kept)
}

/// `live` as fledge's apply will find it once [`patch`] took over what it takes over.
#[must_use]
pub fn folded(desired: &Value, live: &Value, manager: &str) -> Value {
    let mut out = live.clone();
    if let Some(entries) = managed_fields(desired, live, manager) {
        out["metadata"]["managedFields"] = Value::Array(entries);
    }
    out
}

/// The merge patch that takes over what others set on the object `stored` (as the API server
/// returned it from a dry-run apply of `desired` as `manager`): its managed fields, and the
/// annotations and labels removed that Git does not set; guarded by its `resourceVersion`.
/// `None` when there is nothing to do.
#[must_use]
pub fn patch(desired: &Value, stored: &Value, manager: &str) -> Option<Value> {
    if merges(desired) || merges(stored) {
        return None;
    }
    let mut metadata = Map::new();
    for (field, keys) in [("annotations", &ANNOTATIONS[..]), ("labels", &LABELS[..])] {
        let gone: Map<String, Value> = keys
            .iter()
            .filter(|k| {
                stored["metadata"][field].get(**k).is_some()
                    && desired["metadata"][field].get(**k).is_none()
            })
            .map(|k| ((*k).to_owned(), Value::Null))
            .collect();
        if !gone.is_empty() {
            metadata.insert(field.to_owned(), Value::Object(gone));
        }
    }
    if let Some(entries) = managed_fields(desired, stored, manager) {
        metadata.insert("managedFields".into(), Value::Array(entries));
    }
    if metadata.is_empty() {
        return None;
    }
    metadata.insert(
        "resourceVersion".into(),
        stored["metadata"]["resourceVersion"].clone(),
    );
    Some(json!({ "metadata": metadata }))
}

/// The union of two field sets (`fieldsV1`: nested objects whose leaves are `{}`).
fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = match out.get(k) {
                    Some(have) => union(have, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Null, b) => b.clone(),
        (a, _) => a.clone(),
    }
}

#[cfg(test)]
mod tests;
