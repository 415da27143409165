//! Ordinary mistakes in a config repository, and a cluster that refuses or drifts, against the
//! daemon (in-process, on a persisted simulated cluster, with a real Git remote): nothing is
//! deleted by a typo, nothing is half-applied, and what failed is retried and corrected.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::support::daemon::{Builder, InProcess};
use super::support::git::{Remote, git};
use super::support::{erring_app, eventually};

/// `fledge run` on the repository's `path` (branch main, polled every second), its simulated
/// cluster and caches in `root`; the tests start it in-process.
pub(crate) fn daemon(remote: &Remote, root: &Path, path: &str) -> Builder {
    Builder::new(&remote.url(), root).sim_cluster().args([
        "--branch",
        "main",
        "--path",
        path,
        "--interval",
        "1s",
    ])
}

/// Writing back, promptly (writes coalesced for 200 ms), as `fledge <fledge@localhost>`.
pub(crate) const WRITE_BACK: [&str; 8] = [
    "--write-back",
    "true",
    "--coalesce",
    "200ms",
    "--author-name",
    "fledge",
    "--author-email",
    "fledge@localhost",
];

impl InProcess {
    /// The ConfigMap `name` in `shop`, the namespace of these tests.
    pub(crate) fn config_map(&self, name: &str) -> Option<Value> {
        self.get("", "ConfigMap", "shop", name)
    }
}

/// The person removes paths, commits and pushes.
pub(crate) fn remove(remote: &Remote, paths: &[&str], message: &str) {
    let p = remote.person();
    git(&p, &["pull", "-q", "--rebase", "origin", "main"]);
    let mut args = vec!["rm", "-rq"];
    args.extend(paths);
    git(&p, &args);
    git(&p, &["commit", "-qm", message]);
    git(&p, &["push", "-q", "origin", "HEAD:main"]);
}

pub(crate) const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

pub(crate) fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{value: \"{value}\"}}\n"
    )
}

/// A daemon that synced a repository of one ConfigMap (`apps/settings.yaml`), reporting to
/// `base` (a [`super::support::recorder`]) when given.
pub(crate) async fn settings_synced(base: Option<&str>) -> (Remote, tempfile::TempDir, InProcess) {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[("apps/settings.yaml", &config_map("settings", "1"))],
        "settings",
    );
    let mut builder = daemon(&remote, root.path(), "apps");
    if let Some(base) = base {
        builder = builder.reporting_to(base);
    }
    let d = builder.in_process().await;
    d.until("ready", |d| d.shared.sync().ready).await;
    (remote, root, d)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_vanishes_or_is_mistyped_prunes_nothing() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[
            ("production/namespace.yaml", NAMESPACE),
            ("production/settings.yaml", &config_map("settings", "1")),
        ],
        "shop",
    );
    let d = daemon(&remote, root.path(), "production")
        .in_process()
        .await;
    d.until("first sync", |d| d.config_map("settings").is_some())
        .await;
    // A commit moves the directory away.
    remove(&remote, &["production"], "Remove production");
    d.until("the commit seen", |d| d.shared.counters().render_errors > 0)
        .await;
    // Two rounds later, nothing was pruned.
    d.rounds(2).await;
    assert!(d.config_map("settings").is_some());
    assert!(d.get("", "Namespace", "", "shop").is_some());
    d.stop().await;
    // A restart with a typo in --path.
    git(&remote.person(), &["revert", "--no-edit", "HEAD"]);
    git(&remote.person(), &["push", "-q", "origin", "HEAD:main"]);
    let d = daemon(&remote, root.path(), "productoin")
        .in_process()
        .await;
    d.until("the path refused", |d| {
        d.shared.counters().render_errors > 0
    })
    .await;
    d.rounds(2).await;
    assert!(d.config_map("settings").is_some());
    assert_eq!(d.shared.counters().applies, 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_would_prune_most_objects_is_refused_until_allowed() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let cms: Vec<(String, String)> = (0..4)
        .map(|i| {
            (
                format!("apps/cm{i}.yaml"),
                config_map(&format!("cm{i}"), "1"),
            )
        })
        .collect();
    let mut files: Vec<(&str, &str)> = cms.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    files.push(("apps/namespace.yaml", NAMESPACE));
    remote.commit(&files, "shop");
    let d = daemon(&remote, root.path(), "apps").in_process().await;
    d.until("first sync", |d| d.config_map("cm3").is_some())
        .await;
    let gone: Vec<&str> = cms[1..].iter().map(|(p, _)| p.as_str()).collect();
    remove(&remote, &gone, "Drop three");
    remote.commit(&[("apps/new.yaml", &config_map("new", "1"))], "Add one");
    d.until("the sync refused", |d| d.shared.counters().apply_errors > 0)
        .await;
    assert!(d.config_map("cm3").is_some(), "nothing pruned");
    assert!(d.config_map("new").is_none(), "nothing applied");
    d.stop().await;
    // The person means it: the same commit with the guard opened.
    let d = daemon(&remote, root.path(), "apps")
        .args(["--max-prune-share", "1"])
        .in_process()
        .await;
    d.until("pruned", |d| {
        d.config_map("cm3").is_none() && d.config_map("new").is_some()
    })
    .await;
    assert!(d.config_map("cm0").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_the_cluster_refuses_applies_nothing_and_is_retried_on_the_same_commit() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: {size: 1}\n";
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/settings.yaml", &config_map("settings", "1")),
            ("apps/widget.yaml", widget),
        ],
        "shop with a widget",
    );
    let d = daemon(&remote, root.path(), "apps").in_process().await;
    d.until("the sync refused", |d| d.shared.counters().apply_errors > 0)
        .await;
    assert!(d.config_map("settings").is_none(), "all or nothing");
    // An operator installs the Widget CRD; the same commit syncs at the next interval.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced"}});
    d.sim
        .sim
        .lock()
        .unwrap()
        .apply(crd, Duration::ZERO)
        .unwrap();
    d.until("retried", |d| {
        d.config_map("settings").is_some() && d.get("example.com", "Widget", "shop", "w").is_some()
    })
    .await;
    assert_eq!(d.shared.counters().renders, 1, "no new commit was needed");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_an_applied_object_is_corrected_every_interval() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/settings.yaml", &config_map("settings", "1")),
        ],
        "shop",
    );
    let d = daemon(&remote, root.path(), "apps").in_process().await;
    let value = |d: &InProcess| d.config_map("settings").map(|c| c["data"]["value"].clone());
    d.until("first sync", |d| value(d) == Some(json!("1")))
        .await;
    // Someone edits it in the cluster.
    let edited: Value = serde_yaml::from_str(&config_map("settings", "2")).unwrap();
    d.sim
        .sim
        .lock()
        .unwrap()
        .apply(edited, Duration::ZERO)
        .unwrap();
    assert_eq!(value(&d), Some(json!("2")));
    d.until("drift corrected", |d| value(d) == Some(json!("1")))
        .await;
    d.stop().await;
}

/// A Deployment `web` and its Canary (blue/green, checked by the built-in success rate).
fn app(image: &str, target: &str) -> String {
    app_checked(image, target, "threshold: 2, iterations: 2")
}

/// [`app`] with its own analysis limits.
fn app_checked(image: &str, target: &str, limits: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  service: {{port: 80}}\n  analysis: {{interval: 10s, {limits}, metrics: [{{name: request-success-rate, thresholdRange: {{min: 99}}}}]}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_broken_in_git_keeps_its_app_under_the_rollout_and_says_why() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/web.yaml", &app("web:1", "web")),
        ],
        "web",
    );
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10"])
        .in_process()
        .await;
    let phase = |d: &InProcess| {
        d.shared
            .releases()
            .get("shop/web")
            .map(|v| (v.phase.clone(), v.message.clone()))
    };
    d.until("initialized", |d| {
        phase(d).is_some_and(|(p, _)| p == "Initialized")
    })
    .await;
    let deployment = |d: &InProcess| d.get("apps", "Deployment", "shop", "web").unwrap();
    let service = |d: &InProcess| d.get("", "Service", "shop", "web").unwrap();
    let before = (deployment(&d)["spec"].clone(), service(&d)["spec"].clone());
    assert_eq!(before.0["replicas"], 0, "the canary is idle");
    // A typo in targetRef, and an image bump in the same commit.
    remote.commit(
        &[("apps/web.yaml", &app("web:2", "wbe"))],
        "Bump web (and a typo)",
    );
    d.until("held, and said so", |d| {
        phase(d).is_some_and(|(_, m)| m.contains("held") && m.contains("wbe"))
    })
    .await;
    d.rounds(2).await;
    assert_eq!(deployment(&d)["spec"], before.0, "the bump did not go live");
    assert_eq!(
        service(&d)["spec"],
        before.1,
        "the Service still selects the primary"
    );
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_some());
    // Fixed in Git: the bump goes through the rollout.
    remote.commit(&[("apps/web.yaml", &app("web:2", "web"))], "Fix the typo");
    d.until("the bump analysed", |d| {
        phase(d).is_some_and(|(p, m)| p != "Initialized" && !m.contains("held"))
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_fledge_cannot_analyse_is_held_and_ignored_fields_are_said() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let kept = app("web:1", "web").replace(
        "analysis: {interval: 10s,",
        "analysis: {sessionAffinity: {cookieName: pin}, interval: 10s,",
    );
    remote.commit(
        &[("apps/namespace.yaml", NAMESPACE), ("apps/web.yaml", &kept)],
        "web",
    );
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10"])
        .in_process()
        .await;
    let message = |d: &InProcess| {
        d.shared
            .releases()
            .get("shop/web")
            .map(|v| (v.phase.clone(), v.message.clone()))
    };
    d.until("initialized", |d| {
        message(d).is_some_and(|(p, _)| p == "Initialized")
    })
    .await;
    let notices = d.shared.sync().notices.clone();
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("Canary shop/web: spec.analysis.sessionAffinity: fledge pins")),
        "{notices:?}"
    );
    // A bump whose check moves to a MetricTemplate of a provider type Flagger does not have:
    // every check would fail.
    let unknown = app("web:2", "web").replace(
        "metrics: [{name: request-success-rate, thresholdRange: {min: 99}}]",
        "metrics: [{name: errors, templateRef: {name: errors}, thresholdRange: {max: 1}}]",
    ) + "---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errors, namespace: shop}\nspec:\n  provider: {type: signalfx, address: 'https://api.eu0.signalfx.com'}\n  query: 'data(\"errors\").sum().publish()'\n";
    remote.commit(
        &[("apps/web.yaml", &unknown)],
        "Bump web, checked by an unknown provider",
    );
    d.until("held, and said so", |d| {
        message(d).is_some_and(|(_, m)| {
            m.contains("held") && m.contains("\"signalfx\" is not a metric provider Flagger knows")
        })
    })
    .await;
    d.rounds(2).await;
    let target = d.get("apps", "Deployment", "shop", "web").unwrap();
    assert_eq!(target["spec"]["replicas"], 0, "the bump was not started");
    let primary = d.get("apps", "Deployment", "shop", "web-primary").unwrap();
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_analysis_aborted_by_a_revert_in_git_is_recorded_as_an_abort_not_a_promotion() {
    // Many iterations, and a threshold no blue/green check without traffic reaches.
    let limits = "threshold: 1000, iterations: 500";
    let (remote, _root, d) = web_initialized_from(&app_checked("web:1", "web", limits)).await;
    let phase = |d: &InProcess| d.shared.releases().get("shop/web").map(|v| v.phase.clone());
    remote.commit(
        &[("apps/web.yaml", &app_checked("web:2", "web", limits))],
        "Bump web",
    );
    d.until("under analysis", |d| {
        phase(d).as_deref() == Some("Progressing")
    })
    .await;
    let person = remote.person();
    git(&person, &["revert", "--no-edit", "HEAD"]);
    git(&person, &["push", "-q", "origin", "HEAD:main"]);
    let revert = remote.head();
    d.until("aborted", |d| phase(d).as_deref() == Some("Succeeded"))
        .await;
    let note = || {
        git(&remote.bare(), &["notes", "--ref", "fledge", "list"]);
        std::process::Command::new("git")
            .args(["notes", "--ref", "fledge", "show", &revert])
            .current_dir(remote.bare())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let note = eventually(
        "a note on the revert",
        Duration::from_secs(10),
        || async { note() },
        |note| !note.is_empty(),
    )
    .await;
    assert!(note.contains("not promoted: analysis aborted"), "{note}");
    assert!(!note.contains(" promoted at "), "{note}");
    d.stop().await;
    let subjects = git(&remote.bare(), &["log", "--format=%s", "main"]);
    assert!(!subjects.contains("fledge: promoted"), "{subjects}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_fledge_run_even_when_its_log_pipe_is_gone_and_a_client_polls() {
    use std::io::BufRead as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[("apps/settings.yaml", &config_map("settings", "1"))],
        "settings",
    );
    let mut d = Builder::new(&remote.url(), root.path())
        .sim_cluster()
        .args(["--branch", "main", "--path", "apps"])
        .stderr_piped()
        .spawn();
    // Read until it serves, then close the pipe, as a `tee` stopped by Ctrl-C does.
    let mut log = std::io::BufReader::new(d.take_stderr());
    let mut line = String::new();
    while log.read_line(&mut line).unwrap() > 0 && !line.contains("synced") {}
    drop(log);
    // `fledge status --watch` keeps polling the API on a kept-alive connection.
    let client = fledge::net::http_client(Duration::from_secs(2), false);
    let url = format!("http://127.0.0.1:{}/api/releases", d.port);
    let answered = Arc::new(AtomicUsize::new(0));
    let counted = answered.clone();
    let poller = tokio::spawn(async move {
        loop {
            if client.get(&url).send().await.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    eventually(
        "the client polls",
        Duration::from_secs(10),
        || async { answered.load(Ordering::SeqCst) },
        |n| *n >= 5,
    )
    .await;
    d.interrupt();
    // Bounded: the daemon's grace for its tasks (10 s) and the runtime's (5 s).
    let status = d.exited(Duration::from_secs(20)).await;
    poller.abort();
    let Some(status) = status else {
        panic!("fledge run did not stop on SIGINT");
    };
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_shows_in_the_api_on_the_commit_and_in_an_alert() {
    let (base, received) = super::support::recorder().await;
    let (remote, _root, d) = settings_synced(Some(&base)).await;
    let bad = remote.commit(
        &[("apps/broken.yaml", "kind: [unclosed\n")],
        "Add a broken file",
    );
    d.until("not ready", |d| !d.shared.sync().ready).await;
    let sync = d.shared.sync().clone();
    assert_eq!(sync.commit.as_deref(), Some(bad.as_str()));
    assert!(sync.applied_commit.is_some_and(|c| *c != *bad));
    assert!(
        sync.message.contains("apps/broken.yaml"),
        "{}",
        sync.message
    );
    let posted = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(w, v)| w.starts_with(what) && pred(v))
    };
    let failure = format!("POST /repos/org/config/statuses/{bad}");
    eventually(
        "a failed commit status and an alert",
        Duration::from_secs(10),
        || async {
            (
                posted(&failure, &|v| v["state"] == "failure"),
                posted("POST /alerts", &|_| true),
            )
        },
        |(status, alert)| *status && *alert,
    )
    .await;
    assert!(
        posted(&failure, &|v| v["context"] == "fledge/prod/sync"
            && v["state"] == "failure"
            && v["description"]
                .as_str()
                .unwrap_or("")
                .contains("broken.yaml")),
        "{:?}",
        received.lock().unwrap()
    );
    assert!(posted("POST /alerts", &|v| v
        .to_string()
        .contains("broken.yaml")));
    // Fixed: ready again, on the fixing commit.
    remove(&remote, &["apps/broken.yaml"], "Remove the broken file");
    let fixed = remote.head();
    d.until("ready again", |d| d.shared.sync().ready).await;
    assert_eq!(
        d.shared.sync().applied_commit.as_deref(),
        Some(fixed.as_str())
    );
    d.stop().await;
}

/// A daemon writing back (time sped up tenfold) whose release `shop/web` (web:1, rolled back
/// after `threshold` failed checks) is initialized.
pub(crate) async fn web_initialized(threshold: u32) -> (Remote, tempfile::TempDir, InProcess) {
    web_initialized_from(&erring_app("web:1", "0", threshold, None)).await
}

/// A daemon writing back (time sped up tenfold) whose release `shop/web`, committed as
/// `apps/web.yaml`, is initialized.
async fn web_initialized_from(web: &str) -> (Remote, tempfile::TempDir, InProcess) {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[("apps/namespace.yaml", NAMESPACE), ("apps/web.yaml", web)],
        "web",
    );
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10"])
        .args(WRITE_BACK)
        .in_process()
        .await;
    d.until("initialized", |d| {
        d.shared
            .releases()
            .get("shop/web")
            .is_some_and(|v| v.phase == "Initialized")
    })
    .await;
    (remote, root, d)
}

/// The side branches `fledge/revert-*` on the remote.
fn revert_branches(remote: &Remote) -> Vec<String> {
    git(
        &remote.bare(),
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/fledge/revert-*",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revert_the_branch_refuses_goes_to_one_side_branch_across_retries_and_restarts() {
    let (base, received) = super::support::recorder().await;
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    // Without traffic no blue/green check passes: the bump fails after two checks.
    let limits = "threshold: 2, iterations: 5";
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/web.yaml", &app_checked("web:1", "web", limits)),
        ],
        "web",
    );
    let start = || {
        daemon(&remote, root.path(), "apps")
            .args(["--time-scale", "10"])
            .args(WRITE_BACK)
            .reporting_to(&base)
            .in_process()
    };
    let d = start().await;
    let phase = |d: &InProcess| d.shared.releases().get("shop/web").map(|v| v.phase.clone());
    d.until("initialized", |d| {
        phase(d).as_deref() == Some("Initialized")
    })
    .await;
    let bump = remote.commit(
        &[("apps/web.yaml", &app_checked("web:2", "web", limits))],
        "Bump web",
    );
    // From now on `main` is protected, as on a forge: every push to it is refused.
    let hook = remote.bare().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nwhile read old new ref; do\n  [ \"$ref\" = refs/heads/main ] && { echo 'main is protected' >&2; exit 1; }\ndone\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d.until("failed", |d| phase(d).as_deref() == Some("Failed"))
        .await;
    let alerts = || -> Vec<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w.starts_with("POST /alerts"))
            .map(|(_, v)| v.to_string())
            .filter(|v| v.contains("fledge/revert-"))
            .collect()
    };
    eventually(
        "an alert naming the side branch",
        Duration::from_secs(20),
        || async { alerts() },
        |a| !a.is_empty(),
    )
    .await;
    assert_eq!(alerts().len(), 1, "{:?}", alerts());
    assert!(alerts()[0].contains("merge it"), "{:?}", alerts());
    let sides = revert_branches(&remote);
    assert_eq!(sides.len(), 1, "{sides:?}");
    let side_head = git(&remote.bare(), &["rev-parse", &sides[0]]);
    let subject = git(&remote.bare(), &["log", "-1", "--format=%s", &sides[0]]);
    assert!(subject.starts_with("Revert"), "{subject}");
    d.stop().await;

    // Restarted, fledge tries the revert again, is refused again, and finds its side branch.
    let d = start().await;
    let all = eventually(
        "a second alert",
        Duration::from_secs(20),
        || async { alerts() },
        |a| a.len() >= 2,
    )
    .await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].contains(&sides[0]), "{all:?}");
    d.stop().await;
    assert_eq!(revert_branches(&remote), sides);
    assert_eq!(git(&remote.bare(), &["rev-parse", &sides[0]]), side_head);
    assert_eq!(remote.head(), bump, "main as the person left it");
}

#[tokio::test(flavor = "multi_thread")]
async fn why_a_canary_failed_reaches_the_status_the_api_the_note_the_status_file_and_the_revert() {
    let (remote, _root, d) = web_initialized(2).await;
    let view = |d: &InProcess| d.shared.releases().get("shop/web").cloned();
    let bump = remote.commit(
        &[("apps/web.yaml", &erring_app("web:2", "0.5", 2, None))],
        "Bump web",
    );
    d.until("rolled back", |d| {
        view(d).is_some_and(|v| v.phase == "Failed")
    })
    .await;

    // The API: the metric, the value it saw, the range it needed and when.
    let v = view(&d).unwrap();
    let f = v.last_failed_check.clone().expect("the failed check");
    assert_eq!(f.check, "metric request-success-rate");
    assert_eq!(f.threshold.as_deref(), Some(">= 99%"));
    let value = f.value.clone().unwrap();
    let rate: f64 = value.strip_suffix('%').unwrap().parse().unwrap();
    assert!(rate < 99.0, "{value}");
    assert!(f.time.starts_with("20"), "{}", f.time);
    let why = format!(
        "metric request-success-rate {value} (needs >= 99%) at {}",
        f.time
    );
    assert!(v.message.contains(&why), "{}", v.message);
    // `fledge status` says it in its message column.
    let table = fledge::cli::status::table(std::slice::from_ref(&v));
    assert!(table.contains(&why), "{table}");
    // The Release's status in the cluster.
    let release = d.get("fledge.dev", "Release", "shop", "web").unwrap();
    let status = &release["status"];
    assert_eq!(
        status["lastFailedCheck"]["check"], "metric request-success-rate",
        "{status}"
    );
    assert_eq!(status["lastFailedCheck"]["value"], value.as_str());
    assert!(
        status["message"].as_str().unwrap().contains(&why),
        "{status}"
    );

    // Git: the revert's message, the note on the bump, the status file.
    let revert = eventually(
        "the revert on main",
        Duration::from_secs(20),
        || async { git(&remote.bare(), &["log", "-1", "--format=%B", "main"]) },
        |revert| revert.starts_with("Revert"),
    )
    .await;
    assert!(revert.contains(&why), "{revert}");
    let note = || {
        std::process::Command::new("git")
            .args(["notes", "--ref", "fledge", "show", &bump])
            .current_dir(remote.bare())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let note = eventually(
        "the note on the bump",
        Duration::from_secs(10),
        || async { note() },
        |note| note.contains("rolled back"),
    )
    .await;
    assert!(note.contains(&why), "{note}");
    let file = || remote.show("fledge/status", "releases/shop/web.yaml");
    let file = eventually(
        "the status file says Failed",
        Duration::from_secs(10),
        || async { file() },
        |file| file.as_ref().is_some_and(|f| f.contains("phase: Failed")),
    )
    .await
    .unwrap();
    assert!(file.contains("lastFailedCheck:"), "{file}");
    assert!(
        file.contains("check: metric request-success-rate"),
        "{file}"
    );
    assert!(file.contains(&format!("value: {value}\n")), "{file}");
    assert!(file.contains("threshold: '>= 99%'\n"), "{file}");
    d.stop().await;
}
