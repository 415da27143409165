//! `release`: the vocabulary every stage shares, at the bottom of the crate. Flagger's Canary,
//! MetricTemplate and AlertProvider read into typed specs ([`spec`], parsed by [`parse_canary`]
//! and friends), the persisted state of a release and what the rollout core exchanges with its
//! executor ([`state`]), the readiness rule of a Deployment ([`readiness`]), a release as Git
//! describes it ([`ReleaseTarget`]) and as the API shows it ([`view::ReleaseView`]).
//!
//! Pure types and rules: nothing here does I/O or imports an edge, so routing, analysis, the
//! clusters, writeback and report all import it downward.

mod parse;
pub mod readiness;
pub mod schema;
pub mod spec;
pub mod state;
pub mod view;

use serde_json::Value;

pub use parse::{is_kind, parse_alert_provider, parse_canary, parse_metric_template};
pub use readiness::{Readiness, daemonset_readiness, deployment_readiness, workload_readiness};
pub use spec::ReleaseSpec;
pub use state::{Decision, Observation, Phase, ReleaseState};
pub use view::ReleaseView;

use crate::ids::CommitId;
use crate::revision::Revision;

/// One release as Git describes it: the Canary and the objects it references.
#[derive(Debug, Clone)]
pub struct ReleaseTarget {
    pub spec: ReleaseSpec,
    /// The target Deployment as rendered from Git (with its namespace set).
    pub target: Value,
    /// Its revision (pod template plus the configs it references).
    pub revision: Revision,
    /// The ConfigMaps and Secrets the target references (for the primary copies).
    pub configs: Vec<Value>,
    /// The HorizontalPodAutoscaler named by `autoscalerRef`.
    pub autoscaler: Option<Value>,
    /// The Ingress named by `ingressRef`.
    pub ingress: Option<Value>,
    /// The route named by `routeRef` (an ApisixRoute), which the provider's router copies.
    pub route: Option<Value>,
    /// The commit that brought this revision.
    pub commit: Option<CommitId>,
    /// Promoted before and not failed since (fast rollback).
    pub known_good: bool,
    /// The target as Git had it at the commit that brought the revision the primary serves,
    /// when that revision is no longer Git's: what a deleted primary is rebuilt from during a
    /// rollout. The daemon supplies it when a tick finds the primary missing.
    pub primary_source: Option<std::sync::Arc<PrimarySource>>,
}

/// A revision's target and configs as Git had them at an earlier commit.
#[derive(Debug, Clone, PartialEq)]
pub struct PrimarySource {
    /// The commit read.
    pub commit: CommitId,
    /// The target Deployment at that commit (with its namespace set).
    pub target: Value,
    pub revision: Revision,
    /// The ConfigMaps and Secrets it references.
    pub configs: Vec<Value>,
}
