//! A real Prometheus (Debian's `prometheus`, on loopback) scrapes the simulated cluster and
//! answers Flagger's built-in NGINX success-rate query with the configured error ratio.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::cluster::sim::{SimCluster, metrics_router};
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

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_answers_flaggers_nginx_query_from_the_sim() {
    let sim = Arc::new(Mutex::new(canary_cluster()));
    // The sim's metrics on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(axum::serve(listener, metrics_router(sim.clone())).into_future());
    // Simulated time follows real time: Prometheus computes rates over wall-clock seconds.
    let ticker = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                sim.lock().unwrap().tick(start.elapsed()).unwrap();
            }
        })
    };
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
