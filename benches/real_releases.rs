//! Benchmark: N releases (default 200) at once on a real Kubernetes API server (the test control
//! plane `scripts/testcluster.sh` builds), driven by the executor as the daemon drives it: every
//! release initialized, three rounds of ticks at rest, then every release promoted after an image
//! bump. Reports, for each stage, the API requests per release tick twice: counted at fledge's HTTP
//! client (discovery and the watch caches' lists and watches included), and counted by the API
//! server itself (`apiserver_request_total` of the kinds the releases use, read from its `/metrics`
//! before and after), with the wall time. Rounds of ticks run half a second apart on the wall clock
//! (a release advances once its analysis interval has passed, as in the daemon), so the counts per
//! release are the comparable figures; the counts per tick fall as ticks at rest cost nothing.
//! `--uncached` runs without the watch caches, as fledge did before them.
//!
//! ```sh
//! cargo bench --bench real_releases -- 200 [--uncached]
//! ```
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
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

/// The resources of the releases' objects, as `apiserver_request_total` names them.
const RESOURCES: &[&str] = &[
    "deployments",
    "services",
    "configmaps",
    "releases",
    "horizontalpodautoscalers",
    "secrets",
];

/// The requests the API server counted for [`RESOURCES`], by verb.
async fn served(client: &kube::Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            Some(&line[start..start + line[start..].find('"')?])
        };
        if !label("resource").is_some_and(|r| RESOURCES.contains(&r)) {
            continue;
        }
        let verb = label("verb").unwrap_or("?").to_owned();
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *out.entry(verb).or_default() += value;
    }
    out
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// The requests a client sent, as `METHOD uri`.
#[derive(Clone, Default)]
struct Requests(Arc<std::sync::Mutex<Vec<String>>>);

impl Requests {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn since(&self, from: usize) -> Vec<String> {
        self.0.lock().unwrap()[from..].to_vec()
    }
}

/// A client of the test cluster that records the requests it sends.
async fn counted(c: &support::testcluster::TestCluster) -> (kube::Client, Requests) {
    let requests = Requests::default();
    let counter = requests.clone();
    let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&tower::util::MapRequestLayer::new(
            move |r: http::Request<kube::client::Body>| {
                counter
                    .0
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", r.method(), r.uri()));
                r
            },
        ))
        .build();
    (client, requests)
}

/// The Release CRD and the namespaces.
fn prepare(c: &support::testcluster::TestCluster) {
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
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let uncached = std::env::args().any(|a| a == "--uncached");
    let Some(c) = or_skip() else { return };
    prepare(c);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (client, requests) = counted(c).await;
        // The bench's own reads of /metrics are not counted.
        let admin = c.kube().await.client();
        let kube = if uncached {
            KubeCluster::new(client)
        } else {
            KubeCluster::new(client).cached()
        };
        let exec = Executor {
            cluster: kube,
            metrics: Fixed(100.0),
            webhooks: Webhooks::default(),
            templates: BTreeMap::new(),
            promoted_window: 10,
            owner: None,
        };
        let key = HashKey::new("bench");
        // The releases' clock is the wall clock (seconds since the bench started), as the
        // daemon's is: a clock run ahead of the real controllers would time their rollouts out.
        let begun = Instant::now();
        let clock_now = || i64::try_from(begun.elapsed().as_secs()).unwrap();
        let stages = [
            ("initialized", "app:1", Phase::Initialized),
            ("at rest", "app:1", Phase::Initialized),
            ("promoted", "app:2", Phase::Succeeded),
        ];
        for (stage, image, want) in stages {
            let d = fledge::rollout::targets::split(
                &objects(n, image),
                "c",
                &Provider::Kubernetes,
                &key,
            );
            if stage == "initialized" {
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
            let before = requests.len();
            let served_before = served(&admin).await;
            let (mut ticks, mut rounds) = (0u64, 0u32);
            loop {
                let clock = clock_now();
                rounds += 1;
                let mut done = 0;
                for t in d.releases.values() {
                    let r = exec.tick(t, clock).await.unwrap();
                    ticks += 1;
                    if r.state.phase == want {
                        done += 1;
                    }
                }
                if stage == "at rest" {
                    assert_eq!(done, n, "a release left Initialized at rest");
                    if rounds == 3 {
                        break;
                    }
                    continue;
                }
                if done == n {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(1200),
                    "not every release reached {want:?} in 20 minutes"
                );
                // The real controllers roll the Deployments out between rounds.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let sent = requests.len() - before;
            if stage == "at rest" {
                println!("sent at rest: {:?}", requests.since(before));
            }
            let by_server = delta(&served(&admin).await, &served_before);
            let total: f64 = by_server.values().sum();
            // Counts are far below 2^52: the conversions are exact.
            let ticks_f = f64::from(u32::try_from(ticks).unwrap());
            println!(
                "{n} releases {stage}: {rounds} rounds, {ticks} ticks, {:.1} s; sent {sent} = {:.2} per release tick; the API server counted {total} = {:.2} per release tick {by_server:?}",
                started.elapsed().as_secs_f64(),
                f64::from(u32::try_from(sent).unwrap()) / ticks_f,
                total / ticks_f,
            );
        }
    });
}
