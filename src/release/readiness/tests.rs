use serde_json::{Value, json};

use super::*;

#[test]
fn readiness_like_kubectl_rollout_status() {
    let d = |g: i64, status: Value| json!({"metadata": {"generation": g}, "spec": {"replicas": 2}, "status": status});
    assert!(matches!(
        deployment_readiness(&d(2, json!({"observedGeneration": 1})), 100),
        Readiness::Progressing(_)
    ));
    assert!(
        matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1, "availableReplicas": 1})), 100), Readiness::Progressing(m) if m.contains("1 of 2"))
    );
    assert!(
        matches!(deployment_readiness(&d(1, json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 2})), 100), Readiness::Progressing(m) if m.contains("pending termination"))
    );
    assert_eq!(
        deployment_readiness(
            &d(
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2})
            ),
            100
        ),
        Readiness::Ready
    );
    let failed = json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    assert!(matches!(
        deployment_readiness(&d(1, failed), 100),
        Readiness::Failed(_)
    ));
}

/// `canaryReadyThreshold` and `primaryReadyThreshold`: the share of the updated replicas that
/// must be available, rounded down as Flagger rounds it.
#[test]
fn the_ready_threshold_is_the_share_of_updated_replicas_available() {
    let d = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 4},
        "status": {"observedGeneration": 1, "updatedReplicas": 4, "replicas": 4, "availableReplicas": 2}});
    assert!(matches!(
        workload_readiness(&d, 100),
        Readiness::Progressing(m) if m.contains("2 of 4 (readyThreshold 100%)")
    ));
    assert_eq!(workload_readiness(&d, 50), Readiness::Ready);
    // 4 × 0.75 = 3 needed.
    assert!(matches!(
        workload_readiness(&d, 75),
        Readiness::Progressing(_)
    ));
    // 4 × 0.74 = 2.96, rounded down to 2.
    assert_eq!(workload_readiness(&d, 74), Readiness::Ready);
}

#[test]
fn daemonsets_are_ready_when_every_daemon_is_updated_and_enough_are_available() {
    let ds = |g: i64, status: Value| json!({"kind": "DaemonSet", "metadata": {"generation": g}, "status": status});
    assert!(matches!(
        workload_readiness(&ds(2, json!({"observedGeneration": 1})), 100),
        Readiness::Progressing(m) if m.contains("observed")
    ));
    let status = |updated: i64, available: i64| {
        json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
               "updatedNumberScheduled": updated, "numberAvailable": available})
    };
    assert!(matches!(
        workload_readiness(&ds(1, status(2, 3)), 100),
        Readiness::Progressing(m) if m.contains("2 out of 3 new pods")
    ));
    assert!(matches!(
        workload_readiness(&ds(1, status(3, 2)), 100),
        Readiness::Progressing(m) if m.contains("2 of 3")
    ));
    assert_eq!(
        workload_readiness(&ds(1, status(3, 2)), 50),
        Readiness::Ready
    );
    assert_eq!(
        workload_readiness(&ds(1, status(3, 3)), 100),
        Readiness::Ready
    );
    // Scaled to zero (no node matches its selector): nothing to wait for.
    let none = json!({"observedGeneration": 1, "desiredNumberScheduled": 0});
    assert_eq!(workload_readiness(&ds(1, none), 100), Readiness::Ready);
}
