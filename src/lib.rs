//! fledge: a `GitOps` reconciler with progressive delivery.
//!
//! ```text
//!  Git ──source──▶ Snapshot ──render──▶ objects ──rollout::targets──▶ plain objects ──▶ cluster (sync)
//!                                                        └──▶ release targets ──rollout──▶ cluster
//!                                                                       └──▶ writeback (Git), report
//! ```
//!
//! Modules from the top floor down; each imports only modules below it:
//!
//! - [`cli`]: the command-line interface, a thin shell over the library.
//! - [`daemon`]: the wiring of `fledge run`: configuration, the reconciler, sync, the outcome
//!   writer, HTTP.
//! - [`writeback`]: commits, reverts and notes pushed without force; the record formats; the
//!   Git history a revert needs.
//! - [`report`]: commit statuses on the forge, chat alerts, fledge's own metrics.
//! - [`rollout`]: the core: the plan stage (`targets`), the pure `decide`, the object builders,
//!   the executor, `plan`.
//! - [`loadtester`]: `fledge loadtester`, Flagger's flagger-loadtester webhook API (gates, shell
//!   tasks, `hey` load built in), beside `analysis` as the other end of its webhooks.
//! - [`analysis`]: metric checks (Prometheus, the simulated traffic, or traffic modelled over a
//!   real cluster's routing) and webhooks.
//! - [`cluster`]: the Kubernetes API (kube-rs) or the simulated cluster, behind one trait; the
//!   inventory, pruning and its guard; the simulated cluster refuses what a real server does.
//! - [`routing`]: one generator of routing objects per traffic provider.
//! - [`source`]: the config repository (poll, cache, triggers) → snapshots.
//! - [`registry`]: container registries: the tags image automation scans, a tag's digest.
//! - [`release`]: the vocabulary: Canary specs and their parser (checked against Flagger's own
//!   schemas), release state, readiness, the API view.
//! - [`flux`]: Flux's objects as configuration (Kustomizations, GitRepositories, ArtifactGenerators,
//!   Providers, Alerts and Receivers, checked against Flux's own schemas) and the sync units
//!   they make.
//! - [`revision`]: a Deployment's revision: pod template plus the configs it references.
//! - [`render`]: a snapshot → objects, kustomize-compatible, without a kustomize binary.
//! - [`sops`]: documents encrypted with SOPS (age keys; YAML, JSON, dotenv, binary), decrypted
//!   as `sops --decrypt` does, MAC checked; keys come in as values. `render` calls it where
//!   Flux's kustomize-controller decrypts.
//! - [`object`]: Kubernetes objects as JSON values: keys, namespaces, server-owned fields, what
//!   a field manager applied (from `managedFields`), a Secret's data as the server holds it, and
//!   an object's health as Flux's kstatus computes it.
//! - [`keys`]: every annotation, label, trailer and name fledge writes; [`ids`]: the identities
//!   that travel between stages (commits).
//! - [`net`]: the HTTP client and the backoff every network edge shares; [`chain`]: an error
//!   with its causes, for logs; [`libyaml`]: the bytes the YAML event reader is given.

pub mod analysis;
pub mod chain;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod flux;
pub mod helm;
pub mod ids;
pub mod keys;
pub mod libyaml;
pub mod loadtester;
pub mod net;
pub mod object;
pub mod registry;
pub mod release;
pub mod render;
pub mod report;
pub mod revision;
pub mod rollout;
pub mod routing;
pub mod sops;
pub mod source;
pub mod writeback;
