//! Rollouts on the real API server: a release promotes, and a canary that never gets ready is
//! rolled back on the Deployment controller's progress deadline, reverted in Git; a daemon killed
//! mid-rollout is replaced by one that resumes from the Release's status and writes Git once.

use std::time::Duration;

use serde_json::Value;

use super::{app, assert_promoted_once, daemon, primary_image, scene};
use crate::support::eventually;
use crate::support::git::{Remote, git};

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_promotes_and_a_canary_that_never_gets_ready_rolls_back_on_the_deployment_controllers_deadline()
 {
    let Some((c, ns, dir)) = scene("rollout") else {
        return;
    };
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let daemon = daemon(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    daemon
        .until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    let primary: Value = serde_json::from_str(&c.kubectl(&[
        "get",
        "deployment",
        "web-primary",
        "-n",
        &ns,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(primary["status"]["availableReplicas"], 1, "{primary}");
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    daemon
        .until("web", "promoted", |v| {
            v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
        })
        .await;
    let image = primary_image(c, &ns);
    assert_eq!(image, "web:2");
    // Pods that never become ready: the Deployment controller marks the canary past its
    // progress deadline, and fledge rolls back on that condition.
    let bad = remote.commit(&[("app.yaml", &app(&ns, "web:3", true))], "web 3");
    let failed = daemon
        .until("web", "rolled back", |v| {
            v["phase"] == "Failed" && v["sourceCommit"] == bad.as_str()
        })
        .await;
    let message = failed["message"].as_str().unwrap_or_default();
    // The Deployment controller's condition (fledge's own deadline, 600 s, says "progress
    // deadline of 600s exceeded").
    assert!(
        message.contains("not ready: progress deadline exceeded"),
        "{failed}\n{}",
        daemon.log()
    );
    let image = primary_image(c, &ns);
    assert_eq!(image, "web:2", "the primary keeps serving");
    // The revert lands in Git.
    eventually(
        "the revert on main",
        Duration::from_secs(10),
        || async { remote.show("main", "app.yaml") },
        |a| a.as_ref().is_some_and(|a| a.contains("web:2")),
    )
    .await;
    let log = git(&remote.bare(), &["log", "-1", "--format=%B", "main"]);
    assert!(
        log.starts_with("Revert \"web 3\"") && log.contains("Fledge-Release:"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_rollout_a_new_daemon_resumes_from_the_release_status_and_writes_git_once() {
    let Some((c, ns, dir)) = scene("restart") else {
        return;
    };
    let remote = Remote::new();
    git(
        &remote.bare(),
        &["config", "core.logAllRefUpdates", "always"],
    );
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let first = daemon(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    first
        .until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    let bump = remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    first
        .until("web", "progressing", |v| {
            v["phase"] == "Progressing" && v["sourceCommit"] == bump.as_str()
        })
        .await;
    // SIGKILL: no shutdown, no chance to write anything more.
    drop(first);
    let stored = c.jsonpath("release/web", &ns, "{.status.phase}");
    assert!(
        ["Progressing", "Promoting", "Finalising"].contains(&stored.as_str()),
        "{stored}"
    );
    let second = daemon(c, &remote, &ns, dir.path(), &["--write-back", "true"]);
    let done = second
        .until("web", "promoted after the restart", |v| {
            v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
        })
        .await;
    assert_eq!(done["fastRollback"], false);
    assert_promoted_once(&remote, &ns).await;
}
