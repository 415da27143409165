//! A release whose Canary left the repository, handed back to what Git declares — what
//! Flagger's finalizer does for `spec.revertOnDeletion`, without its outage: the target, now
//! applied by sync as Git has it, is awaited until it is ready; the apex Service is then pointed
//! at the target's pods and kept (Flagger's garbage collection deletes an apex it created,
//! fluxcd/flagger#1562); at the next step everything else the release applied — routes, the
//! `-primary` and `-canary` Services, the primary and its autoscaler and config copies — is
//! deleted, routes first, and the Release last. Nothing Git (or another release) still declares
//! is ever deleted; when Git no longer declares the target either, the app was removed, and
//! every object the release applied goes, the apex included.
//!
//! Each step reads the cluster afresh and the Release records what the release applied
//! (`spec.objects`), so a restarted daemon carries on where it stopped.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::objects::as_applied;
use super::primary::selector_label;
use crate::cluster::{self, Cluster};
use crate::keys;
use crate::object::{ObjectKey, ObjectRef, applyable};
use crate::release::ReleaseTarget;
use crate::release::readiness::{Readiness, workload_readiness};
use crate::release::state::rfc3339;

/// The reason of the Release's `Ready` condition while it is handed back.
pub const REASON: &str = "Retiring";

/// The objects a release applies, as its Release records them (`spec.objects`): what the
/// rollout writes once the release is initialized (see [`super::plan::preview`]).
#[must_use]
pub fn objects_of(t: &ReleaseTarget) -> Vec<ObjectRef> {
    // The names are all this needs: an upstreamRef's settings do not change them.
    let upstream = t.spec.upstream.as_ref().map(|_| json!({}));
    let mut refs: Vec<ObjectRef> = super::plan::preview(t, upstream)
        .unwrap_or_default()
        .iter()
        .filter_map(ObjectRef::of)
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// `refs` as the Release's `spec.objects` holds them (the namespace is the Release's).
#[must_use]
pub fn record(refs: &[ObjectRef]) -> Value {
    refs.iter()
        .map(|r| json!({"apiVersion": r.api_version, "kind": r.kind, "name": r.name}))
        .collect()
}

/// The objects a live Release records.
#[must_use]
pub fn recorded(release: &Value) -> Vec<ObjectRef> {
    let ns = release["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    release["spec"]["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some(ObjectRef::new(
                o["apiVersion"].as_str()?,
                o["kind"].as_str()?,
                ns,
                o["name"].as_str()?,
            ))
        })
        .collect()
}

/// A release being handed back.
#[derive(Debug)]
pub struct Retirement<'a> {
    /// The live Release.
    pub release: &'a Value,
    /// What the release applied: the Release's record, with what the daemon still knows.
    pub objects: Vec<ObjectRef>,
    /// What Git or another release declares: never deleted.
    pub keep: &'a BTreeSet<ObjectKey>,
    /// The target as Git now declares it, when it does.
    pub target: Option<&'a Value>,
}

/// Where one step left a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Git's target is not ready yet: traffic stays where it is.
    Waiting(String),
    /// The apex Service now selects the target's pods; the rest goes at the next step, once
    /// the endpoints have moved.
    Repointed(ObjectRef),
    /// Handed back: what was deleted (the Release last), and the apex Service kept.
    Done {
        deleted: Vec<ObjectRef>,
        kept: Option<ObjectRef>,
    },
}

/// The target a Release names (`spec.targetRef`, in the Release's namespace).
#[must_use]
pub fn target_ref(release: &Value) -> Option<ObjectRef> {
    let t = &release["spec"]["targetRef"];
    Some(ObjectRef::new(
        t["apiVersion"].as_str()?,
        t["kind"].as_str()?,
        release["metadata"]["namespace"].as_str()?,
        t["name"].as_str()?,
    ))
}

impl Retirement<'_> {
    /// The apex Service a workload target's traffic reaches, when the release generated it
    /// and Git does not declare it.
    fn apex(&self) -> Option<ObjectRef> {
        let name = self.release["spec"]["apexService"].as_str()?;
        self.objects
            .iter()
            .find(|r| r.kind == "Service" && r.api_version == "v1" && r.name == name)
            .filter(|r| !self.keep.contains(&r.key()))
            .cloned()
    }
}

/// One step of handing a release back (see the module's documentation).
pub async fn step<C: Cluster>(cluster: &C, r: &Retirement<'_>) -> Result<Step, cluster::Error> {
    let target = target_ref(r.release);
    let workload = target
        .as_ref()
        .is_some_and(|t| matches!(t.kind.as_str(), "Deployment" | "DaemonSet"));
    let mut kept = None;
    // Traffic moves to the target only when Git declares it as a plain object; a target
    // another release took over stays that release's, and so does its traffic.
    if let (Some(t), Some(_), true) = (&target, r.target, workload) {
        let live = cluster.get(t).await?;
        let why = not_ready(t, live.as_ref(), r.target);
        let Some(live) = live.filter(|_| why.is_none()) else {
            return Ok(Step::Waiting(why.unwrap_or_default()));
        };
        if let Some(apex) = r.apex() {
            let (label, value) = match selector_label(&live) {
                Ok(lv) => lv,
                Err(why) => {
                    return Ok(Step::Waiting(format!(
                        "{why}: the apex Service {} cannot be pointed at it; declare the Service in Git",
                        apex.name
                    )));
                }
            };
            if let Some(svc) = cluster.get(&apex).await?
                && svc["spec"]["selector"] != json!({&label: &value})
            {
                cluster.apply(&[repointed(&svc, &label, &value)]).await?;
                return Ok(Step::Repointed(apex));
            }
            kept = Some(apex);
        }
    }
    let mut order: Vec<&ObjectRef> = r
        .objects
        .iter()
        .filter(|o| !r.keep.contains(&o.key()) && Some(*o) != kept.as_ref())
        .collect();
    order.sort_by_key(|o| deletion_rank(&o.kind));
    let mut deleted = Vec::new();
    for o in order {
        cluster.delete(o).await?;
        deleted.push(o.clone());
    }
    if let Some(release) = ObjectRef::of(r.release) {
        cluster.delete(&release).await?;
        deleted.push(release);
    }
    Ok(Step::Done { deleted, kept })
}

/// Why Git's target cannot take the traffic yet, if it cannot: missing, still scaled to zero by
/// the rollout (sync has not applied Git's replicas yet), or not ready.
fn not_ready(t: &ObjectRef, live: Option<&Value>, declared: Option<&Value>) -> Option<String> {
    let Some(live) = live else {
        return Some(format!("{t} from Git does not exist yet"));
    };
    let zero = if t.kind == "DaemonSet" {
        live["spec"]["template"]["spec"]["nodeSelector"][keys::SCALE_TO_ZERO].is_string()
    } else {
        live["spec"]["replicas"] == 0 && declared.is_none_or(|d| d["spec"]["replicas"] != 0)
    };
    if zero {
        return Some(format!(
            "{t} is still scaled to zero by the rollout; Git's version is not applied yet"
        ));
    }
    match workload_readiness(live, 100) {
        Readiness::Ready => None,
        Readiness::Progressing(why) | Readiness::Failed(why) => {
            Some(format!("{t} from Git is not ready: {why}"))
        }
    }
}

/// The apex Service as fledge applied it, selecting the target's pods, no longer labelled as
/// the release's.
fn repointed(live: &Value, label: &str, value: &str) -> Value {
    let mut svc = as_applied(live);
    svc["spec"]["selector"] = json!({label: value});
    if let Some(labels) = svc["metadata"]["labels"].as_object_mut() {
        labels.remove(keys::RELEASE_LABEL);
    }
    svc
}

/// Routes first (traffic falls back to the apex Service), then the Services they send to,
/// autoscalers before their workloads, config copies last.
fn deletion_rank(kind: &str) -> u8 {
    match kind {
        "Service" => 1,
        "HorizontalPodAutoscaler" | "ScaledObject" => 2,
        "Deployment" | "DaemonSet" => 3,
        "ConfigMap" | "Secret" => 4,
        _ => 0,
    }
}

/// The live Release with its `Ready` condition saying why it is being handed back.
#[must_use]
pub fn retiring_status(release: &Value, message: &str, now: i64) -> Value {
    let mut o = applyable(release);
    o["status"] = release["status"].clone();
    o["status"]["conditions"] = json!([{
        "type": "Ready", "status": "False", "reason": REASON,
        "message": message, "lastTransitionTime": rfc3339(now),
    }]);
    o
}

#[cfg(test)]
mod tests;
