//! Google Cloud Monitoring (Stackdriver): the template's MQL query runs through
//! `POST <endpoint>/v3/projects/<project>/timeSeries:query` with body `{"query": …}`, the REST
//! form of the `QueryTimeSeries` call Flagger's client makes
//! (<https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query>). The
//! Secret's `project` names the project; its `serviceAccountKey` (a service account's JSON key)
//! is exchanged for an access token with a signed JWT at the key's `token_uri`
//! (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>); without
//! it the token comes from the metadata server (GKE workload identity; `GCE_METADATA_HOST`
//! overrides its address, as Google's libraries read it). The value is the first value of
//! the first point of the first series; no series or point is no data. Where Flagger reads only
//! `doubleValue` (an `int64Value` reading 0), fledge reads both. `spec.provider.address`, which
//! Flagger ignores here, replaces the endpoint `https://monitoring.googleapis.com`.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Call, MetricError, TIMEOUT, json as read_json, unix_seconds, url};

/// The Cloud Monitoring API.
pub const DEFAULT_HOST: &str = "https://monitoring.googleapis.com";

const SCOPE: &str = "https://www.googleapis.com/auth/monitoring.read";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service account key, as Google Cloud issues it (JSON); `Debug` shows the account only.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccountKey({}, <redacted>)", self.client_email)
    }
}

impl ServiceAccountKey {
    /// Reads a key; the error never quotes it.
    pub fn parse(secret: &str, json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| {
            format!(
                "Secret {secret}: serviceAccountKey is not a service account's JSON key (line {}, column {}: {:?}); download one with `gcloud iam service-accounts keys create`",
                e.line(),
                e.column(),
                e.classify()
            )
        })
    }

    fn token_uri(&self) -> &str {
        self.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI)
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The token request for a service account key: a JWT signed with its key (RS256), valid for
/// an hour, for the read-only monitoring scope.
pub fn token_call(key: &ServiceAccountKey, now: SystemTime) -> Result<Call, MetricError> {
    let iat = unix_seconds(now);
    let claims = Claims {
        iss: &key.client_email,
        scope: SCOPE,
        aud: key.token_uri(),
        iat,
        exp: iat + 3600,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid.clone_from(&key.private_key_id);
    let signing =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|e| {
            MetricError::Failed(format!(
                "the service account key of {} holds no usable RSA private key: {e}",
                key.client_email
            ))
        })?;
    let assertion = jsonwebtoken::encode(&header, &claims, &signing)
        .map_err(|e| MetricError::Failed(format!("signing the token request failed: {e}")))?;
    let u = reqwest::Url::parse(key.token_uri()).map_err(|e| {
        MetricError::Failed(format!(
            "the service account key's token_uri is not a URL: {e}"
        ))
    })?;
    let body = reqwest::Url::parse_with_params(
        "http://form/",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ],
    )
    .map_err(|e| MetricError::Failed(e.to_string()))?
    .query()
    .unwrap_or_default()
    .to_owned();
    Ok(Call {
        method: reqwest::Method::POST,
        url: u,
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: Some(body),
        timeout: TIMEOUT,
    })
}

/// The metadata server's token request (`host` from `GCE_METADATA_HOST`, else Google's).
pub fn metadata_call(host: Option<&str>) -> Result<Call, MetricError> {
    let host = host.unwrap_or("metadata.google.internal");
    let u = url(
        &format!("http://{host}"),
        "/computeMetadata/v1/instance/service-accounts/default/token",
    )?;
    Ok(Call {
        method: reqwest::Method::GET,
        url: u,
        headers: vec![("Metadata-Flavor".into(), "Google".into())],
        body: None,
        timeout: TIMEOUT,
    })
}

/// What a token endpoint's status says: Google answers a key it does not accept (revoked,
/// unknown, badly signed) with 400 `invalid_grant`, which is a refusal like 401/403.
pub fn token_status(address: &str, status: u16, body: &[u8]) -> Result<(), MetricError> {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    if status == 400 && v["error"] == "invalid_grant" {
        return Err(MetricError::Denied {
            address: address.to_owned(),
            message: format!(
                "the service account key was refused: {}",
                v["error_description"].as_str().unwrap_or("invalid_grant")
            ),
        });
    }
    super::classify("the Google token endpoint", address, status, body)
}

/// The access token of a token answer.
pub fn token(body: &[u8]) -> Result<String, MetricError> {
    let v: Value = read_json("the Google token endpoint", body)?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| MetricError::Failed("the Google token endpoint sent no access_token".into()))
}

/// The query request.
pub fn query_call(
    address: &str,
    project: &str,
    token: &str,
    query: &str,
) -> Result<Call, MetricError> {
    let mut u = url(address, "/v3/projects/")?;
    u.path_segments_mut()
        .map_err(|()| MetricError::Failed(format!("{address} cannot be a base URL")))?
        .pop_if_empty()
        .push(project)
        .push("timeSeries:query");
    Ok(Call {
        method: reqwest::Method::POST,
        url: u,
        headers: vec![
            ("Authorization".into(), format!("Bearer {token}")),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: Some(json!({"query": query}).to_string()),
        timeout: TIMEOUT,
    })
}

/// The value of a query answer.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let v: Value = read_json("stackdriver", body)?;
    let first = &v["timeSeriesData"][0]["pointData"][0]["values"][0];
    if first.is_null() {
        return Err(MetricError::NoData(
            "stackdriver returned no time series with a point".into(),
        ));
    }
    let number = first["doubleValue"].as_f64().or_else(|| {
        // int64 values come as JSON strings.
        first["int64Value"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
    });
    number.filter(|v| !v.is_nan()).ok_or_else(|| {
        MetricError::Failed(format!(
            "stackdriver returned a value that is not a number: {first}"
        ))
    })
}
