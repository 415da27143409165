//! The knative provider's writes on the real API server, with Knative Serving's own
//! `services.serving.knative.dev` CRD (tests/data/schemas/knative, knative/serving v1.23.0)
//! installed: the Knative Service as Git has it, then with the annotation and the traffic split
//! Flagger's knative router writes, at a weight and after a promotion, all accepted with
//! `fieldValidation=Strict` and owned by fledge's field manager. Knative's controller does not
//! run here: its status is written as Knative writes it (serving.knative.dev/v1 ServiceStatus).
//! A core Service target's copies get their own addresses from the server.

use fledge::cluster::kube::KubeCluster;
use fledge::release::spec::Provider;
use fledge::release::state::{Phase, ReleaseState};
use fledge::revision::HashKey;
use serde_json::{Value, json};

use crate::data_dir;
use crate::support::testcluster::or_skip;

fn repository(ns: &str, image: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"provider": "knative",
                        "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "web"},
                        "analysis": {"interval": "15s", "threshold": 3, "maxWeight": 40, "stepWeight": 20}}}),
        json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/minScale": "1"}},
                                     "spec": {"containers": [{"image": image, "ports": [{"containerPort": 8080}]}]}},
                        "traffic": [{"latestRevision": true, "percent": 100}]}}),
    ]
}

fn target(ns: &str, image: &str) -> fledge::release::ReleaseTarget {
    let d = fledge::rollout::targets::split(
        &repository(ns, image),
        "c0ffee",
        &Provider::Istio,
        &HashKey::offline(),
    );
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    d.releases.into_values().next().unwrap()
}

/// The status Knative's controller writes once it has seen the Service's generation and
/// routed it (a stand-in for the controller, which does not run here).
async fn knative_status(kube: &KubeCluster, svc: &Value, latest: &str) {
    let mut s = json!({"apiVersion": svc["apiVersion"], "kind": svc["kind"],
                       "metadata": {"name": svc["metadata"]["name"], "namespace": svc["metadata"]["namespace"]}});
    let traffic: Vec<Value> = svc["spec"]["traffic"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![json!({"latestRevision": true, "percent": 100})])
        .into_iter()
        .map(|mut t| {
            if t["latestRevision"] == true {
                t["revisionName"] = json!(latest);
            }
            t
        })
        .collect();
    s["status"] = json!({"observedGeneration": svc["metadata"]["generation"],
        "latestCreatedRevisionName": latest, "latestReadyRevisionName": latest,
        "url": "http://web.example.com", "traffic": traffic,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    kube.apply_status(&s).await.unwrap();
}

/// Knative's Service CRD, installed once, and an executor on the real cluster.
fn setup(
    c: &crate::support::testcluster::TestCluster,
    kube: &KubeCluster,
) -> fledge::rollout::executor::Executor<KubeCluster, fledge::analysis::sim::SimMetrics> {
    c.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        data_dir()
            .join("schemas/knative/serving.knative.dev_services.yaml")
            .to_str()
            .unwrap(),
    ]);
    c.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/services.serving.knative.dev",
    ]);
    fledge::rollout::executor::Executor {
        cluster: kube.clone(),
        metrics: fledge::analysis::sim::SimMetrics::new(std::sync::Arc::new(
            std::sync::Mutex::new(fledge::cluster::sim::SimCluster::new(
                std::time::Duration::ZERO,
            )),
        )),
        webhooks: fledge::analysis::webhooks::Webhooks::new(std::time::Duration::from_secs(1)),
        templates: std::collections::BTreeMap::new(),
        promoted_window: 10,
        owner: None,
    }
}

/// The fields fledge's own apply (not its status writes) owns.
fn fledge_fields(s: &Value) -> String {
    s["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["manager"] == fledge::keys::FIELD_MANAGER
                && m["operation"] == "Apply"
                && m["subresource"].is_null()
        })
        .map(|m| m["fieldsV1"].to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_knative_routers_writes_are_accepted_by_the_real_api_server() {
    let Some(c) = or_skip() else { return };
    let ns = c.namespace("knative");
    let kube = c.kube().await;
    let exec = setup(c, &kube);
    let at = fledge::object::ObjectRef::new("serving.knative.dev/v1", "Service", &ns, "web");
    let live = || async {
        fledge::cluster::Cluster::get(&kube, &at)
            .await
            .unwrap()
            .unwrap()
    };
    let first = target(&ns, "web:1");
    let v1 = first.revision.id.clone();

    // Initializing, before Knative created a revision: Git's Service, without its traffic.
    exec.converge(&first, &ReleaseState::default())
        .await
        .unwrap();
    let s = live().await;
    assert!(s["spec"].get("traffic").is_none(), "{s}");
    knative_status(&kube, &s, "web-00001").await;

    // Initialized: the primary revision named and all traffic on it.
    let initialized = ReleaseState {
        phase: Phase::Initialized,
        canary_revision: Some(v1.clone()),
        primary_revision: Some(v1.clone()),
        ..ReleaseState::default()
    };
    exec.converge(&first, &initialized).await.unwrap();
    let s = live().await;
    assert_eq!(
        s["metadata"]["annotations"]["flagger.app/primary-revision"],
        "web-00001"
    );
    assert_eq!(
        s["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 0}, {"revisionName": "web-00001", "percent": 100}])
    );
    knative_status(&kube, &s, "web-00001").await;

    // A new template at 20%: the primary revision keeps the rest.
    let second = target(&ns, "web:2");
    let progressing = ReleaseState {
        phase: Phase::Progressing,
        canary_weight: 20,
        canary_revision: Some(second.revision.id.clone()),
        primary_revision: Some(v1.clone()),
        ..ReleaseState::default()
    };
    exec.converge(&second, &progressing).await.unwrap();
    let s = live().await;
    assert_eq!(
        s["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(
        s["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 20}, {"revisionName": "web-00001", "percent": 80}])
    );
    knative_status(&kube, &s, "web-00002").await;

    // Promoted: the latest created revision becomes the primary.
    let promoting = ReleaseState {
        phase: Phase::Promoting,
        canary_revision: Some(second.revision.id.clone()),
        primary_revision: Some(v1),
        ..ReleaseState::default()
    };
    exec.converge(&second, &promoting).await.unwrap();
    let s = live().await;
    assert_eq!(
        s["metadata"]["annotations"]["flagger.app/primary-revision"],
        "web-00002"
    );
    assert_eq!(
        s["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 0}, {"revisionName": "web-00002", "percent": 100}])
    );
    // fledge's field manager owns the traffic and the annotation; the status is Knative's.
    let fledge_fields = fledge_fields(&s);
    assert!(fledge_fields.contains("f:traffic"), "{fledge_fields}");
    assert!(
        fledge_fields.contains("f:flagger.app/primary-revision"),
        "{fledge_fields}"
    );
    assert_eq!(s["status"]["latestCreatedRevisionName"], "web-00002");
}

/// A core Service target's copies on the real API server: `-primary` and `-canary` accepted
/// beside a NodePort target, each with cluster IP and node port of its own (the copy leaves
/// them to the server, which refuses a node port already taken).
#[tokio::test(flavor = "multi_thread")]
async fn a_service_targets_copies_get_their_own_addresses_from_the_real_api_server() {
    let Some(c) = or_skip() else { return };
    let ns = c.namespace("service-target");
    let kube = c.kube().await;
    let exec = setup(c, &kube);
    let objects = vec![
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"provider": "kubernetes",
                        "targetRef": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                        "service": {"port": 80},
                        "analysis": {"interval": "15s", "threshold": 2, "iterations": 2}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"type": "NodePort", "selector": {"app": "web"},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
    ];
    let d = fledge::rollout::targets::split(&objects, "c", &Provider::Istio, &HashKey::offline());
    let t = d.releases.values().next().unwrap();
    let state = ReleaseState {
        phase: Phase::Initialized,
        canary_revision: Some(t.revision.id.clone()),
        primary_revision: Some(t.revision.id.clone()),
        ..ReleaseState::default()
    };
    exec.converge(t, &state).await.unwrap();
    // Again: the copies, applied as they are, keep what the server gave them.
    exec.converge(t, &state).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for name in ["web", "web-primary", "web-canary"] {
        let at = fledge::object::ObjectRef::new("v1", "Service", &ns, name);
        let s = fledge::cluster::Cluster::get(&kube, &at)
            .await
            .unwrap()
            .unwrap();
        let ip = s["spec"]["clusterIP"].as_str().unwrap().to_owned();
        let port = s["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!(seen.insert(ip), "{s}");
        assert!(seen.insert(port.to_string()), "{s}");
        assert_eq!(s["spec"]["selector"]["app"], "web");
    }
}
