//! Benchmark: N releases (default 200) at once on a real Kubernetes API server (the test control
//! plane `scripts/testcluster.sh` builds), driven by the executor as the daemon drives it: every
//! release initialized, then every release promoted after an image bump. Reports the API
//! requests per release tick (counted at the HTTP client, discovery included) and the wall time
//! of each stage. The ticks run back to back, without the analysis interval between them, so the
//! wall time is the API server's and fledge's, not Flagger's schedule.
//!
//! ```sh
//! cargo bench --bench real_releases -- 200
//! ```
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fledge::analysis::webhooks::Webhooks;
use fledge::cluster::kube::KubeCluster;
use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;
use fledge::rollout::executor::Executor;
use serde_json::Value;

#[path = "../tests/it/support/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the benchmark uses a part of the tests' support"
)]
mod support;

use support::Fixed;
use support::testcluster::or_skip;

const NAMESPACES: usize = 10;

fn objects(n: usize, image: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let ns = format!("bench-{}", i % NAMESPACES);
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\", envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg-{i}, namespace: {ns}}}\ndata: {{a: '1'}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app-{i}}}\n  service: {{port: 80}}\n  analysis: {{interval: 10s, threshold: 2, iterations: 1}}\n"
        );
        for d in serde_yaml::Deserializer::from_str(&text) {
            out.push(serde::Deserialize::deserialize(d).unwrap());
        }
    }
    out
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let Some(c) = or_skip() else { return };
    c.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/crds/releases.fledge.dev.yaml"
        ),
    ]);
    for i in 0..NAMESPACES {
        c.kubectl(&["create", "namespace", &format!("bench-{i}")]);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
        let client = kube::client::ClientBuilder::try_from(config)
            .unwrap()
            .with_layer(&tower::util::MapRequestLayer::new(
                move |r: http::Request<kube::client::Body>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    r
                },
            ))
            .build();
        let kube = KubeCluster::new(client);
        let exec = Executor {
            cluster: kube,
            metrics: Fixed(100.0),
            webhooks: Webhooks::default(),
            templates: BTreeMap::new(),
            promoted_window: 10,
            owner: None,
        };
        let key = HashKey::new("bench");
        let mut clock = 0i64;
        for (image, want) in [("app:1", Phase::Initialized), ("app:2", Phase::Succeeded)] {
            let d = fledge::rollout::targets::split(
                &objects(n, image),
                "c",
                &Provider::Kubernetes,
                &key,
            );
            if want == Phase::Initialized {
                fledge::cluster::inventory::sync(
                    &exec.cluster,
                    "bench-0",
                    &d.plain,
                    &d.owned,
                    fledge::cluster::inventory::PruneGuard::default(),
                )
                .await
                .unwrap();
            }
            let started = Instant::now();
            let before = requests.load(Ordering::Relaxed);
            let (mut ticks, mut rounds) = (0u64, 0u32);
            loop {
                clock += 10;
                rounds += 1;
                let mut done = 0;
                for t in d.releases.values() {
                    let r = exec.tick(t, clock).await.unwrap();
                    ticks += 1;
                    if r.state.phase == want {
                        done += 1;
                    }
                }
                if done == n {
                    break;
                }
                assert!(rounds < 60, "not every release reached {want:?}");
                // The real controllers roll the Deployments out between rounds.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let sent = requests.load(Ordering::Relaxed) - before;
            println!(
                "{n} releases to {want:?}: {rounds} rounds, {ticks} ticks, {:.1} s, {sent} API requests = {:.1} per release tick",
                started.elapsed().as_secs_f64(),
                // Counts are far below 2^52: the conversion is exact.
                f64::from(u32::try_from(sent).unwrap()) / f64::from(u32::try_from(ticks).unwrap())
            );
        }
    });
}
