//! A core Service target (`targetRef` `v1` `Service`), as Flagger's ServiceController runs it:
//! no workload and no generated apex Service. The target is applied as Git has it;
//! `<target>-canary` is a copy of it, and `<target>-primary` a copy of it at the revision the
//! primary serves (Git's once promoted); the provider's routes split between the two.

use serde_json::{Value, json};

use super::{Error, Live, Objects, PrimaryLeft, as_applied, primary_commit, primary_revision};
use crate::keys;
use crate::object::{applyable, set_annotation, with_namespace};
use crate::release::{Phase, ReleaseState, ReleaseTarget};
use crate::routing;

/// The target, its `-canary` and `-primary` copies, and the routes at the state's weights
/// (after initialization).
pub(super) fn service_objects(
    t: &ReleaseTarget,
    state: &ReleaseState,
    live: &Live,
) -> Result<Objects, Error> {
    let spec = &t.spec;
    let mut target = with_namespace(t.target.clone(), &spec.namespace);
    set_annotation(&mut target, keys::REVISION_ANNOTATION, &t.revision.id);
    let mut out = vec![target, copy(t, &t.target, &keys::canary(&spec.target.name))];
    let (primary, primary_left) = primary_service(t, state, live);
    out.extend(primary);
    if state.phase != Phase::Initializing {
        out.extend(super::routes(t, state, live, None)?);
    }
    Ok(Objects {
        objects: out,
        primary_left,
    })
}

/// `<target>-primary`: the live one while it serves the revision it should, else a copy of
/// the target at that revision (Git's, the live target's, or Git's at the commit that brought
/// it), else left as it is.
fn primary_service(
    t: &ReleaseTarget,
    state: &ReleaseState,
    live: &Live,
) -> (Vec<Value>, Option<PrimaryLeft>) {
    let want = primary_revision(t, state);
    let annotated =
        |o: &&Value| o["metadata"]["annotations"][keys::REVISION_ANNOTATION] == want.as_str();
    if let Some(p) = live.primary.as_ref().filter(annotated) {
        return (vec![as_applied(p)], None);
    }
    let source = if t.revision.id == want {
        Some(t.target.clone())
    } else if let Some(l) = live.target.as_ref().filter(annotated) {
        Some(as_applied(l))
    } else {
        t.primary_source
            .as_deref()
            .filter(|s| s.revision.id == want)
            .map(|s| s.target.clone())
    };
    let Some(source) = source else {
        return (
            Vec::new(),
            Some(PrimaryLeft {
                revision: want,
                commit: primary_commit(t, state),
                missing: live.primary.is_none(),
            }),
        );
    };
    let mut p = copy(t, &source, &keys::primary(&t.spec.target.name));
    set_annotation(&mut p, keys::REVISION_ANNOTATION, &want);
    if let Some(c) = primary_commit(t, state) {
        set_annotation(&mut p, keys::COMMIT_ANNOTATION, &c);
    }
    (vec![p], None)
}

/// A copy of the target Service named `name`, as Flagger's `buildService` makes it: its labels
/// and annotations (but kubectl's last-applied configuration and Flux's), its spec with
/// `service.trafficDistribution`. The addresses the API server allocates are left to it: the
/// cluster IPs (but a headless Service's `None`) and node ports, which the copy cannot share
/// with the target.
fn copy(t: &ReleaseTarget, source: &Value, name: &str) -> Value {
    let src = applyable(source);
    let kept = routing::kept_annotations(&src, |k| k == keys::REVISION_ANNOTATION);
    let extra = json!({"labels": src["metadata"]["labels"], "annotations": kept});
    let mut spec = src["spec"].clone();
    if let Some(s) = spec.as_object_mut() {
        if s.get("clusterIP").and_then(Value::as_str) != Some("None") {
            s.remove("clusterIP");
            s.remove("clusterIPs");
        }
        s.remove("healthCheckNodePort");
        for port in s
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(p) = port.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    if let Some(td) = t.spec.service.raw["trafficDistribution"].as_str() {
        spec["trafficDistribution"] = json!(td);
    }
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": routing::metadata(&t.spec, name, &extra), "spec": spec})
}
