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
