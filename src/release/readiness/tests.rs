use serde_json::{Value, json};

use super::*;

#[test]
fn readiness_like_kubectl_rollout_status() {
    let d = |g: i64, status: Value| json!({"metadata": {"generation": g}, "spec": {"replicas": 2}, "status": status});
    assert!(matches!(
        deployment_readiness(&d(2, json!({"observedGeneration": 1}))),
        Readiness::Progressing(_)
    ));
    assert!(
        matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}))), Readiness::Progressing(m) if m.contains("1 of 2"))
    );
    assert!(
        matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}))), Readiness::Progressing(m) if m.contains("pending termination"))
    );
    assert_eq!(
        deployment_readiness(&d(
            1,
            json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2})
        )),
        Readiness::Ready
    );
    let failed = json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    assert!(matches!(
        deployment_readiness(&d(1, failed)),
        Readiness::Failed(_)
    ));
}
