//! The objects of a release: what the cluster must hold for a [`ReleaseTarget`] in a
//! [`ReleaseState`], as a pure function of the two and of what the cluster already holds of the
//! release's Deployments ([`Live`]). The executor applies exactly this every tick, and
//! `fledge plan` previews exactly this, so the preview cannot drift from what happens.
//!
//! One builder per object, each a pure function: the primary Deployment and its config copies
//! (built from the revision the state says the primary serves), the primary HPA, the target with
//! its replicas for the phase, the three Services, the routing objects at the state's weights.

use serde_json::{Value, json};

use super::primary::primary_configs;
use super::primary::{primary_workload, selector_label, without_scale_to_zero};
use crate::ids::CommitId;
use crate::keys;
use crate::object::{applyable, owned, set_annotation, with_namespace};
use crate::release::spec::{Provider, ReleaseKey, ReleaseSpec};
use crate::release::{Phase, ReleaseState, ReleaseTarget};
use crate::revision::RevisionId;
use crate::routing::{self, RouteInput, Weights};

/// What the cluster holds of a release's workloads at the start of a tick (`None`: absent).
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The target Deployment or DaemonSet (the canary).
    pub target: Option<Value>,
    /// `<target>-primary`.
    pub primary: Option<Value>,
    /// The Gloo Upstream named by `spec.upstreamRef`.
    pub upstream: Option<Value>,
}

/// Why a release's objects cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("release {release}: {message}")]
    Invalid {
        release: ReleaseKey,
        message: String,
    },
    #[error(transparent)]
    Routing(#[from] routing::Error),
}

/// The objects that make the cluster match a state.
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    pub objects: Vec<Value>,
    /// Set when the primary must change but the revision it should serve is neither in Git,
    /// nor on the live target, nor in [`ReleaseTarget::primary_source`]: the primary is left
    /// as it is (or missing) until that source is supplied.
    pub primary_left: Option<PrimaryLeft>,
}

/// A primary that could not be built: the revision it should serve, and where Git had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryLeft {
    pub revision: RevisionId,
    /// The commit that brought the revision, when known: read Git there to rebuild it.
    pub commit: Option<CommitId>,
    /// The primary does not exist at all.
    pub missing: bool,
}

impl std::fmt::Display for PrimaryLeft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = self.revision.short();
        let state = if self.missing {
            "is missing"
        } else {
            "serves another revision"
        };
        match &self.commit {
            Some(c) => write!(
                f,
                "the primary {state}; the revision it should serve ({short}) is neither in Git's head nor on the target: it is rebuilt from commit {}",
                &c[..c.len().min(12)]
            ),
            None => write!(
                f,
                "the primary {state}; the revision it should serve ({short}) is neither in Git's head nor on the target, and the commit that brought it is not known: it cannot be rebuilt"
            ),
        }
    }
}

/// The objects that make the cluster match `state`: the primary (and its config copies) when it
/// must change or as it stands, the user's HPA and the primary's, the target with its replicas
/// for the phase, the Services (the apex only once the primary has been ready), the user's
/// Ingress, and the routes at the state's weights (after initialization; App Mesh's first, from
/// the start).
pub fn release_objects(
    t: &ReleaseTarget,
    state: &ReleaseState,
    live: &Live,
) -> Result<Objects, Error> {
    let spec = &t.spec;
    let invalid = |message: String| Error::Invalid {
        release: spec.key(),
        message,
    };
    if spec.provider == Provider::Knative {
        return Ok(Objects {
            objects: vec![knative_service(t, state, live)],
            primary_left: None,
        });
    }
    if spec.target.kind == "Service" {
        return service_target::service_objects(t, state, live);
    }
    if !matches!(spec.target.kind.as_str(), "Deployment" | "DaemonSet") {
        return Err(invalid(format!(
            "spec.targetRef.kind {}: fledge runs rollouts of Deployments, DaemonSets and Services",
            spec.target.kind
        )));
    }
    let (label, value) = selector_label(&t.target).map_err(invalid)?;
    // App Mesh (v1beta2) injects its proxy only into pods that a VirtualNode selects: its
    // routing objects come first, from the start, as Flagger registers them before the
    // primary (v1beta1's too, in the same order as Flagger's).
    let mesh_first = matches!(spec.provider, Provider::AppMesh { .. });
    let mut out = if mesh_first {
        routes(t, state, live, Some((&label, &value)))?
    } else {
        Vec::new()
    };
    let (primary, primary_left) = primary_objects(t, state, live).map_err(invalid)?;
    out.extend(primary);
    if let Some(scaler) = &t.autoscaler {
        out.push(target_autoscaler(t, state, scaler));
        out.push(primary_autoscaler(t, scaler));
    }
    out.push(target_workload(t, state, live));
    let initializing = state.phase == Phase::Initializing;
    out.extend(
        routing::services(spec, &t.target, &label, &value)
            .into_iter()
            .filter(|s| !(initializing && s["metadata"]["name"] == spec.service.name.as_str())),
    );
    if let Some(ing) = &t.ingress {
        out.push(with_namespace(applyable(ing), &spec.namespace));
    }
    if !initializing && !mesh_first {
        out.extend(routes(t, state, live, Some((&label, &value)))?);
    }
    Ok(Objects {
        objects: out,
        primary_left,
    })
}

/// A live object to apply again as it stands: what fledge applied to it (so that the server's
/// defaults and other managers' fields stay theirs), or, on a cluster that records no managed
/// fields or for an object fledge never applied, the object as it is.
pub(super) fn as_applied(live: &Value) -> Value {
    owned::applied_by(live, keys::FIELD_MANAGER).unwrap_or_else(|| applyable(live))
}

/// The revision the primary should serve in `state`.
fn primary_revision(t: &ReleaseTarget, state: &ReleaseState) -> RevisionId {
    if matches!(state.phase, Phase::Promoting | Phase::Finalising) {
        state.canary_revision.clone()
    } else {
        state.primary_revision.clone()
    }
    .unwrap_or_else(|| t.revision.id.clone())
}

/// The commit that brought the revision the primary should serve in `state`, when known.
fn primary_commit(t: &ReleaseTarget, state: &ReleaseState) -> Option<CommitId> {
    if matches!(state.phase, Phase::Promoting | Phase::Finalising) {
        state.source_commit.clone()
    } else if state.primary_revision.is_some() {
        state.primary_commit.clone()
    } else {
        t.commit.clone()
    }
}

/// The primary and its config copies: rebuilt only when the live primary serves another
/// revision, else the live primary as it is.
fn primary_objects(
    t: &ReleaseTarget,
    state: &ReleaseState,
    live: &Live,
) -> Result<(Vec<Value>, Option<PrimaryLeft>), String> {
    let ns = t.spec.namespace.as_str();
    let want = primary_revision(t, state);
    let serves = live.primary.as_ref().and_then(|p| {
        p["metadata"]["annotations"][keys::REVISION_ANNOTATION]
            .as_str()
            .map(str::to_owned)
    });
    // A primary annotated with the previous hashing's id of Git's revision serves it too.
    let legacy = t.revision.id == want && serves.as_deref().is_some_and(|s| t.revision.is(s));
    if serves.as_deref() == Some(want.as_str()) || legacy {
        // The config copies stay converged too, while Git's revision is the one served.
        let mut out = if t.revision.id == want {
            primary_configs(&t.revision, &t.configs, ns)
        } else {
            Vec::new()
        };
        out.extend(live.primary.iter().map(|p| {
            let mut p = as_applied(p);
            // The Deployment's own annotation only: the pods do not roll.
            set_annotation(&mut p, keys::REVISION_ANNOTATION, &want);
            p
        }));
        return Ok((out, None));
    }
    // Built from Git's target when it is that revision, else from the live target that ran
    // it, else from Git as it was at the commit that brought it (a primary deleted during a
    // rollout).
    let (source, revision, configs) = if t.revision.id == want {
        (
            t.target.clone(),
            &t.revision,
            primary_configs(&t.revision, &t.configs, ns),
        )
    } else if let Some(l) = live
        .target
        .as_ref()
        .filter(|l| l["metadata"]["annotations"][keys::REVISION_ANNOTATION] == want.as_str())
    {
        (with_namespace(as_applied(l), ns), &t.revision, Vec::new())
    } else if let Some(src) = t
        .primary_source
        .as_deref()
        .filter(|s| s.revision.id == want)
    {
        (
            src.target.clone(),
            &src.revision,
            primary_configs(&src.revision, &src.configs, ns),
        )
    } else {
        return Ok((
            Vec::new(),
            Some(PrimaryLeft {
                revision: want,
                commit: primary_commit(t, state),
                missing: live.primary.is_none(),
            }),
        ));
    };
    let mut p = primary_workload(&with_namespace(source, ns), revision, want.short())?;
    set_annotation(&mut p, keys::REVISION_ANNOTATION, &want);
    if let Some(c) = primary_commit(t, state) {
        set_annotation(&mut p, keys::COMMIT_ANNOTATION, &c);
    }
    // With an autoscaler the primary keeps the replicas the HPA gave it.
    if t.autoscaler.is_some()
        && p["kind"] == "Deployment"
        && let Some(r) = live
            .primary
            .as_ref()
            .and_then(|l| l["spec"]["replicas"].as_i64())
    {
        p["spec"]["replicas"] = json!(r);
    }
    let mut out = configs;
    out.push(p);
    Ok((out, None))
}

/// Whether the target runs in `state`: from a new revision's start to the promotion's end,
/// and after a failed promotion that left traffic on it.
fn canary_up(state: &ReleaseState) -> bool {
    (state.phase.canary_scaled_up() && state.phase != Phase::Finalising)
        || (state.phase == Phase::Failed && state.canary_weight > 0)
}

/// The target's autoscaler as Git has it; a KEDA ScaledObject paused while the target is idle
/// ([`keys::KEDA_PAUSED_REPLICAS`] `"0"`, as Flagger pauses it, so that KEDA does not scale
/// the idle target up), and resumed with the target.
fn target_autoscaler(t: &ReleaseTarget, state: &ReleaseState, scaler: &Value) -> Value {
    let mut s = with_namespace(applyable(scaler), &t.spec.namespace);
    if s["kind"] == "ScaledObject" && !canary_up(state) {
        set_annotation(&mut s, keys::KEDA_PAUSED_REPLICAS, "0");
    }
    s
}

/// `<autoscaler>-primary`, scaling `<target>-primary`, built as Flagger builds it: the
/// target's labels (not its annotations), the spec fields Flagger copies, the replica bounds
/// of `primaryScalerReplicas`, and for a KEDA ScaledObject the triggers' queries for the
/// primary.
fn primary_autoscaler(t: &ReleaseTarget, scaler: &Value) -> Value {
    let spec = &t.spec;
    let name = scaler["metadata"]["name"]
        .as_str()
        .unwrap_or(&spec.target.name);
    let mut meta = json!({"name": keys::primary(name), "namespace": spec.namespace});
    if let Some(labels) = scaler["metadata"]["labels"].as_object().map(|l| {
        l.iter()
            .filter(|(k, _)| !k.contains("toolkit.fluxcd.io"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
    }) && !labels.is_empty()
    {
        meta["labels"] = Value::Object(labels);
    }
    let keda = scaler["kind"] == "ScaledObject";
    let (fields, min, max): (&[&str], _, _) = if keda {
        (
            &[
                "pollingInterval",
                "cooldownPeriod",
                "minReplicaCount",
                "maxReplicaCount",
                "advanced",
                "triggers",
                "fallback",
                "idleReplicaCount",
            ],
            "minReplicaCount",
            "maxReplicaCount",
        )
    } else {
        (
            &["minReplicas", "maxReplicas", "metrics", "behavior"],
            "minReplicas",
            "maxReplicas",
        )
    };
    let mut out_spec = serde_json::Map::new();
    let mut target_ref = serde_json::Map::new();
    for f in ["apiVersion", "kind", "envSourceContainerName"] {
        if let Some(v) = scaler["spec"]["scaleTargetRef"].get(f) {
            target_ref.insert(f.into(), v.clone());
        }
    }
    target_ref.insert("name".into(), json!(keys::primary(&spec.target.name)));
    out_spec.insert("scaleTargetRef".into(), Value::Object(target_ref));
    for f in fields {
        if let Some(v) = scaler["spec"].get(*f) {
            out_spec.insert((*f).into(), v.clone());
        }
    }
    let overrides = &spec.primary_scaler;
    for (field, value) in [(min, overrides.min_replicas), (max, overrides.max_replicas)] {
        if let Some(v) = value {
            out_spec.insert(field.into(), json!(v));
        }
    }
    if keda && let Some(triggers) = out_spec.get_mut("triggers").and_then(Value::as_array_mut) {
        for trigger in triggers {
            primary_trigger(spec, trigger);
        }
    }
    json!({"apiVersion": scaler["apiVersion"], "kind": scaler["kind"], "metadata": meta,
           "spec": out_spec})
}

/// A KEDA trigger's query for the primary, as Flagger writes it: the query
/// `primaryScalerQueries` gives the trigger's name, else (with no `primaryScalerQueries` at
/// all) the query with the target's name, and the target's `-canary` name, made the primary's.
fn primary_trigger(spec: &ReleaseSpec, trigger: &mut Value) {
    let target = spec.target.name.as_str();
    let primary = keys::primary(target);
    if let Some(queries) = &spec.primary_scaler.queries {
        if let Some(q) = trigger_name(trigger).and_then(|n| queries.get(&n))
            && trigger["metadata"].is_object()
        {
            trigger["metadata"]["query"] = json!(q);
        }
        return;
    }
    if let Some(query) = trigger.pointer_mut("/metadata/query")
        && let Some(text) = query.as_str()
    {
        // Flagger swaps `<target>-canary` out through a placeholder first, so that it becomes
        // `<target>-primary` and not `<target>-primary-canary`.
        let replaced = text
            .split(&format!("{target}-canary"))
            .map(|part| part.replace(target, &primary))
            .collect::<Vec<_>>()
            .join(&primary);
        *query = json!(replaced);
    }
}

fn trigger_name(trigger: &Value) -> Option<String> {
    trigger["name"].as_str().map(str::to_owned)
}

/// The target: Git's spec while it is the revision in play (else the live target as it is),
/// scaled for the phase: a Deployment to zero replicas while idle, else Git's, the HPA's, or
/// what the HPA gave the live target; a DaemonSet to no node while idle (Flagger's node
/// selector [`keys::SCALE_TO_ZERO`]), else to the nodes Git's selector picks.
fn target_workload(t: &ReleaseTarget, state: &ReleaseState, live: &Live) -> Value {
    let rev = t.revision.id.0.as_str();
    let git_is_current = state.canary_revision.as_deref() == Some(rev)
        || (!state.phase.is_active() && state.primary_revision.as_deref() == Some(rev))
        || state.phase == Phase::Initializing;
    let mut target = match live.target.as_ref() {
        Some(l) if !git_is_current => as_applied(l),
        _ => {
            let mut d = with_namespace(t.target.clone(), &t.spec.namespace);
            set_annotation(&mut d, keys::REVISION_ANNOTATION, rev);
            d
        }
    };
    // A failed promotion leaves traffic on the canary, so it keeps running.
    let up = canary_up(state);
    if target["kind"] == "DaemonSet" {
        without_scale_to_zero(&mut target["spec"]["template"]);
        if !up {
            target["spec"]["template"]["spec"]["nodeSelector"][keys::SCALE_TO_ZERO] = json!("true");
        }
        return target;
    }
    let replicas = if up {
        let git = t.target["spec"]["replicas"].as_i64().filter(|r| *r > 0);
        let live = live
            .target
            .as_ref()
            .and_then(|l| l["spec"]["replicas"].as_i64())
            .filter(|r| *r > 0 && t.autoscaler.is_some());
        // An HPA's `minReplicas`, a ScaledObject's `minReplicaCount`.
        let hpa_min = t.autoscaler.as_ref().and_then(|h| {
            h["spec"]["minReplicas"]
                .as_i64()
                .or_else(|| h["spec"]["minReplicaCount"].as_i64())
        });
        live.or(git).or(hpa_min).unwrap_or(1)
    } else {
        0
    };
    target["spec"]["replicas"] = json!(replicas);
    target
}

/// The Knative Service: Git's, as Knative keeps every revision it created (the primary
/// revision too), annotated with the primary revision and its traffic split at the state's
/// weights ([`routing::knative::service`]). The primary revision is the one the live Knative
/// Service's annotation names; once the state says the primary serves Git's revision (from
/// initialization, and from a promotion on), the latest revision Knative created for Git's
/// spec, as Flagger's `Initialize` and `Promote` set it.
fn knative_service(t: &ReleaseTarget, state: &ReleaseState, live: &Live) -> Value {
    let live = live.target.as_ref();
    // Knative's latest created revision, once it has seen the spec it has now.
    let latest = live
        .filter(|l| {
            l["status"]["observedGeneration"].as_i64().is_some()
                && l["status"]["observedGeneration"] == l["metadata"]["generation"]
        })
        .and_then(|l| l["status"]["latestCreatedRevisionName"].as_str());
    let annotated =
        live.and_then(|l| l["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION].as_str());
    // fledge's id of the annotated revision, as recorded beside it (else the state's).
    let annotated_id = live
        .and_then(|l| l["metadata"]["annotations"][keys::KNATIVE_PRIMARY_ID].as_str())
        .or(state.primary_revision.as_deref());
    let serves_git = primary_revision(t, state) == t.revision.id && state.phase != Phase::Failed;
    let (primary, id) = match latest {
        Some(l) if serves_git => (Some(l), Some(t.revision.id.as_str())),
        _ => (annotated, annotated_id),
    };
    let mut target = with_namespace(t.target.clone(), &t.spec.namespace);
    set_annotation(&mut target, keys::REVISION_ANNOTATION, &t.revision.id);
    let mut svc = routing::knative::service(
        &target,
        primary,
        Weights {
            canary: state.canary_weight,
            mirror: false,
        },
    );
    if let (Some(_), Some(id)) = (primary, id) {
        set_annotation(&mut svc, keys::KNATIVE_PRIMARY_ID, id);
    }
    svc
}

/// The provider's routing objects at the state's weights.
fn routes(
    t: &ReleaseTarget,
    state: &ReleaseState,
    live: &Live,
    selector: Option<(&str, &str)>,
) -> Result<Vec<Value>, Error> {
    let ingress = t
        .ingress
        .as_ref()
        .map(|i| with_namespace(i.clone(), &t.spec.namespace));
    Ok(routing::route(&RouteInput {
        spec: &t.spec,
        weights: Weights {
            canary: state.canary_weight,
            mirror: state.mirrored,
        },
        ingress: ingress.as_ref(),
        route: t.route.as_ref(),
        canary_revision: state.canary_revision.as_deref().unwrap_or(""),
        canary_ran: matches!(
            state.phase,
            Phase::Promoting | Phase::Finalising | Phase::Succeeded | Phase::Failed
        ),
        selector,
        upstream: live.upstream.as_ref(),
    })?)
}

mod service_target;

#[cfg(test)]
mod tests;
