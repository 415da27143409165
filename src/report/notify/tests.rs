//! The pure parts of the senders against the cases in notification-controller's
//! `internal/notifier/util_test.go`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::chat::msteams;
use super::git::{commit_of, parse_git_address, split_camel_case};
use super::{Error, ProviderSecrets, Sender};
use crate::flux::notification::{Event, InvolvedObject, Provider, Severity};

#[test]
fn git_addresses_parse_as_flux_parses_them() {
    for (addr, host, id) in [
        (
            "https://github.com/foo/bar",
            "https://github.com",
            "foo/bar",
        ),
        (
            "https://github.com/foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "ssh://git@github.com/foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "git@github.com:foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "https://gitlab.com/foo/bar/baz",
            "https://gitlab.com",
            "foo/bar/baz",
        ),
        (
            "http://localhost:3000/foo/bar",
            "http://localhost:3000",
            "foo/bar",
        ),
    ] {
        assert_eq!(
            parse_git_address(addr),
            Some((host.to_owned(), id.to_owned())),
            "{addr}"
        );
    }
}

#[test]
fn reasons_split_at_camel_case_as_go_does() {
    for (reason, want) in [
        (
            "ReconciliationSucceeded",
            vec!["Reconciliation", "Succeeded"],
        ),
        ("PDFLoader", vec!["PDF", "Loader"]),
        ("HealthCheckFailed", vec!["Health", "Check", "Failed"]),
        ("v2Ready", vec!["v", "2", "Ready"]),
    ] {
        assert_eq!(split_camel_case(reason), want, "{reason}");
    }
}

#[test]
fn revisions_give_their_commit() {
    let sha1 = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
    for rev in [
        format!("main@sha1:{sha1}"),
        format!("feature/x@sha1:{sha1}"),
        format!("main/{sha1}"),
        sha1.to_owned(),
    ] {
        assert_eq!(commit_of(&rev).as_deref(), Some(sha1), "{rev}");
    }
    assert_eq!(commit_of("main@sha1:abc"), None);
}

fn event() -> Event {
    Event {
        involved_object: InvolvedObject {
            kind: "Kustomization".into(),
            namespace: "flux-system".into(),
            name: "podinfo".into(),
            ..InvolvedObject::default()
        },
        severity: Severity::Error,
        timestamp: "2026-01-02T15:04:05Z".into(),
        message: "failed".into(),
        reason: "HealthCheckFailed".into(),
        metadata: BTreeMap::from([("revision".to_owned(), "main@sha1:abc".to_owned())]),
        reporting_controller: "kustomize-controller".into(),
        reporting_instance: None,
    }
}

#[test]
fn teams_legacy_connector_gets_a_message_card() {
    let card = msteams(&event(), true);
    assert_eq!(
        card,
        json!({"@type": "MessageCard", "@context": "http://schema.org/extensions", "themeColor": "FF0000",
            "summary": "kustomization/podinfo.flux-system",
            "sections": [{"activityTitle": "failed", "activitySubtitle": "kustomization/podinfo.flux-system",
                "facts": [{"name": "revision", "value": "main@sha1:abc"}]}]})
    );
}

fn provider(spec: &Value) -> Provider {
    Provider::parse(
        &json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "p", "namespace": "flux-system"}, "spec": spec}),
    )
    .unwrap()
}

fn secret(k: &str, v: &str) -> Value {
    use base64::Engine as _;
    json!({"data": {k: base64::engine::general_purpose::STANDARD.encode(v)}})
}

#[test]
fn sender_errors_name_the_field_to_fix() {
    let field = |spec: Value, s: Option<&Value>| match Sender::new(
        &provider(&spec),
        &ProviderSecrets {
            secret: s,
            ..Default::default()
        },
        "uid",
    ) {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(json!({"type": "slack"}), None), "spec.address");
    assert_eq!(
        field(json!({"type": "slack", "address": "not a url"}), None),
        "spec.address"
    );
    assert_eq!(
        field(
            json!({"type": "generic-hmac", "address": "https://x.example/h"}),
            None
        ),
        "spec.secretRef"
    );
    assert_eq!(
        field(
            json!({"type": "github", "address": "https://github.com/o"}),
            Some(&secret("token", "t"))
        ),
        "spec.address"
    );
    assert_eq!(
        field(
            json!({"type": "github", "address": "https://github.com/o/r"}),
            Some(&secret("githubAppID", "1"))
        ),
        "spec.secretRef"
    );
    assert_eq!(
        field(
            json!({"type": "bitbucket", "address": "https://bitbucket.org/o/r"}),
            Some(&secret("token", "no-colon"))
        ),
        "spec.secretRef"
    );
    assert_eq!(
        field(
            json!({"type": "slack", "address": "https://x.example/h"}),
            Some(&secret("headers", "- not a map"))
        ),
        "spec.secretRef"
    );
    let proxied = json!({"type": "slack", "address": "https://x.example/h", "proxySecretRef": {"name": "px"}});
    let s = ProviderSecrets {
        proxy: Some(&secret("username", "u")),
        ..Default::default()
    };
    assert!(
        matches!(Sender::new(&provider(&proxied), &s, "uid"), Err(Error::Config { field, .. }) if field == "spec.proxySecretRef")
    );
}

#[test]
fn cert_secrets_are_read_or_refused_by_field() {
    let p = provider(
        &json!({"type": "slack", "address": "https://x.example/h", "certSecretRef": {"name": "c"}}),
    );
    let empty = secret("other", "x");
    let s = ProviderSecrets {
        cert: Some(&empty),
        ..Default::default()
    };
    assert!(
        matches!(Sender::new(&p, &s, "uid"), Err(Error::Config { field, .. }) if field == "spec.certSecretRef")
    );
    let bad = secret("ca.crt", "not a certificate");
    let s = ProviderSecrets {
        cert: Some(&bad),
        ..Default::default()
    };
    assert!(
        matches!(Sender::new(&p, &s, "uid"), Err(Error::Config { field, .. }) if field == "spec.certSecretRef")
    );
}

#[test]
fn a_429_or_503_waits_as_its_retry_after_says_as_go_retryablehttp_reads_it() {
    use super::retry_wait;
    use reqwest::StatusCode;
    use std::time::Duration;
    let now: jiff::Timestamp = "1999-12-31T23:59:00Z".parse().unwrap();
    let busy = StatusCode::TOO_MANY_REQUESTS;
    assert_eq!(
        retry_wait(busy, Some("7"), now),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        retry_wait(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Fri, 31 Dec 1999 23:59:59 GMT"),
            now
        ),
        Some(Duration::from_secs(59))
    );
    // A date past: at once.
    assert_eq!(
        retry_wait(busy, Some("Fri, 31 Dec 1999 23:00:00 GMT"), now),
        Some(Duration::ZERO)
    );
    // Nothing to read, or another status: the doubling wait.
    for (status, header) in [
        (busy, None),
        (busy, Some("")),
        (busy, Some("-3")),
        (busy, Some("soon")),
        (StatusCode::BAD_GATEWAY, Some("7")),
    ] {
        assert_eq!(retry_wait(status, header, now), None, "{status} {header:?}");
    }
}
