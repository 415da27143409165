//! Where a Deployment's rollout stands, judged as `kubectl rollout status` judges it: the rule
//! the rollout core waits on, read from a Deployment as either cluster returns it.

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

/// Reads a Deployment's status as `kubectl rollout status` does.
#[must_use]
pub fn deployment_readiness(d: &Value) -> Readiness {
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
    if updated < wanted {
        Readiness::Progressing(format!(
            "{updated} of {wanted} updated replicas are available"
        ))
    } else if replicas > updated {
        Readiness::Progressing(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Readiness::Progressing(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else {
        Readiness::Ready
    }
}

#[cfg(test)]
mod tests;
