//! The daemon's HTTP server: `/healthz`, `/readyz`, `/metrics` (Flagger's `flagger_canary_*`
//! and fledge's own `fledge_*`), `/api/releases`, `/api/sync`, the Git webhook receivers under `/hooks/`,
//! and, with the simulated cluster, its traffic metrics under `/sim/metrics`.
//!
//! [`serve`] holds the listener to limits, so that clients that open connections and never
//! finish a request cannot exhaust the daemon's file descriptors: hyper's header-read timeout,
//! a whole-request timeout (tower-http), and at most [`Limits::connections`] connections at
//! once (the rest wait in the kernel's accept queue).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::add_extension::AddExtension;
use tower_http::timeout::TimeoutLayer;

use super::shared::Shared;
use crate::cluster::sim::SimCluster;
use crate::release::ReleaseView;
use crate::report::metrics;
use crate::source::{Secret, webhook};

/// The router. `/api/*` (commits and messages of the releases) answers peers on loopback, or
/// any peer that shows `api_token` as a bearer token; the health checks, `/metrics` and the
/// signed webhooks answer everyone.
pub fn router(
    shared: Arc<Shared>,
    hooks: Arc<webhook::Receiver>,
    sim: Option<Arc<Mutex<SimCluster>>>,
    api_token: Option<Secret>,
) -> Router {
    let api = Router::new()
        .route("/api/releases", get(releases))
        .route("/api/sync", get(sync))
        .route_layer(middleware::from_fn_with_state(
            Arc::new(api_token),
            api_access,
        ));
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(api)
        .with_state(shared)
        .merge(webhook::router(hooks));
    if let Some(sim) = sim {
        r = r.nest("/sim", crate::cluster::sim::metrics_router(sim));
    }
    r.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Limits::default().request,
    ))
}

/// The listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a connection's first byte (or the end of its last request) to a request's headers.
    pub headers: Duration,
    /// From a request's headers to its response.
    pub request: Duration,
    /// Connections served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            headers: Duration::from_secs(10),
            request: Duration::from_secs(30),
            connections: 512,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `stop`; then lets open requests finish
/// (for at most the request timeout).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.headers);
    let permits = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: let connections close before accepting again.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // The peer, for the API's loopback rule (a peer that cannot be told is not loopback).
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let service = TowerToHyperService::new(AddExtension::new(app.clone(), ConnectInfo(peer)));
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(limits.request, graceful.shutdown()).await;
}

/// Lets a request to `/api/*` through when its peer is on loopback or it carries the token.
async fn api_access(
    State(token): State<Arc<Option<Secret>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match api_allowed(
        peer.map(|Extension(ConnectInfo(p))| p),
        bearer,
        token.as_ref().as_ref(),
    ) {
        Ok(()) => next.run(request).await,
        Err((status, why)) => (status, why).into_response(),
    }
}

/// The rule `/api/*` follows: the right token, or no token offered from a loopback peer.
pub fn api_allowed(
    peer: Option<SocketAddr>,
    bearer: Option<&str>,
    token: Option<&Secret>,
) -> Result<(), (StatusCode, &'static str)> {
    match (bearer, token) {
        (Some(given), Some(t)) if t.matches(given) => Ok(()),
        (Some(_), _) => Err((StatusCode::UNAUTHORIZED, "wrong token for /api\n")),
        (None, _) if peer.is_some_and(|p| p.ip().is_loopback()) => Ok(()),
        (None, Some(_)) => Err((
            StatusCode::UNAUTHORIZED,
            "/api needs the bearer token of --api-token-file\n",
        )),
        (None, None) => Err((
            StatusCode::FORBIDDEN,
            "/api answers loopback only (kubectl port-forward); set --api-token-file to serve it to others\n",
        )),
    }
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.is_standby() {
        // A replica waiting to lead is ready to take over; it serves nothing else.
        (StatusCode::OK, "standby\n")
    } else if s.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not synced yet\n")
    }
}

async fn sync(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let status = s.sync().clone();
    axum::Json(status)
}

async fn releases(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let list: Vec<ReleaseView> = s.releases().values().cloned().collect();
    axum::Json(list)
}

/// Prometheus text for the daemon's state.
#[must_use]
pub fn render_metrics(s: &Shared) -> String {
    let counters = s.counters().clone();
    metrics::render(s.releases().values(), &counters)
}

async fn metrics_text(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&s),
    )
}
