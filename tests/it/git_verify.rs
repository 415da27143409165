//! Signature verification as Flux's `GitRepository` `spec.verify` does it, with real keys: gpg
//! and ssh-keygen make the keys, git signs the commits and tags, gpgv and ssh-keygen check them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fledge::source::{
    Auth, Error, Fetched, Reference, Source, SourceConfig, Verification, Verifier, VerifyMode,
    verify_spec,
};

use super::safety::{NAMESPACE, config_map, daemon};
use super::support::daemon::InProcess;
use super::support::git::{Remote, git, git_env};

/// An `OpenPGP` key in a GnuPG home of its own, which git signs with.
struct Pgp {
    home: tempfile::TempDir,
    email: String,
}

impl Pgp {
    fn new(name: &str) -> Self {
        // Short, for the agent's socket path.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let pgp = Self {
            home,
            email: format!("{name}@example.com"),
        };
        let uid = format!("{name} <{}>", pgp.email);
        pgp.gpg(&["--quick-gen-key", &uid, "ed25519", "sign", "never"]);
        pgp
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", ""])
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

    /// The armored public key, as a Flux Secret's `.asc` entry holds it.
    fn armored(&self) -> Vec<u8> {
        self.gpg(&["--armor", "--export", &self.email])
    }

    /// The primary key's id, as Flux reports it.
    fn key_id(&self) -> String {
        let out =
            String::from_utf8(self.gpg(&["--with-colons", "--list-keys", &self.email])).unwrap();
        let fpr = out
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .unwrap()
            .trim_matches(':')
            .to_owned();
        fpr[fpr.len() - 16..].to_owned()
    }

    /// `git -c …` settings and environment that sign with this key.
    fn signing(&self) -> Signing {
        (
            vec![
                format!("user.signingkey={}", self.email),
                "gpg.program=gpg".into(),
            ],
            vec![("GNUPGHOME".into(), self.home.path().display().to_string())],
        )
    }
}

impl Drop for Pgp {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// An SSH key pair, which git signs with (`gpg.format=ssh`).
struct Ssh {
    dir: tempfile::TempDir,
}

impl Ssh {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(dir.path().join("key"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
        Self { dir }
    }

    fn public(&self) -> PathBuf {
        self.dir.path().join("key.pub")
    }

    /// The `authorized_keys` line, as a Flux Secret's `.sshpub` entry holds it.
    fn authorized_key(&self) -> Vec<u8> {
        std::fs::read(self.public()).unwrap()
    }

    fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.public())
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    fn signing(&self) -> Signing {
        (
            vec![
                "gpg.format=ssh".into(),
                format!("user.signingkey={}", self.public().display()),
            ],
            vec![],
        )
    }
}

/// Runs git in the person's clone with `signing`'s settings.
fn git_signing(remote: &Remote, signing: &Signing, args: &[&str]) {
    let mut all: Vec<&str> = Vec::new();
    for c in &signing.0 {
        all.extend(["-c", c.as_str()]);
    }
    all.extend(args);
    let env: Vec<(&str, &str)> = signing
        .1
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    git_env(&remote.person(), &all, &env);
}

type Signing = (Vec<String>, Vec<(String, String)>);

/// The person commits `file`, signed as `signing` says (unsigned when `None`), and pushes.
fn commit(remote: &Remote, file: &str, signing: Option<&Signing>) -> String {
    commit_files(remote, &[(file, file)], file, signing)
}

/// The person writes `files` and commits them with `message`, signed as `signing` says.
fn commit_files(
    remote: &Remote,
    files: &[(&str, &str)],
    message: &str,
    signing: Option<&Signing>,
) -> String {
    let Some(s) = signing else {
        return remote.commit(files, message);
    };
    let p = remote.person();
    for (path, contents) in files {
        let f = p.join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, contents).unwrap();
    }
    git(&p, &["add", "-A"]);
    git_signing(remote, s, &["commit", "--quiet", "-S", "-m", message]);
    git(&p, &["push", "--quiet", "origin", "HEAD:main"]);
    remote.head()
}

fn keys(entries: &[(&str, Vec<u8>)]) -> Verifier {
    Verifier::from_secret_data(entries.iter().map(|(k, v)| (*k, v.as_slice()))).unwrap()
}

fn config(remote: &Remote, reference: Reference, cache: &Path, v: Verification) -> SourceConfig {
    SourceConfig {
        url: remote.url(),
        reference,
        cache_dir: cache.to_path_buf(),
        auth: Auth::None,
        timeout: Duration::from_secs(20),
        verify: Some(v),
    }
}

/// Polls `reference` from a fresh cache: the commit taken and what was verified, or the error.
fn poll(
    remote: &Remote,
    reference: Reference,
    keys: &Verifier,
    mode: VerifyMode,
) -> Result<(String, String), Error> {
    let cache = tempfile::tempdir().unwrap();
    let v = Verification {
        keys: keys.clone(),
        mode,
    };
    let mut s = Source::open(config(remote, reference, cache.path(), v)).unwrap();
    match s.poll()? {
        Fetched::New(snap) => Ok((snap.commit.to_string(), s.verified().unwrap().to_owned())),
        Fetched::Unchanged(_) => unreachable!("a fresh cache has seen nothing"),
    }
}

fn main() -> Reference {
    Reference::Branch("main".into())
}

/// The refusal's reason (source-controller's) and the error's message.
fn refused(r: Result<(String, String), Error>) -> (&'static str, String) {
    let e = r.expect_err("refused");
    let reason = e.refusal().map_or("not a refusal", |(_, r)| r.reason());
    (reason, e.to_string())
}

#[test]
fn openpgp_signed_commits_from_trusted_keys_pass_others_are_refused() {
    let remote = Remote::new();
    let trusted = Pgp::new("trusted");
    let stranger = Pgp::new("stranger");
    let verifier = keys(&[("author.asc", trusted.armored())]);

    // The unsigned head is refused, and the error names the commit.
    let unsigned = commit(&remote, "unsigned", None);
    let (reason, message) = refused(poll(&remote, main(), &verifier, VerifyMode::Head));
    assert_eq!(reason, "InvalidCommitSignature");
    assert!(
        message.contains(&unsigned) && message.contains("not signed"),
        "{message}"
    );

    let good = commit(&remote, "good", Some(&trusted.signing()));
    let (taken, verified) = poll(&remote, main(), &verifier, VerifyMode::Head).unwrap();
    assert_eq!(taken, good);
    assert_eq!(
        verified,
        format!(
            "verified signature of commit '{good}' with key '{}'",
            trusted.key_id()
        )
    );

    let bad = commit(&remote, "bad", Some(&stranger.signing()));
    let (reason, message) = refused(poll(&remote, main(), &verifier, VerifyMode::Head));
    assert_eq!(reason, "InvalidCommitSignature");
    assert!(
        message.contains(&bad) && message.contains("not from a trusted key"),
        "{message}"
    );
    // A key under a name with no known suffix is a key ring too (Flux's fallback), and any of
    // several rings may verify.
    let both = keys(&[
        ("stranger", stranger.armored()),
        ("other.asc", trusted.armored()),
    ]);
    assert_eq!(
        poll(&remote, main(), &both, VerifyMode::Head).unwrap().0,
        bad
    );
}

#[test]
fn ssh_signed_commits_from_trusted_keys_pass_others_are_refused() {
    let remote = Remote::new();
    let signer = Ssh::new("signer");
    let stranger = Ssh::new("stranger");
    let verifier = keys(&[("signer.sshpub", signer.authorized_key())]);

    let good = commit(&remote, "good", Some(&signer.signing()));
    let (taken, verified) = poll(&remote, main(), &verifier, VerifyMode::Head).unwrap();
    assert_eq!(taken, good);
    assert!(verified.ends_with(&format!("with key '{}'", signer.fingerprint())));

    let bad = commit(&remote, "bad", Some(&stranger.signing()));
    let (reason, message) = refused(poll(&remote, main(), &verifier, VerifyMode::Head));
    assert_eq!(reason, "InvalidCommitSignature");
    assert!(
        message.contains(&bad) && message.contains("not from a trusted key"),
        "{message}"
    );

    // An SSH-signed commit with only OpenPGP keys trusted is refused, saying so.
    let pgp_only = keys(&[("author.asc", Pgp::new("pgp").armored())]);
    let (_, message) = refused(poll(&remote, main(), &pgp_only, VerifyMode::Head));
    assert!(
        message.contains("no SSH public keys are trusted"),
        "{message}"
    );
}

/// A tag as the person makes it.
#[derive(Clone, Copy)]
enum Tagged<'a> {
    Signed(&'a Signing),
    Annotated,
    Lightweight,
}

/// Tags `v<version>` at the head and pushes it.
fn tag(remote: &Remote, version: &str, kind: Tagged) {
    let name = format!("v{version}");
    match kind {
        Tagged::Signed(s) => git_signing(remote, s, &["tag", "-s", &name, "-m", "release"]),
        Tagged::Annotated => drop(git(
            &remote.person(),
            &["tag", "-a", &name, "-m", "release"],
        )),
        Tagged::Lightweight => drop(git(&remote.person(), &["tag", &name])),
    }
    git(&remote.person(), &["push", "--quiet", "origin", &name]);
}

#[test]
fn tag_modes_verify_the_annotated_tag_the_reference_names() {
    let remote = Remote::new();
    let trusted = Pgp::new("trusted");
    let stranger = Pgp::new("stranger");
    let ssh = Ssh::new("ssh");
    let verifier = keys(&[
        ("author.asc", trusted.armored()),
        ("ci.sshpub", ssh.authorized_key()),
    ]);
    let t = |v: &str| Reference::Tag(format!("v{v}"));
    let unsigned = commit(&remote, "one", None);
    tag(&remote, "1.0.0", Tagged::Signed(&trusted.signing()));

    // Tag: the signed tag passes though its commit is unsigned; TagAndHEAD wants both.
    let (taken, verified) = poll(&remote, t("1.0.0"), &verifier, VerifyMode::Tag).unwrap();
    assert_eq!(taken, unsigned);
    assert!(
        verified.starts_with("verified signature of tag 'v1.0.0@")
            && verified.ends_with(&format!("with key '{}'", trusted.key_id())),
        "{verified}"
    );
    let semver = Reference::Semver("^1".parse().unwrap());
    assert_eq!(
        poll(&remote, semver, &verifier, VerifyMode::Tag).unwrap().0,
        unsigned
    );
    let (reason, message) = refused(poll(&remote, t("1.0.0"), &verifier, VerifyMode::TagAndHead));
    assert_eq!(reason, "InvalidCommitSignature", "{message}");

    // Both signed (the tag with SSH, the commit with OpenPGP): TagAndHEAD passes.
    let signed = commit(&remote, "two", Some(&trusted.signing()));
    tag(&remote, "1.1.0", Tagged::Signed(&ssh.signing()));
    let (taken, verified) = poll(&remote, t("1.1.0"), &verifier, VerifyMode::TagAndHead).unwrap();
    assert_eq!(taken, signed);
    assert!(
        verified.contains(&ssh.fingerprint()) && verified.contains(&trusted.key_id()),
        "{verified}"
    );

    // Unsigned annotated and lightweight tags, and a tag by a stranger, are refused.
    tag(&remote, "1.2.0", Tagged::Annotated);
    tag(&remote, "1.3.0", Tagged::Lightweight);
    tag(&remote, "1.4.0", Tagged::Signed(&stranger.signing()));
    for (version, want) in [
        ("1.2.0", "InvalidGitObject"),
        ("1.3.0", "InvalidGitObject"),
        ("1.4.0", "InvalidTagSignature"),
    ] {
        let (reason, message) = refused(poll(&remote, t(version), &verifier, VerifyMode::Tag));
        assert_eq!(reason, want, "{message}");
        assert!(
            message.contains(&signed) && message.contains(&format!("v{version}")),
            "{message}"
        );
    }
    // A tag mode on a branch has no tag to verify.
    let (reason, message) = refused(poll(&remote, main(), &verifier, VerifyMode::Tag));
    assert_eq!(reason, "InvalidVerificationMode", "{message}");
}

#[test]
fn a_commit_of_the_cache_is_checked_against_a_spec_verify() {
    let remote = Remote::new();
    let trusted = Pgp::new("trusted");
    let first = commit(&remote, "one", Some(&trusted.signing()));
    tag(&remote, "1.0.0", Tagged::Signed(&trusted.signing()));
    let second = commit(&remote, "two", None);
    let cache = tempfile::tempdir().unwrap();
    let secret = keys(&[("author.asc", trusted.armored())]);
    let spec = |mode| Verification {
        keys: secret.clone(),
        mode: VerifyMode::from_flux(mode).unwrap(),
    };
    // The daemon polls without verification; a GitRepository's spec.verify is checked after.
    let polled = |reference| {
        let mut cfg = config(&remote, reference, cache.path(), spec(None));
        cfg.verify = None;
        Source::open(cfg.clone()).unwrap().poll().unwrap();
        cfg
    };
    let on_main = polled(main());
    verify_spec(&on_main, &second, &spec(None)).unwrap_err();
    assert!(verify_spec(&on_main, &first, &spec(Some("head"))).is_ok());
    let err = verify_spec(&on_main, &first, &spec(Some("Tag"))).unwrap_err();
    assert_eq!(err.refusal().unwrap().1.reason(), "InvalidVerificationMode");

    let on_tag = polled(Reference::Tag("v1.0.0".into()));
    let verified = verify_spec(&on_tag, &first, &spec(Some("TagAndHEAD"))).unwrap();
    assert!(
        verified.contains("tag 'v1.0.0@") && verified.contains(&first),
        "{verified}"
    );
    assert_eq!(VerifyMode::from_flux(Some("Head")), None, "Flux's enum");
}

#[test]
fn keys_are_read_as_a_mounted_secret_holds_them_and_never_quoted() {
    let ssh = Ssh::new("ssh");
    // A mounted Secret: `..data` links to a timestamped directory, each key links into it.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("..2026_01_01");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("ci.sshpub"), ssh.authorized_key()).unwrap();
    std::os::unix::fs::symlink(&data, dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/ci.sshpub", dir.path().join("ci.sshpub")).unwrap();
    let v = Verifier::from_path(dir.path()).unwrap();
    assert_eq!(
        format!("{v:?}"),
        "Verifier { openpgp: [], ssh: [\"ci.sshpub\"], .. }"
    );

    std::fs::write(
        data.join("ci.sshpub"),
        "# ours\nssh-ed25519\nsecret-looking-text\n",
    )
    .unwrap();
    let err = Verifier::from_path(dir.path()).unwrap_err();
    assert!(err.contains("ci.sshpub line 2"), "{err}");
    assert!(!err.contains("secret-looking-text"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = Verifier::from_path(empty.path()).unwrap_err();
    assert!(err.contains("holds no key"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_never_applies_an_unsigned_commit_and_applies_the_signed_one_after_it() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let trusted = Pgp::new("trusted");
    // The keys as a Flux verification Secret mounted as a volume holds them.
    let secret = root.path().join("verify-keys");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("author.asc"), trusted.armored()).unwrap();
    let settings = |v: &str| config_map("settings", v);
    let signing = trusted.signing();
    let files = |v: &str| {
        [
            ("apps/namespace.yaml", NAMESPACE.to_owned()),
            ("apps/settings.yaml", settings(v)),
        ]
    };
    let commit_settings = |v: &str, signing: Option<&Signing>| {
        let f = files(v);
        let f: Vec<(&str, &str)> = f.iter().map(|(p, c)| (*p, c.as_str())).collect();
        commit_files(&remote, &f, v, signing)
    };
    let value = |d: &InProcess| d.config_map("settings").map(|c| c["data"]["value"].clone());

    let first = commit_settings("1", Some(&signing));
    let d = daemon(&remote, root.path(), "apps")
        .args([OsStr::new("--verify-keys"), secret.as_os_str()])
        .in_process()
        .await;
    d.until("the signed commit applied", |d| {
        value(d) == Some("1".into())
    })
    .await;

    let unsigned = commit_settings("2", None);
    d.until("the unsigned commit refused", |d| {
        d.shared.sync().message.contains(&unsigned)
    })
    .await;
    let status = d.shared.sync().clone();
    assert_eq!(status.reason.as_str(), "VerificationFailed", "{status:?}");
    assert_eq!(
        status.refused_commit.as_ref().map(ToString::to_string),
        Some(unsigned.clone())
    );
    assert!(status.message.contains("not signed"), "{}", status.message);
    assert!(!status.ready);
    assert_eq!(status.commit.as_deref(), Some(first.as_str()));
    d.rounds(2).await;
    assert_eq!(
        value(&d),
        Some("1".into()),
        "the cluster keeps the signed commit's objects"
    );

    let signed = commit_settings("3", Some(&signing));
    d.until("the signed commit after it applied", |d| {
        let s = d.shared.sync();
        value(d) == Some("3".into())
            && s.ready
            && s.commit.as_deref() == Some(signed.as_str())
            && s.refused_commit.is_none()
    })
    .await;
    d.stop().await;
}

#[test]
fn fledge_run_needs_the_verifiers_of_the_keys_it_is_given_and_the_image_has_them() {
    use fledge::cli::run::programs_needed;
    use fledge::daemon::config::{Environment, RunArgs, validate};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("author.asc"), Pgp::new("a").armored()).unwrap();
    let needed = |keys: &Path| {
        let args = RunArgs {
            repo: Some("https://example.com/org/config.git".into()),
            cluster: Some("sim".into()),
            metrics_provider: Some("sim".into()),
            verify_keys: Some(keys.to_path_buf()),
            ..RunArgs::default()
        };
        let config = validate(&args, &Environment::default()).unwrap();
        let programs: Vec<&str> = programs_needed(&config)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        programs
    };
    assert_eq!(needed(dir.path()), ["gpgv"]);
    std::fs::write(
        dir.path().join("ci.sshpub"),
        Ssh::new("ci").authorized_key(),
    )
    .unwrap();
    assert_eq!(needed(dir.path()), ["gpgv", "ssh-keygen"]);
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/Dockerfile")).unwrap();
    let install = dockerfile
        .split("apt-get install")
        .nth(2)
        .expect("the runtime stage installs packages");
    let packages: Vec<&str> = install.split_whitespace().collect();
    for package in ["gpgv", "openssh-client"] {
        assert!(packages.contains(&package), "{package}: {packages:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poll_state_carries_the_refused_commit_and_what_was_verified() {
    use std::sync::Arc;

    use fledge::source::poller::{self, PollState, Timing};
    use tokio::sync::{Notify, watch};
    use tokio_util::sync::CancellationToken;

    let remote = Remote::new();
    let trusted = Pgp::new("trusted");
    let good = commit(&remote, "good", Some(&trusted.signing()));
    let cache = tempfile::tempdir().unwrap();
    let v = Verification {
        keys: keys(&[("author.asc", trusted.armored())]),
        mode: VerifyMode::Head,
    };
    let (tx, mut rx) = watch::channel(PollState::default());
    let shutdown = CancellationToken::new();
    let timing = Timing {
        interval: Duration::from_millis(20),
        ..Timing::default()
    };
    let cfg = config(&remote, main(), cache.path(), v);
    let task = tokio::spawn(poller::run(
        cfg,
        timing,
        Arc::new(Notify::new()),
        tx,
        shutdown.clone(),
    ));
    let at = |s: &PollState| s.snapshot.as_ref().map(|s| s.commit.to_string());
    let mut wait = async |what: &str, done: &dyn Fn(&PollState) -> bool| {
        tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| done(s)))
            .await
            .unwrap_or_else(|_| panic!("never: {what}"))
            .unwrap()
            .clone()
    };
    let s = wait("the signed commit", &|s| at(s) == Some(good.clone())).await;
    assert!(
        s.verified.as_deref().unwrap().contains(&trusted.key_id()),
        "{s:?}"
    );
    assert_eq!(s.refused, None);

    let unsigned = commit(&remote, "unsigned", None);
    let s = wait("the refusal", &|s| s.refused.is_some()).await;
    let refused = s.refused.clone().unwrap();
    assert_eq!(refused.commit.to_string(), unsigned);
    assert_eq!(refused.refusal.reason(), "InvalidCommitSignature");
    assert!(s.error.as_deref().unwrap().contains(&unsigned));
    assert_eq!(at(&s), Some(good), "the snapshot stays the signed commit's");

    let signed = commit(&remote, "signed", Some(&trusted.signing()));
    let s = wait("the next signed commit", &|s| at(s) == Some(signed.clone())).await;
    assert_eq!((s.refused, s.error), (None, None));
    shutdown.cancel();
    task.await.unwrap();
}

/// The repository of a Flux cluster path whose GitRepository asks for `spec.verify` with the
/// keys of the Secret `git-keys`, and a ConfigMap of `value`.
fn flux_verified(value: &str) -> Vec<(&'static str, String)> {
    let sync = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: flux-system, namespace: flux-system}\nspec:\n  interval: 1m\n  ref: {branch: main}\n  url: ssh://git@example.com/org/fleet\n  verify: {mode: HEAD, secretRef: {name: git-keys}}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: flux-system, namespace: flux-system}\nspec:\n  interval: 10m\n  path: ./clusters/prod\n  prune: true\n  sourceRef: {kind: GitRepository, name: flux-system}\n";
    vec![
        ("clusters/prod/gotk-sync.yaml", sync.to_owned()),
        ("clusters/prod/namespace.yaml", NAMESPACE.to_owned()),
        ("clusters/prod/settings.yaml", config_map("settings", value)),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_git_repositorys_spec_verify_refuses_an_unsigned_commit_with_the_keys_of_its_secret() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let trusted = Pgp::new("trusted");
    let signing = trusted.signing();
    let commit_settings = |v: &str, signing: Option<&Signing>| {
        let f = flux_verified(v);
        let f: Vec<(&str, &str)> = f.iter().map(|(p, c)| (*p, c.as_str())).collect();
        commit_files(&remote, &f, v, signing)
    };
    let value = |d: &InProcess| d.config_map("settings").map(|c| c["data"]["value"].clone());
    let first = commit_settings("1", Some(&signing));
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    // No Secret yet: nothing is applied, and the sync says why.
    d.until("refused for want of keys", |d| {
        d.shared
            .sync()
            .message
            .contains("flux-system/git-keys does not exist")
    })
    .await;
    assert_eq!(d.shared.sync().reason.as_str(), "VerificationFailed");
    assert!(value(&d).is_none());
    // The Secret, as `flux create secret git --pgp-public-keys` makes it.
    let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "git-keys", "namespace": "flux-system"},
        "stringData": {"author.asc": String::from_utf8(trusted.armored()).unwrap()}});
    {
        let now = d.sim.now();
        d.sim.sim.lock().unwrap().apply(secret, now).unwrap();
    }
    // Checked again an interval later, with the keys the Secret now holds: the signed commit
    // applies without a new one.
    d.until("the refused commit verified again", |d| {
        value(d) == Some("1".into())
    })
    .await;
    assert_eq!(d.shared.sync().commit.as_deref(), Some(first.as_str()));
    // The next signed one applies, the unsigned one after it does not.
    let signed = commit_settings("2", Some(&signing));
    d.until("the signed commit applied", |d| {
        value(d) == Some("2".into())
    })
    .await;
    assert_ne!(first, signed);
    let unsigned = commit_settings("3", None);
    d.until("the unsigned commit refused", |d| {
        let s = d.shared.sync();
        s.commit.as_deref() == Some(unsigned.as_str()) && !s.ready
    })
    .await;
    let status = d.shared.sync().clone();
    assert_eq!(status.reason.as_str(), "VerificationFailed", "{status:?}");
    assert!(
        status
            .message
            .contains("GitRepository flux-system spec.verify")
            && status.message.contains("not signed"),
        "{}",
        status.message
    );
    d.rounds(2).await;
    assert_eq!(
        value(&d),
        Some("2".into()),
        "the cluster keeps the signed commit"
    );
    d.stop().await;
}

/// A cluster path declaring the GitRepository `apps` at `url`, whose commits `spec.verify`
/// checks against the keys of the Secret `apps-keys`, and a Kustomization of its `./deploy`.
fn further_verified(url: &str) -> Vec<(&'static str, String)> {
    let apps = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: apps, namespace: flux-system}}\nspec:\n  interval: 1s\n  ref: {{branch: main}}\n  url: {url}\n  verify: {{mode: HEAD, secretRef: {{name: apps-keys}}}}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: apps, namespace: flux-system}}\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  sourceRef: {{kind: GitRepository, name: apps}}\n"
    );
    vec![
        ("clusters/prod/apps.yaml", apps),
        ("clusters/prod/namespace.yaml", NAMESPACE.to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_further_git_repositorys_spec_verify_keeps_its_kustomization_at_the_last_signed_commit() {
    let remote = Remote::new();
    let apps = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let signer = Ssh::new("signer");
    let deploy = |v: &str, signing: Option<&Signing>| {
        let settings = config_map("settings", v);
        let files = [("deploy/settings.yaml", settings.as_str())];
        commit_files(&apps, &files, v, signing)
    };
    let value = |d: &InProcess| d.config_map("settings").map(|c| c["data"]["value"].clone());
    let unit = |d: &InProcess| {
        let s = d.shared.sync();
        s.units
            .iter()
            .find(|u| u.name == "flux-system/apps")
            .cloned()
    };
    let first = deploy("1", Some(&signer.signing()));
    let files = further_verified(&apps.url());
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    remote.commit(&files, "apps, verified");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    // No Secret yet: nothing of apps is built, and its status says why.
    d.until("apps refused for want of keys", |d| {
        unit(d).is_some_and(|u| {
            u.message
                .contains("Secret flux-system/apps-keys does not exist")
        })
    })
    .await;
    assert!(value(&d).is_none());
    // The Secret, as `flux create secret git` makes it with an SSH public key.
    let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "apps-keys", "namespace": "flux-system"},
        "stringData": {"signer.sshpub": String::from_utf8(signer.authorized_key()).unwrap()}});
    {
        let now = d.sim.now();
        d.sim.sim.lock().unwrap().apply(secret, now).unwrap();
    }
    // Applied, and recorded as applied (the record follows the apply).
    d.until("the signed commit applied", |d| {
        value(d) == Some("1".into()) && unit(d).is_some_and(|u| u.last_applied_revision.is_some())
    })
    .await;
    assert_eq!(
        unit(&d).unwrap().last_applied_revision.as_deref(),
        Some(first.as_str())
    );
    // An unsigned commit is never built: apps stays at the signed one, and the sync says why.
    let unsigned = deploy("2", None);
    d.until("the unsigned commit refused", |d| {
        d.shared
            .sync()
            .warnings
            .iter()
            .any(|w| w.contains("GitRepository flux-system/apps") && w.contains(&unsigned))
    })
    .await;
    d.rounds(2).await;
    assert_eq!(value(&d), Some("1".into()));
    assert_eq!(
        unit(&d).unwrap().last_applied_revision.as_deref(),
        Some(first.as_str())
    );
    // The next signed commit is.
    let signed = deploy("3", Some(&signer.signing()));
    d.until("the next signed commit applied", |d| {
        unit(d).is_some_and(|u| u.last_applied_revision.as_deref() == Some(signed.as_str()))
    })
    .await;
    assert_eq!(value(&d), Some("3".into()));
    d.stop().await;
}
