//! `rollout`: Flagger-compatible progressive delivery. [`spec`] reads Canary, MetricTemplate and
//! AlertProvider objects; [`decide`](decide::decide) is one pure tick of a release over explicit
//! [`state`]; [`executor`] performs what a tick decided against the cluster, routers, metrics and
//! webhooks, persisting the state in a `releases.fledge.dev` object before acting; [`plan`] says
//! what a Canary will do before it is pushed.
//!
//! Invariants: the core does no I/O and reads no clock; the cluster (routes, replicas, the
//! primary) is brought in line with the persisted state every tick, so a restart resumes.

pub mod decide;
pub mod executor;
mod parse;
pub mod plan;
pub mod simulate;
pub mod spec;
pub mod state;

pub use decide::decide;
pub use spec::{ReleaseSpec, parse_canary};
pub use state::{Decision, Observation, Phase, ReleaseState};
