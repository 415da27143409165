//! MetricTemplate providers other than Prometheus, as Flagger queries them
//! (`pkg/metrics/providers`): each module builds its request ([`Call`]) and reads the answer
//! as pure functions; [`query`] sends the call. Credentials come from the template's
//! `secretRef` Secret under the keys Flagger reads for that provider ([`credentials`]); they
//! never appear in logs, errors or `Debug` output.
//!
//! Failures keep fledge's distinctions: a provider that cannot be reached, times out or answers
//! 5xx is [`MetricError::Unreachable`], 401/403 is [`MetricError::Denied`], an answer without a
//! value is [`MetricError::NoData`], anything else [`MetricError::Failed`].

pub mod cloudwatch;
pub mod datadog;
pub mod dynatrace;
pub mod externalmetrics;
pub mod graphite;
pub mod influxdb;
pub mod keptn;
pub mod newrelic;
pub mod splunk;
pub mod stackdriver;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::{MetricError, MetricRequest};
use crate::cluster::Cluster;
use crate::net::http_client;

/// A Secret's data, decoded, by key; `Debug` shows the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData {
    /// `namespace/name`, for errors.
    pub name: String,
    data: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretData {
    #[must_use]
    pub fn new(name: String, data: BTreeMap<String, String>) -> Self {
        Self { name, data }
    }

    /// The value under `key`, if the Secret has it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// Prometheus's credentials: `token`, or `username` and `password`.
    #[must_use]
    pub fn prometheus_auth(&self) -> Option<super::Auth> {
        match (
            self.get("token"),
            self.get("username"),
            self.get("password"),
        ) {
            (Some(t), _, _) => Some(super::Auth::Bearer(t.to_owned())),
            (None, Some(u), Some(p)) => Some(super::Auth::Basic {
                username: u.to_owned(),
                password: p.to_owned(),
            }),
            _ => None,
        }
    }

    /// The value under `key`, or an error naming the Secret, the key and the provider.
    pub fn require(&self, provider: &str, key: &str) -> Result<String, String> {
        self.get(key).map(str::to_owned).ok_or_else(|| {
            format!(
                "Secret {} has no key {key:?}, which the {provider} metric provider reads",
                self.name
            )
        })
    }
}

/// What a provider needs from its Secret; `Debug` shows no value.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `datadog_api_key`, `datadog_application_key`.
    Datadog { api_key: String, app_key: String },
    /// `newrelic_account_id`, `newrelic_query_key`.
    NewRelic {
        account_id: String,
        query_key: String,
    },
    /// `dynatrace_token`.
    Dynatrace { token: String },
    /// `username` and `password`, when the template names a Secret.
    Graphite(Option<(String, String)>),
    /// `token` and `org`, when the template names a Secret.
    Influxdb(Option<(String, String)>),
    /// None: Keptn is read through the cluster, with the daemon's own credentials.
    Keptn,
    /// `sf_token_key`.
    Splunk { token: String },
    /// `token`, if the Secret has it; `direct`: the template's address is queried, not the
    /// cluster.
    ExternalMetrics { token: Option<String>, direct: bool },
    /// None from a Secret: AWS's default chain, at query time; the region.
    CloudWatch { region: String },
    /// `project`, and `serviceAccountKey` if the Secret has it (else the metadata server).
    Stackdriver {
        project: String,
        key: Option<stackdriver::ServiceAccountKey>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Datadog { .. } => "Credentials::Datadog(<redacted>)",
            Self::NewRelic { .. } => "Credentials::NewRelic(<redacted>)",
            Self::Dynatrace { .. } => "Credentials::Dynatrace(<redacted>)",
            Self::Graphite(_) => "Credentials::Graphite(<redacted>)",
            Self::Influxdb(_) => "Credentials::Influxdb(<redacted>)",
            Self::Keptn => "Credentials::Keptn",
            Self::Splunk { .. } => "Credentials::Splunk(<redacted>)",
            Self::ExternalMetrics { .. } => "Credentials::ExternalMetrics(<redacted>)",
            Self::CloudWatch { region } => return write!(f, "Credentials::CloudWatch({region})"),
            Self::Stackdriver { .. } => "Credentials::Stackdriver(<redacted>)",
        })
    }
}

/// A non-Prometheus template's provider, ready to query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderQuery {
    /// `spec.provider.address`, or the provider's default host.
    pub address: String,
    pub credentials: Credentials,
}

/// Reads what `provider` needs from `secret` (the template's `secretRef`, `None` when it names
/// none) and its address; `Err` says which Secret key or field is missing.
pub fn prepare(
    provider: &str,
    address: Option<&str>,
    region: Option<&str>,
    secret: Option<&SecretData>,
) -> Result<ProviderQuery, String> {
    if provider == "keptn" {
        // As in Flagger, Keptn is read through the cluster: these fields are not used.
        if address.is_some() || secret.is_some() {
            tracing::warn!(
                "the keptn metric provider reads the cluster with fledge's own credentials: spec.provider.address and spec.provider.secretRef are not used"
            );
        }
        return Ok(ProviderQuery {
            address: "the cluster".into(),
            credentials: Credentials::Keptn,
        });
    }
    if provider == "externalmetrics" {
        return external_metrics(address, secret);
    }
    let credentials = if provider == "cloudwatch" {
        // As in Flagger, from AWS's default chain, not from a Secret.
        if secret.is_some() {
            tracing::warn!(
                "the cloudwatch metric provider takes its credentials from AWS's default chain: spec.provider.secretRef is not used"
            );
        }
        Credentials::CloudWatch {
            region: region
                .ok_or("the cloudwatch metric provider needs spec.provider.region")?
                .to_owned(),
        }
    } else {
        credentials(provider, secret)?
    };
    let regional = match &credentials {
        Credentials::CloudWatch { region } => Some(cloudwatch::endpoint(region)),
        _ => None,
    };
    let default = match provider {
        "datadog" => Some(datadog::DEFAULT_HOST),
        "newrelic" => Some(newrelic::DEFAULT_HOST),
        "stackdriver" => Some(stackdriver::DEFAULT_HOST),
        _ => None,
    };
    let address = address.or(default).or(regional.as_deref()).ok_or_else(|| {
        format!("the {provider} metric provider needs spec.provider.address (it has no default)")
    })?;
    reqwest::Url::parse(address).map_err(|e| {
        format!("spec.provider.address {address:?} is not a URL ({e}): give the provider's base URL, such as https://host:port")
    })?;
    Ok(ProviderQuery {
        address: address.trim_end_matches('/').to_owned(),
        credentials,
    })
}

/// The external metrics API: through the cluster, or at the template's address with the
/// Secret's optional `token`.
fn external_metrics(
    address: Option<&str>,
    secret: Option<&SecretData>,
) -> Result<ProviderQuery, String> {
    let token = secret.and_then(|s| s.get("token")).map(str::to_owned);
    let Some(address) = address else {
        if token.is_some() {
            tracing::warn!(
                "the externalmetrics metric provider reads the cluster with fledge's own credentials when spec.provider.address is not set: the Secret's token is not used"
            );
        }
        return Ok(ProviderQuery {
            address: "the cluster".into(),
            credentials: Credentials::ExternalMetrics {
                token: None,
                direct: false,
            },
        });
    };
    reqwest::Url::parse(address).map_err(|e| {
        format!("spec.provider.address {address:?} is not a URL ({e}): give the metrics server's base URL, such as https://host:port")
    })?;
    Ok(ProviderQuery {
        address: address.trim_end_matches('/').to_owned(),
        credentials: Credentials::ExternalMetrics {
            token,
            direct: true,
        },
    })
}

/// The credentials `provider` reads from `secret`, under Flagger's keys.
fn credentials(provider: &str, secret: Option<&SecretData>) -> Result<Credentials, String> {
    let need = |what: &str| -> Result<&SecretData, String> {
        secret.ok_or_else(|| {
            format!(
                "the {provider} metric provider reads {what} from the Secret that spec.provider.secretRef names, and the template names none"
            )
        })
    };
    // Graphite and InfluxDB read a pair of keys only when the template names a Secret.
    let pair = |a: &str, b: &str| {
        secret
            .map(|s| -> Result<_, String> {
                Ok((s.require(provider, a)?, s.require(provider, b)?))
            })
            .transpose()
    };
    Ok(match provider {
        "datadog" => {
            let s = need("datadog_api_key and datadog_application_key")?;
            Credentials::Datadog {
                api_key: s.require(provider, "datadog_api_key")?,
                app_key: s.require(provider, "datadog_application_key")?,
            }
        }
        "newrelic" => {
            let s = need("newrelic_account_id and newrelic_query_key")?;
            Credentials::NewRelic {
                account_id: s.require(provider, "newrelic_account_id")?,
                query_key: s.require(provider, "newrelic_query_key")?,
            }
        }
        "dynatrace" => Credentials::Dynatrace {
            token: need("dynatrace_token")?.require(provider, "dynatrace_token")?,
        },
        "splunk" => Credentials::Splunk {
            token: need(splunk::TOKEN_KEY)?.require(provider, splunk::TOKEN_KEY)?,
        },
        "graphite" => Credentials::Graphite(pair("username", "password")?),
        "influxdb" => Credentials::Influxdb(pair("token", "org")?),
        "stackdriver" => {
            let s = need("project (and serviceAccountKey)")?;
            Credentials::Stackdriver {
                project: s.require(provider, "project")?,
                key: s
                    .get("serviceAccountKey")
                    .map(|k| stackdriver::ServiceAccountKey::parse(&s.name, k))
                    .transpose()?,
            }
        }
        other => {
            return Err(format!(
                "provider type {other} is not supported by fledge yet"
            ));
        }
    })
}

/// One HTTP request to a provider.
#[derive(Clone)]
pub struct Call {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    /// Header names and values; values may hold credentials, so `Call` has no `Debug`.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// Flagger's per-query timeout (InfluxDB's is 15 s).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Seconds since the Unix epoch.
#[must_use]
pub fn unix_seconds(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl ProviderQuery {
    /// The request for `query` at `now`, the metric's `interval` setting the time window.
    pub fn call(
        &self,
        query: &str,
        interval: Duration,
        now: SystemTime,
    ) -> Result<Call, MetricError> {
        let a = &self.address;
        match &self.credentials {
            Credentials::Datadog { api_key, app_key } => {
                datadog::call(a, api_key, app_key, query, interval, now)
            }
            Credentials::NewRelic {
                account_id,
                query_key,
            } => newrelic::call(a, account_id, query_key, query, interval),
            Credentials::Dynatrace { token } => dynatrace::call(a, token, query, interval, now),
            Credentials::Graphite(auth) => graphite::call(a, auth.as_ref(), query),
            Credentials::Influxdb(auth) => influxdb::call(a, auth.as_ref(), query),
            Credentials::ExternalMetrics {
                token,
                direct: true,
            } => externalmetrics::call(a, token.as_deref(), &externalmetrics::parse(query)?),
            Credentials::Keptn
            | Credentials::Splunk { .. }
            | Credentials::ExternalMetrics { direct: false, .. }
            | Credentials::Stackdriver { .. }
            | Credentials::CloudWatch { .. } => Err(not_one_call()),
        }
    }

    /// Reads the value from a successful answer's body.
    pub fn value(&self, body: &[u8]) -> Result<f64, MetricError> {
        match &self.credentials {
            Credentials::Datadog { .. } => datadog::value(body),
            Credentials::NewRelic { .. } => newrelic::value(body),
            Credentials::Dynatrace { .. } => dynatrace::value(body),
            Credentials::Graphite(_) => graphite::value(body),
            Credentials::Influxdb(_) => influxdb::value(body),
            Credentials::Keptn | Credentials::Splunk { .. } => Err(not_one_call()),
            Credentials::ExternalMetrics { .. } => externalmetrics::value(body),
            Credentials::Stackdriver { .. } => stackdriver::value(body),
            Credentials::CloudWatch { .. } => cloudwatch::value(body),
        }
    }

    /// The provider's name, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.credentials {
            Credentials::Datadog { .. } => "datadog",
            Credentials::NewRelic { .. } => "newrelic",
            Credentials::Dynatrace { .. } => "dynatrace",
            Credentials::Graphite(_) => "graphite",
            Credentials::Influxdb(_) => "influxdb",
            Credentials::Keptn => "keptn",
            Credentials::Splunk { .. } => "splunk",
            Credentials::ExternalMetrics { .. } => "externalmetrics",
            Credentials::Stackdriver { .. } => "stackdriver",
            Credentials::CloudWatch { .. } => "cloudwatch",
        }
    }
}

/// Keptn and external metrics without an address read the cluster, Splunk streams over a
/// WebSocket; Stackdriver and CloudWatch ask for credentials first: none is one call.
fn not_one_call() -> MetricError {
    MetricError::Failed("this provider's query is not one HTTP call".into())
}

/// A URL from a base address and a path, the address's own path kept.
pub(crate) fn url(address: &str, path: &str) -> Result<reqwest::Url, MetricError> {
    let s = format!("{}{path}", address.trim_end_matches('/'));
    reqwest::Url::parse(&s).map_err(|e| MetricError::Failed(format!("{s} is not a URL: {e}")))
}

/// A body read as JSON, or a failure quoting (the start of) it.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    provider: &str,
    body: &[u8],
) -> Result<T, MetricError> {
    serde_json::from_slice(body).map_err(|e| {
        MetricError::Failed(format!(
            "{provider} answered with something other than the expected JSON ({e}): {}",
            excerpt(body)
        ))
    })
}

/// The start of a body, for messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// What an HTTP status says, given the body: `Ok` for success, else the failure.
pub fn classify(
    provider: &str,
    address: &str,
    status: u16,
    body: &[u8],
) -> Result<(), MetricError> {
    match status {
        200..=299 => Ok(()),
        401 | 403 => Err(MetricError::Denied {
            address: address.to_owned(),
            message: format!(
                "HTTP {status}: check the credentials in the template's Secret ({})",
                excerpt(body)
            ),
        }),
        500..=599 => Err(MetricError::Unreachable {
            address: address.to_owned(),
            message: format!("HTTP {status}: {}", excerpt(body)),
        }),
        _ => Err(MetricError::Failed(format!(
            "{provider} query failed: HTTP {status}: {}",
            excerpt(body)
        ))),
    }
}

fn clients() -> &'static (reqwest::Client, reqwest::Client) {
    static CLIENTS: OnceLock<(reqwest::Client, reqwest::Client)> = OnceLock::new();
    // The timeout is set per request ([`Call::timeout`]); this one only bounds a stuck one.
    CLIENTS.get_or_init(|| {
        (
            http_client(Duration::from_secs(60), false),
            http_client(Duration::from_secs(60), true),
        )
    })
}

/// Runs a non-Prometheus template's query (Keptn's through `cluster`).
pub async fn query(
    cluster: &impl Cluster,
    request: &MetricRequest<'_>,
    p: &ProviderQuery,
) -> Result<f64, MetricError> {
    let now = SystemTime::now();
    let call = match &p.credentials {
        Credentials::Keptn => return keptn::query(cluster, &request.query).await,
        Credentials::Splunk { token } => {
            if request.insecure {
                tracing::warn!(
                    "the splunk metric provider checks the TLS certificates of its endpoints, as Flagger's does: insecureSkipVerify is not used"
                );
            }
            if !request.headers.is_empty() {
                tracing::warn!(
                    "the splunk metric provider sends spec.provider.headers with its availability request only, not over the SignalFlow WebSocket"
                );
            }
            let (stream, check) = splunk::endpoints(&p.address);
            let call = splunk::check_call(&check, token)?;
            let check_address = call.url.origin().ascii_serialization();
            let (status, body) = send(&check_address, false, &request.headers, call).await?;
            classify("splunk", &check_address, status, &body)?;
            return splunk::compute(&stream, token, &request.query, request.metric.interval).await;
        }
        Credentials::ExternalMetrics { direct: false, .. } => {
            if request.insecure || !request.headers.is_empty() {
                tracing::warn!(
                    "the externalmetrics metric provider reads the cluster as fledge's own connection does when spec.provider.address is not set: insecureSkipVerify and headers are not used"
                );
            }
            let q = externalmetrics::parse(&request.query)?;
            return externalmetrics::through_cluster(cluster, &q).await;
        }
        Credentials::Stackdriver { project, key } => {
            let token_call = match key {
                Some(k) => stackdriver::token_call(k, now)?,
                None => {
                    stackdriver::metadata_call(std::env::var("GCE_METADATA_HOST").ok().as_deref())?
                }
            };
            let token_address = token_call.url.origin().ascii_serialization();
            let (status, body) = send(
                &token_address,
                request.insecure,
                &BTreeMap::new(),
                token_call,
            )
            .await?;
            stackdriver::token_status(&token_address, status, &body)?;
            let token = stackdriver::token(&body)?;
            stackdriver::query_call(&p.address, project, &token, &request.query)?
        }
        Credentials::CloudWatch { region } => {
            let credentials = aws_credentials(region).await?;
            let form = cloudwatch::form(&request.query, request.metric.interval, now)?;
            cloudwatch::call(&p.address, region, &credentials, form, now)?
        }
        _ => p.call(&request.query, request.metric.interval, now)?,
    };
    let (status, body) = send(&p.address, request.insecure, &request.headers, call).await?;
    classify(p.kind(), &p.address, status, &body)?;
    p.value(&body)
}

/// Credentials from AWS's default chain, as it runs in a pod (see [`cloudwatch`]).
async fn aws_credentials(region: &str) -> Result<aws_credential_types::Credentials, MetricError> {
    use cloudwatch::Source;
    let env = |k: &str| std::env::var(k).ok();
    let none = BTreeMap::new();
    let fetch = |address: String, call: Call| async move {
        let (status, body) = send(&address, false, &BTreeMap::new(), call).await?;
        classify("the AWS credentials endpoint", &address, status, &body)?;
        Ok::<_, MetricError>(body)
    };
    match cloudwatch::source(&env)? {
        Source::Environment => cloudwatch::environment(&env),
        Source::WebIdentity {
            role_arn,
            token_file,
            session_name,
        } => {
            let token = std::fs::read_to_string(&token_file).map_err(|e| {
                MetricError::Failed(format!("AWS_WEB_IDENTITY_TOKEN_FILE {token_file}: {e}"))
            })?;
            let sts = cloudwatch::sts_endpoint(region, &env);
            let call = cloudwatch::web_identity_call(&sts, &role_arn, &session_name, token.trim())?;
            cloudwatch::web_identity_credentials(&fetch(sts, call).await?)
        }
        Source::Container { uri, authorization } => {
            let url = reqwest::Url::parse(&uri).map_err(|e| {
                MetricError::Failed(format!("the AWS container credentials URI {uri:?}: {e}"))
            })?;
            let headers = authorization
                .map(|a| vec![("Authorization".to_owned(), a)])
                .unwrap_or_default();
            cloudwatch::json_credentials(&fetch(uri, cloudwatch::get(url, headers)).await?)
        }
        Source::InstanceMetadata { endpoint } => {
            let base = endpoint.trim_end_matches('/');
            let mut token = cloudwatch::get(
                url(base, "/latest/api/token")?,
                vec![(
                    "X-aws-ec2-metadata-token-ttl-seconds".into(),
                    "21600".into(),
                )],
            );
            token.method = reqwest::Method::PUT;
            let (status, body) = send(base, false, &none, token).await?;
            classify("the instance metadata service", base, status, &body)?;
            let header = vec![(
                "X-aws-ec2-metadata-token".to_owned(),
                String::from_utf8_lossy(&body).trim().to_owned(),
            )];
            let roles = url(base, "/latest/meta-data/iam/security-credentials/")?;
            let body = fetch(
                base.to_owned(),
                cloudwatch::get(roles.clone(), header.clone()),
            )
            .await?;
            let role = String::from_utf8_lossy(&body)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            let creds = roles
                .join(&role)
                .map_err(|e| MetricError::Failed(format!("instance role {role:?}: {e}")))?;
            cloudwatch::json_credentials(
                &fetch(base.to_owned(), cloudwatch::get(creds, header)).await?,
            )
        }
    }
}

/// Sends a call with the template's `headers` before the provider's own; the answer's
/// status and body, or why there is none.
async fn send(
    address: &str,
    insecure: bool,
    headers: &BTreeMap<String, Vec<String>>,
    call: Call,
) -> Result<(u16, Vec<u8>), MetricError> {
    let (secure, lax) = clients();
    let client = if insecure { lax } else { secure };
    let mut req = client.request(call.method, call.url).timeout(call.timeout);
    for (k, vs) in headers {
        for v in vs {
            req = req.header(k, v);
        }
    }
    for (k, v) in &call.headers {
        req = req.header(k, v);
    }
    if let Some(b) = call.body {
        req = req.body(b);
    }
    // The URL is left out of the message: it can hold what came from a Secret (an account id).
    let unreachable = |e: reqwest::Error| MetricError::Unreachable {
        address: address.to_owned(),
        message: if e.is_timeout() {
            format!("no answer within {}s", call.timeout.as_secs())
        } else {
            super::prometheus::error_chain(&e.without_url())
        },
    };
    let resp = req.send().await.map_err(unreachable)?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(unreachable)?;
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests;
