use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Error, Status, Verdict, assess, compile, compute, of};

fn now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn widget(status: &Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": "w", "namespace": "ns", "generation": 1}, "status": status})
}

fn entry(current: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "current": current})
}

#[test]
fn an_expression_that_does_not_parse_names_its_field() {
    let bad = json!([entry("true"),
        {"apiVersion": "example.com/v1", "kind": "Gadget", "current": "true", "failed": "status.("}]);
    let err = compile(bad.as_array().unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Parse {
                index: 1,
                field: "failed",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "spec.healthCheckExprs[1].failed: failed to parse the CEL expression 'status.('"
        ),
        "{err}"
    );
}

#[test]
fn current_is_required_and_group_kinds_are_unique() {
    let none = json!([{"apiVersion": "example.com/v1", "kind": "Widget", "failed": "true"}]);
    let err = compile(none.as_array().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.healthCheckExprs[0].current is required: the expression that says an object is healthy"
    );
    let twice = json!([entry("true"), entry("false")]);
    let err = compile(twice.as_array().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Duplicate { index: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("Widget.example.com"), "{err}");
}

#[test]
fn malformed_entries_name_the_field() {
    let cases = [
        (json!(["x"]), "spec.healthCheckExprs[0] must be an object"),
        (
            json!([{"kind": "Widget", "current": 1}]),
            "spec.healthCheckExprs[0].current must be a string",
        ),
        (
            json!([{"kind": "Widget", "current": "true", "curent": "x"}]),
            "unknown field `curent`",
        ),
    ];
    for (entries, want) in cases {
        let err = compile(entries.as_array().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn an_expression_giving_no_boolean_makes_the_object_unknown() {
    let exprs = compile(&[entry("status.count")]).unwrap();
    let h = of(&widget(&json!({"count": 3})), &exprs, now());
    assert_eq!(h.status, Status::Unknown);
    assert_eq!(
        h.message,
        "failed to evaluate CEL expression as boolean: 'status.count'"
    );
}

#[test]
fn an_expression_that_fails_to_evaluate_makes_the_object_unknown() {
    let exprs = compile(&[entry("status.missing == 1")]).unwrap();
    let h = of(&widget(&json!({})), &exprs, now());
    assert_eq!(h.status, Status::Unknown);
    assert!(
        h.message
            .starts_with("failed to evaluate the CEL expression 'status.missing == 1': "),
        "{}",
        h.message
    );
}

#[test]
fn expressions_are_tried_in_progress_failed_current_order() {
    let exprs = compile(&[json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "inProgress": "status.phase == 'busy'", "failed": "status.phase in ['busy', 'broken']",
        "current": "status.phase != 'new'"})])
    .unwrap();
    let status = |phase: &str| of(&widget(&json!({"phase": phase})), &exprs, now()).status;
    assert_eq!(status("busy"), Status::InProgress);
    assert_eq!(status("broken"), Status::Failed);
    assert_eq!(status("done"), Status::Current);
    assert_eq!(status("new"), Status::InProgress);
}

#[test]
fn an_unknown_kind_without_conditions_is_current() {
    let h = compute(&widget(&json!({})), now());
    assert_eq!(
        (h.status, h.message.as_str()),
        (Status::Current, "Resource is current")
    );
}

#[test]
fn a_generation_of_the_wrong_type_is_unknown_with_go_s_error() {
    let mut w = widget(&json!({}));
    w["metadata"]["generation"] = json!("1");
    let h = compute(&w, now());
    assert_eq!(h.status, Status::Unknown);
    assert_eq!(
        h.message,
        "looking up metadata.generation from resource: .metadata.generation accessor error: 1 is of the type string, expected int64"
    );
}

#[test]
fn a_failed_object_fails_the_set_and_is_named() {
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}});
    let bad =
        widget(&json!({"conditions": [{"type": "Stalled", "status": "True", "message": "no"}]}));
    let pending =
        widget(&json!({"conditions": [{"type": "Ready", "status": "False", "message": "wait"}]}));
    let set = assess(&[ok.clone(), bad], &[], now());
    assert_eq!(set.verdict(), Verdict::Failed);
    assert_eq!(
        set.message().unwrap(),
        "failed early due to stalled resources: [Widget/ns/w status: 'Failed']"
    );
    let set = assess(&[ok.clone(), pending], &[], now());
    assert_eq!(set.verdict(), Verdict::InProgress);
    assert_eq!(
        set.message().unwrap(),
        "timeout waiting for: [Widget/ns/w status: 'InProgress']"
    );
    let set = assess(&[ok], &[], now());
    assert_eq!((set.verdict(), set.message()), (Verdict::Ready, None));
}

#[test]
fn an_apps_workload_without_a_selector_is_unknown_to_flux_but_not_to_kstatus() {
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"replicas": 0}, "status": {}});
    let h = of(&d, &[], now());
    assert_eq!(
        (h.status, h.message.as_str()),
        (Status::Unknown, "no selector found")
    );
    assert_eq!(compute(&d, now()).status, Status::InProgress);
}

#[test]
fn an_unschedulable_pod_fails_only_after_its_grace() {
    let pod = |created: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": created},
               "status": {"phase": "Pending", "conditions": [
                   {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}})
    };
    assert_eq!(
        compute(&pod("2025-12-31T23:59:50Z"), now()).status,
        Status::InProgress
    );
    assert_eq!(
        compute(&pod("2025-12-31T23:59:40Z"), now()).status,
        Status::Failed
    );
}

#[test]
fn compiled_expressions_can_be_shared_between_tasks() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<super::Expr>();
}

#[test]
fn cel_go_s_sets_functions_are_there() {
    let exprs = compile(&[entry(
        "sets.contains(status.tags, ['a']) && sets.intersects(status.tags, ['z', 'b']) && \
         !sets.equivalent(status.tags, ['a'])",
    )])
    .unwrap();
    let h = of(&widget(&json!({"tags": ["a", "b"]})), &exprs, now());
    assert_eq!(h.status, Status::Current, "{}", h.message);
}
