//! Benchmark: a commit pushed to a local repository → the rollout of its new revision started
//! (the release's canary revision is the new one), with the poll interval at one hour so that
//! only the inotify watch wakes the daemon (issue target: p50 ≤ 100 ms). A second number adds
//! that many other apps to the repository (a Deployment, a ConfigMap and a Service each, no
//! Canary), which every push leaves unchanged.
//!
//! ```sh
//! cargo bench --bench trigger -- 30        # one app
//! cargo bench --bench trigger -- 30 1000   # and 1000 others
//! ```
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fledge::cli::run::prepare;
use fledge::daemon::config::RunArgs;
use fledge::daemon::{self, Shared};

#[path = "../tests/it/support/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the benchmark uses a part of the tests' support"
)]
mod support;

use support::git::Remote;

fn app(tag: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: \"web:{tag}\"}}]}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  service: {{port: 80}}\n  analysis: {{interval: 1m, threshold: 2, iterations: 5}}\n"
    )
}

/// An app the pushes do not touch.
fn other(i: usize) -> (String, String) {
    let ns = format!("other-{}", i % 10);
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: app, image: \"app:1\", envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg-{i}, namespace: {ns}}}\ndata: {{a: '1'}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec: {{selector: {{app: app-{i}}}, ports: [{{port: 80}}]}}\n"
    );
    (format!("apps/app-{i}.yaml"), yaml)
}

fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let samples = numbers.first().copied().unwrap_or(30);
    let others = numbers.get(1).copied().unwrap_or(0);
    let remote = Remote::new();
    let mut files: Vec<(String, String)> = (0..others).map(other).collect();
    if others > 0 {
        let namespaces = (0..10)
            .map(|i| format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: other-{i}}}\n"))
            .collect::<Vec<_>>()
            .join("---\n");
        files.push(("apps/namespaces.yaml".into(), namespaces));
    }
    files.push(("app.yaml".into(), app(0)));
    remote.commit_owned(&files, "v0");
    let cache = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let args = RunArgs {
            repo: Some(remote.url()),
            interval: Some("1h".into()),
            cluster: Some("sim".into()),
            metrics_provider: Some("sim".into()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            cache_dir: Some(cache.path().to_path_buf()),
            ..RunArgs::default()
        };
        let p = prepare(args).await.unwrap();
        let shared = Arc::new(Shared::default());
        let token = tokio_util::sync::CancellationToken::new();
        let d = tokio::spawn(daemon::run(
            p.config,
            p.edges,
            shared.clone(),
            token.clone(),
        ));
        let current = || {
            shared
                .releases()
                .get("shop/web")
                .and_then(|v| v.canary_revision.clone())
        };
        while current().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut lat = Vec::new();
        for i in 1..=samples {
            let before = current();
            remote.commit(&[("app.yaml", &app(i))], &format!("v{i}"));
            let pushed = Instant::now();
            loop {
                if current() != before {
                    break;
                }
                assert!(
                    pushed.elapsed() < Duration::from_secs(30),
                    "no rollout started"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            lat.push(pushed.elapsed());
        }
        token.cancel();
        let _ = d.await;
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("samples: {samples}, other apps: {others}");
        println!(
            "push → rollout started: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            ms(lat[lat.len() / 2]),
            ms(lat[lat.len() * 9 / 10]),
            ms(lat[lat.len() - 1])
        );
    });
}
