//! The primary Deployment Flagger users know: `<target>-primary`, built from the target as
//! Flagger builds it (flagger-spec §2.3), serving the promoted revision while the target
//! becomes the canary.

use serde_json::{Map, Value, json};

use crate::revision::{Revision, primary_template};

/// Labels Flagger looks for in the target's selector, in order (`-selector-labels`).
pub const SELECTOR_LABELS: &[&str] = &["app", "name", "app.kubernetes.io/name"];

/// The annotation that forces a new primary rollout at each promotion.
pub const FLAGGER_ID: &str = "flagger-id";

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
            *v = json!(format!("{target_name}-primary"));
        }
        for e in sel["matchExpressions"].as_array_mut().into_iter().flatten() {
            if e["key"] == label
                && let Some(first) = e["values"]
                    .as_array_mut()
                    .and_then(|vs| vs.iter_mut().find(|v| *v == target_name))
            {
                *first = json!(format!("{target_name}-primary"));
            }
        }
    };
    for c in spec["topologySpreadConstraints"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(sel) = c.get_mut("labelSelector") {
            fix(sel);
        }
    }
    let anti = &mut spec["affinity"]["podAntiAffinity"];
    for t in anti["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(sel) = t.get_mut("labelSelector") {
            fix(sel);
        }
    }
    for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(sel) = t.pointer_mut("/podAffinityTerm/labelSelector") {
            fix(sel);
        }
    }
}

/// The primary Deployment for `target` at `revision`; `id` goes into the `flagger-id`
/// annotation (a new one at each promotion forces the rollout).
pub fn primary_deployment(target: &Value, revision: &Revision, id: &str) -> Result<Value, String> {
    let name = target["metadata"]["name"]
        .as_str()
        .ok_or("the target has no name")?;
    let (label, value) = selector_label(target)?;
    let primary_value = format!("{value}-primary");
    let mut meta = Map::new();
    meta.insert("name".into(), json!(format!("{name}-primary")));
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
    let mut out_spec = Map::new();
    for f in [
        "progressDeadlineSeconds",
        "minReadySeconds",
        "revisionHistoryLimit",
        "strategy",
    ] {
        if let Some(v) = spec.get(f) {
            out_spec.insert(f.into(), v.clone());
        }
    }
    let replicas = spec["replicas"].as_i64().filter(|r| *r > 0).unwrap_or(1);
    out_spec.insert("replicas".into(), json!(replicas));
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
    out_spec.insert("template".into(), template);
    Ok(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": out_spec}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revision::{HashKey, revision};

    #[test]
    fn built_as_flagger_builds_it() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web", "team": "a"},
                         "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled", "owner": "me"}},
            "spec": {"replicas": 0, "minReadySeconds": 3, "strategy": {"type": "RollingUpdate"},
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "v": "1"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:1",
                                             "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
                                           "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                             "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}}}});
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "prod"}, "data": {"a": "1"}});
        let r = revision(&target, &[cfg], None, &HashKey::new("k")).unwrap();
        let p = primary_deployment(&target, &r, "1234").unwrap();
        assert_eq!(p["metadata"]["name"], "web-primary");
        assert_eq!(p["metadata"]["labels"], json!({"app": "web-primary"}));
        assert_eq!(p["metadata"]["annotations"], json!({"owner": "me"}));
        assert_eq!(p["spec"]["replicas"], 1);
        assert_eq!(p["spec"]["minReadySeconds"], 3);
        assert_eq!(
            p["spec"]["selector"]["matchLabels"],
            json!({"app": "web-primary"})
        );
        let t = &p["spec"]["template"];
        assert_eq!(
            t["metadata"]["labels"],
            json!({"app": "web-primary", "v": "1"})
        );
        assert_eq!(t["metadata"]["annotations"]["flagger-id"], "1234");
        assert_eq!(
            t["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "cfg-primary"
        );
        assert_eq!(
            t["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["app"],
            "web-primary"
        );
        let no_label = json!({"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"tier": "x"}}}});
        assert!(
            primary_deployment(&no_label, &r, "1")
                .unwrap_err()
                .contains("none of the labels")
        );
    }
}
