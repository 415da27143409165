//! Benchmark: 1000 releases progressing at once on the simulated cluster, every release ticked
//! by the executor from a new revision to promotion (issue targets: peak RSS ≤ 64 MB, CPU ≤ 1 ms
//! per release tick). CPU is read from /proc/self/stat around the executor's ticks only (the
//! simulated cluster's controllers run between rounds, outside the measurement); peak RSS is
//! VmHWM of the whole process, simulated cluster included.
//!
//! ```sh
//! cargo bench --bench releases -- 1000
//! ```
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use fledge::analysis::webhooks::Webhooks;
use fledge::cluster::sim::SimCluster;
use fledge::cluster::{Cluster as _, SimHandle};
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

fn objects(n: usize, image: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let ns = format!("team-{}", i % 20);
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\", envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg-{i}, namespace: {ns}}}\ndata: {{a: '1'}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  provider: istio\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app-{i}}}\n  service: {{port: 80}}\n  analysis: {{interval: 10s, threshold: 2, stepWeight: 20, maxWeight: 60, metrics: [{{name: request-success-rate, thresholdRange: {{min: 99}}}}]}}\n"
        );
        for d in serde_yaml::Deserializer::from_str(&text) {
            out.push(serde::Deserialize::deserialize(d).unwrap());
        }
    }
    out
}

/// utime + stime of this process, in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        eprintln!("start: {:.1} MiB", rss_mib());
        let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
        let key = HashKey::new("bench");
        let exec = Executor {
            cluster: sim.clone(),
            metrics: Fixed(100.0),
            webhooks: Webhooks::default(),
            templates: BTreeMap::new(),
            promoted_window: 10,
            owner: None,
        };
        eprintln!("executor ready: {:.1} MiB", rss_mib());
        let mut clock = 0u64;
        let mut ticks = 0u64;
        let mut tick_cpu = 0.0;
        // As the daemon does: one commit's desired state at a time.
        for (image, want) in [("app:1", Phase::Initialized), ("app:2", Phase::Succeeded)] {
            let d =
                fledge::rollout::targets::split(&objects(n, image), "c", &Provider::Istio, &key);
            if want == Phase::Initialized {
                sim.apply(&d.plain).await.unwrap();
            }
            eprintln!("{image} rendered: {:.1} MiB", rss_mib());
            let mut rounds = 0;
            loop {
                clock += 10;
                sim.sim
                    .lock()
                    .unwrap()
                    .tick(Duration::from_secs(clock))
                    .unwrap();
                let before = cpu();
                let mut done = 0;
                for t in d.releases.values() {
                    let r = exec.tick(t, i64::try_from(clock).unwrap()).await.unwrap();
                    ticks += 1;
                    if r.state.phase == want {
                        done += 1;
                    }
                }
                tick_cpu += cpu() - before;
                rounds += 1;
                eprintln!(
                    "round {rounds}: {:.1} MiB, {} objects in the sim",
                    rss_mib(),
                    sim.sim.lock().unwrap().len()
                );
                if done == n || rounds > 50 {
                    assert_eq!(done, n, "not every release reached {want:?}");
                    break;
                }
            }
        }
        println!("releases: {n}");
        println!("release ticks: {ticks}");
        println!(
            "CPU in executor ticks: {tick_cpu:.2} s = {:.3} ms per release tick",
            tick_cpu * 1000.0 / f64::from(u32::try_from(ticks).unwrap())
        );
        println!(
            "peak RSS (whole process, simulated cluster included): {:.1} MiB",
            peak_rss_mib()
        );
    });
}
