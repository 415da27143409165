//! Faults and second tries against the daemon on the simulated cluster (the same scenarios run
//! on the real API server in `real_cluster::faults`): a commit the cluster refuses changes
//! nothing, its releases included; a newer commit's failure is not hidden by the re-sync of an
//! older one; a revision reverted before and brought back is judged and reverted again.

use std::time::Duration;

use fledge::report::sync::SyncReason;

use super::safety::{NAMESPACE, config_map, daemon, remove, settings_synced, web_initialized};
use super::support::daemon::InProcess;
use super::support::git::{Remote, git};
use super::support::{erring_app, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_the_prune_guard_refuses_changes_nothing_not_even_its_releases() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let mut files = vec![
        ("apps/namespace.yaml".to_owned(), NAMESPACE.to_owned()),
        (
            "apps/web.yaml".to_owned(),
            erring_app("web:1", "0", 2, None),
        ),
    ];
    for i in 0..4 {
        files.push((
            format!("apps/cm{i}.yaml"),
            config_map(&format!("cm{i}"), "1"),
        ));
    }
    remote.commit_owned(&files, "shop");
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10"])
        .in_process()
        .await;
    let view = |d: &InProcess| d.shared.releases().get("shop/web").cloned();
    d.until("initialized", |d| {
        view(d).is_some_and(|v| v.phase == "Initialized")
    })
    .await;
    let before = view(&d).unwrap();
    // One commit drops most objects and the app: the guard refuses it.
    remove(
        &remote,
        &[
            "apps/cm1.yaml",
            "apps/cm2.yaml",
            "apps/cm3.yaml",
            "apps/web.yaml",
        ],
        "Drop most",
    );
    d.until("the sync refused", |d| {
        !d.shared.sync().ready && d.shared.sync().reason == SyncReason::PruneRefused
    })
    .await;
    // Several rounds later, the release is still there, as it was.
    d.rounds(3).await;
    let after = view(&d).expect("the release stays while its commit is refused");
    assert_eq!(after.phase, before.phase);
    assert_eq!(after.canary_revision, before.canary_revision);
    assert!(d.config_map("cm3").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_commit_that_does_not_render_stays_the_status_while_the_last_good_one_resyncs() {
    let (remote, _root, d) = settings_synced(None).await;
    let bad = remote.commit(&[("apps/broken.yaml", "kind: [unclosed\n")], "Broken");
    d.until("not ready", |d| !d.shared.sync().ready).await;
    let applies = d.shared.counters().applies;
    // The last good commit is synced again every interval (1 s): its success must not make
    // the sync look ready on the old commit.
    d.until("resynced twice", |d| {
        d.shared.counters().applies >= applies + 2
    })
    .await;
    let sync = d.shared.sync().clone();
    assert!(!sync.ready, "{sync:?}");
    assert_eq!(sync.commit.as_deref(), Some(bad.as_str()));
    assert_eq!(sync.reason, SyncReason::RenderFailed);
    assert!(
        sync.message.contains("apps/broken.yaml"),
        "{}",
        sync.message
    );
    d.stop().await;
}

/// fledge's reverts of `shop/web` on main, newest first.
fn reverts(remote: &Remote) -> Vec<String> {
    git(
        &remote.bare(),
        &[
            "log",
            "--format=%H",
            "--grep=Fledge-Release: shop/web",
            "main",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_reverted_before_and_pushed_again_is_reverted_again() {
    let (remote, _root, d) = web_initialized(1).await;
    let view = |d: &InProcess| d.shared.releases().get("shop/web").cloned();
    remote.commit(
        &[("apps/web.yaml", &erring_app("web:2", "0.5", 1, None))],
        "Bump web",
    );
    let wait_reverts = async |n: usize| {
        eventually(
            format!("{n} reverts"),
            Duration::from_secs(30),
            || async { reverts(&remote) },
            |r| r.len() >= n,
        )
        .await;
    };
    wait_reverts(1).await;
    d.until("back on web:1", |d| {
        view(d).is_some_and(|v| v.phase == "Succeeded" || v.phase == "Failed")
    })
    .await;
    // A person brings the bad revision back (reverting fledge's revert); it fails again.
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    git(&p, &["revert", "--no-edit", "HEAD"]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
    let again = git(&p, &["rev-parse", "HEAD"]);
    d.until("analysed again", |d| {
        view(d).is_some_and(|v| v.source_commit.as_deref() == Some(again.trim()))
    })
    .await;
    wait_reverts(2).await;
    let second = git(
        &remote.bare(),
        &["log", "-1", "--format=%B", &reverts(&remote)[0]],
    );
    assert!(
        second.contains(&format!("This reverts commit {}", again.trim())),
        "{second}"
    );
    super::support::git::assert_fast_forwards_only(&remote.bare(), "main");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_that_cannot_be_polled_makes_the_sync_and_readiness_fail_until_it_can() {
    let (remote, _root, d) = settings_synced(None).await;
    assert!(d.shared.is_ready());
    // The remote goes away (a deleted repository, a revoked key, a network partition).
    let away = remote.bare().with_extension("away");
    std::fs::rename(remote.bare(), &away).unwrap();
    d.until("not ready", |d| !d.shared.is_ready()).await;
    let sync = d.shared.sync().clone();
    assert!(!sync.ready);
    assert_eq!(sync.reason, SyncReason::FetchFailed);
    assert!(
        sync.message.contains("cannot be polled since"),
        "{}",
        sync.message
    );
    std::fs::rename(&away, remote.bare()).unwrap();
    d.until("ready again", |d| {
        d.shared.sync().ready && d.shared.is_ready()
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_force_push_is_followed_and_said_in_the_status_and_an_alert() {
    let (base, received) = super::support::recorder().await;
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(&[("apps/a.yaml", &config_map("a", "1"))], "a");
    let first = remote.commit(&[("apps/a.yaml", &config_map("a", "2"))], "a 2");
    let d = daemon(&remote, root.path(), "apps")
        .reporting_to(&base)
        .in_process()
        .await;
    d.until("synced", |d| {
        d.shared.sync().applied_commit.as_deref() == Some(first.as_str())
    })
    .await;
    // Someone rewrites main: a commit that does not descend from the one deployed.
    let p = remote.person();
    git(&p, &["fetch", "-q", "origin"]);
    git(&p, &["reset", "-q", "--hard", "origin/main~1"]);
    std::fs::write(p.join("apps/a.yaml"), config_map("a", "3")).unwrap();
    git(&p, &["commit", "-qam", "a 3, rewritten"]);
    git(&p, &["push", "-q", "--force", "origin", "HEAD:main"]);
    let rewritten = git(&p, &["rev-parse", "HEAD"]).trim().to_owned();
    d.until("the rewrite followed and said", |d| {
        d.shared.sync().history_rewritten.is_some()
            && d.shared.sync().applied_commit.as_deref() == Some(rewritten.as_str())
    })
    .await;
    let h = d.shared.sync().history_rewritten.clone().unwrap();
    assert_eq!(
        (h.from.as_str(), h.to.as_str()),
        (first.as_str(), rewritten.as_str())
    );
    let line = fledge::cli::status::sync_line(&d.shared.sync());
    assert!(line.contains("history rewritten"), "{line}");
    eventually(
        "an alert that main was rewritten",
        Duration::from_secs(10),
        || async { received.lock().unwrap().clone() },
        |all| {
            all.iter()
                .any(|(w, v)| w.starts_with("POST /alerts") && v.to_string().contains("rewritten"))
        },
    )
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_the_server_would_refuse_is_refused_before_it_is_sent_and_its_value_is_never_said()
{
    let (base, received) = super::support::recorder().await;
    let (remote, _root, d) = settings_synced(Some(&base)).await;
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: shop}\ndata:\n  token: [s3cr3t-value]\n";
    let added = remote.commit(&[("apps/secret.yaml", secret)], "Add a Secret");
    d.until("refused", |d| !d.shared.sync().ready).await;
    let message = d.shared.sync().message.clone();
    assert!(
        message.contains("Secret shop/creds: data.token: not a string"),
        "{message}"
    );
    assert!(d.get("", "Secret", "shop", "creds").is_none());
    // What was said of it: the commit's failed status and an alert.
    let status = format!("POST /repos/org/config/statuses/{added}");
    eventually(
        "a failed commit status and an alert",
        Duration::from_secs(10),
        || async { received.lock().unwrap().clone() },
        |all| {
            all.iter().any(|(w, _)| w.starts_with(&status))
                && all.iter().any(|(w, _)| w.starts_with("POST /alerts"))
        },
    )
    .await;
    let everything = format!("{:?}", received.lock().unwrap());
    assert!(everything.contains("data.token"), "{everything}");
    assert!(!everything.contains("s3cr3t"), "{everything}");
    assert!(!message.contains("s3cr3t"));
    d.stop().await;
}
