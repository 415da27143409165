//! Leader election on the real API server: of two replicas sharing a Lease one leads and the
//! other stands by, doing nothing; killed mid-rollout, the leader is replaced by the follower
//! once the Lease expires, and the rollout goes on without a second Git write.

use std::time::Duration;

use super::{app, assert_promoted_once, daemon, scene};
use crate::support::git::{Remote, git};
use crate::support::within;

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    let Some((c, ns, dir)) = scene("ha") else {
        return;
    };
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let remote = Remote::new();
    git(
        &remote.bare(),
        &["config", "core.logAllRefUpdates", "always"],
    );
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let ha = [
        "--leader-election",
        "true",
        "--lease-duration",
        "4s",
        "--write-back",
        "true",
    ];
    let a = daemon(c, &remote, &ns, &dir_a, &ha);
    a.until("web", "the first replica leads", |v| {
        v["phase"] == "Initialized"
    })
    .await;
    let b = daemon(c, &remote, &ns, &dir_b, &ha);
    // It says it waits (given at most 10 s to); what it does is asked of its API.
    let _ = within(
        Duration::from_secs(10),
        || async { b.log() },
        |l| l.contains("waiting to lead"),
    )
    .await;
    let standby = b.releases().await;
    assert_eq!(standby, serde_json::json!([]), "the follower does nothing");
    let client = fledge::net::http_client(Duration::from_secs(2), false);
    let ready = client
        .get(format!("http://127.0.0.1:{}/readyz", b.port))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.text().await.unwrap(), "standby\n");
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    a.until("web", "progressing on the leader", |v| {
        v["phase"] == "Progressing" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    // The leader dies without a word; the follower takes the Lease once it expires.
    let killed = std::time::SystemTime::now();
    drop(a);
    // At most 30 s from the kill.
    let left = Duration::from_secs(30).saturating_sub(killed.elapsed().unwrap());
    b.eventually(
        "the follower takes over",
        left,
        || async { b.log().contains("leading") },
        |leading| *leading,
    )
    .await;
    eprintln!(
        "the follower leads {:.1}s after the leader was killed (lease 4s)",
        killed.elapsed().unwrap().as_secs_f64()
    );
    b.until("web", "promoted by the new leader", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    let log = b.log();
    assert!(log.contains("leading"), "{log}");
    eprintln!(
        "the follower promoted {:.1}s after the leader was killed",
        killed.elapsed().unwrap().as_secs_f64()
    );
    assert_promoted_once(&remote, &ns).await;
    let holder = c.jsonpath("lease/fledge-leader", &ns, "{.spec.holderIdentity}");
    assert!(!holder.is_empty(), "the Lease has a holder");
}
