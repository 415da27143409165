use super::*;
use crate::render::MemFiles;
use crate::render::source_ignore::SourceIgnored;

#[test]
fn a_charts_files_are_read_from_its_directory() {
    let mut files = MemFiles::new();
    files.insert("apps/release.yaml", b"kind: HelmRelease\n".to_vec());
    files.insert("charts/web/Chart.yaml", b"name: web\n".to_vec());
    files.insert("charts/web/.helmignore", b"*.md\n".to_vec());
    files.insert(
        "charts/web/templates/deployment.yaml",
        b"kind: Deployment\n".to_vec(),
    );
    let ignored = SourceIgnored::new(&files).unwrap();
    let mut request = Request::default();
    chart_files(&ignored, "charts/web", &mut request).unwrap();
    let names: Vec<&str> = request.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [".helmignore", "Chart.yaml", "templates/deployment.yaml"]
    );
    let mut request = Request::default();
    let e = chart_files(&ignored, "charts/none", &mut request).unwrap_err();
    assert!(e.contains("charts/none is not a chart directory"), "{e}");
}

fn release(values_from: &serde_json::Value) -> HelmRelease {
    HelmRelease::parse(&serde_json::json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "interval": "5m",
            "chart": {"spec": {"chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
            "valuesFrom": values_from,
        },
    }))
    .unwrap()
}

#[test]
fn what_may_come_is_tried_again_and_a_mistake_is_not() {
    let files = MemFiles::new();
    let declared = [serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "values", "namespace": "shop"},
        "data": {"other.yaml": "a: 1"},
    })];
    let sources = crate::flux::units::ChartSources::default();
    let inputs = Inputs {
        files: &files,
        sources: &sources,
        objects: &declared,
        cluster: &super::super::NoCluster,
        helm: &crate::helm::NoHelm,
    };
    // A ConfigMap neither the commit nor (here) the cluster has: it may be made later.
    let absent = release(&serde_json::json!([{"kind": "ConfigMap", "name": "elsewhere"}]));
    let p = render(&absent, &inputs).unwrap_err();
    assert!(
        p.retry && p.message.starts_with("spec.valuesFrom[0]: "),
        "{p:?}"
    );
    // A key the declared ConfigMap does not have: the commit must change.
    let keyless = release(&serde_json::json!([{"kind": "ConfigMap", "name": "values"}]));
    let p = render(&keyless, &inputs).unwrap_err();
    assert!(
        !p.retry && p.message.contains("has no key \"values.yaml\""),
        "{p:?}"
    );
}
