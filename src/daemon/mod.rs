//! `daemon`: the GitOps loop. Wires the pieces into one process:
//!
//! ```text
//! poller ──snapshot──▶ reconciler: desired → sync (apply, prune) → releases ──tick──▶ executor
//!                          │                                             │
//!                          └──── views (API, /metrics) ◀── states ───────┴──▶ outcomes → Git
//! ```
//!
//! One reconciler task owns the releases and ticks each at its own analysis interval (a
//! schedule ordered by due time, so thousands of releases cost one timer). The outcome writer
//! is level-triggered: it makes Git match the latest states (status files, promotion records,
//! reverts, notes), coalescing changes, so a crash or a Git outage delays writes but never
//! duplicates or loses them, and never holds back a rollback.

pub mod any;
pub mod desired;
pub mod http;
pub mod outcomes;
mod reconcile;
mod report;
pub mod sync;

pub use report::Outgoing;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::analysis::webhooks::Webhooks;
use crate::revision::HashKey;
use crate::rollout::executor::{Executor, ReleaseTarget};
use crate::rollout::spec::Provider;
use crate::rollout::state::ReleaseState;
use crate::source::poller::{self, PollState, Timing};
use crate::source::{SourceConfig, webhook};
use any::{AnyCluster, AnyMetrics};

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceConfig,
    pub timing: Timing,
    /// Directory of the repository to render.
    pub path: String,
    pub mesh_provider: Provider,
    pub listen: std::net::SocketAddr,
    /// Namespace of the inventory ConfigMap.
    pub inventory_namespace: String,
    /// Analysis intervals below this are raised to it (Flagger: 10 s).
    pub min_interval: Duration,
    /// Simulated seconds per real second (1 in production; `fledge demo` speeds time up).
    pub time_scale: f64,
    pub promoted_window: usize,
    pub hook_secrets: webhook::HookSecrets,
    pub outcomes: Option<outcomes::OutcomeConfig>,
    /// Directory for the revision key when the cluster is simulated.
    pub state_dir: PathBuf,
    /// Commit statuses go here, when set.
    pub forge: Option<crate::report::forge::ForgeConfig>,
    /// Alerts of Canaries without `analysis.alerts`.
    pub global_alerts: Vec<crate::report::alerts::Target>,
    /// The cluster's name in status contexts and alerts.
    pub cluster_name: String,
}

/// A release as the API shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    pub namespace: String,
    pub name: String,
    pub target: String,
    pub strategy: String,
    pub phase: String,
    pub canary_weight: u8,
    pub max_weight: u8,
    pub failed_checks: u32,
    pub threshold: u32,
    pub iterations: u32,
    pub max_iterations: u32,
    pub canary_revision: Option<String>,
    pub primary_revision: Option<String>,
    pub source_commit: Option<String>,
    pub last_transition_time: String,
    pub message: String,
    pub fast_rollback: bool,
}

impl ReleaseView {
    /// A bar of `width` cells: the canary weight toward its maximum, or the iterations done.
    #[must_use]
    pub fn progress_bar(&self, width: u32) -> String {
        let (done, total) = if self.max_iterations > 0 {
            (self.iterations, self.max_iterations)
        } else {
            (
                u32::from(self.canary_weight),
                u32::from(self.max_weight.max(1)),
            )
        };
        let filled = done.min(total) * width / total.max(1);
        format!(
            "{}{}",
            "█".repeat(filled as usize),
            "░".repeat((width - filled) as usize)
        )
    }

    fn of(t: &ReleaseTarget, s: &ReleaseState) -> Self {
        Self {
            namespace: t.spec.namespace.clone(),
            name: t.spec.name.clone(),
            target: t.spec.target.name.clone(),
            strategy: t.spec.strategy().as_str().to_owned(),
            phase: s.phase.to_string(),
            canary_weight: s.canary_weight,
            max_weight: t.spec.max_weight(),
            failed_checks: s.failed_checks,
            threshold: t.spec.analysis.threshold,
            iterations: s.iterations,
            max_iterations: t.spec.analysis.iterations,
            canary_revision: s.canary_revision.clone(),
            primary_revision: s.primary_revision.clone(),
            source_commit: s.source_commit.clone(),
            last_transition_time: crate::writeback::record::rfc3339(s.last_transition_time),
            message: s.message.clone(),
            fast_rollback: s.fast_rollback,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub polls: u64,
    pub poll_errors: u64,
    pub renders: u64,
    pub render_errors: u64,
    pub applies: u64,
    pub apply_errors: u64,
    pub ticks: u64,
    pub writebacks: u64,
    pub writeback_errors: u64,
    /// Promotions and rollbacks per release and strategy label.
    pub successes: BTreeMap<(String, String, String), u64>,
    pub failures: BTreeMap<(String, String, String), u64>,
    pub metric_values: BTreeMap<(String, String, String), f64>,
}

/// State shared with the HTTP server.
#[derive(Debug, Default)]
pub struct Shared {
    pub releases: Mutex<BTreeMap<String, ReleaseView>>,
    pub counters: Mutex<Counters>,
    pub ready: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wall-clock unix seconds, sped up by the time scale.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_unix: f64,
    start: tokio::time::Instant,
    scale: f64,
}

impl Clock {
    #[must_use]
    pub fn new(scale: f64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            start_unix: now,
            start: tokio::time::Instant::now(),
            scale: scale.max(0.001),
        }
    }

    /// Unix seconds.
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "unix seconds fit an i64 for ages"
    )]
    pub fn now(&self) -> i64 {
        (self.start_unix + self.start.elapsed().as_secs_f64() * self.scale) as i64
    }

    /// Real time for a span of (scaled) time.
    #[must_use]
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.scale)
    }
}

/// What the outcome writer works from.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub commit: Option<String>,
    pub releases: BTreeMap<String, (Arc<ReleaseTarget>, ReleaseState)>,
}

/// Runs the daemon until `shutdown`.
pub async fn run(
    config: Config,
    cluster: AnyCluster,
    metrics: AnyMetrics,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tracker = tokio_util::task::TaskTracker::new();
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
    let _watch = crate::source::watch::local_repo_dir(&config.source.url)
        .and_then(|dir| crate::source::watch::watch_refs(&dir, wake.clone()).ok());
    let clock = Clock::new(config.time_scale);
    if let AnyCluster::Sim(sim) = &cluster {
        let sim = sim.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    _ = every.tick() => {}
                }
                let now =
                    Duration::from_secs_f64(clock.start.elapsed().as_secs_f64() * clock.scale);
                let mut s = sim.sim.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = s.tick(now) {
                    warn!(error = %e, "simulated cluster");
                }
            }
        });
    }
    let receiver = webhook::Receiver::new(config.hook_secrets.clone(), wake.clone());
    let app = http::router(
        shared.clone(),
        receiver,
        match &cluster {
            AnyCluster::Sim(s) => Some(s.sim.clone()),
            AnyCluster::Kube(_) => None,
        },
    );
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    info!(listen = %listener.local_addr()?, "serving");
    let stop = shutdown.clone();
    tracker.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    let key = match &cluster {
        AnyCluster::Kube(k) => {
            k.revision_key(&config.inventory_namespace, "fledge-revision-key")
                .await?
        }
        AnyCluster::Sim(_) => HashKey::load_or_create(&config.state_dir.join("revision.key"))?,
    };
    let (world_tx, world_rx) = watch::channel(World::default());
    let (alert_tx, alert_rx) = tokio::sync::mpsc::channel::<Outgoing>(256);
    tracker.spawn(report::report(
        config.forge.clone().map(crate::report::forge::Forge::new),
        config.cluster_name.clone(),
        world_rx.clone(),
        alert_rx,
        shutdown.clone(),
    ));
    if let Some(oc) = config.outcomes.clone() {
        let w = outcomes::Writer::new(
            oc,
            config.path.clone(),
            config.mesh_provider.clone(),
            key.clone(),
            shared.clone(),
            alert_tx.clone(),
            config.global_alerts.clone(),
        )?;
        tracker.spawn(w.run(world_rx, shutdown.clone()));
    }
    let exec = Executor {
        cluster,
        metrics,
        webhooks: Webhooks::default(),
        templates: BTreeMap::new(),
        promoted_window: config.promoted_window,
    };
    let result = reconcile::reconcile(
        &config, exec, key, poll_rx, world_tx, alert_tx, &shared, clock, &shutdown,
    )
    .await;
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        warn!("tasks did not stop within 10s");
    }
    result
}
