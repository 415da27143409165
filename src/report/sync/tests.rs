use super::*;

#[test]
fn a_failure_is_told_once_and_the_transition_time_moves_only_with_the_state() {
    let (a, b) = (CommitId::from("a"), CommitId::from("b"));
    let start = SyncStatus::default();
    let (ready, alert) = start.after(&a, &Ok(()), "t1");
    assert!(ready.ready && !alert);
    assert_eq!(ready.reason, SyncReason::Ready);
    assert_eq!(ready.last_transition_time, "t1");
    let broken = Err(NotReady::new(
        SyncReason::RenderFailed,
        "apps/x.yaml: invalid YAML",
    ));
    let (failed, alert) = ready.after(&b, &broken, "t2");
    assert!(!failed.ready && alert);
    assert_eq!(
        failed.applied_commit,
        Some(a.clone()),
        "the cluster stays on a"
    );
    assert_eq!(failed.reason, SyncReason::RenderFailed);
    assert_eq!(failed.last_transition_time, "t2");
    // The same failure again: no new alert, no new transition.
    let (again, alert) = failed.after(&b, &broken, "t3");
    assert!(!alert);
    assert_eq!(again.last_transition_time, "t2");
    // Another reason: told again.
    let refused = Err(NotReady::new(
        SyncReason::PruneRefused,
        "would prune 3 of 4",
    ));
    assert!(again.after(&b, &refused, "t4").1);
}
