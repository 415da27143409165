//! Image automation's commits and pushes against real Git, as image-automation-controller
//! v1.2.0 makes them: a commit signed by an OpenPGP key made by `gpg` (locked by a passphrase)
//! that `git verify-commit` accepts; a push branch created from the checkout branch, then
//! updated on its own history; a refspec pushed after the branch, never forced; push options
//! delivered to the remote's hooks.

use std::time::Duration;

use fledge::writeback::setters::Setters;
use fledge::writeback::sign::{CommitSigner, KeyError};
use fledge::writeback::{
    Also, AlsoSource, Change, Error, GitWriter, Target, WriterConfig, Written,
};

use super::support::git::{Remote, assert_fast_forwards_only, git};
use super::support::gpg::Gpg;

const APP: &str = "apps/app.yaml";

fn app(tag: &str) -> String {
    format!("image: ghcr.io/shop/app:{tag} # {{\"$imagepolicy\": \"shop:app\"}}\n")
}

/// The automation's change: `shop:app` at `tag`, under `apps`.
fn setters(tag: &str) -> Change {
    let mut s = Setters::default();
    s.add("shop", "app", "ghcr.io/shop/app", tag, None);
    Change::Setters {
        path: "apps".into(),
        setters: s,
        message: format!("app {tag}"),
    }
}

fn writer(url: &str, signer: Option<CommitSigner>) -> (GitWriter, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = WriterConfig::new(url, cache.path().to_path_buf());
    cfg.author_name = "image-bot".into();
    cfg.author_email = "bot@example.com".into();
    cfg.min_backoff = Duration::from_millis(5);
    cfg.signer = signer.map(std::sync::Arc::new);
    (GitWriter::open(cfg).unwrap(), cache)
}

fn rev(remote: &Remote, r: &str) -> String {
    git(&remote.bare(), &["rev-parse", r]).trim().to_owned()
}

fn tag_on(remote: &Remote, branch: &str) -> String {
    let text = remote.show(branch, APP).unwrap();
    text.split(':')
        .nth(2)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_commit_signed_by_a_protected_key_verifies_with_git_and_a_wrong_passphrase_is_named() {
    let key = Gpg::new("signer", "s3cret pass");
    let armored = key.secret_key();
    assert!(armored.contains("BEGIN PGP PRIVATE KEY BLOCK"));
    let e = CommitSigner::new(armored.as_bytes(), Some(b"not it")).unwrap_err();
    assert_eq!(e, KeyError::WrongPassphrase);
    assert_eq!(
        CommitSigner::new(armored.as_bytes(), None).unwrap_err(),
        KeyError::NoPassphrase
    );
    let signer = CommitSigner::new(armored.as_bytes(), Some(key.passphrase.as_bytes())).unwrap();
    assert_eq!(signer.fingerprint(), key.fingerprint());

    let remote = Remote::new();
    remote.commit(&[(APP, &app("1.0.0"))], "app");
    let (w, _c) = writer(&remote.url(), Some(signer));
    let written = w
        .write_to(&Target::branch("main"), &setters("1.1.0"), "image-update")
        .await
        .unwrap();
    assert!(matches!(written, Written::Pushed { .. }), "{written:?}");
    assert_eq!(tag_on(&remote, "main"), "1.1.0");
    let raw = git(&remote.bare(), &["cat-file", "commit", "main"]);
    assert!(
        raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----"),
        "{raw}"
    );
    let status = key.verify_commit(&remote.bare(), "main").unwrap();
    assert!(
        status.contains(&format!("VALIDSIG {}", key.fingerprint())),
        "{status}"
    );
    // The person's commit before it is not signed: verify-commit tells them apart.
    assert!(key.verify_commit(&remote.bare(), "main~1").is_err());
}

#[tokio::test]
async fn a_push_branch_is_created_from_the_checkout_branch_then_updated_on_its_own_history() {
    let remote = Remote::new();
    let start = remote.commit(&[(APP, &app("1.0.0"))], "app");
    let (w, _c) = writer(&remote.url(), None);
    let target = Target {
        from: Some("main".into()),
        ..Target::branch("auto")
    };
    w.write_to(&target, &setters("1.1.0"), "image-update")
        .await
        .unwrap();
    assert_eq!(tag_on(&remote, "auto"), "1.1.0");
    assert_eq!(rev(&remote, "auto~1"), start, "created from main");
    assert_eq!(rev(&remote, "main"), start, "main untouched");

    // A person adds to the push branch; main moves on too.
    let p = remote.person();
    git(&p, &["fetch", "--quiet", "origin"]);
    git(&p, &["checkout", "--quiet", "-b", "auto", "origin/auto"]);
    std::fs::write(p.join("notes.txt"), "reviewed\n").unwrap();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "--quiet", "-m", "a person's review note"]);
    git(&p, &["push", "--quiet", "origin", "auto"]);
    let persons = git(&p, &["rev-parse", "HEAD"]).trim().to_owned();
    git(&p, &["checkout", "--quiet", "main"]);
    let on_main = remote.commit(&[("apps/other.yaml", "a: 1\n")], "other");

    w.write_to(&target, &setters("1.2.0"), "image-update")
        .await
        .unwrap();
    assert_eq!(tag_on(&remote, "auto"), "1.2.0");
    assert_eq!(
        rev(&remote, "auto~1"),
        persons,
        "built on the push branch's history"
    );
    assert!(
        !remote.is_ancestor(&on_main, "auto"),
        "main is not merged in"
    );
    assert_eq!(rev(&remote, "main"), on_main);
    // Created, the person's commit, the update: each a fast-forward.
    assert_eq!(assert_fast_forwards_only(&remote.bare(), "auto"), 3);
    // The same tag again changes nothing.
    let again = w.write_to(&target, &setters("1.2.0"), "image-update").await;
    assert_eq!(again.unwrap(), Written::Unchanged);
}

#[tokio::test]
async fn a_refspec_pushes_after_the_branch_and_is_never_forced() {
    let remote = Remote::new();
    let start = remote.commit(&[(APP, &app("1.0.0"))], "app");
    let (w, _c) = writer(&remote.url(), None);
    // From the push branch (here the checkout branch): the new commit.
    let mirror = Target {
        also: Some(Also {
            source: AlsoSource::Commit,
            dst: "refs/heads/mirror".into(),
        }),
        ..Target::branch("main")
    };
    w.write_to(&mirror, &setters("1.1.0"), "image-update")
        .await
        .unwrap();
    assert_eq!(rev(&remote, "mirror"), rev(&remote, "main"));
    assert_eq!(tag_on(&remote, "mirror"), "1.1.0");

    // The destination went elsewhere: the branch gets the commit, the refspec is refused.
    let p = remote.person();
    git(&p, &["pull", "--quiet", "origin", "main"]);
    git(&p, &["checkout", "--quiet", "--orphan", "elsewhere"]);
    git(
        &p,
        &["commit", "--quiet", "--allow-empty", "-m", "unrelated"],
    );
    git(
        &p,
        &["push", "--quiet", "--force", "origin", "elsewhere:mirror"],
    );
    git(&p, &["checkout", "--quiet", "main"]);
    let theirs = rev(&remote, "mirror");
    let e = w
        .write_to(&mirror, &setters("1.2.0"), "image-update")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AlsoRefused { .. }), "{e}");
    assert!(e.to_string().contains("never force-pushes"), "{e}");
    assert_eq!(tag_on(&remote, "main"), "1.2.0");
    assert_eq!(rev(&remote, "mirror"), theirs, "not forced");

    // From the checkout branch while the push branch differs: its head, as fetched.
    let release = Target {
        from: Some("main".into()),
        also: Some(Also {
            source: AlsoSource::From,
            dst: "refs/heads/release".into(),
        }),
        ..Target::branch("auto")
    };
    w.write_to(&release, &setters("1.3.0"), "image-update")
        .await
        .unwrap();
    assert_eq!(rev(&remote, "release"), rev(&remote, "main"));
    assert_eq!(tag_on(&remote, "auto"), "1.3.0");
    assert!(remote.is_ancestor(&start, "release"));
}

/// A bare repository that advertises push options (or not) and whose pre-receive hook
/// records the options of every push.
fn recording_remote(advertise: bool) -> Remote {
    let remote = Remote::new();
    remote.commit(&[(APP, &app("1.0.0"))], "app");
    let bare = remote.bare();
    git(
        &bare,
        &[
            "config",
            "receive.advertisePushOptions",
            &advertise.to_string(),
        ],
    );
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\ni=0\nwhile [ \"$i\" -lt \"${GIT_PUSH_OPTION_COUNT:-0}\" ]; do\n  eval \"echo \\\"\\$GIT_PUSH_OPTION_$i\\\"\" >> \"$GIT_DIR/push-options\"\n  i=$((i+1))\ndone\necho push >> \"$GIT_DIR/push-options\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    remote
}

#[tokio::test]
async fn push_options_reach_the_remotes_hooks_with_every_push() {
    let remote = recording_remote(true);
    let (w, _c) = writer(&remote.url(), None);
    let target = Target {
        options: vec!["merge_request.create=".into(), "topic=images".into()],
        also: Some(Also {
            source: AlsoSource::Commit,
            dst: "refs/heads/review".into(),
        }),
        ..Target::branch("main")
    };
    w.write_to(&target, &setters("1.1.0"), "image-update")
        .await
        .unwrap();
    let seen = std::fs::read_to_string(remote.bare().join("push-options")).unwrap();
    assert_eq!(
        seen,
        "merge_request.create=\ntopic=images\npush\nmerge_request.create=\ntopic=images\npush\n"
    );

    // A remote that takes no push options refuses the push, saying so; nothing lands.
    let plain = recording_remote(false);
    let before = plain.head();
    let (w, _c) = writer(&plain.url(), None);
    let e = w
        .write_to(&target, &setters("1.1.0"), "image-update")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("push options"), "{e}");
    assert_eq!(plain.head(), before);
}
