//! fledge: a `GitOps` reconciler with progressive delivery.
//!
//! ```text
//!  Git ──source──▶ Snapshot ──render──▶ objects ──plan──▶ sync (apply, prune)
//!                                            └──▶ release targets ──rollout──▶ writeback, report
//! ```
//!
//! - [`source`]: the config repository (poll, cache, triggers) → snapshots.
//! - [`render`]: a snapshot → objects, kustomize-compatible, without a kustomize binary.
//! - [`revision`]: a Deployment's revision: pod template plus the configs it references.
//! - [`cluster`]: the Kubernetes API (kube-rs) or the simulated cluster, behind one trait.
//! - [`rollout`]: Canary specs, the pure `decide`, the executor, `plan`.
//! - [`routing`]: one generator of routing objects per traffic provider.
//! - [`analysis`]: metric checks (Prometheus, the simulated traffic) and webhooks.
//! - [`writeback`]: commits, reverts and notes pushed without force; the record formats.
//! - [`report`]: commit statuses on the forge and chat alerts.
//! - [`daemon`]: the wiring of `fledge run`: reconciler, outcome writer, HTTP.
//! - [`cli`]: the command-line interface.

pub mod analysis;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod render;
pub mod report;
pub mod revision;
pub mod rollout;
pub mod routing;
pub mod source;
pub mod writeback;
