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

/// The ApisixRoute `spec.routeRef` names, as the APISIX tutorial has it.
fn apisix_route(ns: &str, name: &str, svc: &str) -> Value {
    json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"http": [{"name": "rule1", "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
               "backends": [{"serviceName": svc, "servicePort": 80}]}]}})
}

/// The Canaries of Flagger's examples that fledge routes.
fn example_specs() -> Vec<fledge::release::ReleaseSpec> {
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
    out
}

/// Canary specs covering every router and strategy: Flagger's examples plus a few variations.
fn specs() -> Vec<fledge::release::ReleaseSpec> {
    let mut out = example_specs();
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
        "rewrite": {"uri": "/v2", "type": "ReplacePrefixMatch", "authority": "b.example.com"}, "timeout": "10s", "backendTimeout": "5s",
        "corsPolicy": {"allowOrigin": ["https://a.example.com"], "allowMethods": ["GET", "POST"], "allowHeaders": ["x-a"],
                       "exposeHeaders": ["x-b"], "allowCredentials": true, "maxAge": "24h"},
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
        "gloo",
        json!({"port": 9898}),
        json!({"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                                         {"headers": {"user-agent": {"regex": ".*Firefox.*"}}}]}),
    ));
    out.push(base(
        "kuma",
        json!({"port": 9898, "apex": {"annotations": {"9898.service.kuma.io/protocol": "http"}}}),
        json!({"stepWeight": 10}),
    ));
    out.extend(
        appmesh_cases()
            .into_iter()
            .map(|(provider, service, analysis)| base(provider, service, analysis)),
    );
    out.push(base(
        "kubernetes",
        json!({"port": 80, "headless": true}),
        json!({"iterations": 3}),
    ));
    out
}

/// App Mesh's cases, v1beta2's and v1beta1's (plain `appmesh`): provider, service, analysis.
fn appmesh_cases() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "appmesh:v1beta2",
            json!({"port": 9898, "portName": "grpc", "timeout": "15s", "retries": {"attempts": 3},
                   "hosts": ["a.example.com"], "backends": ["backend1", "arn:aws:appmesh:eu-west-1:000000000000:mesh/m/virtualService/b"],
                   "match": [{"uri": {"prefix": "/api"}}]}),
            json!({"stepWeight": 10}),
        ),
        (
            "appmesh:v1beta2",
            json!({"port": 9898}),
            json!({"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                                             {"headers": {"user-agent": {"suffix": "Firefox"}}}]}),
        ),
        (
            "appmesh",
            json!({"port": 9898, "portName": "grpc", "meshName": "global", "timeout": "15s",
                   "retries": {"attempts": 3, "perTryTimeout": "1s"}, "hosts": ["a.example.com"],
                   "backends": ["backend1"], "match": [{"uri": {"prefix": "/api"}}]}),
            json!({"stepWeight": 10}),
        ),
        (
            "appmesh",
            json!({"port": 9898, "meshName": "global"}),
            json!({"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                                             {"headers": {"user-agent": {"suffix": "Firefox"}}}]}),
        ),
    ]
}

/// Every object the rollout generates for Flagger's examples: routes at several weights,
/// Services, the primary and its config copies, and the Release, each once.
pub(crate) fn generated_objects() -> Vec<Value> {
    let mut objects = Vec::new();
    for s in specs() {
        let ing = ingress(&s.namespace, &s.service.name);
        let route_name = s.route.as_ref().map_or("podinfo", |r| r.name.as_str());
        let apisix = apisix_route(&s.namespace, route_name, &s.service.name);
        // A Gloo upstreamRef's Upstream, with each setting the generated upstreams copy.
        let config_upstream = json!({"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
            "metadata": {"name": "config-upstream", "namespace": "gloo-system"},
            "spec": {"kube": {"serviceName": "podinfo", "serviceNamespace": "test", "servicePort": 9898},
                     "sslConfig": {"sni": "podinfo.example.com", "secretRef": {"name": "tls", "namespace": "gloo-system"}},
                     "circuitBreakers": {"maxConnections": 10},
                     "connectionConfig": {"maxRequestsPerConnection": 100},
                     "loadBalancerConfig": {"roundRobin": {}},
                     "useHttp2": true,
                     "initialStreamWindowSize": 65535,
                     "initialConnectionWindowSize": 65535,
                     "httpProxyHostname": "proxy.example.com"}});
        for (canary, mirror) in [(0, false), (10, false), (0, true), (100, false)] {
            let objs = route(&RouteInput {
                spec: &s,
                weights: Weights { canary, mirror },
                ingress: Some(&ing),
                route: Some(&apisix),
                canary_revision: "rev",
                upstream: s.upstream.as_ref().map(|_| &config_upstream),
                canary_ran: false,
                selector: Some(("app", &s.target.name)),
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
            fledge::rollout::primary::primary_workload(&target, &rev, rev.id.short()).unwrap(),
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
    objects.extend(knative_services());
    objects.extend(service_target_objects());
    // Identical objects (the same example in several files) are kept once.
    let mut seen = std::collections::BTreeSet::new();
    objects.retain(|o| seen.insert(o.to_string()));
    objects
}

/// The Knative Service of each Knative example, as the rollout applies it at several weights:
/// before its first revision (no traffic block) and split with a primary revision.
fn knative_services() -> Vec<Value> {
    let mut out = Vec::new();
    let dir = data_dir().join("flagger-examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(doc) =
            serde_yaml::from_str::<Value>(&std::fs::read_to_string(&path).unwrap_or_default())
        else {
            continue;
        };
        let Ok(s) = parse_canary(&doc, &Provider::Istio) else {
            continue;
        };
        if s.provider != Provider::Knative {
            continue;
        }
        let target = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": s.target.name, "namespace": s.namespace},
            "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/minScale": "1"}},
                                  "spec": {"containers": [{"image": "ghcr.io/stefanprodan/podinfo:6.0.0",
                                                           "ports": [{"containerPort": 9898}]}]}}}});
        out.push(fledge::routing::knative::service(
            &target,
            None,
            Weights {
                canary: 0,
                mirror: false,
            },
        ));
        for canary in [0, 10, 50, 100] {
            out.push(fledge::routing::knative::service(
                &target,
                Some(&format!("{}-00001", s.target.name)),
                Weights {
                    canary,
                    mirror: false,
                },
            ));
        }
    }
    out
}

/// The objects of a core Service target (its copies and an HTTPRoute between them), as
/// `fledge plan` previews them.
fn service_target_objects() -> Vec<Value> {
    let objects = vec![
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
               "metadata": {"name": "svc", "namespace": "test"},
               "spec": {"provider": "gatewayapi:v1",
                        "targetRef": {"apiVersion": "v1", "kind": "Service", "name": "svc"},
                        "service": {"port": 80, "gatewayRefs": [{"name": "gw", "namespace": "gw"}]},
                        "analysis": {"interval": "1m", "threshold": 2, "stepWeight": 10}}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "svc", "namespace": "test"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "svc"},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30081}]}}),
    ];
    let d = fledge::rollout::targets::split(&objects, "c", &Provider::Istio, &HashKey::offline());
    let t = d.releases.values().next().expect("the Canary is valid");
    fledge::rollout::plan::preview(t, None).unwrap()
}

/// App Mesh's v1beta2 CRDs and v1beta1's as Flagger's Go types define them (the directory
/// also holds App Mesh's own legacy v1beta1 ones, from a later controller than Flagger's types).
const APPMESH_CRDS: &[&str] = &[
    "appmesh.k8s.aws_virtualnodes.yaml",
    "appmesh.k8s.aws_virtualrouters.yaml",
    "appmesh.k8s.aws_virtualservices.yaml",
    "flagger-v1beta1_crds.yaml",
];

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
        "kuma.io/v1alpha1 TrafficRoute",
        "gateway.solo.io/v1 RouteTable",
        "gloo.solo.io/v1 Upstream",
        "apisix.apache.org/v2 ApisixRoute",
        "appmesh.k8s.aws/v1beta2 VirtualNode",
        "appmesh.k8s.aws/v1beta2 VirtualRouter",
        "appmesh.k8s.aws/v1beta2 VirtualService",
        "serving.knative.dev/v1 Service",
        "appmesh.k8s.aws/v1beta1 VirtualNode",
        "appmesh.k8s.aws/v1beta1 VirtualService",
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
        .args([
            "--crds",
            schemas
                .join("kuma/kuma.io_trafficroutes.yaml")
                .to_str()
                .unwrap(),
        ])
        .args(["--crds", schemas.join("gloo").to_str().unwrap()])
        .args(["--crds", schemas.join("apisix").to_str().unwrap()])
        .args(["--crds", schemas.join("knative").to_str().unwrap()])
        .args(APPMESH_CRDS.iter().flat_map(|f| {
            [
                "--crds".to_owned(),
                schemas.join("appmesh").join(f).display().to_string(),
            ]
        }))
        .arg(format!(
            "--spec-schema=TrafficRoute={}",
            schemas.join("kuma/TrafficRoute.spec.schema.json").display()
        ))
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
