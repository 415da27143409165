//! fledge: a `GitOps` reconciler with progressive delivery.
//!
//! ```text
//!  Git ──source──▶ Snapshot ──render──▶ objects ──plan──▶ sync (apply, prune)
//!                                            └──▶ release targets ──rollout──▶ writeback, report
//! ```
//!
//! - [`render`]: the config repository → objects, kustomize-compatible, without a kustomize binary.
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
