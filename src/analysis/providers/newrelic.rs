//! New Relic Insights: `GET <address>/v1/accounts/<account>/query?nrql=<query> SINCE <s>
//! seconds ago` with the `X-Query-Key` header
//! (<https://docs.newrelic.com/docs/apis/insights-apis/query-insights-event-data-api/>). As
//! Flagger's provider: the window is one metric interval; the answer must hold exactly one
//! result, whose `result` field is the value.

use std::time::Duration;

use serde::Deserialize;

use super::{Call, MetricError, TIMEOUT, json, url};

/// Flagger's default host.
pub const DEFAULT_HOST: &str = "https://insights-api.newrelic.com";

/// The query request.
pub fn call(
    address: &str,
    account_id: &str,
    query_key: &str,
    query: &str,
    interval: Duration,
) -> Result<Call, MetricError> {
    let mut u = url(address, "/v1/accounts/")?;
    u.path_segments_mut()
        .map_err(|()| MetricError::Failed(format!("{address} cannot be a base URL")))?
        .pop_if_empty()
        .push(account_id)
        .push("query");
    u.query_pairs_mut().append_pair(
        "nrql",
        &format!("{query} SINCE {} seconds ago", interval.as_secs()),
    );
    Ok(Call {
        method: reqwest::Method::GET,
        url: u,
        headers: vec![("X-Query-Key".into(), query_key.to_owned())],
        body: None,
        timeout: TIMEOUT,
    })
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    result: Option<f64>,
}

/// The value of an answer: one result with a non-null `result`, else no data.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let r: Response = json("newrelic", body)?;
    match r.results.as_slice() {
        [Item { result: Some(v) }] if !v.is_nan() => Ok(*v),
        [_] => Err(MetricError::NoData(
            "newrelic returned a null result".into(),
        )),
        other => Err(MetricError::NoData(format!(
            "newrelic returned {} results, not one",
            other.len()
        ))),
    }
}
