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
use super::primary::{primary_deployment, selector_label};
use crate::ids::CommitId;
use crate::keys;
use crate::object::{applyable, owned, set_annotation, with_namespace};
use crate::release::spec::ReleaseKey;
use crate::release::{Phase, ReleaseState, ReleaseTarget};
use crate::revision::RevisionId;
use crate::routing::{self, RouteInput, Weights};

/// What the cluster holds of a release's Deployments at the start of a tick (`None`: absent).
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The target Deployment (the canary).
    pub target: Option<Value>,
    /// `<target>-primary`.
    pub primary: Option<Value>,
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
/// Ingress, and the routes at the state's weights (after initialization).
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
    if spec.target.kind != "Deployment" {
        return Err(invalid(format!(
            "spec.targetRef.kind {}: fledge runs rollouts of Deployments (DaemonSet and Service targets are not supported yet)",
            spec.target.kind
        )));
    }
    let (label, value) = selector_label(&t.target).map_err(invalid)?;
    let (mut out, primary_left) = primary_objects(t, state, live).map_err(invalid)?;
    if let Some(hpa) = &t.autoscaler {
        out.push(with_namespace(applyable(hpa), &spec.namespace));
        out.push(primary_autoscaler(t, hpa));
    }
    out.push(target_deployment(t, state, live));
    let initializing = state.phase == Phase::Initializing;
    out.extend(
        routing::services(spec, &t.target, &label, &value)
            .into_iter()
            .filter(|s| !(initializing && s["metadata"]["name"] == spec.service.name.as_str())),
    );
    if let Some(ing) = &t.ingress {
        out.push(with_namespace(applyable(ing), &spec.namespace));
    }
    if !initializing {
        out.extend(routes(t, state)?);
    }
    Ok(Objects {
        objects: out,
        primary_left,
    })
}

/// A live object to apply again as it stands: what fledge applied to it (so that the server's
/// defaults and other managers' fields stay theirs), or, on a cluster that records no managed
/// fields or for an object fledge never applied, the object as it is.
fn as_applied(live: &Value) -> Value {
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
    let mut p = primary_deployment(&with_namespace(source, ns), revision, want.short())?;
    set_annotation(&mut p, keys::REVISION_ANNOTATION, &want);
    if let Some(c) = primary_commit(t, state) {
        set_annotation(&mut p, keys::COMMIT_ANNOTATION, &c);
    }
    // With an autoscaler the primary keeps the replicas the HPA gave it.
    if t.autoscaler.is_some()
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

/// `<hpa>-primary`, scaling `<target>-primary`.
fn primary_autoscaler(t: &ReleaseTarget, hpa: &Value) -> Value {
    let mut h = with_namespace(applyable(hpa), &t.spec.namespace);
    let name = h["metadata"]["name"]
        .as_str()
        .unwrap_or(&t.spec.target.name)
        .to_owned();
    h["metadata"]["name"] = json!(keys::primary(&name));
    h["spec"]["scaleTargetRef"]["name"] = json!(keys::primary(&t.spec.target.name));
    h
}

/// The target: Git's spec while it is the revision in play (else the live target as it is),
/// with its replicas for the phase: zero while idle, else Git's, the HPA's, or what the HPA
/// gave the live target.
fn target_deployment(t: &ReleaseTarget, state: &ReleaseState, live: &Live) -> Value {
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
    let up = (state.phase.canary_scaled_up() && state.phase != Phase::Finalising)
        || (state.phase == Phase::Failed && state.canary_weight > 0);
    let replicas = if up {
        let git = t.target["spec"]["replicas"].as_i64().filter(|r| *r > 0);
        let live = live
            .target
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
    target
}

/// The provider's routing objects at the state's weights.
fn routes(t: &ReleaseTarget, state: &ReleaseState) -> Result<Vec<Value>, Error> {
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
        canary_revision: state.canary_revision.as_deref().unwrap_or(""),
    })?)
}
