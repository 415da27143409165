use serde_json::json;

use super::*;
use crate::helm::Hook;

/// A HelmRelease `web` in `shop` with `extra` in its spec.
#[allow(clippy::needless_pass_by_value)] // json! literals read best passed as they are
fn release(extra: Value) -> HelmRelease {
    let mut spec = json!({
        "interval": "5m",
        "chart": {"spec": {"chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    HelmRelease::parse(&json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": spec,
    }))
    .unwrap()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
";

fn hook(path: &str, events: &[&str], manifest: &str) -> Hook {
    Hook {
        name: path.to_owned(),
        kind: "Job".to_owned(),
        path: path.to_owned(),
        manifest: manifest.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        weight: 0,
        delete_policies: Vec::new(),
    }
}

/// A chart's rendering as Helm's engine answers: a CRD of `crds/` and of a subchart's `crds/`
/// first, then the templates (a subchart's among them), and a hook and a test hook apart.
fn rendered() -> Rendered {
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      containers:\n        - name: m\n          image: nginx:1.25\n";
    Rendered {
        chart: None,
        manifest: format!(
            "---\n# Source: web/crds/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.example.com\n\
             ---\n# Source: web/charts/db/crds/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: b.example.com\n\
             ---\n# Source: web/templates/deployment.yaml\n{DEPLOYMENT}\
             ---\n# Source: web/charts/crds/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\n    tier: front\n"
        ),
        hooks: vec![
            hook("web/templates/job.yaml", &["pre-install"], job),
            hook("web/templates/test.yaml", &["test"], job),
        ],
        notes: String::new(),
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in {objects:?}"))
}

#[test]
fn the_crds_of_every_crds_directory_are_told_from_the_templates() {
    let (crds, templates) = split(&rendered().manifest);
    assert_eq!(parse(&crds).unwrap().len(), 2, "{crds}");
    let templates = parse(&templates).unwrap();
    let kinds: Vec<&str> = templates
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    assert!(in_crds_dir("web/charts/db/charts/cache/crds/x.yaml"));
    assert!(!in_crds_dir("web/templates/crds/x.yaml"));
    assert!(!in_crds_dir("crds/templates/x.yaml"));
    assert!(!in_crds_dir("web/charts/crds/templates/x.yaml"));
}

#[test]
fn post_renderers_run_in_order_then_common_metadata_over_the_templates_alone() {
    let hr = release(json!({
        "postRenderers": [
            {"kustomize": {
                "patches": [
                    {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"},
                    {"target": {"kind": "Service", "labelSelector": "tier=front"},
                     "patch": "- op: add\n  path: /metadata/labels/patched\n  value: \"yes\"\n"},
                ],
                "images": [{"name": "nginx", "newTag": "1.27"}],
            }},
            {},
            {"kustomize": {"patches": [
                {"target": {}, "patch": "- op: add\n  path: /metadata/annotations\n  value: {second: \"true\"}\n"},
            ]}},
        ],
        "commonMetadata": {"labels": {"team": "shop", "app": "common"}, "annotations": {"owner": "ops"}},
    }));
    assert!(wanted(&hr));
    let objects = objects(&hr, &rendered()).unwrap();
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Service",
            "Job"
        ],
        "CRDs first, the hook last, the test hook left out"
    );
    let deployment = find(&objects, "Deployment", "web");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        deployment["metadata"]["labels"],
        json!({"app": "common", "team": "shop"})
    );
    // The second post-renderer added the annotations; commonMetadata came after it.
    assert_eq!(
        deployment["metadata"]["annotations"],
        json!({"second": "true", "owner": "ops"})
    );
    let service = find(&objects, "Service", "web");
    assert_eq!(service["metadata"]["labels"]["patched"], "yes");
    assert_eq!(service["metadata"]["labels"]["tier"], "front");
    // Neither the CRDs nor the hook are post-rendered.
    let crd = find(&objects, "CustomResourceDefinition", "a.example.com");
    assert_eq!(crd["metadata"], json!({"name": "a.example.com"}));
    let job = find(&objects, "Job", "migrate");
    assert!(job["metadata"]["labels"].is_null(), "{job}");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
}

#[test]
fn images_of_one_name_apply_in_turn_and_a_target_that_selects_nothing_changes_nothing() {
    let hr = release(json!({
        "postRenderers": [{"kustomize": {
            "patches": [{"target": {"kind": "Deployment", "name": "other"},
                         "patch": "- op: add\n  path: /spec/paused\n  value: true\n"}],
            "images": [{"name": "nginx", "newName": "registry.local/nginx"}, {"name": "nginx", "newTag": "2"}],
        }}],
    }));
    let objects = objects(&hr, &rendered()).unwrap();
    let deployment = find(&objects, "Deployment", "web");
    // helm-controller appends both entries: after the first, no image is named nginx.
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/nginx:1.25"
    );
    assert!(deployment["spec"]["paused"].is_null());
}

#[test]
fn a_patch_that_cannot_apply_fails_naming_it() {
    let smp_missing =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: absent\nspec:\n  replicas: 2\n";
    let fine = json!({"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"});
    for (patch, said) in [
        (json!({"patch": smp_missing}), "absent"),
        (
            json!({"target": {"kind": "Deployment"}, "patch": "- op: replace\n  path: /spec/nothere/x\n  value: 1\n"}),
            "/spec/nothere/x",
        ),
        (
            json!({"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: [oops\n"}),
            "invalid YAML",
        ),
        (
            json!({"target": {"kind": "Deploy(ment"}, "patch": "- op: add\n  path: /x\n  value: 1\n"}),
            "Deploy(ment",
        ),
    ] {
        let hr = release(json!({
            "postRenderers": [{}, {"kustomize": {"patches": [fine, patch]}}],
        }));
        let e = objects(&hr, &rendered()).unwrap_err();
        assert!(
            e.starts_with("spec.postRenderers[1].kustomize.patches[1]: "),
            "{e}"
        );
        assert!(e.contains(said), "{said}: {e}");
        assert!(
            !e.contains(INPUT) && !e.contains("kustomization.yaml"),
            "{e}"
        );
    }
}

#[test]
fn common_metadata_alone_sets_labels_and_annotations_over_the_charts_own() {
    let hr = release(json!({"commonMetadata": {"labels": {"app": "shop"}}}));
    assert!(wanted(&hr));
    let objects = objects(&hr, &rendered()).unwrap();
    let service = find(&objects, "Service", "web");
    assert_eq!(
        service["metadata"]["labels"],
        json!({"app": "shop", "tier": "front"})
    );
    assert!(service["metadata"]["annotations"].is_null());
    let hr = release(json!({"postRenderers": [{}]}));
    assert!(
        !wanted(&hr),
        "a post-renderer without kustomize does nothing"
    );
}
