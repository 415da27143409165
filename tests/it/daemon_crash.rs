//! `fledge run` as a real process, killed with SIGKILL at several points of a rollout and of a
//! write-back, then started again on the same persisted simulated cluster and caches: the
//! rollout resumes, no fledge commit is made twice or lost, no revert is half made, and a
//! person pushing at the same time loses nothing. With the Git server unreachable the rollback
//! still happens; the revert follows when it is back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::support::daemon::{Builder, Daemon, free_port};
use super::support::git::git;
use super::support::{erring_app, eventually};

/// A person's push: on rejection (fledge pushed first), pull --rebase and push again.
fn push(work: &Path) {
    for _ in 0..30 {
        let ok = Command::new("git")
            .args(["push", "-q", "origin", "main"])
            .current_dir(work)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if ok {
            return;
        }
        git(work, &["pull", "-q", "--rebase", "origin", "main"]);
    }
    panic!("could not push");
}

/// web behind nginx; its analysis fails after three checks.
fn app(image: &str, error_rate: &str) -> String {
    erring_app(image, error_rate, 3, None)
}

/// `fledge run` on the simulated cluster and caches persisted in `root`, polling the origin every
/// second with time sped up tenfold, writing back, on `port` (the same across restarts).
fn start(root: &Path, port: u16) -> Daemon {
    Builder::new(
        &format!("file://{}", root.join("origin.git").display()),
        root,
    )
    .sim_cluster()
    .port(port)
    .args(["--branch", "main", "--interval", "1s"])
    .args([
        "--write-back",
        "true",
        "--coalesce",
        "100ms",
        "--time-scale",
        "10",
    ])
    .spawn()
}

/// A bare origin (reflog on) with web:1 pushed, a person's clone, and a free port.
fn setup(root: &Path) -> (std::path::PathBuf, u16) {
    git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(
        &root.join("origin.git"),
        &["config", "core.logAllRefUpdates", "always"],
    );
    git(root, &["clone", "-q", "origin.git", "work"]);
    let work = root.join("work");
    git(&work, &["checkout", "-q", "-b", "main"]);
    std::fs::write(work.join("app.yaml"), app("web:1", "0")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "web 1"]);
    push(&work);
    (work, free_port())
}

/// The fields of a release in `/api/releases`.
const VIEW_FIELDS: [&str; 11] = [
    "namespace",
    "name",
    "phase",
    "canaryWeight",
    "failedChecks",
    "iterations",
    "canaryRevision",
    "primaryRevision",
    "sourceCommit",
    "lastTransitionTime",
    "message",
];

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_point_resumes_without_duplicating_or_losing_commits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (work, port) = setup(root);

    let mut d = start(root, port);
    let init = d
        .until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    for field in VIEW_FIELDS {
        assert!(
            init.get(field).is_some(),
            "/api/releases lacks {field}: {init}"
        );
    }
    d.kill();

    // A good bump, killed mid-analysis and again during promotion.
    std::fs::write(work.join("app.yaml"), app("web:2", "0")).unwrap();
    git(&work, &["commit", "-q", "-am", "web 2"]);
    push(&work);
    let mut d = start(root, port);
    d.until("web", "weight 40", |v| {
        v["canaryWeight"].as_u64() >= Some(40)
    })
    .await;
    d.kill();
    let mut d = start(root, port);
    d.until("web", "promoting", |v| {
        matches!(
            v["phase"].as_str(),
            Some("Promoting" | "Finalising" | "Succeeded")
        )
    })
    .await;
    d.kill();
    let mut d = start(root, port);
    let done = d
        .until("web", "promoted", |v| v["phase"] == "Succeeded")
        .await;
    assert_eq!(done["canaryRevision"], done["primaryRevision"]);
    // Meanwhile a person pushes unrelated work.
    for i in 0..3 {
        git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
        std::fs::write(work.join(format!("notes-{i}.md")), "x\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &format!("docs {i}")]);
        push(&work);
    }
    // Killed right after the promotion, before or while the record is written.
    d.kill();
    let mut d = start(root, port);
    d.until("web", "serving again", |v| v["phase"] == "Succeeded")
        .await;

    // A bad bump: killed mid-analysis, then right at the rollback, before the revert is pushed.
    git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
    std::fs::write(work.join("app.yaml"), app("web:3", "0.5")).unwrap();
    git(&work, &["commit", "-q", "-am", "web 3"]);
    push(&work);
    d.until("web", "a failed check", |v| {
        v["failedChecks"].as_u64() >= Some(1)
    })
    .await;
    d.kill();
    let mut d = start(root, port);
    d.until("web", "rolled back", |v| v["phase"] == "Failed")
        .await;
    d.kill();
    let _d = start(root, port);
    // The revert lands once.
    eventually(
        "the revert on main",
        Duration::from_secs(20),
        || async {
            git(&work, &["fetch", "-q", "origin"]);
            git(&work, &["log", "--format=%H%x09%s", "origin/main"])
        },
        |log| log.contains("\tRevert \"web 3\""),
    )
    .await;
    // Writes are coalesced: give a duplicate, if any, the time to appear.
    tokio::time::sleep(Duration::from_secs(2)).await;
    git(&work, &["fetch", "-q", "origin"]);
    let log = git(&work, &["log", "--format=%H%x09%s", "origin/main"]);
    assert_eq!(log.matches("\tRevert \"web 3\"").count(), 1, "{log}");
    // The whole revert: the app is back at web 2 exactly, and the person's files are kept.
    let app_now = git(&work, &["show", "origin/main:app.yaml"]);
    assert_eq!(app_now, app("web:2", "0"));
    for i in 0..3 {
        git(&work, &["show", &format!("origin/main:notes-{i}.md")]);
    }
    // One promotion record commit per promotion (web 2), none repeated after the restarts.
    let records = git(
        &work,
        &[
            "log",
            "--format=%s",
            "origin/main",
            "--",
            ".fledge/promoted",
        ],
    );
    assert_eq!(records.lines().count(), 1, "{records}");
    // Every update of main was a fast-forward.
    super::support::git::assert_fast_forwards_only(&root.join("origin.git"), "main");
}

#[tokio::test(flavor = "multi_thread")]
async fn git_unreachable_delays_the_revert_but_not_the_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (work, port) = setup(root);
    let (gate_url, gate) = super::support::gate().await;
    let d = start(root, port);
    d.until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    std::fs::write(
        work.join("app.yaml"),
        erring_app("web:2", "0.5", 3, Some(&gate_url)),
    )
    .unwrap();
    git(&work, &["commit", "-q", "-am", "web 2"]);
    push(&work);
    // The analysis waits at the gate until the Git server is away: however slow this test
    // runs, the release cannot fail (and its revert be pushed) before that.
    d.until("web", "waiting at the gate", |v| v["phase"] == "Waiting")
        .await;

    // The Git server goes away for the rest of the analysis.
    let origin = root.join("origin.git");
    let away = root.join("away.git");
    std::fs::rename(&origin, &away).unwrap();
    gate.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = d
        .until("web", "rolled back", |v| v["phase"] == "Failed")
        .await;
    assert_eq!(failed["canaryWeight"], 0, "{failed}");
    assert_ne!(failed["canaryRevision"], failed["primaryRevision"]);
    // The cluster is back on the primary: the canary Ingress routes nothing.
    let canary_ingress: Value = serde_json::from_slice(
        &std::fs::read(root.join("cluster/objects/shop/networking.k8s.io/Ingress/web-canary.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        canary_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "0"
    );
    d.eventually(
        "a write-back error counted",
        Duration::from_secs(10),
        || d.counter("fledge_writeback_errors_total"),
        |errors| *errors > 0.0,
    )
    .await;
    let head = git(&away, &["rev-parse", "main"]).trim().to_owned();
    assert_eq!(
        git(&away, &["log", "-1", "--format=%s", "main"]).trim(),
        "web 2",
        "nothing written while away"
    );

    // Back: the revert lands (the writer retries within 30 s), once, on top of what was there.
    std::fs::rename(&away, &origin).unwrap();
    let log = eventually(
        "the revert on main",
        Duration::from_secs(45),
        || async { git(&origin, &["log", "--format=%s", "main"]) },
        |log| log.contains("Revert \"web 2\""),
    )
    .await;
    assert_eq!(log.matches("Revert \"web 2\"").count(), 1, "{log}");
    git(&origin, &["merge-base", "--is-ancestor", &head, "main"]);
    assert_eq!(git(&origin, &["show", "main:app.yaml"]), app("web:1", "0"));
    super::support::git::assert_fast_forwards_only(&origin, "main");
}
