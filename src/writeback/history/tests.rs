use git2::{Oid, Repository, Signature};

use super::*;

/// A repository whose commits each set `app.yaml` (or remove it with `None`); returns the
/// commits in order.
fn history(files: &[(Option<&str>, &str)]) -> (tempfile::TempDir, Vec<Oid>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let sig = Signature::now("t", "t@example.com").unwrap();
    let mut parent: Option<Oid> = None;
    let mut out = Vec::new();
    for (content, subject) in files {
        let mut tb = repo.treebuilder(None).unwrap();
        let other = repo.blob(subject.as_bytes()).unwrap();
        tb.insert("README", other, 0o100_644).unwrap();
        if let Some(c) = content {
            let blob = repo.blob(c.as_bytes()).unwrap();
            tb.insert("app.yaml", blob, 0o100_644).unwrap();
        }
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit<'_>> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let oid = repo
            .commit(None, &sig, &sig, subject, &tree, &refs)
            .unwrap();
        out.push(oid);
        parent = Some(oid);
    }
    (dir, out)
}

/// The "revision" at a commit: what its app.yaml says.
fn revision_at(repo: &Repository) -> impl Fn(Oid) -> Option<String> + '_ {
    move |c| {
        let tree = repo.find_commit(c).ok()?.tree().ok()?;
        let entry = tree.get_name("app.yaml")?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }
}

fn subjects(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(_, s)| s.as_str()).collect()
}

#[test]
fn a_revert_takes_the_commits_since_the_primarys_and_no_further() {
    let (dir, c) = history(&[
        (Some("v1"), "add the app"),
        (Some("v2"), "web 2"),
        (Some("v2"), "docs"),
        (Some("v3"), "web 3"),
        (Some("v4"), "web 4"),
    ]);
    let repo = Repository::open_bare(dir.path()).unwrap();
    let at = revision_at(&repo);
    // By the commit that brought what the primary serves (v2, brought by "web 2").
    let by_commit = Boundary {
        commit: Some(c[1]),
        revision: Some("v2"),
    };
    let found = bringing_commits(&repo, c[4], by_commit, &at).unwrap();
    assert_eq!(subjects(&found), ["web 4", "web 3"]);
    // By the revision alone (the commit not recorded, as after a lost Release status).
    let by_revision = Boundary {
        commit: None,
        revision: Some("v2"),
    };
    let found = bringing_commits(&repo, c[4], by_revision, &at).unwrap();
    assert_eq!(subjects(&found), ["web 4", "web 3"]);
}

#[test]
fn a_revert_that_would_reach_the_commit_that_brought_the_app_is_refused() {
    let (dir, c) = history(&[
        (None, "empty"),
        (Some("v1"), "add the app"),
        (Some("v2"), "web 2"),
    ]);
    let repo = Repository::open_bare(dir.path()).unwrap();
    let at = revision_at(&repo);
    // Neither the primary's commit nor its revision known: before, this walked back to the
    // commit that added the app and reverted it, deleting app.yaml.
    let unknown = Boundary::default();
    let why = bringing_commits(&repo, c[2], unknown, &at).unwrap_err();
    assert!(why.contains("brought the release itself"), "{why}");
    assert!(why.contains("add the app"), "{why}");
    // A primary revision that is nowhere in the history: refused the same way.
    let lost = Boundary {
        commit: None,
        revision: Some("v0"),
    };
    assert!(bringing_commits(&repo, c[2], lost, &at).is_err());
}

#[test]
fn a_revision_reverted_before_and_brought_back_is_reverted_again() {
    let revert = |rev: &str| {
        format!(
            "Revert \"web 2\"\n\n{}\n{}\n",
            trailer(RELEASE_TRAILER, "prod/web"),
            trailer(REVISION_TRAILER, rev)
        )
    };
    let first = revert("aaaaaaaaaaaa");
    let (dir, c) = history(&[
        (Some("v1"), "add the app"),
        (Some("v2"), "web 2"),
        (Some("v1"), &first),
        (Some("v2"), "Revert \"Revert \"web 2\"\""),
    ]);
    let repo = Repository::open_bare(dir.path()).unwrap();
    let head = c[3];
    // The first time (brought by "web 2"): the revert after it counts.
    assert!(already_reverted(
        &repo,
        head,
        c[1],
        "prod/web",
        "aaaaaaaaaaaa"
    ));
    // Brought again by the person's commit: the old revert is before it, so it does not.
    assert!(!already_reverted(
        &repo,
        head,
        c[3],
        "prod/web",
        "aaaaaaaaaaaa"
    ));
}
