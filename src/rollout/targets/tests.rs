use super::*;
use crate::render::MemFiles;

#[test]
fn canary_references_go_to_the_rollout_and_the_rest_to_sync() {
    let mut files = MemFiles::default();
    files.insert(
        "app/all.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1, envFrom: [{configMapRef: {name: cfg}}]}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: ghost, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n",
    );
    let d = desired(
        &files,
        "app",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
    )
    .unwrap();
    let plain: Vec<String> = d
        .plain
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(plain, ["ConfigMap/cfg", "Service/other"]);
    let web = &d.releases["prod/web"];
    assert_eq!(web.configs.len(), 1);
    assert_eq!(web.commit.as_deref(), Some("c1"));
    assert_eq!(d.problems.len(), 1);
    assert!(
        d.problems[0]
            .message
            .contains("Deployment prod/ghost is not in the repository"),
        "{:?}",
        d.problems
    );
}
