use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::release::{Readiness, deployment_readiness};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
           "spec": {"replicas": 2, "progressDeadlineSeconds": 30,
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

fn key() -> ObjectKey {
    ObjectKey::of(&deployment("x")).unwrap()
}

#[test]
fn apply_get_list_delete() {
    let mut sim = SimCluster::new(secs(0));
    assert_eq!(
        sim.apply(deployment("web:1"), secs(0)).unwrap(),
        Applied::Created
    );
    let rv1 = sim.get(&key()).unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(sim.get(&key()).unwrap()["metadata"]["generation"], 1);
    // The same object again changes nothing.
    assert_eq!(
        sim.apply(deployment("web:1"), secs(1)).unwrap(),
        Applied::Unchanged
    );
    assert_eq!(sim.get(&key()).unwrap()["metadata"]["resourceVersion"], rv1);
    // Server-owned metadata and status in the applied object are ignored.
    let mut with_server_fields = deployment("web:1");
    with_server_fields["metadata"]["resourceVersion"] = json!("999");
    with_server_fields["status"] = json!({"readyReplicas": 42});
    assert_eq!(
        sim.apply(with_server_fields, secs(1)).unwrap(),
        Applied::Unchanged
    );
    sim.tick(secs(1)).unwrap();
    // A metadata change keeps the generation; a spec change bumps it; status is kept.
    let mut relabelled = deployment("web:1");
    relabelled["metadata"]["labels"]["team"] = json!("a");
    assert_eq!(sim.apply(relabelled, secs(2)).unwrap(), Applied::Configured);
    assert_eq!(sim.get(&key()).unwrap()["metadata"]["generation"], 1);
    assert_eq!(sim.get(&key()).unwrap()["status"]["readyReplicas"], 2);
    sim.apply(deployment("web:2"), secs(3)).unwrap();
    let d = sim.get(&key()).unwrap();
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(
        d["metadata"]
            .get("labels")
            .and_then(|l| l.get("team"))
            .is_none(),
        "applied fields replace old ones"
    );
    assert_eq!(sim.list("apps", "Deployment", Some("prod")).len(), 1);
    assert!(sim.list("apps", "Deployment", Some("other")).is_empty());
    assert!(sim.delete(&key()).unwrap());
    assert!(!sim.delete(&key()).unwrap());
    assert!(sim.get(&key()).is_none());
    assert!(sim.apply(json!({"kind": "ConfigMap"}), secs(0)).is_err());
}

#[test]
fn deployments_become_ready_after_the_delay() {
    let mut sim = SimCluster::new(secs(5));
    sim.apply(deployment("web:1"), secs(0)).unwrap();
    sim.tick(secs(4)).unwrap();
    assert!(matches!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Progressing(_)
    ));
    sim.tick(secs(5)).unwrap();
    assert_eq!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Ready
    );
    sim.apply(deployment("web:2"), secs(10)).unwrap();
    assert!(matches!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Progressing(_)
    ));
    sim.tick(secs(14)).unwrap();
    assert!(matches!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Progressing(_)
    ));
    sim.tick(secs(15)).unwrap();
    assert_eq!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Ready
    );
}

#[test]
fn crds_are_established_and_keep_every_stored_version() {
    let mut sim = SimCluster::new(secs(5));
    let crd = |storage: &str| {
        let version =
            |name: &str| json!({"name": name, "served": true, "storage": name == storage});
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [version("v1"), version("v2")]}})
    };
    let key = ObjectKey::of(&crd("v1")).unwrap();
    sim.apply(crd("v1"), secs(0)).unwrap();
    sim.tick(secs(0)).unwrap();
    let status = &sim.get(&key).unwrap()["status"];
    let established = &status["conditions"][1];
    assert_eq!(
        (&established["type"], &established["status"]),
        (&json!("Established"), &json!("True"))
    );
    assert_eq!(status["acceptedNames"]["plural"], "widgets");
    sim.apply(crd("v2"), secs(1)).unwrap();
    sim.tick(secs(1)).unwrap();
    assert_eq!(
        sim.get(&key).unwrap()["status"]["storedVersions"],
        json!(["v1", "v2"])
    );
}

#[test]
fn annotated_pods_never_become_ready_and_miss_the_deadline() {
    let mut sim = SimCluster::new(secs(1));
    let mut d = deployment("web:bad");
    d["spec"]["template"]["metadata"]["annotations"] = json!({keys::SIM_READY: "false"});
    sim.apply(d, secs(0)).unwrap();
    sim.tick(secs(10)).unwrap();
    assert!(matches!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Progressing(_)
    ));
    sim.tick(secs(30)).unwrap();
    assert!(matches!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Failed(_)
    ));
}

#[test]
fn hpas_keep_replicas_within_bounds() {
    let mut sim = SimCluster::new(secs(0));
    let mut d = deployment("web:1");
    d["spec"]["replicas"] = json!(9);
    sim.apply(d, secs(0)).unwrap();
    sim.apply(
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 4}}),
        secs(0),
    )
    .unwrap();
    sim.tick(secs(1)).unwrap();
    assert_eq!(sim.get(&key()).unwrap()["spec"]["replicas"], 4);
    sim.tick(secs(2)).unwrap();
    assert_eq!(
        deployment_readiness(&sim.get(&key()).unwrap(), 100),
        Readiness::Ready
    );
}

#[test]
fn persisted_state_survives_a_restart_and_an_interrupted_write() {
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<(ObjectKey, Value)>;
    {
        let mut sim = SimCluster::open(dir.path(), secs(0)).unwrap();
        sim.apply(deployment("web:1"), secs(0)).unwrap();
        sim.apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}),
            secs(0),
        )
        .unwrap();
        sim.apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "prod"}}), secs(0)).unwrap();
        sim.tick(secs(1)).unwrap();
        sim.delete(&ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "prod".into(),
            name: "gone".into(),
        })
        .unwrap();
        before = sim.objects().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    let file = dir.path().join("objects/prod/apps/Deployment/web.json");
    assert!(file.exists());
    assert!(
        dir.path()
            .join("objects/_cluster/core/Namespace/prod.json")
            .exists()
    );
    // A crash between writing the temporary file and the rename leaves a stray file behind.
    std::fs::write(file.with_extension("json.tmp77"), b"{\"half\": ").unwrap();
    let mut sim = SimCluster::open(dir.path(), secs(0)).unwrap();
    let after: Vec<(ObjectKey, Value)> =
        sim.objects().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(after, before);
    assert!(
        !file.with_extension("json.tmp77").exists(),
        "stray temporary file removed"
    );
    // Resource versions keep increasing after a restart.
    let rv_before: u64 = sim.get(&key()).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    sim.apply(deployment("web:2"), secs(5)).unwrap();
    let rv_after: u64 = sim.get(&key()).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv_after > rv_before);
}

/// A canary setup in namespace `prod`: Deployments `web` (the canary, half its requests fail)
/// and `web-primary`, Services `web` (apex, selecting the primary), `web-primary`, `web-canary`.
fn canary_setup(extra: &[Value]) -> SimCluster {
    let mut sim = SimCluster::new(secs(0));
    let deploy = |name: &str, errors: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name},
            "annotations": {"sim.fledge.dev/error-rate": errors, "sim.fledge.dev/latency-ms": "120"}},
            "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    };
    let service = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
    };
    for o in [
        deploy("web", "0.5"),
        deploy("web-primary", "0"),
        service("web", "web-primary"),
        service("web-primary", "web-primary"),
        service("web-canary", "web"),
    ] {
        sim.apply(o, secs(0)).unwrap();
    }
    for o in extra {
        sim.apply(o.clone(), secs(0)).unwrap();
    }
    sim.set_request_rate(10.0);
    sim.tick(secs(0)).unwrap();
    sim.tick(secs(10)).unwrap();
    sim
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn nginx_canary_ingress_splits_traffic() {
    let ingress = |name: &str, svc: &str, ann: Value| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "prod", "annotations": ann},
        "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}})
    };
    let sim = canary_setup(&[
        ingress("web", "web", json!({})),
        ingress(
            "web-canary",
            "web-canary",
            json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "30"}),
        ),
    ]);
    let t = sim.traffic();
    let m = "nginx_ingress_controller_requests";
    assert!(close(t.total(m, &[("ingress", "web")]), 100.0));
    assert!(close(
        t.total(m, &[("ingress", "web"), ("service", "web-canary")]),
        30.0
    ));
    assert!(close(
        t.total(m, &[("canary", "prod-web-canary-80"), ("status", "500")]),
        15.0
    ));
    assert!(close(t.total(m, &[("canary", ""), ("status", "500")]), 0.0));
    let text = sim.metrics();
    assert!(
        text.contains("# TYPE nginx_ingress_controller_requests counter"),
        "{text}"
    );
    assert!(text.contains("nginx_ingress_controller_response_duration_seconds_bucket{canary=\"prod-web-canary-80\""), "{text}");
}

#[test]
fn istio_gateway_api_smi_and_blue_green_routing() {
    let vs = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"hosts": ["web"], "http": [{"route": [
            {"destination": {"host": "web-primary"}, "weight": 80},
            {"destination": {"host": "web-canary"}, "weight": 20}]}]}});
    let t = canary_setup(&[vs]);
    assert!(close(
        t.traffic()
            .total("istio_requests_total", &[("destination_workload", "web")]),
        20.0
    ));
    assert!(close(
        t.traffic().total(
            "istio_requests_total",
            &[("destination_workload", "web-primary")]
        ),
        80.0
    ));

    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"rules": [{"backendRefs": [{"name": "web-primary", "port": 80, "weight": 90},
                                            {"name": "web-canary", "port": 80, "weight": 10}]}]}});
    let t = canary_setup(&[route]);
    let pod = |d: &str| format!("{d}-6d4cf56db6-x7k2p");
    assert!(close(
        t.traffic().total(
            "http_request_duration_seconds_count",
            &[("kubernetes_pod_name", &pod("web"))]
        ),
        10.0
    ));
    let envoy = [
        ("envoy_cluster_name", "prod_web-canary_80"),
        ("envoy_response_code", "500"),
    ];
    assert!(close(
        t.traffic().total("envoy_cluster_upstream_rq", &envoy),
        5.0
    ));

    let split = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"service": "web", "backends": [{"service": "web-primary", "weight": 60}, {"service": "web-canary", "weight": 40}]}});
    let t = canary_setup(&[split]);
    assert!(close(
        t.traffic().total(
            "response_total",
            &[("deployment", "web"), ("classification", "failure")]
        ),
        20.0
    ));

    // Open Service Mesh reads v1alpha2 splits, canary first as Flagger writes them.
    let split = json!({"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"service": "web", "backends": [{"service": "web-canary", "weight": 30}, {"service": "web-primary", "weight": 70}]}});
    let t = canary_setup(&[split]);
    let osm = |name: &str| {
        t.traffic().total(
            "osm_request_total",
            &[
                ("destination_name", name),
                ("destination_kind", "Deployment"),
            ],
        )
    };
    assert!(close(osm("web"), 30.0) && close(osm("web-primary"), 70.0));

    // Traefik: a weighted TraefikService; its histogram's service label names the port.
    let ts = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"weighted": {"services": [{"name": "web-primary", "namespace": "prod", "port": 80, "weight": 75},
                                           {"name": "web-canary", "namespace": "prod", "port": 80, "weight": 25}]}}});
    let t = canary_setup(&[ts]);
    let canary = [("service", "prod-web-canary-80@kubernetescrd")];
    assert!(close(
        t.traffic()
            .total("traefik_service_request_duration_seconds_count", &canary),
        25.0
    ));
    assert!(close(
        t.traffic().total(
            "traefik_service_request_duration_seconds_count",
            &[canary[0], ("code", "500")]
        ),
        12.5
    ));

    // Blue/green: the apex Service's selector decides.
    let t = canary_setup(&[
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    ]);
    assert!(close(
        t.traffic().total(
            "http_request_duration_seconds_count",
            &[("kubernetes_pod_name", &pod("web"))]
        ),
        100.0
    ));
    assert!(close(
        t.traffic().total(
            "http_request_duration_seconds_count",
            &[("kubernetes_pod_name", &pod("web")), ("status", "500")]
        ),
        50.0
    ));
}

#[test]
fn a_secrets_string_data_is_held_in_its_data_as_the_server_holds_it() {
    let mut sim = SimCluster::new(Duration::ZERO);
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "p"},
        "data": {"a": "YQ=="}, "stringData": {"b": "b"}});
    sim.apply(s, Duration::ZERO).unwrap();
    let held = sim
        .get(&ObjectKey::of(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "p"}})).unwrap())
        .unwrap();
    assert_eq!(held["data"], json!({"a": "YQ==", "b": "Yg=="}));
    assert!(held.get("stringData").is_none());
}

#[cfg(unix)]
#[test]
fn persisted_objects_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut sim = SimCluster::open(dir.path(), secs(0)).unwrap();
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "p"},
        "data": {"password": "czNjcmV0"}});
    sim.apply(s, secs(0)).unwrap();
    let mut files = Vec::new();
    let mut dirs = vec![dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty());
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
}

/// A DaemonSet runs a daemon on each node its node selector picks (none with Flagger's
/// scale-to-zero selector), available once the ready delay has passed, never when annotated.
#[test]
fn daemonsets_run_on_the_nodes_their_selector_picks() {
    let mut sim = SimCluster::new(secs(5));
    let ds = |selector: Value, ready: bool| {
        let annotations = if ready {
            json!({})
        } else {
            json!({keys::SIM_READY: "false"})
        };
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": "prod"},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}, "annotations": annotations},
                                     "spec": {"nodeSelector": selector,
                                              "containers": [{"name": "a", "image": "a:1"}]}}}})
    };
    let key = ObjectKey::of(&ds(json!({}), true)).unwrap();
    let status = |sim: &SimCluster| {
        let s = &sim.get(&key).unwrap()["status"];
        (
            s["desiredNumberScheduled"].as_i64(),
            s["numberAvailable"].as_i64(),
        )
    };
    sim.apply(ds(json!({"kubernetes.io/os": "linux"}), true), secs(0))
        .unwrap();
    sim.tick(secs(1)).unwrap();
    assert_eq!(status(&sim), (Some(2), Some(0)), "not ready yet");
    sim.tick(secs(6)).unwrap();
    assert_eq!(status(&sim), (Some(2), Some(2)));
    sim.apply(ds(json!({keys::SCALE_TO_ZERO: "true"}), true), secs(7))
        .unwrap();
    sim.tick(secs(20)).unwrap();
    assert_eq!(status(&sim), (Some(0), Some(0)), "scaled to zero");
    sim.apply(ds(json!({}), false), secs(21)).unwrap();
    sim.tick(secs(100)).unwrap();
    assert_eq!(status(&sim), (Some(2), Some(0)), "never ready");
}

/// Knative Serving: each new template stamps out a Revision named by its generation, ready
/// after the ready delay (never when annotated); the Service's status names the latest created
/// and ready revisions and routes `spec.traffic` to ready revisions only; the traffic is
/// metered per revision as Knative's Envoy ingress counts it.
#[test]
fn knative_services_stamp_out_revisions_and_route_by_spec_traffic() {
    let mut sim = SimCluster::new(secs(5));
    let ksvc = |image: &str, ready: bool, traffic: Value| {
        let annotations = if ready {
            json!({keys::SIM_ERROR_RATE: "0.25"})
        } else {
            json!({keys::SIM_READY: "false"})
        };
        let mut s = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"template": {"metadata": {"annotations": annotations},
                                     "spec": {"containers": [{"image": image}]}}}});
        if !traffic.is_null() {
            s["spec"]["traffic"] = traffic;
        }
        s
    };
    let key = ObjectKey::of(&ksvc("web:1", true, Value::Null)).unwrap();
    let status = |sim: &SimCluster| sim.get(&key).unwrap()["status"].clone();
    sim.apply(ksvc("web:1", true, Value::Null), secs(0))
        .unwrap();
    sim.tick(secs(1)).unwrap();
    let s = status(&sim);
    assert_eq!(s["latestCreatedRevisionName"], "web-00001");
    assert!(s["latestReadyRevisionName"].is_null(), "not ready yet: {s}");
    sim.tick(secs(6)).unwrap();
    let s = status(&sim);
    assert_eq!(s["latestReadyRevisionName"], "web-00001");
    assert_eq!(
        s["traffic"],
        json!([{"revisionName": "web-00001", "latestRevision": true, "percent": 100}])
    );
    // A split applied with a new template: the new revision gets its share once ready.
    let split = json!([{"latestRevision": true, "percent": 20},
                       {"revisionName": "web-00001", "percent": 80}]);
    sim.apply(ksvc("web:2", true, split.clone()), secs(7))
        .unwrap();
    sim.tick(secs(8)).unwrap();
    let s = status(&sim);
    assert_eq!(s["latestCreatedRevisionName"], "web-00002");
    assert_eq!(s["observedGeneration"], 2);
    assert_eq!(s["traffic"][0]["revisionName"], "web-00001", "{s}");
    sim.tick(secs(13)).unwrap();
    let s = status(&sim);
    assert_eq!(
        s["traffic"],
        json!([{"revisionName": "web-00002", "latestRevision": true, "percent": 20},
               {"revisionName": "web-00001", "latestRevision": false, "percent": 80}])
    );
    // The same template makes no new revision; 10 rps for 10 s split 20/80, a quarter failing.
    sim.apply(ksvc("web:2", true, split.clone()), secs(14))
        .unwrap();
    let rq = |sim: &SimCluster, rev: &str, code: &str| {
        sim.traffic().total(
            "envoy_cluster_upstream_rq",
            &[("envoy_cluster_name", rev), ("envoy_response_code", code)],
        )
    };
    let counts = |sim: &SimCluster| {
        [
            rq(sim, "prod/web-00002", "200"),
            rq(sim, "prod/web-00002", "500"),
            rq(sim, "prod/web-00001", "200"),
        ]
    };
    let before = counts(&sim);
    sim.tick(secs(23)).unwrap();
    let after = counts(&sim);
    for (i, want) in [15.0, 5.0, 60.0].into_iter().enumerate() {
        assert!(
            (after[i] - before[i] - want).abs() < 1e-6,
            "{before:?} {after:?}"
        );
    }
    assert_eq!(
        sim.list("serving.knative.dev", "Revision", Some("prod"))
            .len(),
        2
    );
    // A revision that never becomes ready keeps the route where it was.
    sim.apply(ksvc("web:3", false, split), secs(24)).unwrap();
    sim.tick(secs(100)).unwrap();
    let s = status(&sim);
    assert_eq!(s["latestCreatedRevisionName"], "web-00003");
    assert_eq!(s["latestReadyRevisionName"], "web-00002");
    assert_eq!(s["traffic"][0]["revisionName"], "web-00002");
    let rev3 = sim
        .list("serving.knative.dev", "Revision", Some("prod"))
        .into_iter()
        .find(|r| r["metadata"]["name"] == "web-00003")
        .unwrap();
    assert_eq!(rev3["status"]["conditions"][0]["status"], "Unknown");
}

#[test]
fn a_job_completes_after_the_ready_delay_and_fails_on_a_failing_image() {
    let job = |name: &str, failing: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "prod"},
               "spec": {"template": {
                   "metadata": {"annotations": {keys::SIM_FAILING_IMAGES: failing}},
                   "spec": {"restartPolicy": "Never",
                            "containers": [{"name": "job", "image": "migrate:1"}]}}}})
    };
    let mut sim = SimCluster::new(secs(2));
    sim.apply(job("good", ""), secs(0)).unwrap();
    sim.apply(job("bad", "other:1, migrate:1"), secs(0))
        .unwrap();
    let condition = |sim: &SimCluster, name: &str| {
        let k = ObjectKey::of(&job(name, "")).unwrap();
        sim.get(&k).unwrap()["status"]["conditions"][0]["type"].clone()
    };
    sim.tick(secs(1)).unwrap();
    assert!(condition(&sim, "good").is_null(), "still running");
    sim.tick(secs(2)).unwrap();
    assert_eq!(condition(&sim, "good"), "Complete");
    assert_eq!(condition(&sim, "bad"), "Failed");
}
