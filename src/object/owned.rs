//! What a field manager applied to an object, read back from the object's `managedFields`: the
//! live object cut down to the fields that manager owns by server-side apply. This is what
//! client-go's `Extract<Kind>(obj, manager)` functions do; kube-rs has no equivalent, so the
//! projection over the `FieldsV1` format is written here (structured-merge-diff's encoding:
//! `f:<field>` for a field, `k:<json>` for a list item by its keys, `v:<json>` for a set
//! item, `i:<n>` for an item by index, `.` for the item itself).
//!
//! Re-applying a live object as it is would take ownership of every field the server
//! defaulted and every field another manager (an HPA, `kubectl scale`) set; re-applying only
//! what the manager owns changes nothing and takes nothing.

use serde_json::{Map, Value};

use super::applyable;

/// The fields of `live` that `manager` owns by apply, with the object's identity; `None` when
/// the object records no apply by that manager (an object made elsewhere, or a cluster that
/// keeps no managed fields).
#[must_use]
pub fn applied_by(live: &Value, manager: &str) -> Option<Value> {
    let set = live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| {
            e["manager"] == manager
                && e["operation"] == "Apply"
                && e["subresource"].as_str().unwrap_or("").is_empty()
        })?
        .get("fieldsV1")?;
    let mut out = project(&applyable(live), set);
    for field in ["apiVersion", "kind"] {
        out[field] = live[field].clone();
    }
    for field in ["name", "namespace"] {
        if let Some(v) = live["metadata"].get(field) {
            out["metadata"][field] = v.clone();
        }
    }
    Some(out)
}

/// `value` cut down to the field set `set`; an empty set (a leaf, or an atomic value) keeps
/// the whole value.
fn project(value: &Value, set: &Value) -> Value {
    let Some(set) = set.as_object().filter(|s| s.keys().any(|k| k != ".")) else {
        return value.clone();
    };
    match value {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, child) in set {
                if let Some(name) = key.strip_prefix("f:")
                    && let Some(v) = fields.get(name)
                {
                    out.insert(name.to_owned(), project(v, child));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    set.iter()
                        .find(|(key, _)| item_matches(key, i, item))
                        .map(|(_, child)| project(item, child))
                })
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

/// Whether a list item is the one a `k:`, `v:` or `i:` key names.
fn item_matches(key: &str, index: usize, item: &Value) -> bool {
    if let Some(keys) = key.strip_prefix("k:") {
        let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
            return false;
        };
        keys.iter().all(|(k, v)| item.get(k) == Some(v))
    } else if let Some(v) = key.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| &v == item)
    } else if let Some(i) = key.strip_prefix("i:") {
        i.parse() == Ok(index)
    } else {
        false
    }
}

#[cfg(test)]
mod tests;
