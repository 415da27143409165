//! `rollout`: Flagger-compatible progressive delivery — the core between a rendered commit and
//! the cluster. [`targets`] is the plan stage: it splits rendered objects into plain objects for
//! sync and release targets; [`decide`](decide::decide) is one pure tick of a release over its
//! persisted state; [`objects`] builds what the cluster must hold for a state (the primary, its
//! config copies and HPA, the target's replicas, the Services, the routes); [`executor`] performs
//! a tick against the cluster, metrics and webhooks, persisting the state in a
//! `releases.fledge.dev` object before acting; [`plan`] says what a Canary will do before it is
//! pushed, from the same split, the same `decide` and the same builders; [`retire`] hands a
//! release whose Canary left the repository back to what Git declares.
//!
//! Invariants: everything but the executor is pure (no I/O, no clock); the cluster is brought in
//! line with the persisted state every tick, so a restart resumes.

pub mod decide;
pub mod executor;
pub mod objects;
pub mod plan;
pub mod primary;
pub mod retire;
pub mod simulate;
pub mod targets;

pub use decide::decide;
