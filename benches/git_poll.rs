//! Benchmark: fledge's poll against `git fetch`, side by side, on a remote made by
//! `scripts/bench/gen_git_history.py` (1000 apps, 2000 commits).
//!
//! ```sh
//! python3 scripts/bench/gen_git_history.py --apps 1000 --commits 2000 --out /tmp/gitbench/remote.git
//! cargo bench --bench git_poll -- /tmp/gitbench/remote.git
//! ```
//!
//! Measures, as medians over the runs: a poll that finds nothing new (fledge: `Source::poll`;
//! git: `git fetch` in a mirror, as a process), detecting a new commit and reading its whole tree,
//! the first poll into an empty cache against `git clone --mirror`, and rendering that tree.
//! The remote is copied first; the original is not changed.
#![allow(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time with Instant"
)]
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::process::Command;
use std::time::{Duration, Instant};

use fledge::render;
use fledge::source::{Auth, Fetched, Reference, Source, SourceConfig};

#[path = "../tests/it/support/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the benchmark uses a part of the tests' support"
)]
mod support;

use support::git::git;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The first poll into an empty cache, and `git clone --mirror`, in turn: their medians.
fn first_polls(
    work: &std::path::Path,
    url: &str,
    runs: usize,
    config: &dyn Fn(&str) -> SourceConfig,
) -> (Duration, Duration) {
    let mut cold = Vec::new();
    let mut clone = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let mut s = Source::open(config(&format!("cold{i}"))).unwrap();
        assert!(matches!(s.poll().unwrap(), Fetched::New(_)));
        cold.push(t.elapsed());
        let t = Instant::now();
        let name = format!("clone{i}.git");
        git(work, &["clone", "--quiet", "--mirror", url, &name]);
        clone.push(t.elapsed());
    }
    (median(cold), median(clone))
}

fn main() {
    let original = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "/tmp/gitbench/remote.git".into());
    let runs = 20;
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote.git");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&original)
            .arg(&remote)
            .status()
            .unwrap()
            .success(),
        "copy {original}"
    );
    let url = format!("file://{}", remote.display());
    git(
        work.path(),
        &["clone", "--quiet", "--mirror", &url, "mirror.git"],
    );
    git(work.path(), &["clone", "--quiet", &url, "pusher"]);
    let mirror = work.path().join("mirror.git");
    let pusher = work.path().join("pusher");

    let config = |cache: &str| SourceConfig {
        url: url.clone(),
        reference: Reference::Branch("main".into()),
        cache_dir: work.path().join(cache),
        auth: Auth::None,
        timeout: Duration::from_mins(1),
        verify: None,
    };

    let cold_runs = 5;
    let (cold, clone) = first_polls(work.path(), &url, cold_runs, &config);

    let mut source = Source::open(config("cache")).unwrap();
    let Fetched::New(first) = source.poll().unwrap() else {
        panic!()
    };

    // No change: fledge lists the remote's refs; git fetch runs its full negotiation.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        assert!(matches!(source.poll().unwrap(), Fetched::Unchanged(_)));
        ours.push(t.elapsed());
        let t = Instant::now();
        git(&mirror, &["fetch", "--quiet", "--prune", "origin"]);
        theirs.push(t.elapsed());
    }
    let (ours, theirs) = (median(ours), median(theirs));

    // A new commit: detect it, fetch it, read the whole tree.
    let mut detect = Vec::new();
    let mut git_fetch_new = Vec::new();
    for i in 0..runs {
        std::fs::write(pusher.join("bench.txt"), format!("{i}\n")).unwrap();
        git(&pusher, &["add", "bench.txt"]);
        git(&pusher, &["commit", "--quiet", "-m", &format!("bench {i}")]);
        git(&pusher, &["push", "--quiet", "origin", "HEAD:main"]);
        let t = Instant::now();
        let Fetched::New(snap) = source.poll().unwrap() else {
            panic!()
        };
        detect.push(t.elapsed());
        assert!(!snap.files.is_empty());
        let t = Instant::now();
        git(&mirror, &["fetch", "--quiet", "--prune", "origin"]);
        git_fetch_new.push(t.elapsed());
    }
    let t = Instant::now();
    let objects = render::render(&first.files, "overlays/production").unwrap();
    let render_time = t.elapsed();

    println!("| operation | fledge | git CLI | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| poll, nothing new (median of {runs}) | {} | {} (`git fetch`) | {:.2} |",
        ms(ours),
        ms(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let (d, g) = (median(detect), median(git_fetch_new));
    println!(
        "| poll, one new commit: detect, fetch, read all {} files (median of {runs}) | {} | {} (`git fetch` only) | {:.2} |",
        first.files.len(),
        ms(d),
        ms(g),
        d.as_secs_f64() / g.as_secs_f64()
    );
    let (c, g) = (cold, clone);
    println!(
        "| first poll into an empty cache: fetch 2001 commits, read the tree (median of {cold_runs}) | {} | {} (`git clone --mirror`) | {:.2} |",
        ms(c),
        ms(g),
        c.as_secs_f64() / g.as_secs_f64()
    );
    println!(
        "| render the snapshot ({} objects) | {} | | |",
        objects.len(),
        ms(render_time)
    );
}
