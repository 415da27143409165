//! A Canary removed from Git on the real API server: the app is handed back to the Deployment
//! Git declares — the target scaled up and ready before the apex Service selects its pods, then
//! the primary, the other Services and the Release deleted — by the daemon that saw the commit
//! or, when the commit came while it was stopped, by the next one; while Git's Deployment is
//! not ready, traffic stays on the primary and the Release says why; with the Deployment
//! removed too, everything the release applied goes.

use std::time::Duration;

use serde_json::Value;

use super::{app, daemon, deployment, scene};
use crate::support::eventually;
use crate::support::git::Remote;

/// Waits until the Release `web` in `ns` is gone; returns what the cluster holds then.
async fn until_released(c: &super::TestCluster, ns: &str, log: impl Fn() -> String) {
    let gone = crate::support::eventually::within(
        Duration::from_secs(90),
        || async { c.get(&["release", "web", "-n", ns]) },
        Option::is_none,
    )
    .await;
    assert!(gone.is_ok(), "the Release stays: {gone:?}\n{}", log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_removed_while_the_daemon_is_stopped_hands_its_app_back_to_git() {
    let Some((c, ns, dir)) = scene("retire") else {
        return;
    };
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let first = daemon(c, &remote, &ns, dir.path(), &[]);
    first
        .until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    let release = c.get(&["release", "web", "-n", &ns]).unwrap();
    assert_eq!(
        release["metadata"]["labels"]["fledge.dev/owner"],
        ns.as_str()
    );
    assert_eq!(release["spec"]["apexService"], "web", "{release}");
    let target = c.get(&["deployment", "web", "-n", &ns]).unwrap();
    assert_eq!(
        target["spec"]["replicas"], 0,
        "the rollout scaled the target down"
    );
    // The Canary leaves Git while no daemon runs.
    drop(first);
    remote.commit(
        &[("app.yaml", &deployment(&ns, "web:1", "", None))],
        "web without its Canary",
    );
    let second = daemon(c, &remote, &ns, dir.path(), &[]);
    until_released(c, &ns, || second.log()).await;
    let target = c.get(&["deployment", "web", "-n", &ns]).unwrap();
    assert_eq!(target["spec"]["replicas"], 1, "Git's replicas");
    assert_eq!(target["status"]["availableReplicas"], 1, "{target}");
    let apex = c.get(&["service", "web", "-n", &ns]).unwrap();
    assert_eq!(
        apex["spec"]["selector"],
        serde_json::json!({"app": "web"}),
        "the apex Service selects the target's pods"
    );
    assert!(
        apex["metadata"]["labels"]["fledge.dev/release"].is_null(),
        "{apex}"
    );
    for gone in [
        ["deployment", "web-primary"],
        ["service", "web-primary"],
        ["service", "web-canary"],
    ] {
        assert!(
            c.get(&[gone[0], gone[1], "-n", &ns]).is_none(),
            "{gone:?} stays\n{}",
            second.log()
        );
    }
    // The daemon keeps syncing Git's Deployment; nothing comes back.
    second.rounds(3).await;
    assert!(c.get(&["deployment", "web-primary", "-n", &ns]).is_none());
    assert_eq!(
        c.jsonpath("service/web", &ns, "{.spec.selector.app}"),
        "web"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_removed_with_its_canary_leaves_nothing_of_its_release() {
    let Some((c, ns, dir)) = scene("retire-all") else {
        return;
    };
    let remote = Remote::new();
    let keep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: keep, namespace: {ns}}}\ndata: {{a: '1'}}\n"
    );
    remote.commit(
        &[
            ("app.yaml", &app(&ns, "web:1", false)),
            ("keep.yaml", &keep),
        ],
        "web 1",
    );
    let d = daemon(c, &remote, &ns, dir.path(), &[]);
    d.until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    crate::safety::remove(&remote, &["app.yaml"], "Remove web");
    until_released(c, &ns, || d.log()).await;
    for gone in [
        ["deployment", "web"],
        ["deployment", "web-primary"],
        ["service", "web"],
        ["service", "web-primary"],
        ["service", "web-canary"],
    ] {
        // Deleted: gone, or going (the garbage collector finishes a Deployment's deletion).
        eventually(
            format!("{gone:?} deleted"),
            Duration::from_secs(10),
            || async { c.get(&[gone[0], gone[1], "-n", &ns]) },
            |o: &Option<Value>| {
                o.as_ref()
                    .is_none_or(|o| o["metadata"]["deletionTimestamp"].is_string())
            },
        )
        .await;
    }
    assert!(c.get(&["configmap", "keep", "-n", &ns]).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_stays_on_the_primary_while_gits_deployment_is_not_ready() {
    let Some((c, ns, dir)) = scene("retire-unready") else {
        return;
    };
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let d = daemon(c, &remote, &ns, dir.path(), &[]);
    d.until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    // The Canary leaves Git with a Deployment whose pods never get ready.
    let unready = deployment(&ns, "web:2", "sim.fledge.dev/ready: \"false\"", None);
    remote.commit(&[("app.yaml", &unready)], "web 2 without its Canary");
    let waiting = eventually(
        "the Release says what it waits for",
        Duration::from_secs(60),
        || async { c.get(&["release", "web", "-n", &ns]) },
        |r: &Option<Value>| {
            r.as_ref()
                .is_some_and(|r| r["status"]["conditions"][0]["reason"] == "Retiring")
        },
    )
    .await
    .unwrap();
    let message = waiting["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("is not ready"), "{message}");
    d.rounds(3).await;
    assert_eq!(
        c.jsonpath("service/web", &ns, "{.spec.selector.app}"),
        "web-primary",
        "traffic stays on the primary"
    );
    assert_eq!(
        c.jsonpath("deployment/web-primary", &ns, "{.status.availableReplicas}"),
        "1"
    );
    assert!(c.get(&["service", "web-canary", "-n", &ns]).is_some());
    // A ready Deployment: the hand-back finishes.
    remote.commit(
        &[("app.yaml", &deployment(&ns, "web:3", "", None))],
        "web 3",
    );
    until_released(c, &ns, || d.log()).await;
    assert_eq!(
        c.jsonpath("service/web", &ns, "{.spec.selector.app}"),
        "web"
    );
    assert!(c.get(&["deployment", "web-primary", "-n", &ns]).is_none());
}
