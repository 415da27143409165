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
pub mod sync;

use std::collections::{BTreeMap, BTreeSet};
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

/// An alert on its way out.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub alert: crate::report::alerts::Alert,
    pub targets: Vec<crate::report::alerts::Target>,
}

/// Sends commit statuses for every release state and the alerts it is given. Failures are
/// logged and counted; nothing here can hold back a rollout.
async fn report(
    forge: Option<crate::report::forge::Forge>,
    cluster_name: String,
    mut world: watch::Receiver<World>,
    mut alerts: tokio::sync::mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let notifier = crate::report::alerts::Notifier::default();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            Some(out) = alerts.recv() => {
                for t in &out.targets {
                    if let Err(e) = notifier.send(t, &out.alert).await {
                        warn!(error = %e, "alert not delivered");
                    }
                }
            }
            r = world.changed(), if forge.is_some() => {
                if r.is_err() {
                    return;
                }
                let w = world.borrow_and_update().clone();
                if let Some(f) = &forge {
                    for (t, s) in w.releases.values() {
                        let view = ReleaseView::of(t, s);
                        if let Some(st) = crate::report::forge::status_of(&view, &cluster_name)
                            && let Err(e) = f.post(&st).await
                        {
                            warn!(error = %e, "commit status not posted");
                        }
                    }
                }
            }
        }
    }
}

/// The targets of an alert for a release: its `analysis.alerts` entries that take this
/// severity, or the global notifier when it has none.
async fn alert_targets(
    cluster: &AnyCluster,
    t: &ReleaseTarget,
    providers: &BTreeMap<(String, String), crate::rollout::spec::AlertProvider>,
    global: &[crate::report::alerts::Target],
    severity: crate::rollout::spec::Severity,
) -> Vec<crate::report::alerts::Target> {
    use crate::cluster::Cluster as _;
    use crate::report::alerts::{Target, receives};
    if t.spec.analysis.alerts.is_empty() {
        return global.to_vec();
    }
    let mut out = Vec::new();
    for a in &t.spec.analysis.alerts {
        if !receives(a.severity, severity) {
            continue;
        }
        let Some(p) = providers.get(&(a.provider_namespace.clone(), a.provider_name.clone()))
        else {
            warn!(release = %t.spec.name, provider = %a.provider_name, "alert provider not in the repository");
            continue;
        };
        let (mut address, mut token) = (p.address.clone(), None);
        if let Some(secret) = &p.secret_ref
            && let Ok(Some(s)) = cluster.get("v1", "Secret", &p.namespace, secret).await
        {
            let field = |k: &str| crate::cluster::secret_field(&s, k);
            if let Some(a) = field("address") {
                address = Some(a);
            }
            token = field("token");
        }
        if let Some(addr) = address {
            out.push(Target::of(p, addr, token));
        } else {
            warn!(provider = %p.name, "alert provider has no address");
        }
    }
    out
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
    fn of(t: &ReleaseTarget, s: &ReleaseState) -> Self {
        Self {
            namespace: t.spec.namespace.clone(),
            name: t.spec.name.clone(),
            target: t.spec.target.name.clone(),
            strategy: serde_json::to_value(t.spec.strategy())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
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
    pub last_commit: Mutex<Option<String>>,
    pub problems: Mutex<Vec<String>>,
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
    pub releases: BTreeMap<String, (ReleaseTarget, ReleaseState)>,
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
    tracker.spawn(report(
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
    let result = reconcile(
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

struct Entry {
    target: ReleaseTarget,
    due: tokio::time::Instant,
}

/// The reconciler: applies each new snapshot and ticks every release when it is due.
#[allow(clippy::too_many_arguments)]
async fn reconcile(
    config: &Config,
    mut exec: Executor<AnyCluster, AnyMetrics>,
    key: HashKey,
    mut polls: watch::Receiver<PollState>,
    world: watch::Sender<World>,
    alerts: tokio::sync::mpsc::Sender<Outgoing>,
    shared: &Arc<Shared>,
    clock: Clock,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut states: BTreeMap<String, ReleaseState> = BTreeMap::new();
    // The commit that brought each release's current revision.
    let mut brought: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut seen_commit: Option<String> = None;
    let mut providers = BTreeMap::new();
    let mut last_polls = 0;
    loop {
        let next_due = entries.values().map(|e| e.due).min();
        let sleep = async {
            match next_due {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            changed = polls.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            () = sleep => {}
        }
        let poll = polls.borrow_and_update().clone();
        if poll.polls != last_polls {
            last_polls = poll.polls;
            let mut c = shared.counters();
            c.polls += 1;
            if poll.error.is_some() {
                c.poll_errors += 1;
            }
        }
        if let Some(snap) = poll.snapshot.clone()
            && seen_commit.as_deref() != Some(&snap.commit.to_string())
        {
            let commit = snap.commit.to_string();
            seen_commit = Some(commit.clone());
            *shared
                .last_commit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(commit.clone());
            let (path, provider, key2) = (
                config.path.clone(),
                config.mesh_provider.clone(),
                key.clone(),
            );
            let c2 = commit.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                desired::desired(&snap.files, &path, &c2, &provider, &key2)
            })
            .await?;
            shared.counters().renders += 1;
            match rendered {
                Err(e) => {
                    shared.counters().render_errors += 1;
                    warn!(commit = %commit, error = %e, "render failed; the cluster keeps the last good commit");
                    *shared
                        .problems
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = vec![e.to_string()];
                }
                Ok(d) => {
                    for p in &d.problems {
                        warn!(commit = %commit, "{p}");
                    }
                    shared
                        .problems
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone_from(&d.problems);
                    match sync::sync(
                        &exec.cluster,
                        &config.inventory_namespace,
                        &d.plain,
                        &d.owned,
                    )
                    .await
                    {
                        Ok(s) => {
                            shared.counters().applies += 1;
                            info!(commit = %commit, applied = s.applied, pruned = s.pruned.len(), "synced");
                            shared
                                .ready
                                .store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => {
                            shared.counters().apply_errors += 1;
                            warn!(commit = %commit, error = %e, "sync failed; retried at the next commit or poll");
                        }
                    }
                    exec.templates = d.templates.clone();
                    providers = d.alert_providers.clone();
                    let now = tokio::time::Instant::now();
                    let mut next: BTreeMap<String, Entry> = BTreeMap::new();
                    for (k, mut t) in d.releases {
                        let rev = t.revision.id.0.clone();
                        // Keep the commit that first brought this revision.
                        let prior = match brought.get(&k) {
                            Some((r, c)) if *r == rev => Some(c.clone()),
                            Some(_) => None,
                            None => match exec.load(&t.spec).await {
                                Ok(s) if s.canary_revision.as_deref() == Some(rev.as_str()) => {
                                    s.source_commit.clone()
                                }
                                Ok(s) if s.primary_revision.as_deref() == Some(rev.as_str()) => {
                                    s.primary_commit.clone()
                                }
                                _ => None,
                            },
                        };
                        let c = prior.unwrap_or_else(|| commit.clone());
                        brought.insert(k.clone(), (rev, c.clone()));
                        t.commit = Some(c);
                        let due = match entries.remove(&k) {
                            Some(old)
                                if old.target.revision == t.revision
                                    && old.target.spec == t.spec =>
                            {
                                old.due
                            }
                            _ => now,
                        };
                        next.insert(k, Entry { target: t, due });
                    }
                    for gone in entries.keys() {
                        info!(release = %gone, "release removed from the repository; its objects stay as they are");
                        states.remove(gone);
                        shared
                            .releases
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(gone);
                    }
                    entries = next;
                }
            }
        }
        // Tick what is due.
        let now = tokio::time::Instant::now();
        let due: BTreeSet<String> = entries
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let Some(e) = entries.get_mut(&k) else {
                continue;
            };
            let interval = e.target.spec.analysis.interval.max(config.min_interval);
            e.due = tokio::time::Instant::now() + clock.real(interval);
            match exec.tick(&e.target, clock.now()).await {
                Ok(report) => {
                    let prev = states.get(&k).map(|s| s.phase);
                    {
                        let mut c = shared.counters();
                        c.ticks += 1;
                        let label = (
                            e.target.spec.target.name.clone(),
                            e.target.spec.namespace.clone(),
                            e.target.spec.strategy().flagger_label().to_owned(),
                        );
                        if prev.is_some() && prev != Some(report.state.phase) {
                            match report.state.phase {
                                crate::rollout::Phase::Succeeded => {
                                    *c.successes.entry(label).or_default() += 1;
                                }
                                crate::rollout::Phase::Failed => {
                                    *c.failures.entry(label).or_default() += 1;
                                }
                                _ => {}
                            }
                        }
                    }
                    for ev in &report.events {
                        let Some((severity, text)) = &ev.alert else {
                            continue;
                        };
                        let targets = alert_targets(
                            &exec.cluster,
                            &e.target,
                            &providers,
                            &config.global_alerts,
                            *severity,
                        )
                        .await;
                        if targets.is_empty() {
                            continue;
                        }
                        let alert = crate::report::alerts::Alert {
                            object: e.target.spec.dotted(),
                            message: text.clone(),
                            severity: *severity,
                            fields: crate::report::alerts::details(
                                &e.target.spec,
                                Some(&config.cluster_name),
                            ),
                        };
                        // A full queue drops the alert rather than hold back the rollout.
                        if alerts.try_send(Outgoing { alert, targets }).is_err() {
                            warn!(release = %k, "alert queue full; alert dropped");
                        }
                    }
                    {
                        let mut c = shared.counters();
                        for m in &report.metrics {
                            c.metric_values.insert(
                                (
                                    e.target.spec.target.name.clone(),
                                    e.target.spec.namespace.clone(),
                                    m.name.clone(),
                                ),
                                m.value,
                            );
                        }
                    }
                    shared
                        .releases
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(k.clone(), ReleaseView::of(&e.target, &report.state));
                    states.insert(k.clone(), report.state);
                }
                Err(err) => {
                    warn!(release = %k, error = %err, "tick failed; retried at the next interval");
                }
            }
        }
        world.send_replace(World {
            commit: seen_commit.clone(),
            releases: entries
                .iter()
                .filter_map(|(k, e)| {
                    states
                        .get(k)
                        .map(|s| (k.clone(), (e.target.clone(), s.clone())))
                })
                .collect(),
        });
    }
}
