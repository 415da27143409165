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
