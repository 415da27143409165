//! Every object the rollout generates validates: routing kinds against their upstream CRD
//! schemas (unknown fields rejected), core kinds with `kubernetes-validate --strict`, Release
//! objects against fledge's own CRD.

use std::process::Command;

use fledge::release::spec::Provider;
use fledge::release::state::{Phase, ReleaseState};
use fledge::release::{is_kind, parse_canary};
use fledge::revision::{HashKey, revision};
use fledge::rollout::executor::release_object;
use fledge::routing::{RouteInput, Weights, route, services};
use serde_json::{Value, json};

use super::{data_dir, repo_dir};

fn ingress(ns: &str, svc: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "podinfo", "namespace": ns, "annotations": {"kubernetes.io/ingress.class": "nginx"}},
           "spec": {"rules": [{"host": "app.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
               "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}})
}

/// Canary specs covering every router and strategy: Flagger's examples plus a few variations.
fn specs() -> Vec<fledge::release::ReleaseSpec> {
    let mut out = Vec::new();
    let dir = data_dir().join("flagger-examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let Ok(doc) = serde_yaml::from_str::<Value>(&std::fs::read_to_string(&path).unwrap())
        else {
            continue;
        };
        if is_kind(&doc, "Canary")
            && let Ok(s) = parse_canary(&doc, &Provider::Istio)
            && fledge::routing::router(&s.provider).is_some()
            && s.target.kind == "Deployment"
        {
            out.push(s);
        }
    }
    let base = |provider: &str, service: Value, analysis: Value| {
        parse_canary(
            &json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": "podinfo", "namespace": "test"},
                "spec": {"provider": provider,
                         "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                         "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"},
                         "service": service, "analysis": analysis}}),
            &Provider::Istio,
        )
        .unwrap()
    };
    let gw = json!([{"name": "gw", "namespace": "gw"}]);
    out.push(base(
        "istio",
        json!({"port": 9898, "appProtocol": "tcp"}),
        json!({"stepWeight": 10}),
    ));
    out.push(base(
        "istio",
        json!({"port": 9898, "delegation": true}),
        json!({"stepWeight": 10}),
    ));
    out.push(base("istio", json!({"port": 9898, "match": [{"uri": {"prefix": "/api"}}],
        "headers": {"request": {"add": {"x-a": "b"}}}, "corsPolicy": {"allowOrigins": [{"exact": "https://a"}]}, "timeout": "5s"}),
        json!({"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]})));
    out.push(base(
        "istio",
        json!({"port": 9898}),
        json!({"stepWeight": 10, "mirror": true, "mirrorWeight": 20}),
    ));
    out.push(base("gatewayapi:v1", json!({"port": 9898, "gatewayRefs": gw, "hosts": ["a.example.com"],
        "headers": {"request": {"set": {"x-a": "b"}, "remove": ["x-b"]}, "response": {"add": {"x-c": "d"}}},
        "rewrite": {"uri": "/v2", "type": "ReplacePrefixMatch"}, "timeout": "10s", "backendTimeout": "5s",
        "match": [{"uri": {"prefix": "/api"}, "method": {"exact": "GET"}}]}),
        json!({"iterations": 3, "mirror": true, "mirrorWeight": 50})));
    out.push(base("gatewayapi:v1beta1", json!({"port": 9898, "gatewayRefs": gw}),
        json!({"iterations": 3, "match": [{"headers": {"x": {"regex": "^a$"}}, "queryParams": {"q": {"exact": "1"}}}]})));
    out.push(base("gatewayapi:v1", json!({"port": 9898, "gatewayRefs": gw}),
        json!({"stepWeight": 10, "sessionAffinity": {"cookieName": "c", "primaryCookieName": "p", "domain": "a.example.com",
               "httpOnly": true, "secure": true, "sameSite": "Strict", "path": "/"}})));
    out.push(base(
        "nginx",
        json!({"port": 80}),
        json!({"iterations": 3, "match": [{"headers": {"x": {"regex": "a.*"}}}]}),
    ));
    out.push(base(
        "linkerd",
        json!({"port": 80}),
        json!({"stepWeights": [1, 50]}),
    ));
    out.push(base(
        "smi:v1alpha1:istio",
        json!({"port": 80, "hosts": ["web.example.com"], "gateways": ["public/gw"]}),
        json!({"stepWeight": 20}),
    ));
    out.push(base(
        "smi:v1alpha3",
        json!({"port": 80}),
        json!({"stepWeight": 20}),
    ));
    out.push(base("osm", json!({"port": 80}), json!({"stepWeight": 20})));
    out.push(base(
        "traefik",
        json!({"port": 9898, "apex": {"labels": {"team": "a"}}}),
        json!({"stepWeights": [5, 50]}),
    ));
    out.push(base(
        "kubernetes",
        json!({"port": 80, "headless": true}),
        json!({"iterations": 3}),
    ));
    out
}

/// Every object the rollout generates for Flagger's examples: routes at several weights,
/// Services, the primary and its config copies, and the Release, each once.
pub(crate) fn generated_objects() -> Vec<Value> {
    let mut objects = Vec::new();
    for s in specs() {
        let ing = ingress(&s.namespace, &s.service.name);
        for (canary, mirror) in [(0, false), (10, false), (0, true), (100, false)] {
            let objs = route(&RouteInput {
                spec: &s,
                weights: Weights { canary, mirror },
                ingress: Some(&ing),
                canary_revision: "rev",
            })
            .unwrap_or_else(|e| panic!("{}/{}: {e}", s.namespace, s.name));
            objects.extend(objs);
        }
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": s.target.name, "namespace": s.namespace, "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": s.target.name}},
                     "template": {"metadata": {"labels": {"app": s.target.name}},
                                  "spec": {"containers": [{"name": "app", "image": "app:1",
                                           "ports": [{"containerPort": 9797, "name": "metrics"}],
                                           "envFrom": [{"configMapRef": {"name": "cfg"}}]}]}}}});
        objects.extend(services(&s, &target, "app", &s.target.name));
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": s.namespace}, "data": {"a": "1"}});
        let rev = revision(
            &target,
            std::slice::from_ref(&cfg),
            None,
            &HashKey::offline(),
        )
        .unwrap();
        objects.push(
            fledge::rollout::primary::primary_deployment(&target, &rev, rev.id.short()).unwrap(),
        );
        objects.extend(fledge::rollout::primary::primary_configs(
            &rev,
            &[cfg],
            &s.namespace,
        ));
        let state = ReleaseState {
            phase: Phase::Progressing,
            canary_weight: 10,
            canary_revision: Some(rev.id.clone()),
            primary_revision: Some(rev.id.clone()),
            source_commit: Some("0123abcd".into()),
            message: "New revision detected, progressing canary analysis.".into(),
            ..ReleaseState::default()
        };
        let mut release = release_object(&s, &state);
        // The status goes through the status subresource but must fit the schema too.
        release["status"] = serde_json::to_value(&state).unwrap();
        objects.push(release);
    }
    // Identical objects (the same example in several files) are kept once.
    let mut seen = std::collections::BTreeSet::new();
    objects.retain(|o| seen.insert(o.to_string()));
    objects
}

#[test]
fn generated_objects_validate_against_upstream_schemas() {
    let objects = generated_objects();
    let mut kinds = std::collections::BTreeSet::new();
    for o in &objects {
        kinds.insert(format!(
            "{} {}",
            o["apiVersion"].as_str().unwrap(),
            o["kind"].as_str().unwrap()
        ));
    }
    for want in [
        "networking.istio.io/v1beta1 VirtualService",
        "networking.istio.io/v1beta1 DestinationRule",
        "gateway.networking.k8s.io/v1 HTTPRoute",
        "gateway.networking.k8s.io/v1beta1 HTTPRoute",
        "split.smi-spec.io/v1alpha1 TrafficSplit",
        "split.smi-spec.io/v1alpha2 TrafficSplit",
        "split.smi-spec.io/v1alpha3 TrafficSplit",
        "traefik.io/v1alpha1 TraefikService",
        "networking.k8s.io/v1 Ingress",
        "v1 Service",
        "apps/v1 Deployment",
        "fledge.dev/v1alpha1 Release",
    ] {
        assert!(kinds.contains(want), "no {want} generated: {kinds:?}");
    }
    eprintln!("validating {} distinct generated objects", objects.len());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("generated.yaml");
    std::fs::write(&file, fledge::render::yaml::emit_stream(&objects)).unwrap();
    let schemas = data_dir().join("schemas");
    let out = Command::new("python3")
        .arg(repo_dir().join("scripts/validate.py"))
        .args(["--crds", schemas.join("istio").to_str().unwrap()])
        .args(["--crds", schemas.join("gatewayapi").to_str().unwrap()])
        .args([
            "--crds",
            schemas
                .join("linkerd/split.smi-spec.io_trafficsplits.yaml")
                .to_str()
                .unwrap(),
        ])
        .args(["--crds", schemas.join("smi").to_str().unwrap()])
        .args(["--crds", schemas.join("contour").to_str().unwrap()])
        .args([
            "--crds",
            schemas
                .join("traefik/traefik.io_traefikservices.yaml")
                .to_str()
                .unwrap(),
        ])
        .args(["--crds", repo_dir().join("deploy/crds").to_str().unwrap()])
        .arg(&file)
        .output()
        .expect("python3 runs (install the test dependencies with scripts/test.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{} objects, 0 invalid", objects.len())),
        "{stdout}"
    );
}
