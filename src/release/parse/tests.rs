//! Canary parsing: defaults, schedules, errors with field paths, the legacy form.
use super::*;
use crate::release::spec::*;
use serde_json::json;

fn canary(analysis: Value) -> Value {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
           "metadata": {"name": "web", "namespace": "prod"},
           "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "service": {"port": 80}}});
    c["spec"]["analysis"] = analysis;
    c
}

fn parse(analysis: Value) -> Result<ReleaseSpec, SpecError> {
    parse_canary(&canary(analysis), &Provider::Istio)
}

#[test]
fn defaults_are_flaggers() {
    let s = parse(json!({"stepWeight": 10})).unwrap();
    assert_eq!(s.analysis.interval, Duration::from_secs(60));
    assert_eq!(s.analysis.threshold, 1);
    assert_eq!(s.analysis.max_weight, 100);
    assert_eq!(s.progress_deadline, Duration::from_secs(600));
    assert_eq!(s.service.name, "web");
    assert_eq!(s.service.port_name, "http");
    assert_eq!(s.service.target_port, json!(80));
    assert_eq!(s.provider, Provider::Istio);
    assert_eq!(s.strategy(), Strategy::Canary);
    let short = parse(json!({"stepWeight": 10, "interval": "5s"})).unwrap();
    assert_eq!(short.analysis.interval, Duration::from_secs(10));
}

#[test]
fn weight_schedules() {
    let s = parse(json!({"stepWeight": 20, "maxWeight": 50})).unwrap();
    assert_eq!(s.weight_schedule(), [20, 40, 60]);
    let s = parse(json!({"stepWeights": [1, 5, 10, 80]})).unwrap();
    assert_eq!(s.weight_schedule(), [1, 5, 10, 80]);
    let s = parse(json!({"stepWeight": 5, "maxWeight": 50})).unwrap();
    assert_eq!(s.weight_schedule().len(), 10);
    assert_eq!(s.next_step(7), 5);
    let s = parse(json!({"stepWeights": [10, 20]})).unwrap();
    assert_eq!(s.next_step(15), 85, "a weight not in the list jumps to 100");
}

#[test]
fn errors_carry_the_field_path() {
    let e = parse(json!({"stepWeights": [10, 20, 15]})).unwrap_err();
    assert_eq!(e.path, "spec.analysis.stepWeights[2]");
    assert_eq!(e.object, "Canary prod/web");
    let e = parse(json!({"stepWeight": 10, "iterations": 3})).unwrap_err();
    assert!(e.message.contains("exactly one"), "{e}");
    let e = parse(json!({"stepWeight": 10, "interval": "1h"})).unwrap_err();
    assert_eq!(e.path, "spec.analysis.interval");
    let e = parse(json!({"stepWeight": 10, "metrics": [{"name": "x", "thresholdRange": {"min": 5, "max": 1}}]}))
        .unwrap_err();
    assert_eq!(e.path, "spec.analysis.metrics[0].thresholdRange");
    let e = parse(
        json!({"stepWeight": 10, "webhooks": [{"name": "a", "url": "http://x", "type": "pre"}]}),
    )
    .unwrap_err();
    assert_eq!(e.path, "spec.analysis.webhooks[0].type");
    let mut c = canary(json!({"stepWeight": 1}));
    c["spec"]["provider"] = json!("nginx");
    let e = parse_canary(&c, &Provider::Istio).unwrap_err();
    assert_eq!(e.path, "spec.ingressRef");
    c["spec"]["provider"] = json!("envoy");
    assert_eq!(
        parse_canary(&c, &Provider::Istio).unwrap_err().path,
        "spec.provider"
    );
    c["spec"]["provider"] = json!("istio");
    c["spec"]["service"] = json!({"portName": "http"});
    assert_eq!(
        parse_canary(&c, &Provider::Istio).unwrap_err().path,
        "spec.service.port"
    );
}

#[test]
fn legacy_v1alpha3_is_up_converted() {
    let c = json!({"apiVersion": "flagger.app/v1alpha3", "kind": "Canary",
        "metadata": {"name": "web"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80},
                 "canaryAnalysis": {"interval": "30s", "threshold": 3, "stepWeight": 10,
                    "metrics": [{"name": "request-success-rate", "threshold": 99, "interval": "1m"},
                                {"name": "request-duration", "threshold": 500, "interval": "1m"},
                                {"name": "custom", "threshold": 0.5, "query": "sum(x)"}]}}});
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    assert_eq!(s.namespace, "default");
    assert_eq!(s.api_version, "v1alpha3");
    let m = &s.analysis.metrics;
    assert_eq!((m[0].min, m[0].max), (Some(99.0), None));
    assert_eq!((m[1].min, m[1].max), (None, Some(500.0)));
    assert_eq!((m[2].min, m[2].max), (None, Some(0.5)));
    assert_eq!(m[2].source, MetricSourceRef::Inline("sum(x)".into()));
    assert!(!s.skip_analysis);
}

#[test]
fn kubernetes_provider_is_blue_green() {
    let mut c = canary(json!({"stepWeight": 10, "match": [{"headers": {}}]}));
    c["spec"]["provider"] = json!("kubernetes");
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    assert_eq!(s.analysis.iterations, 10);
    assert!(s.analysis.matches.is_empty());
    assert_eq!(s.strategy(), Strategy::Bluegreen);
}

#[test]
fn go_durations() {
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("1x"), None);
    assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
    assert_eq!(go_duration(Duration::from_millis(1515)), "1.515s");
    assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
}

#[test]
fn a_b_testing_is_refused_where_the_provider_cannot_match_requests() {
    let ab = json!({"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]});
    for provider in ["linkerd", "osm", "smi:v1alpha3", "traefik"] {
        let mut c = canary(ab.clone());
        c["spec"]["provider"] = json!(provider);
        let e = parse_canary(&c, &Provider::Istio).unwrap_err();
        assert_eq!(e.path, "spec.analysis.match", "{provider}");
        assert!(e.message.contains("all traffic to the canary"), "{e}");
        // Blue/green (no match) and progressive weights are fine.
        c["spec"]["analysis"] = json!({"iterations": 5});
        assert_eq!(
            parse_canary(&c, &Provider::Istio).unwrap().strategy(),
            Strategy::Bluegreen
        );
    }
    for provider in ["istio", "nginx", "gatewayapi:v1"] {
        let mut c = canary(ab.clone());
        c["spec"]["provider"] = json!(provider);
        c["spec"]["ingressRef"] =
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"});
        c["spec"]["service"]["gatewayRefs"] = json!([{"name": "gw"}]);
        assert_eq!(
            parse_canary(&c, &Provider::Istio).unwrap().strategy(),
            Strategy::Ab
        );
    }
}

/// A Knative Service target goes with the knative provider only, and without an autoscaler
/// (Flagger's `verifyKnativeCanary`); no `spec.service` is needed.
#[test]
fn knative_targets_and_the_knative_provider_go_together() {
    let knative = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "web"});
    let with = |provider: &str, target: Value, extra: Value| {
        let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"provider": provider, "targetRef": target,
                     "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10}}});
        for (k, v) in extra.as_object().unwrap() {
            c["spec"][k] = v.clone();
        }
        parse_canary(&c, &Provider::Istio)
    };
    let s = with("knative", knative.clone(), json!({})).unwrap();
    assert_eq!(s.provider, Provider::Knative);
    assert!(s.unhonoured.is_empty(), "{:?}", s.unhonoured);
    let mut mirrored = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "knative", "targetRef": knative.clone(),
                 "analysis": {"interval": "1m", "threshold": 5, "iterations": 3, "mirror": true}}});
    let m = parse_canary(&mirrored, &Provider::Istio).unwrap();
    assert!(
        m.unhonoured
            .iter()
            .any(|u| u.starts_with("spec.analysis.mirror")),
        "{:?}",
        m.unhonoured
    );
    mirrored["spec"]["analysis"]["mirror"] = json!(false);
    assert!(
        parse_canary(&mirrored, &Provider::Istio)
            .unwrap()
            .unhonoured
            .is_empty()
    );
    assert!(s.target.is_knative_service());
    assert!(!Provider::Knative.matches_requests());
    let e = with("istio", knative.clone(), json!({})).unwrap_err();
    assert_eq!(e.path, "spec.provider");
    assert!(
        e.message
            .contains("can't use istio provider with Knative Service"),
        "{e}"
    );
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let e = with("knative", deployment, json!({"service": {"port": 80}})).unwrap_err();
    assert_eq!(e.path, "spec.targetRef");
    let hpa = json!({"autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web"}});
    let e = with("knative", knative, hpa).unwrap_err();
    assert_eq!(e.path, "spec.autoscalerRef");
}
