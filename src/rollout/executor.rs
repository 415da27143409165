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

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tracing::{info, warn};

use super::decide::decide;
use super::spec::{MetricTemplate, ReleaseSpec};
use super::state::{
    Action, Desired, Event, EventType, Observation, Outcome, Phase, Question, ReleaseState,
};
use crate::analysis::{self, Auth, MetricSource, MetricValue, webhooks::Webhooks};
use crate::cluster::primary::{primary_deployment, selector_label};
use crate::cluster::{self, Cluster, Readiness, deployment_readiness};
use crate::revision::{Revision, primary_configs};
use crate::routing::{self, RouteInput, Weights};

/// The API group and version of the Release objects that hold release state.
pub const RELEASE_API_VERSION: &str = "fledge.dev/v1alpha1";
/// The annotation naming the revision a Deployment (target or primary) carries.
pub const REVISION_ANNOTATION: &str = "fledge.dev/revision";

/// One release as Git describes it: the Canary and the objects it references.
#[derive(Debug, Clone)]
pub struct ReleaseTarget {
    pub spec: ReleaseSpec,
    /// The target Deployment as rendered from Git.
    pub target: Value,
    /// Its revision (pod template plus the configs it references).
    pub revision: Revision,
    /// The ConfigMaps and Secrets the target references (for the primary copies).
    pub configs: Vec<Value>,
    /// The HorizontalPodAutoscaler named by `autoscalerRef`.
    pub autoscaler: Option<Value>,
    /// The Ingress named by `ingressRef`.
    pub ingress: Option<Value>,
    /// The commit that brought this revision.
    pub commit: Option<String>,
    /// Promoted before and not failed since (fast rollback).
    pub known_good: bool,
}

/// Why a tick could not complete; the next tick retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("release {release}: cluster")]
    Cluster {
        release: String,
        #[source]
        source: cluster::Error,
    },
    #[error("release {release}: {message}")]
    Invalid { release: String, message: String },
    #[error(transparent)]
    Routing(#[from] routing::Error),
}

/// What a tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    pub state: ReleaseState,
    pub events: Vec<Event>,
    pub metrics: Vec<MetricValue>,
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
}

/// The Release object for a state.
#[must_use]
pub fn release_object(spec: &ReleaseSpec, state: &ReleaseState) -> Value {
    json!({
        "apiVersion": RELEASE_API_VERSION,
        "kind": "Release",
        "metadata": {"name": spec.name, "namespace": spec.namespace,
                     "labels": {routing::RELEASE_LABEL: spec.name}},
        "spec": {
            "targetRef": {"apiVersion": spec.target.api_version, "kind": spec.target.kind, "name": spec.target.name},
            "provider": spec.provider.to_string(),
            "strategy": spec.strategy(),
        },
        "status": state,
    })
}

/// A copy of `obj` fit to apply: no status, no server-set metadata.
fn applyable(obj: &Value) -> Value {
    let mut o = obj.clone();
    cluster::strip_server_fields(&mut o);
    o
}

fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!(value);
}

fn with_namespace(mut obj: Value, ns: &str) -> Value {
    if obj["metadata"]["namespace"].is_null() {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj
}

impl<C: Cluster, M: MetricSource> Executor<C, M> {
    fn cluster_err(spec: &ReleaseSpec) -> impl Fn(cluster::Error) -> Error + '_ {
        move |source| Error::Cluster {
            release: spec.key(),
            source,
        }
    }

    /// The persisted state of a release (the default for a new one).
    pub async fn load(&self, spec: &ReleaseSpec) -> Result<ReleaseState, Error> {
        let obj = self
            .cluster
            .get(RELEASE_API_VERSION, "Release", &spec.namespace, &spec.name)
            .await
            .map_err(Self::cluster_err(spec))?;
        Ok(obj
            .and_then(|o| serde_json::from_value(o["status"].clone()).ok())
            .unwrap_or_default())
    }

    async fn persist(&self, spec: &ReleaseSpec, state: &ReleaseState) -> Result<(), Error> {
        let obj = release_object(spec, state);
        let exists = self
            .get(spec, RELEASE_API_VERSION, "Release", &spec.name)
            .await?
            .is_some();
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
            .get(api, kind, &spec.namespace, name)
            .await
            .map_err(Self::cluster_err(spec))
    }

    /// The objects that make the cluster match `state`.
    async fn desired_objects(
        &self,
        t: &ReleaseTarget,
        state: &ReleaseState,
    ) -> Result<Vec<Value>, Error> {
        let spec = &t.spec;
        let ns = spec.namespace.as_str();
        let invalid = |message: String| Error::Invalid {
            release: spec.key(),
            message,
        };
        let target_name = &spec.target.name;
        if spec.target.kind != "Deployment" {
            return Err(invalid(format!(
                "spec.targetRef.kind {}: fledge runs rollouts of Deployments (DaemonSet and Service targets are not supported yet)",
                spec.target.kind
            )));
        }
        let (label, value) = selector_label(&t.target).map_err(invalid)?;
        let live_target = self.get(spec, "apps/v1", "Deployment", target_name).await?;
        let live_primary = self
            .get(
                spec,
                "apps/v1",
                "Deployment",
                &format!("{target_name}-primary"),
            )
            .await?;
        let mut out = Vec::new();

        // The primary: built from the revision it should serve, only when it serves another.
        let want = if matches!(state.phase, Phase::Promoting | Phase::Finalising) {
            state.canary_revision.clone()
        } else {
            state.primary_revision.clone()
        }
        .unwrap_or_else(|| t.revision.id.0.clone());
        let primary_has = live_primary.as_ref().and_then(|p| {
            p["metadata"]["annotations"][REVISION_ANNOTATION]
                .as_str()
                .map(str::to_owned)
        });
        let rebuild = primary_has.as_deref() != Some(want.as_str());
        if rebuild {
            // Build from Git's target when it is that revision, else from the live target that ran it.
            let (source, configs) = if t.revision.id.0 == want {
                (
                    Some(t.target.clone()),
                    primary_configs(&t.revision, &t.configs, ns),
                )
            } else if let Some(live) = live_target
                .as_ref()
                .filter(|l| l["metadata"]["annotations"][REVISION_ANNOTATION] == want.as_str())
            {
                (Some(with_namespace(applyable(live), ns)), Vec::new())
            } else {
                (None, Vec::new())
            };
            if let Some(src) = source {
                let mut p = primary_deployment(
                    &with_namespace(src, ns),
                    &t.revision,
                    &want[..12.min(want.len())],
                )
                .map_err(invalid)?;
                set_annotation(&mut p, REVISION_ANNOTATION, &want);
                if t.autoscaler.is_some()
                    && let Some(r) = live_primary
                        .as_ref()
                        .and_then(|l| l["spec"]["replicas"].as_i64())
                {
                    p["spec"]["replicas"] = json!(r);
                }
                out.extend(configs);
                out.push(p);
            } else {
                warn!(release = %spec.key(), revision = %want,
                    "the revision the primary should serve is neither in Git nor on the target; the primary is left as it is");
            }
        } else if let Some(p) = &live_primary {
            out.push(applyable(p));
        }
        if let Some(hpa) = &t.autoscaler {
            let mut h = with_namespace(applyable(hpa), ns);
            let name = h["metadata"]["name"]
                .as_str()
                .unwrap_or(target_name)
                .to_owned();
            h["metadata"]["name"] = json!(format!("{name}-primary"));
            h["spec"]["scaleTargetRef"]["name"] = json!(format!("{target_name}-primary"));
            out.push(with_namespace(applyable(hpa), ns));
            out.push(h);
        }

        // The target: Git's spec while it is the revision in play; replicas by phase.
        let git_is_current = state.canary_revision.as_deref() == Some(t.revision.id.0.as_str())
            || (!state.phase.is_active()
                && state.primary_revision.as_deref() == Some(t.revision.id.0.as_str()))
            || state.phase == Phase::Initializing;
        let mut target = match live_target.as_ref() {
            Some(live) if !git_is_current => applyable(live),
            _ => {
                let mut d = with_namespace(t.target.clone(), ns);
                set_annotation(&mut d, REVISION_ANNOTATION, &t.revision.id.0);
                d
            }
        };
        // A failed promotion leaves traffic on the canary, so it keeps running.
        let up = (state.phase.canary_scaled_up() && state.phase != Phase::Finalising)
            || (state.phase == Phase::Failed && state.canary_weight > 0);
        let replicas = if up {
            let git = t.target["spec"]["replicas"].as_i64().filter(|r| *r > 0);
            let live = live_target
                .as_ref()
                .and_then(|l| l["spec"]["replicas"].as_i64())
                .filter(|r| *r > 0 && t.autoscaler.is_some());
            let hpa_min = t
                .autoscaler
                .as_ref()
                .and_then(|h| h["spec"]["minReplicas"].as_i64());
            live.or(git).or(hpa_min).unwrap_or(1)
        } else {
            0
        };
        target["spec"]["replicas"] = json!(replicas);
        out.push(target);

        // Services: the apex only once the primary has been ready (it selects the primary).
        let services = routing::services(spec, &label, &value);
        let initializing = state.phase == Phase::Initializing;
        for s in services {
            let apex = s["metadata"]["name"] == spec.service.name.as_str();
            if !(apex && initializing) {
                out.push(s);
            }
        }
        if let Some(ing) = &t.ingress {
            out.push(with_namespace(applyable(ing), ns));
        }
        if !initializing {
            let ingress = t.ingress.as_ref().map(|i| with_namespace(i.clone(), ns));
            out.extend(routing::route(&RouteInput {
                spec,
                weights: Weights {
                    canary: state.canary_weight,
                    mirror: state.mirrored,
                },
                ingress: ingress.as_ref(),
                canary_revision: state.canary_revision.as_deref().unwrap_or(""),
            })?);
        }
        Ok(out)
    }

    /// Brings the cluster in line with `state`.
    pub async fn converge(&self, t: &ReleaseTarget, state: &ReleaseState) -> Result<(), Error> {
        let objects = self.desired_objects(t, state).await?;
        self.cluster
            .apply(&objects)
            .await
            .map_err(Self::cluster_err(&t.spec))?;
        Ok(())
    }

    async fn secrets(&self, spec: &ReleaseSpec) -> BTreeMap<(String, String), Auth> {
        let mut out = BTreeMap::new();
        for m in &spec.analysis.metrics {
            let super::spec::MetricSourceRef::Template { namespace, name } = &m.source else {
                continue;
            };
            let Some(t) = self.templates.get(&(namespace.clone(), name.clone())) else {
                continue;
            };
            let Some(secret) = &t.secret_ref else {
                continue;
            };
            let Ok(Some(s)) = self.cluster.get("v1", "Secret", &t.namespace, secret).await else {
                continue;
            };
            let field = |k: &str| cluster::secret_field(&s, k);
            let auth = match (field("token"), field("username"), field("password")) {
                (Some(t), _, _) => Some(Auth::Bearer(t)),
                (None, Some(username), Some(password)) => Some(Auth::Basic { username, password }),
                _ => None,
            };
            if let Some(a) = auth {
                out.insert((t.namespace.clone(), secret.clone()), a);
            }
        }
        out
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
                    .run(spec, super::spec::HookType::Rollout, state.phase, checksum)
                    .await;
                if hooks != Outcome::Pass {
                    return hooks;
                }
                let secrets = self.secrets(spec).await;
                analysis::check_metrics(spec, &self.templates, &secrets, &self.metrics, values)
                    .await
            }
        }
    }

    /// One tick at `now` (unix seconds).
    pub async fn tick(&self, t: &ReleaseTarget, now: i64) -> Result<TickReport, Error> {
        let spec = &t.spec;
        let state = self.load(spec).await?;
        self.converge(t, &state).await?;
        let primary = self
            .get(
                spec,
                "apps/v1",
                "Deployment",
                &format!("{}-primary", spec.target.name),
            )
            .await?
            .map(|p| deployment_readiness(&p));
        let canary = self
            .get(spec, "apps/v1", "Deployment", &spec.target.name)
            .await?
            .map_or_else(
                || Readiness::Progressing("the target does not exist yet".into()),
                |d| deployment_readiness(&d),
            );
        let mut obs = Observation {
            desired: Desired {
                revision: t.revision.id.0.clone(),
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
        if decision.state != state {
            self.persist(spec, &decision.state).await?;
        }
        if decision.state.phase != state.phase {
            info!(release = %spec.key(), from = %state.phase, to = %decision.state.phase,
                  weight = decision.state.canary_weight, "phase changed");
        }
        // The tick began by converging to `state`; only a new state needs another pass.
        if decision.state != state {
            self.converge(t, &decision.state).await?;
        }
        let checksum = decision.state.canary_revision.clone().unwrap_or_default();
        let mut events = decision.events.clone();
        for a in &decision.actions {
            if let Action::PostRollout(phase) = a {
                for f in self.webhooks.post_rollout(spec, *phase, &checksum).await {
                    events.push(Event {
                        event_type: EventType::Warning,
                        message: f,
                        alert: None,
                        failure: None,
                    });
                }
            }
        }
        for e in &events {
            match e.event_type {
                EventType::Normal => info!(release = %spec.key(), "{}", e.message),
                EventType::Warning => warn!(release = %spec.key(), "{}", e.message),
            }
            if spec.has_hooks(super::spec::HookType::Event) {
                for f in self
                    .webhooks
                    .event(
                        spec,
                        decision.state.phase,
                        &checksum,
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
        Ok(TickReport {
            state: decision.state,
            events,
            metrics: values,
        })
    }
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
