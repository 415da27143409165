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
use super::objects::{self, Live};
use crate::analysis::{self, MetricSource, MetricValue, webhooks::Webhooks};
use crate::cluster::{self, Cluster};
use crate::keys;
use crate::release::spec::{HookType, MetricTemplate, ReleaseSpec};
use crate::release::state::{
    Action, Desired, Event, EventType, Observation, Outcome, Question, ReleaseState,
};
use crate::release::{Readiness, ReleaseTarget, deployment_readiness};

/// Why a tick could not complete; the next tick retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("release {release}: cluster")]
    Cluster {
        release: String,
        #[source]
        source: cluster::Error,
    },
    #[error(transparent)]
    Objects(#[from] objects::Error),
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
        "apiVersion": keys::RELEASE_API_VERSION,
        "kind": keys::RELEASE_KIND,
        "metadata": {"name": spec.name, "namespace": spec.namespace,
                     "labels": {keys::RELEASE_LABEL: spec.name}},
        "spec": {
            "targetRef": {"apiVersion": spec.target.api_version, "kind": spec.target.kind, "name": spec.target.name},
            "provider": spec.provider.to_string(),
            "strategy": spec.strategy(),
        },
        "status": state,
    })
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
            .get(
                keys::RELEASE_API_VERSION,
                keys::RELEASE_KIND,
                &spec.namespace,
                &spec.name,
            )
            .await
            .map_err(Self::cluster_err(spec))?;
        Ok(obj
            .and_then(|o| serde_json::from_value(o["status"].clone()).ok())
            .unwrap_or_default())
    }

    async fn persist(&self, spec: &ReleaseSpec, state: &ReleaseState) -> Result<(), Error> {
        let obj = release_object(spec, state);
        let exists = self
            .get(
                spec,
                keys::RELEASE_API_VERSION,
                keys::RELEASE_KIND,
                &spec.name,
            )
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

    /// What the cluster holds of the release's Deployments.
    async fn live(&self, spec: &ReleaseSpec) -> Result<Live, Error> {
        let name = &spec.target.name;
        Ok(Live {
            target: self.get(spec, "apps/v1", "Deployment", name).await?,
            primary: self
                .get(spec, "apps/v1", "Deployment", &keys::primary(name))
                .await?,
        })
    }

    /// Brings the cluster in line with `state`.
    pub async fn converge(&self, t: &ReleaseTarget, state: &ReleaseState) -> Result<(), Error> {
        let live = self.live(&t.spec).await?;
        let built = objects::release_objects(t, state, &live)?;
        if let Some(why) = &built.primary_left {
            warn!(release = %t.spec.key(), "{why}");
        }
        self.cluster
            .apply(&built.objects)
            .await
            .map_err(Self::cluster_err(&t.spec))?;
        Ok(())
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
                &keys::primary(&spec.target.name),
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
            if spec.has_hooks(HookType::Event) {
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
