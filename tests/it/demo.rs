//! The four demo scenes end to end: real Git (a bare repository, the git CLI as a person), a
//! persisted simulated cluster, the daemon in-process. Each scene's outcome is checked in the
//! cluster and in Git: status file, notes, promotion record, revert commit and its trailers,
//! and the `fledge/status` branch.

use fledge::object::ObjectKey;
use serde_json::Value;

use super::support::git::git;

/// The demo's four scenes ended as they should: initialized, promoted, rolled back, and promoted
/// again by a fast rollback.
pub(crate) fn assert_four_scenes(report: &fledge::cli::demo::DemoReport, text: &str) {
    let phases: Vec<(&str, bool)> = report
        .scenes
        .iter()
        .map(|v| (v.phase.as_str(), v.fast_rollback))
        .collect();
    assert_eq!(
        phases,
        [
            ("Initialized", false),
            ("Succeeded", false),
            ("Failed", false),
            ("Succeeded", true)
        ],
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[expect(
    clippy::too_many_lines,
    reason = "the demo's four scenes checked in the cluster, in Git and on the forge, in order"
)]
async fn promotion_rollback_with_revert_and_fast_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let (base, received) = super::support::recorder().await;
    let token = dir.path().join("forge-token");
    std::fs::write(&token, "forge-t0ken\n").unwrap();
    let hook = dir.path().join("alert-url");
    std::fs::write(&hook, format!("{base}/alerts")).unwrap();
    let root = dir.path().join("demo");
    let mut out = Vec::new();
    let customize = move |a: &mut fledge::daemon::config::RunArgs| {
        a.forge = Some("github".into());
        a.forge_api = Some(base.clone());
        a.forge_repo = Some("org/config".into());
        a.forge_token_file = Some(token.clone());
        a.cluster_name = Some("demo".into());
        a.alert_webhook_url_file = Some(hook.clone());
    };
    let report = fledge::cli::demo::play(&root, &mut out, &customize)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    let text = String::from_utf8_lossy(&out).into_owned();
    super::demo::assert_four_scenes(&report, &text);
    assert_eq!(
        report.scenes[2].failed_checks, 3,
        "rolled back after exactly threshold failed checks"
    );
    assert_eq!(
        report.scenes[3].primary_revision, report.scenes[0].primary_revision,
        "back on the first revision"
    );
    assert!(report.load_tester_calls > 0);
    let work = &report.repo.work;

    // Cluster: the primary serves 6.5.0 again, the canary is scaled to zero, traffic on the primary.
    let sim = report.sim.as_ref().unwrap().sim.lock().unwrap();
    let get = |group: &str, kind: &str, name: &str| {
        sim.get(&ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: "production".into(),
            name: name.into(),
        })
        .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    let primary = get("apps", "Deployment", "podinfo-primary");
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:6.5.0"
    );
    assert_eq!(get("apps", "Deployment", "podinfo")["spec"]["replicas"], 0);
    let vs = get("networking.istio.io", "VirtualService", "podinfo");
    assert_eq!(vs["spec"]["http"][0]["route"][0]["weight"], 100);
    let release = get("fledge.dev", "Release", "podinfo");
    assert_eq!(release["status"]["phase"], "Succeeded");
    drop(sim);

    // Git: fledge's revert of the bad bump, with its trailers.
    let log = git(work, &["log", "--format=%H%x09%s", "origin/main"]);
    let revert = log
        .lines()
        .find(|l| l.ends_with("\tRevert \"Bump podinfo to 6.5.2\""))
        .unwrap_or_else(|| panic!("no revert commit:\n{log}"));
    let body = git(
        work,
        &[
            "log",
            "-1",
            "--format=%B",
            revert.split('\t').next().unwrap(),
        ],
    );
    for trailer in [
        "Fledge-Release: production/podinfo",
        "Fledge-Reason: Canary analysis failed",
        "Fledge-Commit: true",
        "This reverts commit ",
    ] {
        assert!(body.contains(trailer), "{trailer} missing:\n{body}");
    }
    assert_eq!(
        log.matches("Revert \"Bump podinfo to 6.5.2\"").count(),
        1,
        "one revert, not two:\n{log}"
    );
    // The promotion record matches the cluster.
    let record = git(
        work,
        &[
            "show",
            "origin/main:.fledge/promoted/production/podinfo.yaml",
        ],
    );
    assert!(
        record.contains("image: ghcr.io/stefanprodan/podinfo:6.5.0"),
        "{record}"
    );
    assert!(
        record.contains(report.scenes[3].primary_revision.as_deref().unwrap()),
        "{record}"
    );
    // Notes on the commits that started releases.
    let notes = git(
        work,
        &["log", "--format=%s%n%N", "--notes=fledge", "origin/main"],
    );
    assert!(
        notes.contains("Bump podinfo to 6.5.1\nfledge: production/podinfo revision"),
        "{notes}"
    );
    assert!(notes.contains("rolled back at"), "{notes}");
    assert!(
        notes.contains("promoted without analysis (fast rollback)"),
        "{notes}"
    );
    // The status branch.
    let status = git(
        work,
        &[
            "show",
            "origin/fledge/status:releases/production/podinfo.yaml",
        ],
    );
    assert!(
        status.contains("phase: Succeeded") && status.contains("fastRollback: true"),
        "{status}"
    );
    assert!(
        status.contains("phase: Failed"),
        "the history keeps the rollback:\n{status}"
    );
    // fledge's own commits carry the trailer and started nothing.
    for line in log.lines().filter(|l| l.contains("\tfledge: ")) {
        let id = line.split('\t').next().unwrap();
        assert!(git(work, &["log", "-1", "--format=%B", id]).contains("Fledge-Commit: true"));
    }
    // Commit statuses: pending while progressing, then success or failure, per commit, with
    // no repeated post.
    let received = received.lock().unwrap().clone();
    let statuses: Vec<(&str, &Value)> = received
        .iter()
        .filter(|(what, _)| what.starts_with("POST /repos/org/config/statuses/"))
        .map(|(what, body)| (what.as_str(), body))
        .collect();
    assert!(
        statuses
            .iter()
            .all(|(what, _)| what.ends_with("Bearer forge-t0ken"))
    );
    let for_commit = |sha: &str| -> Vec<(String, String)> {
        statuses
            .iter()
            .filter(|(what, b)| {
                what.contains(sha) && b["context"] == "fledge/demo/production/podinfo"
            })
            .map(|(_, b)| {
                (
                    b["state"].as_str().unwrap().to_owned(),
                    b["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let sha_of = |subject: &str| {
        log.lines()
            .find(|l| l.ends_with(&format!("\t{subject}")))
            .unwrap()
            .split('\t')
            .next()
            .unwrap()
            .to_owned()
    };
    let bump = for_commit(&sha_of("Bump podinfo to 6.5.1"));
    assert_eq!(
        bump.first().map(|s| s.0.as_str()),
        Some("pending"),
        "{bump:?}"
    );
    assert!(
        bump.iter()
            .any(|(s, d)| s == "pending" && d.starts_with("canary 50% · 0/3 failed checks")),
        "{bump:?}"
    );
    assert_eq!(
        bump.last().map(|s| s.0.as_str()),
        Some("success"),
        "{bump:?}"
    );
    let bad = for_commit(&sha_of("Bump podinfo to 6.5.2"));
    assert!(
        bad.iter().any(|(_, d)| d.contains("2/3 failed checks")),
        "{bad:?}"
    );
    assert_eq!(bad.last().map(|s| s.0.as_str()), Some("failure"), "{bad:?}");
    let fast = for_commit(&sha_of("Revert \"Bump podinfo to 6.5.1\""));
    assert_eq!(
        fast.last(),
        Some(&(
            "success".to_owned(),
            "promoted without analysis (fast rollback)".to_owned()
        )),
        "{fast:?}"
    );
    for list in [&bump, &bad, &fast] {
        for pair in list.windows(2) {
            assert_ne!(pair[0], pair[1], "a status was posted twice: {list:?}");
        }
    }
    // The rollback was alerted (the Canary has no alerts of its own: the global notifier).
    let alerts: Vec<&Value> = received
        .iter()
        .filter(|(w, _)| w.starts_with("POST /alerts"))
        .map(|(_, b)| b)
        .collect();
    assert!(
        alerts.iter().any(|a| a["severity"] == "error"
            && a["message"].as_str().is_some_and(|m| m.starts_with(
                "Failed checks threshold reached 3; last failed check: metric request-success-rate "
            ))
            && a["object"] == "podinfo.production"),
        "{alerts:#?}"
    );
    // Every update of main was a fast-forward: each reflog entry descends from the one before.
    let updates = super::support::git::assert_fast_forwards_only(&report.repo.origin, "main");
    assert!(updates >= 7, "{updates} updates of main");
}
