//! The source edge against real Git: bare remotes over file://, the git CLI as a person.

use std::sync::Arc;
use std::time::Duration;

use fledge::render;
use fledge::render::Files as _;
use fledge::source::poller::{self, PollState, Timing};
use fledge::source::{Auth, Error, Fetched, Reference, Rewrite, Source, SourceConfig};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::support::git::{Remote, git};

const KUSTOMIZATION: &str = "resources:\n- cm.yaml\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: \"1\"\n";

fn config(remote: &Remote, reference: Reference, cache: &std::path::Path) -> SourceConfig {
    SourceConfig {
        url: remote.url(),
        reference,
        cache_dir: cache.to_path_buf(),
        auth: Auth::None,
        timeout: Duration::from_secs(20),
        verify: None,
    }
}

/// The source of `remote`'s branch `main`, its cache in `cache`.
fn on_main(remote: &Remote, cache: &std::path::Path) -> Source {
    Source::open(config(remote, Reference::Branch("main".into()), cache)).unwrap()
}

fn packs(source: &Source) -> usize {
    std::fs::read_dir(source.cache_path().join("objects/pack"))
        .map_or(0, std::iter::Iterator::count)
        + std::fs::read_dir(source.cache_path().join("objects"))
            .map_or(0, std::iter::Iterator::count)
}

#[test]
fn polls_a_branch_and_renders_from_the_object_store() {
    let remote = Remote::new();
    let first = remote.commit(
        &[
            ("app/kustomization.yaml", KUSTOMIZATION),
            ("app/cm.yaml", CM),
        ],
        "first",
    );
    let cache = tempfile::tempdir().unwrap();
    let mut source = on_main(&remote, cache.path());

    let Fetched::New(snap) = source.poll().unwrap() else {
        panic!("expected a new snapshot")
    };
    assert_eq!(snap.commit.to_string(), first);
    let objects = render::render(&snap.files, "app").unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "app");
    // The same directory on disk renders identically.
    let disk = render::DiskFiles::new(&remote.person()).unwrap();
    assert_eq!(render::render(&disk, "app").unwrap(), objects);

    // Nothing moved: the poll reads the remote's refs and transfers nothing.
    let before = packs(&source);
    assert!(matches!(source.poll().unwrap(), Fetched::Unchanged(c) if c.to_string() == first));
    assert_eq!(packs(&source), before);

    let second = remote.commit(&[("app/cm.yaml", &CM.replace("\"1\"", "\"2\""))], "second");
    let Fetched::New(snap) = source.poll().unwrap() else {
        panic!("expected the new commit")
    };
    assert_eq!(snap.commit.to_string(), second);
    assert_eq!(
        render::render(&snap.files, "app").unwrap()[0]["data"]["v"],
        "2"
    );

    // The cache survives a restart: a reopened source finds the objects already there.
    drop(source);
    let mut again = on_main(&remote, cache.path());
    let before = packs(&again);
    assert!(matches!(again.poll().unwrap(), Fetched::New(s) if s.commit.to_string() == second));
    assert_eq!(packs(&again), before, "no fetch needed after a restart");
}

#[test]
fn plain_local_paths_work_like_file_urls() {
    let remote = Remote::new();
    let head = remote.commit(&[("a.yaml", CM)], "one");
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(&remote, Reference::Branch("main".into()), cache.path());
    cfg.url = remote.bare().display().to_string();
    let mut s = Source::open(cfg).unwrap();
    assert!(matches!(s.poll().unwrap(), Fetched::New(snap) if snap.commit.to_string() == head));
}

#[test]
fn tags_semver_ranges_and_pinned_commits() {
    let remote = Remote::new();
    let c1 = remote.commit(&[("a.yaml", CM)], "one");
    git(&remote.person(), &["tag", "v1.2.0"]);
    let c2 = remote.commit(&[("b.yaml", CM)], "two");
    git(&remote.person(), &["tag", "-a", "v1.10.0", "-m", "release"]);
    let _c3 = remote.commit(&[("c.yaml", CM)], "three");
    git(&remote.person(), &["tag", "v2.0.0"]);
    git(&remote.person(), &["push", "--quiet", "--tags"]);
    let cache = tempfile::tempdir().unwrap();
    let poll = |r: Reference| match Source::open(config(&remote, r, cache.path()))
        .unwrap()
        .poll()
    {
        Ok(Fetched::New(s)) => Ok(s.commit.to_string()),
        Ok(Fetched::Unchanged(_)) => unreachable!("a fresh source has seen nothing"),
        Err(e) => Err(e),
    };
    assert_eq!(poll(Reference::Tag("v1.2.0".into())).unwrap(), c1);
    // An annotated tag resolves to its commit; the range picks the newest 1.x (1.10 > 1.2).
    assert_eq!(
        poll(Reference::Semver(">=1.0.0, <2.0.0".parse().unwrap())).unwrap(),
        c2
    );
    assert_eq!(poll(Reference::Commit(c1.parse().unwrap())).unwrap(), c1);
    let missing = poll(Reference::Branch("nope".into())).unwrap_err();
    assert!(matches!(missing, Error::MissingRef { .. }), "{missing}");
    assert!(missing.to_string().contains("branch nope"), "{missing}");
    let none = poll(Reference::Semver(">=3".parse().unwrap())).unwrap_err();
    assert!(matches!(none, Error::MissingRef { .. }));
}

#[test]
fn unreachable_remotes_are_retryable_errors_without_credentials() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = SourceConfig {
        url: "https://bot:s3cr3t-token@127.0.0.1:9/org/repo.git".into(),
        reference: Reference::Branch("main".into()),
        cache_dir: cache.path().to_path_buf(),
        auth: Auth::None,
        timeout: Duration::from_secs(5),
        verify: None,
    };
    let err = Source::open(cfg.clone()).unwrap().poll().unwrap_err();
    assert_eq!(
        err.disposition(),
        fledge::source::Disposition::Retry,
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3t-token"), "{text}");
    cfg.url = "file:///nonexistent/repo.git".into();
    assert!(Source::open(cfg).unwrap().poll().is_err());
}

#[test]
fn symlinks_in_the_tree_are_read_as_a_checkout_reads_them_and_never_lead_out() {
    let remote = Remote::new();
    let p = remote.person();
    std::fs::write(p.join("real.yaml"), CM).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.join("leak.yaml")).unwrap();
    for dir in ["common", "linked", "inside", "leaking", "plain"] {
        std::fs::create_dir_all(p.join(dir)).unwrap();
    }
    std::fs::write(p.join("common/cm.yaml"), CM).unwrap();
    std::fs::write(p.join("common/kustomization.yaml"), KUSTOMIZATION).unwrap();
    std::os::unix::fs::symlink("../common", p.join("linked/sub")).unwrap();
    std::fs::write(p.join("linked/kustomization.yaml"), "resources: [sub]\n").unwrap();
    std::os::unix::fs::symlink("../real.yaml", p.join("inside/cm.yaml")).unwrap();
    std::fs::write(p.join("inside/kustomization.yaml"), KUSTOMIZATION).unwrap();
    std::os::unix::fs::symlink("../../outside.yaml", p.join("leaking/cm.yaml")).unwrap();
    std::fs::write(p.join("leaking/kustomization.yaml"), KUSTOMIZATION).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.join("plain/leak.yaml")).unwrap();
    std::fs::write(p.join("plain/real.yaml"), CM).unwrap();
    remote.commit(&[], "with symlinks");
    let cache = tempfile::tempdir().unwrap();
    let mut s = on_main(&remote, cache.path());
    let Fetched::New(snap) = s.poll().unwrap() else {
        panic!()
    };
    assert!(snap.files.entry("real.yaml").is_some());
    assert!(snap.files.entry("leak.yaml").is_none(), "never read");
    // A link inside the tree reads as its target, as in a checkout: a base may be anywhere,
    let objects = render::render(&snap.files, "linked").unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "app");
    // but a file a kustomization names must really be in its directory, as kustomize checks.
    let err = render::render(&snap.files, "inside")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`cm.yaml` is outside the kustomization's directory `inside`"),
        "{err}"
    );
    // A link out of the tree is named as one, not as missing, nor skipped in a plain folder.
    let err = render::render(&snap.files, "leaking")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`cm.yaml` is outside the build root: it is a symlink that leads out"),
        "{err}"
    );
    let err = render::render(&snap.files, "plain")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plain/leak.yaml: a symlink that leads outside the build root"),
        "{err}"
    );
}

/// A change to the person's clone, then a path and what it must read (empty: nothing).
type Step<'a> = (Box<dyn Fn() + 'a>, &'a str, &'a str);

/// After the first, a poll reads a new commit as the difference from the last one read (only
/// the blobs that changed): each must read exactly as a whole read of its tree does, through
/// files added, changed, deleted and moved, a symlink that becomes a file and back, a symlink
/// to a directory that becomes a directory, and a mode change alone.
#[test]
fn each_new_commit_reads_exactly_as_a_whole_read_of_its_tree() {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    let remote = Remote::new();
    let p = remote.person();
    let steps: Vec<Step<'_>> = vec![
        (
            Box::new(|| {
                fs::create_dir_all(p.join("a/b")).unwrap();
                fs::write(p.join("a/x.yaml"), CM).unwrap();
                fs::write(p.join("a/b/y.yaml"), "y: 1\n").unwrap();
                fs::write(p.join("c.txt"), "c").unwrap();
                symlink("a/x.yaml", p.join("top.yaml")).unwrap();
                symlink("a", p.join("d")).unwrap();
            }),
            "d/b/y.yaml",
            "y: 1\n",
        ),
        (
            Box::new(|| {
                fs::write(p.join("a/x.yaml"), "x: 2\n").unwrap();
                fs::remove_file(p.join("c.txt")).unwrap();
                fs::create_dir_all(p.join("e")).unwrap();
                fs::write(p.join("e/f.txt"), "f").unwrap();
            }),
            "top.yaml",
            "x: 2\n",
        ),
        (
            Box::new(|| {
                fs::remove_file(p.join("top.yaml")).unwrap();
                fs::write(p.join("top.yaml"), "a file now").unwrap();
                fs::remove_file(p.join("a/b/y.yaml")).unwrap();
                symlink("../x.yaml", p.join("a/b/y.yaml")).unwrap();
                fs::remove_dir_all(p.join("e")).unwrap();
            }),
            "a/b/y.yaml",
            "x: 2\n",
        ),
        (
            Box::new(|| {
                fs::create_dir_all(p.join("g")).unwrap();
                fs::rename(p.join("a/b"), p.join("g/b")).unwrap();
                fs::set_permissions(p.join("a/x.yaml"), fs::Permissions::from_mode(0o755)).unwrap();
            }),
            "g/b/y.yaml",
            "",
        ),
        (
            Box::new(|| {
                fs::remove_file(p.join("d")).unwrap();
                fs::create_dir_all(p.join("d")).unwrap();
                fs::write(p.join("d/z"), "z").unwrap();
                fs::remove_file(p.join("top.yaml")).unwrap();
                symlink("d/z", p.join("top.yaml")).unwrap();
            }),
            "top.yaml",
            "z",
        ),
    ];
    let cache = tempfile::tempdir().unwrap();
    let cfg = config(&remote, Reference::Branch("main".into()), cache.path());
    let mut s = on_main(&remote, cache.path());
    for (i, (change, path, contents)) in steps.iter().enumerate() {
        change();
        git(&p, &["add", "-A"]);
        git(&p, &["commit", "--quiet", "-m", &format!("step {i}")]);
        git(&p, &["push", "--quiet", "origin", "HEAD:main"]);
        let commit = remote.head();
        let Fetched::New(snap) = s.poll().unwrap() else {
            panic!("step {i}: no new commit")
        };
        assert_eq!(snap.commit.as_str(), commit);
        let whole = fledge::source::read_commit(&cfg, &commit).unwrap();
        assert_eq!(
            format!("{:?}", snap.files),
            format!("{:?}", whole.files),
            "step {i}"
        );
        let read = snap.files.iter().find(|(f, _)| f == path).map(|(_, c)| c);
        // A dangling link ("g/b/y.yaml" points at a "../x.yaml" that is not there) is nothing.
        let expected = (!contents.is_empty()).then_some(contents.as_bytes());
        assert_eq!(read, expected, "step {i}: {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_a_local_repository_wakes_the_poller_at_once() {
    let remote = Remote::new();
    remote.commit(&[("a.yaml", CM)], "one");
    let cache = tempfile::tempdir().unwrap();
    let wake = Arc::new(Notify::new());
    let dir = fledge::source::watch::local_repo_dir(&remote.url()).unwrap();
    let _watch = fledge::source::watch::watch_refs(&dir, wake.clone()).unwrap();
    let (tx, mut rx) = watch::channel(PollState::default());
    let shutdown = CancellationToken::new();
    let timing = Timing {
        interval: Duration::from_hours(1),
        ..Timing::default()
    };
    let task = tokio::spawn(poller::run(
        config(&remote, Reference::Branch("main".into()), cache.path()),
        timing,
        wake,
        tx,
        shutdown.clone(),
    ));
    // The first poll happens at start.
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| s.snapshot.is_some()),
    )
    .await
    .expect("first snapshot")
    .unwrap();
    let head = remote.commit(&[("b.yaml", CM)], "two");
    // With an hour-long interval, only the inotify trigger can bring the new commit this fast.
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| {
            s.snapshot
                .as_ref()
                .is_some_and(|snap| snap.commit.to_string() == head)
        }),
    )
    .await;
    assert!(got.is_ok(), "the push did not wake the poller");
    shutdown.cancel();
    task.await.unwrap();
}

/// A fresh source on `cache` polls once: the new commit and the rewrite it saw.
fn poll_new(
    remote: &Remote,
    reference: Reference,
    cache: &std::path::Path,
) -> (String, Option<Rewrite>) {
    let mut s = Source::open(config(remote, reference, cache)).unwrap();
    let Fetched::New(snap) = s.poll().unwrap() else {
        panic!("a fresh source has seen nothing")
    };
    (snap.commit.to_string(), s.rewritten().cloned())
}

fn rewrite(from: &str, to: &str) -> Rewrite {
    Rewrite {
        from: from.to_owned(),
        to: to.to_owned(),
    }
}

#[test]
fn a_force_push_is_reported_with_both_commits_also_across_a_restart() {
    let remote = Remote::new();
    let p = remote.person();
    let c1 = remote.commit(&[("a.yaml", CM)], "one");
    let cache = tempfile::tempdir().unwrap();
    let mut s = on_main(&remote, cache.path());
    assert!(matches!(s.poll().unwrap(), Fetched::New(_)));
    assert_eq!(s.rewritten(), None);
    let c2 = remote.commit(&[("b.yaml", CM)], "two");
    assert!(matches!(s.poll().unwrap(), Fetched::New(n) if n.commit.to_string() == c2));
    assert_eq!(s.rewritten(), None, "a fast-forward is no rewrite");

    // History rewritten: c2 replaced by a commit on c1.
    git(&p, &["reset", "--quiet", "--hard", &c1]);
    std::fs::write(p.join("c.yaml"), CM).unwrap();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "--quiet", "-m", "three"]);
    git(&p, &["push", "--quiet", "--force", "origin", "HEAD:main"]);
    let c3 = remote.head();
    assert!(matches!(s.poll().unwrap(), Fetched::New(n) if n.commit.to_string() == c3));
    assert_eq!(s.rewritten().cloned(), Some(rewrite(&c2, &c3)));
    // It stays until the next new commit, which clears it.
    assert!(matches!(s.poll().unwrap(), Fetched::Unchanged(_)));
    assert_eq!(s.rewritten().cloned(), Some(rewrite(&c2, &c3)));
    let c4 = remote.commit(&[("d.yaml", CM)], "four");
    assert!(matches!(s.poll().unwrap(), Fetched::New(n) if n.commit.to_string() == c4));
    assert_eq!(s.rewritten(), None);
    drop(s);

    // While fledge is stopped, the branch is reset to an older commit (already in the cache):
    // the first poll after the restart sees it.
    git(
        &p,
        &[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("{c1}:main"),
        ],
    );
    let branch = || Reference::Branch("main".into());
    assert_eq!(
        poll_new(&remote, branch(), cache.path()),
        (c1.clone(), Some(rewrite(&c4, &c1)))
    );
    // Seen once: the next restart starts from c1.
    assert_eq!(poll_new(&remote, branch(), cache.path()), (c1, None));
}

#[test]
fn a_moved_tag_is_a_rewrite_and_a_newer_tag_is_not() {
    let remote = Remote::new();
    let p = remote.person();
    let c1 = remote.commit(&[("a.yaml", CM)], "one");
    git(&p, &["tag", "-a", "v1.0.0", "-m", "release"]);
    git(&p, &["push", "--quiet", "origin", "v1.0.0"]);
    let cache = tempfile::tempdir().unwrap();
    let tag = || Reference::Tag("v1.0.0".into());
    let range = || Reference::Semver("^1".parse().unwrap());
    assert_eq!(poll_new(&remote, tag(), cache.path()), (c1.clone(), None));
    assert_eq!(poll_new(&remote, range(), cache.path()), (c1.clone(), None));

    // The tag moved to a commit that is not a descendant (another line of history).
    git(&p, &["checkout", "--quiet", "--orphan", "other"]);
    std::fs::write(p.join("b.yaml"), CM).unwrap();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "--quiet", "-m", "elsewhere"]);
    let elsewhere = git(&p, &["rev-parse", "HEAD"]).trim().to_owned();
    git(&p, &["tag", "-f", "-a", "v1.0.0", "-m", "moved"]);
    git(&p, &["push", "--quiet", "--force", "origin", "v1.0.0"]);
    assert_eq!(
        poll_new(&remote, tag(), cache.path()),
        (elsewhere.clone(), Some(rewrite(&c1, &elsewhere)))
    );
    // The range tracks the same tag, fetched before with the tag above: seen already.
    assert_eq!(
        poll_new(&remote, range(), cache.path()),
        (elsewhere.clone(), None)
    );

    // A newer tag in the range is a new release, not a rewrite, though its commit does not
    // descend from the one v1.0.0 names now;
    git(&p, &["checkout", "--quiet", "main"]);
    let c2 = remote.commit(&[("c.yaml", CM)], "two");
    git(&p, &["tag", "v1.1.0", &c2]);
    git(&p, &["push", "--quiet", "origin", "v1.1.0"]);
    assert_eq!(poll_new(&remote, range(), cache.path()), (c2.clone(), None));
    // but that tag moving backwards is.
    git(&p, &["tag", "-f", "v1.1.0", &c1]);
    git(&p, &["push", "--quiet", "--force", "origin", "v1.1.0"]);
    assert_eq!(
        poll_new(&remote, range(), cache.path()),
        (c1.clone(), Some(rewrite(&c2, &c1)))
    );
}

/// Waits (at most 20 s) until the poll state satisfies `done`; returns it.
async fn poll_state(
    rx: &mut watch::Receiver<PollState>,
    what: &str,
    done: impl Fn(&PollState) -> bool,
) -> PollState {
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| done(s)))
        .await
        .unwrap_or_else(|_| panic!("never: {what}"))
        .unwrap()
        .clone()
}

fn at(s: &PollState) -> Option<String> {
    s.snapshot.as_ref().map(|snap| snap.commit.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poll_state_tells_since_when_polls_fail_and_that_history_was_rewritten() {
    let remote = Remote::new();
    let p = remote.person();
    let c1 = remote.commit(&[("a.yaml", CM)], "one");
    let cache = tempfile::tempdir().unwrap();
    let (tx, mut rx) = watch::channel(PollState::default());
    let shutdown = CancellationToken::new();
    let timing = Timing {
        interval: Duration::from_millis(20),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
        ..Timing::default()
    };
    let task = tokio::spawn(poller::run(
        config(&remote, Reference::Branch("main".into()), cache.path()),
        timing,
        Arc::new(Notify::new()),
        tx,
        shutdown.clone(),
    ));
    let s = poll_state(&mut rx, "the first commit", |s| at(s) == Some(c1.clone())).await;
    assert_eq!((s.rewritten, s.error, s.failing_since), (None, None, None));

    // A force push.
    git(&p, &["commit", "--quiet", "--amend", "-m", "one, amended"]);
    git(&p, &["push", "--quiet", "--force", "origin", "HEAD:main"]);
    let amended = remote.head();
    let s = poll_state(&mut rx, "the amended commit", |s| {
        at(s) == Some(amended.clone())
    })
    .await;
    assert_eq!(s.rewritten, Some(rewrite(&c1, &amended)));

    // The remote goes away: polls fail, since the first failure.
    let away = remote.dir.path().join("away.git");
    std::fs::rename(remote.bare(), &away).unwrap();
    let failing = poll_state(&mut rx, "a failed poll", |s| s.error.is_some()).await;
    let since = failing
        .failing_since
        .expect("failing since the first failure");
    assert!(
        failing
            .error
            .as_deref()
            .unwrap()
            .contains("cannot fetch from"),
        "{failing:?}"
    );
    let later = poll_state(&mut rx, "more failed polls", |s| {
        s.polls >= failing.polls + 3
    })
    .await;
    assert!(later.error.is_some());
    assert_eq!(later.failing_since, Some(since), "kept while polls fail");
    assert_eq!(
        later.rewritten,
        Some(rewrite(&c1, &amended)),
        "kept until a new commit"
    );

    // Back: the next poll succeeds and clears the failure; the rewrite stays until a new commit.
    std::fs::rename(&away, remote.bare()).unwrap();
    let back = poll_state(&mut rx, "a good poll", |s| s.error.is_none()).await;
    assert_eq!(back.failing_since, None);
    assert_eq!(back.rewritten, Some(rewrite(&c1, &amended)));
    let c2 = remote.commit(&[("b.yaml", CM)], "two");
    let s = poll_state(&mut rx, "the next commit", |s| at(s) == Some(c2.clone())).await;
    assert_eq!(s.rewritten, None);
    shutdown.cancel();
    task.await.unwrap();
}
