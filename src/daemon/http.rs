//! The daemon's HTTP server: `/healthz`, `/readyz`, `/metrics` (Flagger's `flagger_canary_*`
//! and fledge's own `fledge_*`), `/api/releases`, the Git webhook receivers under `/hooks/`,
//! and, with the simulated cluster, its traffic metrics under `/sim/metrics`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::shared::Shared;
use crate::cluster::sim::SimCluster;
use crate::release::ReleaseView;
use crate::report::metrics;
use crate::source::webhook;

/// The router.
pub fn router(
    shared: Arc<Shared>,
    hooks: Arc<webhook::Receiver>,
    sim: Option<Arc<Mutex<SimCluster>>>,
) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/releases", get(releases))
        .with_state(shared)
        .merge(webhook::router(hooks));
    if let Some(sim) = sim {
        r = r.nest("/sim", crate::cluster::sim::metrics_router(sim));
    }
    r
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
