//! Webhooks with Flagger's contract (flagger-spec §5): `POST <url>` with
//! `{"name","namespace","phase","checksum","metadata"}`, success when the status is at most
//! 202, a per-attempt timeout, and `retries` with go-retryablehttp's rules (connection errors,
//! 429 and 5xx except 501; exponential backoff from 1 s up to 30 s; `Retry-After` honoured).
//! Hooks of one type run in spec order; gates stop at the first failure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::net::http_client;
use crate::release::spec::{HookType, ReleaseSpec, WebhookSpec};
use crate::release::state::{FailedCheck, FailureKind, Outcome, Phase};

/// Calls webhooks.
#[derive(Debug, Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    insecure: reqwest::Client,
    /// First retry delay (1 s, as go-retryablehttp); tests shorten it.
    pub backoff: Duration,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

/// The JSON body Flagger sends.
#[must_use]
pub fn payload(
    spec: &ReleaseSpec,
    phase: Phase,
    checksum: &str,
    metadata: &BTreeMap<String, String>,
) -> Value {
    let mut body = json!({"name": spec.name, "namespace": spec.namespace,
                          "phase": phase.as_str(), "checksum": checksum});
    if !metadata.is_empty() {
        body["metadata"] = json!(metadata);
    }
    body
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 429 || (status.is_server_error() && status.as_u16() != 501)
}

impl Webhooks {
    #[must_use]
    pub fn new(backoff: Duration) -> Self {
        // Per-attempt timeouts are set on each request.
        let long = Duration::from_secs(3600);
        Self {
            client: http_client(long, false),
            insecure: http_client(long, true),
            backoff,
        }
    }

    /// Calls one hook; `Err` is the text Flagger shows (the response body, or why there is none).
    pub async fn call(&self, hook: &WebhookSpec, body: &Value) -> Result<(), String> {
        let client = if hook.disable_tls {
            &self.insecure
        } else {
            &self.client
        };
        let attempts = hook.retries + 1;
        let mut last = String::new();
        for attempt in 0..attempts {
            let mut wait = None;
            match client
                .post(&hook.url)
                .timeout(hook.timeout)
                .json(body)
                .send()
                .await
            {
                Ok(resp) => {
                    let status = resp.status();
                    if status.as_u16() <= 202 {
                        return Ok(());
                    }
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    last = if text.trim().is_empty() {
                        format!(
                            "{} {}",
                            status.as_u16(),
                            status.canonical_reason().unwrap_or("")
                        )
                        .trim()
                        .to_owned()
                    } else {
                        text.trim().chars().take(500).collect()
                    };
                    if !retryable(status) {
                        return Err(last);
                    }
                    if matches!(status.as_u16(), 429 | 503) {
                        wait = retry_after;
                    }
                }
                Err(e) => {
                    last = if e.is_timeout() {
                        format!("POST {} timed out after {:?}", hook.url, hook.timeout)
                    } else {
                        format!("POST {}: {e}", hook.url)
                    };
                }
            }
            if attempt + 1 < attempts {
                let backoff = self
                    .backoff
                    .saturating_mul(1 << attempt.min(5))
                    .min(Duration::from_secs(30));
                tokio::time::sleep(wait.unwrap_or(backoff)).await;
            }
        }
        if hook.retries > 0 {
            Err(format!(
                "POST {} giving up after {attempts} attempt(s)",
                hook.url
            ))
        } else {
            Err(last)
        }
    }

    /// Runs the hooks of a gating type in order (flagger-spec §5.1). For `rollback`, `Pass`
    /// means a hook signalled a rollback.
    pub async fn run(
        &self,
        spec: &ReleaseSpec,
        t: HookType,
        phase: Phase,
        checksum: &str,
    ) -> Outcome {
        for hook in spec.hooks(t) {
            let fail = |message| {
                Outcome::Fail(FailedCheck::new(
                    FailureKind::Hook,
                    format!("webhook {}", hook.name),
                    message,
                ))
            };
            let body = payload(spec, phase, checksum, &hook.metadata);
            let result = self.call(hook, &body).await;
            match (t, result) {
                (HookType::Rollback, Ok(())) => return Outcome::Pass,
                (HookType::Rollback, Err(_)) | (_, Ok(())) => {}
                (HookType::PreRollout, Err(e)) => return fail(format!("{} failed {e}", hook.name)),
                (HookType::Rollout, Err(e)) => {
                    return fail(format!(
                        "Halt {} advancement external check {} failed {e}",
                        spec.dotted(),
                        hook.name
                    ));
                }
                (_, Err(_)) => return fail(hook.name.clone()),
            }
        }
        if t == HookType::Rollback {
            return Outcome::Fail(FailedCheck::new(
                FailureKind::Hook,
                "rollback webhooks",
                "no rollback hook signalled a rollback",
            ));
        }
        Outcome::Pass
    }

    /// Calls every `post-rollout` hook; returns the failures (they change nothing).
    pub async fn post_rollout(
        &self,
        spec: &ReleaseSpec,
        phase: Phase,
        checksum: &str,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for hook in spec.hooks(HookType::PostRollout) {
            let body = payload(spec, phase, checksum, &hook.metadata);
            if let Err(e) = self.call(hook, &body).await {
                failures.push(format!("Post-rollout hook {} failed {e}", hook.name));
            }
        }
        failures
    }

    /// Sends an event to the `event` hooks (logged only on failure).
    pub async fn event(
        &self,
        spec: &ReleaseSpec,
        phase: Phase,
        checksum: &str,
        message: &str,
        warning: bool,
        now_ms: i64,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for hook in spec.hooks(HookType::Event) {
            let mut metadata = hook.metadata.clone();
            metadata.insert("eventMessage".into(), message.to_owned());
            metadata.insert(
                "eventType".into(),
                if warning { "Warning" } else { "Normal" }.into(),
            );
            metadata.insert("timestamp".into(), now_ms.to_string());
            let body = payload(spec, phase, checksum, &metadata);
            if let Err(e) = self.call(hook, &body).await {
                failures.push(format!("event hook {} failed {e}", hook.name));
            }
        }
        failures
    }
}
