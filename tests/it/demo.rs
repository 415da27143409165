//! The four demo scenes end to end: real Git (a bare repository, the git CLI as a person), a
//! persisted simulated cluster, the daemon in-process. Each scene's outcome is checked in the
//! cluster and in Git: status file, notes, promotion record, revert commit and its trailers,
//! and the `fledge/status` branch.

use std::process::Command;

use fledge::cluster::ObjectKey;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_rollback_with_revert_and_fast_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let report = fledge::cli::demo::play(dir.path(), &mut out)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    let text = String::from_utf8_lossy(&out).into_owned();
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
    let sim = report.sim.sim.lock().unwrap();
    let get = |group: &str, kind: &str, name: &str| {
        sim.get(&ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: "production".into(),
            name: name.into(),
        })
        .cloned()
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
    // Every update of main was a fast-forward: each reflog entry descends from the one before.
    let reflog = git(
        &report.repo.origin,
        &["reflog", "show", "--format=%H", "main"],
    );
    let ids: Vec<&str> = reflog.lines().collect();
    assert!(ids.len() >= 7, "{reflog}");
    for pair in ids.windows(2) {
        let ok = Command::new("git")
            .args(["merge-base", "--is-ancestor", pair[1], pair[0]])
            .current_dir(&report.repo.origin)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{} does not descend from {}", pair[0], pair[1]);
    }
}
