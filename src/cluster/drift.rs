//! Flux's drift-ignore rules (a Kustomization's `spec.ignore`): JSON pointers into the objects
//! a unit applies, optionally for a target selector, whose values in the cluster are kept as
//! they are rather than set back to what Git says (fields an HPA, a VPA or a person manages).
//!
//! As fluxcd/pkg `ssa` v0.76 (kustomize-controller v1.9.6) does, for an object that exists and
//! that a rule's target selects, each path whose value the apply would change is either left
//! out of the object applied (when another server-side-apply manager owns it: fledge stops
//! claiming it) or set to the value in the cluster (fledge keeps owning it, unchanged). Flux
//! compares the server's dry-run result with the live object; fledge compares what it applies
//! with the live object, and for a path the object applied leaves out, keeps the live value only
//! when fledge owns it (leaving it out would remove it; a value the server defaulted is not
//! taken over). An object that does not exist yet is created as Git says.

use std::sync::Arc;

use serde_json::Value;

use crate::object::owned::applied_by;
use crate::render::ObjectSelector;
use crate::render::kustomization::Selector;

/// One rule, compiled.
#[derive(Debug)]
pub struct IgnoreRule {
    /// JSON pointers (RFC 6901).
    pub paths: Vec<String>,
    /// The objects it is for; every object of the unit when `None`.
    pub target: Option<ObjectSelector>,
}

/// A unit's rules.
pub type IgnoreRules = Arc<[IgnoreRule]>;

/// Reads `spec.ignore` as written; the error names the entry and field.
///
/// # Errors
///
/// An entry that is not an object with `paths` (JSON pointers, each starting with `/`) and an
/// optional `target` selector, or a target that does not compile.
pub fn compile(entries: &[Value]) -> Result<IgnoreRules, String> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let field = format!("spec.ignore[{i}]");
        let paths: Vec<String> = e["paths"]
            .as_array()
            .ok_or_else(|| format!("{field}.paths: a list of JSON pointers is required"))?
            .iter()
            .map(|p| {
                p.as_str()
                    .filter(|p| p.starts_with('/'))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        format!("{field}.paths: {p} is not a JSON pointer (`/spec/replicas`)")
                    })
            })
            .collect::<Result<_, _>>()?;
        let target = match e.get("target").filter(|t| !t.is_null()) {
            None => None,
            Some(t) => {
                let s: Selector = serde_json::from_value(t.clone())
                    .map_err(|err| format!("{field}.target: {err}"))?;
                Some(ObjectSelector::new(&s).map_err(|err| format!("{field}.target: {err}"))?)
            }
        };
        out.push(IgnoreRule { paths, target });
    }
    Ok(out.into())
}

/// `desired` as it is applied over `live`, the rules' paths kept as the cluster has them.
pub fn keep_live(desired: &mut Value, live: &Value, rules: &[IgnoreRule], manager: &str) {
    let ours = applied_by(live, manager);
    for rule in rules {
        if !rule.target.as_ref().is_none_or(|t| t.matches(live)) {
            continue;
        }
        for path in &rule.paths {
            let want = desired.pointer(path).cloned();
            let have = live.pointer(path);
            if want.as_ref() == have {
                continue;
            }
            if want.is_none() {
                // Left out of Git: leaving it out would remove it only where fledge owns it.
                if let Some(v) =
                    have.filter(|_| ours.as_ref().is_some_and(|o| o.pointer(path).is_some()))
                {
                    set(desired, path, v.clone());
                }
                continue;
            }
            match have {
                Some(v) if !owned_by_another(live, path, manager) => set(desired, path, v.clone()),
                _ => remove(desired, path),
            }
        }
    }
}

/// Whether a server-side-apply manager other than `manager` owns `path` of `live`.
fn owned_by_another(live: &Value, path: &str, manager: &str) -> bool {
    live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["operation"] == "Apply" && e["manager"] != manager)
        .filter_map(|e| e["manager"].as_str())
        .any(|m| applied_by(live, m).is_some_and(|o| o.pointer(path).is_some()))
}

/// The parent pointer and the last token of `path`, unescaped (`~1` is `/`, `~0` is `~`).
fn split(path: &str) -> Option<(&str, String)> {
    let (parent, last) = path.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn remove(o: &mut Value, path: &str) {
    let Some((parent, last)) = split(path) else {
        return;
    };
    match o.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// Sets `path` of `o` to `v`, making the objects on the way that are missing.
fn set(o: &mut Value, path: &str, v: Value) {
    let Some((parent, last)) = split(path) else {
        return;
    };
    if o.pointer(parent).is_none() {
        set(o, parent, Value::Object(serde_json::Map::new()));
    }
    match o.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, v);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a[i] = v;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
