//! The Knative Serving controller, as far as rollouts read it: each new `spec.template` of a
//! Knative Service stamps out a Revision (`<service>-00001`, … or the template's own
//! `metadata.name`), ready once the ready delay has passed since it was created (never, with
//! [`keys::SIM_READY`] `false` on the template); the Service's status carries Knative's fields
//! (`observedGeneration`, `latestCreatedRevisionName`, `latestReadyRevisionName`, `traffic`
//! resolved from `spec.traffic` as Knative's route does, `url`, the `Ready` condition).
//! Knative's own controllers cannot run here; the fields follow Knative's API reference
//! (serving.knative.dev/v1 `ServiceStatus`, `RevisionStatus`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Error, SimCluster};
use crate::keys;
use crate::object::ObjectKey;

/// The API group of Knative Serving.
pub const GROUP: &str = "serving.knative.dev";
const SERVICE_LABEL: &str = "serving.knative.dev/service";
const CONFIGURATION_GENERATION: &str = "serving.knative.dev/configurationGeneration";

fn condition(kind: &str, ready: bool, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": kind, "status": if ready { "True" } else { "Unknown" }});
    if !ready {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

fn is_ready(revision: &Value) -> bool {
    revision["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether a Revision was stamped out from `template`.
fn made_from(revision: &Value, template: &Value) -> bool {
    revision["spec"] == template["spec"]
        && revision["metadata"]["annotations"] == template["metadata"]["annotations"]
}

impl SimCluster {
    /// Runs the Knative Serving controller once.
    pub(super) fn run_knative(&mut self, now: Duration) -> Result<(), Error> {
        let services: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.group == GROUP && k.kind == "Service")
            .cloned()
            .collect();
        for key in services {
            self.stamp_revision(&key, now)?;
            self.revision_statuses(&key.namespace, &key.name, now)?;
            self.service_status(&key)?;
        }
        Ok(())
    }

    /// The Revisions of a Knative Service, oldest first.
    fn revisions(&self, ns: &str, service: &str) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .list(GROUP, "Revision", Some(ns))
            .into_iter()
            .filter(|r| r["metadata"]["labels"][SERVICE_LABEL] == service)
            .collect();
        out.sort_by_key(|r| {
            r["metadata"]["labels"][CONFIGURATION_GENERATION]
                .as_str()
                .and_then(|g| g.parse::<u64>().ok())
                .unwrap_or(0)
        });
        out
    }

    /// A new Revision when the Service's template is not its latest Revision's.
    fn stamp_revision(&mut self, key: &ObjectKey, now: Duration) -> Result<(), Error> {
        let Some(svc) = self.get(key) else {
            return Ok(());
        };
        let template = &svc["spec"]["template"];
        let revisions = self.revisions(&key.namespace, &key.name);
        if revisions.last().is_some_and(|r| made_from(r, template)) {
            return Ok(());
        }
        let generation = revisions.len() + 1;
        let name = template["metadata"]["name"]
            .as_str()
            .map_or_else(|| format!("{}-{generation:05}", key.name), str::to_owned);
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels[SERVICE_LABEL] = json!(key.name);
        labels["serving.knative.dev/configuration"] = json!(key.name);
        labels[CONFIGURATION_GENERATION] = json!(generation.to_string());
        let mut meta = json!({"name": name, "namespace": key.namespace, "labels": labels});
        if template["metadata"]["annotations"].is_object() {
            meta["annotations"] = template["metadata"]["annotations"].clone();
        }
        let revision = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                              "metadata": meta, "spec": template["spec"]});
        self.apply(revision, now)?;
        Ok(())
    }

    /// Each Revision ready once the ready delay has passed since it was created.
    fn revision_statuses(&mut self, ns: &str, service: &str, now: Duration) -> Result<(), Error> {
        for r in self.revisions(ns, service) {
            let Some(key) = crate::object::ObjectKey::of(&r) else {
                continue;
            };
            let never = r["metadata"]["annotations"][keys::SIM_READY] == "false";
            let since = now.saturating_sub(self.changed_at.get(&key).copied().unwrap_or_default());
            let ready = !never && since >= self.ready_delay;
            let status = json!({
                "observedGeneration": r["metadata"]["generation"],
                "conditions": [
                    condition("Ready", ready, "Deploying", "waiting for the revision's pods to be ready"),
                    condition("ResourcesAvailable", ready, "Deploying", ""),
                    condition("ContainerHealthy", ready, "Deploying", ""),
                ],
            });
            self.set_status(&key, status)?;
        }
        Ok(())
    }

    /// The Service's status: its revisions and the traffic its route serves.
    fn service_status(&mut self, key: &ObjectKey) -> Result<(), Error> {
        let Some(svc) = self.get(key) else {
            return Ok(());
        };
        let revisions = self.revisions(&key.namespace, &key.name);
        let latest = revisions
            .last()
            .and_then(|r| r["metadata"]["name"].as_str());
        let latest_ready = revisions
            .iter()
            .rev()
            .find(|r| is_ready(r))
            .and_then(|r| r["metadata"]["name"].as_str());
        let default = json!([{"latestRevision": true, "percent": 100}]);
        let wanted = svc["spec"]["traffic"]
            .as_array()
            .filter(|t| !t.is_empty())
            .map_or(&default, |_| &svc["spec"]["traffic"]);
        // Each target resolved to a ready revision, as Knative's route resolves it; a target
        // naming no ready revision keeps the route on the traffic it served before.
        let resolved: Option<Vec<Value>> = wanted
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let name = if t["latestRevision"] == true {
                    latest_ready?
                } else {
                    let n = t["revisionName"].as_str()?;
                    revisions
                        .iter()
                        .find(|r| r["metadata"]["name"] == n && is_ready(r))
                        .map(|_| n)?
                };
                let mut out = json!({"revisionName": name,
                                     "latestRevision": t["latestRevision"] == true,
                                     "percent": t["percent"].as_i64().unwrap_or(0)});
                if let Some(tag) = t["tag"].as_str() {
                    out["tag"] = json!(tag);
                }
                Some(out)
            })
            .collect();
        let routed = resolved.is_some();
        let traffic = resolved.unwrap_or_else(|| {
            svc["status"]["traffic"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        });
        let configured = latest.is_some() && latest == latest_ready;
        let url = format!("http://{}.{}.example.com", key.name, key.namespace);
        let mut status = json!({
            "observedGeneration": svc["metadata"]["generation"],
            "traffic": traffic,
            "url": url,
            "address": {"url": format!("http://{}.{}.svc.cluster.local", key.name, key.namespace)},
            "conditions": [
                condition("ConfigurationsReady", configured, "RevisionMissing", "the latest revision is not ready"),
                condition("Ready", configured && routed, "RevisionMissing", "a traffic target has no ready revision"),
                condition("RoutesReady", routed, "RevisionMissing", "a traffic target has no ready revision"),
            ],
        });
        if let Some(l) = latest {
            status["latestCreatedRevisionName"] = json!(l);
        }
        if let Some(l) = latest_ready {
            status["latestReadyRevisionName"] = json!(l);
        }
        self.set_status(key, status)
    }
}
