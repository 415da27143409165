//! `fledge demo`: the whole loop on this machine, with no cluster and no network. It copies
//! examples/repo-layout into a new Git repository, adds a `demo` overlay (analysis intervals
//! at Flagger's 10 s minimum, webhooks pointed at a local stand-in for Flagger's load tester),
//! runs the daemon in-process on the simulated cluster with the sim metric source and time
//! sped up, and plays four scenes as a person would, with `git` on the command line:
//!
//! 1. first sync: both releases initialize;
//! 2. an image bump of podinfo: canary steps, promotion, a promotion record in Git;
//! 3. a bad bump (the new pods fail 30% of requests): rollback, and fledge's revert commit;
//! 4. `git revert` of the earlier bump: a revision promoted before, promoted at once.
//!
//! `fledge demo --cluster kube` plays the same scenes on a real cluster (a kind cluster, say):
//! in its own Namespace `fledge-demo` (refused when it exists), with fledge's Release CRD
//! committed beside the overlay, podinfo routed by the `nginx` provider (an Ingress is built
//! in; Istio's CRDs may be absent), and the requests modelled over the cluster's real routing
//! ([`crate::analysis::mirror`]), since a demo cluster has no traffic and no Prometheus.

use crate::object::ObjectRef;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Error;
use crate::daemon::config::RunArgs;
use crate::daemon::edges::AnyCluster;
use crate::daemon::{self, Shared};
use crate::keys;
use crate::release::ReleaseView;

/// The example repository compiled into the binary, so the demo runs from anywhere.
const EXAMPLE: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        include_str!("../../examples/repo-layout/base/kustomization.yaml"),
    ),
    (
        "base/http-echo/canary.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/canary.yaml"),
    ),
    (
        "base/http-echo/deployment.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/deployment.yaml"),
    ),
    (
        "base/http-echo/hpa.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/hpa.yaml"),
    ),
    (
        "base/http-echo/ingress.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/ingress.yaml"),
    ),
    (
        "base/http-echo/kustomization.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/kustomization.yaml"),
    ),
    (
        "base/http-echo/service.yaml",
        include_str!("../../examples/repo-layout/base/http-echo/service.yaml"),
    ),
    (
        "base/podinfo/canary.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/canary.yaml"),
    ),
    (
        "base/podinfo/deployment.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/deployment.yaml"),
    ),
    (
        "base/podinfo/hpa.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/hpa.yaml"),
    ),
    (
        "base/podinfo/kustomization.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/kustomization.yaml"),
    ),
    (
        "base/podinfo/metrictemplate.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/metrictemplate.yaml"),
    ),
    (
        "base/podinfo/service.yaml",
        include_str!("../../examples/repo-layout/base/podinfo/service.yaml"),
    ),
    (
        "production/kustomization.yaml",
        include_str!("../../examples/repo-layout/production/kustomization.yaml"),
    ),
    (
        "production/namespace.yaml",
        include_str!("../../examples/repo-layout/production/namespace.yaml"),
    ),
    (
        "production/podinfo-canary.yaml",
        include_str!("../../examples/repo-layout/production/podinfo-canary.yaml"),
    ),
    (
        "production/podinfo-deployment.yaml",
        include_str!("../../examples/repo-layout/production/podinfo-deployment.yaml"),
    ),
];

/// The Namespace the demo uses on a real cluster.
pub const KUBE_NAMESPACE: &str = "fledge-demo";

/// What the overlay changes on a real cluster: its own Namespace, fledge's Release CRD, and
/// podinfo routed by an Ingress (`nginx`) instead of Istio, whose CRDs a demo cluster lacks.
const KUBE_HEAD: &str = "namespace: fledge-demo\n";
const KUBE_RESOURCES: &str = "  - releases.fledge.dev.yaml\n  - podinfo-ingress.yaml\n";
const KUBE_PODINFO_NGINX: &str = "  - target: {kind: Canary, name: podinfo}\n    patch: |\n      - op: replace\n        path: /spec/provider\n        value: nginx\n      - op: add\n        path: /spec/ingressRef\n        value: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}\n      - op: remove\n        path: /spec/service/gateways\n      - op: remove\n        path: /spec/service/hosts\n      - op: remove\n        path: /spec/service/trafficPolicy\n      - op: remove\n        path: /spec/service/retries\n";
const KUBE_FILES: &[(&str, &str)] = &[
    (
        "demo/releases.fledge.dev.yaml",
        include_str!("../../deploy/crds/releases.fledge.dev.yaml"),
    ),
    (
        "demo/podinfo-ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: podinfo\nspec:\n  ingressClassName: nginx\n  rules:\n    - host: podinfo.example.com\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: podinfo\n                port:\n                  number: 9898\n",
    ),
];

/// The demo overlay: analysis every 10s (Flagger's minimum), webhooks on the local load
/// tester, an error rate for podinfo's new pods when given, and on a real cluster what
/// [`KUBE_HEAD`] says.
fn overlay(hooks: &str, podinfo_tag: &str, error_rate: Option<&str>, kube: bool) -> String {
    let pick = |text: &'static str| if kube { text } else { "" };
    let mut deployment_patch = String::new();
    if let Some(rate) = error_rate {
        deployment_patch = format!(
            "  - target: {{kind: Deployment, name: podinfo}}\n    patch: |\n      - op: add\n        path: /spec/template/metadata/annotations/sim.fledge.dev~1error-rate\n        value: \"{rate}\"\n"
        );
    }
    format!(
        "# The production overlay, for the demo: analysis every 10s (Flagger's minimum), and the\n# webhooks answered by a local stand-in for Flagger's load tester.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n{}resources:\n  - ../production\n{}images:\n  - name: ghcr.io/stefanprodan/podinfo\n    newTag: {podinfo_tag}\npatches:\n  - target: {{kind: Canary}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/interval\n        value: 10s\n  - target: {{kind: Canary, name: podinfo}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/webhooks/0/url\n        value: {hooks}/\n      - op: replace\n        path: /spec/analysis/webhooks/1/url\n        value: {hooks}/\n  - target: {{kind: Canary, name: http-echo}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/webhooks/0/url\n        value: {hooks}/\n{deployment_patch}{}",
        pick(KUBE_HEAD),
        pick(KUBE_RESOURCES),
        pick(KUBE_PODINFO_NGINX),
    )
}

fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Dana Developer",
            "-c",
            "user.email=dana@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            Error::Daemon(format!(
                "git {}: {e} (the demo needs the git command)",
                args.join(" ")
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Daemon(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pushes as a person does: when fledge pushed first, pull --rebase and push again.
fn push(work: &Path) -> Result<(), Error> {
    for _ in 0..20 {
        if git(work, &["push", "-q", "origin", "main"]).is_ok() {
            return Ok(());
        }
        git(work, &["pull", "-q", "--rebase", "origin", "main"])?;
    }
    Err(Error::Daemon(
        "could not push to the demo repository".into(),
    ))
}

/// The repositories the demo made.
#[derive(Debug, Clone)]
pub struct DemoRepo {
    pub root: PathBuf,
    /// The bare repository fledge tracks.
    pub origin: PathBuf,
    /// The person's clone.
    pub work: PathBuf,
}

/// What the demo saw, for tests.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub repo: DemoRepo,
    /// Each scene's final view of podinfo.
    pub scenes: Vec<ReleaseView>,
    pub load_tester_calls: u64,
    /// The simulated cluster (`None` on a real one).
    pub sim: Option<crate::cluster::SimHandle>,
}

fn line(v: &ReleaseView, secs: f64) -> String {
    format!(
        "  [{secs:5.1}s] {:<22} {:<17} {} {:>3}%  {}/{} failed checks  {}{}",
        format!("{}/{}", v.namespace, v.name),
        v.phase,
        v.progress_bar(20),
        v.canary_weight,
        v.failed_checks,
        v.threshold,
        v.canary_revision.as_deref().map_or("", |r| &r[..12]),
        if v.fast_rollback && v.phase == "Succeeded" {
            "  (fast rollback)"
        } else {
            ""
        }
    )
}

/// Plays the demo in `root` (made if missing), writing progress to `out`. `customize` may
/// change the daemon's settings (tests add a forge and alert endpoints; `--cluster kube`
/// plays it on a real cluster).
pub async fn play(
    root: &Path,
    out: &mut (dyn Write + Send),
    customize: &(dyn Fn(&mut RunArgs) + Sync),
) -> Result<DemoReport, Error> {
    let started = tokio::time::Instant::now();
    std::fs::create_dir_all(root).map_err(io(root))?;
    let repo = DemoRepo::create(root)?;
    let (hooks, calls) = load_tester(root).await?;
    let mut args = demo_args(root, &repo.origin)?;
    customize(&mut args);
    let kube = args.cluster.as_deref() == Some("kube");
    if kube {
        args.time_scale = None;
        // fledge's inventory and revision key, in the demo's Namespace too.
        args.namespace = Some(KUBE_NAMESPACE.into());
    }
    repo.first_commit(&hooks, kube)?;
    let prepared = super::run::prepare(args).await?;
    let sim = match &prepared.edges.cluster {
        AnyCluster::Sim(sim) => {
            sim.sim
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .set_request_rate(50.0);
            Some(sim.clone())
        }
        AnyCluster::Kube(k) => {
            take_a_namespace(k).await?;
            None
        }
    };
    let shared = Arc::new(Shared::default());
    let token = CancellationToken::new();
    let mut daemon = tokio::spawn(daemon::run(
        prepared.config,
        prepared.edges,
        shared.clone(),
        token.clone(),
    ));
    let mut stage = Stage {
        out,
        shared,
        last: BTreeMap::new(),
        started,
        work: repo.work.clone(),
        hooks,
        kube,
    };
    let result = tokio::select! {
        r = stage.scenes(&repo.origin) => r,
        // The daemon stops only on an error here (a cluster it cannot use, say): say which.
        ended = &mut daemon => Err(Error::Daemon(match ended {
            Ok(Err(e)) => format!("the daemon stopped: {e:#}"),
            Ok(Ok(())) => "the daemon stopped".into(),
            Err(e) => format!("the daemon stopped: {e}"),
        })),
    };
    token.cancel();
    if !daemon.is_finished() {
        let _ = daemon.await;
    }
    let scenes = result?;
    stage.epilogue(&repo, calls.load(Ordering::Relaxed))?;
    Ok(DemoReport {
        repo,
        scenes,
        load_tester_calls: calls.load(Ordering::Relaxed),
        sim,
    })
}

/// On a real cluster the demo takes a Namespace of its own, made here (it holds fledge's
/// inventory and revision key from the start): refused when it exists already (a demo played
/// before, or something else of that name), so nothing of anyone's is touched.
async fn take_a_namespace(k: &crate::cluster::kube::KubeCluster) -> Result<(), Error> {
    let cluster = |e: crate::cluster::kube::Error| Error::Daemon(format!("--cluster kube: {e}"));
    if k.get(&ObjectRef::new("v1", "Namespace", "", KUBE_NAMESPACE))
        .await
        .map_err(cluster)?
        .is_some()
    {
        return Err(Error::Daemon(format!(
            "Namespace {KUBE_NAMESPACE} exists: the demo plays in a Namespace of its own; delete it first (kubectl delete namespace {KUBE_NAMESPACE}) or point --kubeconfig/--context at another cluster"
        )));
    }
    let namespace = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": KUBE_NAMESPACE},
    });
    k.apply(&[namespace]).await.map_err(cluster)?;
    Ok(())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Daemon(format!("{}: {e}", path.display()))
}

impl DemoRepo {
    /// A bare repository (keeping a reflog of every update of main) and a person's clone.
    fn create(root: &Path) -> Result<Self, Error> {
        let origin = root.join("config.git");
        let work = root.join("work");
        let path = |p: &Path, fallback: &'static str| p.to_str().unwrap_or(fallback).to_owned();
        git(
            root,
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                &path(&origin, "config.git"),
            ],
        )?;
        git(&origin, &["config", "core.logAllRefUpdates", "always"])?;
        git(
            root,
            &[
                "clone",
                "-q",
                &path(&origin, "config.git"),
                &path(&work, "work"),
            ],
        )?;
        git(&work, &["checkout", "-q", "-b", "main"])?;
        Ok(Self {
            root: root.to_path_buf(),
            origin,
            work,
        })
    }

    /// The example repository with the demo overlay, committed and pushed.
    fn first_commit(&self, hooks: &str, kube: bool) -> Result<(), Error> {
        let work = &self.work;
        let extra = if kube { KUBE_FILES } else { &[] };
        for (path, text) in EXAMPLE.iter().chain(extra) {
            let p = work.join(path);
            std::fs::create_dir_all(p.parent().unwrap_or(work)).map_err(io(&p))?;
            std::fs::write(&p, text).map_err(io(&p))?;
        }
        let overlay_dir = work.join("demo");
        std::fs::create_dir_all(&overlay_dir).map_err(io(&overlay_dir))?;
        std::fs::write(
            overlay_dir.join("kustomization.yaml"),
            overlay(hooks, "6.5.0", None, kube),
        )
        .map_err(io(&overlay_dir))?;
        git(work, &["add", "-A"])?;
        git(
            work,
            &[
                "commit",
                "-q",
                "-m",
                "Add podinfo and http-echo with canaries",
            ],
        )?;
        push(work)
    }
}

/// A stand-in for Flagger's load tester: answers every webhook with 200 and counts them.
async fn load_tester(root: &Path) -> Result<(String, Arc<AtomicU64>), Error> {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move || {
            let c = counter.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io(root))?;
    let url = format!("http://{}", listener.local_addr().map_err(io(root))?);
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok((url, calls))
}

/// The daemon's settings for the demo: the bare repository, the simulated cluster persisted
/// beside it, its traffic as the metric source, time ten times faster, outcomes written back.
fn demo_args(root: &Path, origin: &Path) -> Result<RunArgs, Error> {
    let http = std::net::TcpListener::bind("127.0.0.1:0").map_err(io(root))?;
    let listen = http.local_addr().map_err(io(root))?;
    drop(http);
    Ok(RunArgs {
        repo: Some(format!("file://{}", origin.display())),
        branch: Some("main".into()),
        path: Some("demo".into()),
        interval: Some("1s".into()),
        cluster: Some(format!("sim:{}", root.join("cluster").display())),
        metrics_provider: Some("sim".into()),
        listen: Some(listen),
        cache_dir: Some(root.join("cache")),
        write_back: Some(true),
        coalesce: Some("300ms".into()),
        author_name: Some("fledge".into()),
        author_email: Some("fledge@localhost".into()),
        time_scale: Some(10.0),
        ..RunArgs::default()
    })
}

/// The demo in progress: where it prints, what it last printed, the person's clone.
struct Stage<'a> {
    out: &'a mut (dyn Write + Send),
    shared: Arc<Shared>,
    /// The last view printed of each release.
    last: BTreeMap<crate::release::spec::ReleaseKey, ReleaseView>,
    started: tokio::time::Instant,
    work: PathBuf,
    /// The load tester's URL, for the overlay.
    hooks: String,
    /// Played on a real cluster.
    kube: bool,
}

impl Stage<'_> {
    /// The Namespace the releases run in.
    fn namespace(&self) -> &'static str {
        if self.kube {
            KUBE_NAMESPACE
        } else {
            "production"
        }
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Waits until podinfo's view satisfies `done`, printing every change of every release.
    async fn wait(
        &mut self,
        what: &str,
        done: impl Fn(&ReleaseView) -> bool,
    ) -> Result<ReleaseView, Error> {
        // A real cluster's time is not sped up ten times: its scenes take ten times longer.
        let scene = Duration::from_secs(if self.kube { 600 } else { 60 });
        let deadline = tokio::time::Instant::now() + scene;
        loop {
            let views = self.shared.releases().clone();
            for (k, v) in &views {
                let mut shown = v.clone();
                shown.last_transition_time.clear();
                if self.last.get(k) != Some(&shown) {
                    let text = line(v, self.started.elapsed().as_secs_f64());
                    self.say(&text);
                    self.last.insert(k.clone(), shown);
                }
            }
            if let Some(v) = views.get(format!("{}/podinfo", self.namespace()).as_str())
                && done(v)
            {
                return Ok(v.clone());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Daemon(format!("the demo did not reach: {what}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Pulls until `done` holds of the clone (fledge's commit arrived), then says `said`.
    async fn pulled(
        &mut self,
        what: &str,
        said: &str,
        done: impl Fn(&Path) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            git(&self.work, &["pull", "-q", "--rebase", "origin", "main"])?;
            if done(&self.work)? {
                self.say(said);
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Daemon(format!("fledge did not {what}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Commits a new overlay (podinfo's tag, and an error rate for its new pods) as a person
    /// would, and pushes it; returns the commit.
    fn bump(&self, tag: &str, error_rate: Option<&str>, message: &str) -> Result<String, Error> {
        let file = self.work.join("demo/kustomization.yaml");
        std::fs::write(&file, overlay(&self.hooks, tag, error_rate, self.kube))
            .map_err(io(&file))?;
        git(&self.work, &["commit", "-q", "-am", message])?;
        push(&self.work)?;
        Ok(git(&self.work, &["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// The four scenes; each scene's final view of podinfo.
    async fn scenes(&mut self, origin: &Path) -> Result<Vec<ReleaseView>, Error> {
        let mut scenes = Vec::new();
        let cluster = if self.kube {
            "the cluster (modelled traffic over its real routing)"
        } else {
            "the simulated cluster"
        };
        self.say(&format!(
            "\n▶ 1. First sync: {} → {cluster}",
            origin.display()
        ));
        scenes.push(
            self.wait("podinfo initialized", |v| v.phase == "Initialized")
                .await?,
        );
        let bump = self.promotion(&mut scenes).await?;
        self.rollback(&mut scenes).await?;
        self.fast_rollback(&bump, &mut scenes).await?;
        Ok(scenes)
    }

    /// Scene 2: an image bump promoted through the canary steps, and its promotion record;
    /// returns the bump's commit.
    async fn promotion(&mut self, scenes: &mut Vec<ReleaseView>) -> Result<String, Error> {
        self.say("\n▶ 2. A person bumps podinfo to 6.5.1: canary analysis, then promotion");
        let bump = self.bump("6.5.1", None, "Bump podinfo to 6.5.1")?;
        let v = self
            .wait("podinfo promoted", |v| {
                v.phase == "Succeeded" && v.source_commit.as_deref() == Some(bump.as_str())
            })
            .await?;
        let promoted = v.primary_revision.clone().map(|r| r.0).unwrap_or_default();
        scenes.push(v);
        let record = format!("{}/{}/podinfo.yaml", keys::PROMOTION_DIR, self.namespace());
        let said = format!("  fledge committed: {record}");
        self.pulled("record the promotion", &said, |work| {
            Ok(std::fs::read_to_string(work.join(&record))
                .unwrap_or_default()
                .contains(&promoted))
        })
        .await?;
        Ok(bump)
    }

    /// Scene 3: a bad bump rolled back, and fledge's revert of it.
    async fn rollback(&mut self, scenes: &mut Vec<ReleaseView>) -> Result<(), Error> {
        self.say("\n▶ 3. A bad bump to 6.5.2: the new pods fail 30% of requests");
        git(&self.work, &["pull", "-q", "--rebase", "origin", "main"])?;
        self.bump("6.5.2", Some("0.3"), "Bump podinfo to 6.5.2")?;
        scenes.push(
            self.wait("podinfo rolled back", |v| v.phase == "Failed")
                .await?,
        );
        let subject = "Revert \"Bump podinfo to 6.5.2\"";
        self.pulled(
            "revert the bad bump",
            &format!("  fledge committed: {subject}"),
            |work| Ok(git(work, &["log", "-1", "--format=%s"])?.trim() == subject),
        )
        .await
    }

    /// Scene 4: `git revert` of the first bump: a revision promoted before, promoted at once.
    async fn fast_rollback(
        &mut self,
        bump: &str,
        scenes: &mut Vec<ReleaseView>,
    ) -> Result<(), Error> {
        self.say(
            "\n▶ 4. The person runs `git revert` of the 6.5.1 bump: back to 6.5.0, promoted before",
        );
        git(&self.work, &["revert", "--no-edit", bump])?;
        push(&self.work)?;
        let reverted = git(&self.work, &["rev-parse", "HEAD"])?.trim().to_owned();
        scenes.push(
            self.wait("fast rollback", |v| {
                v.phase == "Succeeded"
                    && v.fast_rollback
                    && v.source_commit.as_deref() == Some(reverted.as_str())
            })
            .await?,
        );
        // Let the writer record the last outcome.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }

    /// The history as Git tells it, and where to look.
    fn epilogue(&mut self, repo: &DemoRepo, calls: u64) -> Result<(), Error> {
        let work = &repo.work;
        git(
            work,
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/notes/fledge:refs/notes/fledge",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
        )?;
        git(work, &["pull", "-q", "--rebase", "origin", "main"])?;
        let log = git(
            work,
            &["log", "--graph", "--oneline", "--notes=fledge", "main"],
        )?;
        self.say(&format!(
            "\n$ git log --graph --oneline --notes=fledge\n{log}"
        ));
        self.say(&format!(
            "Repository: {} (clone: {})\nStatus branch: git -C {} show origin/fledge/status:releases/{}/podinfo.yaml\nLoad tester calls: {calls}\nDone in {:.0}s.",
            repo.origin.display(),
            work.display(),
            work.display(),
            self.namespace(),
            self.started.elapsed().as_secs_f64()
        ));
        if self.kube {
            self.say(&format!(
                "The demo's objects stay in the cluster: kubectl get all,ingress,releases -n {KUBE_NAMESPACE}; remove them with kubectl delete namespace {KUBE_NAMESPACE}"
            ));
        }
        Ok(())
    }
}

/// `fledge demo`: on the simulated cluster, or with `cluster` `kube` on the cluster the
/// kubeconfig names.
pub fn demo(
    dir: Option<&Path>,
    cluster: &str,
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Daemon(format!("runtime: {e}")))?;
    let root = if let Some(d) = dir {
        d.to_path_buf()
    } else {
        tempfile::Builder::new()
            .prefix("fledge-demo-")
            .tempdir()
            .map_err(|e| Error::Daemon(format!("temporary directory: {e}")))?
            .keep()
    };
    let mut stdout = std::io::stdout();
    let on = |args: &mut RunArgs| {
        if cluster == "kube" {
            args.cluster = Some("kube".into());
            args.kubeconfig = kubeconfig.map(Path::to_path_buf);
            args.context = context.map(str::to_owned);
        }
    };
    rt.block_on(play(&root, &mut stdout, &on)).map(|_| ())
}
