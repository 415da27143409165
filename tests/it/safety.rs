//! Ordinary mistakes in a config repository, and a cluster that refuses or drifts, against the
//! daemon (in-process, on a persisted simulated cluster, with a real Git remote): nothing is
//! deleted by a typo, nothing is half-applied, and what failed is retried and corrected.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fledge::cluster::SimHandle;
use fledge::daemon::Shared;
use fledge::daemon::config::RunArgs;
use fledge::daemon::edges::AnyCluster;
use fledge::object::ObjectKey;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::support::erring_app;
use super::support::git::{Remote, git};

/// `fledge run` in-process: its shared state, the simulated cluster it syncs, and how to stop it.
pub(crate) struct Running {
    pub(crate) sim: SimHandle,
    pub(crate) shared: Arc<Shared>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub(crate) async fn start(remote: &Remote, root: &Path, path: &str, more: &[&str]) -> Self {
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut args = RunArgs {
            repo: Some(remote.url()),
            branch: Some("main".into()),
            path: Some(path.into()),
            interval: Some("1s".into()),
            cluster: Some(format!("sim:{}", root.join("cluster").display())),
            metrics_provider: Some("sim".into()),
            listen: Some(listen.local_addr().unwrap()),
            cache_dir: Some(root.join("cache")),
            ..RunArgs::default()
        };
        drop(listen);
        for pair in more.chunks(2) {
            match pair {
                ["--max-prune-share", share] => args.max_prune_share = Some(share.parse().unwrap()),
                ["--time-scale", scale] => args.time_scale = Some(scale.parse().unwrap()),
                ["--write-back", on] => {
                    args.write_back = Some(on.parse().unwrap());
                    args.coalesce = Some("200ms".into());
                    args.author_name = Some("fledge".into());
                    args.author_email = Some("fledge@localhost".into());
                }
                ["--forge-and-alerts", base] => {
                    let token = root.join("forge-token");
                    std::fs::write(&token, "forge-t0ken\n").unwrap();
                    let hook = root.join("alert-url");
                    std::fs::write(&hook, format!("{base}/alerts")).unwrap();
                    args.forge = Some("github".into());
                    args.forge_api = Some((*base).to_owned());
                    args.forge_repo = Some("org/config".into());
                    args.forge_token_file = Some(token);
                    args.cluster_name = Some("prod".into());
                    args.alert_webhook_url_file = Some(hook);
                }
                other => panic!("{other:?}"),
            }
        }
        let p = fledge::cli::run::prepare(args).await.unwrap();
        let AnyCluster::Sim(sim) = &p.edges.cluster else {
            panic!("the simulated cluster")
        };
        let sim = sim.clone();
        let shared = Arc::new(Shared::default());
        let token = CancellationToken::new();
        let task = tokio::spawn(fledge::daemon::run(
            p.config,
            p.edges,
            shared.clone(),
            token.clone(),
        ));
        Self {
            sim,
            shared,
            token,
            task,
        }
    }

    pub(crate) async fn stop(self) {
        self.token.cancel();
        self.task.await.unwrap().unwrap();
    }

    pub(crate) fn get(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        self.sim.sim.lock().unwrap().get(&ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    pub(crate) fn config_map(&self, name: &str) -> Option<Value> {
        self.get("", "ConfigMap", "shop", name)
    }

    /// Waits (at most 20 s) until `done` holds.
    pub(crate) async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never: {what}");
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
    let d = Running::start(&remote, root.path(), "production", &[]).await;
    d.until("first sync", |d| d.config_map("settings").is_some())
        .await;
    // A commit moves the directory away.
    remove(&remote, &["production"], "Remove production");
    d.until("the commit seen", |d| d.shared.counters().render_errors > 0)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(d.config_map("settings").is_some());
    assert!(d.get("", "Namespace", "", "shop").is_some());
    d.stop().await;
    // A restart with a typo in --path.
    git(&remote.person(), &["revert", "--no-edit", "HEAD"]);
    git(&remote.person(), &["push", "-q", "origin", "HEAD:main"]);
    let d = Running::start(&remote, root.path(), "productoin", &[]).await;
    d.until("the path refused", |d| {
        d.shared.counters().render_errors > 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
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
    let d = Running::start(&remote, root.path(), "apps", &[]).await;
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
    let d = Running::start(&remote, root.path(), "apps", &["--max-prune-share", "1"]).await;
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
    let d = Running::start(&remote, root.path(), "apps", &[]).await;
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
    let d = Running::start(&remote, root.path(), "apps", &[]).await;
    let value = |d: &Running| d.config_map("settings").map(|c| c["data"]["value"].clone());
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
    let d = Running::start(&remote, root.path(), "apps", &["--time-scale", "10"]).await;
    let phase = |d: &Running| {
        d.shared
            .releases()
            .get("shop/web")
            .map(|v| (v.phase.clone(), v.message.clone()))
    };
    d.until("initialized", |d| {
        phase(d).is_some_and(|(p, _)| p == "Initialized")
    })
    .await;
    let deployment = |d: &Running| d.get("apps", "Deployment", "shop", "web").unwrap();
    let service = |d: &Running| d.get("", "Service", "shop", "web").unwrap();
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
    tokio::time::sleep(Duration::from_secs(2)).await;
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
async fn an_analysis_aborted_by_a_revert_in_git_is_recorded_as_an_abort_not_a_promotion() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    // Many iterations, and a threshold no blue/green check without traffic reaches.
    let limits = "threshold: 1000, iterations: 500";
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/web.yaml", &app_checked("web:1", "web", limits)),
        ],
        "web",
    );
    let more = ["--time-scale", "10", "--write-back", "true"];
    let d = Running::start(&remote, root.path(), "apps", &more).await;
    let phase = |d: &Running| d.shared.releases().get("shop/web").map(|v| v.phase.clone());
    d.until("initialized", |d| {
        phase(d).as_deref() == Some("Initialized")
    })
    .await;
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
    for _ in 0..100 {
        if !note().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let note = note();
    assert!(note.contains("not promoted: analysis aborted"), "{note}");
    assert!(!note.contains(" promoted at "), "{note}");
    d.stop().await;
    let subjects = git(&remote.bare(), &["log", "--format=%s", "main"]);
    assert!(!subjects.contains("fledge: promoted"), "{subjects}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_fledge_run_even_when_its_log_pipe_is_gone_and_a_client_polls() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[("apps/settings.yaml", &config_map("settings", "1"))],
        "settings",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args([
            "run",
            "--repo",
            &remote.url(),
            "--branch",
            "main",
            "--path",
            "apps",
        ])
        .arg(format!(
            "--cluster=sim:{}",
            root.path().join("cluster").display()
        ))
        .args([
            "--metrics-provider",
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg(format!(
            "--cache-dir={}",
            root.path().join("cache").display()
        ))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Read until it serves, then close the pipe, as a `tee` stopped by Ctrl-C does.
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while log.read_line(&mut line).unwrap() > 0 && !line.contains("synced") {}
    drop(log);
    // `fledge status --watch` keeps polling the API on a kept-alive connection.
    let client = fledge::net::http_client(Duration::from_secs(2), false);
    let url = format!("http://127.0.0.1:{port}/api/releases");
    let poller = tokio::spawn(async move {
        loop {
            let _ = client.get(&url).send().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Bounded: the daemon's grace for its tasks (10 s) and the runtime's (5 s).
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    poller.abort();
    let Some(status) = status else {
        let _ = child.kill();
        panic!("fledge run did not stop on SIGINT");
    };
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_shows_in_the_api_on_the_commit_and_in_an_alert() {
    let (base, received) = super::support::recorder().await;
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[("apps/settings.yaml", &config_map("settings", "1"))],
        "settings",
    );
    let d = Running::start(&remote, root.path(), "apps", &["--forge-and-alerts", &base]).await;
    d.until("ready", |d| d.shared.sync().ready).await;
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
    for _ in 0..100 {
        if posted(&failure, &|v| v["state"] == "failure") && posted("POST /alerts", &|_| true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
pub(crate) async fn web_initialized(threshold: u32) -> (Remote, tempfile::TempDir, Running) {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/web.yaml", &erring_app("web:1", "0", threshold, None)),
        ],
        "web",
    );
    let more = ["--time-scale", "10", "--write-back", "true"];
    let d = Running::start(&remote, root.path(), "apps", &more).await;
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
    let more = [
        "--time-scale",
        "10",
        "--write-back",
        "true",
        "--forge-and-alerts",
        &base,
    ];
    let d = Running::start(&remote, root.path(), "apps", &more).await;
    let phase = |d: &Running| d.shared.releases().get("shop/web").map(|v| v.phase.clone());
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
    for _ in 0..200 {
        if !alerts().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alerts().len(), 1, "{:?}", alerts());
    assert!(alerts()[0].contains("merge it"), "{:?}", alerts());
    let sides = revert_branches(&remote);
    assert_eq!(sides.len(), 1, "{sides:?}");
    let side_head = git(&remote.bare(), &["rev-parse", &sides[0]]);
    let subject = git(&remote.bare(), &["log", "-1", "--format=%s", &sides[0]]);
    assert!(subject.starts_with("Revert"), "{subject}");
    d.stop().await;

    // Restarted, fledge tries the revert again, is refused again, and finds its side branch.
    let d = Running::start(&remote, root.path(), "apps", &more).await;
    for _ in 0..200 {
        if alerts().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = alerts();
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
    let view = |d: &Running| d.shared.releases().get("shop/web").cloned();
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
    let mut revert = String::new();
    for _ in 0..200 {
        revert = git(&remote.bare(), &["log", "-1", "--format=%B", "main"]);
        if revert.starts_with("Revert") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revert.contains(&why), "{revert}");
    let note = || {
        std::process::Command::new("git")
            .args(["notes", "--ref", "fledge", "show", &bump])
            .current_dir(remote.bare())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for _ in 0..100 {
        if note().contains("rolled back") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(note().contains(&why), "{}", note());
    let file = || remote.show("fledge/status", "releases/shop/web.yaml");
    for _ in 0..100 {
        if file().is_some_and(|f| f.contains("phase: Failed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file = file().unwrap();
    assert!(file.contains("lastFailedCheck:"), "{file}");
    assert!(
        file.contains("check: metric request-success-rate"),
        "{file}"
    );
    assert!(file.contains(&format!("value: {value}\n")), "{file}");
    assert!(file.contains("threshold: '>= 99%'\n"), "{file}");
    d.stop().await;
}
