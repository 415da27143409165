//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`), as Flagger's
//! provider reads it (Flagger 1.43+): the query is
//! `[<namespace>/]<metricName>[?labelSelector=<urlencoded selector>]` (namespace `default`),
//! answered by `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<namespace>/<metricName>`
//! with the selector as `labelSelector` and `timeout=5s` (as client-go sends Flagger's
//! timeout); the value is the first item's `value` (a quantity).
//!
//! Without `spec.provider.address` the request goes through the cluster with fledge's own
//! credentials, as Flagger's goes through its in-cluster configuration. With an address, it goes
//! straight to that server (a metrics adapter's Service), with the Secret's `token` as a bearer
//! token when there is one. Unlike Flagger, fledge never sends its own service account token to
//! a template's address: anyone who may write a MetricTemplate could otherwise collect it.

use serde::Deserialize;

use super::{Call, MetricError, TIMEOUT, json, url};
use crate::cluster::{Cluster, Fault};

/// The API's path prefix.
pub const PREFIX: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces";

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub namespace: String,
    pub metric: String,
    /// The label selector, as written; empty for every series.
    pub selector: String,
}

/// Reads a query as Flagger's `parseExternalMetricsQuery` does.
pub fn parse(query: &str) -> Result<Query, MetricError> {
    let bad = |why: &str| {
        MetricError::Failed(format!(
            "externalmetrics query {query:?}: {why}; expected <namespace>/<metricName>?labelSelector=<urlencoded label selectors>"
        ))
    };
    let query = query.trim();
    // As Go's url.Parse of "dummy:///" + query: the fragment goes, the query string follows `?`.
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let (path, params) = query.split_once('?').unwrap_or((query, ""));
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad("the path is not UTF-8"))?;
    let parts: Vec<&str> = path.split('/').collect();
    let (namespace, metric) = match parts.as_slice() {
        [metric] => ("default", *metric),
        [ns, metric] => (if ns.is_empty() { "default" } else { ns }, *metric),
        _ => return Err(bad("too many slashes")),
    };
    if metric.is_empty() {
        return Err(bad("the metric name is empty"));
    }
    let selector = reqwest::Url::parse(&format!("dummy:///?{params}"))
        .map_err(|e| bad(&e.to_string()))?
        .query_pairs()
        .find(|(k, _)| k == "labelSelector")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    // Checked as the API server would parse it, so a typo fails here, naming the query.
    crate::render::ObjectSelector::new(&crate::render::kustomization::Selector {
        label_selector: selector.clone(),
        ..Default::default()
    })
    .map_err(|e| bad(&format!("label selector {selector:?}: {e}")))?;
    Ok(Query {
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        selector,
    })
}

impl Query {
    /// The request's path and query string.
    #[must_use]
    pub fn path(&self) -> String {
        use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
        // As Go's url.URL escapes a path segment, and url.QueryEscape a query value.
        const SEGMENT: &AsciiSet = &CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'#')
            .add(b'%')
            .add(b'/')
            .add(b'<')
            .add(b'>')
            .add(b'?')
            .add(b'`')
            .add(b'{')
            .add(b'}');
        const QUERY: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let seg = |s: &str| utf8_percent_encode(s, SEGMENT).to_string();
        let mut p = format!("{PREFIX}/{}/{}?", seg(&self.namespace), seg(&self.metric));
        if !self.selector.is_empty() {
            p.push_str("labelSelector=");
            p.push_str(
                &utf8_percent_encode(&self.selector, QUERY)
                    .to_string()
                    .replace("%20", "+"),
            );
            p.push('&');
        }
        // client-go adds its configured timeout (Flagger's 5 s) to every request.
        p.push_str("timeout=5s");
        p
    }
}

/// The request to a metrics server at `address`, with `token` as bearer token.
pub fn call(address: &str, token: Option<&str>, query: &Query) -> Result<Call, MetricError> {
    let headers = token
        .map(|t| vec![("Authorization".to_owned(), format!("Bearer {t}"))])
        .unwrap_or_default();
    Ok(Call {
        method: reqwest::Method::GET,
        url: url(address, &query.path())?,
        headers,
        body: None,
        timeout: TIMEOUT,
    })
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    value: serde_json::Value,
}

/// The first item's value (an `ExternalMetricValueList`); none is no data.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let list: List = json("externalmetrics", body)?;
    let Some(first) = list.items.first() else {
        return Err(MetricError::NoData(
            "the external metrics API returned no items".into(),
        ));
    };
    let text = match &first.value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(MetricError::Failed(format!(
                "the external metrics API returned the value {other}, not a quantity"
            )));
        }
    };
    quantity(&text).ok_or_else(|| {
        MetricError::Failed(format!(
            "the external metrics API returned the value {text:?}, not a quantity"
        ))
    })
}

/// A Kubernetes quantity (`1500m`, `2Ki`, `1.5e3`) as a float, as `AsApproximateFloat64`.
/// Hand-rolled: no maintained crate reads quantities, and the grammar is a number and a suffix.
#[must_use]
pub fn quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * scale)
}

/// Reads the metric through the cluster (its API server serves the external metrics API
/// through an APIService), with fledge's own credentials.
pub async fn through_cluster(cluster: &impl Cluster, query: &Query) -> Result<f64, MetricError> {
    let path = query.path();
    let address = "the cluster (external.metrics.k8s.io)";
    let answer = tokio::time::timeout(TIMEOUT, cluster.get_raw(&path))
        .await
        .map_err(|_| MetricError::Unreachable {
            address: address.to_owned(),
            message: format!("GET {path}: no answer within {}s", TIMEOUT.as_secs()),
        })?
        .map_err(|e| {
        let message = format!("GET {path}: {}", crate::chain::Chain(&e));
        let address = address.to_owned();
        match e.fault() {
            Fault::Forbidden | Fault::Unauthorized => MetricError::Denied { address, message },
            Fault::Unreachable => MetricError::Unreachable { address, message },
            Fault::NotFound => MetricError::Failed(format!(
                "{message}: the cluster serves no external metric {} in {} (is a metrics adapter registered for external.metrics.k8s.io?)",
                query.metric, query.namespace
            )),
            _ => MetricError::Failed(message),
        }
    })?;
    value(&serde_json::to_vec(&answer).unwrap_or_default())
}
