//! fledge against Flagger itself: the same Deployment (with a ConfigMap, an HPA and ports to
//! discover), DaemonSet, or core Service target, and the same Canary, given to Flagger v1.36.1 (watching one
//! namespace, by `kubectl apply` as its users do) and to fledge (from Git, in a namespace of
//! its own), on the real API server with each provider's CRDs installed. What each generated
//! (the primary Deployment or DaemonSet, its ConfigMap and HPA copies, the Services, the
//! routing objects, and the target's replicas or node selector) is compared field by field as the server holds it, once both have
//! initialised and again once both wait at the promotion gate (a `confirm-promotion` webhook
//! that says no) with traffic at the maximum weight.
//!
//! What differs by design is left out of the comparison, each with its reason in [`ignored`];
//! every other difference fails the test, naming the object and the field.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{daemon, install_release_crd, routing_crds};
use crate::support::eventually::within;
use crate::support::flagger::{self, Flagger};
use crate::support::git::Remote;
use crate::support::testcluster::{TestCluster, or_skip};

/// The resources compared, as `kubectl get` names them.
const RESOURCES: &[&str] = &[
    "deployments.apps",
    "daemonsets.apps",
    "services",
    "configmaps",
    "horizontalpodautoscalers.autoscaling",
    "ingresses.networking.k8s.io",
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "httproutes.gateway.networking.k8s.io",
    "trafficsplits.split.smi-spec.io",
    "traefikservices.traefik.io",
    "traefikservices.traefik.containo.us",
    "httpproxies.projectcontour.io",
    "trafficroutes.kuma.io",
    "routetables.gateway.solo.io",
    "upstreams.gloo.solo.io",
    "apisixroutes.apisix.apache.org",
    "scaledobjects.keda.sh",
    "virtualnodes.appmesh.k8s.aws",
    "virtualrouters.appmesh.k8s.aws",
    "virtualservices.appmesh.k8s.aws",
    // Plain `appmesh`'s objects, read as written (the v1beta2 view prunes their fields); only
    // those naming their mesh are taken from these.
    "virtualnodes.v1beta1.appmesh.k8s.aws",
    "virtualservices.v1beta1.appmesh.k8s.aws",
];

/// One provider's case: the Canary's `spec.provider`, what its `service` adds (`$NS` stands
/// for the namespace), its analysis schedule, and the objects besides the app it needs (an
/// Ingress).
struct Case {
    name: &'static str,
    provider: &'static str,
    service: &'static str,
    schedule: &'static str,
    ingress: bool,
    /// The target's kind: a Deployment, or a DaemonSet.
    target: &'static str,
    /// A Deployment's autoscaler: an HPA, or a KEDA ScaledObject (whose primary copy gets
    /// replica bounds of its own, `primaryScalerReplicas`).
    scaler: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "kubernetes",
        provider: "kubernetes",
        service: "",
        schedule: "iterations: 2",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "istio",
        provider: "istio",
        service: ", gateways: [public/gw], hosts: [web.example.com], timeout: 5s, retries: {attempts: 3, perTryTimeout: 1s}, trafficPolicy: {tls: {mode: DISABLE}}",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "nginx",
        provider: "nginx",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: true,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gatewayapi:v1",
        provider: "gatewayapi:v1",
        service: ", gatewayRefs: [{name: gw, namespace: gateways}], hosts: [web.example.com]",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "linkerd",
        provider: "linkerd",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "traefik",
        provider: "traefik",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "skipper",
        provider: "skipper",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: true,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "contour",
        provider: "contour",
        service: ", timeout: 15s, retries: {attempts: 3, perTryTimeout: 5s, retryOn: \"5xx,gateway-error\"}",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "contour A/B",
        provider: "contour",
        service: ", match: [{uri: {prefix: /api}}]",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}, {headers: {x-user: {prefix: beta}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "istio A/B",
        provider: "istio",
        service: ", match: [{uri: {prefix: /api}}, {uri: {exact: /}}]",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}, {headers: {cookie: {regex: \"^(.*?;)?(canary=always)(;.*)?$\"}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "istio mirror",
        provider: "istio",
        service: "",
        schedule: "iterations: 2\n    mirror: true\n    mirrorWeight: 50",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "nginx A/B",
        provider: "nginx",
        service: "",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {regex: \"^ins.*\"}}}]",
        ingress: true,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gatewayapi A/B",
        provider: "gatewayapi:v1",
        service: ", gatewayRefs: [{name: gw, namespace: gateways}], match: [{uri: {prefix: /api}}, {method: {exact: GET}}], headers: {request: {set: {x-env: prod}}}, timeout: 10s",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}, queryParams: {beta: {regex: \"^on$\"}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gatewayapi A/B, no service match",
        provider: "gatewayapi:v1",
        // Flagger v1.36.1 writes an empty request timeout on the A/B route's second rule
        // without one, which the API server refuses (fixed in later versions).
        service: ", gatewayRefs: [{name: gw, namespace: gateways}], timeout: 10s",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "kuma",
        provider: "kuma",
        // Kuma's TrafficRoute is cluster-scoped and named after the apex Service: each side's
        // Service gets a name of its own, the same once the namespace is replaced by `NS`.
        service: ", name: $NS-web",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gloo",
        provider: "gloo",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gloo A/B",
        provider: "gloo",
        service: "",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}, {headers: {user-agent: {regex: \".*Firefox.*\"}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gloo upstreamRef",
        provider: "gloo",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "apisix",
        provider: "apisix",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "appmesh",
        provider: "appmesh:v1beta2",
        service: ", timeout: 15s, retries: {attempts: 3, perTryTimeout: 5s, retryOn: \"gateway-error,client-error\"}, hosts: [web.example.com, shop.example.com], backends: [backend1, \"arn:aws:appmesh:eu-west-1:000000000000:mesh/global/virtualService/backend2\"], apex: {labels: {tier: web}, annotations: {note: apex}}",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "appmesh A/B",
        provider: "appmesh:v1beta2",
        // One header per match: Flagger lists a match's headers in Go's map order.
        service: ", portName: grpc-web, match: [{uri: {prefix: /api}}]",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}, {headers: {user-agent: {regex: \".*Firefox.*\"}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "appmesh v1beta1",
        provider: "appmesh",
        service: ", meshName: global, timeout: 15s, retries: {attempts: 3, perTryTimeout: 5s, retryOn: \"gateway-error,client-error\"}, hosts: [web.example.com, shop.example.com], backends: [backend1, backend2.shop], apex: {labels: {tier: web}, annotations: {note: apex}}",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "appmesh v1beta1 A/B",
        provider: "appmesh",
        // One header per match: Flagger lists a match's headers in Go's map order.
        service: ", meshName: global, portName: grpc-web, match: [{uri: {prefix: /api}}]",
        schedule: "iterations: 2\n    match: [{headers: {x-canary: {exact: insider}}}, {headers: {user-agent: {regex: \".*Firefox.*\"}}}]",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "osm",
        provider: "osm",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "istio session affinity",
        provider: "istio",
        service: "",
        schedule: "stepWeight: 20\n    maxWeight: 40\n    sessionAffinity: {cookieName: flagger-cookie, maxAge: 3600}",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "gatewayapi session affinity",
        provider: "gatewayapi:v1",
        service: ", gatewayRefs: [{name: gw, namespace: gateways}], hosts: [web.example.com]",
        schedule: "stepWeight: 20\n    maxWeight: 40\n    sessionAffinity: {cookieName: flagger-cookie}",
        ingress: false,
        target: "Deployment",
        scaler: "HorizontalPodAutoscaler",
    },
    Case {
        name: "kubernetes-keda",
        provider: "kubernetes",
        service: "",
        schedule: "iterations: 2",
        ingress: false,
        target: "Deployment",
        scaler: "ScaledObject",
    },
    Case {
        name: "kubernetes-daemonset",
        provider: "kubernetes",
        service: "",
        schedule: "iterations: 2",
        ingress: false,
        target: "DaemonSet",
        scaler: "",
    },
];

/// The app in `ns` at `image`: a ConfigMap, the case's workload using it with ports to
/// discover (a Deployment with an HPA, or a DaemonSet), the case's Ingress, and its Canary
/// gated by `gate`.
fn app(ns: &str, case: &Case, image: &str, gate: &str) -> String {
    let provider = case.provider;
    let (service, schedule) = (case.service.replace("$NS", ns), case.schedule);
    let kind = case.target;
    // A DaemonSet has no replicas and no HPA (an HPA cannot scale one).
    let (replicas, hpa, autoscaler_ref) = if kind == "DaemonSet" {
        (String::new(), String::new(), String::new())
    } else if case.scaler == "ScaledObject" {
        (
            "\n  replicas: 2".to_owned(),
            format!(
                "---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: web, namespace: {ns}, labels: {{team: shop}}, annotations: {{owner: shop}}}}
spec:
  scaleTargetRef: {{name: web}}
  pollingInterval: 15
  minReplicaCount: 2
  maxReplicaCount: 4
  triggers:
  - type: prometheus
    name: rps
    metadata: {{serverAddress: \"http://prometheus:9090\", threshold: \"10\", query: 'sum(rate(http_requests_total{{app=\"web\"}}[1m])) + sum(rate(http_requests_total{{app=\"web-canary\"}}[1m]))'}}
  - type: cpu
    metricType: Utilization
    metadata: {{value: \"80\"}}
"
            ),
            "  autoscalerRef: {apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: web, primaryScalerReplicas: {minReplicas: 3}}\n"
                .to_owned(),
        )
    } else {
        (
            "\n  replicas: 2".to_owned(),
            format!(
                "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web, namespace: {ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 2
  maxReplicas: 4
  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 80}}}}}}]
"
            ),
            "  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}\n"
                .to_owned(),
        )
    };
    if kind == "Service" {
        return service_app(ns, provider, schedule, image, gate);
    }
    let mut out = format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {ns}}}
data: {{greeting: hello}}
---
apiVersion: apps/v1
kind: {kind}
metadata: {{name: web, namespace: {ns}, labels: {{team: shop}}}}
spec:{replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}, annotations: {{prometheus.io/scrape: \"true\"}}}}
    spec:
      containers:
      - name: web
        image: \"{image}\"
        ports: [{{containerPort: 8080, name: http}}, {{containerPort: 9797, name: metrics}}]
        envFrom: [{{configMapRef: {{name: settings}}}}]
{hpa}---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}, annotations: {{kuma.io/mesh: shop, appmesh.flagger.app/accesslog: enabled}}}}
spec:
  provider: \"{provider}\"
  targetRef: {{apiVersion: apps/v1, kind: {kind}, name: web}}
{autoscaler_ref}  service: {{port: 80, targetPort: 8080, portDiscovery: true{service}}}
  analysis:
    interval: 10s
    threshold: 2
    {schedule}
    webhooks: [{{name: gate, type: confirm-promotion, url: \"{gate}\"}}]
"
    );
    if provider == "apisix" {
        out.push_str(
            "  routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: web}\n",
        );
        let _ = write!(
            out,
            "---
apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata: {{name: web, namespace: {ns}, labels: {{team: shop}}}}
spec:
  http:
  - name: main
    match: {{hosts: [web.example.com], paths: [/*], methods: [GET]}}
    timeout: {{read: 15s}}
    backends: [{{serviceName: web, servicePort: 80, resolveGranularity: service}}]
    plugins: [{{name: cors, enable: true}}]
"
        );
    }
    if case.name == "gloo upstreamRef" {
        let _ = write!(
            out,
            "  upstreamRef: {{apiVersion: gloo.solo.io/v1, kind: Upstream, name: web-config, namespace: {ns}}}
---
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {{name: web-config, namespace: {ns}}}
spec:
  kube: {{serviceName: web, serviceNamespace: {ns}, servicePort: 80}}
  sslConfig: {{sni: web.example.com, secretRef: {{name: tls, namespace: {ns}}}}}
  circuitBreakers: {{maxConnections: 10}}
  connectionConfig: {{maxRequestsPerConnection: 100}}
  loadBalancerConfig: {{roundRobin: {{}}}}
  useHttp2: true
  initialStreamWindowSize: 65535
"
        );
    }
    if case.ingress {
        out.push_str(
            "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}\n",
        );
        let _ = write!(
            out,
            "---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: {ns}, annotations: {{zalando.org/skipper-predicate: 'Header(\"X-Env\", \"prod\")'}}}}
spec:
  ingressClassName: nginx
  rules:
  - host: web.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
"
        );
    }
    out
}

/// A core Service target in `ns`: the Service `web`, an ExternalName whose host follows
/// `image`, and its Canary gated by `gate`. (An ExternalName: Flagger's ServiceController
/// copies a ClusterIP Service with the server's `clusterIPs`, which the server refuses, so
/// Flagger never initialises one; fledge leaves the copies' addresses to the server.)
fn service_app(ns: &str, provider: &str, schedule: &str, image: &str, gate: &str) -> String {
    let version = image.rsplit(':').next().unwrap_or(image);
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}, labels: {{team: shop}}, annotations: {{owner: shop}}}}
spec:
  type: ExternalName
  externalName: web-v{version}.example.com
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: \"{provider}\"
  targetRef: {{apiVersion: v1, kind: Service, name: web}}
  service: {{port: 80, targetPort: 8080}}
  analysis:
    interval: 10s
    threshold: 2
    {schedule}
    webhooks: [{{name: gate, type: confirm-promotion, url: \"{gate}\"}}]
"
    )
}

/// A confirm-promotion gate that always says no; its URL.
async fn closed_gate() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::FORBIDDEN });
    tokio::spawn(axum::serve(listener, app).into_future());
    format!("http://127.0.0.1:{port}/gate")
}

/// Why a field is not compared. Each entry is a path (`metadata.annotations.<key>`, or a
/// prefix ending in `*`) and the reason it differs by design.
fn ignored() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "metadata.ownerReferences",
            "Flagger owns what it generates through the Canary object; fledge reads Canaries from Git and owns them through its Release",
        ),
        (
            "metadata.annotations.fledge.dev/*",
            "fledge's own bookkeeping (revision, commit)",
        ),
        ("metadata.labels.fledge.dev/*", "fledge's release label"),
        (
            "metadata.annotations.kustomize.toolkit.fluxcd.io/*",
            "fledge marks what it generates so that Flux, if still running, leaves it alone",
        ),
        (
            "metadata.annotations.helm.toolkit.fluxcd.io/*",
            "the same, for Flux's helm-controller",
        ),
        (
            "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
            "Flagger's inputs are applied with kubectl, fledge's come from Git",
        ),
        (
            "metadata.annotations.deployment.kubernetes.io/revision",
            "the Deployment controller's count of rollouts",
        ),
        (
            "metadata.annotations.deprecated.daemonset.template.generation",
            "the server's count of changes to a DaemonSet's template: a new revision applied by \
             kubectl keeps Flagger's scale-to-zero node selector, which Flagger then removes (two \
             changes), where fledge applies the revision scaled up (one)",
        ),
        (
            "spec.template.metadata.annotations.fledge.dev/*",
            "fledge's own bookkeeping (revision)",
        ),
        (
            "spec.template.metadata.annotations.flagger-id",
            "both set it on the primary's pods to roll them on each promotion: Flagger a random UUID, fledge one derived from the revision",
        ),
    ]
}

/// Fields of one object that differ knowingly: where Flagger 1.44 (whose source fledge
/// follows) writes differently from the v1.36.1 that runs here, where v1.36.1 has a bug, or
/// where Flagger's value depends on its history and fledge's on the state alone. The case
/// (`*`: every case), the object, the path, and why.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "*",
        "HTTPProxy/web",
        "spec.ingressClassName",
        "Flagger 1.43 moved -ingress-class from the annotation to spec.ingressClassName, which \
         Flagger 1.44 sets, as fledge does; v1.36.1 leaves it out",
    ),
    (
        "istio session affinity",
        "VirtualService/web",
        "spec.http[0].name",
        "Flagger v1.36.1 names its sticky route `sticky-route`; Flagger 1.44 writes it unnamed, \
         as fledge does",
    ),
    (
        "*",
        "TraefikService/web",
        "apiVersion",
        "Flagger 1.37 moved to Traefik v3's group, traefik.io, from v2's traefik.containo.us",
    ),
    (
        "*",
        "Ingress/web-canary",
        "metadata.annotations.zalando.org/skipper-predicate",
        "at weight 0 Flagger leaves the canary Ingress on (Weight(100), all traffic to the \
         primary) until its first promotion or rollback turns it off (False()); fledge turns \
         it off at weight 0 from the start, and the user's Ingress sends the traffic to the \
         same primary pods",
    ),
    (
        "gatewayapi A/B",
        "HTTPRoute/web",
        "spec.rules[0].backendRefs",
        "Flagger v1.36.1 finds this route changed on every tick and rewrites it with the \
         initial weights (its log says `HTTPRoute updated` each interval), so while it waits \
         at the promotion gate the requests matching the A/B rule go back to the primary; \
         fledge keeps them on the canary, as Flagger's A/B schedule intends",
    ),
];

/// fledge's own objects, which Flagger has no counterpart of.
const FLEDGE_ONLY: &[&str] = &["ConfigMap/fledge-inventory"];

/// `obj` as compared: what the server or the writer adds dropped, the namespace's name
/// replaced by `NS`.
fn normalise(obj: &Value, ns: &str) -> Value {
    let text = obj.to_string().replace(ns, "NS");
    // The session-affinity cookie's value: Flagger draws it at random, fledge derives it from
    // the revision (that both of fledge's uses agree is a unit test's).
    let text = regex::Regex::new(r"(flagger-cookie(=|\.\*))[A-Za-z]{10}")
        .unwrap()
        .replace_all(&text, "${1}<value>");
    let mut o: Value = serde_json::from_str(&text).unwrap();
    let meta = o["metadata"].as_object().cloned().unwrap_or_default();
    let keep: Map<String, Value> = meta
        .into_iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "name" | "labels" | "annotations" | "ownerReferences"
            )
        })
        .collect();
    o["metadata"] = Value::Object(keep);
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(spec) = o["spec"].as_object_mut() {
        for server_set in ["clusterIP", "clusterIPs"] {
            spec.remove(server_set);
        }
    }
    o
}

/// Whether `path` is one [`ignored`] leaves out.
fn is_ignored(path: &str) -> bool {
    ignored().iter().any(|(p, _)| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p || path.starts_with(&format!("{p}.")),
    })
}

/// The differences between Flagger's `theirs` and fledge's `ours` at `path`, one line each. A map
/// missing on one side is compared as an empty one, so that what is ignored in it stays so.
fn diff(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    if is_ignored(path) {
        return;
    }
    let empty = Value::Object(Map::new());
    let (theirs, ours) = match (theirs, ours) {
        (Value::Null, Value::Object(_)) => (&empty, ours),
        (Value::Object(_), Value::Null) => (theirs, &empty),
        pair => pair,
    };
    match (theirs, ours) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: std::collections::BTreeSet<&String> =
                left.keys().chain(right.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(
                    &p,
                    left.get(k).unwrap_or(&Value::Null),
                    right.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => {
            for (i, (l, r)) in left.iter().zip(right).enumerate() {
                diff(&format!("{path}[{i}]"), l, r, out);
            }
        }
        _ if theirs == ours => {}
        _ => out.push(format!("{path}: Flagger {theirs}, fledge {ours}")),
    }
}

/// What the namespace holds of the compared resources, by `Kind/name`.
fn snapshot(c: &TestCluster, ns: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in RESOURCES {
        let list = c.get(&[r, "-n", ns]).unwrap_or(Value::Null);
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            // Cluster-scoped objects (Kuma's TrafficRoutes) are listed from every namespace:
            // each side's carries its namespace in its name.
            let scoped = item["metadata"]["namespace"].is_string();
            if name == "kube-root-ca.crt" || !(scoped || name.starts_with(&format!("{ns}-"))) {
                continue;
            }
            if r.contains(".v1beta1.appmesh.") && !item["spec"]["meshName"].is_string() {
                continue;
            }
            let kind = item["kind"].as_str().unwrap_or(r);
            out.insert(
                format!("{kind}/{}", name.replace(ns, "NS")),
                normalise(item, ns),
            );
        }
    }
    out
}

/// Every difference between what Flagger generated in `theirs` and fledge in `ours` for
/// `case`, but the [`KNOWN`] ones.
fn differences(c: &TestCluster, case: &str, theirs: &str, ours: &str) -> Vec<String> {
    let (flagger, fledge) = (snapshot(c, theirs), snapshot(c, ours));
    let mut out = Vec::new();
    // A case whose provider routes must compare routing objects, not two empty sets.
    let routed = |s: &BTreeMap<String, Value>| {
        s.keys().any(|k| {
            ![
                "Deployment/",
                "Service/",
                "ConfigMap/",
                "HorizontalPodAutoscaler/",
            ]
            .iter()
            .any(|p| k.starts_with(p))
        })
    };
    if case != "kubernetes" && !(routed(&flagger) && routed(&fledge)) {
        out.push(format!(
            "no routing objects to compare: Flagger generated {:?}, fledge {:?}",
            flagger.keys().collect::<Vec<_>>(),
            fledge.keys().collect::<Vec<_>>()
        ));
    }
    // To read what Flagger wrote, however the comparison ends (with `--nocapture`).
    if std::env::var_os("FLEDGE_PARITY_SHOW").is_some() {
        eprintln!(
            "{case}: Flagger {}",
            serde_json::to_string_pretty(&flagger).unwrap_or_default()
        );
    }
    let names: std::collections::BTreeSet<&String> = flagger.keys().chain(fledge.keys()).collect();
    for name in names {
        match (flagger.get(name), fledge.get(name)) {
            (Some(left), Some(right)) => {
                let mut d = Vec::new();
                diff("", left, right, &mut d);
                out.extend(
                    d.into_iter()
                        .filter(|l| {
                            !KNOWN.iter().any(|(k, o, p, _)| {
                                (*k == "*" || *k == case)
                                    && o == name
                                    && (l.starts_with(&format!("{p}: "))
                                        || l.starts_with(&format!("{p}[")))
                            })
                        })
                        .map(|l| format!("{name}: {l}")),
                );
            }
            (Some(_), None) => out.push(format!("{name}: generated by Flagger only")),
            (None, _) if FLEDGE_ONLY.contains(&name.as_str()) => {}
            (None, _) => out.push(format!("{name}: generated by fledge only")),
        }
    }
    out
}

/// The routing CRDs, and Traefik v2's `TraefikService` (group `traefik.containo.us`), which
/// Flagger v1.36.1 writes; Traefik v3 (and Flagger since 1.37, and fledge) name it `traefik.io`.
fn crds() -> Vec<Value> {
    let mut crds = routing_crds();
    crds.extend(super::documents(
        &crate::data_dir().join("schemas/traefik/traefik.containo.us_traefikservices.yaml"),
    ));
    crds.extend(super::documents(
        &crate::data_dir().join("schemas/keda/keda.sh_scaledobjects.yaml"),
    ));
    crds
}

/// Waits until Flagger's Canary in `ns` is in `phase` (at most three minutes).
async fn flagger_reaches(c: &TestCluster, f: &Flagger, ns: &str, phase: &str) {
    let seen = within(
        Duration::from_secs(180),
        || async { c.get(&["canary", "web", "-n", ns]) },
        |v| v.as_ref().is_some_and(|v| v["status"]["phase"] == phase),
    )
    .await;
    if let Err(last) = seen {
        panic!(
            "Flagger's Canary in {ns} never reached {phase}: {:?}\n{}",
            last.map(|v| v["status"].clone()),
            f.log()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Applies `yaml` to the cluster as a Flagger user does.
fn kubectl_apply(c: &TestCluster, dir: &Path, name: &str, yaml: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    c.kubectl(&["apply", "-f", file.to_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn flagger_and_fledge_generate_the_same_objects_for_the_same_canary() {
    compare_cases(CASES).await;
}

/// A core Service target (Flagger's ServiceController): the target's `-primary` and `-canary`
/// copies and the routes between them.
#[tokio::test(flavor = "multi_thread")]
async fn flagger_and_fledge_generate_the_same_objects_for_a_service_target() {
    compare_cases(&[Case {
        name: "service target",
        provider: "istio",
        service: "",
        schedule: "maxWeight: 20\n    stepWeight: 10",
        ingress: false,
        target: "Service",
        scaler: "",
    }])
    .await;
}

/// Each case given to a Flagger of its own and to fledge, compared once both initialised and
/// again at the promotion gate.
async fn compare_cases(cases: &[Case]) {
    let Some(c) = or_skip() else { return };
    let Some(binary) = flagger::or_skip() else {
        return;
    };
    install_release_crd(c);
    c.kube().await.apply(&crds()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gate = closed_gate().await;
    let pairs: Vec<(String, String)> = cases
        .iter()
        .map(|_| (c.namespace("flagger"), c.namespace("fledge")))
        .collect();
    let flaggers: Vec<Flagger> = pairs
        .iter()
        .map(|(theirs, _)| {
            // Contour's HTTPProxies name an ingress class, from each one's flag.
            let flags = ["-ingress-class", "contour-internal"];
            Flagger::start(binary, c, theirs, "http://127.0.0.1:1", dir.path(), &flags)
        })
        .collect();
    let remote = Remote::new();
    let version = |image: &str| -> Vec<(String, String)> {
        cases
            .iter()
            .zip(&pairs)
            .map(|(case, (_, ours))| (format!("{ours}.yaml"), app(ours, case, image, &gate)))
            .collect()
    };
    remote.commit_owned(&version("web:1"), "web 1");
    for (case, (theirs, _)) in cases.iter().zip(&pairs) {
        kubectl_apply(c, dir.path(), theirs, &app(theirs, case, "web:1", &gate));
    }
    let ours: Vec<String> = pairs.iter().map(|(_, o)| o.clone()).collect();
    let d = daemon(
        c,
        &remote,
        &ours[0],
        dir.path(),
        &["--ingress-class", "contour-internal"],
    );
    compare_at(c, &d, cases, &flaggers, &pairs, "Initialized").await;
    remote.commit_owned(&version("web:2"), "web 2");
    for (case, (theirs, _)) in cases.iter().zip(&pairs) {
        kubectl_apply(c, dir.path(), theirs, &app(theirs, case, "web:2", &gate));
    }
    compare_at(c, &d, cases, &flaggers, &pairs, "WaitingPromotion").await;
}

/// Waits until Flagger and fledge both reach `phase` in every pair, then compares what each
/// generated, failing with every difference.
async fn compare_at(
    c: &TestCluster,
    d: &crate::support::daemon::Daemon,
    cases: &[Case],
    flaggers: &[Flagger],
    pairs: &[(String, String)],
    phase: &str,
) {
    let ours: Vec<String> = pairs.iter().map(|(_, o)| o.clone()).collect();
    super::all_reach(d, &ours, phase).await;
    let mut report = Vec::new();
    for (case, ((theirs, ours), f)) in cases.iter().zip(pairs.iter().zip(flaggers)) {
        flagger_reaches(c, f, theirs, phase).await;
        let found = differences(c, case.name, theirs, ours);
        if !found.is_empty() {
            let log = f.log();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            eprintln!(
                "Flagger's log for {} (last lines, newest first):\n{}",
                case.name,
                tail.join("\n")
            );
        }
        report.extend(
            found
                .into_iter()
                .map(|l| format!("{} at {phase}: {l}", case.name)),
        );
    }
    assert!(
        report.is_empty(),
        "{} difference(s) between Flagger and fledge:\n{}",
        report.len(),
        report.join("\n")
    );
}
