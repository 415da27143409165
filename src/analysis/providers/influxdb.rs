//! InfluxDB 2 (Flux): `POST <address>/api/v2/query?org=<org>` with
//! `Authorization: Token <token>` and a JSON body holding the query, `"type": "flux"` and the
//! annotated-CSV dialect, as Flagger's client (influxdb-client-go) sends it
//! (<https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery>). The answer is
//! annotated CSV; the value is the first record's `_value`, which must be a `double` (as in
//! Flagger). Flagger's 15 s timeout. Where Flagger returns 0 for an answer without records,
//! fledge reports no data: a 0 would pass a maximum-bounded check it never measured.

use std::time::Duration;

use serde_json::json;

use super::{Call, MetricError, excerpt, url};

/// Flagger's InfluxDB query timeout.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The query request.
pub fn call(
    address: &str,
    auth: Option<&(String, String)>,
    query: &str,
) -> Result<Call, MetricError> {
    let mut u = url(address, "/api/v2/query")?;
    let org = auth.map_or("", |(_, org)| org.as_str());
    u.query_pairs_mut().append_pair("org", org);
    let mut headers = vec![
        ("Content-Type".into(), "application/json".into()),
        ("Accept-Encoding".into(), "identity".into()),
    ];
    if let Some((token, _)) = auth.filter(|(t, _)| !t.is_empty()) {
        headers.push(("Authorization".into(), format!("Token {token}")));
    }
    let body = json!({
        "query": query,
        "type": "flux",
        "dialect": {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": true},
    });
    Ok(Call {
        method: reqwest::Method::POST,
        url: u,
        headers,
        body: Some(body.to_string()),
        timeout: TIMEOUT,
    })
}

/// The value of an annotated-CSV answer: the first record's `_value`.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut datatypes: Vec<String> = Vec::new();
    let mut defaults: Vec<String> = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for row in reader.records() {
        let row = row.map_err(|e| {
            MetricError::Failed(format!(
                "influxdb answered unreadable CSV ({e}): {}",
                excerpt(body)
            ))
        })?;
        let cells: Vec<String> = row.iter().map(str::to_owned).collect();
        if cells.iter().all(String::is_empty) {
            // A blank line ends a table; the next one brings its own annotations.
            names = None;
            continue;
        }
        match cells[0].as_str() {
            "#datatype" => {
                datatypes = cells;
                names = None;
                continue;
            }
            "#default" => {
                defaults = cells;
                continue;
            }
            s if s.starts_with('#') => continue,
            _ => {}
        }
        let Some(columns) = &names else {
            names = Some(cells);
            continue;
        };
        return record(columns, &cells, &datatypes, &defaults);
    }
    Err(MetricError::NoData("influxdb returned no records".into()))
}

/// One record's `_value` (or the error of an error table).
fn record(
    columns: &[String],
    cells: &[String],
    datatypes: &[String],
    defaults: &[String],
) -> Result<f64, MetricError> {
    let col = |name: &str| columns.iter().position(|c| c == name);
    if let Some(e) = col("error") {
        return Err(MetricError::Failed(format!(
            "influxdb query failed: {}",
            cells.get(e).map_or("", String::as_str)
        )));
    }
    let Some(i) = col("_value") else {
        return Err(MetricError::NoData(
            "influxdb returned a record without _value".into(),
        ));
    };
    let raw = cells
        .get(i)
        .filter(|v| !v.is_empty())
        .or_else(|| defaults.get(i).filter(|v| !v.is_empty()));
    let Some(raw) = raw else {
        return Err(MetricError::NoData(
            "influxdb returned a record whose _value is empty".into(),
        ));
    };
    match datatypes.get(i).map(String::as_str) {
        Some("double") => raw
            .parse::<f64>()
            .ok()
            .filter(|v| !v.is_nan())
            .ok_or_else(|| MetricError::NoData(format!("influxdb returned _value {raw:?}"))),
        other => Err(MetricError::Failed(format!(
            "influxdb returned a _value of type {}, not double: convert it in the query (|> toFloat())",
            other.unwrap_or("unknown")
        ))),
    }
}
