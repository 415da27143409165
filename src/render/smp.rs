//! Strategic merge patch over JSON values, with the Kubernetes list merge keys.
//!
//! Built-in kinds merge lists by the keys their API declares (containers by name, volumeMounts by
//! mountPath, …) and replace lists that declare none. Custom resources have no schema, so their
//! lists are replaced, as kustomize does. Directives: `$patch: delete|replace|merge` on maps
//! and list elements, `$deleteFromPrimitiveList/<field>`, and `$setElementOrder`/`$retainKeys`
//! (accepted and dropped).

use serde_json::{Map, Value};

use crate::object::BUILTIN_GROUPS;

/// The result of patching one object.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Patched,
    /// The patch said `$patch: delete` at the top: the object goes away.
    Delete,
}

/// Merges `patch` into `target` (an object of kind `kind` in API group `group`).
pub fn apply(target: &mut Value, patch: &Value, group: &str, kind: &str) -> Outcome {
    if let Some(directive) = patch.get("$patch").and_then(Value::as_str) {
        match directive {
            "delete" => return Outcome::Delete,
            "replace" => {
                *target = clean(patch);
                return Outcome::Patched;
            }
            _ => {}
        }
    }
    let builtin = BUILTIN_GROUPS.contains(&group);
    if !builtin && !has_directives(patch) {
        // Without a schema and without directives, a strategic merge is exactly a JSON merge
        // patch (RFC 7386): maps merge, lists and scalars are replaced, null deletes.
        json_patch::merge(target, patch);
        return Outcome::Patched;
    }
    let ctx = Ctx { builtin, kind };
    let mut path = Vec::new();
    merge_value(target, patch, &ctx, &mut path);
    Outcome::Patched
}

struct Ctx<'a> {
    builtin: bool,
    kind: &'a str,
}

fn has_directives(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| is_directive(k) || has_directives(v)),
        Value::Array(items) => items.iter().any(has_directives),
        _ => false,
    }
}

fn is_directive(key: &str) -> bool {
    key.starts_with('$')
}

/// A copy of a patch value with every directive removed (what gets inserted where the target
/// had nothing).
fn clean(v: &Value) -> Value {
    match v {
        // A null deletes: where the target has nothing, there is nothing to insert (and a map
        // left empty by that goes too).
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !is_directive(k) && !v.is_null())
                .map(|(k, v)| (k.clone(), clean(v)))
                .filter(|(k, v)| {
                    !(v.as_object().is_some_and(Map::is_empty)
                        && m[k].as_object().is_some_and(|o| !o.is_empty()))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| {
                    !matches!(
                        i.get("$patch").and_then(Value::as_str),
                        Some("delete" | "replace")
                    )
                })
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_value(target: &mut Value, patch: &Value, ctx: &Ctx<'_>, path: &mut Vec<String>) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_map(t, p, ctx, path),
        (t, p) => *t = clean(p),
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    ctx: &Ctx<'_>,
    path: &mut Vec<String>,
) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = match clean(&Value::Object(patch.clone())) {
            Value::Object(m) => m,
            _ => unreachable!("clean keeps maps maps"),
        };
        return;
    }
    for (key, pv) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) =
                (target.get_mut(field), pv.as_array())
            {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if is_directive(key) {
            continue;
        }
        if pv.is_null() {
            target.remove(key);
            continue;
        }
        if pv.get("$patch").and_then(Value::as_str) == Some("delete") {
            target.remove(key);
            continue;
        }
        path.push(key.clone());
        match target.get_mut(key) {
            Some(tv) if !tv.is_null() => match (tv, pv) {
                (Value::Array(tl), Value::Array(pl)) => merge_list(tl, pl, ctx, path),
                (tv, pv) => merge_value(tv, pv, ctx, path),
            },
            _ => {
                let new = clean(pv);
                // A map of nulls only deletes; there is nothing to insert.
                let emptied = new.as_object().is_some_and(Map::is_empty)
                    && pv.as_object().is_some_and(|o| !o.is_empty());
                if !emptied {
                    target.insert(key.clone(), new);
                }
            }
        }
        path.pop();
    }
}

/// The merge key the API declares for the list at `path` of a built-in kind.
fn schema_key(path: &[String], kind: &str) -> Option<&'static str> {
    let field = path.last()?.as_str();
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
        | "webhooks"
        | "secrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "ports" if kind == "Service" && path.len() == 2 => "port",
        "ports" => {
            let parent = path.get(path.len().wrapping_sub(2)).map(String::as_str);
            if matches!(
                parent,
                Some("containers" | "initContainers" | "ephemeralContainers")
            ) {
                "containerPort"
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

fn merge_key(path: &[String], ctx: &Ctx<'_>) -> Option<&'static str> {
    if ctx.builtin {
        schema_key(path, ctx.kind)
    } else {
        None
    }
}

fn merge_list(tl: &mut Vec<Value>, pl: &[Value], ctx: &Ctx<'_>, path: &mut Vec<String>) {
    if pl
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *tl = pl
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(clean)
            .collect();
        return;
    }
    let Some(key) = merge_key(path, ctx) else {
        *tl = pl.iter().map(clean).collect();
        return;
    };
    // kustomize lists the patch's elements first (in patch order, merged with the target's
    // element of the same key), then the target's elements the patch did not mention.
    let mut out = Vec::with_capacity(tl.len() + pl.len());
    let mut rest: Vec<Option<Value>> = std::mem::take(tl).into_iter().map(Some).collect();
    for p in pl {
        let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
        let Some(pk) = p.get(key) else {
            // An element without the merge key cannot be matched; kustomize keeps it.
            if !delete {
                out.push(clean(p));
            }
            continue;
        };
        let found = rest
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.get(key) == Some(pk)));
        match found {
            Some(i) if delete => rest[i] = None,
            Some(i) => {
                let mut t = rest[i].take().expect("position found a Some");
                merge_value(&mut t, p, ctx, path);
                out.push(t);
            }
            None if delete => {}
            None => out.push(clean(p)),
        }
    }
    out.extend(rest.into_iter().flatten());
    *tl = out;
}

#[cfg(test)]
mod tests;
