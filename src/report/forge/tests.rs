use super::*;
use crate::report::sync::{NotReady, SyncReason};

#[test]
fn the_sync_status_says_its_reason_before_its_message() {
    let commit = crate::ids::CommitId::from("a1b2c3");
    assert_eq!(sync_status_of(&SyncStatus::default(), "prod"), None);
    let why = NotReady::new(SyncReason::RenderFailed, "apps/broken.yaml: line 1: bad");
    let (failed, _) = SyncStatus::default().after(&commit, &Err(why), "2026-12-05T00:00:00Z");
    let st = sync_status_of(&failed, "prod").unwrap();
    assert_eq!(st.context, "fledge/prod/sync");
    assert_eq!(st.state, State::Failure);
    assert_eq!(
        st.description,
        "RenderFailed: apps/broken.yaml: line 1: bad"
    );
    let (synced, _) = failed.after(&commit, &Ok(()), "2026-12-05T00:01:00Z");
    let st = sync_status_of(&synced, "prod").unwrap();
    assert_eq!(
        (st.state, st.description.as_str()),
        (State::Success, "synced")
    );
}

#[test]
fn each_kustomization_has_its_own_status_on_the_commit_it_tried() {
    let (a, b) = (
        crate::ids::CommitId::from("a1"),
        crate::ids::CommitId::from("b2"),
    );
    let now = "2026-12-05T00:00:00Z";
    let unit = |name: &str, commit: &crate::ids::CommitId, outcome| {
        crate::report::sync::UnitStatus {
            name: name.to_owned(),
            ..Default::default()
        }
        .after(commit, &outcome, false, now)
    };
    let s = SyncStatus {
        units: vec![
            unit("root", &b, Ok(())),
            unit("flux-system/infra", &b, Ok(())),
            unit(
                "flux-system/apps",
                &b,
                Err(NotReady::new(
                    SyncReason::DependencyNotReady,
                    "dependency 'x'",
                )),
            ),
            unit(
                "flux-system/db",
                &a,
                Err(NotReady::new(SyncReason::ApplyFailed, "refused")),
            ),
            unit(
                "flux-system/off",
                &b,
                Err(NotReady::new(SyncReason::Suspended, "suspended")),
            ),
        ],
        ..SyncStatus::default()
    };
    let got: Vec<(String, String, State)> = unit_statuses_of(&s, "prod")
        .into_iter()
        .map(|st| (st.sha, st.context, st.state))
        .collect();
    assert_eq!(
        got,
        [
            (
                "b2".into(),
                "fledge/prod/kustomization/flux-system/infra".into(),
                State::Success
            ),
            (
                "b2".into(),
                "fledge/prod/kustomization/flux-system/apps".into(),
                State::Pending
            ),
            (
                "a1".into(),
                "fledge/prod/kustomization/flux-system/db".into(),
                State::Failure
            ),
        ]
    );
}
