//! A real Prometheus (Debian's `prometheus`, on loopback) scrapes the simulated cluster and
//! answers Flagger's built-in NGINX success-rate query with the configured error ratio; and,
//! for every provider fledge routes, the built-in checks of a Canary whose routing objects
//! fledge generated.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::analysis::MetricSource as _;
use fledge::analysis::prometheus::Prometheus as Client;
use fledge::cluster::sim::{SimCluster, metrics_router};
use fledge::release::parse_canary;
use fledge::release::spec::Provider;
use fledge::routing::{RouteInput, Weights, route};
use serde_json::{Value, json};

use super::support::daemon::free_port;
use super::support::eventually;

pub(crate) struct Prometheus(pub(crate) Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn canary_cluster() -> SimCluster {
    let mut sim = SimCluster::new(Duration::ZERO);
    let deploy = |name: &str, errors: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name},
            "annotations": {"sim.fledge.dev/error-rate": errors}},
            "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    };
    let service = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "prod"}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
    };
    let ingress = |name: &str, svc: &str, ann: Value| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "prod", "annotations": ann},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}})
    };
    for o in [
        deploy("web", "0.1"),
        deploy("web-primary", "0"),
        service("web", "web-primary"),
        service("web-primary", "web-primary"),
        service("web-canary", "web"),
        ingress("web", "web", json!({})),
        ingress(
            "web-canary",
            "web-canary",
            json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50"}),
        ),
    ] {
        sim.apply(o, Duration::ZERO).unwrap();
    }
    sim.set_request_rate(100.0);
    sim
}

/// Starts Debian's Prometheus on a free loopback port, scraping `127.0.0.1:<target_port>`
/// every second; its files go below `dir`.
pub(crate) fn start(dir: &std::path::Path, target_port: u16) -> (Prometheus, u16) {
    std::fs::write(
        dir.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: sim\n  static_configs:\n  - targets: ['127.0.0.1:{target_port}']\n"),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus is not installed: `apt-get install prometheus` (.ci/run does)");
    (Prometheus(child), port)
}

/// The sim's metrics on a loopback port, its time following real time (Prometheus computes
/// rates over wall-clock seconds): the port, the server and the ticker.
async fn serve(
    cluster: SimCluster,
) -> (
    u16,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tokio::task::JoinHandle<()>,
) {
    let sim = Arc::new(Mutex::new(cluster));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(axum::serve(listener, metrics_router(sim.clone())).into_future());
    let ticker = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            every.tick().await;
            sim.lock().unwrap().tick(start.elapsed()).unwrap();
        }
    });
    (port, server, ticker)
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_answers_flaggers_nginx_query_from_the_sim() {
    let (sim_port, server, ticker) = serve(canary_cluster()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_prom, port) = start(dir.path(), sim_port);
    // Flagger's built-in NGINX request-success-rate query (flagger-spec §6.2), as Flagger sends it.
    let query = r#"sum(rate(nginx_ingress_controller_requests{namespace="prod",ingress="web",canary!="",status!~"5.*"}[30s])) / sum(rate(nginx_ingress_controller_requests{namespace="prod",ingress="web",canary!=""}[30s])) * 100"#;
    let client = fledge::net::http_client(Duration::from_secs(5), false);
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let ask = || {
        client
            .get(format!(
                "{url}?query={}",
                percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
            ))
            .send()
    };
    // Wait for the answer (bounded): Prometheus needs two scrapes before a rate exists.
    let value = eventually(
        "Prometheus answers the success-rate query",
        Duration::from_secs(30),
        || async {
            let body: Value = ask().await.ok()?.json().await.ok()?;
            body["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        },
        Option::is_some,
    )
    .await;
    ticker.abort();
    server.abort();
    let v = value.expect("done holds of an answer");
    assert!((v - 90.0).abs() <= 2.0, "success rate {v}, expected 90 ± 2");
}

/// The providers whose data planes the simulated cluster meters, each with the namespace its
/// case runs in and the success rate its built-in check sees: the canary's 90%, but APISIX's,
/// which counts the canary route's requests to both backends, half of them the primary's.
const METERED: &[(&str, &str, f64)] = &[
    ("istio", "p-istio", 90.0),
    ("linkerd", "p-linkerd", 90.0),
    ("nginx", "p-nginx", 90.0),
    ("gatewayapi:v1", "p-gatewayapi", 90.0),
    ("osm", "p-osm", 90.0),
    ("traefik", "p-traefik", 90.0),
    ("skipper", "p-skipper", 90.0),
    ("contour", "p-contour", 90.0),
    ("kuma", "p-kuma", 90.0),
    ("gloo", "p-gloo", 90.0),
    ("apisix", "p-apisix", 95.0),
    ("appmesh:v1beta2", "p-appmesh", 90.0),
    ("knative", "p-knative", 90.0),
    ("appmesh", "p-appmesh1", 90.0),
];

/// The Canary of a case: built-in success rate and duration, half the traffic to the canary.
fn metered_canary(provider: &str, ns: &str) -> fledge::release::ReleaseSpec {
    let target = if provider == "knative" {
        json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "web"})
    } else {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    };
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"provider": provider,
            "targetRef": target,
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
            "routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "web"},
            "service": {"port": 80, "gatewayRefs": [{"name": "gw", "namespace": "gw"}], "meshName": "global"},
            "analysis": {"interval": "30s", "threshold": 2, "maxWeight": 50, "stepWeight": 50,
                "metrics": [{"name": "request-success-rate", "interval": "30s", "thresholdRange": {"min": 99}},
                            {"name": "request-duration", "interval": "30s", "thresholdRange": {"max": 500}}]}}});
    parse_canary(&canary, &Provider::Kubernetes).unwrap()
}

/// The app of a case in `ns` (the canary fails 10% of its requests), the user's Ingress, and
/// the routing objects fledge generates for half the traffic to the canary.
fn metered_objects(spec: &fledge::release::ReleaseSpec) -> Vec<Value> {
    let ns = spec.namespace.as_str();
    if spec.provider == Provider::Knative {
        // Two templates, applied in turn: Knative stamps out `web-00001` and `web-00002`.
        let ksvc = |errors: &str, primary: Option<&str>| {
            let target = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"template": {"metadata": {"annotations": {"sim.fledge.dev/error-rate": errors,
                                                                   "sim.fledge.dev/latency-ms": "40"}},
                                      "spec": {"containers": [{"image": "web"}]}}}});
            let weights = Weights {
                canary: 50,
                mirror: false,
            };
            fledge::routing::knative::service(&target, primary, weights)
        };
        return vec![ksvc("0", None), ksvc("0.1", Some("web-00001"))];
    }
    let deploy = |name: &str, errors: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name},
            "annotations": {"sim.fledge.dev/error-rate": errors, "sim.fledge.dev/latency-ms": "40"}},
            "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    };
    let service = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
    };
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    let apisix = json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"http": [{"name": "main", "match": {"hosts": ["web.example.com"], "paths": ["/*"]},
            "backends": [{"serviceName": "web", "servicePort": 80}]}]}});
    let routing = route(&RouteInput {
        spec,
        weights: Weights {
            canary: 50,
            mirror: false,
        },
        ingress: Some(&ingress),
        route: Some(&apisix),
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: Some(("app", "web")),
    })
    .unwrap();
    let mut out = vec![
        deploy("web", "0.1"),
        deploy("web-primary", "0"),
        service("web", "web-primary"),
        service("web-primary", "web-primary"),
        service("web-canary", "web"),
    ];
    if matches!(spec.provider, Provider::Nginx | Provider::Skipper) {
        out.push(ingress);
    }
    out.extend(routing);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn flaggers_built_in_checks_answer_through_prometheus_for_every_router() {
    let specs: Vec<_> = METERED
        .iter()
        .map(|(provider, ns, _)| metered_canary(provider, ns))
        .collect();
    let mut cluster = SimCluster::new(Duration::ZERO);
    for o in specs.iter().flat_map(metered_objects) {
        cluster.apply(o, Duration::ZERO).unwrap();
        // The controllers see each object in turn (Knative a revision per template).
        cluster.tick(Duration::ZERO).unwrap();
    }
    cluster.set_request_rate(100.0);
    let (sim_port, server, ticker) = serve(cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let (_prom, port) = start(dir.path(), sim_port);
    let client = Client::new(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(5),
    );
    let (templates, secrets) = Default::default();
    let mut wrong = Vec::new();
    for (spec, (.., expected)) in specs.iter().zip(METERED) {
        let [rate, duration] = [0, 1].map(|i| {
            // Knative's `{{ route }}`: the latest created revision.
            let route = (spec.provider == Provider::Knative).then_some("web-00002");
            fledge::analysis::request_at(
                spec,
                &spec.analysis.metrics[i],
                &templates,
                &secrets,
                route,
            )
            .unwrap()
        });
        // Bounded: Prometheus needs two scrapes before a rate exists.
        let (rate, duration) = eventually(
            format!("Prometheus answers {}'s built-in checks", spec.provider),
            Duration::from_secs(30),
            || async { (client.query(&rate).await, client.query(&duration).await) },
            |(r, d)| r.is_ok() && d.is_ok(),
        )
        .await;
        // 10% of the canary's requests fail; each takes 40 ms (a p99 from histogram buckets
        // lands between the bucket bounds around it, 25 and 50 ms).
        let ok = matches!(rate, Ok(r) if (r - expected).abs() <= 2.0)
            && matches!(duration, Ok(d) if (25.0..=50.0).contains(&d));
        if !ok {
            wrong.push(format!(
                "{}: success rate {rate:?}, duration {duration:?}",
                spec.provider
            ));
        }
    }
    ticker.abort();
    server.abort();
    assert!(
        wrong.is_empty(),
        "built-in checks answered wrongly:\n{}",
        wrong.join("\n")
    );
}
