//! The sync steps of the reconciler: render a new commit, hold the apps of the Canaries it
//! breaks, apply its plain objects and prune what it dropped, adopt its releases once that
//! succeeded, and keep the sync's status (like Flux's `Ready` condition, with a reason) true.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::time::Instant;
use tracing::{info, warn};

use super::{Declared, Reconciler, UnitRun, short};
use crate::chain::Chain;
use crate::cluster::Cluster;
use crate::cluster::inventory;
use crate::ids::CommitId;
use crate::keys;
use crate::object::{ObjectKey, ObjectRef};
use crate::release::spec::ReleaseKey;
use crate::release::spec::Severity;
use crate::report::alerts::Alert;
use crate::report::sync::{HistoryRewrite, NotReady, SyncReason};
use crate::rollout::targets::{self, Desired};
use crate::source::Snapshot;
use crate::source::poller::PollState;

/// How long the cluster's capabilities read for charts are used before they are read again.
const CAPABILITIES_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

impl Reconciler {
    /// Reads the real cluster's version and API versions for charts' `.Capabilities`, as
    /// helm-controller's Helm reads them from the cluster it installs into (at most every
    /// [`CAPABILITIES_KEPT`]). When they cannot be read, the last read are kept; before any,
    /// HelmReleases fail saying why rather than render with Helm's defaults. The simulated
    /// cluster serves Helm's defaults.
    async fn read_capabilities(&mut self) {
        use crate::helm::Capabilities;
        let crate::daemon::edges::AnyCluster::Kube(k) = &self.exec.cluster else {
            return;
        };
        if self
            .capabilities_at
            .is_some_and(|at| at.elapsed() < CAPABILITIES_KEPT)
        {
            return;
        }
        let read = match k.capabilities().await {
            Ok((kube_version, api_versions)) => {
                self.capabilities_at = Some(Instant::now());
                Capabilities::Discovered {
                    kube_version,
                    api_versions,
                }
            }
            Err(e) => {
                warn!(error = %Chain(&e), "cannot read the cluster's API versions for charts' .Capabilities");
                if self.capabilities_read {
                    return;
                }
                Capabilities::Unknown(Chain(&e).to_string())
            }
        };
        self.capabilities_read |= matches!(read, Capabilities::Discovered { .. });
        self.ctx.env.helm.set_capabilities(read);
    }

    /// A new commit: render it, sync its plain objects, adopt its releases. A commit that does
    /// not render, or whose objects the cluster refuses, leaves the cluster and the releases on
    /// the last good one.
    pub(super) async fn on_snapshot(&mut self, snap: Arc<Snapshot>) -> anyhow::Result<()> {
        let commit = snap.commit.clone();
        self.verify_again = None;
        self.seen_commit = Some(commit.clone());
        self.snapshot = Some(snap.clone());
        self.read_capabilities().await;
        let (path, provider, key, c, env) = (
            self.ctx.path.clone(),
            self.ctx.provider.clone(),
            self.ctx.key.clone(),
            commit.clone(),
            self.ctx.env.clone(),
        );
        let rendered = tokio::task::spawn_blocking(move || {
            targets::desired(&snap.files, &path, &c, &provider, &key, &env)
        })
        .await?;
        self.ctx.shared.counters().renders += 1;
        match rendered {
            Err(e) => {
                self.ctx.shared.counters().render_errors += 1;
                warn!(commit = %commit, error = %Chain(&e), "render failed; the cluster keeps the last good commit");
                let reason = match &e {
                    crate::render::Error::NoSuchPath { .. } => SyncReason::PathMissing,
                    _ => SyncReason::RenderFailed,
                };
                let why = NotReady::new(
                    reason,
                    format!(
                        "render failed, the cluster keeps the last good commit: {}",
                        Chain(&e)
                    ),
                );
                self.unrendered = Some((commit.clone(), why.clone()));
                self.synced(&commit, Err(why));
            }
            Ok(d) if d.verify.is_some() && self.verified(&commit, &d).await.is_err() => {}
            Ok(mut d) => {
                self.unrendered = None;
                let foreign = self.split_shards(&mut d);
                for p in &d.problems {
                    warn!(commit = %commit, "{p}");
                }
                if !d.images.is_empty() && self.config.outcomes.is_none() {
                    d.notices.push("image automation (ImageRepository, ImagePolicy, ImageUpdateAutomation) is not run: it commits where outcomes are written, and --write-back is off".to_owned());
                }
                if self.ctx.shared.sync().notices != d.notices {
                    for n in &d.notices {
                        warn!(commit = %commit, "{n}");
                    }
                }
                self.ctx.shared.sync().notices = std::mem::take(&mut d.notices);
                self.notifications = Arc::new(std::mem::take(&mut d.notifications));
                self.root_repository.clone_from(&d.repository);
                self.images = Arc::new(super::super::shared::ImageWorld {
                    images: std::mem::take(&mut d.images),
                    repository: d.repository.clone(),
                });
                self.announce(&commit).await;
                let hooks = super::super::notifications::receivers(
                    &self.exec.cluster,
                    &self.notifications.receivers,
                )
                .await;
                self.ctx.shared.sync().receivers = hooks
                    .iter()
                    .map(|(path, (r, _))| (r.id.to_string(), path.clone()))
                    .collect();
                *self.ctx.shared.flux_receivers() = hooks;
                let held = self.hold_broken(&mut d).await;
                let plain = std::mem::take(&mut d.plain);
                let owned = std::mem::take(&mut d.owned);
                let allowed = self.allowances(&commit).await;
                let used = d
                    .units
                    .iter()
                    .filter_map(|u| Some(u.source.as_ref()?.repository.clone()))
                    .collect();
                self.ctx.further.retain(&used);
                let units = self.schedule(&commit, std::mem::take(&mut d.units), &plain);
                self.declared = Some(Declared {
                    commit,
                    plain,
                    owned,
                    held,
                    allowed,
                    units,
                    retired: false,
                    releases: Some(d),
                    foreign,
                });
                self.sync_declared().await;
            }
        }
        Ok(())
    }

    /// Takes what another shard owns out of `d` (nothing without a label selector).
    fn split_shards(&self, d: &mut targets::Desired) -> crate::daemon::shard::Foreign {
        self.config
            .shard
            .as_ref()
            .map(|s| s.split(d))
            .unwrap_or_default()
    }

    /// Checks `commit` against the `spec.verify` of the GitRepository fledge runs on, its keys
    /// read from the Secret it names, as source-controller does; a commit refused (or whose keys
    /// cannot be read) is not applied: the sync says why (reason `VerificationFailed`) and the
    /// cluster keeps the last good commit; it is checked again an interval later, with the
    /// keys the Secret holds then.
    async fn verified(&mut self, commit: &CommitId, d: &targets::Desired) -> Result<(), ()> {
        let Some((namespace, verify)) = d.verify.clone() else {
            return Ok(());
        };
        let checked = self.verify_commit(commit, &namespace, &verify).await;
        match checked {
            Ok(what) => {
                info!(commit = %commit, "{what}");
                Ok(())
            }
            Err(e) => {
                warn!(commit = %commit, error = %e, "commit verification refused the commit; the cluster keeps the last good commit");
                let why = NotReady::new(
                    SyncReason::VerificationFailed,
                    format!(
                        "GitRepository {namespace} spec.verify: {e}; the cluster keeps the last good commit"
                    ),
                );
                self.unrendered = Some((commit.clone(), why.clone()));
                self.synced(commit, Err(why));
                self.verify_again = Some(Instant::now() + self.config.timing.interval);
                Err(())
            }
        }
    }

    async fn verify_commit(
        &self,
        commit: &CommitId,
        namespace: &str,
        verify: &crate::flux::source::Verify,
    ) -> Result<String, String> {
        let name = &verify.secret_ref.name;
        let secret = self
            .exec
            .cluster
            .get(&ObjectRef::new("v1", "Secret", namespace, name))
            .await
            .map_err(|e| {
                format!(
                    "secretRef: Secret {namespace}/{name} cannot be read: {}",
                    Chain(&e)
                )
            })?;
        let verification = crate::source::flux::verification(verify, namespace, secret.as_ref())?;
        let (source, c) = (self.config.source.clone(), commit.to_string());
        tokio::task::spawn_blocking(move || {
            crate::source::verify_spec(&source, &c, &verification)
                .map_err(|e| Chain(&e).to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// The units of `commit`, each due at once; built again from the same commit, each keeps its
    /// schedule and its failures (a unit that could not read the cluster backs off), but for
    /// one whose objects (of `plain`) changed: its further repository, or one its repository
    /// includes, moved.
    fn schedule(
        &self,
        commit: &CommitId,
        units: Vec<targets::SyncUnit>,
        plain: &[serde_json::Value],
    ) -> Vec<UnitRun> {
        let now = Instant::now();
        let before = self.declared.as_ref().filter(|d| &d.commit == commit);
        units
            .into_iter()
            .map(|unit| {
                let built = super::units::digest(&unit, plain);
                let old = before.and_then(|d| {
                    d.units.iter().find(|u| {
                        u.unit.name == unit.name && u.unit.source == unit.source && u.built == built
                    })
                });
                UnitRun {
                    next: old.map_or(now, |o| o.next),
                    failures: old.map_or(0, |o| o.failures),
                    urgent: old.is_some_and(|o| o.urgent),
                    health_since: old.and_then(|o| o.health_since),
                    put: old.is_some_and(|o| o.put),
                    built,
                    unit,
                }
            })
            .collect()
    }

    /// A Canary the commit breaks keeps its app under the rollout, as Flagger leaves the
    /// workloads of a failed Canary alone: the app's objects (a Deployment, Service or HPA with
    /// a live `-primary`, an Ingress with a live `-canary`, a Knative Service with a primary
    /// revision) are neither applied as plain objects
    /// nor pruned, and the release keeps its state without ticking. Returns the held releases.
    async fn hold_broken(&mut self, d: &mut Desired) -> BTreeMap<ReleaseKey, String> {
        let held = targets::held(d);
        let candidates = targets::ownership_evidence(d, &held);
        let mut absent = BTreeSet::new();
        for (_, evidence) in &candidates {
            match self.exec.cluster.get(evidence).await {
                Ok(Some(live)) if targets::is_evidence(&live) => {}
                Ok(_) => {
                    absent.insert(evidence.clone());
                }
                Err(_) => {}
            }
        }
        for key in targets::hold(d, &candidates, &absent) {
            warn!(object = %key, "held as it is: its release's Canary is invalid");
        }
        held
    }

    /// The `Fledge-Allow-Prune` trailers of the commits since the last one synced, up to
    /// `commit` (and of those allowed before that did not sync yet).
    async fn allowances(&self, commit: &CommitId) -> BTreeSet<String> {
        let since = self.ctx.shared.sync().applied_commit.clone();
        let (source, to) = (self.config.source.clone(), commit.to_string());
        let messages = tokio::task::spawn_blocking(move || {
            crate::source::commit_messages(&source, &to, since.as_deref(), 200)
        })
        .await;
        let mut allowed = match messages {
            Ok(Ok(m)) => inventory::allowances(m.iter().map(String::as_str)),
            Ok(Err(e)) => {
                warn!(commit = %commit, error = %Chain(&e), "cannot read the commit messages for prune allowances");
                BTreeSet::new()
            }
            Err(e) => {
                warn!(commit = %commit, error = %e, "cannot read the commit messages for prune allowances");
                BTreeSet::new()
            }
        };
        if let Some(d) = &self.declared {
            allowed.extend(d.allowed.iter().cloned());
        }
        allowed
    }

    /// With the inventory lost (deleted while fledge was stopped), looks once for objects fledge
    /// applied that neither the commit nor a release accounts for, and says which: it prunes
    /// none of them, since it cannot tell one an earlier sync applied from one a removed
    /// release left behind.
    pub(super) async fn find_unaccounted(&mut self, d: &Declared) {
        let declared: BTreeSet<ObjectKey> = d
            .plain
            .iter()
            .filter_map(ObjectKey::of)
            .chain(d.owned.iter().cloned())
            .collect();
        let mut releases = BTreeSet::new();
        for t in d
            .releases
            .iter()
            .flat_map(|r| r.releases.values())
            .chain(self.entries.values().map(|e| e.target.as_ref()))
        {
            // The names are all this needs: an upstreamRef's settings do not change them.
            let upstream = t.spec.upstream.as_ref().map(|_| serde_json::json!({}));
            if let Ok(objects) = crate::rollout::plan::preview(t, upstream) {
                releases.extend(objects.iter().filter_map(ObjectKey::of));
            }
        }
        let home = self.config.inventory_namespace.clone();
        let root_inventory = self.config.own(keys::INVENTORY);
        let expected = |k: &ObjectKey, o: &serde_json::Value| {
            declared.contains(k)
                || releases.contains(k)
                || o["metadata"]["labels"][keys::RELEASE_LABEL].is_string()
                || o["metadata"]["annotations"][keys::REVISION_ANNOTATION].is_string()
                || matches!(k.kind.as_str(), "Release" | "Lease")
                || (k.namespace == home
                    && (k.name == root_inventory || k.name == keys::REVISION_KEY_SECRET))
        };
        let found = match inventory::applied_elsewhere(&self.exec.cluster, expected).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %Chain(&e), "cannot look for objects a lost inventory held");
                return;
            }
        };
        if found.is_empty() {
            return;
        }
        let names: Vec<String> = found.iter().map(ToString::to_string).collect();
        let why = format!(
            "the inventory ConfigMap {home}/{} was missing: {} object(s) carry fledge's field manager but the repository does not declare them: {}. fledge prunes none of them (it cannot tell one an earlier sync applied from one a removed release left); delete those that should go",
            self.config.own(keys::INVENTORY),
            names.len(),
            names.join(", ")
        );
        warn!("{why}");
        // Said with the outcome of the sync that found it (see `sync_declared`).
        self.warnings.push(why.clone());
        self.alert_sync(&d.commit, Severity::Warn, "InventoryLost", &why);
    }

    /// Records the sync's outcome for `commit` and reports it.
    pub(super) fn synced(&mut self, commit: &CommitId, outcome: Result<(), NotReady>) {
        self.last_sync = Some((commit.clone(), outcome));
        self.report_sync();
    }

    /// Makes the sync's status say the last outcome, or that the repository cannot be polled;
    /// a new failure (or a new reason) is alerted.
    pub(super) fn report_sync(&mut self) {
        let Some((commit, outcome)) = self.last_sync.clone() else {
            // Not synced yet: say why the repository cannot be seen, if it cannot.
            let mut status = self.ctx.shared.sync();
            match &self.source_failure {
                Some((reason, why)) => {
                    reason.clone_into(&mut status.reason);
                    status.message.clone_from(why);
                }
                None => status.message.clear(),
            }
            return;
        };
        let outcome = match (&self.source_failure, outcome) {
            (Some((reason, why)), Ok(())) => Err(NotReady {
                reason: *reason,
                message: why.clone(),
            }),
            (Some((reason, why)), Err(e)) => Err(NotReady {
                reason: *reason,
                message: format!("{why}; before that: {}", e.message),
            }),
            (None, outcome) => outcome,
        };
        let before = self.ctx.shared.sync().clone();
        let now = crate::release::state::rfc3339(self.ctx.clock.now());
        let (next, new_failure) = before.after(&commit, &outcome, &now);
        if next == before {
            return;
        }
        *self.ctx.shared.sync() = next;
        if new_failure && let Err(why) = &outcome {
            self.alert_sync(&commit, Severity::Error, why.reason.as_str(), &why.message);
        }
    }

    /// Tells Flux's Alerts of a new commit of the repository fledge runs on, as source-controller
    /// tells them of the artifact it stored (`NewArtifact`, with the commit's subject); once per
    /// commit.
    async fn announce(&mut self, commit: &CommitId) {
        let Some(repository) = self.root_repository.clone() else {
            return;
        };
        if self.announced.as_ref() == Some(commit) || self.notifications.alerts.is_empty() {
            return;
        }
        self.announced = Some(commit.clone());
        let (source, c) = (self.config.source.clone(), commit.to_string());
        let message = tokio::task::spawn_blocking(move || {
            crate::source::commit_messages(&source, &c, None, 1)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|m| m.into_iter().next())
        .unwrap_or_default();
        let (revision, now) = (self.root_revision(commit), self.now());
        self.send(super::super::notifications::source_event(
            &repository,
            Ok(&message),
            &revision,
            &now,
        ));
    }

    /// What a poll says of the repository: a source that cannot be polled for longer than an
    /// interval makes the sync (and `/readyz`) not ready until a poll succeeds again; a rewrite
    /// of the tracked reference's history is recorded in the sync's status and alerted.
    pub(super) fn observe_source(&mut self, poll: &PollState) {
        let failing = poll
            .error
            .as_ref()
            .zip(poll.failing_since)
            .filter(|(_, since)| {
                since.elapsed().unwrap_or_default() >= self.config.timing.interval
            });
        let failure = failing.map(|(e, since)| {
            let since = since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let why = format!(
                "the repository cannot be polled since {}: {e}; the cluster stays on the last commit synced",
                crate::release::state::rfc3339(since)
            );
            (SyncReason::FetchFailed, why)
        });
        // A refusal is no passing trouble: it is said at once, and stays until a commit passes.
        let refused = poll.refused.as_ref().zip(poll.error.as_ref());
        let failure = refused
            .map(|(_, e)| {
                let why = format!("{e}; the cluster stays on the last commit synced");
                (SyncReason::VerificationFailed, why)
            })
            .or(failure);
        let refused_commit = poll.refused.as_ref().map(|r| r.commit.clone());
        if let (Some((SyncReason::FetchFailed, why)), Some(repository)) =
            (&failure, &self.root_repository)
            && self
                .source_failure
                .as_ref()
                .is_none_or(|(r, _)| *r != SyncReason::FetchFailed)
        {
            let revision = self
                .seen_commit
                .as_ref()
                .map(|c| self.root_revision(c))
                .unwrap_or_default();
            let event = super::super::notifications::source_event(
                repository,
                Err(why),
                &revision,
                &self.now(),
            );
            self.send(event);
        }
        if failure != self.source_failure || self.ctx.shared.sync().refused_commit != refused_commit
        {
            self.ctx.shared.set_source_failing(failure.is_some());
            self.ctx.shared.sync().refused_commit = refused_commit;
            self.source_failure = failure;
            self.report_sync();
        }
        if let Some(r) = &poll.rewritten
            && self
                .ctx
                .shared
                .sync()
                .history_rewritten
                .as_ref()
                .is_none_or(|h| h.to != r.to || h.from != r.from)
        {
            warn!(from = %r.from, to = %r.to, "the tracked reference's history was rewritten; following it");
            self.ctx.shared.sync().history_rewritten = Some(HistoryRewrite {
                from: r.from.clone(),
                to: r.to.clone(),
                seen: crate::release::state::rfc3339(self.ctx.clock.now()),
            });
            self.alert_sync(
                &r.to,
                Severity::Warn,
                "HistoryRewritten",
                &format!(
                    "the history of the tracked reference was rewritten (a force push, a reset or a moved tag): {} does not descend from {}, which fledge deployed before; fledge follows it",
                    short(&r.to),
                    short(&r.from)
                ),
            );
        }
    }

    /// Alerts what the sync met to the global alert targets (it is no one release's), with the
    /// reason beside the message.
    pub(super) fn alert_sync(&self, commit: &str, severity: Severity, reason: &str, why: &str) {
        self.ctx.alert_global(Alert {
            object: format!("sync of {}", short(commit)),
            message: why.to_owned(),
            severity,
            fields: vec![("Reason".to_owned(), reason.to_owned())],
        });
    }
}
