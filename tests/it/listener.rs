//! The daemon's HTTP listeners under clients that open connections and never finish a
//! request: they are closed at the header timeout, they hold at most the connection limit and
//! their peer's share of it, a real request still gets through, and the probes on the health
//! listener never fail.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::routing::get;
use fledge::daemon::http::{Limits, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::support::daemon::Builder;
use super::support::git::Remote;

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_closed_and_cannot_starve_a_real_one() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/healthz", get(|| async { "ok\n" }));
    let limits = Limits {
        headers: Duration::from_millis(500),
        request: Duration::from_secs(2),
        connections: 4,
        per_peer: 4,
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, app, limits, stop.clone()));
    // Many more slow clients than connections: each sends half a request and waits.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // A real request is answered once the server closes the slow ones.
    let real = tokio::time::timeout(Duration::from_secs(30), async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    })
    .await
    .expect("a real request is served while slow clients hold connections");
    assert!(
        real.starts_with("HTTP/1.1 200") && real.ends_with("ok\n"),
        "{real}"
    );
    // Every slow client was closed by the server, never answered.
    for mut s in slow {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
        let response = String::from_utf8_lossy(&buf);
        assert!(read.is_ok(), "a slow connection stayed open");
        assert!(!response.contains("ok\n"), "{response}");
    }
    stop.cancel();
    server.await.unwrap();
}

#[test]
fn the_api_answers_loopback_or_the_token_and_nobody_else() {
    use axum::http::StatusCode;
    use fledge::daemon::http::api_allowed;
    use fledge::source::Secret;
    let remote = Some("10.1.2.3:40000".parse().unwrap());
    let local = Some("127.0.0.1:40000".parse().unwrap());
    let token = Secret::new("s3cret-token");
    let code = |r: Result<(), (StatusCode, &str)>| r.err().map(|(c, _)| c);
    // No token configured: loopback only.
    assert_eq!(code(api_allowed(local, None, None)), None);
    assert_eq!(
        code(api_allowed(remote, None, None)),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        code(api_allowed(None, None, None)),
        Some(StatusCode::FORBIDDEN)
    );
    // A token configured: the right one from anywhere, a wrong one from nowhere.
    assert_eq!(
        code(api_allowed(remote, Some("s3cret-token"), Some(&token))),
        None
    );
    assert_eq!(
        code(api_allowed(remote, Some("guess"), Some(&token))),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        code(api_allowed(local, Some("guess"), Some(&token))),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        code(api_allowed(remote, None, Some(&token))),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(code(api_allowed(local, None, Some(&token))), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_listener_knows_its_peers_for_the_api() {
    use std::sync::Arc;
    let shared = Arc::new(fledge::daemon::Shared::default());
    let hooks = fledge::source::webhook::Receiver::new(
        fledge::source::webhook::HookSecrets::default(),
        Arc::new(tokio::sync::Notify::new()),
    )
    .unwrap();
    let token = fledge::source::Secret::new("t0ken");
    let app = fledge::daemon::http::router(shared, hooks, None, Some(token));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/releases", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, app, Limits::default(), stop.clone()));
    let client = fledge::net::http_client(Duration::from_secs(5), false);
    let get = |bearer: Option<&'static str>| {
        let mut r = client.get(&url);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 200, "a loopback peer needs no token");
    assert_eq!(get(Some("t0ken")).await, 200);
    assert_eq!(get(Some("guess")).await, 401);
    stop.cancel();
    server.await.unwrap();
}

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// One probe as the kubelet makes it (`timeoutSeconds: 1`): a GET of `path` on `to` from the
/// address `from`, answered 200 within one second.
pub(crate) async fn probe(from: Ipv4Addr, to: SocketAddr, path: &str) -> Result<(), String> {
    probe_within(from, to, path, Duration::from_secs(1)).await
}

/// [`probe`], answered within `limit`.
pub(crate) async fn probe_within(
    from: Ipv4Addr,
    to: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<(), String> {
    let attempt = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((from, 0)))?;
        let mut s = socket.connect(to).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: fledge\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await?;
        let mut text = String::new();
        s.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    match tokio::time::timeout(limit, attempt).await {
        Err(_) => Err(format!("no answer within {limit:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(text)) if text.starts_with("HTTP/1.1 200") => Ok(()),
        Ok(Ok(text)) => Err(format!("answered {text:?}")),
    }
}

/// A sustained slowloris from 127.0.0.1: `n` connections to `to`, each sending the first lines
/// of a request's headers and then one more line a second, never their end; a connection the
/// server closes is opened again a second later, as slowloris tools do. Returns once every
/// connection was opened once; runs until `stop`.
async fn slowloris(to: SocketAddr, n: usize, stop: &CancellationToken) -> JoinSet<()> {
    let (opened, mut first) = tokio::sync::mpsc::channel::<()>(n);
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (opened, stop) = (opened.clone(), stop.clone());
        tasks.spawn(async move {
            let mut opened = Some(opened);
            let mut second = tokio::time::interval(Duration::from_secs(1));
            second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let connected = tokio::select! {
                    () = stop.cancelled() => return,
                    c = TcpStream::connect(to) => c,
                };
                if let Ok(mut s) = connected
                    && s.write_all(b"GET /healthz HTTP/1.1\r\nHost: fledge\r\n")
                        .await
                        .is_ok()
                {
                    if let Some(o) = opened.take() {
                        let _ = o.send(()).await;
                    }
                    let mut buf = [0u8; 256];
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            read = s.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
                            _ = second.tick() => if s.write_all(b"X-Slow: 1\r\n").await.is_err() { break },
                        }
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = second.tick() => {}
                }
            }
        });
    }
    drop(opened);
    let all = async {
        for _ in 0..n {
            first
                .recv()
                .await
                .expect("every attacker opens a connection");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the attack's connections open within a minute");
    tasks
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sustained_slowloris_fails_no_probe_on_the_health_listener_nor_starves_another_peer() {
    let remote = Remote::new();
    remote.commit(
        &[(
            "config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: default\ndata:\n  a: b\n",
        )],
        "one",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Builder::new(&remote.url(), dir.path())
        .sim_cluster()
        .health_listener()
        .spawn();
    daemon.serving().await;
    let health = SocketAddr::from((LOOPBACK, daemon.health.unwrap()));
    let stop = CancellationToken::new();
    let attack = slowloris(daemon.listen(), 600, &stop).await;
    // Probes as the kubelet makes them, once a second for 31 s while the attack goes on: the
    // liveness probe on the health listener (the kubelet's default timeout, 1 s), and a peer
    // other than the attacker (127.0.0.2: loopback answers every 127/8 address on Linux) on
    // the main listener, within the 5 s that fledge status gives /api (the main listener's
    // clients are not the kubelet: its accept queue is shared with the attacker's).
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let mut period = tokio::time::interval(Duration::from_secs(1));
    let (mut failed, mut attacker_refused) = (Vec::new(), 0);
    for i in 0..31 {
        period.tick().await;
        let (h, o, a) = tokio::join!(
            probe(LOOPBACK, health, "/healthz"),
            probe_within(other, daemon.listen(), "/healthz", Duration::from_secs(5)),
            probe(LOOPBACK, daemon.listen(), "/healthz"),
        );
        if let Err(e) = h {
            failed.push(format!("probe {i} of the health listener: {e}"));
        }
        if let Err(e) = o {
            failed.push(format!(
                "probe {i} from 127.0.0.2 on the main listener: {e}"
            ));
        }
        attacker_refused += usize::from(a.is_err());
    }
    stop.cancel();
    attack.join_all().await;
    assert!(failed.is_empty(), "{failed:#?}\n{}", daemon.log());
    // The attack was real: its own address had no room on the main listener.
    assert!(
        attacker_refused > 15,
        "only {attacker_refused} of 31 probes from the attacker's address failed"
    );
}
