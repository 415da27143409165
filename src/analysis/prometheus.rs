//! The Prometheus provider: `GET <address>/api/v1/query?query=…` (the address's path is
//! kept, for Prometheus behind a prefix), with a per-request timeout, custom headers and
//! bearer or basic auth (flagger-spec §6.4). A vector result gives its value (the last
//! series, as Flagger takes it); an empty result or NaN is "no data"; a connection failure or
//! timeout is "unreachable".

use std::time::Duration;

use serde_json::Value;

use super::{Auth, MetricError, MetricRequest, MetricSource};
use crate::net::http_client;

/// Reads credentials from files: a bearer token, or `username:password`.
pub fn auth_from_files(
    token_file: Option<&std::path::Path>,
    basic_auth_file: Option<&std::path::Path>,
) -> std::io::Result<Option<Auth>> {
    if let Some(p) = token_file {
        let t = std::fs::read_to_string(p)?;
        return Ok(Some(Auth::Bearer(t.trim().to_owned())));
    }
    if let Some(p) = basic_auth_file {
        let t = std::fs::read_to_string(p)?;
        let (u, pw) = t.trim().split_once(':').ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: expected username:password", p.display()),
            )
        })?;
        return Ok(Some(Auth::Basic {
            username: u.to_owned(),
            password: pw.to_owned(),
        }));
    }
    Ok(None)
}

/// A Prometheus server (the default for built-in and inline queries).
#[derive(Debug, Clone)]
pub struct Prometheus {
    client: reqwest::Client,
    /// For MetricTemplates with `insecureSkipVerify`.
    insecure: reqwest::Client,
    address: String,
    auth: Option<Auth>,
}

impl Prometheus {
    /// Flagger's query timeout is 5 s.
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    #[must_use]
    pub fn new(address: &str, auth: Option<Auth>, timeout: Duration) -> Self {
        Self {
            client: http_client(timeout, false),
            insecure: http_client(timeout, true),
            address: address.trim_end_matches('/').to_owned(),
            auth,
        }
    }

    /// The default address.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs `query` against `address` (or the default); `insecure` skips the TLS certificate
    /// check (a MetricTemplate's `insecureSkipVerify`).
    pub async fn run(
        &self,
        address: Option<&str>,
        query: &str,
        headers: &std::collections::BTreeMap<String, Vec<String>>,
        auth: Option<&Auth>,
        insecure: bool,
    ) -> Result<f64, MetricError> {
        let address = address.map_or(self.address.as_str(), |a| a.trim_end_matches('/'));
        let url = format!("{address}/api/v1/query");
        let mut target = reqwest::Url::parse(&url)
            .map_err(|e| MetricError::Failed(format!("{url} is not a URL: {e}")))?;
        target.query_pairs_mut().append_pair("query", query);
        let client = if insecure {
            &self.insecure
        } else {
            &self.client
        };
        let mut req = client.get(target);
        for (k, vs) in headers {
            for v in vs {
                req = req.header(k, v);
            }
        }
        req = match auth.or(self.auth.as_ref()) {
            Some(Auth::Bearer(t)) => req.bearer_auth(t),
            Some(Auth::Basic { username, password }) => req.basic_auth(username, Some(password)),
            None => req,
        };
        let unreachable = |e: &reqwest::Error| MetricError::Unreachable {
            address: address.to_owned(),
            message: if e.is_timeout() {
                "no answer within the timeout".into()
            } else {
                error_chain(e)
            },
        };
        let resp = req.send().await.map_err(|e| unreachable(&e))?;
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(b) => b,
            Err(e) if status.is_success() => {
                return Err(MetricError::Failed(format!(
                    "{url}: unreadable answer: {e}"
                )));
            }
            Err(_) if matches!(status.as_u16(), 401 | 403) => {
                return Err(MetricError::Denied {
                    address: address.to_owned(),
                    message: format!("HTTP {status}: check the credentials (token or basic auth)"),
                });
            }
            Err(_) => {
                return Err(if status.is_server_error() {
                    MetricError::Unreachable {
                        address: address.to_owned(),
                        message: format!("HTTP {status}"),
                    }
                } else {
                    MetricError::Failed(format!("{url}: HTTP {status}"))
                });
            }
        };
        if body["status"] != "success" {
            return Err(MetricError::Failed(format!(
                "Prometheus query failed: {} ({})",
                body["error"].as_str().unwrap_or("no error message"),
                body["errorType"].as_str().unwrap_or("HTTP error")
            )));
        }
        let data = &body["data"];
        let raw = match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .and_then(|r| r.last())
                .map(|s| s["value"][1].clone()),
            Some("scalar") => Some(data["result"][1].clone()),
            Some("matrix") => {
                return Err(MetricError::Failed("query returned multiple values".into()));
            }
            other => {
                return Err(MetricError::Failed(format!(
                    "unexpected result type {other:?}"
                )));
            }
        };
        let value = raw
            .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()))
            .filter(|v| !v.is_nan())
            .ok_or_else(|| MetricError::NoData(format!("the query returned no value: {query}")))?;
        Ok(value)
    }

    /// Flagger's online check: `vector(1)` must answer 1.
    pub async fn online(&self) -> Result<(), MetricError> {
        let v = self
            .run(
                None,
                "vector(1)",
                &std::collections::BTreeMap::new(),
                None,
                false,
            )
            .await?;
        if (v - 1.0).abs() > f64::EPSILON {
            return Err(MetricError::Failed(format!("vector(1) returned {v}")));
        }
        Ok(())
    }
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl MetricSource for Prometheus {
    async fn query(&self, r: &MetricRequest<'_>) -> Result<f64, MetricError> {
        let address = r.address.as_deref().or(r.spec.metrics_server.as_deref());
        self.run(address, &r.query, &r.headers, r.auth.as_ref(), r.insecure)
            .await
    }
}
