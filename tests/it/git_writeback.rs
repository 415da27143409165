//! Write-back against real Git: commits without a work tree, reverts, notes, and pushes that
//! never lose anyone's work.

use std::time::Duration;

use fledge::writeback::{Change, Edit, Error, GitWriter, WriterConfig, Written};

use super::support::git::{Remote, git};

fn writer(remote: &Remote) -> (GitWriter, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = WriterConfig::new(&remote.url(), cache.path().to_path_buf());
    cfg.author_name = "fledge-bot".into();
    cfg.author_email = "fledge@example.com".into();
    cfg.max_attempts = 50;
    cfg.min_backoff = Duration::from_millis(5);
    cfg.max_backoff = Duration::from_millis(200);
    (GitWriter::open(cfg).unwrap(), cache)
}

fn edit(path: &str, content: &str) -> Edit {
    Edit {
        path: path.into(),
        content: Some(content.as_bytes().to_vec()),
    }
}

#[tokio::test]
async fn commits_edits_without_a_work_tree_and_never_twice() {
    let remote = Remote::new();
    remote.commit(&[("apps/a.yaml", "a: 1\n"), ("old.txt", "x")], "init");
    let (w, _c) = writer(&remote);
    let change = Change::Edits {
        edits: vec![
            edit(".fledge/promoted/default/web.yaml", "revision: abc\n"),
            Edit {
                path: "old.txt".into(),
                content: None,
            },
        ],
        message: "Promote default/web".into(),
    };
    let Written::Pushed { commit, .. } = w.write("main", &change, "promote").await.unwrap() else {
        panic!("expected a push")
    };
    assert_eq!(remote.head(), commit.to_string());
    assert_eq!(
        remote
            .show("main", ".fledge/promoted/default/web.yaml")
            .as_deref(),
        Some("revision: abc\n")
    );
    assert!(remote.show("main", "old.txt").is_none());
    assert_eq!(
        remote.show("main", "apps/a.yaml").as_deref(),
        Some("a: 1\n")
    );
    let msg = git(&remote.bare(), &["log", "-1", "--format=%B%an", "main"]);
    assert!(
        msg.starts_with("Promote default/web\n\nFledge-Commit: true\n"),
        "{msg}"
    );
    assert!(msg.trim_end().ends_with("fledge-bot"), "{msg}");
    // The same content again: no empty commit.
    assert_eq!(
        w.write("main", &change, "promote").await.unwrap(),
        Written::Unchanged
    );
    assert_eq!(remote.head(), commit.to_string());
}

#[tokio::test]
async fn reverts_commits_and_refuses_conflicting_reverts_whole() {
    let remote = Remote::new();
    remote.commit(
        &[
            ("app.yaml", "image: v1\nreplicas: 1\n"),
            ("other.yaml", "x: 1\n"),
        ],
        "init",
    );
    let bump = remote.commit(
        &[("app.yaml", "image: v2\nreplicas: 1\n")],
        "Bump image to v2",
    );
    remote.commit(&[("other.yaml", "x: 2\n")], "Unrelated change");
    let (w, _c) = writer(&remote);
    let revert = Change::Revert {
        commits: vec![bump.parse().unwrap()],
        message: "Revert \"Bump image to v2\"\n\nFledge-Release: default/app\nFledge-Reason: analysis failed".into(),
    };
    let Written::Pushed { commit, .. } = w.write("main", &revert, "revert").await.unwrap() else {
        panic!()
    };
    assert_eq!(
        remote.show("main", "app.yaml").as_deref(),
        Some("image: v1\nreplicas: 1\n")
    );
    assert_eq!(
        remote.show("main", "other.yaml").as_deref(),
        Some("x: 2\n"),
        "later work is kept"
    );
    let body = git(
        &remote.bare(),
        &["log", "-1", "--format=%B", &commit.to_string()],
    );
    assert!(
        body.contains("Fledge-Release: default/app") && body.contains("Fledge-Commit: true"),
        "{body}"
    );

    // A later change to the same lines makes the revert conflict: nothing is committed.
    let bump3 = remote.commit(
        &[("app.yaml", "image: v3\nreplicas: 1\n")],
        "Bump image to v3",
    );
    remote.commit(
        &[("app.yaml", "image: v4\nreplicas: 1\n")],
        "Bump image to v4",
    );
    let head = remote.head();
    let conflicting = Change::Revert {
        commits: vec![bump3.parse().unwrap()],
        message: "Revert v3".into(),
    };
    let err = w.write("main", &conflicting, "revert").await.unwrap_err();
    assert!(
        matches!(&err, Error::RevertConflict { paths, .. } if paths == &["app.yaml".to_owned()]),
        "{err}"
    );
    assert_eq!(remote.head(), head);
}

#[tokio::test]
async fn notes_are_added_and_appended() {
    let remote = Remote::new();
    let c = remote.commit(&[("a.yaml", "a")], "init");
    let (w, _cache) = writer(&remote);
    w.note(
        c.parse().unwrap(),
        "release default/web: Progressing",
        false,
    )
    .await
    .unwrap();
    w.note(c.parse().unwrap(), "release default/web: Succeeded", true)
        .await
        .unwrap();
    // Appending the same line again changes nothing.
    w.note(c.parse().unwrap(), "release default/web: Succeeded", true)
        .await
        .unwrap();
    let note = git(&remote.bare(), &["notes", "--ref", "fledge", "show", &c]);
    assert_eq!(
        note,
        "release default/web: Progressing\nrelease default/web: Succeeded\n"
    );
}

#[tokio::test]
async fn a_protected_branch_sends_the_change_to_a_side_branch() {
    let remote = Remote::new();
    remote.commit(&[("a.yaml", "a")], "init");
    let hook = remote.bare().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nwhile read old new ref; do\n  [ \"$ref\" = refs/heads/main ] && { echo 'main is protected' >&2; exit 1; }\ndone\nexit 0\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&hook).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let head = remote.head();
    let (w, _c) = writer(&remote);
    let change = Change::Edits {
        edits: vec![edit("b.yaml", "b")],
        message: "Record".into(),
    };
    let got = w.write("main", &change, "revert").await.unwrap();
    let Written::SideBranch {
        branch,
        commit,
        reason,
    } = got
    else {
        panic!("{got:?}")
    };
    assert!(branch.starts_with("fledge/revert-"), "{branch}");
    assert!(reason.contains("rejected"), "{reason}");
    assert_eq!(remote.head(), head, "main untouched");
    assert_eq!(
        git(
            &remote.bare(),
            &["rev-parse", &format!("refs/heads/{branch}")]
        )
        .trim(),
        commit.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_a_person_loses_nothing_and_never_forces() {
    let remote = Remote::new();
    remote.commit(&[("README", "start\n")], "init");
    let (w, _c) = writer(&remote);
    // The person pushes 100 commits with the git CLI, pulling (rebasing) when rejected.
    let person_dir = remote.person();
    let person = std::thread::spawn(move || {
        let mut mine = Vec::new();
        for i in 0..100 {
            std::fs::create_dir_all(person_dir.join("person")).unwrap();
            std::fs::write(
                person_dir.join(format!("person/p-{i}.txt")),
                format!("{i}\n"),
            )
            .unwrap();
            git(&person_dir, &["add", "-A"]);
            git(
                &person_dir,
                &["commit", "--quiet", "-m", &format!("person {i}")],
            );
            loop {
                let pushed = std::process::Command::new("git")
                    .current_dir(&person_dir)
                    .args(["push", "--quiet", "origin", "HEAD:main"])
                    .output()
                    .unwrap();
                if pushed.status.success() {
                    break;
                }
                git(
                    &person_dir,
                    &["pull", "--quiet", "--rebase", "origin", "main"],
                );
            }
            mine.push(
                git(&person_dir, &["log", "-1", "--format=%s"])
                    .trim()
                    .to_owned(),
            );
        }
        mine
    });
    let mut status_commits = Vec::new();
    for i in 0..200 {
        let change = Change::Edits {
            edits: vec![edit(&format!("status/s-{i}.yaml"), &format!("n: {i}\n"))],
            message: format!("status {i}"),
        };
        let written = w.write("main", &change, "status").await.unwrap();
        let Written::Pushed { commit, .. } = written else {
            panic!("{written:?}")
        };
        status_commits.push(commit.to_string());
    }
    let mut reverts = Vec::new();
    for c in status_commits.iter().take(20) {
        let change = Change::Revert {
            commits: vec![c.parse().unwrap()],
            message: format!("Revert {c}"),
        };
        let Written::Pushed { commit, .. } = w.write("main", &change, "revert").await.unwrap()
        else {
            panic!()
        };
        reverts.push(commit.to_string());
    }
    let person_subjects = person.join().unwrap();
    let head = remote.head();
    // Every fledge commit is on the branch.
    for c in status_commits.iter().chain(&reverts) {
        assert!(remote.is_ancestor(c, &head), "fledge commit {c} lost");
    }
    // Every person's commit is on the branch (rebased ones by subject).
    let log = git(&remote.bare(), &["log", "--format=%s", "main"]);
    for s in &person_subjects {
        assert!(log.lines().any(|l| l == s), "person's commit `{s}` lost");
    }
    for i in 20..200 {
        assert!(remote.show("main", &format!("status/s-{i}.yaml")).is_some());
    }
    for i in 0..20 {
        assert!(
            remote.show("main", &format!("status/s-{i}.yaml")).is_none(),
            "revert {i} missing"
        );
    }
    // The remote's reflog shows fast-forwards only.
    let entries = super::support::git::assert_fast_forwards_only(&remote.bare(), "refs/heads/main");
    assert!(entries > 300, "{entries} reflog entries");
}

#[tokio::test]
async fn a_change_a_checked_out_branch_refuses_goes_to_one_side_branch_however_often_it_is_tried() {
    // A non-bare repository with `main` checked out refuses pushes to `main`.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    git(dir.path(), &["init", "-q", "-b", "main", "work"]);
    std::fs::write(work.join("app.yaml"), "image: web:2\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "web 2"]);
    let url = format!("file://{}", work.display());
    let change = Change::Edits {
        edits: vec![edit("app.yaml", "image: web:1\n")],
        message: "Revert web 2".into(),
    };
    let mut seen = Vec::new();
    for attempt in 0..3 {
        // A fresh cache each time, as after a restart; and a person commits in between.
        let cache = tempfile::tempdir().unwrap();
        let w = GitWriter::open(WriterConfig::new(&url, cache.path().to_path_buf())).unwrap();
        let got = w.write("main", &change, "revert").await.unwrap();
        let Written::SideBranch { branch, commit, .. } = got else {
            panic!("{got:?}")
        };
        seen.push((branch, commit));
        std::fs::write(work.join(format!("notes-{attempt}.md")), "x\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "docs"]);
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    let sides = git(
        &work,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/fledge",
        ],
    );
    assert_eq!(sides.lines().collect::<Vec<_>>(), [seen[0].0.as_str()]);
    assert_eq!(
        git(&work, &["log", "-1", "--format=%s", "main"]).trim(),
        "docs"
    );
    // fledge's own branches get no side branch: a refusal there is an error.
    let cache = tempfile::tempdir().unwrap();
    let w = GitWriter::open(WriterConfig::new(&url, cache.path().to_path_buf())).unwrap();
    let files = Change::Files {
        edits: vec![edit("status.yaml", "x\n")],
        message: "status".into(),
    };
    let err = w.write("main", &files, "status").await.unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
}
