//! Dynatrace metrics API v2: `GET <address>/api/v2/metrics/query?metricSelector=…&resolution=Inf
//! &from=…&to=…` (milliseconds) with `Authorization: Api-Token <token>`
//! (<https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points>).
//! As Flagger's provider: the window is ten metric intervals back from now; the value is the
//! first value of the last data series of the first result.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Call, MetricError, TIMEOUT, json, url};

/// Flagger looks back this many metric intervals.
const INTERVALS_BACK: u128 = 10;

/// The query request.
pub fn call(
    address: &str,
    token: &str,
    query: &str,
    interval: Duration,
    now: SystemTime,
) -> Result<Call, MetricError> {
    let to = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000);
    let back = u64::try_from(interval.as_millis() * INTERVALS_BACK).unwrap_or(u64::MAX);
    let mut u = url(address, "/api/v2/metrics/query")?;
    u.query_pairs_mut()
        .append_pair("metricSelector", query)
        .append_pair("resolution", "Inf")
        .append_pair("from", &to.saturating_sub(back).to_string())
        .append_pair("to", &to.to_string());
    Ok(Call {
        method: reqwest::Method::GET,
        url: u,
        headers: vec![("Authorization".into(), format!("Api-Token {token}"))],
        body: None,
        timeout: TIMEOUT,
    })
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    result: Vec<Result_>,
}

#[derive(Deserialize)]
struct Result_ {
    #[serde(default)]
    data: Vec<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    values: Vec<Option<f64>>,
}

/// The value of an answer; a missing or `null` value is no data.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let r: Response = json("dynatrace", body)?;
    r.result
        .first()
        .and_then(|r| r.data.last())
        .and_then(|d| d.values.first().copied().flatten())
        .filter(|v| !v.is_nan())
        .ok_or_else(|| MetricError::NoData("dynatrace returned no data point".into()))
}
