use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::prometheus::Prometheus;
use super::webhooks::Webhooks;
use super::*;

type Calls = Arc<Mutex<Vec<Value>>>;
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;
use crate::release::spec::{HookType, Provider};
use crate::release::state::Phase;
use crate::release::{parse_canary, parse_metric_template};

fn spec(metrics: Value, webhooks: Value) -> ReleaseSpec {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "nginx",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web-ing"},
                 "service": {"port": 80}, "analysis": {"stepWeight": 10}}});
    c["spec"]["analysis"]["metrics"] = metrics;
    c["spec"]["analysis"]["webhooks"] = webhooks;
    parse_canary(&c, &Provider::Istio).unwrap()
}

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(axum::serve(l, app).into_future());
    format!("http://{addr}")
}

#[test]
fn judgements_use_flaggers_words() {
    let s = spec(
        json!([{"name": "request-success-rate", "thresholdRange": {"min": 99}},
               {"name": "request-duration", "thresholdRange": {"max": 500}},
               {"name": "custom", "query": "x", "thresholdRange": {"min": 1, "max": 5}}]),
        json!([]),
    );
    let m = &s.analysis.metrics;
    assert_eq!(judge(&s, &m[0], 99.0), Ok(()), "bounds are inclusive");
    let failed = |i: usize, v: f64| {
        let f = judge(&s, &m[i], v).unwrap_err();
        assert_eq!(f.kind, FailureKind::OutOfRange);
        assert_eq!(f.check, format!("metric {}", m[i].name));
        (f.message, f.value.unwrap(), f.threshold.unwrap())
    };
    assert_eq!(
        failed(0, 98.5),
        (
            "Halt web.prod advancement success rate 98.50% < 99%".into(),
            "98.50%".into(),
            ">= 99%".into()
        )
    );
    assert_eq!(
        failed(1, 1515.0),
        (
            "Halt web.prod advancement request duration 1.515s > 500ms".into(),
            "1.515s".into(),
            "<= 500ms".into()
        )
    );
    assert_eq!(judge(&s, &m[2], 5.0), Ok(()));
    assert_eq!(
        failed(2, 5.5),
        (
            "Halt web.prod advancement custom 5.50 > 5".into(),
            "5.50".into(),
            "between 1 and 5".into()
        )
    );
    assert_eq!(
        failed(2, 0.5).0,
        "Halt web.prod advancement custom 0.50 < 1"
    );
}

#[test]
fn the_route_variable_is_the_route_ref_else_the_target_as_in_flagger() {
    let s = spec(
        json!([{"name": "x", "query": "q", "thresholdRange": {"max": 1}}]),
        json!([]),
    );
    let route = |s: &ReleaseSpec| model(s, &s.analysis.metrics[0]).functions["route"].clone();
    assert_eq!(route(&s), "web");
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "apisix",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "web-route"},
                 "service": {"port": 80}, "analysis": {"stepWeight": 10}}});
    c["spec"]["analysis"]["metrics"] =
        json!([{"name": "x", "query": "q", "thresholdRange": {"max": 1}}]);
    assert_eq!(
        route(&parse_canary(&c, &Provider::Istio).unwrap()),
        "web-route"
    );
}

#[test]
fn requests_render_builtins_templates_and_their_errors() {
    let s = spec(
        json!([{"name": "request-success-rate", "interval": "30s", "thresholdRange": {"min": 99}},
               {"name": "latency", "templateRef": {"name": "latency", "namespace": "ingress-nginx"},
                "templateVariables": {"q": "0.99"}, "thresholdRange": {"max": 1}},
               {"name": "missing", "templateRef": {"name": "nope"}, "thresholdRange": {"max": 1}},
               {"name": "nothing", "thresholdRange": {"max": 1}}]),
        json!([]),
    );
    let t = parse_metric_template(&json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "latency", "namespace": "ingress-nginx"},
        "spec": {"provider": {"type": "prometheus", "address": "http://prom:9090", "secretRef": {"name": "prom-auth"}},
                 "query": "histogram_quantile({{ variables.q }},\n   rate(x{ingress=\"{{ ingress }}\"}[{{ interval }}]))"}}))
    .unwrap();
    let templates = BTreeMap::from([(("ingress-nginx".to_owned(), "latency".to_owned()), t)]);
    let secrets = BTreeMap::from([(
        ("ingress-nginx".to_owned(), "prom-auth".to_owned()),
        SecretData::new(
            "ingress-nginx/prom-auth".into(),
            BTreeMap::from([("token".to_owned(), "tok".to_owned())]),
        ),
    )]);
    let m = &s.analysis.metrics;
    let r = request(&s, &m[0], &templates, &secrets).unwrap();
    assert_eq!(
        r.query,
        r#"sum(rate(nginx_ingress_controller_requests{namespace="prod",ingress="web-ing",canary!="",status!~"5.*"}[30s])) / sum(rate(nginx_ingress_controller_requests{namespace="prod",ingress="web-ing",canary!=""}[30s])) * 100"#
    );
    let r = request(&s, &m[1], &templates, &secrets).unwrap();
    assert_eq!(
        r.query,
        r#"histogram_quantile(0.99, rate(x{ingress="web-ing"}[1m]))"#
    );
    assert_eq!(r.address.as_deref(), Some("http://prom:9090"));
    assert_eq!(r.auth, Some(Auth::Bearer("tok".into())));
    assert!(
        request(&s, &m[1], &templates, &BTreeMap::new())
            .unwrap_err()
            .contains("secret error")
    );
    assert!(
        request(&s, &m[2], &templates, &secrets)
            .unwrap_err()
            .contains("MetricTemplate prod/nope is not in the repository")
    );
    assert!(
        request(&s, &m[3], &templates, &secrets)
            .unwrap_err()
            .contains("no usable metrics template and query")
    );
}

#[tokio::test]
async fn prometheus_answers_no_data_and_unreachable_are_told_apart() {
    let seen = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let app = Router::new()
        .route(
            "/prefix/api/v1/query",
            get(|State(seen): State<Seen>, headers: axum::http::HeaderMap, Query(q): Query<BTreeMap<String, String>>| async move {
                let query = q.get("query").cloned().unwrap_or_default();
                seen.lock().unwrap().push((query.clone(), headers.get("authorization").map(|v| v.to_str().unwrap().to_owned())));
                let result = match query.as_str() {
                    "empty" => json!([]),
                    "nan" => json!([{"metric": {}, "value": [1.0, "NaN"]}]),
                    "bad" => return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "error", "errorType": "bad_data", "error": "parse error"}))),
                    _ => json!([{"metric": {"a": "1"}, "value": [1.0, "1"]}, {"metric": {"a": "2"}, "value": [1.0, "99.5"]}]),
                };
                (StatusCode::OK, axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}})))
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let p = Prometheus::new(
        &format!("{base}/prefix/"),
        Some(Auth::Bearer("s3cret".into())),
        Duration::from_secs(2),
    );
    let none = BTreeMap::new();
    assert_eq!(
        p.run(None, "sum(x)", &none, None, false).await,
        Ok(99.5),
        "the last series wins"
    );
    assert!(matches!(
        p.run(None, "empty", &none, None, false).await,
        Err(MetricError::NoData(_))
    ));
    assert!(matches!(
        p.run(None, "nan", &none, None, false).await,
        Err(MetricError::NoData(_))
    ));
    assert!(
        matches!(p.run(None, "bad", &none, None, false).await, Err(MetricError::Failed(m)) if m.contains("parse error"))
    );
    assert_eq!(
        seen.lock().unwrap()[0],
        ("sum(x)".into(), Some("Bearer s3cret".into()))
    );
    // Nothing listens on a freshly closed port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = Prometheus::new(&format!("http://{closed}"), None, Duration::from_secs(2));
    let e = down
        .run(None, "vector(1)", &none, None, false)
        .await
        .unwrap_err();
    assert!(matches!(&e, MetricError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("unreachable"), "{e}");
    // The auth never shows in debug output.
    assert!(!format!("{p:?}").contains("s3cret"));
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one local webhook server taken through every part of Flagger's contract"
)]
async fn webhooks_follow_flaggers_contract() {
    let calls: Calls = Arc::default();
    let attempts = Arc::new(Mutex::new(0u32));
    let app = Router::new()
        .route(
            "/ok",
            post(
                |State((c, _)): State<(Calls, Arc<Mutex<u32>>)>,
                 axum::Json(b): axum::Json<Value>| async move {
                    c.lock().unwrap().push(b);
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/203",
            post(|| async { (StatusCode::NON_AUTHORITATIVE_INFORMATION, "not quite") }),
        )
        .route(
            "/halt",
            post(|| async { (StatusCode::FORBIDDEN, "gate closed") }),
        )
        .route(
            "/flaky",
            post(
                |State((_, a)): State<(Calls, Arc<Mutex<u32>>)>| async move {
                    let mut n = a.lock().unwrap();
                    *n += 1;
                    if *n < 3 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .route("/down", post(|| async { StatusCode::BAD_GATEWAY }))
        .with_state((calls.clone(), attempts.clone()));
    let base = serve(app).await;
    let hook = |name: &str, t: &str, path: &str, retries: u32| json!({"name": name, "type": t, "url": format!("{base}{path}"), "retries": retries, "metadata": {"cmd": "hey"}});
    let s = spec(
        json!([]),
        json!([
            hook("gate-a", "confirm-promotion", "/ok", 0),
            hook("gate-b", "confirm-promotion", "/203", 0),
            hook("pre", "pre-rollout", "/halt", 0),
            hook("flaky", "rollout", "/flaky", 3),
            hook("down", "rollout", "/down", 1),
            hook("rb", "rollback", "/halt", 0)
        ]),
    );
    let w = Webhooks::new(Duration::from_millis(10));
    assert_eq!(
        w.run(&s, HookType::ConfirmPromotion, Phase::Progressing, "abc")
            .await,
        Outcome::Fail(FailedCheck::new(
            FailureKind::Hook,
            "webhook gate-b",
            "gate-b"
        )),
        "203 is a failure, and the gate names the hook"
    );
    assert_eq!(
        calls.lock().unwrap()[0],
        json!({"name": "web", "namespace": "prod", "phase": "Progressing", "checksum": "abc", "metadata": {"cmd": "hey"}})
    );
    assert_eq!(
        w.run(&s, HookType::PreRollout, Phase::Progressing, "abc")
            .await,
        Outcome::Fail(FailedCheck::new(
            FailureKind::Hook,
            "webhook pre",
            "pre failed gate closed"
        ))
    );
    let rollout = w
        .run(&s, HookType::Rollout, Phase::Progressing, "abc")
        .await;
    assert_eq!(*attempts.lock().unwrap(), 3, "retried until it answered");
    let Outcome::Fail(FailedCheck { message, .. }) = rollout else {
        panic!("{rollout:?}")
    };
    assert!(
        message.ends_with("giving up after 2 attempt(s)"),
        "{message}"
    );
    assert!(
        message.starts_with("Halt web.prod advancement external check down failed POST"),
        "{message}"
    );
    assert!(
        matches!(
            w.run(&s, HookType::Rollback, Phase::Progressing, "abc")
                .await,
            Outcome::Fail(_)
        ),
        "a 403 signals no rollback"
    );
    // A hook that does not answer in time fails after its timeout.
    let slow = Router::new().route(
        "/",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK
        }),
    );
    let slow_base = serve(slow).await;
    let s = spec(
        json!([]),
        json!([{"name": "slow", "type": "confirm-rollout", "url": format!("{slow_base}/"), "timeout": "1s"}]),
    );
    let started = tokio::time::Instant::now();
    assert!(matches!(
        w.run(&s, HookType::ConfirmRollout, Phase::Succeeded, "x")
            .await,
        Outcome::Fail(_)
    ));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn the_sim_source_measures_the_canarys_requests_between_checks() {
    use crate::cluster::sim::SimCluster;
    let mut sim = SimCluster::new(Duration::ZERO);
    let deploy = |name: &str, errors: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "prod"},
               "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name},
                   "annotations": {"sim.fledge.dev/error-rate": errors, "sim.fledge.dev/latency-ms": "120"}},
                   "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    };
    let service = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "prod"},
               "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
    };
    for o in [
        deploy("web", "0.25"),
        deploy("web-primary", "0"),
        service("web", "web-primary"),
        service("web-primary", "web-primary"),
        service("web-canary", "web"),
        json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit", "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"service": "web", "backends": [{"service": "web-primary", "weight": 50}, {"service": "web-canary", "weight": 50}]}}),
    ] {
        sim.apply(o, Duration::ZERO).unwrap();
    }
    sim.set_request_rate(100.0);
    sim.tick(Duration::ZERO).unwrap();
    sim.tick(Duration::from_secs(10)).unwrap();
    let sim = Arc::new(Mutex::new(sim));
    let source = sim::SimMetrics::new(sim.clone());
    let s = spec(
        json!([{"name": "request-success-rate", "thresholdRange": {"min": 99}},
               {"name": "request-duration", "thresholdRange": {"max": 500}},
               {"name": "custom", "query": "sum(x)", "thresholdRange": {"max": 1}}]),
        json!([]),
    );
    let m = &s.analysis.metrics;
    let none = BTreeMap::new();
    let q = |i: usize| request(&s, &m[i], &none, &BTreeMap::new()).unwrap();
    let rate = source.query(&q(0)).await.unwrap();
    assert!((rate - 75.0).abs() < 0.5, "{rate}");
    let ms = source.query(&q(1)).await.unwrap();
    assert!((ms - 120.0).abs() < 0.5, "{ms}");
    assert!(
        matches!(source.query(&q(0)).await, Err(MetricError::NoData(_))),
        "no requests since the last check"
    );
    assert!(
        matches!(source.query(&q(2)).await, Err(MetricError::Failed(e)) if e.contains("--metrics-provider prometheus"))
    );
    sim.lock().unwrap().tick(Duration::from_secs(20)).unwrap();
    assert!(source.query(&q(0)).await.is_ok());
}

#[test]
fn credentials_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let basic = dir.path().join("basic");
    std::fs::write(&basic, "me:pw\n").unwrap();
    assert_eq!(
        prometheus::auth_from_files(Some(&token), None).unwrap(),
        Some(Auth::Bearer("s3cret".into()))
    );
    assert_eq!(
        prometheus::auth_from_files(None, Some(&basic)).unwrap(),
        Some(Auth::Basic {
            username: "me".into(),
            password: "pw".into()
        })
    );
    std::fs::write(&basic, "nocolon").unwrap();
    assert!(
        prometheus::auth_from_files(None, Some(&basic))
            .unwrap_err()
            .to_string()
            .contains("username:password")
    );
}

#[test]
fn traefik_osm_and_smi_builtins_are_flaggers() {
    let mut s = spec(
        json!([{"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}},
               {"name": "request-duration", "interval": "1m", "thresholdRange": {"max": 500}}]),
        json!([]),
    );
    let rendered = |s: &ReleaseSpec| -> Vec<String> {
        s.analysis
            .metrics
            .iter()
            .map(|m| {
                request(s, m, &BTreeMap::new(), &BTreeMap::new())
                    .unwrap()
                    .query
            })
            .collect()
    };
    s.provider = Provider::Traefik;
    let sel = r#"service=~"prod-web-canary-[0-9a-zA-Z-]+@kubernetescrd""#;
    assert_eq!(
        rendered(&s),
        [
            format!(
                r#"sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},code!~"5..",le="+Inf"}}[1m])) / sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},le="+Inf"}}[1m])) * 100"#
            ),
            format!(
                r"histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{{{sel}}}[1m])) by (le)) * 1000"
            ),
        ]
    );
    s.provider = Provider::Osm;
    let sel =
        r#"destination_namespace="prod",destination_kind="Deployment",destination_name="web""#;
    assert_eq!(
        rendered(&s),
        [
            format!(
                r#"sum(rate(osm_request_total{{{sel},response_code!~"5.*"}}[1m])) / sum(rate(osm_request_total{{{sel}}}[1m])) * 100"#
            ),
            format!(
                r"histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{{{sel}}}[1m])) by (le))"
            ),
        ]
    );
    // SMI falls back to Istio's queries, as Flagger does.
    s.provider = Provider::parse("smi:v1alpha2:istio").unwrap();
    assert!(rendered(&s)[0].starts_with(r#"sum(rate(istio_requests_total{reporter="destination""#));
}
