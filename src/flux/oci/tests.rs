use serde_json::json;

use super::*;

#[allow(clippy::needless_pass_by_value)] // json! literals read best passed as they are
fn repository(spec: Value) -> Result<OciRepository, FluxError> {
    OciRepository::parse(&json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": spec,
    }))
}

#[test]
fn a_digest_wins_over_a_range_which_wins_over_a_tag_and_latest_is_the_default() {
    let r = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m"})).unwrap();
    assert!(matches!(r.follows().unwrap(), Follow::Tag(t) if t == "latest"));
    assert_eq!(r.image(), Some("ghcr.io/org/podinfo"));
    let r = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "ref": {"tag": "6.5.0", "semver": ">=6.0.0"}}))
    .unwrap();
    assert!(matches!(r.follows().unwrap(), Follow::Semver { written, .. } if written == ">=6.0.0"));
    let r = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "ref": {"tag": "6.5.0", "semver": ">=6.0.0", "digest": "sha256:ab"}}))
    .unwrap();
    assert!(matches!(r.follows().unwrap(), Follow::Digest(d) if d == "sha256:ab"));
}

#[test]
fn the_highest_tag_in_range_is_read_as_flux_reads_versions() {
    let tags = [
        "6.4.0",
        "v6.5.0",
        "6.6",
        "6.7.0-rc.1",
        "latest",
        "6.5.1+build",
        "7.0.0",
    ];
    let range = Constraint::parse(">=6.0.0 <7.0.0").unwrap();
    // `6.6` has two parts (not a version to Flux); a pre-release is out of a range without one.
    assert_eq!(highest(tags, &range, None).as_deref(), Some("6.5.1+build"));
    let filter = regex::Regex::new("^v").unwrap();
    assert_eq!(
        highest(tags, &range, Some(&filter)).as_deref(),
        Some("v6.5.0")
    );
    let pre = Constraint::parse(">=6.7.0-0").unwrap();
    assert_eq!(highest(tags, &pre, None).as_deref(), Some("7.0.0"));
    assert_eq!(
        highest(tags, &Constraint::parse(">=8").unwrap(), None),
        None
    );
}

#[test]
fn what_cannot_be_read_or_is_not_honoured_is_named() {
    let e =
        repository(json!({"url": "https://ghcr.io/org/podinfo", "interval": "5m"})).unwrap_err();
    assert_eq!(e.path, "spec.url");
    let e = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "ref": {"semver": "six or later"}}))
    .unwrap_err();
    assert_eq!(e.path, "spec.ref.semver");
    let e = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "layerSelector": {"mediaTyp": "x"}}))
    .unwrap_err();
    assert!(e.message.contains("mediaType"), "{e}");
    let r = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "provider": "aws", "verify": {"provider": "cosign"}, "ignore": "*.md",
        "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"}}))
    .unwrap();
    let unsupported = r.unsupported();
    assert_eq!(unsupported.len(), 3, "{unsupported:?}");
    assert!(unsupported[0].starts_with("spec.provider `aws`"));
    assert_eq!(
        r.layer(),
        LayerChoice {
            media_type: Some(HELM_CHART_LAYER.into()),
            extract: false
        }
    );
}

#[test]
fn a_helm_chart_reads_as_a_release_chart_and_refuses_keyless_verification() {
    let chart = |spec: Value| {
        HelmChart::parse(&json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec}))
    };
    let c = chart(
        json!({"chart": "podinfo", "version": "6.x", "interval": "5m",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}, "valuesFiles": ["prod.yaml"]}),
    )
    .unwrap();
    assert_eq!(
        c.spec.source(&c.id.namespace, "spec").unwrap(),
        crate::flux::helm::ChartSource::Repository {
            repository: Id {
                namespace: "flux-system".into(),
                name: "podinfo".into()
            },
            chart: "podinfo".into(),
            version: "6.x".into()
        }
    );
    let e = chart(json!({"chart": "podinfo", "interval": "5m",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
        "verify": {"provider": "cosign"}}))
    .unwrap_err();
    assert_eq!(e.path, "spec.verify");
    assert!(e.message.contains("keyless"), "{e}");
    chart(json!({"chart": "podinfo", "interval": "5m",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
        "verify": {"provider": "cosign", "secretRef": {"name": "keys"}}}))
    .unwrap();
}

#[test]
fn verification_with_keys_is_honoured_and_what_needs_sigstore_or_notation_is_refused_by_name() {
    let secret = |v: Value| verify_secret(Some(&v), "spec.verify");
    assert_eq!(secret(Value::Null), Ok(None));
    assert_eq!(
        secret(json!({"provider": "cosign", "secretRef": {"name": "keys"}})),
        Ok(Some("keys".to_owned()))
    );
    // The default provider is cosign; identities are not read beside keys, as by Flux.
    assert_eq!(
        secret(json!({"secretRef": {"name": "keys"},
            "matchOIDCIdentity": [{"issuer": ".*", "subject": ".*"}]})),
        Ok(Some("keys".to_owned()))
    );
    for (v, says) in [
        (json!({"provider": "cosign"}), "without secretRef (keyless"),
        (
            json!({"provider": "cosign", "matchOIDCIdentity": [{"issuer": "x", "subject": "y"}]}),
            "Fulcio, Rekor and TUF",
        ),
        (
            json!({"provider": "notation", "secretRef": {"name": "keys"}}),
            "spec.verify.provider `notation`",
        ),
        (
            json!({"secretRef": {"name": "k"}, "trustedRootSecretRef": {"name": "root"}}),
            "spec.verify.trustedRootSecretRef",
        ),
        (
            json!({"secretRef": {"name": "k"}, "mode": "x"}),
            "spec.verify.mode",
        ),
    ] {
        let e = secret(v).unwrap_err();
        assert!(e.contains(says), "{e}");
    }
    let r = repository(json!({"url": "oci://ghcr.io/org/podinfo", "interval": "5m",
        "verify": {"provider": "cosign", "secretRef": {"name": "keys"}}}))
    .unwrap();
    assert!(r.unsupported().is_empty());
    assert_eq!(r.verify_secret().as_deref(), Some("keys"));
}
