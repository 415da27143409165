//! Cases ported from notification-controller v1.7.5's own tests
//! (`internal/server/event_handlers_test.go`: `TestEventMatchesAlert`, `TestFilterAlertsForEvent`,
//! `TestCombineEventMetadata`, `Test_excludeInternalMetadata`, `TestCreateCommitStatus`;
//! `api/v1/receiver_types.go` `GetWebhookPath`) plus fledge's refusals.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::event::{commit_status_id, notification};
use super::*;
use crate::net::Secret;

fn alert(ns: &str, spec: &Value) -> Value {
    json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
           "metadata": {"name": "test-alert", "namespace": ns}, "spec": spec})
}

fn source(kind: &str, name: &str, ns: &str) -> Value {
    json!({"kind": kind, "name": name, "namespace": ns})
}

fn event(severity: Severity, message: &str, metadata: &[(&str, &str)]) -> Event {
    Event {
        involved_object: InvolvedObject {
            kind: "Kustomization".into(),
            namespace: "foo-ns".into(),
            name: "foo".into(),
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            labels: Some(BTreeMap::from([("app".into(), "podinfo".into())])),
            ..InvolvedObject::default()
        },
        severity,
        timestamp: "2026-01-02T15:04:05Z".into(),
        message: message.into(),
        reason: "ReconciliationSucceeded".into(),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        reporting_controller: "kustomize-controller".into(),
        reporting_instance: None,
    }
}

fn matches(spec: &Value, e: &Event) -> bool {
    let a = Alert::parse(&alert("test-ns", spec)).unwrap();
    !matching_alerts(std::slice::from_ref(&a), e).is_empty()
}

#[test]
fn sources_severity_and_labels_match_as_test_event_matches_alert() {
    let info = event(Severity::Info, "m", &[]);
    let error = event(Severity::Error, "m", &[]);
    let with = |src: Value, sev: &str| json!({"providerRef": {"name": "p"}, "eventSeverity": sev, "eventSources": [src]});
    let cases = [
        (
            "namespace mismatch",
            with(source("Kustomization", "*", "test-ns"), "info"),
            &info,
            false,
        ),
        (
            "kind mismatch",
            with(source("GitRepository", "*", "foo-ns"), "info"),
            &info,
            false,
        ),
        (
            "alert error, event info",
            with(source("Kustomization", "*", "foo-ns"), "error"),
            &info,
            false,
        ),
        (
            "alert info, event error",
            with(source("Kustomization", "*", "foo-ns"), "info"),
            &error,
            true,
        ),
        (
            "any name",
            with(source("Kustomization", "*", "foo-ns"), "info"),
            &info,
            true,
        ),
        (
            "unmatched name",
            with(source("Kustomization", "bar", "foo-ns"), "info"),
            &info,
            false,
        ),
        (
            "matched name",
            with(source("Kustomization", "foo", "foo-ns"), "info"),
            &info,
            true,
        ),
        (
            "labels match",
            with(
                json!({"kind": "Kustomization", "name": "*", "namespace": "foo-ns", "matchLabels": {"app": "podinfo"}}),
                "info",
            ),
            &info,
            true,
        ),
        (
            "labels mismatch",
            with(
                json!({"kind": "Kustomization", "name": "*", "namespace": "foo-ns", "matchLabels": {"aaa": "bbb"}}),
                "info",
            ),
            &info,
            false,
        ),
    ];
    for (name, spec, e, want) in cases {
        assert_eq!(matches(&spec, e), want, "{name}");
    }
    let mut unknown = info.clone();
    unknown.involved_object.labels = None;
    let spec = with(
        json!({"kind": "Kustomization", "name": "*", "namespace": "foo-ns", "matchLabels": {"app": "podinfo"}}),
        "info",
    );
    assert!(
        !matches(&spec, &unknown),
        "object not found matches no label selector"
    );
}

#[test]
fn source_namespace_defaults_to_the_alerts() {
    let e = event(Severity::Info, "m", &[]);
    let spec = json!({"providerRef": {"name": "p"}, "eventSources": [{"kind": "Kustomization", "name": "foo"}]});
    let a = Alert::parse(&alert("foo-ns", &spec)).unwrap();
    assert_eq!(matching_alerts(std::slice::from_ref(&a), &e).len(), 1);
    let b = Alert::parse(&alert("other", &spec)).unwrap();
    assert!(matching_alerts(std::slice::from_ref(&b), &e).is_empty());
}

#[test]
fn suspend_inclusion_and_exclusion_filter_as_test_filter_alerts_for_event() {
    let e = event(Severity::Info, "this is a test event", &[]);
    let base = |extra: Value| {
        let mut s = json!({"providerRef": {"name": "p"}, "eventSources": [source("Kustomization", "*", "foo-ns")]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    assert!(matches(&base(json!({})), &e));
    assert!(!matches(&base(json!({"suspend": true})), &e));
    assert!(!matches(&base(json!({"inclusionList": ["foo"]})), &e));
    assert!(matches(&base(json!({"inclusionList": ["test event"]})), &e));
    assert!(!matches(&base(json!({"exclusionList": ["test"]})), &e));
    assert!(!matches(
        &base(json!({"inclusionList": ["test"], "exclusionList": ["event"]})),
        &e
    ));
    assert!(matches(
        &base(json!({"inclusionList": ["^this"], "exclusionList": ["^event"]})),
        &e
    ));
    let err = Alert::parse(&alert("foo-ns", &base(json!({"exclusionList": ["["]})))).unwrap_err();
    assert_eq!(err.path, "spec.exclusionList[0]");
}

#[test]
fn metadata_combines_in_rfc_0008_order() {
    let e = event(
        Severity::Info,
        "m",
        &[
            (
                "kustomize.toolkit.fluxcd.io/objectMetadataOverridenByController",
                "controllerMetadataValue1",
            ),
            (
                "kustomize.toolkit.fluxcd.io/alertMetadataOverridenByController",
                "controllerMetadataValue2",
            ),
            (
                "kustomize.toolkit.fluxcd.io/controllerMetadata",
                "controllerMetadataValue3",
            ),
            (
                "event.toolkit.fluxcd.io/objectMetadata",
                "objectMetadataValue1",
            ),
            (
                "event.toolkit.fluxcd.io/objectMetadataOverridenByAlert",
                "objectMetadataValue2",
            ),
            (
                "event.toolkit.fluxcd.io/objectMetadataOverridenByController",
                "objectMetadataValue3",
            ),
            ("kustomize.toolkit.fluxcd.io/token", "secret"),
            ("unprefixed", "dropped"),
        ],
    );
    let spec = json!({"providerRef": {"name": "p"}, "eventSources": [source("Kustomization", "*", "foo-ns")],
        "eventMetadata": {"objectMetadataOverridenByAlert": "alertMetadataValue1", "alertMetadata": "alertMetadataValue2",
                          "alertMetadataOverridenByController": "alertMetadataValue3"}});
    let a = Alert::parse(&alert("foo-ns", &spec)).unwrap();
    let (out, conflicts) = notification(&a, &e);
    let want: BTreeMap<String, String> = [
        ("objectMetadata", "objectMetadataValue1"),
        ("objectMetadataOverridenByAlert", "alertMetadataValue1"),
        (
            "objectMetadataOverridenByController",
            "controllerMetadataValue1",
        ),
        ("alertMetadata", "alertMetadataValue2"),
        (
            "alertMetadataOverridenByController",
            "controllerMetadataValue2",
        ),
        ("controllerMetadata", "controllerMetadataValue3"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(out.metadata, want);
    assert_eq!(
        conflicts,
        [
            "alertMetadataOverridenByController",
            "objectMetadataOverridenByAlert",
            "objectMetadataOverridenByController"
        ]
    );
}

#[test]
fn summary_sits_between_alert_metadata_and_controller_metadata() {
    let spec = json!({"providerRef": {"name": "p"}, "eventSources": [source("Kustomization", "*", "foo-ns")],
                      "summary": "alertSummary", "eventMetadata": {"summary": "eventMetadataSummary"}});
    let a = Alert::parse(&alert("foo-ns", &spec)).unwrap();
    let (out, _) = notification(
        &a,
        &event(
            Severity::Info,
            "m",
            &[("event.toolkit.fluxcd.io/summary", "objectSummary")],
        ),
    );
    assert_eq!(out.metadata["summary"], "alertSummary");
    let (out, _) = notification(
        &a,
        &event(
            Severity::Info,
            "m",
            &[("kustomize.toolkit.fluxcd.io/summary", "controllerSummary")],
        ),
    );
    assert_eq!(out.metadata["summary"], "controllerSummary");
}

#[test]
fn dispatch_skips_suspended_providers_and_names_missing_ones() {
    let e = event(Severity::Info, "m", &[]);
    let spec = json!({"providerRef": {"name": "slack"}, "eventSources": [source("Kustomization", "*", "foo-ns")]});
    let alerts = [Alert::parse(&alert("foo-ns", &spec)).unwrap()];
    let p = |suspend: bool| {
        Provider::parse(&json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": "slack", "namespace": "foo-ns"}, "spec": {"type": "slack", "suspend": suspend}}))
        .unwrap()
    };
    let live = [p(false)];
    let out = dispatch(&alerts, &live, &e);
    assert!(matches!(&out[..], [Ok(d)] if d.provider.id.name == "slack"));
    assert!(dispatch(&alerts, &[p(true)], &e).is_empty());
    let err = dispatch(&alerts, &[], &e).remove(0).unwrap_err();
    assert_eq!(err.path, "spec.providerRef.name");
}

#[test]
fn default_commit_status_is_kind_name_and_first_uid_segment() {
    let e = event(Severity::Info, "m", &[]);
    assert_eq!(
        commit_status_id("0c9c2e41-d2f9-4f9b-9c41-2a0b4f0e5b7f", &e),
        "kustomization/foo/0c9c2e41"
    );
}

fn provider(spec: &Value) -> Result<Provider, crate::flux::FluxError> {
    Provider::parse(
        &json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "p", "namespace": "flux-system"}, "spec": spec}),
    )
}

#[test]
fn providers_refuse_what_fledge_does_not_do_by_name() {
    for (spec, path) in [
        (json!({"type": "pagerduty"}), "spec.type"),
        (json!({"type": "githubpullrequestcomment"}), "spec.type"),
        (json!({"type": "slak"}), "spec.type"),
        (
            json!({"type": "github", "commitStatusExpr": "'x'"}),
            "spec.commitStatusExpr",
        ),
        (
            json!({"type": "azuredevops", "serviceAccountName": "sa"}),
            "spec.serviceAccountName",
        ),
        (json!({"type": "slack", "timeout": "soon"}), "spec.timeout"),
        (json!({"type": "slack", "chanel": "x"}), "spec.chanel"),
    ] {
        let err = provider(&spec).unwrap_err();
        assert_eq!(err.path, path, "{spec}");
        assert!(err.object.contains("flux-system/p"));
    }
    let p = provider(&json!({"type": "msteams", "interval": "5m"})).unwrap();
    assert_eq!(p.timeout, std::time::Duration::from_secs(15));
    assert_eq!(p.warnings.len(), 1);
}

fn receiver(spec: &Value) -> Result<Receiver, crate::flux::FluxError> {
    Receiver::parse(
        &json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "gh", "namespace": "flux-system"}, "spec": spec}),
    )
}

#[test]
fn receiver_path_is_sha256_of_token_name_namespace() {
    let r =
        receiver(&json!({"type": "generic", "resources": [], "secretRef": {"name": "s"}})).unwrap();
    // printf 'tokenghflux-system' | sha256sum
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"tokenghflux-system",
    ));
    assert_eq!(
        r.webhook_path(&Secret::new("token")),
        format!("/hook/{want}")
    );
    for (spec, path) in [
        (
            json!({"type": "gcr", "resources": [], "secretRef": {"name": "s"}}),
            "spec.type",
        ),
        (
            json!({"type": "github", "resources": [], "secretRef": {"name": "s"}, "resourceFilter": "true"}),
            "spec.resourceFilter",
        ),
    ] {
        assert_eq!(receiver(&spec).unwrap_err().path, path);
    }
}

/// The `enum` of `spec.type` in a CRD of `src/flux/schema/`.
fn crd_types(text: &str, version: &str) -> Vec<String> {
    let crd: Value = serde_yaml::from_str(text).unwrap();
    let v = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap();
    let e = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["type"]["enum"];
    e.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_type_in_flux_crds_is_sent_or_refused_by_name() {
    let providers = crd_types(
        include_str!("../schema/notification.toolkit.fluxcd.io_providers.yaml"),
        "v1beta3",
    );
    assert_eq!(providers.len(), 29);
    for t in &providers {
        match ProviderType::parse(t) {
            Ok(k) => assert_eq!(k.name(), t),
            Err(m) => assert!(
                m.contains(&format!("type `{t}` is not supported by fledge")),
                "{t}: {m}"
            ),
        }
    }
    let receivers = crd_types(
        include_str!("../schema/notification.toolkit.fluxcd.io_receivers.yaml"),
        "v1",
    );
    for t in &receivers {
        let r = receiver(&json!({"type": t, "resources": [], "secretRef": {"name": "s"}}));
        match r {
            Ok(_) => {}
            Err(e) => assert!(
                e.message
                    .contains(&format!("type `{t}` is not supported by fledge")),
                "{t}: {e}"
            ),
        }
    }
}

#[test]
fn received_metadata_keeps_prefixed_keys_without_checksum_digest_and_token() {
    let e = event(
        Severity::Info,
        "m",
        &[
            ("kustomize.toolkit.fluxcd.io/revision", "main@sha1:abc"),
            ("kustomize.toolkit.fluxcd.io/Checksum", "x"),
            ("kustomize.toolkit.fluxcd.io/digest", "sha256:y"),
            ("kustomize.toolkit.fluxcd.io/token", "t"),
            ("other.example.com/key", "z"),
        ],
    );
    let spec = json!({"providerRef": {"name": "p"}, "eventSources": [source("Kustomization", "*", "foo-ns")]});
    let (out, _) = notification(&Alert::parse(&alert("foo-ns", &spec)).unwrap(), &e);
    assert_eq!(
        out.metadata,
        BTreeMap::from([("revision".to_owned(), "main@sha1:abc".to_owned())])
    );
}

#[test]
fn rate_limit_key_is_flux_event_key_func() {
    use sha2::Digest as _;
    let e = event(
        Severity::Info,
        "Applied",
        &[
            ("kustomize.toolkit.fluxcd.io/revision", "main@sha1:abc"),
            ("kustomize.toolkit.fluxcd.io/token", "t"),
        ],
    );
    let key = "event/name=foo/namespace=foo-ns/kind=Kustomization/message=Applied/revision=main@sha1:abc/token=t";
    assert_eq!(
        e.rate_limit_key(),
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    );
}

#[test]
fn receivers_refuse_bodies_over_flux_limit() {
    let r =
        receiver(&json!({"type": "generic", "resources": [], "secretRef": {"name": "s"}})).unwrap();
    let big = vec![b' '; receiver::MAX_BODY_BYTES + 1];
    assert!(r.verify(&Secret::new("t"), &[], &big).is_err());
    assert!(r.verify(&Secret::new("t"), &[], &big[1..]).is_ok());
}
