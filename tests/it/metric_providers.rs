//! MetricTemplates of the providers other than Prometheus, end to end through the executor on
//! the simulated cluster: for each provider a local server that checks every request exactly
//! as the vendor documents it (and as Flagger sends it) and rejects anything else; the
//! credentials come from a Secret in the cluster under the keys Flagger reads. Per provider: a
//! canary is promoted on good data and rolled back on bad data, and no data, refused
//! credentials and an unreachable provider are three distinct failures. The daemon's default
//! metric source refuses every query, so a pass proves the template's provider answered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use fledge::analysis::webhooks::Webhooks;
use fledge::analysis::{self, MetricError, MetricRequest, MetricSource};
use fledge::cluster::sim::SimCluster;
use fledge::cluster::{Cluster, SimHandle};
use fledge::release::spec::Provider;
use fledge::release::state::{FailureKind, Outcome, Phase};
use fledge::release::{ReleaseTarget, parse_canary, parse_metric_template};
use fledge::revision::{HashKey, revision};
use fledge::rollout::executor::Executor;
use serde_json::{Value, json};

use super::support::tick_until;

/// The daemon's default source: never asked for a template of another provider.
struct Refuse;

impl MetricSource for Refuse {
    async fn query(&self, _: &MetricRequest<'_>) -> Result<f64, MetricError> {
        Err(MetricError::Failed(
            "the default metric source was asked".into(),
        ))
    }
}

/// What the fake provider answers a valid request with.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Value(f64),
    Nothing,
}

/// One vendor's API as the test's server checks it.
struct Vendor {
    provider: &'static str,
    query: &'static str,
    /// The Secret's data Flagger reads for this provider, given the server's address; with
    /// `true`, a credential the server refuses.
    secret: fn(&str, bool) -> Vec<(&'static str, String)>,
    /// A key the provider needs, removed to see the error.
    credential: &'static str,
    /// Checks a request: `Err(None)` for refused credentials, `Err(Some(why))` for anything
    /// else the vendor would not accept.
    check: Check,
    /// The answer's content type and body.
    answer: fn(Answer) -> (&'static str, String),
    /// A token endpoint the provider asks first: `None` for a request not to it, else the
    /// token answer's body, or `Err` as `check`'s.
    token: Option<TokenCheck>,
}

type Check = fn(&Method, &Uri, &HeaderMap, &Bytes) -> Result<(), Option<String>>;

type TokenCheck = fn(&Method, &Uri, &HeaderMap, &Bytes) -> Option<Result<String, Option<String>>>;

const INTERVAL_S: u64 = 10;

/// A Secret's data with its first value wrong when `wrong`.
fn fixed(pairs: &[(&'static str, &str)], wrong: bool) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            (
                *k,
                if wrong && i == 0 {
                    "wrong".to_owned()
                } else {
                    (*v).to_owned()
                },
            )
        })
        .collect()
}

fn params(uri: &Uri) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url_pairs(uri.query().unwrap_or("")) {
        assert!(out.insert(k.clone(), v).is_none(), "{k} given twice");
    }
    out
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn keys(p: &BTreeMap<String, String>) -> Vec<&str> {
    p.keys().map(String::as_str).collect()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A window ending now (within a minute) and starting `back` before its end.
fn window(from: &str, to: &str, scale: u64, back: u64) -> Result<(), Option<String>> {
    let (Ok(from), Ok(to)) = (from.parse::<u64>(), to.parse::<u64>()) else {
        return Err(Some(format!("from {from:?} / to {to:?} are not integers")));
    };
    let now = now_s() * scale;
    if to > now + scale || now - to > 60 * scale || to - from != back * scale {
        return Err(Some(format!("window {from}..{to} is not the last {back}s")));
    }
    Ok(())
}

fn require(ok: bool, why: impl FnOnce() -> String) -> Result<(), Option<String>> {
    if ok { Ok(()) } else { Err(Some(why())) }
}

// Datadog, "Query timeseries points": GET /api/v1/query with query, from, to (POSIX seconds)
// and the DD-API-KEY / DD-APPLICATION-KEY headers; a wrong key is 403.
// https://docs.datadoghq.com/api/latest/metrics/#query-timeseries-points
const DATADOG: Vendor = Vendor {
    provider: "datadog",
    query: "sum:http.errors{service:{{ target }}}.as_rate()",
    secret: |_, wrong| {
        fixed(
            &[
                ("datadog_api_key", "dd-api"),
                ("datadog_application_key", "dd-app"),
            ],
            wrong,
        )
    },
    credential: "datadog_api_key",
    check: |m, uri, h, _| {
        require(m == Method::GET && uri.path() == "/api/v1/query", || {
            format!("{m} {}", uri.path())
        })?;
        let p = params(uri);
        require(keys(&p) == ["from", "query", "to"], || format!("{p:?}"))?;
        require(
            p["query"] == "sum:http.errors{service:web}.as_rate()",
            || format!("query {}", p["query"]),
        )?;
        window(&p["from"], &p["to"], 1, 10 * INTERVAL_S)?;
        if header(h, "dd-api-key") != Some("dd-api")
            || header(h, "dd-application-key") != Some("dd-app")
        {
            return Err(None);
        }
        Ok(())
    },
    answer: |a| {
        let series = match a {
            Answer::Value(v) => {
                json!([{"metric": "http.errors", "pointlist": [[1.7e12, v], [1.70001e12, 1000.0]]}])
            }
            Answer::Nothing => json!([]),
        };
        (
            "application/json",
            json!({"status": "ok", "series": series}).to_string(),
        )
    },
    token: None,
};

// New Relic Insights query API: GET /v1/accounts/<account id>/query?nrql=… with the
// X-Query-Key header. https://docs.newrelic.com/docs/apis/insights-apis/query-insights-event-data-api/
const NEWRELIC: Vendor = Vendor {
    provider: "newrelic",
    query: "SELECT filter(count(*), WHERE httpResponseCode >= 500) * 100 / count(*) AS result FROM Transaction WHERE appName = '{{ target }}'",
    secret: |_, wrong| {
        fixed(
            &[
                ("newrelic_query_key", "nr-key"),
                ("newrelic_account_id", "4711"),
            ],
            wrong,
        )
    },
    credential: "newrelic_query_key",
    check: |m, uri, h, _| {
        require(
            m == Method::GET && uri.path() == "/v1/accounts/4711/query",
            || format!("{m} {}", uri.path()),
        )?;
        let p = params(uri);
        require(keys(&p) == ["nrql"], || format!("{p:?}"))?;
        require(
            p["nrql"]
                == format!(
                    "SELECT filter(count(*), WHERE httpResponseCode >= 500) * 100 / count(*) AS result FROM Transaction WHERE appName = 'web' SINCE {INTERVAL_S} seconds ago"
                ),
            || format!("nrql {}", p["nrql"]),
        )?;
        require(header(h, "x-query-key") == Some("nr-key"), String::new).map_err(|_| None)
    },
    answer: |a| {
        let result = match a {
            Answer::Value(v) => json!(v),
            Answer::Nothing => Value::Null,
        };
        (
            "application/json",
            json!({"results": [{"result": result}], "metadata": {}}).to_string(),
        )
    },
    token: None,
};

// Dynatrace metrics API v2, "GET metric data points": /api/v2/metrics/query with
// metricSelector, resolution, from and to (UTC milliseconds), and
// `Authorization: Api-Token <token>`; a wrong token is 401.
// https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points
const DYNATRACE: Vendor = Vendor {
    provider: "dynatrace",
    query: "builtin:service.errors.total.rate:filter(eq(\"dt.entity.service\",\"{{ target }}\"))",
    secret: |_, wrong| fixed(&[("dynatrace_token", "dt0c01.TOKEN")], wrong),
    credential: "dynatrace_token",
    check: |m, uri, h, _| {
        require(
            m == Method::GET && uri.path() == "/e/env/api/v2/metrics/query",
            || format!("{m} {}", uri.path()),
        )?;
        let p = params(uri);
        require(
            keys(&p) == ["from", "metricSelector", "resolution", "to"],
            || format!("{p:?}"),
        )?;
        require(
            p["metricSelector"]
                == "builtin:service.errors.total.rate:filter(eq(\"dt.entity.service\",\"web\"))"
                && p["resolution"] == "Inf",
            || format!("{p:?}"),
        )?;
        window(&p["from"], &p["to"], 1000, 10 * INTERVAL_S)?;
        require(
            header(h, "authorization") == Some("Api-Token dt0c01.TOKEN"),
            String::new,
        )
        .map_err(|_| None)
    },
    answer: |a| {
        let data = match a {
            Answer::Value(v) => {
                json!([{"dimensions": [], "dimensionMap": {}, "timestamps": [1.7e12], "values": [v]}])
            }
            Answer::Nothing => json!([]),
        };
        (
            "application/json",
            json!({"totalCount": 1, "resolution": "Inf",
                   "result": [{"metricId": "builtin:service.errors.total.rate", "data": data}]})
            .to_string(),
        )
    },
    token: None,
};

// Graphite's render API: GET /render with target, from and format=json; basic auth as a
// proxy in front of graphite-web checks it.
// https://graphite.readthedocs.io/en/latest/render_api.html
const GRAPHITE: Vendor = Vendor {
    provider: "graphite",
    // Whitespace runs are sent as one space, as Flagger sends them (graphite-web's parser
    // skips it inside a target).
    query: "target=sumSeries(\n  stats.{{ target }}.errors\n)&from=-{{ interval }}",
    secret: |_, wrong| fixed(&[("username", "g-user"), ("password", "g-pass")], wrong),
    credential: "password",
    check: |m, uri, h, _| {
        require(m == Method::GET && uri.path() == "/graphite/render", || {
            format!("{m} {}", uri.path())
        })?;
        let p = params(uri);
        require(
            keys(&p) == ["format", "from", "target"]
                && p["target"] == "sumSeries( stats.web.errors )"
                && p["from"] == "-10s"
                && p["format"] == "json",
            || format!("{p:?}"),
        )?;
        let basic = base64::engine::general_purpose::STANDARD.encode("g-user:g-pass");
        require(
            header(h, "authorization") == Some(&format!("Basic {basic}")),
            String::new,
        )
        .map_err(|_| None)
    },
    answer: |a| {
        // The last non-null point counts; with no data every point is null.
        let points = match a {
            Answer::Value(v) => json!([
                [1000.0, 1_700_000_000],
                [v, 1_700_000_010],
                [null, 1_700_000_020]
            ]),
            Answer::Nothing => json!([[null, 1_700_000_000], [null, 1_700_000_010]]),
        };
        (
            "application/json",
            json!([{"target": "sumSeries(stats.web.errors)", "tags": {}, "datapoints": points}])
                .to_string(),
        )
    },
    token: None,
};

// InfluxDB 2 "Query data": POST /api/v2/query?org=… with `Authorization: Token …`,
// `Content-Type: application/json` and a body holding the Flux query, type and dialect; the
// answer is annotated CSV; a wrong token is 401.
// https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery
const INFLUXDB: Vendor = Vendor {
    provider: "influxdb",
    query: "from(bucket: \"metrics\") |> range(start: -{{ interval }}) |> filter(fn: (r) => r.app == \"{{ target }}\") |> mean()",
    secret: |_, wrong| fixed(&[("token", "influx-token"), ("org", "my org")], wrong),
    credential: "token",
    check: |m, uri, h, body| {
        require(m == Method::POST && uri.path() == "/api/v2/query", || {
            format!("{m} {}", uri.path())
        })?;
        let p = params(uri);
        require(keys(&p) == ["org"] && p["org"] == "my org", || {
            format!("{p:?}")
        })?;
        require(
            header(h, "content-type") == Some("application/json"),
            || format!("{h:?}"),
        )?;
        let b: Value = serde_json::from_slice(body).map_err(|e| Some(e.to_string()))?;
        require(
            b == json!({"query": "from(bucket: \"metrics\") |> range(start: -10s) |> filter(fn: (r) => r.app == \"web\") |> mean()",
                        "type": "flux",
                        "dialect": {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": true}}),
            || format!("body {b}"),
        )?;
        require(
            header(h, "authorization") == Some("Token influx-token"),
            String::new,
        )
        .map_err(|_| None)
    },
    answer: |a| {
        let csv = match a {
            Answer::Value(v) => format!(
                "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,double\r\n#group,false,false,true,true,false\r\n#default,_result,,,,\r\n,result,table,_start,_stop,_value\r\n,,0,2024-01-01T00:00:00Z,2024-01-01T00:00:10Z,{v}\r\n\r\n"
            ),
            Answer::Nothing => "\r\n".to_owned(),
        };
        ("text/csv; charset=utf-8", csv)
    },
    token: None,
};

// The Kubernetes external metrics API at a metrics adapter's own address (Flagger's
// documented `externalmetrics` template): GET
// /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>?labelSelector=… with the
// Secret's token as bearer token and client-go's `timeout`; the answer is an
// ExternalMetricValueList whose values are quantities. Flagger's own provider is held to the
// same checks (`externalmetrics_as_flagger_queries_them`). https://github.com/kubernetes/metrics/blob/master/pkg/apis/external_metrics/v1beta1/types.go
const EXTERNALMETRICS: Vendor = Vendor {
    provider: "externalmetrics",
    query: "mon/http_errors?labelSelector=app%3D{{ target }}",
    secret: |_, wrong| fixed(&[("token", "em-token")], wrong),
    credential: "token",
    check: |m, uri, h, _| {
        require(
            m == Method::GET
                && uri.path() == "/apis/external.metrics.k8s.io/v1beta1/namespaces/mon/http_errors",
            || format!("{m} {}", uri.path()),
        )?;
        let p = params(uri);
        // client-go sends the client's timeout (Flagger's 5 s) with every request.
        require(
            keys(&p) == ["labelSelector", "timeout"]
                && p["labelSelector"] == "app=web"
                && p["timeout"] == "5s",
            || format!("{p:?}"),
        )?;
        require(
            header(h, "authorization") == Some("Bearer em-token"),
            String::new,
        )
        .map_err(|_| None)
    },
    answer: |a| {
        let items = match a {
            Answer::Value(v) => {
                json!([{"metricName": "http_errors", "metricLabels": {"app": "web"},
                        "timestamp": "2024-01-01T00:00:00Z", "value": quantity(v)}])
            }
            Answer::Nothing => json!([]),
        };
        (
            "application/json",
            json!({"kind": "ExternalMetricValueList", "apiVersion": "external.metrics.k8s.io/v1beta1",
                   "metadata": {}, "items": items})
            .to_string(),
        )
    },
    token: None,
};

/// A value as a Kubernetes quantity, in milli-units when it has a fraction (`1500m`).
fn quantity(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{}m", (v * 1000.0).round())
    }
}

// Splunk Observability: Flagger's check `GET /v2/metric?limit=1` with `X-SF-Token`, then the
// SignalFlow WebSocket (`/v2/signalflow/connect`), served by [`serve_splunk`]; `check` here is
// the HTTP check only. https://dev.splunk.com/observability/reference/api/metrics_metadata/latest
// and https://dev.splunk.com/observability/docs/signalflow/messages/
const SPLUNK: Vendor = Vendor {
    provider: "splunk",
    query: "data('http.errors', filter=filter('sf_service', '{{ target }}')).sum().publish()",
    secret: |_, wrong| fixed(&[("sf_token_key", "sf-token")], wrong),
    credential: "sf_token_key",
    check: |m, uri, h, _| {
        require(m == Method::GET && uri.path() == "/v2/metric", || {
            format!("{m} {}", uri.path())
        })?;
        let p = params(uri);
        require(keys(&p) == ["limit"] && p["limit"] == "1", || {
            format!("{p:?}")
        })?;
        require(header(h, "x-sf-token") == Some("sf-token"), String::new).map_err(|_| None)
    },
    answer: |_| {
        (
            "application/json",
            json!({"count": 1, "results": [{"name": "http.errors", "type": "COUNTER"}]})
                .to_string(),
        )
    },
    token: None,
};

const SERVICE_ACCOUNT: &str = "fledge@my-proj.iam.gserviceaccount.com";

// Google Cloud Monitoring: the service account's key is exchanged at its token_uri for an
// access token (POST, form-encoded grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
// an RS256-signed JWT assertion with iss, scope, aud = token_uri, iat and exp at most an hour
// later; a key not accepted is 400 invalid_grant),
// https://developers.google.com/identity/protocols/oauth2/service-account#httprest
// then the MQL query is `POST /v3/projects/<project>/timeSeries:query` with `{"query": …}` and
// the bearer token,
// https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query
const STACKDRIVER: Vendor = Vendor {
    provider: "stackdriver",
    query: "fetch k8s_container\n| metric 'istio.io/service/server/request_count'\n| filter resource.container_name == '{{ target }}'\n| align rate(1m) | every 1m",
    secret: |base, wrong| {
        let pem = if wrong {
            include_str!("../data/stackdriver/other.key.pem")
        } else {
            include_str!("../data/stackdriver/account.key.pem")
        };
        let key = json!({"type": "service_account", "project_id": "my-proj", "private_key_id": "key-1",
                         "private_key": pem, "client_email": SERVICE_ACCOUNT,
                         "token_uri": format!("{base}/token")});
        vec![
            ("project", "my-proj".to_owned()),
            ("serviceAccountKey", key.to_string()),
        ]
    },
    credential: "project",
    check: |m, uri, h, body| {
        require(
            m == Method::POST
                && uri.path() == "/v3/projects/my-proj/timeSeries:query"
                && uri.query().is_none(),
            || format!("{m} {uri}"),
        )?;
        require(
            header(h, "content-type") == Some("application/json"),
            || format!("{h:?}"),
        )?;
        let b: Value = serde_json::from_slice(body).map_err(|e| Some(e.to_string()))?;
        require(
            b == json!({"query": "fetch k8s_container\n| metric 'istio.io/service/server/request_count'\n| filter resource.container_name == 'web'\n| align rate(1m) | every 1m"}),
            || format!("body {b}"),
        )?;
        require(
            header(h, "authorization") == Some("Bearer ya29.test-token"),
            String::new,
        )
        .map_err(|_| None)
    },
    answer: |a| {
        let descriptor = json!({"labelDescriptors": [{"key": "resource.container_name"}],
                                "pointDescriptors": [{"key": "value.request_count", "valueType": "DOUBLE", "metricKind": "GAUGE"}]});
        let body = match a {
            Answer::Value(v) => json!({"timeSeriesDescriptor": descriptor,
                "timeSeriesData": [{"labelValues": [{"stringValue": "web"}],
                                    "pointData": [{"values": [{"doubleValue": v}],
                                                   "timeInterval": {"startTime": "2024-01-01T00:01:00Z", "endTime": "2024-01-01T00:01:00Z"}},
                                                  {"values": [{"doubleValue": 1000.0}],
                                                   "timeInterval": {"startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"}}]}]}),
            Answer::Nothing => json!({"timeSeriesDescriptor": descriptor}),
        };
        ("application/json", body.to_string())
    },
    token: Some(|m, uri, h, body| {
        if uri.path() != "/token" {
            return None;
        }
        Some(google_token(m, h, body))
    }),
};

/// Google's token endpoint: checks the form and the signed assertion.
fn google_token(m: &Method, h: &HeaderMap, body: &Bytes) -> Result<String, Option<String>> {
    require(m == Method::POST, || format!("{m} /token"))?;
    require(
        header(h, "content-type") == Some("application/x-www-form-urlencoded"),
        || format!("{h:?}"),
    )?;
    let form: BTreeMap<String, String> = url_pairs(&String::from_utf8_lossy(body))
        .into_iter()
        .collect();
    require(
        keys(&form) == ["assertion", "grant_type"]
            && form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer",
        || format!("{form:?}"),
    )?;
    let aud = format!("http://{}/token", header(h, "host").unwrap_or_default());
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[SERVICE_ACCOUNT]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let public = jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!(
        "../data/stackdriver/account.pub.pem"
    ))
    .unwrap();
    let jwt = match jsonwebtoken::decode::<Value>(&form["assertion"], &public, &v) {
        Ok(t) => t,
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            return Err(None);
        }
        Err(e) => return Err(Some(format!("assertion: {e}"))),
    };
    let c = &jwt.claims;
    require(
        jwt.header.kid.as_deref() == Some("key-1")
            && c["scope"] == "https://www.googleapis.com/auth/monitoring.read"
            && c["exp"]
                .as_i64()
                .zip(c["iat"].as_i64())
                .is_some_and(|(e, i)| e - i <= 3600 && e > i),
        || format!("{:?} {c}", jwt.header),
    )?;
    Ok(
        json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"})
            .to_string(),
    )
}

const AKID_ENV: &str = "AKIDFLEDGETEST";
const SECRET_ENV: &str = "fledge/test+secret";
const AKID_STS: &str = "ASIAFLEDGETEST";
const SECRET_STS: &str = "sts/test+secret";
const SESSION: &str = "FwoGZXIvYXdzEFLEDGE//session";

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    use hmac::{KeyInit as _, Mac as _};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// AWS Signature Version 4, checked as AWS documents it (canonical request, string to sign,
/// derived key), independently of the signing library:
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
fn sigv4(m: &Method, uri: &Uri, h: &HeaderMap, body: &Bytes) -> Result<(), Option<String>> {
    let auth = header(h, "authorization").ok_or_else(|| Some("no Authorization".to_owned()))?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| Some(format!("not SigV4: {auth}")))?;
    let fields: BTreeMap<&str, &str> = rest.split(", ").filter_map(|f| f.split_once('=')).collect();
    let (Some(credential), Some(signed), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(Some(format!("Authorization fields: {auth}")));
    };
    let (akid, scope) = credential
        .split_once('/')
        .ok_or_else(|| Some(auth.to_owned()))?;
    let (secret, token) = match akid {
        AKID_ENV => (SECRET_ENV, None),
        AKID_STS => (SECRET_STS, Some(SESSION)),
        _ => return Err(None),
    };
    let parts: Vec<&str> = scope.split('/').collect();
    require(
        parts.len() == 4
            && parts[1] == "us-east-1"
            && parts[2] == "monitoring"
            && parts[3] == "aws4_request",
        || format!("scope {scope}"),
    )?;
    let amz_date = header(h, "x-amz-date").unwrap_or_default();
    require(amz_date.starts_with(parts[0]), || {
        format!("x-amz-date {amz_date}")
    })?;
    let names: Vec<&str> = signed.split(';').collect();
    require(
        ["content-type", "host", "x-amz-date"]
            .iter()
            .all(|n| names.contains(n))
            && (token.is_none() || names.contains(&"x-amz-security-token")),
        || format!("signed headers {signed}"),
    )?;
    if header(h, "x-amz-security-token") != token {
        return Err(None);
    }
    let canonical_headers = names.iter().fold(String::new(), |mut out, n| {
        let _ = writeln!(out, "{n}:{}", header(h, n).unwrap_or_default().trim());
        out
    });
    let canonical = format!(
        "{m}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        uri.path(),
        uri.query().unwrap_or(""),
        hex_sha256(body)
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical.as_bytes())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), parts[0]);
    for p in &parts[1..] {
        key = hmac(&key, p);
    }
    if hex::encode(hmac(&key, &to_sign)) != *signature {
        return Err(None);
    }
    Ok(())
}

// Amazon CloudWatch GetMetricData through the Query API, as the AWS SDK for Go v1 (Flagger's)
// sends it: POST / with the form Action=GetMetricData&Version=2010-08-01, the
// MetricDataQueries flattened (`MetricDataQueries.member.N.…`), StartTime and EndTime
// (ISO 8601), MaxDatapoints; signed with SigV4 for `monitoring`; the answer is XML.
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/making-api-requests.html
const CLOUDWATCH: Vendor = Vendor {
    provider: "cloudwatch",
    query: r#"[{"Id": "e1", "Expression": "m1 / m2 * 100", "Label": "{{ target }} errors"},
      {"Id": "m1", "ReturnData": false,
       "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "5xx", "Dimensions": [{"Name": "Service", "Value": "{{ target }}"} ] }, "Period": 60, "Stat": "Sum" } } ]"#,
    secret: |_, _| Vec::new(),
    credential: "",
    check: |m, uri, h, body| {
        require(
            m == Method::POST && uri.path() == "/" && uri.query().is_none(),
            || format!("{m} {uri}"),
        )?;
        require(
            header(h, "content-type") == Some("application/x-www-form-urlencoded; charset=utf-8"),
            || format!("{h:?}"),
        )?;
        sigv4(m, uri, h, body)?;
        let p: BTreeMap<String, String> = url_pairs(&String::from_utf8_lossy(body))
            .into_iter()
            .collect();
        let expected = [
            ("Action", "GetMetricData"),
            ("Version", "2010-08-01"),
            ("MaxDatapoints", "20"),
            ("MetricDataQueries.member.1.Id", "e1"),
            ("MetricDataQueries.member.1.Expression", "m1 / m2 * 100"),
            ("MetricDataQueries.member.1.Label", "web errors"),
            ("MetricDataQueries.member.2.Id", "m1"),
            ("MetricDataQueries.member.2.ReturnData", "false"),
            (
                "MetricDataQueries.member.2.MetricStat.Metric.Namespace",
                "App",
            ),
            (
                "MetricDataQueries.member.2.MetricStat.Metric.MetricName",
                "5xx",
            ),
            (
                "MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.1.Name",
                "Service",
            ),
            (
                "MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.1.Value",
                "web",
            ),
            ("MetricDataQueries.member.2.MetricStat.Period", "60"),
            ("MetricDataQueries.member.2.MetricStat.Stat", "Sum"),
        ];
        require(
            p.len() == expected.len() + 2
                && expected
                    .iter()
                    .all(|(k, v)| p.get(*k).map(String::as_str) == Some(*v)),
            || format!("{p:?}"),
        )?;
        let time = |k: &str| {
            p.get(k)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second().to_string())
                .ok_or_else(|| Some(format!("{k}: {p:?}")))
        };
        window(&time("StartTime")?, &time("EndTime")?, 1, 10 * INTERVAL_S)
    },
    answer: |a| {
        let values = match a {
            Answer::Value(v) => format!("<member>{v}</member><member>1000</member>"),
            Answer::Nothing => String::new(),
        };
        (
            "text/xml",
            format!(
                r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult><MetricDataResults><member><Timestamps><member>2024-01-01T00:01:00Z</member><member>2024-01-01T00:00:00Z</member></Timestamps><Label>web errors</Label><Id>e1</Id><StatusCode>Complete</StatusCode><Values>{values}</Values></member></MetricDataResults><Messages/></GetMetricDataResult><ResponseMetadata><RequestId>4b4d9f3c</RequestId></ResponseMetadata></GetMetricDataResponse>"#
            ),
        )
    },
    token: None,
};

/// Set in a child process of this test binary: which CloudWatch case it runs.
const CHILD: &str = "FLEDGE_TEST_CLOUDWATCH_CHILD";

/// Runs [`cloudwatch_child`] in a new process of this test binary, with `env` as its AWS
/// environment (the credential chain reads the process environment).
async fn in_child(mode: &str, env: Vec<(&'static str, String)>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "metric_providers::cloudwatch_child",
        "--nocapture",
    ])
    .env(CHILD, mode);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true").envs(env);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{mode}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CloudWatch with credentials from the environment: promotion, rollback, no data,
/// unreachable; with a wrong secret key: refused.
#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch() {
    let good = vec![
        ("AWS_ACCESS_KEY_ID", AKID_ENV.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ENV.to_owned()),
    ];
    in_child("environment", good).await;
    let wrong = vec![
        ("AWS_ACCESS_KEY_ID", AKID_ENV.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "wrong".to_owned()),
    ];
    in_child("denied", wrong).await;
}

// STS AssumeRoleWithWebIdentity (unsigned; the web identity token is the proof), answered in
// XML with temporary credentials.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
/// CloudWatch with IRSA's web identity: the role's temporary credentials from STS sign the
/// query (with their session token).
#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_web_identity() {
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = calls.clone();
    let sts = Router::new().fallback(move |m: Method, uri: Uri, h: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            let p: BTreeMap<String, String> = url_pairs(&String::from_utf8_lossy(&body)).into_iter().collect();
            let expected: BTreeMap<String, String> = [
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn:aws:iam::111122223333:role/fledge"),
                ("RoleSessionName", "fledge"),
                ("WebIdentityToken", "eyJhbGciOi.web-identity.token"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            let form = header(&h, "content-type")
                == Some("application/x-www-form-urlencoded; charset=utf-8");
            if m != Method::POST || uri.path() != "/" || uri.query().is_some() || !form || p != expected {
                seen.lock().unwrap().push(format!("rejected {m} {uri}"));
                return (StatusCode::BAD_REQUEST, "<ErrorResponse/>".to_owned());
            }
            seen.lock().unwrap().push("ok".into());
            (StatusCode::OK, format!(
                r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{AKID_STS}</AccessKeyId><SecretAccessKey>{SECRET_STS}</SecretAccessKey><SessionToken>{SESSION}</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials><SubjectFromWebIdentityToken>system:serviceaccount:fledge:fledge</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#
            ))
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(axum::serve(l, sts).into_future());
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "eyJhbGciOi.web-identity.token\n").unwrap();
    in_child(
        "web-identity",
        vec![
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::111122223333:role/fledge".to_owned(),
            ),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
            ("AWS_ENDPOINT_URL_STS", format!("http://{addr}")),
        ],
    )
    .await;
    let calls = calls.lock().unwrap();
    assert!(
        !calls.is_empty() && calls.iter().all(|c| c == "ok"),
        "{calls:?}"
    );
}

/// Not a test of its own: the child process of [`cloudwatch`] and
/// [`cloudwatch_web_identity`], which give it its AWS environment; it returns at once
/// otherwise.
#[tokio::test]
async fn cloudwatch_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    match mode.as_str() {
        "environment" => exercise(&CLOUDWATCH).await,
        "denied" | "web-identity" => {
            let answer = Arc::new(Mutex::new(Answer::Value(1.5)));
            let rejected = Arc::new(Mutex::new(Vec::new()));
            let base = serve(&CLOUDWATCH, answer, rejected.clone()).await;
            let templates = BTreeMap::from([(
                ("mon".to_owned(), "errors".to_owned()),
                template(&CLOUDWATCH, &base),
            )]);
            let errors = json!({"name": "errors", "interval": "10s", "templateRef": {"name": "errors", "namespace": "mon"}, "thresholdRange": {"max": 5}});
            let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
            let (outcome, values) = analyse(&sim, &templates, errors).await;
            if mode == "denied" {
                assert!(
                    matches!(&outcome, Outcome::Fail(f) if f.kind == FailureKind::Denied),
                    "{outcome:?}"
                );
            } else {
                assert_eq!((outcome, values), (Outcome::Pass, vec![1.5]));
            }
            assert!(
                rejected.lock().unwrap().is_empty(),
                "{:?}",
                rejected.lock().unwrap()
            );
        }
        other => panic!("{CHILD}={other}"),
    }
}

/// The fake vendor: checks each request, answers `answer`, records what it rejected.
async fn serve(
    vendor: &'static Vendor,
    answer: Arc<Mutex<Answer>>,
    rejected: Arc<Mutex<Vec<String>>>,
) -> String {
    let stream =
        (vendor.provider == "splunk").then(|| splunk_stream(answer.clone(), rejected.clone()));
    let app = Router::new().fallback(move |m: Method, uri: Uri, h: HeaderMap, body: Bytes| {
        let answer = *answer.lock().unwrap();
        let rejected = rejected.clone();
        async move {
            let json_body = |status, body: Value| (status, [("content-type", "application/json")], body.to_string());
            let token = vendor.token.and_then(|t| t(&m, &uri, &h, &body));
            let checked = match token {
                Some(Ok(token)) => return (StatusCode::OK, [("content-type", "application/json")], token),
                Some(Err(None)) => {
                    return json_body(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}));
                }
                Some(Err(Some(why))) => Err(Some(why)),
                None => (vendor.check)(&m, &uri, &h, &body),
            };
            match checked {
                Ok(()) => {
                    let (ct, body) = (vendor.answer)(answer);
                    (StatusCode::OK, [("content-type", ct)], body)
                }
                Err(None) => json_body(StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]})),
                Err(Some(why)) => {
                    rejected.lock().unwrap().push(format!("{m} {uri}: {why}"));
                    (StatusCode::BAD_REQUEST, [("content-type", "text/plain")], why)
                }
            }
        }
    });
    let app = match stream {
        Some(stream) => Router::new().merge(stream).merge(app),
        None => app,
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(axum::serve(l, app).into_future());
    format!("http://{addr}")
}

/// SignalFlow's WebSocket as Splunk documents it: `authenticate` first (a wrong token is an
/// `error` message and the connection closes), then `execute` with exactly the fields
/// signalflow-client-go sends (program, channel, the last 10 intervals in milliseconds,
/// `immediate`); the answer is the control and metadata messages, binary data messages (an
/// older point, then the answer's) for one time series, and `END_OF_CHANNEL`. Anything else is
/// rejected and answered with an `error` message on the channel.
fn splunk_stream(answer: Arc<Mutex<Answer>>, rejected: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route(
        "/v2/signalflow/connect",
        axum::routing::get(move |up: axum::extract::ws::WebSocketUpgrade| {
            let answer = *answer.lock().unwrap();
            let rejected = rejected.clone();
            async move { up.on_upgrade(move |ws| signalflow(ws, answer, rejected)) }
        }),
    )
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// What is wrong with an execute message, if anything.
fn execute_problem(exec: &Value, now: u64) -> Option<String> {
    let fields: Vec<&str> = exec
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let ms = |k: &str| exec[k].as_u64().unwrap_or(0);
    let go_fields = [
        "channel",
        "immediate",
        "maxDelay",
        "program",
        "resolution",
        "start",
        "stop",
        "timezone",
        "type",
    ];
    if fields != go_fields {
        Some(format!("execute fields {fields:?}"))
    } else if exec["type"] != "execute" || exec["channel"] != "ch-1" || exec["immediate"] != true {
        Some(format!("execute {exec}"))
    } else if exec["program"]
        != "data('http.errors', filter=filter('sf_service', 'web')).sum().publish()"
    {
        Some(format!("program {}", exec["program"]))
    } else if ms("stop").abs_diff(now) > 60_000
        || ms("stop") - ms("start") != 10 * INTERVAL_S * 1000
    {
        Some(format!("window {}..{}", ms("start"), ms("stop")))
    } else {
        None
    }
}

/// A binary data message of channel `ch-1`: one double of time series 7.
fn data_message(timestamp: u64, value: f64) -> Vec<u8> {
    let mut msg = vec![1u8, 5, 0, 0];
    let mut name = [0u8; 16];
    name[..4].copy_from_slice(b"ch-1");
    msg.extend_from_slice(&name);
    msg.extend_from_slice(&timestamp.to_be_bytes());
    msg.extend_from_slice(&1u32.to_be_bytes());
    msg.push(2);
    msg.extend_from_slice(&7i64.to_be_bytes());
    msg.extend_from_slice(&value.to_bits().to_be_bytes());
    msg
}

async fn signalflow(
    mut ws: axum::extract::ws::WebSocket,
    answer: Answer,
    rejected: Arc<Mutex<Vec<String>>>,
) {
    use axum::extract::ws::Message as Ws;
    let text = |v: Value| Ws::Text(v.to_string().into());
    let next = |m: Option<Result<Ws, axum::Error>>| -> Value {
        match m {
            Some(Ok(Ws::Text(t))) => serde_json::from_str(t.as_str()).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    };
    let auth = next(ws.recv().await);
    if auth != json!({"type": "authenticate", "token": "sf-token"}) {
        if auth["type"] != "authenticate" {
            rejected
                .lock()
                .unwrap()
                .push(format!("first message {auth}"));
        }
        let error = json!({"type": "error", "error": 401, "message": "Invalid auth token"});
        let _ = ws.send(text(error)).await;
        return;
    }
    let authenticated = json!({"type": "authenticated", "orgId": "org", "userId": "user"});
    ws.send(text(authenticated)).await.unwrap();
    let now = now_ms();
    if let Some(why) = execute_problem(&next(ws.recv().await), now) {
        rejected.lock().unwrap().push(why.clone());
        let error = json!({"type": "error", "channel": "ch-1", "error": 400, "message": why});
        let _ = ws.send(text(error)).await;
        return;
    }
    let control = |event: &str| json!({"type": "control-message", "channel": "ch-1", "event": event, "handle": "h1", "timestampMs": now});
    for m in [
        control("STREAM_START"),
        control("JOB_START"),
        json!({"type": "message", "channel": "ch-1", "logicalTimestampMs": now, "message": {"contents": {"resolutionMs": 1000}, "messageCode": "JOB_RUNNING_RESOLUTION", "timestampMs": now}}),
        json!({"type": "metadata", "channel": "ch-1", "tsId": "AAAAAAAAAAc", "properties": {"sf_metric": "http.errors", "sf_service": "web"}}),
    ] {
        ws.send(text(m)).await.unwrap();
    }
    if let Answer::Value(v) = answer {
        for (t, v) in [(now - 1000, 1000.0), (now, v)] {
            ws.send(Ws::Binary(data_message(t, v).into()))
                .await
                .unwrap();
        }
    }
    ws.send(text(control("END_OF_CHANNEL"))).await.unwrap();
    // The client closes.
    while let Some(Ok(m)) = ws.recv().await {
        if matches!(m, Ws::Close(_)) {
            break;
        }
    }
}

fn template(vendor: &Vendor, address: &str) -> fledge::release::spec::MetricTemplate {
    if vendor.provider == "cloudwatch" {
        return parse_metric_template(
            &json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
            "metadata": {"name": "errors", "namespace": "mon"},
            "spec": {"provider": {"type": "cloudwatch", "address": address, "region": "us-east-1"},
                     "query": vendor.query}}),
        )
        .unwrap();
    }
    let address = match vendor.provider {
        "dynatrace" => format!("{address}/e/env"),
        "graphite" => format!("{address}/graphite"),
        _ => address.to_owned(),
    };
    parse_metric_template(&json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "errors", "namespace": "mon"},
        "spec": {"provider": {"type": vendor.provider, "address": address, "secretRef": {"name": "creds"}},
                 "query": vendor.query}}))
    .unwrap()
}

fn secret(vendor: &Vendor, base: &str, wrong: bool) -> Value {
    let data: serde_json::Map<String, Value> = (vendor.secret)(base, wrong)
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "mon"}, "data": data})
}

fn target(ns: &str, image: &str) -> ReleaseTarget {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"provider": "nginx",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                 "service": {"port": 80},
                 "analysis": {"interval": "10s", "threshold": 2, "stepWeight": 50,
                              "metrics": [{"name": "errors", "interval": "10s",
                                           "templateRef": {"name": "errors", "namespace": "mon"},
                                           "thresholdRange": {"max": 5}}]}}});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}}});
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    let rev = revision(&deployment, &[], None, &HashKey::offline()).unwrap();
    ReleaseTarget {
        spec: parse_canary(&canary, &Provider::Istio).unwrap(),
        target: deployment,
        revision: rev,
        configs: Vec::new(),
        autoscaler: None,
        ingress: Some(ingress),
        route: None,
        commit: None,
        known_good: false,
        primary_source: None,
    }
}

/// web:1 initialized, then web:2 run to its end; the final phase, the failures seen and the
/// values measured.
async fn rollout(
    sim: &SimHandle,
    exec: &Executor<SimHandle, Refuse>,
    ns: &str,
) -> (Phase, Vec<FailureKind>, Vec<f64>) {
    let mut clock = 0;
    let init = tick_until(sim, exec, &target(ns, "web:1"), &mut clock, 100, |s| {
        s.phase == Phase::Initialized
    })
    .await;
    assert!(init.is_some(), "{ns}: web:1 not initialized");
    let v2 = target(ns, "web:2");
    let (mut failures, mut values) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        clock += 10;
        sim.sim
            .lock()
            .unwrap()
            .tick(Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
        let r = exec.tick(&v2, clock).await.unwrap();
        failures.extend(r.events.iter().filter_map(|e| e.failure));
        if std::env::var_os("FLEDGE_DEBUG").is_some() {
            eprintln!("{:?}", r.events);
        }
        values.extend(r.metrics.iter().map(|m| m.value));
        if matches!(r.state.phase, Phase::Succeeded | Phase::Failed) {
            return (r.state.phase, failures, values);
        }
    }
    panic!("{ns}: web:2 did not finish");
}

/// One analysis of the canary against the cluster's Secret: its failure kind and message.
async fn check_once(sim: &SimHandle, exec: &Executor<SimHandle, Refuse>) -> (FailureKind, String) {
    let spec = target("checks", "web:2").spec;
    let secrets = analysis::template_secrets(sim, &spec, &exec.templates).await;
    let mut values = Vec::new();
    match analysis::check_metrics(
        &spec,
        &exec.templates,
        &secrets,
        &exec.metrics,
        sim,
        &mut values,
    )
    .await
    {
        Outcome::Fail(f) => (f.kind, f.message),
        Outcome::Pass => panic!("expected a failed check, got a pass ({values:?})"),
    }
}

async fn exercise(vendor: &'static Vendor) {
    let answer = Arc::new(Mutex::new(Answer::Value(1.5)));
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let base = serve(vendor, answer.clone(), rejected.clone()).await;
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&[secret(vendor, &base, false)]).await.unwrap();
    let t = template(vendor, &base);
    let mut exec = Executor {
        cluster: sim.clone(),
        metrics: Refuse,
        webhooks: Webhooks::default(),
        templates: BTreeMap::from([(("mon".to_owned(), "errors".to_owned()), t)]),
        promoted_window: 10,
        owner: None,
    };
    let who = vendor.provider;

    // Good data: promoted, every check measured 1.5.
    let (phase, failures, values) = rollout(&sim, &exec, "pass").await;
    assert_eq!(phase, Phase::Succeeded, "{who}: {failures:?}");
    assert!(failures.is_empty(), "{who}: {failures:?}");
    assert!(
        !values.is_empty() && values.iter().all(|v| (*v - 1.5).abs() < 1e-9),
        "{who}: {values:?}"
    );

    // Bad data: rolled back after two out-of-range checks.
    *answer.lock().unwrap() = Answer::Value(42.0);
    let (phase, failures, values) = rollout(&sim, &exec, "fail").await;
    assert_eq!(phase, Phase::Failed, "{who}");
    assert_eq!(failures, [FailureKind::OutOfRange; 2], "{who}");
    assert!(
        values.iter().all(|v| (*v - 42.0).abs() < 1e-9),
        "{who}: {values:?}"
    );

    // No data.
    *answer.lock().unwrap() = Answer::Nothing;
    let (kind, message) = check_once(&sim, &exec).await;
    assert_eq!(kind, FailureKind::NoData, "{who}: {message}");
    assert!(
        message.contains("no values found for custom metric: errors"),
        "{who}: {message}"
    );

    if vendor.credential.is_empty() {
        // Credentials from elsewhere (CloudWatch's AWS chain): refused ones are tested apart.
        unreachable_check(vendor, &sim, &mut exec, rejected).await;
        return;
    }
    // Refused credentials: the Secret holds a wrong value under the key checked.
    *answer.lock().unwrap() = Answer::Value(1.5);
    sim.apply(&[secret(vendor, &base, true)]).await.unwrap();
    let (kind, message) = check_once(&sim, &exec).await;
    assert_eq!(kind, FailureKind::Denied, "{who}: {message}");
    assert!(
        !message.contains("wrong"),
        "{who}: the credential is not shown: {message}"
    );

    // A key missing from the Secret: a check error naming the Secret and the key (for the
    // external metrics API, whose token is optional: no credentials sent, refused).
    let mut partial = secret(vendor, &base, false);
    partial["data"]
        .as_object_mut()
        .unwrap()
        .remove(vendor.credential);
    sim.delete(&fledge::object::ObjectRef::new(
        "v1", "Secret", "mon", "creds",
    ))
    .await
    .unwrap();
    sim.apply(&[partial]).await.unwrap();
    let (kind, message) = check_once(&sim, &exec).await;
    if vendor.provider == "externalmetrics" {
        assert_eq!(kind, FailureKind::Denied, "{who}: {message}");
    } else {
        assert_eq!(kind, FailureKind::Error, "{who}: {message}");
        assert!(
            message.contains(&format!(
                "Secret mon/creds has no key \"{}\"",
                vendor.credential
            )),
            "{who}: {message}"
        );
    }
    sim.apply(&[secret(vendor, &base, false)]).await.unwrap();

    unreachable_check(vendor, &sim, &mut exec, rejected).await;
}

/// Nothing listens at the address: unreachable. Then no request was one the vendor rejects.
async fn unreachable_check(
    vendor: &'static Vendor,
    sim: &SimHandle,
    exec: &mut Executor<SimHandle, Refuse>,
    rejected: Arc<Mutex<Vec<String>>>,
) {
    let who = vendor.provider;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    exec.templates.insert(
        ("mon".to_owned(), "errors".to_owned()),
        template(vendor, &closed),
    );
    let (kind, message) = check_once(sim, exec).await;
    assert_eq!(kind, FailureKind::Unreachable, "{who}: {message}");
    assert!(message.contains("unreachable"), "{who}: {message}");
    for (key, value) in (vendor.secret)(&closed, false) {
        assert!(!message.contains(&value), "{who}: {key} shown: {message}");
    }
    let rejected = rejected.lock().unwrap();
    assert!(
        rejected.is_empty(),
        "{who}: requests the vendor would reject: {rejected:#?}"
    );
}

#[tokio::test]
async fn datadog() {
    exercise(&DATADOG).await;
}

#[tokio::test]
async fn newrelic() {
    exercise(&NEWRELIC).await;
}

#[tokio::test]
async fn dynatrace() {
    exercise(&DYNATRACE).await;
}

#[tokio::test]
async fn graphite() {
    exercise(&GRAPHITE).await;
}

#[tokio::test]
async fn influxdb() {
    exercise(&INFLUXDB).await;
}

#[tokio::test]
async fn stackdriver() {
    exercise(&STACKDRIVER).await;
}

#[tokio::test]
async fn externalmetrics_at_an_address() {
    exercise(&EXTERNALMETRICS).await;
}

#[tokio::test]
async fn splunk() {
    exercise(&SPLUNK).await;
}

/// The simulated cluster, whose reads of Keptn's kinds and of external metrics fail as `fault`
/// says: `Some(403)` as an API server refusing a missing permission, `Some(0)` as one that does
/// not answer.
struct Faulty {
    inner: SimHandle,
    fault: Option<u16>,
}

impl Faulty {
    fn check(&self, object: &str) -> Result<(), fledge::cluster::Error> {
        use fledge::cluster::kube::Error as KubeError;
        match self.fault {
            None => Ok(()),
            Some(0) => Err(KubeError::Unreachable {
                verb: "get",
                object: object.to_owned(),
                message: "connection refused".into(),
            }
            .into()),
            Some(code) => Err(KubeError::Api {
                verb: "get",
                object: object.to_owned(),
                code,
                reason: "Forbidden".into(),
                message: "keptnmetrics.metrics.keptn.sh is forbidden".into(),
            }
            .into()),
        }
    }
}

impl Cluster for Faulty {
    async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, fledge::cluster::Error> {
        self.check("Analysis")?;
        self.inner.apply(objects).await
    }
    async fn dry_run(&self, objects: &[Value]) -> Result<(), fledge::cluster::Error> {
        self.inner.dry_run(objects).await
    }
    async fn apply_status(&self, object: &Value) -> Result<Value, fledge::cluster::Error> {
        self.inner.apply_status(object).await
    }
    async fn get(
        &self,
        object: &fledge::object::ObjectRef,
    ) -> Result<Option<Value>, fledge::cluster::Error> {
        self.check("KeptnMetric")?;
        self.inner.get(object).await
    }
    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, fledge::cluster::Error> {
        self.inner.list(api_version, kind, namespace).await
    }
    async fn delete(
        &self,
        object: &fledge::object::ObjectRef,
    ) -> Result<(), fledge::cluster::Error> {
        self.inner.delete(object).await
    }
    async fn get_raw(&self, path: &str) -> Result<Value, fledge::cluster::Error> {
        self.check(path)?;
        self.inner.get_raw(path).await
    }
}

/// The external metrics API through the cluster (a template without an address): the
/// simulated cluster serves it as an adapter would, filtering the series by the query's label
/// selector; the read is `list` of the metric in `external.metrics.k8s.io`, which RBAC checks.
#[tokio::test]
async fn externalmetrics_through_the_cluster() {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    let set = |value: Option<&str>| {
        let web = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let other = BTreeMap::from([("app".to_owned(), "other".to_owned())]);
        let mut series = vec![(other, "99".to_owned())];
        series.extend(value.map(|v| (web, v.to_owned())));
        sim.sim
            .lock()
            .unwrap()
            .set_external_metric("mon", "http_errors", series);
    };
    set(Some("1500m"));
    let template = parse_metric_template(
        &json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "errors", "namespace": "mon"},
        "spec": {"provider": {"type": "externalmetrics"},
                 "query": "mon/http_errors?labelSelector=app%3D{{ target }}"}}),
    )
    .unwrap();
    let exec = Executor {
        cluster: sim.clone(),
        metrics: Refuse,
        webhooks: Webhooks::default(),
        templates: BTreeMap::from([(("mon".to_owned(), "errors".to_owned()), template)]),
        promoted_window: 10,
        owner: None,
    };

    // The web series: promoted at 1.5, rolled back at 42.
    let (phase, failures, values) = rollout(&sim, &exec, "pass").await;
    assert_eq!(phase, Phase::Succeeded, "{failures:?}");
    assert!(
        !values.is_empty() && values.iter().all(|v| (*v - 1.5).abs() < 1e-9),
        "{values:?}"
    );
    set(Some("42"));
    let (phase, failures, _) = rollout(&sim, &exec, "fail").await;
    assert_eq!(phase, Phase::Failed);
    assert_eq!(failures, [FailureKind::OutOfRange; 2]);

    // No series of web: no data.
    set(None);
    let (kind, message) = check_once(&sim, &exec).await;
    assert_eq!(kind, FailureKind::NoData, "{message}");
    set(Some("1500m"));

    // The API server refuses the read, or does not answer.
    let errors = json!({"name": "errors", "templateRef": {"name": "errors", "namespace": "mon"}, "thresholdRange": {"max": 5}});
    for (fault, kind) in [(403, FailureKind::Denied), (0, FailureKind::Unreachable)] {
        let faulty = Faulty {
            inner: sim.clone(),
            fault: Some(fault),
        };
        let (outcome, _) = analyse(&faulty, &exec.templates, errors.clone()).await;
        assert!(
            matches!(&outcome, Outcome::Fail(f) if f.kind == kind),
            "{fault}: {outcome:?}"
        );
    }
    let recording = super::support::Recording::new(sim.clone());
    assert_eq!(
        analyse(&recording, &exec.templates, errors).await,
        (Outcome::Pass, vec![1.5])
    );
    assert!(
        recording.calls.lock().unwrap().contains(&(
            "list".to_owned(),
            "external.metrics.k8s.io".to_owned(),
            "http_errors".to_owned()
        )),
        "{:?}",
        recording.calls
    );
}

fn keptn_template(query: &str) -> fledge::release::spec::MetricTemplate {
    parse_metric_template(
        &json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "errors", "namespace": "mon"},
        "spec": {"provider": {"type": "keptn"}, "query": query}}),
    )
    .unwrap()
}

/// Keptn's two kinds, as its metrics-operator's CustomResourceDefinitions serve them (their
/// schemas reduced to what this test writes).
fn keptn_crds() -> Vec<Value> {
    [("KeptnMetric", "keptnmetrics"), ("Analysis", "analyses")]
        .iter()
        .map(|(kind, plural)| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": format!("{plural}.metrics.keptn.sh")},
                   "spec": {"group": "metrics.keptn.sh", "scope": "Namespaced",
                            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                            "versions": [{"name": "v1beta1", "served": true, "storage": true,
                                          "subresources": {"status": {}},
                                          "schema": {"openAPIV3Schema": {"type": "object",
                                              "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                                             "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
        })
        .collect()
}

async fn keptn_metric(sim: &SimHandle, value: Option<&str>) {
    let mut metric = json!({"apiVersion": "metrics.keptn.sh/v1beta1", "kind": "KeptnMetric",
        "metadata": {"name": "errors", "namespace": "mon"},
        "spec": {"provider": {"name": "prometheus"}, "query": "sum(errors)", "fetchIntervalSeconds": 10}});
    sim.apply(std::slice::from_ref(&metric)).await.unwrap();
    metric["status"] = value.map_or_else(|| json!({}), |v| json!({"value": v, "rawValue": "e30="}));
    sim.apply_status(&metric).await.unwrap();
}

/// One analysis of the "checks" canary against `cluster`: the outcome and the values.
async fn analyse(
    cluster: &impl Cluster,
    templates: &BTreeMap<(String, String), fledge::release::spec::MetricTemplate>,
    metric: Value,
) -> (Outcome, Vec<f64>) {
    let mut t = target("checks", "web:2");
    let parsed = parse_canary(
        &json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": "web", "namespace": "checks"},
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "service": {"port": 80}, "analysis": {"metrics": [metric]}}}),
        &Provider::Kubernetes,
    )
    .unwrap();
    t.spec.analysis.metrics = parsed.analysis.metrics;
    let mut values = Vec::new();
    let outcome = analysis::check_metrics(
        &t.spec,
        templates,
        &BTreeMap::new(),
        &Refuse,
        cluster,
        &mut values,
    )
    .await;
    (outcome, values.iter().map(|v| v.value).collect())
}

#[tokio::test]
async fn keptn() {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&keptn_crds()).await.unwrap();
    keptn_metric(&sim, Some("1.5")).await;
    let exec = Executor {
        cluster: sim.clone(),
        metrics: Refuse,
        webhooks: Webhooks::default(),
        templates: BTreeMap::from([(
            ("mon".to_owned(), "errors".to_owned()),
            keptn_template("keptnmetric/mon/errors"),
        )]),
        promoted_window: 10,
        owner: None,
    };

    // A KeptnMetric's value: promoted at 1.5, rolled back at 42.
    let (phase, failures, values) = rollout(&sim, &exec, "pass").await;
    assert_eq!(phase, Phase::Succeeded, "{failures:?}");
    assert!(
        !values.is_empty() && values.iter().all(|v| (*v - 1.5).abs() < 1e-9),
        "{values:?}"
    );
    keptn_metric(&sim, Some("42")).await;
    let (phase, failures, _) = rollout(&sim, &exec, "fail").await;
    assert_eq!(phase, Phase::Failed);
    assert_eq!(failures, [FailureKind::OutOfRange; 2]);

    // No value yet: no data.
    keptn_metric(&sim, None).await;
    let (kind, message) = check_once(&sim, &exec).await;
    assert_eq!(kind, FailureKind::NoData, "{message}");
    keptn_metric(&sim, Some("1.5")).await;

    // The API server refuses the read, or does not answer.
    let errors = json!({"name": "errors", "templateRef": {"name": "errors", "namespace": "mon"}, "thresholdRange": {"max": 5}});
    for (fault, kind) in [(403, FailureKind::Denied), (0, FailureKind::Unreachable)] {
        let faulty = Faulty {
            inner: sim.clone(),
            fault: Some(fault),
        };
        let (outcome, _) = analyse(&faulty, &exec.templates, errors.clone()).await;
        assert!(
            matches!(&outcome, Outcome::Fail(f) if f.kind == kind),
            "{fault}: {outcome:?}"
        );
    }
    let fine = Faulty {
        inner: sim.clone(),
        fault: None,
    };
    assert_eq!(
        analyse(&fine, &exec.templates, errors).await,
        (Outcome::Pass, vec![1.5])
    );
}

/// An Analysis: created with the definition, timeframe and arguments of the query, judged as
/// Keptn's metrics-operator would (here: this test, passing the first and failing the second),
/// 1 for a pass and 0 for a fail, and deleted afterwards.
#[tokio::test]
async fn keptn_analysis() {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&keptn_crds()).await.unwrap();
    let templates = BTreeMap::from([(
        ("mon".to_owned(), "errors".to_owned()),
        keptn_template("analysis/mon/error-budget/5m/service=web;region=eu"),
    )]);
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let operator = {
        let (sim, seen) = (sim.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                for mut a in sim
                    .list("metrics.keptn.sh/v1beta1", "Analysis", "mon")
                    .await
                    .unwrap()
                {
                    if a["status"]["state"] == "Completed" {
                        continue;
                    }
                    let first = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(a.clone());
                        seen.len() == 1
                    };
                    a["status"] = json!({"state": "Completed", "pass": first});
                    sim.apply_status(&a).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let passing = json!({"name": "budget", "templateRef": {"name": "errors", "namespace": "mon"}, "thresholdRange": {"min": 1}});
    assert_eq!(
        analyse(&sim, &templates, passing.clone()).await,
        (Outcome::Pass, vec![1.0])
    );
    let (outcome, values) = analyse(&sim, &templates, passing).await;
    assert!(
        matches!(&outcome, Outcome::Fail(f) if f.kind == FailureKind::OutOfRange),
        "{outcome:?}"
    );
    assert_eq!(values, [0.0]);
    operator.abort();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for a in &seen {
        assert_eq!(
            a["spec"],
            json!({"analysisDefinition": {"name": "error-budget"}, "timeframe": {"recent": "5m"}, "args": {"service": "web", "region": "eu"}})
        );
        assert!(
            a["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("error-budget-")
        );
    }
    assert!(
        sim.list("metrics.keptn.sh/v1beta1", "Analysis", "mon")
            .await
            .unwrap()
            .is_empty(),
        "the Analyses are deleted"
    );
}

static SIGNALFLOW: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

const SIGNALFLOW_PEER: super::support::peer::Peer = super::support::peer::Peer {
    env: "FLEDGE_SIGNALFLOW",
    name: "signalflow",
    tests: "SignalFlow tests",
};

/// Splunk's own fake SignalFlow backend (`tests/signalflow`) serving one program as `config`
/// says: its stream endpoint, and the process (stopped when dropped).
async fn signalflow_backend(
    binary: &std::path::Path,
    config: &Value,
    dir: &std::path::Path,
) -> (String, tokio::process::Child) {
    use tokio::io::AsyncBufReadExt as _;
    let file = dir.join(format!("{}.json", now_ms()));
    std::fs::write(&file, config.to_string()).unwrap();
    let mut child = tokio::process::Command::new(binary)
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .next_line()
        .await
        .unwrap()
        .expect("the backend says its URL");
    (format!("{url}/v2/signalflow/connect"), child)
}

/// What Flagger's own splunk provider (vendored in `tests/signalflow/providers`) makes of the
/// program `config` describes, against a backend of its own: `{"value": …}` or `{"error": …}`.
async fn flagger_splunk(binary: &std::path::Path, config: &Value, dir: &std::path::Path) -> Value {
    let file = dir.join(format!("flagger-{}.json", now_ms()));
    std::fs::write(&file, config.to_string()).unwrap();
    let mut command = tokio::process::Command::new(binary);
    command.arg("--flagger").arg(&file);
    flagger_answer(command).await
}

/// What a program running one of Flagger's providers printed: `{"value": …}` or `{"error": …}`.
async fn flagger_answer(mut command: tokio::process::Command) -> Value {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "Flagger's provider answered no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// fledge's SignalFlow client against Splunk's own fake backend (signalflow-client-go's
/// `FakeBackend`, which encodes data messages as Splunk's servers do), and Flagger's own splunk
/// provider against the same: the same value of one series, and the same outcome for no data,
/// more than one series and an error of the program. A refused token is fledge's alone:
/// Flagger's client reconnects and its query reports no values (its availability request has
/// refused the token before, as fledge's does: `splunk` above).
#[tokio::test]
async fn splunk_against_signalflows_own_fake_backend_as_flagger() {
    let Some(binary) = super::support::peer::or_skip(&SIGNALFLOW_PEER, &SIGNALFLOW) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = "data('http.errors').sum().publish()";
    // Ten intervals of 100 ms: the backend streams one second of points, one a second.
    let interval = Duration::from_millis(100);
    let config = |values: Value, error: &str| json!({"token": "sf-token", "program": program, "values": values, "error": error, "interval": "100ms"});
    let run = |config: Value, token: &'static str| {
        let dir = dir.path().to_owned();
        async move {
            let (stream, _backend) = signalflow_backend(binary, &config, &dir).await;
            tokio::join!(
                fledge::analysis::providers::splunk::compute(&stream, token, program, interval),
                flagger_splunk(binary, &config, &dir)
            )
        }
    };
    let (fledge, flagger) = run(config(json!([1.5]), ""), "sf-token").await;
    assert_eq!(flagger, json!({"value": 1.5}));
    assert!(
        matches!(fledge, Ok(v) if (v - 1.5).abs() < 1e-12),
        "{fledge:?}"
    );
    let (fledge, flagger) = run(config(json!([null]), ""), "sf-token").await;
    assert_eq!(
        flagger,
        json!({"error": "invalid response: no values found"})
    );
    assert!(matches!(fledge, Err(MetricError::NoData(_))), "{fledge:?}");
    let (fledge, flagger) = run(config(json!([1.5, 2.5]), ""), "sf-token").await;
    assert_eq!(
        flagger,
        json!({"error": "invalid response: query returned multiple values"})
    );
    assert!(
        matches!(&fledge, Err(MetricError::Failed(m)) if m.contains("more than one time series")),
        "{fledge:?}"
    );
    let (fledge, flagger) = run(config(json!([1.5]), "unknown function dat"), "sf-token").await;
    assert_eq!(
        flagger,
        json!({"error": "error executing query: 0: unknown function dat"})
    );
    assert!(
        matches!(&fledge, Err(MetricError::Failed(m)) if m.contains("unknown function dat")),
        "{fledge:?}"
    );

    // A wrong token: the backend queues its `error` message and closes the connection at once,
    // so the client reads either that message (refused) or a reset connection (unreachable),
    // never a value.
    let (stream, _backend) =
        signalflow_backend(binary, &config(json!([1.5]), ""), dir.path()).await;
    let refused =
        fledge::analysis::providers::splunk::compute(&stream, "wrong", program, interval).await;
    assert!(
        matches!(&refused, Err(MetricError::Denied { message, .. })
            if message.contains("Invalid auth token") && !message.contains("wrong"))
            || matches!(&refused, Err(MetricError::Unreachable { message, .. })
                if !message.contains("wrong")),
        "{refused:?}"
    );
}

static EXTERNALMETRICS_PEER_BINARY: std::sync::OnceLock<Option<std::path::PathBuf>> =
    std::sync::OnceLock::new();

const EXTERNALMETRICS_PEER: super::support::peer::Peer = super::support::peer::Peer {
    env: "FLEDGE_EXTERNALMETRICS",
    name: "externalmetrics",
    tests: "external metrics differential test",
};

/// What Flagger's own external metrics provider (vendored in `tests/externalmetrics/providers`)
/// makes of `query` at `address` with `token`: `{"value": …}` or `{"error": …}`.
async fn flagger_external_metric(
    binary: &std::path::Path,
    address: &str,
    query: &str,
    token: &str,
) -> Value {
    let mut command = tokio::process::Command::new(binary);
    command.args([address, query, token]);
    flagger_answer(command).await
}

/// Flagger's own external metrics provider against the server `externalmetrics_at_an_address`
/// runs fledge against: its requests pass the same checks (path, label selector, timeout,
/// bearer token), it reads the same value, and it fails on no items and on a refused token.
#[tokio::test]
async fn externalmetrics_as_flagger_queries_them() {
    let Some(binary) =
        super::support::peer::or_skip(&EXTERNALMETRICS_PEER, &EXTERNALMETRICS_PEER_BINARY)
    else {
        return;
    };
    let answer = Arc::new(Mutex::new(Answer::Value(1.5)));
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let base = serve(&EXTERNALMETRICS, answer.clone(), rejected.clone()).await;
    // The template's query as rendered for the target `web`.
    let query = "mon/http_errors?labelSelector=app%3Dweb";
    assert_eq!(
        flagger_external_metric(binary, &base, query, "em-token").await,
        json!({"value": 1.5})
    );
    *answer.lock().unwrap() = Answer::Nothing;
    let none = flagger_external_metric(binary, &base, query, "em-token").await;
    assert!(
        none["error"].as_str().unwrap().contains("no values found"),
        "{none}"
    );
    *answer.lock().unwrap() = Answer::Value(1.5);
    let refused = flagger_external_metric(binary, &base, query, "wrong").await;
    // The server's 403 (not a Kubernetes Status) is an error of the query, never a value.
    assert!(
        refused["value"].is_null() && refused["error"].is_string(),
        "{refused}"
    );
    let rejected = rejected.lock().unwrap();
    assert!(
        rejected.is_empty(),
        "Flagger's requests the test's server rejects: {rejected:#?}"
    );
}

/// Flagger's own splunk provider against the server `splunk` runs fledge against: its
/// availability request and its SignalFlow messages pass the same checks, and it reads the
/// same value.
#[tokio::test]
async fn splunk_as_flagger_queries_it() {
    let Some(binary) = super::support::peer::or_skip(&SIGNALFLOW_PEER, &SIGNALFLOW) else {
        return;
    };
    let answer = Arc::new(Mutex::new(Answer::Value(1.5)));
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let base = serve(&SPLUNK, answer.clone(), rejected.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // The template's program as rendered for the target `web`, and the canary's interval.
    let config = |token: &str| {
        json!({"token": token, "address": base, "interval": format!("{INTERVAL_S}s"),
               "program": "data('http.errors', filter=filter('sf_service', 'web')).sum().publish()"})
    };
    assert_eq!(
        flagger_splunk(binary, &config("sf-token"), dir.path()).await,
        json!({"value": 1.5})
    );
    *answer.lock().unwrap() = Answer::Nothing;
    assert_eq!(
        flagger_splunk(binary, &config("sf-token"), dir.path()).await,
        json!({"error": "invalid response: no values found"})
    );
    let refused = flagger_splunk(binary, &config("wrong"), dir.path()).await;
    assert!(
        refused["value"].is_null() && refused["error"].is_string(),
        "{refused}"
    );
    let rejected = rejected.lock().unwrap();
    assert!(
        rejected.is_empty(),
        "Flagger's requests the test's server rejects: {rejected:#?}"
    );
}
