use serde_json::json;

use super::{Unknown, unknown_fields};

#[test]
fn misspelt_canary_fields_are_named_with_the_closest_valid_one() {
    let spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "service": {"port": 80, "apex": {"labels": {"any-label": "x"}}},
        "analysis": {
            "interval": "1m", "threshold": 5, "stepWieght": 10,
            "metrics": [{"name": "request-success-rate", "thresholdRnage": {"min": 99}}],
            "webhooks": [{"name": "t", "url": "http://x/", "metadata": {"cmd": "anything"}}]
        }
    });
    assert_eq!(
        unknown_fields("Canary", &spec, &[]),
        [
            Unknown {
                path: "spec.analysis.metrics[0].thresholdRnage".into(),
                closest: Some("thresholdRange".into())
            },
            Unknown {
                path: "spec.analysis.stepWieght".into(),
                closest: Some("stepWeight".into())
            },
        ]
    );
    assert_eq!(
        unknown_fields("Canary", &json!({"zzz": 1}), &[])[0].to_string(),
        "spec.zzz: unknown field"
    );
}

#[test]
fn the_legacy_canary_analysis_is_read_as_analysis() {
    let spec = json!({"canaryAnalysis": {"interval": "1m", "threshold": 2, "iterations": 3}});
    assert_eq!(
        unknown_fields("Canary", &spec, &[("canaryAnalysis", "analysis")]),
        []
    );
    assert_eq!(unknown_fields("Canary", &spec, &[]).len(), 1);
}

#[test]
fn templates_and_providers_are_checked_too() {
    let t = json!({"provider": {"type": "prometheus", "adress": "http://p"}, "query": "up"});
    assert_eq!(
        unknown_fields("MetricTemplate", &t, &[])[0].to_string(),
        "spec.provider.adress: unknown field (did you mean `address`?)"
    );
    let p = json!({"type": "slack", "chanel": "x"});
    assert_eq!(
        unknown_fields("AlertProvider", &p, &[])[0].to_string(),
        "spec.chanel: unknown field (did you mean `channel`?)"
    );
}
