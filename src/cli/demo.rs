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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Error;
use super::run::RunArgs;
use crate::daemon::{self, ReleaseView, Shared};

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

/// The demo overlay: Flagger's shortest interval, and webhooks on the local load tester.
fn overlay(hooks: &str, podinfo_tag: &str, error_rate: Option<&str>) -> String {
    let mut deployment_patch = String::new();
    if let Some(rate) = error_rate {
        deployment_patch = format!(
            "  - target: {{kind: Deployment, name: podinfo}}\n    patch: |\n      - op: add\n        path: /spec/template/metadata/annotations/sim.fledge.dev~1error-rate\n        value: \"{rate}\"\n"
        );
    }
    format!(
        "# The production overlay, for the demo: analysis every 10s (Flagger's minimum), and the\n# webhooks answered by a local stand-in for Flagger's load tester.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../production\nimages:\n  - name: ghcr.io/stefanprodan/podinfo\n    newTag: {podinfo_tag}\npatches:\n  - target: {{kind: Canary}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/interval\n        value: 10s\n  - target: {{kind: Canary, name: podinfo}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/webhooks/0/url\n        value: {hooks}/\n      - op: replace\n        path: /spec/analysis/webhooks/1/url\n        value: {hooks}/\n  - target: {{kind: Canary, name: http-echo}}\n    patch: |\n      - op: replace\n        path: /spec/analysis/webhooks/0/url\n        value: {hooks}/\n{deployment_patch}"
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
    pub sim: crate::cluster::SimHandle,
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
/// change the daemon's settings (tests add a forge and alert endpoints).
pub async fn play(
    root: &Path,
    out: &mut (dyn Write + Send),
    customize: &(dyn Fn(&mut RunArgs) + Sync),
) -> Result<DemoReport, Error> {
    let io = |e: std::io::Error| Error::Daemon(format!("{}: {e}", root.display()));
    let started = tokio::time::Instant::now();
    let say = |out: &mut (dyn Write + Send), text: &str| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    std::fs::create_dir_all(root).map_err(io)?;
    let origin = root.join("config.git");
    let work = root.join("work");
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap_or("config.git"),
        ],
    )?;
    // Keep a reflog on the bare repository, so every update of main can be audited.
    git(&origin, &["config", "core.logAllRefUpdates", "always"])?;
    git(
        root,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap_or("config.git"),
            work.to_str().unwrap_or("work"),
        ],
    )?;
    git(&work, &["checkout", "-q", "-b", "main"])?;

    // A stand-in for Flagger's load tester: answers every webhook with 200 and counts them.
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
    let hooks_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let hooks = format!("http://{}", hooks_listener.local_addr().map_err(io)?);
    tokio::spawn(axum::serve(hooks_listener, app).into_future());

    for (path, text) in EXAMPLE {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(&work)).map_err(io)?;
        std::fs::write(p, text).map_err(io)?;
    }
    std::fs::create_dir_all(work.join("demo")).map_err(io)?;
    std::fs::write(
        work.join("demo/kustomization.yaml"),
        overlay(&hooks, "6.5.0", None),
    )
    .map_err(io)?;
    git(&work, &["add", "-A"])?;
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "Add podinfo and http-echo with canaries",
        ],
    )?;
    push(&work)?;

    let http = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let listen = http.local_addr().map_err(io)?;
    drop(http);
    let mut args = RunArgs {
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
    };
    customize(&mut args);
    let prepared = super::run::prepare(args).await?;
    let sim = match &prepared.cluster {
        daemon::any::AnyCluster::Sim(s) => s.clone(),
        daemon::any::AnyCluster::Kube(_) => {
            return Err(Error::Daemon(
                "the demo runs on the simulated cluster".into(),
            ));
        }
    };
    sim.sim
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .set_request_rate(50.0);
    let shared = Arc::new(Shared::default());
    let token = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(
        prepared.config,
        prepared.cluster,
        prepared.metrics,
        shared.clone(),
        token.clone(),
    ));
    let mut scenes = Vec::new();
    let mut last: BTreeMap<String, ReleaseView> = BTreeMap::new();
    // Waits until podinfo's view satisfies `done`, printing every change.
    let mut wait = async |out: &mut (dyn Write + Send),
                          what: &str,
                          done: &dyn Fn(&ReleaseView) -> bool|
           -> Result<ReleaseView, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let views = shared
                .releases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for (k, v) in &views {
                let mut shown = v.clone();
                shown.last_transition_time.clear();
                let mut before = last.get(k).cloned();
                if let Some(b) = before.as_mut() {
                    b.last_transition_time.clear();
                }
                if before.as_ref() != Some(&shown) {
                    say(out, &line(v, started.elapsed().as_secs_f64()));
                    last.insert(k.clone(), shown);
                }
            }
            if let Some(v) = views.get("production/podinfo")
                && done(v)
            {
                return Ok(v.clone());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Daemon(format!("the demo did not reach: {what}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let result: Result<(), Error> = async {
        say(
            out,
            &format!(
                "\n▶ 1. First sync: {} → the simulated cluster",
                origin.display()
            ),
        );
        let v = wait(out, "podinfo initialized", &|v| v.phase == "Initialized").await?;
        scenes.push(v);

        say(
            out,
            "\n▶ 2. A person bumps podinfo to 6.5.1: canary analysis, then promotion",
        );
        std::fs::write(
            work.join("demo/kustomization.yaml"),
            overlay(&hooks, "6.5.1", None),
        )
        .map_err(io)?;
        git(&work, &["commit", "-q", "-am", "Bump podinfo to 6.5.1"])?;
        push(&work)?;
        let bump = git(&work, &["rev-parse", "HEAD"])?.trim().to_owned();
        let v = wait(out, "podinfo promoted", &|v| {
            v.phase == "Succeeded" && v.source_commit.as_deref() == Some(bump.as_str())
        })
        .await?;
        let promoted = v.primary_revision.clone().unwrap_or_default();
        scenes.push(v);
        // fledge records the promotion on main.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            git(&work, &["pull", "-q", "--rebase", "origin", "main"])?;
            let record =
                std::fs::read_to_string(work.join(".fledge/promoted/production/podinfo.yaml"))
                    .unwrap_or_default();
            if record.contains(&promoted) {
                say(
                    out,
                    "  fledge committed: .fledge/promoted/production/podinfo.yaml",
                );
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Daemon("fledge did not record the promotion".into()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        say(
            out,
            "\n▶ 3. A bad bump to 6.5.2: the new pods fail 30% of requests",
        );
        git(&work, &["pull", "-q", "--rebase", "origin", "main"])?;
        std::fs::write(
            work.join("demo/kustomization.yaml"),
            overlay(&hooks, "6.5.2", Some("0.3")),
        )
        .map_err(io)?;
        git(&work, &["commit", "-q", "-am", "Bump podinfo to 6.5.2"])?;
        push(&work)?;
        let v = wait(out, "podinfo rolled back", &|v| v.phase == "Failed").await?;
        scenes.push(v);
        // fledge reverts the bad bump on main.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            git(&work, &["pull", "-q", "--rebase", "origin", "main"])?;
            let log = git(&work, &["log", "-1", "--format=%s"])?;
            if log.trim() == "Revert \"Bump podinfo to 6.5.2\"" {
                say(out, "  fledge committed: Revert \"Bump podinfo to 6.5.2\"");
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Daemon("fledge did not revert the bad bump".into()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        say(
            out,
            "\n▶ 4. The person runs `git revert` of the 6.5.1 bump: back to 6.5.0, promoted before",
        );
        git(&work, &["revert", "--no-edit", &bump])?;
        push(&work)?;
        let reverted = git(&work, &["rev-parse", "HEAD"])?.trim().to_owned();
        let v = wait(out, "fast rollback", &|v| {
            v.phase == "Succeeded"
                && v.fast_rollback
                && v.source_commit.as_deref() == Some(reverted.as_str())
        })
        .await?;
        scenes.push(v);
        // Let the writer record the last outcome.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }
    .await;
    token.cancel();
    let _ = daemon.await;
    result?;
    git(
        &work,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/notes/fledge:refs/notes/fledge",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    )?;
    git(&work, &["pull", "-q", "--rebase", "origin", "main"])?;
    let log = git(
        &work,
        &["log", "--graph", "--oneline", "--notes=fledge", "main"],
    )?;
    say(
        out,
        &format!("\n$ git log --graph --oneline --notes=fledge\n{log}"),
    );
    say(
        out,
        &format!(
            "Repository: {} (clone: {})\nStatus branch: git -C {} show origin/fledge/status:releases/production/podinfo.yaml\nLoad tester calls: {}\nDone in {:.0}s.",
            origin.display(),
            work.display(),
            work.display(),
            calls.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(DemoReport {
        repo: DemoRepo {
            root: root.to_path_buf(),
            origin,
            work,
        },
        scenes,
        load_tester_calls: calls.load(Ordering::Relaxed),
        sim,
    })
}

/// `fledge demo`.
pub fn demo(dir: Option<&Path>) -> Result<(), Error> {
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
    rt.block_on(play(&root, &mut stdout, &|_| {})).map(|_| ())
}
