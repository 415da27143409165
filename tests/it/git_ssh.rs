//! Git over ssh through a real `sshd` (Debian's openssh-server) on a loopback port, with
//! generated host and user keys.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use fledge::source::{Auth, Error, Fetched, Reference, Source, SourceConfig, SshAuth};

use super::support::git::{Remote, write_one_file};

struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen is installed")
        .success();
    assert!(ok);
}

impl Sshd {
    #[expect(
        clippy::zombie_processes,
        reason = "the child is owned by Sshd, whose Drop kills and waits for it"
    )]
    fn start() -> Self {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("sshd is not installed: `apt-get install openssh-server` (.ci/run does)");
        // sshd insists on its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("host_key"));
        keygen(&dir.path().join("user_key"));
        std::fs::copy(
            dir.path().join("user_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin yes\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .stderr(std::fs::File::create(dir.path().join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        // Wait (bounded) until it accepts connections.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port, dir };
            }
            std::thread::park_timeout(Duration::from_millis(25));
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
        );
    }

    fn known_hosts(&self, key_file: &str) -> PathBuf {
        let pubkey = std::fs::read_to_string(self.dir.path().join(key_file)).unwrap();
        let mut parts = pubkey.split_whitespace();
        let line = format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            parts.next().unwrap(),
            parts.next().unwrap()
        );
        let path = self.dir.path().join(format!("known_hosts-{key_file}"));
        std::fs::write(&path, line).unwrap();
        path
    }

    fn auth(&self, known_hosts: PathBuf) -> Auth {
        Auth::Ssh(SshAuth {
            private_key: self.dir.path().join("user_key"),
            passphrase: None,
            known_hosts,
            accept_unknown_hosts: false,
        })
    }

    fn url(&self, repo: &Path) -> String {
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            user.trim(),
            self.port,
            repo.display()
        )
    }
}

fn source(url: String, auth: Auth, cache: &Path) -> Source {
    Source::open(SourceConfig {
        url,
        reference: Reference::Branch("main".into()),
        cache_dir: cache.to_path_buf(),
        auth,
        timeout: Duration::from_secs(20),
        verify: None,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_key_auth_works_and_wrong_or_unknown_host_keys_are_refused() {
    let sshd = Sshd::start();
    let remote = Remote::new();
    let head = remote.commit(&[("a.yaml", "a: 1\n")], "init");
    let url = sshd.url(&remote.bare());
    let cache = tempfile::tempdir().unwrap();

    let good = sshd.auth(sshd.known_hosts("host_key.pub"));
    let mut s = source(url.clone(), good.clone(), cache.path());
    let Fetched::New(snap) = s.poll().unwrap() else {
        panic!("expected a snapshot")
    };
    assert_eq!(snap.commit.to_string(), head);

    // A known_hosts entry with another key for this host: refused, whatever the user key.
    keygen(&sshd.dir.path().join("other_host_key"));
    let wrong = sshd.auth(sshd.known_hosts("other_host_key.pub"));
    let err = source(url.clone(), wrong, cache.path()).poll().unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");

    // No entry at all: refused unless unknown hosts are explicitly accepted.
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let err = source(url.clone(), sshd.auth(empty.clone()), cache.path())
        .poll()
        .unwrap_err();
    assert!(err.to_string().contains("not in"), "{err}");
    let Auth::Ssh(mut tofu) = sshd.auth(empty) else {
        unreachable!()
    };
    tofu.accept_unknown_hosts = true;
    assert!(
        source(url.clone(), Auth::Ssh(tofu), cache.path())
            .poll()
            .is_ok()
    );

    // A passphrase-protected key.
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "pa55phrase", "-f"])
        .arg(sshd.dir.path().join("locked_key"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut keys = std::fs::read_to_string(sshd.dir.path().join("authorized_keys")).unwrap();
    keys.push_str(&std::fs::read_to_string(sshd.dir.path().join("locked_key.pub")).unwrap());
    std::fs::write(sshd.dir.path().join("authorized_keys"), keys).unwrap();
    let locked = |pass: &str| {
        Auth::Ssh(SshAuth {
            private_key: sshd.dir.path().join("locked_key"),
            passphrase: Some(fledge::source::Secret::new(pass)),
            known_hosts: sshd.known_hosts("host_key.pub"),
            accept_unknown_hosts: false,
        })
    };
    assert!(
        source(url.clone(), locked("pa55phrase"), cache.path())
            .poll()
            .is_ok()
    );
    let err = source(url.clone(), locked("wr0ng"), cache.path())
        .poll()
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("wr0ng"), "{err}");

    // Write-back over ssh too.
    write_one_file(&remote, &url, good, "b: 2\n").await;
}

/// A Flux GitRepository's Secret as `flux create secret git` writes it: the key and the host
/// keys are held in memory, never written to a file.
fn flux_secret(sshd: &Sshd, known_hosts: &Path) -> serde_json::Value {
    use base64::Engine as _;
    let b64 =
        |p: PathBuf| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "fleet-ssh", "namespace": "flux-system"},
        "data": {
            "identity": b64(sshd.dir.path().join("user_key")),
            "identity.pub": b64(sshd.dir.path().join("user_key.pub")),
            "known_hosts": b64(known_hosts.to_path_buf()),
        },
    })
}

#[test]
fn a_flux_git_repositorys_secret_authenticates_over_ssh_and_checks_its_known_hosts() {
    let sshd = Sshd::start();
    let remote = Remote::new();
    let head = remote.commit(&[("a.yaml", "a: 1\n")], "init");
    let repo = fledge::flux::GitRepository::parse(&serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {
            "interval": "1m", "url": sshd.url(&remote.bare()), "ref": {"branch": "main"},
            "secretRef": {"name": "fleet-ssh"},
        },
    }))
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let poll = |secret: &serde_json::Value| {
        let secrets = fledge::source::flux::Secrets {
            auth: Some(secret.clone()),
            verify: None,
        };
        let config = fledge::source::flux::config(&repo, &secrets, cache.path()).unwrap();
        Source::open(config).unwrap().poll()
    };
    let good = flux_secret(&sshd, &sshd.known_hosts("host_key.pub"));
    let Ok(Fetched::New(snap)) = poll(&good) else {
        panic!("expected a snapshot")
    };
    assert_eq!(snap.commit.to_string(), head);
    keygen(&sshd.dir.path().join("other_host_key"));
    let wrong = flux_secret(&sshd, &sshd.known_hosts("other_host_key.pub"));
    let err = poll(&wrong).unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("does not match the known_hosts of Secret flux-system/fleet-ssh"),
        "{err}"
    );
    assert!(!format!("{err:?}").contains("PRIVATE KEY"), "{err:?}");
}
