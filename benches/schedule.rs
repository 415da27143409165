//! Benchmark: does the daemon keep Flagger's schedule with N releases (default 1000) on the real
//! API server of the tests, sharing the machine with it? `fledge run --cluster kube` syncs a
//! repository of N Deployments, each with a tracked ConfigMap and a blue/green Canary (the
//! kubernetes provider, a 10 s interval, three iterations), through initialization and then
//! through a promotion after an image bump. Reports how late the release ticks started after
//! they were due (the daemon's own `fledge_release_tick_lateness_seconds` histogram: the p50 and
//! p99 are the bounds of the buckets they fall in), the API requests the API server counted per
//! release tick, and the daemon's peak RSS per release.
//!
//! ```sh
//! cargo bench --bench schedule -- 1000
//! ```
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]

use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../tests/it/support/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the benchmark uses a part of the tests' support"
)]
mod support;

use support::daemon::{Builder, Daemon};
use support::git::Remote;
use support::testcluster::or_skip;

const NAMESPACES: usize = 10;

fn app(i: usize, image: &str) -> String {
    let ns = format!("sched-{}", i % NAMESPACES);
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\", envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg-{i}, namespace: {ns}}}\ndata: {{a: '1'}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app-{i}}}\n  service: {{port: 80}}\n  analysis: {{interval: 10s, threshold: 2, iterations: 3}}\n"
    )
}

fn commit(remote: &Remote, n: usize, image: &str) {
    let files: Vec<(String, String)> = (0..n)
        .map(|i| (format!("apps/app-{i}.yaml"), app(i, image)))
        .collect();
    remote.commit_owned(&files, image);
}

/// The samples of a metric family in the daemon's exposition, by their `le` label.
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}_bucket{{le=\"")))
        .filter_map(|l| {
            let (le, rest) = l.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect()
}

/// The bound of the bucket the `q` quantile falls in.
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|(_, n)| *n >= q * total)
        .map_or(f64::NAN, |b| b.0)
}

/// The API server's `apiserver_request_total`, summed.
fn served(c: &support::testcluster::TestCluster) -> f64 {
    c.kubectl(&["get", "--raw", "/metrics"])
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{") && !l.contains("verb=\"PUT\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

async fn until_all(d: &Daemon, n: usize, phase: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let releases = d.releases().await;
        let done = releases
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r: &&Value| r["phase"] == phase)
            .count();
        if done == n {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{done} of {n} releases {phase} after {limit:?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
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
        c.kubectl(&["create", "namespace", &format!("sched-{i}")]);
    }
    c.kubectl(&["create", "namespace", "sched-fledge"]);
    let remote = Remote::new();
    commit(&remote, n, "app:1");
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut d = Builder::new(&remote.url(), dir.path())
            .args(["--cluster", "kube"])
            .args([std::ffi::OsStr::new("--kubeconfig"), c.kubeconfig().as_os_str()])
            .args(["--namespace", "sched-fledge", "--interval", "60s"])
            .args(["--metrics-server", "http://127.0.0.1:1"])
            .spawn();
        d.serving().await;
        let limit = Duration::from_secs(1800);
        let started = Instant::now();
        let before = served(c);
        until_all(&d, n, "Initialized", limit).await;
        let init = started.elapsed();
        let ticks_init = d.counter("fledge_release_ticks_total").await;
        let served_init = served(c) - before;
        commit(&remote, n, "app:2");
        let bumped = Instant::now();
        until_all(&d, n, "Succeeded", limit).await;
        let promoted = bumped.elapsed();
        let ticks = d.counter("fledge_release_ticks_total").await;
        let served_all = served(c) - before;
        let text = d.metrics().await;
        let lateness = buckets(&text, "fledge_release_tick_lateness_seconds");
        let rss = peak_rss_kib(d.pid());
        // Counts and sizes are far below 2^52: the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let per_release = rss as f64 / n as f64;
        println!(
            "{n} releases: initialized in {:.0} s ({ticks_init} ticks, {:.2} API requests per tick), promoted in {:.0} s ({} ticks, {:.2} API requests per tick)",
            init.as_secs_f64(),
            served_init / ticks_init,
            promoted.as_secs_f64(),
            ticks - ticks_init,
            (served_all - served_init) / (ticks - ticks_init),
        );
        println!(
            "tick lateness: p50 <= {} s, p99 <= {} s over {} ticks; peak RSS {} MiB = {per_release:.1} KiB per release",
            quantile(&lateness, 0.5),
            quantile(&lateness, 0.99),
            lateness.last().map_or(0.0, |b| b.1),
            rss / 1024,
        );
        d.kill();
    });
}
