//! `loadtester`: the webhook server of `fledge loadtester`, a stand-in for Flagger's
//! flagger-loadtester (v1.36.1, `pkg/loadtester`), so that Canaries whose webhooks point at it
//! run unchanged: the same paths, status codes and bodies.
//!
//! - `POST /` (any path not below): a task from Flagger's webhook payload. `metadata.type`
//!   `bash` (`bash -c`), `helm`/`helmv3` and `kubectl` run at once and answer 200, or 500 with
//!   Go's wording of the failure; `cmd` (the default) starts in the background and answers 202,
//!   one copy per canary and command at a time ([`task::Runner`]); a `hey` command there is
//!   carried out by the built-in load generator ([`hey`]).
//! - Gates kept in memory per `name.namespace`: `/gate/check`, `/gate/open`, `/gate/close`,
//!   `/rollback/check`, `/rollback/open`, `/rollback/close`; `/gate/approve` always approves,
//!   `/gate/halt` never does. `/healthz`; `/metrics` (the background task count).
//! - `--namespace-regexp`: payloads from other namespaces are answered 403 `Forbidden`.
//!
//! Deliberately not here: the `concord` and `ngrinder` task types (answered 400, naming the
//! type). Where Flagger's server panics (an unknown `type`: its task factory lookup dereferences
//! nothing and the connection drops), this one answers 400 `unknown task type TYPE`, the answer
//! Flagger's code was written to give.
//!
//! Sits on floor 4 beside `analysis` (it is the other end of the webhooks); imports `net`,
//! `chain` and `release::spec` (Go durations) only.

pub mod hey;
pub mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use hey::go_bool;
use task::{Background, Payload, Program, Runner};

/// Metadata keys the load tester reads; others are reported, not silently dropped.
const READ_KEYS: [&str; 4] = ["type", "cmd", "returnCmdOutput", "logCmdOutput"];

/// Task types Flagger's load tester has that this one does not run.
pub const REFUSED_TYPES: [&str; 2] = ["concord", "ngrinder"];

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a task may run (Flagger's `-timeout`, default one hour).
    pub timeout: Duration,
    /// Payloads from namespaces this does not match are refused (Flagger's
    /// `-namespace-regexp`; unanchored, as Go's `MatchString`).
    pub namespace_regexp: Option<regex::Regex>,
}

/// What the handlers share.
struct Server {
    config: Config,
    /// Gate state per `name.namespace` (`rollback.name.namespace` for rollback gates).
    gates: Mutex<HashMap<String, bool>>,
    runner: Runner,
}

impl Server {
    fn authorized(&self, p: &Payload) -> bool {
        self.config
            .namespace_regexp
            .as_ref()
            .is_none_or(|re| re.is_match(&p.namespace))
    }

    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the load tester's API on `listener` until `stop`; then lets open requests finish and
/// stops the tasks still running.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let tasks = TaskTracker::new();
    let runner = Runner::new(config.timeout, tasks.clone(), stop.clone());
    let server = Arc::new(Server {
        config,
        gates: Mutex::default(),
        runner,
    });
    let result = axum::serve(listener, router(server))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await;
    // Background tasks see the same token: their commands are killed.
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    result
}

fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/healthz", any(|| async { (StatusCode::OK, "OK") }))
        .route("/metrics", any(metrics))
        .route("/gate/approve", any(|| async { (StatusCode::OK, "OK") }))
        .route(
            "/gate/halt",
            any(|| async { (StatusCode::FORBIDDEN, "Forbidden") }),
        )
        .route("/gate/check", gate_route(Gate::Check, ""))
        .route("/gate/open", gate_route(Gate::Open, ""))
        .route("/gate/close", gate_route(Gate::Close, ""))
        .route("/rollback/check", gate_route(Gate::Check, "rollback."))
        .route("/rollback/open", gate_route(Gate::Open, "rollback."))
        .route("/rollback/close", gate_route(Gate::Close, "rollback."))
        .fallback(new_task)
        .with_state(server)
}

async fn metrics(State(s): State<Arc<Server>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        format!(
            "# HELP fledge_loadtester_tasks_started_total Background tasks (type cmd) started.\n\
             # TYPE fledge_loadtester_tasks_started_total counter\n\
             fledge_loadtester_tasks_started_total {}\n",
            s.runner.started()
        ),
    )
}

#[derive(Debug, Clone, Copy)]
enum Gate {
    Check,
    Open,
    Close,
}

/// A gate's route: any method, answered by [`gate`].
fn gate_route(op: Gate, prefix: &'static str) -> axum::routing::MethodRouter<Arc<Server>> {
    any(move |State(s): State<Arc<Server>>, body: Bytes| async move { gate(&s, &body, op, prefix) })
}

/// A gate request, answered as Flagger's `/gate/*` and `/rollback/*` handlers answer it.
fn gate(s: &Server, body: &[u8], op: Gate, prefix: &str) -> Response {
    let Some(p) = Payload::decode(body) else {
        tracing::error!("decoding the request body failed");
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !s.authorized(&p) {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    let key = format!("{prefix}{}", p.canary());
    match op {
        Gate::Check => {
            // Flagger's LoadOrStore: a gate asked about is remembered, closed.
            let approved = *s.gates().entry(key.clone()).or_insert(false);
            tracing::info!(gate = %key, approved, "gate check");
            if approved {
                (StatusCode::OK, "Approved").into_response()
            } else {
                (StatusCode::FORBIDDEN, "Forbidden").into_response()
            }
        }
        Gate::Open | Gate::Close => {
            let open = matches!(op, Gate::Open);
            s.gates().insert(key.clone(), open);
            tracing::info!(gate = %key, open, "gate changed");
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// A task request, answered as Flagger's `HandleNewTask` answers it.
async fn new_task(State(s): State<Arc<Server>>, body: Bytes) -> Response {
    let Some(p) = Payload::decode(&body) else {
        tracing::error!("decoding the request body failed");
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !s.authorized(&p) {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    if p.metadata.is_empty() {
        return (StatusCode::BAD_REQUEST, "metadata not found in payload").into_response();
    }
    let canary = p.canary();
    let unread: Vec<&str> = p
        .metadata
        .keys()
        .map(String::as_str)
        .filter(|k| !READ_KEYS.contains(k))
        .collect();
    if !unread.is_empty() {
        tracing::warn!(%canary, keys = ?unread, "webhook metadata keys not read by the load tester (it reads type, cmd, returnCmdOutput, logCmdOutput; a task's time limit is --timeout)");
    }
    let typ = p.metadata.get("type").map_or("cmd", String::as_str);
    let command = p.metadata.get("cmd").cloned().unwrap_or_default();
    let return_output = p
        .metadata
        .get("returnCmdOutput")
        .and_then(|v| go_bool(v))
        .unwrap_or(false);
    let program = match typ {
        "bash" => Program::bash(&command),
        "helm" | "helmv3" => Program::fields("helm", &command),
        "kubectl" => Program::fields("kubectl", &command),
        "cmd" => {
            if !p.metadata.contains_key("cmd") {
                return (StatusCode::BAD_REQUEST, "cmd not found in metadata").into_response();
            }
            let log_output = p
                .metadata
                .get("logCmdOutput")
                .and_then(|v| go_bool(v))
                .unwrap_or(false);
            s.runner.add(Background {
                canary,
                command,
                log_output,
            });
            return StatusCode::ACCEPTED.into_response();
        }
        t if REFUSED_TYPES.contains(&t) => {
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "task type {t} is not supported by fledge loadtester (it runs cmd, bash, helm, helmv3 and kubectl tasks); run Flagger's flagger-loadtester for {t} tasks"
                ),
            )
                .into_response();
        }
        t => return (StatusCode::BAD_REQUEST, format!("unknown task type {t}")).into_response(),
    };
    tracing::info!(%canary, r#type = typ, command = %command, "running command");
    let ran = task::run(&program, s.runner.timeout(), s.runner.stop()).await;
    let output = String::from_utf8_lossy(&ran.output);
    if let Some(failure) = &ran.failure {
        tracing::error!(%canary, command = %command, error = %failure, output = %output, "command failed");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            task::failure_text(&command, &ran, failure),
        )
            .into_response();
    }
    tracing::info!(%canary, output = %output, "command finished");
    if return_output && !ran.output.is_empty() {
        let content_type = go_sniff(&ran.output);
        (StatusCode::OK, [("content-type", content_type)], ran.output).into_response()
    } else {
        // Go writes no Content-Type for an empty body.
        StatusCode::OK.into_response()
    }
}

/// The Content-Type Go's `http.DetectContentType` gives a command's output, for the answers
/// that carry it: HTML and XML by their openings, text, else `application/octet-stream`. (Go
/// also knows images, archives, fonts and media by their magic numbers; a command's output
/// that is one of those is answered as `application/octet-stream` here.)
fn go_sniff(data: &[u8]) -> &'static str {
    const HTML: [&[u8]; 17] = [
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    let data = &data[..data.len().min(512)];
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(data.len());
    let trimmed = &data[start..];
    let html = HTML.iter().any(|sig| {
        trimmed.len() > sig.len()
            && trimmed[..sig.len()].eq_ignore_ascii_case(sig)
            && matches!(trimmed[sig.len()], b' ' | b'>')
    });
    if html {
        return "text/html; charset=utf-8";
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    let binary = data
        .iter()
        .any(|b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}
