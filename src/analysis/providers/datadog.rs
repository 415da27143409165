//! Datadog: `GET <address>/api/v1/query?query=…&from=…&to=…` with the `DD-API-KEY` and
//! `DD-APPLICATION-KEY` headers (<https://docs.datadoghq.com/api/latest/metrics/#query-timeseries-points>).
//! As Flagger's provider: the window is ten metric intervals back from now; the value is the
//! first point of the first series (the oldest, as the newest bucket is usually incomplete).

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Call, MetricError, TIMEOUT, json, unix_seconds, url};

/// Flagger's default host.
pub const DEFAULT_HOST: &str = "https://api.datadoghq.com";

/// Flagger looks back this many metric intervals.
const INTERVALS_BACK: u64 = 10;

/// The query request.
pub fn call(
    address: &str,
    api_key: &str,
    app_key: &str,
    query: &str,
    interval: Duration,
    now: SystemTime,
) -> Result<Call, MetricError> {
    let to = unix_seconds(now);
    let back = i64::try_from(interval.as_secs() * INTERVALS_BACK).unwrap_or(i64::MAX);
    let mut u = url(address, "/api/v1/query")?;
    u.query_pairs_mut()
        .append_pair("query", query)
        .append_pair("from", &(to - back).to_string())
        .append_pair("to", &to.to_string());
    Ok(Call {
        method: reqwest::Method::GET,
        url: u,
        headers: vec![
            ("DD-API-KEY".into(), api_key.to_owned()),
            ("DD-APPLICATION-KEY".into(), app_key.to_owned()),
        ],
        body: None,
        timeout: TIMEOUT,
    })
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    series: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    pointlist: Vec<Vec<Option<f64>>>,
}

/// The value of an answer: the first point of the first series. A point without a value
/// (`null`, which Datadog sends for an empty bucket) is no data.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let r: Response = json("datadog", body)?;
    r.series
        .first()
        .and_then(|s| s.pointlist.first())
        .and_then(|p| p.get(1).copied().flatten())
        .filter(|v| !v.is_nan())
        .ok_or_else(|| MetricError::NoData("datadog returned no series with a point".into()))
}
