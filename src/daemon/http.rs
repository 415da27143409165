//! The daemon's HTTP server: `/healthz`, `/readyz`, `/metrics` (Flagger's `flagger_canary_*`
//! and fledge's own `fledge_*`), `/api/releases`, the Git webhook receivers under `/hooks/`,
//! and, with the simulated cluster, its traffic metrics under `/sim/metrics`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Shared;
use crate::cluster::sim::SimCluster;
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
        .route("/metrics", get(metrics))
        .route("/api/releases", get(releases))
        .with_state(shared)
        .merge(webhook::router(hooks));
    if let Some(sim) = sim {
        r = r.nest("/sim", crate::cluster::sim::metrics_router(sim));
    }
    r
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.ready.load(std::sync::atomic::Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not synced yet\n")
    }
}

async fn releases(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let list: Vec<super::ReleaseView> = s
        .releases
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    axum::Json(list)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text for the daemon's state.
#[must_use]
pub fn render_metrics(s: &Shared) -> String {
    let mut out = String::new();
    let releases = s
        .releases
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let _ = writeln!(
        out,
        "# HELP flagger_info Information about the running controller.\n# TYPE flagger_info gauge"
    );
    let _ = writeln!(
        out,
        "flagger_info{{version=\"{}\",mesh_provider=\"fledge\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let mut per_ns: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for r in releases.values() {
        *per_ns.entry(r.namespace.as_str()).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "# HELP flagger_canary_total Canaries per namespace.\n# TYPE flagger_canary_total gauge"
    );
    for (ns, n) in &per_ns {
        let _ = writeln!(
            out,
            "flagger_canary_total{{namespace=\"{}\"}} {n}",
            escape(ns)
        );
    }
    let _ = writeln!(
        out,
        "# HELP flagger_canary_status Release status: 0 progressing, 1 done, 2 failed.\n# TYPE flagger_canary_status gauge"
    );
    for r in releases.values() {
        let v = match r.phase.as_str() {
            "Progressing" => 0,
            "Failed" => 2,
            _ => 1,
        };
        let _ = writeln!(
            out,
            "flagger_canary_status{{name=\"{}\",namespace=\"{}\"}} {v}",
            escape(&r.target),
            escape(&r.namespace)
        );
    }
    let _ = writeln!(
        out,
        "# HELP flagger_canary_weight Traffic weight per workload.\n# TYPE flagger_canary_weight gauge"
    );
    for r in releases.values() {
        let _ = writeln!(
            out,
            "flagger_canary_weight{{workload=\"{}-primary\",namespace=\"{}\"}} {}",
            escape(&r.target),
            escape(&r.namespace),
            100 - u32::from(r.canary_weight)
        );
        let _ = writeln!(
            out,
            "flagger_canary_weight{{workload=\"{}\",namespace=\"{}\"}} {}",
            escape(&r.target),
            escape(&r.namespace),
            r.canary_weight
        );
    }
    let c = s
        .counters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let _ = writeln!(
        out,
        "# HELP flagger_canary_metric_analysis Last value of each analysis metric.\n# TYPE flagger_canary_metric_analysis gauge"
    );
    for ((name, ns, metric), v) in &c.metric_values {
        let _ = writeln!(
            out,
            "flagger_canary_metric_analysis{{name=\"{}\",namespace=\"{}\",metric=\"{}\"}} {v}",
            escape(name),
            escape(ns),
            escape(metric)
        );
    }
    for (metric, map, help) in [
        (
            "flagger_canary_successes_total",
            &c.successes,
            "Promotions.",
        ),
        (
            "flagger_canary_failures_total",
            &c.failures,
            "Rollbacks and failed promotions.",
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for ((name, ns, strategy), n) in map {
            let _ = writeln!(
                out,
                "{metric}{{name=\"{}\",namespace=\"{}\",deployment_strategy=\"{}\",analysis_status=\"completed\"}} {n}",
                escape(name),
                escape(ns),
                escape(strategy)
            );
        }
    }
    for (metric, v, help) in [
        (
            "fledge_polls_total",
            c.polls,
            "Polls of the config repository.",
        ),
        (
            "fledge_poll_errors_total",
            c.poll_errors,
            "Polls that failed.",
        ),
        ("fledge_renders_total", c.renders, "Commits rendered."),
        (
            "fledge_render_errors_total",
            c.render_errors,
            "Commits that did not render.",
        ),
        ("fledge_applies_total", c.applies, "Syncs of plain objects."),
        (
            "fledge_apply_errors_total",
            c.apply_errors,
            "Syncs that failed.",
        ),
        ("fledge_release_ticks_total", c.ticks, "Release ticks."),
        ("fledge_writebacks_total", c.writebacks, "Writes to Git."),
        (
            "fledge_writeback_errors_total",
            c.writeback_errors,
            "Writes to Git that failed.",
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric} {v}"
        );
    }
    out
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&s),
    )
}
