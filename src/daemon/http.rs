//! The daemon's HTTP server: `/healthz`, `/readyz`, `/metrics` (Flagger's `flagger_canary_*`
//! and fledge's own `fledge_*`), `/api/releases`, `/api/sync`, the Git webhook receivers under `/hooks/`,
//! and, with the simulated cluster, its traffic metrics under `/sim/metrics`.
//!
//! [`serve`] holds each listener to limits, so that clients that open connections and never
//! finish a request cannot exhaust the daemon's file descriptors: hyper's header-read timeout,
//! a whole-request timeout (tower-http), at most [`Limits::connections`] connections at once
//! (the rest wait in the kernel's accept queue), and at most [`Limits::per_peer`] of them from
//! one peer (its further connections are closed at once), so that one client cannot take every
//! connection from the others.
//!
//! The probes have a listener of their own ([`health_router`] on `--health-listen`), since
//! clients that hold the main listener's connections would otherwise fail them and get the
//! daemon restarted; `/healthz` and `/readyz` stay on the main listener too.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
use crate::net::Secret;
use crate::release::ReleaseView;
use crate::report::metrics;
use crate::source::webhook;

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
    let mut r = health_routes()
        .route("/metrics", get(metrics_text))
        .merge(api)
        .merge(flux_hooks(hooks.clone()))
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

/// Flux's Receivers of the commit: `POST /hook/<digest>`, verified as notification-controller
/// verifies the Receiver's type; a genuine one makes fledge fetch the repository at once.
fn flux_hooks(hooks: Arc<webhook::Receiver>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/hook/{digest}", axum::routing::post(flux_hook))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::flux::notification::receiver::MAX_BODY_BYTES,
        ))
        .layer(Extension(hooks))
}

async fn flux_hook(
    State(s): State<Arc<Shared>>,
    Extension(hooks): Extension<Arc<webhook::Receiver>>,
    axum::extract::Path(digest): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let path = format!("/hook/{digest}");
    let Some((receiver, token)) = s.flux_receivers().get(&path).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            "no Flux Receiver has this path".to_owned(),
        );
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    match receiver.verify(&token, &headers, &body) {
        Ok(_) => {
            tracing::info!(receiver = %receiver.id, "Flux Receiver accepted; fetching the repository");
            hooks.wake();
            (StatusCode::OK, "fetching the repository".to_owned())
        }
        Err(e) => {
            tracing::warn!(receiver = %receiver.id, reason = %e, "Flux Receiver refused");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, e.to_string())
        }
    }
}

fn health_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

/// The router of `--health-listen`: `/healthz` and `/readyz` alone.
pub fn health_router(shared: Arc<Shared>) -> Router {
    health_routes()
        .with_state(shared)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Limits::health().request,
        ))
}

/// A listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a connection's first byte (or the end of its last request) to a request's headers.
    pub headers: Duration,
    /// From a request's headers to its response.
    pub request: Duration,
    /// Connections served at once.
    pub connections: usize,
    /// Connections served at once from one peer: an IPv4 address, or an IPv6 /64 (what one
    /// host is usually given).
    pub per_peer: usize,
}

impl Default for Limits {
    /// The main listener's: webhooks, `/metrics` and the API come from a few peers each (a
    /// forge, an ingress controller, Prometheus), none of which needs dozens of connections.
    fn default() -> Self {
        Self {
            headers: Duration::from_secs(10),
            request: Duration::from_secs(30),
            connections: 512,
            per_peer: 32,
        }
    }
}

impl Limits {
    /// The health listener's: the kubelet probes from the node's address, one connection per
    /// probe, and answers come at once.
    #[must_use]
    pub fn health() -> Self {
        Self {
            headers: Duration::from_secs(5),
            request: Duration::from_secs(5),
            connections: 64,
            per_peer: 8,
        }
    }
}

/// Open connections per peer. (A map and a counter: tower's limits count a service's requests,
/// not a listener's connections per address.)
#[derive(Debug, Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of a peer; the count goes down when it is dropped.
struct PeerSlot {
    peers: Arc<Peers>,
    peer: IpAddr,
}

impl Peers {
    /// A slot for a connection of `peer`, unless it holds `max` already.
    fn enter(self: &Arc<Self>, peer: IpAddr, max: usize) -> Option<PeerSlot> {
        let peer = peer_key(peer);
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(peer).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

/// What counts as one peer: an IPv4 address (also when mapped into IPv6), or an IPv6 /64.
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 @ IpAddr::V4(_) => v4,
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
    let peers = Arc::new(Peers::default());
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
        let Some(slot) = peers.enter(peer.ip(), limits.per_peer) else {
            // Closed at once, so that the peer's flood holds neither a permit nor a place
            // in the accept queue.
            tracing::debug!(peer = %peer.ip(), "peer at its connection limit; closed");
            continue;
        };
        let service = TowerToHyperService::new(AddExtension::new(app.clone(), ConnectInfo(peer)));
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop((slot, permit));
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
    } else if s.source_failing.load(std::sync::atomic::Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the repository cannot be polled (see /api/sync)\n",
        )
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

#[cfg(test)]
mod tests;
