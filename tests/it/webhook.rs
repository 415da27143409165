//! Webhook receivers: each provider's documented signature scheme, and the refusals: empty
//! secrets, and replays, also after the daemon restarts.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fledge::source::Secret;
use fledge::source::webhook::{HookSecrets, Provider, Receiver, Refusal, router, verify};
use hmac::{Hmac, KeyInit, Mac};
use tokio::sync::Notify;
use tower::ServiceExt as _;

use super::support::daemon::{Builder, Daemon};
use super::support::git::Remote;

const SECRET: &str = "It's a Secret to Everybody";
// GitHub's documented example: this body and secret give this signature.
const GH_BODY: &str = "Hello, World!";
const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn app() -> (axum::Router, Arc<Notify>) {
    let wake = Arc::new(Notify::new());
    let secret = || Some(Secret::new(SECRET));
    let secrets = HookSecrets {
        github: secret(),
        gitea: secret(),
        gitlab: secret(),
        generic: secret(),
    };
    (router(Receiver::new(secrets, wake.clone()).unwrap()), wake)
}

fn hmac_hex<M: Mac + KeyInit>(body: &[u8]) -> String {
    let mut m = <M as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

async fn send(
    app: &axum::Router,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> StatusCode {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn valid_signatures_are_accepted_and_wake_the_poller() {
    let (app, wake) = app();
    assert_eq!(
        send(
            &app,
            "/hooks/github",
            &[("x-hub-signature-256", GH_SIG)],
            GH_BODY.into()
        )
        .await,
        StatusCode::ACCEPTED
    );
    tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified())
        .await
        .expect("woken");
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let gitea = hmac_hex::<Hmac<sha2::Sha256>>(&body);
    assert_eq!(
        send(
            &app,
            "/hooks/gitea",
            &[("x-gitea-signature", &gitea)],
            body.clone()
        )
        .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/gitlab",
            &[("x-gitlab-token", SECRET)],
            body.clone()
        )
        .await,
        StatusCode::ACCEPTED
    );
    for (algo, sig) in [
        ("sha1", hmac_hex::<Hmac<sha1::Sha1>>(b"one")),
        ("sha256", hmac_hex::<Hmac<sha2::Sha256>>(b"two")),
        ("sha512", hmac_hex::<Hmac<sha2::Sha512>>(b"three")),
    ] {
        let payload = match algo {
            "sha1" => "one",
            "sha256" => "two",
            _ => "three",
        };
        let header = format!("{algo}={sig}");
        assert_eq!(
            send(
                &app,
                "/hooks/generic",
                &[("x-signature", &header)],
                payload.into()
            )
            .await,
            StatusCode::ACCEPTED,
            "{algo}"
        );
    }
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one receiver taken through each way a request is refused"
)]
async fn wrong_missing_replayed_and_oversize_requests_are_refused() {
    let (app, _) = app();
    // Wrong signature, or the right one over another body.
    let wrong = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(
        send(
            &app,
            "/hooks/github",
            &[("x-hub-signature-256", wrong)],
            GH_BODY.into()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/github",
            &[("x-hub-signature-256", GH_SIG)],
            b"Hello, World?".to_vec()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/gitlab",
            &[("x-gitlab-token", "guess")],
            b"{}".to_vec()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/generic",
            &[("x-signature", "md5=abcd")],
            b"{}".to_vec()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/gitea",
            &[("x-gitea-signature", "zz-not-hex")],
            b"{}".to_vec()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // Missing signatures.
    for p in ["github", "gitea", "gitlab", "generic"] {
        assert_eq!(
            send(&app, &format!("/hooks/{p}"), &[], b"{}".to_vec()).await,
            StatusCode::UNAUTHORIZED,
            "{p}"
        );
    }
    // The same delivery twice.
    assert_eq!(
        send(
            &app,
            "/hooks/github",
            &[
                ("x-hub-signature-256", GH_SIG),
                ("x-github-delivery", "d-1")
            ],
            GH_BODY.into()
        )
        .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(
            &app,
            "/hooks/github",
            &[
                ("x-hub-signature-256", GH_SIG),
                ("x-github-delivery", "d-1")
            ],
            GH_BODY.into()
        )
        .await,
        StatusCode::CONFLICT
    );
    // Over 1 MiB, even correctly signed.
    let big = vec![b'x'; (1 << 20) + 1];
    let sig = format!("sha256={}", hmac_hex::<Hmac<sha2::Sha256>>(&big));
    assert_eq!(
        send(&app, "/hooks/github", &[("x-hub-signature-256", &sig)], big).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Unknown providers, and providers without a secret.
    assert_eq!(
        send(&app, "/hooks/bitbucket-x", &[], b"{}".to_vec()).await,
        StatusCode::NOT_FOUND
    );
    let bare = router(Receiver::new(HookSecrets::default(), Arc::new(Notify::new())).unwrap());
    assert_eq!(
        send(
            &bare,
            "/hooks/github",
            &[("x-hub-signature-256", GH_SIG)],
            GH_BODY.into()
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_captured_signed_body_is_a_replay_whatever_its_unsigned_headers_say() {
    let (app, _) = app();
    let delivery = |id: &'static str| [("x-hub-signature-256", GH_SIG), ("x-github-delivery", id)];
    let status = send(&app, "/hooks/github", &delivery("d-1"), GH_BODY.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Replayed with a fresh delivery id, or none.
    let status = send(&app, "/hooks/github", &delivery("d-2"), GH_BODY.into()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let bare = [("x-hub-signature-256", GH_SIG)];
    let status = send(&app, "/hooks/github", &bare, GH_BODY.into()).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The refusal log's one-second window is tokio's clock: paused, the flood takes no time and
// the second passes at once.
#[tokio::test(start_paused = true)]
async fn a_flood_of_refused_webhooks_is_logged_once_a_second_and_counted() {
    let sink = Lines::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (app, _) = app();
    let started = tokio::time::Instant::now();
    let flood = 1000;
    for _ in 0..flood {
        let status = send(
            &app,
            "/hooks/github",
            &[("x-hub-signature-256", "sha256=00")],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let seconds = started.elapsed().as_secs();
    tokio::time::advance(std::time::Duration::from_millis(1100)).await;
    send(&app, "/hooks/github", &[], b"{}".to_vec()).await;
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("webhook refused"))
        .collect();
    assert!(
        lines.len() >= 2 && lines.len() as u64 <= seconds + 3,
        "{} lines for {flood} refusals in {seconds}s",
        lines.len()
    );
    // Every refusal was logged or counted in a later line.
    let counted: usize = lines
        .iter()
        .map(|l| {
            let n = l
                .split("suppressed=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            n.parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(lines.len() + counted, flood + 1, "{text}");
}

#[test]
fn a_receiver_refuses_to_exist_with_an_empty_secret_and_an_empty_key_signs_nothing() {
    let empty = || Some(Secret::new(""));
    for (name, secrets) in [
        (
            "GitHub",
            HookSecrets {
                github: empty(),
                ..HookSecrets::default()
            },
        ),
        (
            "Gitea",
            HookSecrets {
                gitea: empty(),
                ..HookSecrets::default()
            },
        ),
        (
            "GitLab",
            HookSecrets {
                gitlab: empty(),
                ..HookSecrets::default()
            },
        ),
        (
            "generic",
            HookSecrets {
                generic: empty(),
                ..HookSecrets::default()
            },
        ),
    ] {
        let e = Receiver::new(secrets, Arc::new(Notify::new())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("the {name} webhook secret is empty")),
            "{e}"
        );
    }
    // What anyone can send: a body signed with the empty key, or an empty GitLab token.
    let body = b"{\"ref\":\"refs/heads/main\"}";
    let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"").unwrap();
    m.update(body);
    let sig = hex::encode(m.finalize().into_bytes());
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "x-hub-signature-256",
        format!("sha256={sig}").parse().unwrap(),
    );
    headers.insert("x-gitea-signature", sig.parse().unwrap());
    headers.insert("x-gitlab-token", "".parse().unwrap());
    headers.insert("x-signature", format!("sha256={sig}").parse().unwrap());
    for p in [
        Provider::GitHub,
        Provider::Gitea,
        Provider::GitLab,
        Provider::Generic,
    ] {
        assert_eq!(
            verify(p, &Secret::new(""), &headers, body),
            Err(Refusal::EmptySecret),
            "{p:?}"
        );
    }
}

/// Posts GitHub's documented example delivery to a daemon's `/hooks/github`; the status.
async fn deliver(daemon: &Daemon, body: &str, signature: &str, id: &str) -> u16 {
    fledge::net::http_client(std::time::Duration::from_secs(5), false)
        .post(format!("http://{}/hooks/github", daemon.listen()))
        .header("x-hub-signature-256", signature)
        .header("x-github-delivery", id)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_accepted_by_one_daemon_process_is_refused_by_the_next_on_the_same_directories()
{
    let remote = Remote::new();
    remote.commit(&[("README.md", "config\n")], "one");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let flags = ["--github-webhook-secret-file", secret.to_str().unwrap()];
    let start = || {
        Builder::new(&remote.url(), dir.path())
            .sim_cluster()
            .args(flags)
            .spawn()
    };
    let mut first = start();
    first.serving().await;
    assert_eq!(deliver(&first, GH_BODY, GH_SIG, "d-1").await, 202);
    assert_eq!(deliver(&first, GH_BODY, GH_SIG, "d-2").await, 409);
    // Killed (nothing runs at exit), then started again on the same cluster and cache.
    first.kill();
    let mut second = start();
    second.serving().await;
    assert_eq!(
        deliver(&second, GH_BODY, GH_SIG, "d-3").await,
        409,
        "a captured delivery replayed after a restart\n{}",
        second.log()
    );
    // A new delivery is still accepted.
    let body = "{\"after\":\"two\"}";
    let sig = format!("sha256={}", hmac_hex::<Hmac<sha2::Sha256>>(body.as_bytes()));
    assert_eq!(deliver(&second, body, &sig, "d-4").await, 202);
}

#[test]
fn the_record_keeps_the_latest_deliveries_and_a_torn_record_is_refused_by_name() {
    use fledge::source::webhook::REMEMBERED;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("webhooks").join("accepted");
    let secrets = HookSecrets {
        generic: Some(Secret::new(SECRET)),
        ..HookSecrets::default()
    };
    let receiver = || Receiver::recorded(secrets.clone(), Arc::new(Notify::new()), record.clone());
    let signed = |body: &str| {
        let mut h = axum::http::HeaderMap::new();
        let sig = format!("sha256={}", hmac_hex::<Hmac<sha2::Sha256>>(body.as_bytes()));
        h.insert("x-signature", sig.parse().unwrap());
        h
    };
    // A full record (a 32-byte digest per delivery, oldest first) of deliveries long past.
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    let old: Vec<u8> = (0..32 * REMEMBERED)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    std::fs::write(&record, &old).unwrap();
    receiver()
        .unwrap()
        .receive(Provider::Generic, &signed("new"), b"new")
        .unwrap();
    // Bounded: the oldest delivery made room for the new one.
    let now = std::fs::read(&record).unwrap();
    assert_eq!(now.len(), old.len());
    assert_eq!(now[..old.len() - 32], old[32..]);
    let again = receiver().unwrap();
    assert_eq!(
        again
            .receive(Provider::Generic, &signed("new"), b"new")
            .unwrap_err()
            .0,
        StatusCode::CONFLICT
    );
    again
        .receive(Provider::Generic, &signed("newer"), b"newer")
        .unwrap();
    // A record that is not one stops the receiver, naming the file.
    std::fs::write(&record, b"not a record").unwrap();
    let e = receiver().unwrap_err().to_string();
    assert!(e.contains(&record.display().to_string()), "{e}");
}
