//! Benchmark: revisions of every Deployment of a rendered repository (issue target: the
//! 1000-app repository of `scripts/bench/gen_kustomize_repo.py` in at most 50 ms).
//!
//! ```sh
//! python3 scripts/bench/gen_kustomize_repo.py --apps 1000 --out /tmp/kbench/n1000
//! cargo bench --bench revisions -- /tmp/kbench/n1000
//! ```
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fledge::render::{self, DiskFiles};
use fledge::revision::{self, ConfigIndex, ConfigKind, ConfigSource, HashKey};
use serde_json::{Value, json};

/// Stands in for the cluster: the generated repository references Secrets that are not in Git.
struct Cluster;

impl ConfigSource for Cluster {
    fn get(&self, kind: ConfigKind, _namespace: &str, name: &str) -> Option<Value> {
        (kind == ConfigKind::Secret).then(|| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"token": "c2VjcmV0"}}))
    }
}

fn main() {
    let repo = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "/tmp/kbench/n1000".into());
    let files = DiskFiles::new(std::path::Path::new(&repo)).unwrap();
    let objects = render::render(&files, "overlays/production").unwrap();
    let workloads: Vec<_> = objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .collect();
    let key = HashKey::new("bench");
    let mut times = Vec::new();
    let mut tracked = 0;
    for _ in 0..11 {
        let t = Instant::now();
        let index = ConfigIndex::new(&objects);
        tracked = 0;
        for w in &workloads {
            tracked += revision::revision_in(w, &index, Some(&Cluster), &key)
                .unwrap()
                .configs
                .len();
        }
        times.push(t.elapsed());
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!(
        "| revisions of {} Deployments ({} objects, {} tracked configs), median of 11 | {:.2} ms |",
        workloads.len(),
        objects.len(),
        tracked,
        median.as_secs_f64() * 1000.0
    );
}
