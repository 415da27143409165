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
        "commonMetadata": {"labels": {"team": "shop"}},
        "kubeConfig": {"secretRef": {"name": "remote"}},
        "test": {"enable": true},
    }))
    .unwrap();
    assert_eq!(hr.unsupported(), ["spec.kubeConfig", "spec.test.enable"]);
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

#[test]
fn post_renderers_and_common_metadata_are_read_as_v2_has_them() {
    let hr = release(json!({
        "interval": "5m", "chart": chart(),
        "postRenderers": [
            {"kustomize": {
                "patches": [{"patch": "- op: remove\n  path: /spec/replicas\n", "target": {"kind": "Deployment", "labelSelector": "app=web"}}],
                "images": [{"name": "nginx", "newTag": "1.27"}],
            }},
            {},
        ],
        "commonMetadata": {"labels": {"team": "shop"}, "annotations": {"owner": "ops"}},
    }))
    .unwrap();
    assert!(hr.unsupported().is_empty());
    let k = hr.spec.post_renderers[0].kustomize.as_ref().unwrap();
    let target = k.patches[0].target.as_ref().unwrap();
    assert_eq!(
        (target.kind.as_str(), target.label_selector.as_str()),
        ("Deployment", "app=web")
    );
    assert_eq!(k.images[0].new_tag, "1.27");
    assert!(hr.spec.post_renderers[1].kustomize.is_none());
    let common = hr.spec.common_metadata.as_ref().unwrap();
    assert_eq!(common.annotations["owner"], "ops");
    // v2beta's patch fields are gone from v2, and a patch is text.
    let e = release(json!({
        "interval": "5m", "chart": chart(),
        "postRenderers": [{"kustomize": {"patchesStrategicMerge": [{"kind": "Deployment"}]}}],
    }))
    .unwrap_err();
    assert_eq!(
        e.path,
        "spec.postRenderers[0].kustomize.patchesStrategicMerge"
    );
    let e = release(json!({
        "interval": "5m", "chart": chart(),
        "postRenderers": [{"kustomize": {"patches": [{"patch": {"kind": "Deployment"}}]}}],
    }))
    .unwrap_err();
    assert_eq!(
        e.path, "spec.postRenderers[0].kustomize.patches[0].patch",
        "{e}"
    );
}
