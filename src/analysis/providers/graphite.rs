//! Graphite's render API: `GET <address>/render?<query>&format=json`, the template's query
//! being the render parameters (`target=…&from=-5min`), with basic auth when the template
//! names a Secret (<https://graphite.readthedocs.io/en/latest/render_api.html>). As Flagger's
//! provider: whitespace runs are one space, the parameters are sent sorted by name (Go's
//! `url.Values.Encode`), and the value is the last non-null data point over all the targets.

use serde_json::Value;

use super::{Call, MetricError, TIMEOUT, json, url};

/// The query request.
pub fn call(
    address: &str,
    auth: Option<&(String, String)>,
    query: &str,
) -> Result<Call, MetricError> {
    let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut u = url(address, "/render")?;
    // The query is itself URL parameters; read them as Go's `url.ParseQuery` does.
    let parsed = reqwest::Url::parse(&format!("http://graphite/render?{query}"))
        .map_err(|e| MetricError::Failed(format!("graphite query {query:?}: {e}")))?;
    let mut pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "format")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.push(("format".into(), "json".into()));
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    u.query_pairs_mut().extend_pairs(pairs);
    let mut headers = Vec::new();
    if let Some((user, password)) = auth.filter(|(u, p)| !u.is_empty() && !p.is_empty()) {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("Authorization".into(), format!("Basic {basic}")));
    }
    Ok(Call {
        method: reqwest::Method::GET,
        url: u,
        headers,
        body: None,
        timeout: TIMEOUT,
    })
}

/// A data point's value: a number, a numeric string, or null (none).
fn point(v: &Value) -> Result<Option<f64>, MetricError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => s.parse().map(Some).map_err(|_| {
            MetricError::Failed(format!(
                "graphite returned a data point {s:?}, not a number"
            ))
        }),
        other => Err(MetricError::Failed(format!(
            "graphite returned a data point {other}, not a number"
        ))),
    }
}

/// The value of an answer: the last non-null data point of all the targets.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let targets: Vec<Value> = json("graphite", body)?;
    let mut last = None;
    for t in &targets {
        for dp in t["datapoints"].as_array().into_iter().flatten() {
            let Some([v, _]) = dp.as_array().map(Vec::as_slice) else {
                return Err(MetricError::Failed(format!(
                    "graphite returned a data point {dp}, not [value, timestamp]"
                )));
            };
            if let Some(v) = point(v)? {
                last = Some(v);
            }
        }
    }
    last.ok_or_else(|| MetricError::NoData("graphite returned no non-null data point".into()))
}
