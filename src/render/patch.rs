//! Applying `patches`, `patchesStrategicMerge` and `patchesJson6902` to the objects they
//! target: by selector, or (without one) by the kind and name the patch itself names.

use serde_json::Value;

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

/// Index of the one object a patch document names, by any of its ids.
fn find_target(rs: &[Resource], p: &Value) -> Result<usize, String> {
    let want = patch_id(p);
    if want.name.is_empty() || want.gvk.kind.is_empty() {
        return Err(
            "a patch without a target must name its object (kind and metadata.name)".into(),
        );
    }
    let hits: Vec<usize> = rs
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.all_ids().iter().any(|id| {
                id.name == want.name
                    && id.gvk.is_selected_by(&want.gvk)
                    && (want.namespace.is_empty()
                        || id.effective_namespace() == want.effective_namespace())
            })
        })
        .map(|(i, _)| i)
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

/// The patch minus the identity fields, so that it never renames its target.
fn without_identity(p: &Value) -> Value {
    let mut p = p.clone();
    if let Some(m) = p.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("name");
            meta.remove("namespace");
            if meta.is_empty() {
                m.remove("metadata");
            }
        }
    }
    p
}

fn smp_one(rs: &mut Vec<Resource>, i: usize, patch: &Value) {
    let gvk = rs[i].gvk();
    if smp::apply(
        &mut rs[i].value,
        &without_identity(patch),
        &gvk.group,
        &gvk.kind,
    ) == Outcome::Delete
    {
        rs.remove(i);
    }
}

pub(super) fn apply_untargeted_smp(rs: &mut Vec<Resource>, patch: &Value) -> Result<(), String> {
    let i = find_target(rs, patch)?;
    smp_one(rs, i, patch);
    Ok(())
}

pub(super) fn apply_patch(
    rs: &mut Vec<Resource>,
    source: &str,
    json_ops: Option<&[Value]>,
    docs: &[Value],
    target: Option<&Selector>,
) -> Result<(), String> {
    let Some(target) = target else {
        if json_ops.is_some() {
            return Err(format!("{source}: a JSON 6902 patch needs a `target`"));
        }
        for p in docs {
            apply_untargeted_smp(rs, p)?;
        }
        return Ok(());
    };
    let matcher = Matcher::new(target)?;
    let ops: Option<json_patch::Patch> = json_ops
        .map(|ops| serde_json::from_value(Value::Array(ops.to_vec())))
        .transpose()
        .map_err(|e| format!("invalid JSON patch: {e}"))?;
    let mut i = 0;
    while i < rs.len() {
        if !matcher.matches(&rs[i]) {
            i += 1;
            continue;
        }
        let before = rs.len();
        if let Some(ops) = &ops {
            let id = rs[i].id();
            json_patch::patch(&mut rs[i].value, ops).map_err(|e| format!("{id}: {e}"))?;
        } else {
            for p in docs {
                if i < rs.len() {
                    smp_one(rs, i, p);
                }
            }
        }
        if rs.len() == before {
            i += 1;
        }
    }
    Ok(())
}
