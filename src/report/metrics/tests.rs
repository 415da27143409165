use serde_json::json;

use super::*;
use crate::release::parse_canary;
use crate::release::spec::Provider;

#[test]
fn outcomes_metrics_and_tick_errors_are_labelled_as_flagger_and_fledge_document_them() {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-app"},
                 "service": {"port": 80}, "analysis": {"stepWeight": 10}}});
    let spec = parse_canary(&canary, &Provider::Istio).unwrap();
    let mut c = Counters::default();
    c.count_outcome(&spec, Phase::Progressing, Phase::Succeeded);
    c.count_outcome(&spec, Phase::Succeeded, Phase::Succeeded);
    c.count_outcome(&spec, Phase::Progressing, Phase::Failed);
    c.record_metric(&spec, "request-success-rate", 99.5);
    c.count_tick_error(&spec, "Forbidden");
    c.count_tick_error(&spec, "Forbidden");
    let text = render(std::iter::empty(), &c);
    for line in [
        "flagger_canary_successes_total{name=\"web-app\",namespace=\"shop\",deployment_strategy=\"canary\",analysis_status=\"completed\"} 1",
        "flagger_canary_failures_total{name=\"web-app\",namespace=\"shop\",deployment_strategy=\"canary\",analysis_status=\"completed\"} 1",
        "flagger_canary_metric_analysis{name=\"web-app\",namespace=\"shop\",metric=\"request-success-rate\"} 99.5",
        "fledge_release_tick_errors_total{name=\"web\",namespace=\"shop\",reason=\"Forbidden\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
}
