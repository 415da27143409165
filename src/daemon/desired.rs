//! From a snapshot of the config repository to what the cluster should hold: plain objects for
//! sync, and release targets (a Canary with the objects it references) for the rollout engine.
//! Pure.
//!
//! Objects a Canary references — the target Deployment, its HPA, its Ingress, a Service with
//! the apex name — are applied only through the rollout, so sync never resets what a rollout
//! manages. Canary, MetricTemplate and AlertProvider objects configure fledge and are not
//! applied. A Canary that cannot be used is reported and skipped; the others go on.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::cluster::ObjectKey;
use crate::render::object::{ObjectIndex, namespace_or_default};
use crate::render::{self, Files};
use crate::revision::{ConfigIndex, HashKey, revision_in};
use crate::rollout::executor::ReleaseTarget;
use crate::rollout::spec::{
    AlertProvider, MetricTemplate, Provider, is_kind, parse_alert_provider, parse_canary,
    parse_metric_template,
};

/// What one commit asks for.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Objects sync applies (and prunes when they disappear).
    pub plain: Vec<Value>,
    /// One per Canary, by `namespace/name`.
    pub releases: BTreeMap<String, ReleaseTarget>,
    pub templates: BTreeMap<(String, String), MetricTemplate>,
    pub alert_providers: BTreeMap<(String, String), AlertProvider>,
    /// Objects in the repository that releases apply (never pruned by sync).
    pub owned: BTreeSet<ObjectKey>,
    /// Canaries (and templates) that cannot be used, with the reason.
    pub problems: Vec<String>,
}

fn with_ns(o: &Value, ns: &str) -> Value {
    let mut o = o.clone();
    if o["metadata"]["namespace"].is_null() {
        o["metadata"]["namespace"] = Value::from(ns);
    }
    o
}

/// Renders `path` of `files` and splits the result. `commit` is the snapshot's commit, used
/// as the commit that brought each revision; the daemon replaces it with the earlier commit
/// when a revision did not change.
pub fn desired(
    files: &dyn Files,
    path: &str,
    commit: &str,
    provider: &Provider,
    key: &HashKey,
) -> Result<Desired, render::Error> {
    let objects = render::render(files, path)?;
    Ok(split(&objects, commit, provider, key))
}

/// [`desired`] for already rendered objects.
#[must_use]
pub fn split(objects: &[Value], commit: &str, provider: &Provider, key: &HashKey) -> Desired {
    let mut out = Desired::default();
    let index = ConfigIndex::new(objects);
    let by_name = ObjectIndex::new(objects);
    let mut owned: BTreeSet<ObjectKey> = BTreeSet::new();
    for o in objects {
        if is_kind(o, "MetricTemplate") {
            match parse_metric_template(o) {
                Ok(t) => {
                    out.templates
                        .insert((t.namespace.clone(), t.name.clone()), t);
                }
                Err(e) => out.problems.push(e.to_string()),
            }
        } else if is_kind(o, "AlertProvider") {
            match parse_alert_provider(o) {
                Ok(p) => {
                    out.alert_providers
                        .insert((p.namespace.clone(), p.name.clone()), p);
                }
                Err(e) => out.problems.push(e.to_string()),
            }
        }
    }
    for o in objects.iter().filter(|o| is_kind(o, "Canary")) {
        let spec = match parse_canary(o, provider) {
            Ok(s) => s,
            Err(e) => {
                out.problems.push(e.to_string());
                continue;
            }
        };
        let ns = spec.namespace.clone();
        let key_name = spec.key();
        let Some(target) = by_name.get(&spec.target.kind, &ns, &spec.target.name) else {
            out.problems.push(format!(
                "Canary {key_name}: spec.targetRef: {} {ns}/{} is not in the repository",
                spec.target.kind, spec.target.name
            ));
            continue;
        };
        let target = with_ns(target, &ns);
        let revision = match revision_in(&target, &index, None, key) {
            Ok(r) => r,
            Err(e) => {
                out.problems.push(format!("Canary {key_name}: {e}"));
                continue;
            }
        };
        let mut refs = vec![("Deployment", spec.target.name.clone())];
        if let Some(a) = &spec.autoscaler {
            refs.push(("HorizontalPodAutoscaler", a.name.clone()));
        }
        if let Some(i) = &spec.ingress {
            refs.push(("Ingress", i.name.clone()));
        }
        // A Service with the apex name is replaced by the generated one (Flagger's takeover).
        refs.push(("Service", spec.service.name.clone()));
        for (kind, name) in &refs {
            if let Some(obj) = by_name.get(kind, &ns, name)
                && let Some(k) = ObjectKey::of(&with_ns(obj, &ns))
            {
                owned.insert(k);
            }
        }
        let configs: Vec<Value> = revision
            .configs
            .iter()
            .filter_map(|c| {
                let kind = match c.kind {
                    crate::revision::ConfigKind::ConfigMap => "ConfigMap",
                    crate::revision::ConfigKind::Secret => "Secret",
                };
                by_name.get(kind, &ns, &c.name).map(|o| with_ns(o, &ns))
            })
            .collect();
        let autoscaler = spec
            .autoscaler
            .as_ref()
            .and_then(|a| by_name.get(&a.kind, &ns, &a.name))
            .map(|o| with_ns(o, &ns));
        let ingress = spec
            .ingress
            .as_ref()
            .and_then(|i| by_name.get("Ingress", &ns, &i.name))
            .map(|o| with_ns(o, &ns));
        out.releases.insert(
            key_name,
            ReleaseTarget {
                spec,
                target,
                revision,
                configs,
                autoscaler,
                ingress,
                commit: Some(commit.to_owned()),
                known_good: false,
            },
        );
    }
    out.plain = objects
        .iter()
        .filter(|o| {
            !(is_kind(o, "Canary") || is_kind(o, "MetricTemplate") || is_kind(o, "AlertProvider"))
        })
        .filter(|o| {
            let namespaced = with_ns(o, namespace_or_default(o));
            ObjectKey::of(&namespaced).is_none_or(|k| !owned.contains(&k))
        })
        .cloned()
        .collect();
    out.owned = owned;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MemFiles;

    #[test]
    fn canary_references_go_to_the_rollout_and_the_rest_to_sync() {
        let mut files = MemFiles::default();
        files.insert(
            "app/all.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1, envFrom: [{configMapRef: {name: cfg}}]}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: ghost, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n",
        );
        let d = desired(
            &files,
            "app",
            "c1",
            &Provider::Kubernetes,
            &HashKey::offline(),
        )
        .unwrap();
        let plain: Vec<String> = d
            .plain
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(plain, ["ConfigMap/cfg", "Service/other"]);
        let web = &d.releases["prod/web"];
        assert_eq!(web.configs.len(), 1);
        assert_eq!(web.commit.as_deref(), Some("c1"));
        assert_eq!(d.problems.len(), 1);
        assert!(
            d.problems[0].contains("Deployment prod/ghost is not in the repository"),
            "{:?}",
            d.problems
        );
    }
}
