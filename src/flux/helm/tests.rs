use serde_json::json;

use super::*;

#[allow(clippy::needless_pass_by_value)] // json! literals read best passed as they are
fn release(spec: Value) -> Result<HelmRelease, FluxError> {
    HelmRelease::parse(&json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": spec,
    }))
}

fn chart() -> Value {
    json!({"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}})
}

#[test]
fn names_the_release_as_helm_controller_does() {
    let hr = release(json!({"interval": "5m", "chart": chart()})).unwrap();
    assert_eq!(hr.release_name(), "podinfo");
    assert_eq!(hr.release_namespace(), "apps");
    let hr =
        release(json!({"interval": "5m", "chart": chart(), "targetNamespace": "web"})).unwrap();
    assert_eq!(hr.release_name(), "web-podinfo");
    assert_eq!(hr.release_namespace(), "web");
    let long = "a".repeat(60);
    let hr = release(json!({"interval": "5m", "chart": chart(), "releaseName": long})).unwrap();
    let name = hr.release_name();
    assert_eq!(name.len(), 53);
    assert!(name.starts_with(&"a".repeat(40)));
    assert_eq!(
        &name[41..],
        &hex::encode(sha2::Sha256::digest("a".repeat(60).as_bytes()))[..12]
    );
    assert_eq!(
        hr.chart_source().unwrap(),
        ChartSource::Repository {
            repository: Id {
                namespace: "apps".into(),
                name: "podinfo".into()
            },
            chart: "podinfo".into(),
            version: "*".into(),
        }
    );
}

#[test]
fn refuses_a_misspelt_field_and_names_what_is_not_honoured() {
    let e = release(json!({"interval": "5m", "chart": chart(), "valueFrom": []})).unwrap_err();
    assert_eq!(e.path, "spec.valueFrom");
    assert!(e.message.contains("valuesFrom"), "{e}");
    let e = release(json!({"interval": "5m"})).unwrap_err();
    assert!(e.message.contains("chartRef"), "{e}");
    let hr = release(json!({
        "interval": "5m", "chart": chart(),
        "postRenderers": [{"kustomize": {"patches": []}}],
        "test": {"enable": true},
    }))
    .unwrap();
    assert_eq!(hr.unsupported(), ["spec.postRenderers", "spec.test.enable"]);
    let hr = release(
        json!({"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}),
    )
    .unwrap();
    assert_eq!(
        hr.chart_source().unwrap(),
        ChartSource::Oci {
            repository: Id {
                namespace: "apps".into(),
                name: "podinfo".into()
            }
        }
    );
    let hr = release(json!({"interval": "5m",
        "chartRef": {"kind": "HelmChart", "name": "podinfo", "namespace": "charts"}}))
    .unwrap();
    assert_eq!(
        hr.chart_source().unwrap(),
        ChartSource::Declared {
            chart: Id {
                namespace: "charts".into(),
                name: "podinfo".into()
            }
        }
    );
    let hr = release(
        json!({"interval": "5m", "chartRef": {"kind": "ExternalArtifact", "name": "podinfo"}}),
    )
    .unwrap();
    assert!(
        hr.chart_source()
            .unwrap_err()
            .contains("charts from ExternalArtifact apps/podinfo are not fetched by fledge yet"),
        "{:?}",
        hr.chart_source()
    );
    let hr =
        release(json!({"interval": "5m", "chart": chart(), "install": {"crds": "Skip"}})).unwrap();
    assert!(!hr.include_crds());
}
