//! `daemon`: the GitOps loop. Wires the pieces into one process:
//!
//! ```text
//! poller ──snapshot──▶ reconciler: targets → sync (apply, prune) → releases ──tick──▶ executor
//!                          │                                               │
//!                          └──── views (API, /metrics) ◀── states ─────────┴──▶ outcomes → Git
//! ```
//!
//! [`config`] validates the settings, [`edges`] connects what they name, [`run`] spawns the
//! tasks: the poller, the HTTP server, the reporter, the outcome writer and the reconciler,
//! which owns the releases and ticks each at its own analysis interval (a schedule ordered by
//! due time, so thousands of releases cost one timer). The outcome writer is level-triggered:
//! it makes Git match the latest states (status files, promotion records, reverts, notes),
//! coalescing changes, so a crash or a Git outage delays writes but never duplicates or loses
//! them, and never holds back a rollback.
//!
//! Files import downward only: `mod.rs` wires; the tasks share [`shared`] and [`config`].

pub mod artifacts;
pub mod config;
pub mod context;
pub mod edges;
pub mod http;
pub mod images;
mod leadership;
mod notifications;
pub mod outcomes;
mod reconcile;
mod report;
pub mod repositories;
pub mod shard;
pub mod shared;

pub use config::Config;
pub use context::Context;
pub use edges::Edges;
pub use report::Outgoing;
pub use shared::{Clock, Shared, World};

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::analysis::webhooks::Webhooks;
use crate::keys;
use crate::revision::HashKey;
use crate::rollout::executor::Executor;
use crate::source::poller::{self, PollState};
use crate::source::{watch as local_watch, webhook};
use edges::AnyCluster;
use reconcile::Reconciler;

/// How long tasks get to stop after the shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Runs the daemon until `shutdown`.
pub async fn run(
    config: Config,
    edges: Edges,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tracker = TaskTracker::new();
    let wake = Arc::new(Notify::new());
    let (poll_tx, poll_rx) = watch::channel(PollState::default());
    tracker.spawn(poller::run(
        config.source.clone(),
        config.timing,
        wake.clone(),
        poll_tx,
        shutdown.clone(),
    ));
    // Instant triggers: an inotify watch of a local repository.
    let _watch = local_watch::local_repo_dir(&config.source.url)
        .and_then(|dir| local_watch::watch_refs(&dir, wake.clone()).ok());
    let clock = Clock::new(config.time_scale);
    if let AnyCluster::Sim(sim) = &edges.cluster {
        tracker.spawn(run_simulation(sim.clone(), clock, shutdown.clone()));
    }
    serve(&config, &edges, &shared, wake, &tracker, &shutdown).await?;
    // With leader election, nothing below runs before this replica leads.
    let lease = match &config.leader_election {
        Some(le) => {
            shared.set_standby(true);
            let Some(lease) = leadership::acquire(le, &config, &edges.cluster, &shutdown).await?
            else {
                return Ok(());
            };
            shared.set_standby(false);
            Some(lease)
        }
        None => None,
    };
    let key = revision_key(&config, &edges.cluster).await?;
    let (world_tx, world_rx) = watch::channel(World::default());
    let (alert_tx, alert_rx) = mpsc::channel::<Outgoing>(256);
    tracker.spawn(report::report(
        edges.forge,
        edges.notifier,
        config.cluster_name.clone(),
        world_rx.clone(),
        alert_rx,
        shutdown.clone(),
    ));
    let cluster_data: Arc<dyn crate::rollout::targets::ClusterData> =
        Arc::new(edges::BlockingCluster::new(edges.cluster.clone()));
    let further = Arc::new(repositories::Further::new(
        cluster_data.clone(),
        config.source.cache_dir.join("repositories"),
    ));
    let env = crate::rollout::targets::BuildEnv {
        cluster: cluster_data,
        repositories: further.clone(),
        helm: Arc::new(crate::helm::Local::new(
            config.helm_engine.clone(),
            Some(config.source.cache_dir.join("charts")),
        )),
        keys: config.sops_keys.clone(),
    };
    let ctx = Context {
        path: config.path.clone(),
        provider: config.mesh_provider.clone(),
        ingress_class: config.ingress_class.clone(),
        key,
        env,
        further,
        shared,
        alerts: alert_tx,
        global_alerts: config.global_alerts.clone(),
        clock,
    };
    spawn_writers(&config, &ctx, world_rx, &tracker, &shutdown)?;
    let exec = Executor {
        cluster: edges.cluster,
        metrics: edges.metrics,
        webhooks: Webhooks::default(),
        templates: BTreeMap::new(),
        promoted_window: config.promoted_window,
        owner: Some(config.owner()),
    };
    let lost = lease.as_ref().map(|l| l.watch_loss(&tracker, &shutdown));
    let reconciler = Reconciler::new(config, ctx, exec, world_tx);
    let result = Box::pin(reconciler.run(poll_rx, &shutdown)).await;
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
        warn!("tasks did not stop within {GRACE:?}");
    }
    // The Lease is released only once nothing acts any more.
    if let Some(lease) = lease {
        lease.release().await;
    }
    if lost.is_some_and(|l| l.load(std::sync::atomic::Ordering::SeqCst)) {
        anyhow::bail!("lost the leader lease; stopped so that a single replica acts");
    }
    result
}

/// The tasks that write to Git: the outcome writer and image automation (which commits where
/// outcomes are written, with the same credentials); none without write-back.
fn spawn_writers(
    config: &Config,
    ctx: &Context,
    world: watch::Receiver<World>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(oc) = config.outcomes.clone() else {
        return Ok(());
    };
    let automation = images::Automation::new(
        oc.writer.clone(),
        oc.branch.clone(),
        config.helm_engine.clone(),
        ctx.clone(),
    );
    tracker.spawn(automation.run(world.clone(), shutdown.clone()));
    let w = outcomes::Writer::new(oc, ctx.clone())?;
    tracker.spawn(w.run(world, shutdown.clone()));
    Ok(())
}

/// Binds `--listen` (and `--health-listen`, when set) and serves the API, metrics and webhook
/// receivers (and the probes alone) until shutdown. Nothing is served unless both are bound.
async fn serve(
    config: &Config,
    edges: &Edges,
    shared: &Arc<Shared>,
    wake: Arc<Notify>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let receiver = webhook::Receiver::recorded(
        config.hook_secrets.clone(),
        wake,
        config.webhook_record.clone(),
    )?;
    let sim = match &edges.cluster {
        AnyCluster::Sim(s) => Some(s.sim.clone()),
        AnyCluster::Kube(_) => None,
    };
    let app = http::router(shared.clone(), receiver, sim, config.api_token.clone());
    let bind = |addr, flag: &'static str| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("{flag} {addr}: {e}"))
    };
    let listener = bind(config.listen, "--listen").await?;
    let health = match config.health_listen {
        Some(addr) => Some(bind(addr, "--health-listen").await?),
        None => None,
    };
    info!(listen = %listener.local_addr()?, "serving");
    tracker.spawn(http::serve(
        listener,
        app,
        http::Limits::default(),
        shutdown.clone(),
    ));
    if let Some(health) = health {
        info!(listen = %health.local_addr()?, "serving the probes");
        tracker.spawn(http::serve(
            health,
            http::health_router(shared.clone()),
            http::Limits::health(),
            shutdown.clone(),
        ));
    }
    Ok(())
}

/// The installation's revision key: a Secret in the cluster, or a file beside the simulated
/// cluster.
async fn revision_key(config: &Config, cluster: &AnyCluster) -> anyhow::Result<HashKey> {
    Ok(match cluster {
        AnyCluster::Kube(k) => {
            k.revision_key(&config.inventory_namespace, keys::REVISION_KEY_SECRET)
                .await?
        }
        AnyCluster::Sim(_) => HashKey::load_or_create(&config.state_dir.join("revision.key"))?,
    })
}

/// Runs the simulated cluster's controllers and traffic every 100 ms of real time.
async fn run_simulation(sim: crate::cluster::SimHandle, clock: Clock, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let mut s = sim.sim.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = s.tick(clock.elapsed()) {
            warn!(error = %e, "simulated cluster");
        }
    }
}
