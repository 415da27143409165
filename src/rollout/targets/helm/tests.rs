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

/// Helm's engine answering every request with one rendering.
struct Answering(Rendered);

impl Helm for Answering {
    fn fetch(
        &self,
        _: &HelmRepository,
        _: &RepositoryAuth,
        _: &str,
        _: &str,
    ) -> Result<crate::helm::Chart, String> {
        Err("not here".to_owned())
    }

    fn fetch_oci(
        &self,
        _: &crate::flux::oci::OciRepository,
        _: &crate::registry::Access,
    ) -> Result<crate::helm::Chart, String> {
        Err("not here".to_owned())
    }

    fn render(
        &self,
        _: &Request,
        _: &dyn Fn(&crate::helm::Lookup) -> Result<serde_json::Value, String>,
    ) -> Result<Rendered, String> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_release_is_post_rendered_and_its_origin_labels_win_over_common_ones() {
    let mut files = MemFiles::new();
    files.insert("charts/web/Chart.yaml", b"name: web\n".to_vec());
    let sources = crate::flux::units::ChartSources::default();
    let helm = Answering(Rendered {
        manifest: "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  labels:\n    team: chart\n".to_owned(),
        ..Rendered::default()
    });
    let inputs = Inputs {
        files: &files,
        sources: &sources,
        objects: &[],
        cluster: &super::super::NoCluster,
        helm: &helm,
    };
    let mut hr = release(&serde_json::json!([]));
    hr.spec.common_metadata = Some(crate::flux::kustomization::CommonMetadata {
        labels: [("team", "shop"), (crate::flux::helm::ORIGIN_NAME, "other")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        annotations: std::collections::BTreeMap::new(),
    });
    hr.spec.post_renderers = vec![crate::flux::helm::PostRenderer {
        kustomize: Some(crate::flux::helm::KustomizePostRenderer {
            patches: vec![crate::flux::helm::Patch {
                patch: "- op: add\n  path: /data\n  value: {patched: \"yes\"}\n".to_owned(),
                target: Some(crate::flux::helm::PatchTarget {
                    kind: "ConfigMap".to_owned(),
                    ..Default::default()
                }),
            }],
            images: Vec::new(),
        }),
    }];
    let release = render(&hr, &inputs).unwrap();
    let [cm] = release.objects.as_slice() else {
        panic!("{:?}", release.objects)
    };
    assert_eq!(cm["data"], serde_json::json!({"patched": "yes"}));
    let applied = placed(cm.clone(), &hr, hr.release_namespace());
    assert_eq!(applied["metadata"]["namespace"], "shop");
    assert_eq!(
        applied["metadata"]["labels"],
        serde_json::json!({
            "team": "shop",
            "helm.toolkit.fluxcd.io/name": "web",
            "helm.toolkit.fluxcd.io/namespace": "shop",
        })
    );
}
