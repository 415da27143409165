//! Where a Deployment's or DaemonSet's rollout stands, judged as `kubectl rollout status` and
//! Flagger judge it: the rule the rollout core waits on, read as either cluster returns it.

use serde_json::Value;

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still rolling out; the text says what it waits for.
    Progressing(String),
    /// The Deployment controller gave up (`ProgressDeadlineExceeded`).
    Failed(String),
}

/// Where a rollout target or primary stands, by its kind: a DaemonSet as
/// [`daemonset_readiness`] reads it, anything else as a Deployment. `threshold` is the Canary's
/// `canaryReadyThreshold` or `primaryReadyThreshold` (percent).
#[must_use]
pub fn workload_readiness(w: &Value, threshold: u8) -> Readiness {
    if w["kind"] == "DaemonSet" {
        daemonset_readiness(w, threshold)
    } else {
        deployment_readiness(w, threshold)
    }
}

/// `n` times `threshold` percent, rounded down, as Flagger computes it (in `float32`).
fn share(n: i64, threshold: u8) -> i64 {
    // Flagger truncates a float32 product; the counts are small enough to be exact in f64.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let s = (n as f64 * f64::from(threshold) / 100.0).floor() as i64;
    s
}

/// Reads a Deployment's status as `kubectl rollout status` does, with Flagger's ready
/// threshold: enough of the updated replicas (`threshold` percent) must be available.
#[must_use]
pub fn deployment_readiness(d: &Value, threshold: u8) -> Readiness {
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let status = &d["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if generation > observed {
        return Readiness::Progressing(
            "waiting for the deployment spec update to be observed".into(),
        );
    }
    let deadline_exceeded = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return Readiness::Failed("progress deadline exceeded".into());
    }
    let wanted = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
    let replicas = status["replicas"].as_i64().unwrap_or(0);
    let available = status["availableReplicas"].as_i64().unwrap_or(0);
    let needed = share(updated, threshold);
    if updated < wanted {
        Readiness::Progressing(format!(
            "{updated} of {wanted} updated replicas are available"
        ))
    } else if replicas > updated {
        Readiness::Progressing(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < needed {
        Readiness::Progressing(format!(
            "{available} of {needed} (readyThreshold {threshold}%) updated replicas are available"
        ))
    } else {
        Readiness::Ready
    }
}

/// Reads a DaemonSet's status as Flagger does (and `kubectl rollout status` for the update):
/// every scheduled daemon updated, and `threshold` percent of them available.
#[must_use]
pub fn daemonset_readiness(d: &Value, threshold: u8) -> Readiness {
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let status = &d["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if generation > observed {
        return Readiness::Progressing(
            "waiting for the daemonset spec update to be observed".into(),
        );
    }
    let desired = status["desiredNumberScheduled"].as_i64().unwrap_or(0);
    let updated = status["updatedNumberScheduled"].as_i64().unwrap_or(0);
    let available = status["numberAvailable"].as_i64().unwrap_or(0);
    let needed = share(desired, threshold);
    if updated < desired {
        Readiness::Progressing(format!(
            "{updated} out of {desired} new pods have been updated"
        ))
    } else if available < needed {
        Readiness::Progressing(format!(
            "{available} of {needed} (readyThreshold {threshold}%) updated pods are available"
        ))
    } else {
        Readiness::Ready
    }
}

#[cfg(test)]
mod tests;
