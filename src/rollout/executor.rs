//! The executor: runs one tick of a release against the outside world.
//!
//! ```text
//! load state (Release object) → converge(state) → observe → decide (+ answer questions)
//!   → persist state → converge(new state) → post-rollout and event hooks
//! ```
//!
//! `converge` brings the cluster in line with a state: the three Services, the primary (built
//! from the revision the state says it serves), its config copies and HPA, the target's
//! replicas, the routing objects at the state's weights. It is idempotent, so the first
//! converge of a tick finishes whatever a crashed daemon left half done, and a restarted
//! daemon resumes from the persisted state alone. State is persisted before the cluster is
//! changed to match it.

use crate::object::ObjectRef;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use tracing::{info, warn};

use super::decide::decide;
use super::objects::{self, Live, PrimaryLeft};
use crate::analysis::{self, MetricSource, MetricValue, webhooks::Webhooks};
use crate::cluster::{self, Cluster};
use crate::ids::CommitId;
use crate::keys;
use crate::release::Phase;
use crate::release::spec::{
    HookType, KNATIVE_SERVICE_API, MetricTemplate, Provider, ReleaseKey, ReleaseSpec, Severity,
};
use crate::release::state::{
    Action, Decision, Desired, Event, EventType, Observation, Outcome, Promotion, Question,
    ReleaseState, Transition,
};
use crate::release::{Readiness, ReleaseTarget, workload_readiness};
use crate::revision::{self, Revision, RevisionId};

/// Why a tick could not complete; the next tick retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("release {release}")]
    Cluster {
        release: ReleaseKey,
        #[source]
        source: cluster::Error,
    },
    #[error(transparent)]
    Objects(#[from] objects::Error),
    /// Something the rollout needs is not there or not ready yet: the tick holds, and the
    /// next one tries again (Flagger's router errors of the same cases).
    #[error("release {release}: {message}")]
    Waiting {
        release: ReleaseKey,
        message: String,
    },
}

impl Error {
    /// Whether trying again soon may help (see [`cluster::Error::disposition`]); a release
    /// whose objects cannot be built waits for a new commit.
    #[must_use]
    pub fn disposition(&self) -> crate::chain::Disposition {
        match self {
            Self::Cluster { source, .. } => source.disposition(),
            Self::Objects(_) => crate::chain::Disposition::Stalled,
            Self::Waiting { .. } => crate::chain::Disposition::Retry,
        }
    }

    /// The reason people and programs read: the cluster's [`cluster::Fault`], or `Invalid`.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Cluster { source, .. } => source.fault().as_str(),
            Self::Objects(_) => "Invalid",
            Self::Waiting { .. } => "Waiting",
        }
    }

    /// What failed, in one line: the request and the server's words.
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::Cluster { source, .. } => crate::chain::Chain(source).to_string(),
            Self::Objects(e) => e.to_string(),
            Self::Waiting { message, .. } => message.clone(),
        }
    }
}

/// What a tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    pub state: ReleaseState,
    pub events: Vec<Event>,
    pub metrics: Vec<MetricValue>,
    /// The primary could not be built: the caller supplies
    /// [`ReleaseTarget::primary_source`] from Git at the commit named, and ticks again.
    pub primary_left: Option<PrimaryLeft>,
}

/// A release's state as [`Executor::load`] found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub state: ReleaseState,
    /// The status was lost and the state recovered from the primary.
    pub recovered: bool,
    /// The live Release, when there is one.
    pub release: Option<Value>,
}

/// The state of a release whose status was lost, from its primary Deployment: the revision
/// fledge recorded on it (and the commit that brought it, when recorded), as initialized. `None` when the primary carries no revision of fledge's (fledge cannot tell what
/// it serves; it is initialized as on a first install, as Flagger does with its own primary).
#[must_use]
pub fn recovered(spec: &ReleaseSpec, primary: &Value, now: i64) -> Option<ReleaseState> {
    let annotations = &primary["metadata"]["annotations"];
    let revision = RevisionId::from(annotations[keys::REVISION_ANNOTATION].as_str()?);
    let commit = annotations[keys::COMMIT_ANNOTATION]
        .as_str()
        .map(CommitId::from);
    let message = format!(
        "Recovered from {} after the Release status was lost.",
        primary_name(spec)
    );
    // Initialized, as after a first install: no promotion happened now, so none is recorded.
    Some(ReleaseState {
        phase: Phase::Initialized,
        canary_revision: Some(revision.clone()),
        primary_revision: Some(revision.clone()),
        source_commit: commit.clone(),
        primary_commit: commit,
        promoted: vec![revision],
        last_transition_time: now,
        reason: crate::release::state::ReleaseReason::Initialized,
        message,
        ..ReleaseState::default()
    })
}

/// Brings a state's revisions to the current hashing scheme ([`revision::SCHEME`]): the ids
/// of Git's revision under the previous scheme become its current id, so that an upgrade of
/// fledge, which changes no workload, starts no rollout. Says whether the state changed.
#[must_use]
pub fn migrate(state: &mut ReleaseState, revision: &Revision) -> bool {
    if state.revision_scheme >= revision::SCHEME {
        return false;
    }
    state.revision_scheme = revision::SCHEME;
    if let Some(legacy) = &revision.legacy {
        let current = &revision.id;
        let renamed = |r: &mut RevisionId| {
            if r == legacy {
                r.clone_from(current);
            }
        };
        state.canary_revision.iter_mut().for_each(renamed);
        state.primary_revision.iter_mut().for_each(renamed);
        state.promoted.iter_mut().for_each(renamed);
        for h in &mut state.history {
            h.revision.iter_mut().for_each(renamed);
        }
    }
    true
}

/// What serves as a release's primary, for messages: `<target>-primary.<ns>`, or a Knative
/// Service's primary revision.
fn primary_name(spec: &ReleaseSpec) -> String {
    if spec.provider == Provider::Knative {
        format!(
            "the primary revision of Knative Service {}.{}",
            spec.target.name, spec.namespace
        )
    } else {
        format!("{}.{}", keys::primary(&spec.target.name), spec.namespace)
    }
}

/// The API version of a release's target: a Knative Service's, a core Service's, else
/// `apps/v1`.
fn target_api(spec: &ReleaseSpec) -> &'static str {
    if spec.provider == Provider::Knative {
        KNATIVE_SERVICE_API
    } else if spec.target.kind == "Service" {
        "v1"
    } else {
        "apps/v1"
    }
}

/// Performs ticks; holds no release state of its own.
pub struct Executor<C, M> {
    pub cluster: C,
    pub metrics: M,
    pub webhooks: Webhooks,
    /// MetricTemplates from the repository, by (namespace, name).
    pub templates: BTreeMap<(String, String), MetricTemplate>,
    /// How many promoted revisions each release remembers for fast rollbacks.
    pub promoted_window: usize,
    /// The namespace of the daemon that runs the releases, set on each Release
    /// ([`keys::OWNER_LABEL`]) so that it hands back only its own (see [`super::retire`]).
    pub owner: Option<String>,
}

/// The Release object for a state: its status is the state, with the `Ready` condition
/// ([`ReleaseState::ready_condition`]) that `kubectl wait --for=condition=Ready` reads.
#[must_use]
pub fn release_object(spec: &ReleaseSpec, state: &ReleaseState) -> Value {
    let mut status = serde_json::to_value(state).unwrap_or_default();
    status["conditions"] = json!([state.ready_condition()]);
    let mut o = release_head(spec);
    o["status"] = status;
    o
}

/// The Release without its status: its name, labels and what it describes.
fn release_head(spec: &ReleaseSpec) -> Value {
    json!({
        "apiVersion": keys::RELEASE_API_VERSION,
        "kind": keys::RELEASE_KIND,
        "metadata": {"name": spec.name, "namespace": spec.namespace,
                     "labels": {keys::RELEASE_LABEL: spec.name}},
        "spec": {
            "targetRef": {"apiVersion": spec.target.api_version, "kind": spec.target.kind, "name": spec.target.name},
            "provider": spec.provider.to_string(),
            "strategy": spec.strategy(),
        },
    })
}

/// The Release as the daemon `owner` applies it for `t`: [`release_head`] with the owner's
/// label, the objects the release applies and its apex Service, which a Canary removed from
/// Git leaves to be handed back ([`super::retire`]).
#[must_use]
pub fn release_described(t: &ReleaseTarget, owner: Option<&str>) -> Value {
    let spec = &t.spec;
    let mut o = release_head(spec);
    if let Some(owner) = owner {
        o["metadata"]["labels"][keys::OWNER_LABEL] = json!(owner);
    }
    let objects = super::retire::objects_of(t);
    let apex = &spec.service.name;
    let workload = matches!(spec.target.kind.as_str(), "Deployment" | "DaemonSet");
    if workload
        && objects
            .iter()
            .any(|r| r.kind == "Service" && &r.name == apex)
    {
        o["spec"]["apexService"] = json!(apex);
    }
    o["spec"]["objects"] = super::retire::record(&objects);
    o
}

/// The state a live Release's status holds, if it holds one.
fn persisted(release: &Value) -> Option<ReleaseState> {
    release["status"]
        .as_object()
        .filter(|m| !m.is_empty())
        .and_then(|_| serde_json::from_value(release["status"].clone()).ok())
}

impl<C: Cluster, M: MetricSource> Executor<C, M> {
    fn cluster_err(spec: &ReleaseSpec) -> impl Fn(cluster::Error) -> Error + '_ {
        move |source| Error::Cluster {
            release: spec.key(),
            source,
        }
    }

    /// The persisted state of a release: its Release's status; for a new release the default.
    /// When the status is gone (the Release deleted or emptied by hand) while fledge's primary
    /// serves another revision than Git's, the state recovered from the primary instead (see
    /// [`recovered`]): the primary keeps serving what it served, and Git's revision is analysed
    /// from the start. A lost status never re-initializes such a release, which would copy
    /// Git's target into the primary unanalysed.
    pub async fn load(&self, t: &ReleaseTarget, now: i64) -> Result<Loaded, Error> {
        let spec = &t.spec;
        let release = self.live_release(spec).await?;
        if let Some(state) = release.as_ref().and_then(persisted) {
            return Ok(Loaded {
                state,
                recovered: false,
                release,
            });
        }
        let primary = self.primary(spec).await?;
        let recovered = primary
            .as_ref()
            .and_then(|p| recovered(spec, p, now))
            .filter(|s| {
                !s.primary_revision
                    .as_ref()
                    .is_some_and(|r| t.revision.is(r))
            });
        Ok(match recovered {
            Some(state) => Loaded {
                state,
                recovered: true,
                release,
            },
            None => Loaded {
                state: ReleaseState::default(),
                recovered: false,
                release,
            },
        })
    }

    /// Records why a tick failed in the Release's status (best effort: the failure may be the
    /// very reason it cannot be written). A release without a Release object is left alone.
    pub async fn record_error(
        &self,
        spec: &ReleaseSpec,
        error: &crate::release::state::TickError,
    ) -> Result<(), Error> {
        let release = self.live_release(spec).await?;
        let Some(mut state) = release.as_ref().and_then(persisted) else {
            return Ok(());
        };
        if state.error.as_ref() == Some(error) {
            return Ok(());
        }
        state.error = Some(error.clone());
        self.cluster
            .apply_status(&release_object(spec, &state))
            .await
            .map_err(Self::cluster_err(spec))?;
        Ok(())
    }

    /// The live primary (a Deployment or a DaemonSet, as the target is). For a Knative
    /// Service, whose primary is one of its revisions, the Knative Service's record of it
    /// ([`keys::KNATIVE_PRIMARY_ID`]) in a primary's form, when it has one.
    async fn primary(&self, spec: &ReleaseSpec) -> Result<Option<Value>, Error> {
        if spec.provider == Provider::Knative {
            let svc = self
                .get(spec, KNATIVE_SERVICE_API, "Service", &spec.target.name)
                .await?;
            return Ok(svc.and_then(|s| {
                let id = s["metadata"]["annotations"][keys::KNATIVE_PRIMARY_ID].as_str()?;
                Some(json!({"metadata": {"annotations": {keys::REVISION_ANNOTATION: id}}}))
            }));
        }
        self.get(
            spec,
            target_api(spec),
            &spec.target.kind,
            &keys::primary(&spec.target.name),
        )
        .await
    }

    /// The live Release of a release, if any.
    async fn live_release(&self, spec: &ReleaseSpec) -> Result<Option<Value>, Error> {
        self.get(
            spec,
            keys::RELEASE_API_VERSION,
            keys::RELEASE_KIND,
            &spec.name,
        )
        .await
    }

    /// Brings the live Release's labels and description ([`release_described`]) in line
    /// with `t`, when they differ (a Release written before they were recorded, a Canary
    /// whose objects changed).
    async fn describe(&self, t: &ReleaseTarget, live: &Value) -> Result<(), Error> {
        let wanted = release_described(t, self.owner.as_deref());
        let labels = |o: &Value| o["metadata"]["labels"][keys::OWNER_LABEL].clone();
        if live["spec"] == wanted["spec"] && labels(live) == labels(&wanted) {
            return Ok(());
        }
        self.cluster
            .apply(std::slice::from_ref(&wanted))
            .await
            .map_err(Self::cluster_err(&t.spec))?;
        Ok(())
    }

    async fn persist(&self, t: &ReleaseTarget, state: &ReleaseState) -> Result<(), Error> {
        let spec = &t.spec;
        let mut obj = release_described(t, self.owner.as_deref());
        obj["status"] = release_object(spec, state)["status"].take();
        let exists = self.live_release(spec).await?.is_some();
        if !exists {
            self.cluster
                .apply(std::slice::from_ref(&obj))
                .await
                .map_err(Self::cluster_err(spec))?;
        }
        self.cluster
            .apply_status(&obj)
            .await
            .map_err(Self::cluster_err(spec))?;
        Ok(())
    }

    async fn get(
        &self,
        spec: &ReleaseSpec,
        api: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        self.cluster
            .get(&ObjectRef::new(api, kind, &spec.namespace, name))
            .await
            .map_err(Self::cluster_err(spec))
    }

    /// With the Gateway API, while a revision rolls out: holds the tick while a Gateway has not
    /// accepted the HTTPRoute at its generation, as Flagger's router does before it reads or
    /// shifts the weights.
    async fn routes_accepted(&self, t: &ReleaseTarget, state: &ReleaseState) -> Result<(), Error> {
        let spec = &t.spec;
        let Provider::GatewayApi(version) = &spec.provider else {
            return Ok(());
        };
        let idle = matches!(
            state.phase,
            Phase::Initialized | Phase::Succeeded | Phase::Failed
        ) && state.primary_revision.as_ref() == Some(&t.revision.id);
        if idle || state.phase == Phase::Initializing {
            return Ok(());
        }
        let api = format!("gateway.networking.k8s.io/{version}");
        let route = self
            .get(spec, &api, "HTTPRoute", &spec.service.name)
            .await?;
        match route.as_ref().and_then(crate::routing::not_accepted) {
            Some(message) => Err(Error::Waiting {
                release: spec.key(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// What the cluster holds of the release's workloads.
    async fn live(&self, spec: &ReleaseSpec) -> Result<Live, Error> {
        let name = &spec.target.name;
        let upstream = match &spec.upstream {
            Some(u) if spec.provider == Provider::Gloo => {
                let ns = u.namespace.as_deref().unwrap_or(&spec.namespace);
                let api = if u.api_version.is_empty() {
                    "gloo.solo.io/v1"
                } else {
                    &u.api_version
                };
                let found = self
                    .cluster
                    .get(&ObjectRef::new(api, &u.kind, ns, &u.name))
                    .await
                    .map_err(Self::cluster_err(spec))?;
                if found.is_none() {
                    return Err(Error::Waiting {
                        release: spec.key(),
                        message: format!(
                            "spec.upstreamRef: Upstream {ns}/{} is not in the cluster; create it (its settings go into the generated upstreams) or remove upstreamRef",
                            u.name
                        ),
                    });
                }
                found
            }
            _ => None,
        };
        Ok(Live {
            target: self
                .get(spec, target_api(spec), &spec.target.kind, name)
                .await?,
            primary: self.primary(spec).await?,
            upstream,
        })
    }

    /// Where the primary and the canary stand (`None`: no primary yet).
    async fn readiness(&self, spec: &ReleaseSpec) -> Result<(Option<Readiness>, Readiness), Error> {
        if spec.provider == Provider::Knative {
            return self.knative_readiness(spec).await;
        }
        if spec.target.kind == "Service" {
            // Flagger's ServiceController: a Service is ready as soon as it exists.
            let primary = self.primary(spec).await?.map(|_| Readiness::Ready);
            let canary = self
                .get(spec, "v1", "Service", &spec.target.name)
                .await?
                .map_or_else(
                    || Readiness::Progressing("the target does not exist yet".into()),
                    |_| Readiness::Ready,
                );
            return Ok((primary, canary));
        }
        let analysis = &spec.analysis;
        let primary = self
            .primary(spec)
            .await?
            .map(|p| workload_readiness(&p, analysis.primary_ready_threshold));
        let canary = self
            .get(spec, "apps/v1", &spec.target.kind, &spec.target.name)
            .await?
            .map_or_else(
                || Readiness::Progressing("the target does not exist yet".into()),
                |d| workload_readiness(&d, analysis.canary_ready_threshold),
            );
        Ok((primary, canary))
    }

    /// A Knative Service's revisions, as Flagger's KnativeController reads them: the primary is
    /// the revision the Service's [`keys::KNATIVE_PRIMARY_REVISION`] annotation names, the
    /// canary its latest created revision (once Knative has seen the Service's current spec);
    /// each ready when the Revision's `Ready` condition is `True`.
    async fn knative_readiness(
        &self,
        spec: &ReleaseSpec,
    ) -> Result<(Option<Readiness>, Readiness), Error> {
        let name = &spec.target.name;
        let Some(svc) = self.get(spec, KNATIVE_SERVICE_API, "Service", name).await? else {
            return Ok((
                None,
                Readiness::Progressing("the Knative Service does not exist yet".into()),
            ));
        };
        let generation = svc["metadata"]["generation"].as_i64().unwrap_or(0);
        let observed = svc["status"]["observedGeneration"].as_i64().unwrap_or(0);
        let latest = svc["status"]["latestCreatedRevisionName"].as_str();
        let canary = match latest {
            _ if observed < generation => Readiness::Progressing(format!(
                "waiting for Knative to observe generation {generation} of the Knative Service"
            )),
            None => Readiness::Progressing("Knative has created no revision yet".into()),
            Some(r) => self.revision_readiness(spec, r).await?,
        };
        let primary = match svc["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION].as_str()
        {
            Some(r) => Some(self.revision_readiness(spec, r).await?),
            None => None,
        };
        Ok((primary, canary))
    }

    async fn revision_readiness(&self, spec: &ReleaseSpec, name: &str) -> Result<Readiness, Error> {
        let revision = self
            .get(spec, KNATIVE_SERVICE_API, "Revision", name)
            .await?;
        let ns = &spec.namespace;
        let Some(revision) = revision else {
            return Ok(Readiness::Progressing(format!(
                "Knative Revision {name}.{ns} does not exist"
            )));
        };
        let ready = revision["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        Ok(match ready {
            Some(c) if c["status"] == "True" => Readiness::Ready,
            Some(c) => Readiness::Progressing(format!(
                "Knative Revision {name}.{ns} is not ready: {}",
                c["message"]
                    .as_str()
                    .or_else(|| c["reason"].as_str())
                    .unwrap_or("")
            )),
            None => Readiness::Progressing(format!("Knative Revision {name}.{ns} is not ready")),
        })
    }

    /// Brings the cluster in line with `state`; says when the primary could not be built.
    pub async fn converge(
        &self,
        t: &ReleaseTarget,
        state: &ReleaseState,
    ) -> Result<Option<PrimaryLeft>, Error> {
        let live = self.live(&t.spec).await?;
        let built = objects::release_objects(t, state, &live)?;
        if let Some(why) = &built.primary_left {
            warn!(release = %t.spec.key(), "{why}");
        }
        self.cluster
            .apply(&built.objects)
            .await
            .map_err(Self::cluster_err(&t.spec))?;
        Ok(built.primary_left)
    }

    async fn answer(
        &self,
        t: &ReleaseTarget,
        state: &ReleaseState,
        q: Question,
        values: &mut Vec<MetricValue>,
    ) -> Outcome {
        let spec = &t.spec;
        let checksum = state.canary_revision.as_deref().unwrap_or(&t.revision.id.0);
        match q {
            Question::Hooks(h) => self.webhooks.run(spec, h, state.phase, checksum).await,
            Question::Analysis => {
                let hooks = self
                    .webhooks
                    .run(spec, HookType::Rollout, state.phase, checksum)
                    .await;
                if hooks != Outcome::Pass {
                    return hooks;
                }
                let secrets =
                    analysis::template_secrets(&self.cluster, spec, &self.templates).await;
                analysis::check_metrics(
                    spec,
                    &self.templates,
                    &secrets,
                    &self.metrics,
                    &self.cluster,
                    values,
                )
                .await
            }
        }
    }

    /// The decision's events, after its post-rollout hooks ran (each failure an event).
    async fn hooks_after(&self, spec: &ReleaseSpec, decision: &Decision) -> Vec<Event> {
        let checksum = decision.state.canary_revision.as_deref().unwrap_or("");
        let mut events = decision.events.clone();
        for a in &decision.actions {
            if let Action::PostRollout(phase) = a {
                for f in self.webhooks.post_rollout(spec, *phase, checksum).await {
                    events.push(Event {
                        event_type: EventType::Warning,
                        message: f,
                        alert: None,
                        failure: None,
                    });
                }
            }
        }
        events
    }

    /// Logs each event and sends it to the Canary's `event` webhooks.
    async fn announce(&self, spec: &ReleaseSpec, decision: &Decision, events: &[Event], now: i64) {
        let checksum = decision.state.canary_revision.as_deref().unwrap_or("");
        for e in events {
            match e.event_type {
                EventType::Normal => info!(release = %spec.key(), "{}", e.message),
                EventType::Warning => warn!(release = %spec.key(), "{}", e.message),
            }
            if spec.has_hooks(HookType::Event) {
                for f in self
                    .webhooks
                    .event(
                        spec,
                        decision.state.phase,
                        checksum,
                        &e.message,
                        e.event_type == EventType::Warning,
                        now * 1000,
                    )
                    .await
                {
                    warn!(release = %spec.key(), "{f}");
                }
            }
        }
    }

    /// One tick at `now` (unix seconds).
    pub async fn tick(&self, t: &ReleaseTarget, now: i64) -> Result<TickReport, Error> {
        let spec = &t.spec;
        let Loaded {
            mut state,
            recovered,
            release,
        } = self.load(t, now).await?;
        if let Some(live) = &release {
            self.describe(t, live).await?;
        }
        // A tick that runs clears the error of the ticks that failed before it.
        let cleared = state.error.take().is_some();
        let migrated = migrate(&mut state, &t.revision);
        if recovered {
            // Kept at once, so that nothing below acts on a default state.
            self.persist(t, &state).await?;
        }
        // A recovered state is decided on before the cluster is brought in line with it, so
        // that a canary under analysis is not scaled down and up again in one tick.
        let mut primary_left = if recovered {
            None
        } else {
            self.converge(t, &state).await?
        };
        self.routes_accepted(t, &state).await?;
        let (primary, canary) = self.readiness(spec).await?;
        let mut obs = Observation {
            desired: Desired {
                revision: t.revision.id.clone(),
                commit: t.commit.clone(),
                known_good: t.known_good,
            },
            primary,
            canary,
            answers: BTreeMap::new(),
            promoted_window: self.promoted_window,
        };
        let mut values = Vec::new();
        let decision = loop {
            let d = decide(spec, &state, &obs, now);
            match d.ask {
                Some(q) => {
                    let a = self.answer(t, &state, q, &mut values).await;
                    obs.answers.insert(q, a);
                }
                None => break d,
            }
        };
        let mut decision = decision;
        if let Some(p) = promotion(t, &state, &decision.state) {
            decision.state.promotion = Some(p);
        }
        if decision.state != state || cleared || migrated {
            self.persist(t, &decision.state).await?;
        }
        if decision.state.phase != state.phase {
            info!(release = %spec.key(), from = %state.phase, to = %decision.state.phase,
                  weight = decision.state.canary_weight, "phase changed");
        }
        // The tick began by converging to `state`; only a new state needs another pass.
        if decision.state != state || recovered {
            primary_left = self.converge(t, &decision.state).await?;
        }
        let mut events = self.hooks_after(spec, &decision).await;
        if recovered {
            let why = format!(
                "Release status of {} was lost (the Release was deleted or emptied); recovered from {}, which serves revision {}: a new revision is analysed from the start",
                spec.dotted(),
                primary_name(spec),
                state
                    .primary_revision
                    .as_deref()
                    .map_or("?", |r| &r[..r.len().min(12)]),
            );
            events.insert(
                0,
                Event {
                    event_type: EventType::Warning,
                    message: why.clone(),
                    alert: Some((Severity::Warn, why)),
                    failure: None,
                },
            );
        }
        self.announce(spec, &decision, &events, now).await;
        Ok(TickReport {
            state: decision.state,
            events,
            metrics: values,
            primary_left,
        })
    }
}

/// The promotion `after` made, when the tick promoted: a new `Succeeded` that is not an
/// aborted analysis. The images are the target's, which the primary was just given.
fn promotion(t: &ReleaseTarget, before: &ReleaseState, after: &ReleaseState) -> Option<Promotion> {
    let promoted = after.phase == Phase::Succeeded
        && (before.phase != Phase::Succeeded || before.primary_revision != after.primary_revision)
        && !after.history.last().is_some_and(Transition::is_abort);
    Some(Promotion {
        revision: after.primary_revision.clone().filter(|_| promoted)?,
        source_commit: after.primary_commit.clone(),
        images: crate::writeback::record::images(&t.target),
        promoted_at: after.last_transition_time,
        fast_rollback: after.fast_rollback,
    })
}
