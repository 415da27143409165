use serde_json::{Value, json};

use super::*;
use crate::release::parse_canary;
use crate::release::spec::Provider;

fn spec(autoscaler: &Value) -> ReleaseSpec {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                 "autoscalerRef": autoscaler, "service": {"port": 80},
                 "analysis": {"interval": "1m", "iterations": 2}}});
    parse_canary(&canary, &Provider::Kubernetes).unwrap()
}

fn keda_ref() -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "podinfo"})
}

/// Flagger's own cases (`TestScaledObjectReconciler_setPrimaryScaledObjectQueries`): the
/// target's name, and its `-canary` name, become the primary's.
#[test]
fn a_trigger_query_names_the_primary_as_flagger_rewrites_it() {
    let spec = spec(&keda_ref());
    for (query, want) in [
        (
            r#"sum(rate(http_requests_total{app="podinfo"}[2m]))"#,
            r#"sum(rate(http_requests_total{app="podinfo-primary"}[2m]))"#,
        ),
        (
            r#"sum(rate(http_requests_total{app="podinfo-canary"}[2m]))"#,
            r#"sum(rate(http_requests_total{app="podinfo-primary"}[2m]))"#,
        ),
        (
            r#"sum(rate(http_requests_total{app="podinfo-canary", svc="podinfo"}[2m]))"#,
            r#"sum(rate(http_requests_total{app="podinfo-primary", svc="podinfo-primary"}[2m]))"#,
        ),
    ] {
        let mut trigger = json!({"type": "prometheus", "metadata": {"query": query}});
        primary_trigger(&spec, &mut trigger);
        assert_eq!(trigger["metadata"]["query"], want);
    }
}

/// With `primaryScalerQueries`, the named triggers get the given query and the others keep
/// theirs unchanged.
#[test]
fn primary_scaler_queries_replace_the_named_triggers_queries_only() {
    let mut r = keda_ref();
    r["primaryScalerQueries"] = json!({"first": "q1"});
    let spec = spec(&r);
    let mut first = json!({"name": "first", "metadata": {"query": "podinfo"}});
    let mut second = json!({"name": "second", "metadata": {"query": "podinfo"}});
    primary_trigger(&spec, &mut first);
    primary_trigger(&spec, &mut second);
    assert_eq!(first["metadata"]["query"], "q1");
    assert_eq!(second["metadata"]["query"], "podinfo");
}

#[test]
fn the_primary_scaled_object_takes_flaggers_fields_and_replica_overrides() {
    let mut r = keda_ref();
    r["primaryScalerReplicas"] = json!({"minReplicas": 3, "maxReplicas": 9});
    let spec = spec(&r);
    let so = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "podinfo", "labels": {"team": "a", "kustomize.toolkit.fluxcd.io/name": "x"},
                     "annotations": {"note": "dropped"}},
        "spec": {"scaleTargetRef": {"name": "podinfo", "envSourceContainerName": "app"},
                 "minReplicaCount": 1, "maxReplicaCount": 4, "initialCooldownPeriod": 5,
                 "triggers": [{"type": "cpu", "metadata": {"value": "80"}}]}});
    let t = ReleaseTarget {
        spec,
        target: json!({}),
        revision: crate::revision::Revision {
            id: RevisionId::from("r1"),
            configs: vec![],
            legacy: None,
        },
        configs: vec![],
        autoscaler: Some(so.clone()),
        ingress: None,
        route: None,
        commit: None,
        known_good: false,
        primary_source: None,
    };
    assert_eq!(
        primary_autoscaler(&t, &so),
        json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "podinfo-primary", "namespace": "test", "labels": {"team": "a"}},
            "spec": {"scaleTargetRef": {"name": "podinfo-primary", "envSourceContainerName": "app"},
                     "minReplicaCount": 3, "maxReplicaCount": 9,
                     "triggers": [{"type": "cpu", "metadata": {"value": "80"}}]}})
    );
    // Paused while idle, resumed while the target runs.
    let paused = |phase| {
        let state = ReleaseState {
            phase,
            ..ReleaseState::default()
        };
        target_autoscaler(&t, &state, &so)["metadata"]["annotations"][keys::KEDA_PAUSED_REPLICAS]
            .clone()
    };
    assert_eq!(paused(Phase::Initialized), "0");
    assert_eq!(paused(Phase::Succeeded), "0");
    assert_eq!(paused(Phase::Progressing), Value::Null);
}

fn knative_target(image: &str) -> ReleaseTarget {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "test"},
        "spec": {"provider": "knative",
                 "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "web"},
                 "analysis": {"interval": "1m", "stepWeight": 10}}});
    let target = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "test"},
        "spec": {"template": {"spec": {"containers": [{"image": image}]}}}});
    ReleaseTarget {
        spec: parse_canary(&canary, &Provider::Istio).unwrap(),
        revision: crate::revision::template_revision(&target).unwrap(),
        target,
        configs: Vec::new(),
        autoscaler: None,
        ingress: None,
        route: None,
        commit: None,
        known_good: false,
        primary_source: None,
    }
}

/// The live Knative Service: its generation and what Knative observed of it, its latest
/// created revision, and the primary revision it is annotated with (name and fledge's id).
fn knative_live(
    generation: i64,
    observed: i64,
    latest: &str,
    primary: Option<(&str, &str)>,
) -> Live {
    let mut l = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "test", "generation": generation},
        "status": {"observedGeneration": observed, "latestCreatedRevisionName": latest}});
    if let Some((name, id)) = primary {
        l["metadata"]["annotations"] = json!({keys::KNATIVE_PRIMARY_REVISION: name,
                                              keys::KNATIVE_PRIMARY_ID: id});
    }
    Live {
        target: Some(l),
        primary: None,
        upstream: None,
    }
}

/// A case: its name, Git's target, the state, the live Knative Service, and the primary
/// revision and canary weight the split must have.
type KnativeCase<'a> = (
    &'a str,
    &'a ReleaseTarget,
    ReleaseState,
    Live,
    Option<&'a str>,
    u8,
);

/// The primary revision a state gives the Knative Service: the latest created revision once the
/// primary serves Git's revision (and Knative has observed Git's spec), else the annotated one;
/// no split before Knative created a revision; one object, nothing generated.
#[test]
fn a_knative_service_splits_between_its_latest_and_its_primary_revision() {
    let (v1, v2) = (knative_target("web:1"), knative_target("web:2"));
    let id = |t: &ReleaseTarget| t.revision.id.clone();
    let state = |phase, primary: &ReleaseTarget, canary: &ReleaseTarget, weight| ReleaseState {
        phase,
        primary_revision: Some(id(primary)),
        canary_revision: Some(id(canary)),
        canary_weight: weight,
        ..ReleaseState::default()
    };
    let v1_id = id(&v1).0;
    let cases: Vec<KnativeCase<'_>> = vec![
        (
            "first apply",
            &v1,
            ReleaseState::default(),
            Live::default(),
            None,
            0,
        ),
        (
            "initializing",
            &v1,
            ReleaseState::default(),
            knative_live(1, 1, "web-00001", None),
            Some("web-00001"),
            0,
        ),
        (
            "analysing",
            &v2,
            state(Phase::Progressing, &v1, &v2, 30),
            knative_live(2, 2, "web-00002", Some(("web-00001", &v1_id))),
            Some("web-00001"),
            30,
        ),
        (
            "promoting",
            &v2,
            state(Phase::Promoting, &v1, &v2, 50),
            knative_live(2, 2, "web-00002", Some(("web-00001", &v1_id))),
            Some("web-00002"),
            50,
        ),
        (
            "promoting, not observed",
            &v2,
            state(Phase::Promoting, &v1, &v2, 50),
            knative_live(3, 2, "web-00002", Some(("web-00001", &v1_id))),
            Some("web-00001"),
            50,
        ),
        (
            "rolled back",
            &v2,
            state(Phase::Failed, &v1, &v2, 0),
            knative_live(2, 2, "web-00002", Some(("web-00001", &v1_id))),
            Some("web-00001"),
            0,
        ),
    ];
    for (case, t, state, live, primary, weight) in cases {
        let objs = release_objects(t, &state, &live).unwrap();
        assert_eq!(objs.objects.len(), 1, "{case}");
        let svc = &objs.objects[0];
        assert_eq!(
            svc["spec"]["template"], t.target["spec"]["template"],
            "{case}"
        );
        let annotations = &svc["metadata"]["annotations"];
        match primary {
            None => {
                assert!(svc["spec"].get("traffic").is_none(), "{case}");
                assert!(
                    annotations[keys::KNATIVE_PRIMARY_REVISION].is_null(),
                    "{case}"
                );
            }
            Some(p) => {
                assert_eq!(
                    svc["spec"]["traffic"],
                    json!([{"latestRevision": true, "percent": weight},
                           {"revisionName": p, "percent": 100 - weight}]),
                    "{case}"
                );
                assert_eq!(annotations[keys::KNATIVE_PRIMARY_REVISION], p, "{case}");
                let want_id = if p == "web-00002" { id(&v2) } else { id(&v1) };
                assert_eq!(
                    annotations[keys::KNATIVE_PRIMARY_ID],
                    want_id.as_str(),
                    "{case}"
                );
            }
        }
    }
}
