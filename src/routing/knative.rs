//! Knative Serving: the target Knative Service routes itself. Its `spec.traffic` sends the
//! canary's share to the latest revision and the rest to the primary revision, which the
//! annotation [`keys::KNATIVE_PRIMARY_REVISION`] names, as Flagger's knative router writes
//! them (flagger-spec §8). No Service, primary workload or routing object is generated.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, Weights};
use crate::keys;

/// Knative routes with the target itself ([`service`]): no objects of its own.
pub(crate) struct Knative;

impl Router for Knative {
    fn objects(&self, _input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        Ok(Vec::new())
    }
}

/// The Knative Service as the rollout applies it: `target` (as Git has it) with, once the
/// primary revision is known, the annotation naming it and the traffic Flagger's router writes,
/// `[{latestRevision: true, percent: canary}, {revisionName: primary, percent: primary}]`.
/// Before that (no revision created yet), without `spec.traffic`: Knative then sends all
/// traffic to the latest revision. A `spec.traffic` in Git is replaced either way.
#[must_use]
pub fn service(target: &Value, primary_revision: Option<&str>, weights: Weights) -> Value {
    let mut s = target.clone();
    let Some(primary) = primary_revision else {
        if let Some(spec) = s["spec"].as_object_mut() {
            spec.remove("traffic");
        }
        return s;
    };
    s["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION] = json!(primary);
    s["spec"]["traffic"] = json!([
        {"latestRevision": true, "percent": weights.canary.min(100)},
        {"revisionName": primary, "percent": weights.primary()},
    ]);
    s
}

/// The shares Knative reports it routes (`status.traffic`), as Flagger's `GetRoutes` reads
/// them: (primary, canary) percent, or `None` when either target is missing.
#[must_use]
pub fn routed(service: &Value) -> Option<(u8, u8)> {
    let primary = service["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION].as_str()?;
    let traffic = service["status"]["traffic"].as_array()?;
    let percent = |t: &Value| t["percent"].as_u64().and_then(|p| u8::try_from(p).ok());
    let canary = traffic.iter().find(|t| t["latestRevision"] == true)?;
    let primary = traffic.iter().find(|t| t["revisionName"] == primary)?;
    Some((percent(primary)?, percent(canary)?))
}
