//! The primary Flagger users know: `<target>-primary`, a Deployment or a DaemonSet built from
//! the target as Flagger builds it (flagger-spec §2.3), serving the promoted revision while the target
//! becomes the canary; and the primary's copies of the configs its revision tracks, with the
//! template renamed to read them (over the same slots the revision hash walks).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::keys::{self, FLAGGER_ID, SELECTOR_LABELS};
use crate::revision::{ConfigIndex, ConfigKind, Revision, config_slots};

/// The selector label and its value in a Deployment's `spec.selector.matchLabels`.
pub fn selector_label(target: &Value) -> Result<(String, String), String> {
    let labels = &target["spec"]["selector"]["matchLabels"];
    SELECTOR_LABELS
        .iter()
        .find_map(|l| labels[*l].as_str().map(|v| ((*l).to_owned(), v.to_owned())))
        .ok_or_else(|| {
            format!(
                "{}: spec.selector.matchLabels has none of the labels {}",
                target["metadata"]["name"].as_str().unwrap_or("<unnamed>"),
                SELECTOR_LABELS.join(", ")
            )
        })
}

fn without_toolkit(m: &Value) -> Map<String, Value> {
    m.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.contains("toolkit.fluxcd.io"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `<value>-primary` for selector values equal to the target's name, in the label selectors of
/// topology spread constraints and pod anti-affinity (Flagger does the same, so primary pods
/// spread among themselves).
fn retarget_selectors(spec: &mut Value, target_name: &str, label: &str) {
    let fix = |sel: &mut Value| {
        if let Some(v) = sel.pointer_mut(&format!(
            "/matchLabels/{}",
            label.replace('~', "~0").replace('/', "~1")
        )) && v == target_name
        {
            *v = json!(keys::primary(target_name));
        }
        // `get_mut`, not indexing: indexing a missing field inserts a null the API server
        // refuses under strict validation.
        let expressions = sel
            .get_mut("matchExpressions")
            .and_then(Value::as_array_mut);
        for e in expressions.into_iter().flatten() {
            if e["key"] == label
                && let Some(first) = e["values"]
                    .as_array_mut()
                    .and_then(|vs| vs.iter_mut().find(|v| *v == target_name))
            {
                *first = json!(keys::primary(target_name));
            }
        }
    };
    for c in spec
        .get_mut("topologySpreadConstraints")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(sel) = c.get_mut("labelSelector") {
            fix(sel);
        }
    }
    let Some(anti) = spec.pointer_mut("/affinity/podAntiAffinity") else {
        return;
    };
    for t in anti
        .get_mut("requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(sel) = t.get_mut("labelSelector") {
            fix(sel);
        }
    }
    for t in anti
        .get_mut("preferredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(sel) = t.pointer_mut("/podAffinityTerm/labelSelector") {
            fix(sel);
        }
    }
}

/// The primary for `target` (a Deployment or a DaemonSet) at `revision`; `id` goes into the
/// `flagger-id` annotation (a new one at each promotion forces the rollout).
pub fn primary_workload(target: &Value, revision: &Revision, id: &str) -> Result<Value, String> {
    let name = target["metadata"]["name"]
        .as_str()
        .ok_or("the target has no name")?;
    let kind = target["kind"].as_str().unwrap_or("Deployment");
    let (label, value) = selector_label(target)?;
    let primary_value = keys::primary(&value);
    let mut meta = Map::new();
    meta.insert("name".into(), json!(keys::primary(name)));
    if let Some(ns) = target["metadata"]["namespace"].as_str() {
        meta.insert("namespace".into(), json!(ns));
    }
    // Flagger copies no target labels by default (`-include-label-prefix` empty).
    meta.insert(
        "labels".into(),
        json!({ label.clone(): primary_value.clone() }),
    );
    let annotations = without_toolkit(&target["metadata"]["annotations"]);
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    let spec = &target["spec"];
    let mut out_spec = workload_spec(kind, name, spec)?;
    out_spec.insert(
        "selector".into(),
        json!({"matchLabels": { label.clone(): primary_value.clone() }}),
    );
    let mut template = primary_template(&spec["template"], revision);
    let mut labels = without_toolkit(&template["metadata"]["labels"]);
    labels.insert(label.clone(), json!(primary_value));
    let mut tannotations = without_toolkit(&template["metadata"]["annotations"]);
    tannotations.insert(FLAGGER_ID.into(), json!(id));
    template["metadata"] = json!({"labels": labels, "annotations": tannotations});
    retarget_selectors(&mut template["spec"], name, &label);
    without_scale_to_zero(&mut template);
    out_spec.insert("template".into(), template);
    Ok(json!({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": out_spec}))
}

/// The fields of a target's spec its primary copies, as Flagger copies them for each kind:
/// a Deployment's rollout settings and replicas (at least one), a DaemonSet's update settings
/// (which must roll: Flagger refuses `OnDelete`).
fn workload_spec(kind: &str, name: &str, spec: &Value) -> Result<Map<String, Value>, String> {
    let copied: &[&str] = if kind == "DaemonSet" {
        let strategy = spec["updateStrategy"]["type"].as_str().unwrap_or_default();
        if !strategy.is_empty() && strategy != "RollingUpdate" {
            return Err(format!(
                "DaemonSet {name}: spec.updateStrategy.type is {strategy}; a DaemonSet rolled out \
                 by a Canary must use RollingUpdate, as Flagger requires"
            ));
        }
        &["minReadySeconds", "revisionHistoryLimit", "updateStrategy"]
    } else {
        &[
            "progressDeadlineSeconds",
            "minReadySeconds",
            "revisionHistoryLimit",
            "strategy",
        ]
    };
    let mut out = Map::new();
    for f in copied {
        if let Some(v) = spec.get(*f) {
            out.insert((*f).into(), v.clone());
        }
    }
    if kind != "DaemonSet" {
        let replicas = spec["replicas"].as_i64().filter(|r| *r > 0).unwrap_or(1);
        out.insert("replicas".into(), json!(replicas));
    }
    Ok(out)
}

/// Without the node selector that scales a DaemonSet to zero ([`keys::SCALE_TO_ZERO`]), and
/// without the node selector itself when that was all it held.
pub fn without_scale_to_zero(template: &mut Value) {
    let Some(selector) = template
        .pointer_mut("/spec/nodeSelector")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    selector.remove(keys::SCALE_TO_ZERO);
    if selector.is_empty()
        && let Some(spec) = template["spec"].as_object_mut()
    {
        spec.remove("nodeSelector");
    }
}

/// Copies of the tracked configs for the primary: `<name>-primary`, with the source's labels;
/// ConfigMaps keep `data` and `binaryData`, Secrets `type` and `data`. No annotations.
#[must_use]
pub fn primary_configs(revision: &Revision, objects: &[Value], namespace: &str) -> Vec<Value> {
    let index = ConfigIndex::new(objects);
    revision
        .configs
        .iter()
        .filter_map(|c| {
            let src = index.get(c.kind, namespace, &c.name)?;
            let mut meta = Map::new();
            meta.insert("name".into(), Value::String(keys::primary(&c.name)));
            if !namespace.is_empty() {
                meta.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
            if let Some(labels) = src["metadata"].get("labels") {
                meta.insert("labels".into(), labels.clone());
            }
            let mut out = Map::new();
            out.insert("apiVersion".into(), json!("v1"));
            out.insert("kind".into(), json!(c.kind.kind()));
            out.insert("metadata".into(), Value::Object(meta));
            let fields: &[&str] = match c.kind {
                ConfigKind::ConfigMap => &["data", "binaryData"],
                ConfigKind::Secret => &["type"],
            };
            for f in fields {
                if let Some(v) = src.get(*f) {
                    out.insert((*f).into(), v.clone());
                }
            }
            if c.kind == ConfigKind::Secret
                && let Some(data) = crate::object::secret_data(src)
            {
                out.insert("data".into(), data);
            }
            Some(Value::Object(out))
        })
        .collect()
}

/// The pod template with every reference to a tracked config renamed to its primary copy.
#[must_use]
pub fn primary_template(template: &Value, revision: &Revision) -> Value {
    let tracked: BTreeSet<(ConfigKind, &str)> = revision
        .configs
        .iter()
        .map(|c| (c.kind, c.name.as_str()))
        .collect();
    let mut t = template.clone();
    for slot in config_slots(template) {
        if let Some(name) = t
            .pointer_mut(&slot.pointer)
            .and_then(|at| at.get_mut(slot.name_field))
            .filter(|n| {
                n.as_str()
                    .is_some_and(|n| tracked.contains(&(slot.kind, n)))
            })
            && let Some(n) = name.as_str().map(keys::primary)
        {
            *name = Value::String(n);
        }
    }
    t
}

#[cfg(test)]
mod tests;
