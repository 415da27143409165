//! Real Git for the tests: bare remotes over file:// and a person using the git CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir`, panicking with its output on failure; returns stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    git_env(dir, args, &[])
}

pub(crate) fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_AUTHOR_NAME", "Person")
        .env("GIT_AUTHOR_EMAIL", "person@example.com")
        .env("GIT_COMMITTER_NAME", "Person")
        .env("GIT_COMMITTER_EMAIL", "person@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that every update of `branch` in the bare repository's reflog was a fast-forward
/// (each entry descends from the one before); returns how many entries the reflog has.
pub(crate) fn assert_fast_forwards_only(bare: &Path, branch: &str) -> usize {
    let reflog = git(bare, &["reflog", "show", "--format=%H", branch]);
    let entries: Vec<&str> = reflog.lines().collect();
    for pair in entries.windows(2) {
        let ok = Command::new("git")
            .current_dir(bare)
            .args(["merge-base", "--is-ancestor", pair[1], pair[0]])
            .status()
            .unwrap()
            .success();
        assert!(ok, "non-fast-forward update {} -> {}", pair[1], pair[0]);
    }
    entries.len()
}

/// A bare repository with `main`, its reflog kept for every update, and a person's clone.
pub(crate) struct Remote {
    pub(crate) dir: tempfile::TempDir,
}

impl Remote {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &["init", "--quiet", "--bare", "-b", "main", "remote.git"],
        );
        git(
            &dir.path().join("remote.git"),
            &["config", "core.logAllRefUpdates", "always"],
        );
        let r = Self { dir };
        git(
            r.dir.path(),
            &["clone", "--quiet", r.url().as_str(), "person"],
        );
        r
    }

    pub(crate) fn bare(&self) -> PathBuf {
        self.dir.path().join("remote.git")
    }

    pub(crate) fn url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    pub(crate) fn person(&self) -> PathBuf {
        self.dir.path().join("person")
    }

    /// [`Remote::commit`] of files given as owned paths and contents.
    pub(crate) fn commit_owned(&self, files: &[(String, String)], message: &str) -> String {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        self.commit(&refs, message)
    }

    /// The person writes files, commits and pushes (pulling again when fledge pushed first);
    /// returns the person's commit id.
    pub(crate) fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        let p = self.person();
        if git(&self.bare(), &["branch", "--list", "main"]).contains("main") {
            git(&p, &["pull", "--quiet", "--rebase", "origin", "main"]);
        }
        for (path, contents) in files {
            let f = p.join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, contents).unwrap();
        }
        git(&p, &["add", "-A"]);
        git(&p, &["commit", "--quiet", "-m", message]);
        // As a person does when fledge pushed first (a promotion record, a revert): pull and
        // push again.
        for attempt in 1.. {
            let pushed = Command::new("git")
                .current_dir(&p)
                .args(["push", "--quiet", "origin", "HEAD:main"])
                .output()
                .expect("git runs");
            if pushed.status.success() {
                break;
            }
            assert!(
                attempt < 5,
                "git push failed: {}",
                String::from_utf8_lossy(&pushed.stderr)
            );
            git(&p, &["pull", "--quiet", "--rebase", "origin", "main"]);
        }
        git(&p, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub(crate) fn head(&self) -> String {
        git(&self.bare(), &["rev-parse", "refs/heads/main"])
            .trim()
            .to_owned()
    }

    /// Files of a commit on the remote.
    pub(crate) fn show(&self, rev: &str, path: &str) -> Option<String> {
        let out = Command::new("git")
            .current_dir(self.bare())
            .args(["show", &format!("{rev}:{path}")])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn is_ancestor(&self, a: &str, b: &str) -> bool {
        Command::new("git")
            .current_dir(self.bare())
            .args(["merge-base", "--is-ancestor", a, b])
            .status()
            .unwrap()
            .success()
    }
}

/// Pushes one file with a fresh `GitWriter` over `url` with `auth`, and checks it landed.
pub(crate) async fn write_one_file(
    remote: &Remote,
    url: &str,
    auth: fledge::source::Auth,
    content: &str,
) {
    use fledge::writeback::{Change, Edit, GitWriter, WriterConfig, Written};
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = WriterConfig::new(url, cache.path().to_path_buf());
    cfg.auth = auth;
    let w = GitWriter::open(cfg).unwrap();
    let change = Change::Edits {
        edits: vec![Edit {
            path: "b.yaml".into(),
            content: Some(content.as_bytes().to_vec()),
        }],
        message: format!("write {content}"),
    };
    let written = w.write("main", &change, "test").await.unwrap();
    assert!(matches!(written, Written::Pushed { .. }), "{written:?}");
    assert_eq!(remote.show("main", "b.yaml").as_deref(), Some(content));
}
