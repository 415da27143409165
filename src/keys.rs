//! `keys`: every name fledge writes into the cluster, into Git and into its API — annotations,
//! labels, trailers, the field manager, its own objects' names — in one place, so that a reader
//! finds each once and a writer cannot spell it two ways. Where Flagger or Flux already has a
//! name for a thing, the name is theirs, so dashboards, queries and opt-outs keep working.
//!
//! Constants only, and the two name rules Flagger users rely on; nothing here imports anything.

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "fledge";

/// The API version of the `Release` objects that hold each release's state.
pub const RELEASE_API_VERSION: &str = "fledge.dev/v1alpha1";
/// The kind of those objects.
pub const RELEASE_KIND: &str = "Release";

/// The annotation naming the revision a Deployment (target or primary) carries.
pub const REVISION_ANNOTATION: &str = "fledge.dev/revision";
/// The annotation on a primary Deployment naming the commit that brought the revision it
/// serves, so that a lost Release status can be recovered from the primary.
pub const COMMIT_ANNOTATION: &str = "fledge.dev/commit";
/// The label naming the release that generated an object.
pub const RELEASE_LABEL: &str = "fledge.dev/release";
/// The label on a Release naming the namespace of the daemon that runs it (its inventory's):
/// a restarted daemon hands back the releases it ran whose Canary left the repository, and
/// never another daemon's.
pub const OWNER_LABEL: &str = "fledge.dev/owner";
/// The label fledge puts on the objects it keeps for itself (inventory, revision key).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "fledge");

/// Annotations that keep an object from being pruned when set to `disabled`: fledge's own and
/// Flux's.
pub const PRUNE_OPT_OUT: &[&str] = &["fledge.dev/prune", "kustomize.toolkit.fluxcd.io/prune"];
/// Annotations that opt a ConfigMap or Secret out of revision tracking (a value starting with
/// `disable`): Flagger's and fledge's.
pub const CONFIG_TRACKING_OPT_OUT: &[&str] =
    &["flagger.app/config-tracking", "fledge.dev/config-tracking"];
/// Annotations Flagger puts on every generated object so that Flux does not fight over them.
pub const FLUX_OPT_OUT: &[(&str, &str)] = &[
    ("kustomize.toolkit.fluxcd.io/reconcile", "disabled"),
    ("helm.toolkit.fluxcd.io/driftDetection", "disabled"),
];
/// Flux's server-side apply policy annotation: `Override` (the default), `Merge`,
/// `IfNotPresent` (create only), `Ignore` (never applied).
pub const FLUX_SSA: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// Flux's annotation that recreates an object whose immutable fields changed (`enabled`).
pub const FLUX_FORCE: &str = "kustomize.toolkit.fluxcd.io/force";
/// The label or annotation that, set to [`FLUX_SUBSTITUTE_DISABLED`], keeps Flux's post-build
/// substitution off an object.
pub const FLUX_SUBSTITUTE: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// The value of [`FLUX_SUBSTITUTE`] that turns substitution off.
pub const FLUX_SUBSTITUTE_DISABLED: &str = "disabled";
/// The pod-template annotation that forces a new primary rollout at each promotion (Flagger's).
pub const FLAGGER_ID: &str = "flagger-id";
/// Labels Flagger looks for in the target's selector, in order (`-selector-labels`).
pub const SELECTOR_LABELS: &[&str] = &["app", "name", "app.kubernetes.io/name"];

/// The ConfigMap (in fledge's namespace) listing what sync applied, so only that is pruned.
pub const INVENTORY: &str = "fledge-inventory";
/// The ConfigMap (in fledge's namespace) naming the inventories of Flux Kustomizations
/// (`fledge-inventory.<namespace>.<name>`), so that one removed from the repository is found
/// without listing ConfigMaps.
pub const UNIT_INVENTORIES: &str = "fledge-units";
/// The Secret (in fledge's namespace) holding the installation's revision key.
pub const REVISION_KEY_SECRET: &str = "fledge-revision-key";

/// The trailer that marks fledge's own commits (they never start a rollout).
pub const COMMIT_TRAILER: (&str, &str) = ("Fledge-Commit", "true");
/// The trailer of a revert naming the release whose canary failed.
pub const RELEASE_TRAILER: &str = "Fledge-Release";
/// The trailer of a revert saying why the canary failed.
pub const REASON_TRAILER: &str = "Fledge-Reason";
/// The trailer of a revert naming the failed revision (its first 12 hex digits).
pub const REVISION_TRAILER: &str = "Fledge-Revision";
/// The commit trailer that allows a sync to prune a Namespace or CustomResourceDefinition
/// (`Fledge-Allow-Prune: Namespace/team-a`).
pub const ALLOW_PRUNE_TRAILER: &str = "Fledge-Allow-Prune";
/// The notes ref outcomes are written under.
pub const NOTES_REF: &str = "refs/notes/fledge";
/// The default status branch.
pub const STATUS_BRANCH: &str = "fledge/status";
/// Where promotion records go on the tracked branch (a hidden directory: never rendered).
pub const PROMOTION_DIR: &str = ".fledge/promoted";
/// Where the revisions whose canary failed are recorded on the tracked branch: image
/// automation never proposes their images again until a person deletes the entry.
pub const FAILED_DIR: &str = ".fledge/failed";

/// The annotation that pauses a KEDA ScaledObject at that many replicas (KEDA's
/// `autoscaling.keda.sh/paused-replicas`), which Flagger sets to `"0"` on an idle target's.
pub const KEDA_PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";

/// The node selector label that "scales a DaemonSet to zero" (no node carries it), as
/// Flagger's: added to an idle DaemonSet target's pod template, never copied to its primary.
pub const SCALE_TO_ZERO: &str = "flagger.app/scale-to-zero";

/// The annotation on a Knative Service naming the revision that serves as the primary
/// (Flagger's knative router's): its traffic target keeps the primary's share.
pub const KNATIVE_PRIMARY_REVISION: &str = "flagger.app/primary-revision";

/// On a Knative Service: fledge's id of the revision [`KNATIVE_PRIMARY_REVISION`] names, the
/// Knative Service's counterpart of a primary's [`REVISION_ANNOTATION`], from which a lost
/// Release status is recovered.
pub const KNATIVE_PRIMARY_ID: &str = "fledge.dev/primary-revision";

/// Pod-template annotation that keeps a simulated Deployment from ever becoming ready.
pub const SIM_READY: &str = "sim.fledge.dev/ready";
/// Pod-template annotation: the simulated pods' error ratio (0–1).
pub const SIM_ERROR_RATE: &str = "sim.fledge.dev/error-rate";
/// Simulated cluster: images (comma-separated references) whose pods fail every request.
pub const SIM_FAILING_IMAGES: &str = "sim.fledge.dev/failing-images";
/// Pod-template annotation: the simulated pods' latency in milliseconds.
pub const SIM_LATENCY_MS: &str = "sim.fledge.dev/latency-ms";

/// `<name>-primary`: the primary Deployment, Service, HPA and config copies (Flagger's names).
#[must_use]
pub fn primary(name: &str) -> String {
    format!("{name}-primary")
}

/// `<name>-canary`: the canary Service and Ingress (Flagger's names).
#[must_use]
pub fn canary(name: &str) -> String {
    format!("{name}-canary")
}
