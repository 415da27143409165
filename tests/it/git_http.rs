//! Git over HTTP with basic auth (a token; https differs only in TLS, which libgit2 does with
//! OpenSSL) or a bearer token, against `git http-backend` behind a small server that demands
//! the credentials as a forge does.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fledge::source::{Auth, Fetched, Reference, Secret, Source, SourceConfig};

use super::repo_dir;
use super::support::git::{Remote, git, write_one_file};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &std::path::Path, token: &str) -> Server {
    serve_as(root, "bot", token)
}

/// The server, asking `user`'s `token` (`bearer`: a bearer token).
fn serve_as(root: &std::path::Path, user: &str, token: &str) -> Server {
    let mut child = Command::new("python3")
        .arg(repo_dir().join("tests/support/git_http_server.py"))
        .arg(root)
        .args([user, token])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Server {
        port: line.trim().parse().expect("port"),
        child,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_over_http_for_fetch_and_push() {
    let remote = Remote::new();
    let head = remote.commit(&[("a.yaml", "a: 1\n")], "init");
    let server = serve(remote.dir.path(), "t0k3n");
    let url = format!("http://127.0.0.1:{}/remote.git", server.port);
    let cache = tempfile::tempdir().unwrap();
    let cfg = |auth: Auth| SourceConfig {
        url: url.clone(),
        reference: Reference::Branch("main".into()),
        cache_dir: cache.path().to_path_buf(),
        auth,
        timeout: Duration::from_secs(20),
        verify: None,
    };
    let token = Auth::Basic {
        username: "bot".into(),
        password: Secret::new("t0k3n"),
    };
    let Fetched::New(snap) = Source::open(cfg(token.clone())).unwrap().poll().unwrap() else {
        panic!()
    };
    assert_eq!(snap.commit.to_string(), head);

    // Without credentials, or with a wrong token: refused, and the token never shows.
    assert!(Source::open(cfg(Auth::None)).unwrap().poll().is_err());
    let wrong = Auth::Basic {
        username: "bot".into(),
        password: Secret::new("wr0ng-t0k3n"),
    };
    let err = Source::open(cfg(wrong)).unwrap().poll().unwrap_err();
    assert!(!format!("{err} {err:?}").contains("wr0ng-t0k3n"), "{err}");

    // Push over http with the token (the git CLI gets it through its environment).
    write_one_file(&remote, &url, token, "b: 1\n").await;
}

#[test]
fn a_bearer_token_goes_with_every_request_of_a_poll() {
    let remote = Remote::new();
    let first = remote.commit(&[("a.yaml", "a: 1\n")], "init");
    let person = remote.person();
    git(&person, &["tag", "v1.0.0"]);
    git(&person, &["push", "--quiet", "origin", "v1.0.0"]);
    let server = serve_as(remote.dir.path(), "bearer", "b3arer-t0k3n");
    let url = format!("http://127.0.0.1:{}/remote.git", server.port);
    let cfg = |auth: Auth, reference: Reference, cache: &std::path::Path| SourceConfig {
        url: url.clone(),
        reference,
        cache_dir: cache.to_path_buf(),
        auth,
        timeout: Duration::from_secs(20),
        verify: None,
    };
    let bearer = || Auth::Bearer(Secret::new("b3arer-t0k3n"));
    // A branch (listed, then fetched) and a semver range (its tags listed), each with the token.
    for reference in [
        Reference::Branch("main".into()),
        Reference::Semver(semver::VersionReq::parse(">=1.0.0").unwrap()),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let mut source = Source::open(cfg(bearer(), reference, cache.path())).unwrap();
        let Fetched::New(snap) = source.poll().unwrap() else {
            panic!()
        };
        assert_eq!(snap.commit.to_string(), first);
    }
    // A new commit is fetched on the next poll.
    let cache = tempfile::tempdir().unwrap();
    let main = || Reference::Branch("main".into());
    let mut source = Source::open(cfg(bearer(), main(), cache.path())).unwrap();
    source.poll().unwrap();
    let second = remote.commit(&[("a.yaml", "a: 2\n")], "two");
    let Fetched::New(snap) = source.poll().unwrap() else {
        panic!()
    };
    assert_eq!(snap.commit.to_string(), second);
    // A wrong token, or none: refused, and the token never shows.
    let wrong = Auth::Bearer(Secret::new("wr0ng-b3arer"));
    let cache = tempfile::tempdir().unwrap();
    let err = Source::open(cfg(wrong, main(), cache.path()))
        .unwrap()
        .poll()
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("wr0ng-b3arer"), "{err}");
    assert!(
        Source::open(cfg(Auth::None, main(), cache.path()))
            .unwrap()
            .poll()
            .is_err()
    );
}
