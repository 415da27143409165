//! The Git caches stay within bounds however many commits come: a poll holds no file open once
//! it returns, the poll and write caches are repacked as fetches add packs, and `fledge run`
//! under a low descriptor limit keeps syncing commit after commit (it used to keep one pack
//! file open per fetched commit until it could open nothing more).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fledge::render::Files as _;
use fledge::source::{Auth, Fetched, Reference, Source, SourceConfig};
use fledge::writeback::{Change, Edit, GitWriter, WriterConfig, Written};
use serde_json::Value;

use super::support::daemon::{Builder, Daemon};
use super::support::erring_app;
use super::support::git::{Remote, git};
use super::support::within;

/// Packs a cache may gather before it is repacked; git's own default would let 50 gather, and
/// the tests push more commits than that.
const MAX_PACKS: usize = 20;

/// The descriptors of process `pid` open on files below `dir`.
fn open_below(pid: &str, dir: &Path) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// The pack files of a bare repository.
fn packs(git_dir: &Path) -> usize {
    std::fs::read_dir(git_dir.join("objects/pack")).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pack"))
        })
        .count()
    })
}

fn config_map(value: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: shop}}\ndata: {{value: \"{value}\"}}\n"
    )
}

#[test]
fn polling_many_commits_keeps_no_file_open_and_the_cache_compact() {
    let remote = Remote::new();
    remote.commit(&[("cm.yaml", &config_map(0))], "0");
    let cache = tempfile::tempdir().unwrap();
    let mut source = Source::open(SourceConfig {
        url: remote.url(),
        reference: Reference::Branch("main".into()),
        cache_dir: cache.path().to_path_buf(),
        auth: Auth::None,
        timeout: Duration::from_secs(20),
        verify: None,
    })
    .unwrap();
    assert!(matches!(source.poll().unwrap(), Fetched::New(_)));
    let first = open_below("self", cache.path());
    let mut most_packs = 0;
    for i in 1..=60 {
        let head = remote.commit(&[("cm.yaml", &config_map(i))], &i.to_string());
        let Fetched::New(snap) = source.poll().unwrap() else {
            panic!("commit {i} was not seen")
        };
        assert_eq!(snap.commit.to_string(), head);
        assert_eq!(
            snap.files.read("cm.yaml").unwrap(),
            config_map(i).as_bytes(),
            "commit {i} reads whole after the cache was repacked"
        );
        let open = open_below("self", cache.path());
        assert_eq!(
            open, first,
            "after {i} new commits the poll cache holds {open} files open, {first} after the first"
        );
        most_packs = most_packs.max(packs(source.cache_path()));
    }
    assert!(
        most_packs <= MAX_PACKS,
        "the poll cache gathered {most_packs} packs"
    );
    assert!(matches!(source.poll().unwrap(), Fetched::Unchanged(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn writing_after_many_pushes_keeps_the_write_cache_compact() {
    let remote = Remote::new();
    remote.commit(&[("cm.yaml", &config_map(0))], "0");
    let cache = tempfile::tempdir().unwrap();
    let writer =
        GitWriter::open(WriterConfig::new(&remote.url(), cache.path().to_path_buf())).unwrap();
    let write_cache: PathBuf = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-write.git"))
        .expect("the write cache");
    let mut most_packs = 0;
    for i in 1..=60 {
        // A person's commit, so that each write fetches something new first.
        remote.commit(&[("cm.yaml", &config_map(i))], &i.to_string());
        let change = Change::Edits {
            edits: vec![Edit {
                path: "record.yaml".into(),
                content: Some(format!("n: {i}\n").into_bytes()),
            }],
            message: format!("record {i}"),
        };
        let written = writer.write("main", &change, "test").await.unwrap();
        assert!(matches!(written, Written::Pushed { .. }), "{written:?}");
        most_packs = most_packs.max(packs(&write_cache));
        eprintln!("PROBE w {most_packs}");
    }
    assert_eq!(
        remote.show("main", "record.yaml").as_deref(),
        Some("n: 60\n")
    );
    assert_eq!(remote.show("main", "cm.yaml"), Some(config_map(60)));
    assert!(
        most_packs <= MAX_PACKS,
        "the write cache gathered {most_packs} packs"
    );
}

/// The descriptor limit the daemon runs under: 16 are open at start, and before caches were
/// closed between polls each fetched commit kept one more.
const FD_LIMIT: usize = 128;

/// Commits pushed one by one: more than the limit, so that a descriptor kept per commit
/// exhausts it.
const COMMITS: usize = 150;

/// The app: a ConfigMap whose value changes with every commit, beside a Canary release (its
/// image changes every 25th commit) whose outcomes fledge writes back to the repository.
fn app(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{}---\n{}",
        config_map(i),
        erring_app(&format!("web:{}", i / 25), "0", 2, None)
    )
}

/// The person commits `app(i)` and pushes; on rejection (fledge pushed a record first) pulls
/// with rebase and pushes again. Returns the pushed commit.
fn push(work: &Path, i: usize) -> String {
    std::fs::write(work.join("app.yaml"), app(i)).unwrap();
    git(work, &["commit", "-qam", &format!("value {i}")]);
    for _ in 0..30 {
        let pushed = Command::new("git")
            .args(["push", "-q", "origin", "HEAD:main"])
            .current_dir(work)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if pushed {
            return git(work, &["rev-parse", "HEAD"]).trim().to_owned();
        }
        git(work, &["pull", "-q", "--rebase", "origin", "main"]);
    }
    panic!("could not push commit {i}");
}

/// Waits until the daemon has applied the commit `head` (at most 30 s), or a commit fledge
/// pushed on top of it (a promotion record it wrote before it polled `head`: it applies that
/// commit instead, which holds `head`); its sync status otherwise.
async fn synced(d: &Daemon, remote: &Remote, head: &str) -> Result<(), Value> {
    within(
        Duration::from_secs(30),
        || d.get("/api/sync"),
        |s| {
            let applied = s["appliedCommit"].as_str().unwrap_or("");
            s["ready"] == true && (applied == head || fledges_on_top(remote, head, applied))
        },
    )
    .await
    .map(drop)
}

/// Whether `applied` descends from `head` by fledge's own commits alone (each carries the
/// `Fledge-Commit: true` trailer).
fn fledges_on_top(remote: &Remote, head: &str, applied: &str) -> bool {
    if applied.is_empty() {
        return false;
    }
    let bare = remote.bare();
    let descends = Command::new("git")
        .args(["merge-base", "--is-ancestor", head, applied])
        .current_dir(&bare)
        .status()
        .is_ok_and(|s| s.success());
    let range = format!("{head}..{applied}");
    let trailers = git(
        &bare,
        &[
            "log",
            "--format=%(trailers:key=Fledge-Commit,valueonly)%x00",
            &range,
        ],
    );
    // One value per commit, each ended by a NUL; what follows the last is empty.
    let values: Vec<&str> = trailers.split('\0').map(str::trim).collect();
    let each = &values[..values.len() - 1];
    descends && !each.is_empty() && each.iter().all(|v| *v == "true")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_syncs_commit_after_commit_under_a_low_descriptor_limit() {
    let remote = Remote::new();
    let first = remote.commit(&[("app.yaml", &app(0))], "value 0");
    let root = tempfile::tempdir().unwrap();
    let daemon = Builder::new(&remote.url(), root.path())
        .after_shell(&format!("ulimit -n {FD_LIMIT}"))
        .args(["--branch", "main", "--interval", "1s", "--cluster", "sim"])
        .args(["--metrics-provider", "sim", "--write-back", "true"])
        .args(["--coalesce", "100ms", "--time-scale", "20"])
        .spawn();
    let pid = daemon.pid().to_string();
    let daemon_log = || daemon.log();
    if let Err(status) = synced(&daemon, &remote, &first).await {
        panic!("the first commit never synced: {status}\n{}", daemon_log());
    }
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let at_start = fds();
    let mut most = at_start;
    let work = remote.person();
    git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
    for i in 1..=COMMITS {
        let head = push(&work, i);
        if let Err(status) = synced(&daemon, &remote, &head).await {
            panic!(
                "commit {i} of {COMMITS} never synced ({} descriptors open): {status}\n{}",
                fds(),
                daemon_log()
            );
        }
        most = most.max(fds());
    }
    eprintln!("PROBE most {most} start {at_start}");
    // Open descriptors do not grow with the commits: some come and go (connections, a pack
    // read during a poll), none stays per commit.
    assert!(
        most <= at_start + 32,
        "{most} descriptors open at most over {COMMITS} commits, {at_start} after the first"
    );
    let cache = root.path().join("cache");
    for kind in ["source", "write"] {
        for repo in std::fs::read_dir(cache.join(kind)).unwrap() {
            let repo = repo.unwrap().path();
            let n = packs(&repo);
            assert!(n <= MAX_PACKS, "{} holds {n} packs", repo.display());
        }
    }
    // The release's outcomes were written back meanwhile.
    assert!(
        remote
            .show("fledge/status", "releases/shop/web.yaml")
            .is_some(),
        "no status written back:\n{}",
        daemon_log()
    );
}
