//! Providers on the real API server, analysed by a real Prometheus: nginx, Istio and Gateway API
//! canaries promote on a good revision and roll back on one that fails half its requests,
//! through the routing objects fledge writes (their CRDs installed by fledge's own sync) and the
//! traffic a simulated data plane meters over them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::cluster::kube::KubeCluster;
use fledge::cluster::sim::{SimCluster, metrics_router};
use serde_json::Value;

use super::{all_reach, daemon, install_release_crd, primary_image, provider_app};
use crate::data_dir;
use crate::support::git::Remote;
use crate::support::testcluster::or_skip;

/// Mirrors the workloads, Services and routing objects of `namespaces` from the real cluster
/// into a simulated one twice a second; the simulated traffic meters them as each data plane
/// would and serves the series on `/metrics`, which a real Prometheus scrapes: the query path is
/// real, only the traffic is not. Returns the exporter's port.
async fn traffic_exporter(kube: KubeCluster, namespaces: Vec<String>) -> u16 {
    let sim = Arc::new(Mutex::new(SimCluster::new(Duration::ZERO)));
    sim.lock().unwrap().set_request_rate(100.0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(axum::serve(listener, metrics_router(sim.clone())).into_future());
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        loop {
            for ns in &namespaces {
                for (api, kind) in [
                    ("apps/v1", "Deployment"),
                    ("v1", "Service"),
                    ("networking.k8s.io/v1", "Ingress"),
                    ("networking.istio.io/v1beta1", "VirtualService"),
                    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
                ] {
                    // Kinds whose CRD is not installed yet list nothing.
                    for o in kube
                        .list_labelled(api, kind, ns, None)
                        .await
                        .unwrap_or_default()
                    {
                        let mut s = sim.lock().unwrap();
                        s.apply(fledge::object::applyable(&o), started.elapsed())
                            .expect("listed objects name their kind");
                    }
                }
            }
            let _ = sim.lock().unwrap().tick(started.elapsed());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_istio_and_gateway_api_canaries_promote_and_roll_back_on_a_real_prometheus() {
    let Some(c) = or_skip() else { return };
    install_release_crd(c);
    let providers = ["nginx", "istio", "gatewayapi:v1"];
    let namespaces: Vec<String> = providers.iter().map(|_| c.namespace("provider")).collect();
    let dir = tempfile::tempdir().unwrap();
    let exporter = traffic_exporter(c.kube().await, namespaces.clone()).await;
    let (_prometheus, prom_port) = crate::prometheus::start(dir.path(), exporter);
    // The upstream CRDs come from the repository, installed by fledge's own sync.
    let schemas = data_dir().join("schemas");
    let mut files: Vec<(String, String)> = [
        "istio/networking.istio.io_virtualservices.yaml",
        "istio/networking.istio.io_destinationrules.yaml",
        "gatewayapi/gateway.networking.k8s.io_httproutes.yaml",
    ]
    .iter()
    .map(|f| {
        (
            format!("crds/{}", f.rsplit('/').next().unwrap()),
            std::fs::read_to_string(schemas.join(f)).unwrap(),
        )
    })
    .collect();
    let version = |files: &mut Vec<(String, String)>, image: &str, errors: &str| {
        files.retain(|(p, _)| p.starts_with("crds/"));
        for (p, ns) in providers.iter().zip(&namespaces) {
            files.push((format!("{ns}/app.yaml"), provider_app(ns, p, image, errors)));
        }
        files
            .iter()
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect::<Vec<_>>()
    };
    let remote = Remote::new();
    let commit = |files: Vec<(String, String)>, message: &str| remote.commit_owned(&files, message);
    commit(
        version(&mut files, "web:1", "0"),
        "web 1 on three providers",
    );
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let daemon = daemon(
        c,
        &remote,
        &namespaces[0],
        dir.path(),
        &["--metrics-server", &prometheus],
    );
    all_reach(&daemon, &namespaces, "Initialized").await;
    let bump = commit(version(&mut files, "web:2", "0"), "web 2");
    let promoted = tokio::time::timeout(
        Duration::from_secs(170),
        all_reach(&daemon, &namespaces, "Succeeded"),
    )
    .await
    .unwrap_or_else(|_| panic!("{}", daemon.log()));
    for v in promoted.as_array().unwrap() {
        assert_eq!(v["sourceCommit"], bump.as_str(), "{v}");
    }
    commit(
        version(&mut files, "web:3", "0.5"),
        "web 3 fails half its requests",
    );
    let failed = all_reach(&daemon, &namespaces, "Failed").await;
    for v in failed.as_array().unwrap() {
        assert!(
            v["failedChecks"].as_u64().unwrap() >= 2,
            "{v}\n{}",
            daemon.log()
        );
    }
    for ns in &namespaces {
        let image = primary_image(c, ns);
        assert_eq!(image, "web:2", "{ns}: the primary keeps serving web:2");
        // Why it failed, as the real API server holds it in the Release's status.
        let release: Value = serde_json::from_str(&c.kubectl(&[
            "get",
            "releases.fledge.dev",
            "web",
            "-n",
            ns,
            "-o",
            "json",
        ]))
        .unwrap();
        let check = &release["status"]["lastFailedCheck"];
        assert_eq!(check["check"], "metric request-success-rate", "{release}");
        assert_eq!(check["threshold"], ">= 99%", "{release}");
        let value = check["value"].as_str().unwrap_or_default();
        let rate: f64 = value.trim_end_matches('%').parse().unwrap_or(100.0);
        assert!(rate < 99.0, "{release}");
        assert!(check["time"].as_i64().is_some(), "{release}");
    }
}
