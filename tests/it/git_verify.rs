//! Commit verification with real keys: gpg and ssh-keygen make the signed commits.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fledge::source::{Auth, Error, Fetched, Reference, Source, SourceConfig, Verifier};

use super::support::git::{Remote, git, git_env};

fn poll(remote: &Remote, verifier: Verifier) -> Result<String, Error> {
    let cache = tempfile::tempdir().unwrap();
    let mut s = Source::open(SourceConfig {
        url: remote.url(),
        reference: Reference::Branch("main".into()),
        cache_dir: cache.path().to_path_buf(),
        auth: Auth::None,
        timeout: Duration::from_secs(20),
        verify: Some(verifier),
    })
    .unwrap();
    match s.poll()? {
        Fetched::New(snap) => Ok(snap.commit.to_string()),
        Fetched::Unchanged(c) => Ok(c.to_string()),
    }
}

fn commit_signed(remote: &Remote, file: &str, config: &[&str], env: &[(&str, &str)]) -> String {
    let p = remote.person();
    std::fs::write(p.join(file), file).unwrap();
    git(&p, &["add", "-A"]);
    let mut args: Vec<&str> = Vec::new();
    for c in config {
        args.extend(["-c", c]);
    }
    args.extend(["commit", "--quiet", "-S", "-m", file]);
    git_env(&p, &args, env);
    git(&p, &["push", "--quiet", "origin", "HEAD:main"]);
    remote.head()
}

fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("gpg is installed");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn gpg_home(uid: &str) -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("g")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    gpg(
        home.path(),
        &["--quick-gen-key", uid, "ed25519", "sign", "never"],
    );
    home
}

#[test]
fn openpgp_signed_commits_from_trusted_keys_pass_others_are_refused() {
    let remote = Remote::new();
    remote.commit(&[("init", "x")], "unsigned start");
    let trusted = gpg_home("Trusted Signer <trusted@example.com>");
    let stranger = gpg_home("Stranger <stranger@example.com>");
    let keys = trusted.path().join("trusted.asc");
    std::fs::write(
        &keys,
        gpg(
            trusted.path(),
            &["--armor", "--export", "trusted@example.com"],
        ),
    )
    .unwrap();
    let verifier = Verifier {
        openpgp_keys: Some(keys),
        ssh_allowed_signers: None,
    };

    // The unsigned head is refused, and the error names the commit.
    let head = remote.head();
    let err = poll(&remote, verifier.clone()).unwrap_err();
    assert!(matches!(err, Error::Unverified { .. }), "{err}");
    assert!(
        err.to_string().contains(&head) && err.to_string().contains("not signed"),
        "{err}"
    );

    let home = trusted.path().to_str().unwrap();
    let good = commit_signed(
        &remote,
        "good",
        &["user.signingkey=trusted@example.com", "gpg.program=gpg"],
        &[("GNUPGHOME", home)],
    );
    assert_eq!(poll(&remote, verifier.clone()).unwrap(), good);

    let home = stranger.path().to_str().unwrap();
    let bad = commit_signed(
        &remote,
        "bad",
        &["user.signingkey=stranger@example.com", "gpg.program=gpg"],
        &[("GNUPGHOME", home)],
    );
    let err = poll(&remote, verifier).unwrap_err();
    assert!(
        err.to_string().contains(&bad) && err.to_string().contains("OpenPGP"),
        "{err}"
    );
    for h in [&trusted, &stranger] {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", h.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[test]
fn ssh_signed_commits_from_allowed_signers_pass_others_are_refused() {
    let remote = Remote::new();
    remote.commit(&[("init", "x")], "unsigned start");
    let keys = tempfile::tempdir().unwrap();
    for name in ["signer", "stranger"] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(keys.path().join(name))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let pubkey = std::fs::read_to_string(keys.path().join("signer.pub")).unwrap();
    let mut parts = pubkey.split_whitespace();
    let signers = keys.path().join("allowed_signers");
    std::fs::write(
        &signers,
        format!(
            "signer@example.com {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        ),
    )
    .unwrap();
    let verifier = Verifier {
        openpgp_keys: None,
        ssh_allowed_signers: Some(signers),
    };

    let key = |n: &str| {
        format!(
            "user.signingkey={}",
            keys.path().join(format!("{n}.pub")).display()
        )
    };
    let good = commit_signed(&remote, "good", &["gpg.format=ssh", &key("signer")], &[]);
    assert_eq!(poll(&remote, verifier.clone()).unwrap(), good);

    let bad = commit_signed(&remote, "bad", &["gpg.format=ssh", &key("stranger")], &[]);
    let err = poll(&remote, verifier.clone()).unwrap_err();
    assert!(matches!(err, Error::Unverified { .. }), "{err}");
    assert!(
        err.to_string().contains(&bad) && err.to_string().contains("allowed signers"),
        "{err}"
    );

    // An SSH-signed commit with only OpenPGP keys configured is refused with a reason.
    let err = poll(&remote, Verifier::default()).unwrap_err();
    assert!(err.to_string().contains("no SSH allowed signers"), "{err}");
}
