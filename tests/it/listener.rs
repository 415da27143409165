//! The daemon's HTTP listener under clients that open connections and never finish a request:
//! they are closed at the header timeout, they hold at most the connection limit, and a real
//! request still gets through.

use std::time::Duration;

use axum::routing::get;
use fledge::daemon::http::{Limits, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_closed_and_cannot_starve_a_real_one() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/healthz", get(|| async { "ok\n" }));
    let limits = Limits {
        headers: Duration::from_millis(500),
        request: Duration::from_secs(2),
        connections: 4,
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
