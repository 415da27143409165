//! Applying `patches`, `patchesStrategicMerge` and `patchesJson6902` to the objects they
//! target: by selector, or (without one) by the kind and name the patch itself names.

use std::collections::HashMap;

use serde_json::Value;

use super::build::ensure_objects;
use super::kustomization::Selector;
use super::object::{Gvk, ResId, Resource};
use super::selector::Matcher;
use super::smp::{self, Outcome};

pub(super) fn describe_selector(s: &Selector) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
        ("labelSelector", &s.label_selector),
        ("annotationSelector", &s.annotation_selector),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={v}"));
        }
    }
    format!("target {{{}}}", parts.join(", "))
}

/// The id a patch document names (for patches without a target).
fn patch_id(p: &Value) -> ResId {
    ResId {
        gvk: Gvk::from_api_version(
            p["apiVersion"].as_str().unwrap_or(""),
            p["kind"].as_str().unwrap_or(""),
        ),
        namespace: p["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
        name: p["metadata"]["name"].as_str().unwrap_or("").to_owned(),
    }
}

/// Objects by every name they have had, so that thousands of patches do not each scan every
/// object. Built on first use; dropped (set to `None`) when a patch deletes or renames one.
#[derive(Debug)]
pub(super) struct Lookup(HashMap<String, Vec<usize>>);

impl Lookup {
    fn new(rs: &[Resource]) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rs.iter().enumerate() {
            for id in r.id_refs() {
                let slot = by_name.entry(id.name.to_owned()).or_default();
                if slot.last() != Some(&i) {
                    slot.push(i);
                }
            }
        }
        Self(by_name)
    }

    fn by_name(&self, name: &str) -> &[usize] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Index of the one object a patch document names, by any of its ids.
fn find_target(rs: &[Resource], lookup: &Lookup, p: &Value) -> Result<usize, String> {
    let want = patch_id(p);
    if want.name.is_empty() || want.gvk.kind.is_empty() {
        return Err(
            "a patch without a target must name its object (kind and metadata.name)".into(),
        );
    }
    let hits: Vec<usize> = lookup
        .by_name(&want.name)
        .iter()
        .copied()
        .filter(|&i| {
            // As kustomize's `GetById`: a patch without a namespace names an object of none
            // (or `default`), under any of its ids.
            rs[i].id_refs().any(|id| {
                id.name == want.name
                    && id.is_selected_by(&want.gvk)
                    && id.effective_namespace() == want.effective_namespace()
            })
        })
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!(
            "no object matches {want} (check kind, name and namespace)"
        )),
        _ => Err(format!(
            "{want} matches {} objects; add a namespace or a target",
            hits.len()
        )),
    }
}

/// What a strategic-merge patch may change of its target's identity (a `patches` entry's
/// `options`): kustomize keeps the target's name and kind unless allowed, and its namespace
/// always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) allow_name_change: bool,
    pub(super) allow_kind_change: bool,
}

impl Identity {
    fn any(self) -> bool {
        self.allow_name_change || self.allow_kind_change
    }
}

/// The patch minus the identity fields it may not change (`apiVersion` never merges).
fn without_identity(p: &Value, allow: Identity) -> Value {
    let mut p = p.clone();
    if let Some(m) = p.as_object_mut() {
        m.remove("apiVersion");
        if !allow.allow_kind_change {
            m.remove("kind");
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            if !allow.allow_name_change {
                meta.remove("name");
            }
            meta.remove("namespace");
            if meta.is_empty() {
                m.remove("metadata");
            }
        }
    }
    p
}

/// Merges `patch` into object `i`; true when the patch deleted it.
fn smp_at(
    rs: &mut Vec<Resource>,
    lookup: &mut Option<Lookup>,
    i: usize,
    patch: &Value,
    allow: Identity,
) -> Result<bool, String> {
    let gvk = rs[i].gvk();
    let before = rs[i].id();
    if allow.any() {
        rs[i].store_previous_id();
    }
    if smp::apply(
        &mut rs[i].value,
        &without_identity(patch, allow),
        &gvk.group,
        &gvk.kind,
    ) == Outcome::Delete
    {
        rs.remove(i);
        *lookup = None;
        return Ok(true);
    }
    ensure_objects(std::slice::from_ref(&rs[i]))?;
    if rs[i].id() != before {
        *lookup = None;
    }
    Ok(false)
}

/// A strategic-merge patch that names its object (kind, name, namespace) instead of a target.
pub(super) fn apply_untargeted_smp(
    rs: &mut Vec<Resource>,
    lookup: &mut Option<Lookup>,
    patch: &Value,
) -> Result<(), String> {
    let lk = lookup.get_or_insert_with(|| Lookup::new(rs));
    let i = find_target(rs, lk, patch)?;
    smp_at(rs, lookup, i, patch, Identity::default()).map(|_| ())
}

/// Applies a patch (JSON 6902 `json_ops`, or strategic-merge `docs`) to its targets.
pub(super) fn apply_patch(
    rs: &mut Vec<Resource>,
    lookup: &mut Option<Lookup>,
    source: &str,
    json_ops: Option<&[Value]>,
    docs: &[Value],
    target: Option<&Selector>,
    allow: Identity,
) -> Result<(), String> {
    let Some(target) = target else {
        if json_ops.is_some() {
            return Err(format!("{source}: a JSON 6902 patch needs a `target`"));
        }
        for p in docs {
            let lk = lookup.get_or_insert_with(|| Lookup::new(rs));
            let i = find_target(rs, lk, p)?;
            smp_at(rs, lookup, i, p, allow)?;
        }
        return Ok(());
    };
    if json_ops.is_none() && docs.len() > 1 {
        return Err(format!(
            "{source}: {} strategic-merge patches in one entry with a `target` (kustomize refuses it): give each its own entry",
            docs.len()
        ));
    }
    let matcher = Matcher::new(target)?;
    let ops: Option<json_patch::Patch> = json_ops
        .map(|ops| serde_json::from_value(Value::Array(ops.to_vec())))
        .transpose()
        .map_err(|e| format!("invalid JSON patch: {e}"))?;
    let candidates: Vec<usize> = match matcher.literal_name() {
        Some(name) => lookup
            .get_or_insert_with(|| Lookup::new(rs))
            .by_name(name)
            .to_vec(),
        None => (0..rs.len()).collect(),
    };
    let mut removed = 0;
    for c in candidates {
        let i = c - removed;
        if !matcher.matches(&rs[i]) {
            continue;
        }
        if let Some(ops) = &ops {
            let id = rs[i].id();
            // kustomize remembers every target's id before a JSON patch, which may rename it.
            rs[i].store_previous_id();
            json_patch::patch(&mut rs[i].value, ops).map_err(|e| format!("{id}: {e}"))?;
            ensure_objects(std::slice::from_ref(&rs[i]))?;
            if rs[i].name() != id.name {
                *lookup = None;
            }
        } else {
            for p in docs {
                if smp_at(rs, lookup, i, p, allow)? {
                    removed += 1;
                    break;
                }
            }
        }
    }
    Ok(())
}
