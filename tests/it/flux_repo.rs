//! A Flux repository as it is, synced by `fledge run --path clusters/<name>`: the root
//! Kustomization (`flux-system`) is the root path, the Kustomizations it declares are built from
//! the same commit and applied with it, Flux's own objects are never applied, Flux's controllers
//! are skipped, and what fledge does not follow yet is said — or refused, naming the field,
//! when it would apply something else than Flux.

use super::safety::daemon;
use super::support::git::Remote;

fn kustomization(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n{extra}"
    )
}

fn config_map(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{k: \"${{k:=v}}\"}}\n"
    )
}

/// The layout `flux bootstrap` writes (`clusters/prod` a plain folder), with an infrastructure
/// and an apps Kustomization; `apps_extra` goes into the apps Kustomization's spec.
fn bootstrap(apps_extra: &str) -> Vec<(String, String)> {
    let gotk_components = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: flux-system}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kustomize-controller\n  namespace: flux-system\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: flux-system}\nspec:\n  selector: {matchLabels: {app: kustomize-controller}}\n  template:\n    metadata: {labels: {app: kustomize-controller}}\n    spec:\n      containers: [{name: manager, image: ghcr.io/fluxcd/kustomize-controller:v1.9.6}]\n";
    let gotk_sync = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: flux-system, namespace: flux-system}\nspec:\n  interval: 1m0s\n  ref: {branch: main}\n  secretRef: {name: flux-system}\n  url: ssh://git@example.com/org/fleet\n"
        .to_owned()
        + &kustomization("flux-system", "./clusters/prod", "");
    let infrastructure = kustomization("infrastructure", "./infrastructure", "");
    let apps = kustomization(
        "apps",
        "./apps/prod",
        &format!("  dependsOn: [{{name: infrastructure}}]\n{apps_extra}"),
    );
    [
        ("clusters/prod/flux-system/gotk-components.yaml", gotk_components.to_owned()),
        ("clusters/prod/flux-system/gotk-sync.yaml", gotk_sync),
        (
            "clusters/prod/flux-system/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [gotk-components.yaml, gotk-sync.yaml]\n".to_owned(),
        ),
        ("clusters/prod/infrastructure.yaml", infrastructure),
        ("clusters/prod/apps.yaml", apps),
        (
            "infrastructure/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
        ),
        ("apps/prod/settings.yaml", config_map("settings", "shop")),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml]\n".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_owned(), c))
    .collect()
}

fn commit(remote: &Remote, files: &[(String, String)], message: &str) -> String {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    remote.commit(&files, message)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_layout_syncs_every_kustomization_and_never_applies_flux_itself() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(&remote, &bootstrap(""), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    assert!(
        d.get("", "Namespace", "", "shop").is_some(),
        "infrastructure"
    );
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "apps, after infrastructure"
    );
    // Flux's objects configure fledge; its controllers are replaced, not installed.
    assert!(d.get("", "Namespace", "", "flux-system").is_none());
    assert!(
        d.get("apps", "Deployment", "flux-system", "kustomize-controller")
            .is_none()
    );
    assert!(
        d.get(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "flux-system",
            "apps"
        )
        .is_none()
    );
    let notices = d.shared.sync().notices.clone();
    assert!(
        notices.iter().any(|n| n.contains("part-of: flux")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("flux-system/apps: dependsOn not followed yet")),
        "{notices:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomizations_target_namespace_prefix_and_substitutions_are_applied_as_flux_builds_them()
 {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let extra = "  targetNamespace: shop\n  namePrefix: prod-\n  postBuild:\n    substitute: {k: from-flux}\n";
    let mut files = bootstrap(extra);
    for (path, content) in &mut files {
        if path == "apps/prod/settings.yaml" {
            *content = config_map("settings", "elsewhere");
        }
    }
    commit(&remote, &files, "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    let settings = d
        .get("", "ConfigMap", "shop", "prod-settings")
        .expect("in the target namespace, with the prefix");
    assert_eq!(settings["data"]["k"], "from-flux");
    assert!(d.get("", "ConfigMap", "elsewhere", "settings").is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_field_fledge_does_not_apply_yet_fails_the_sync_naming_it_and_prunes_nothing()
 {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(&remote, &bootstrap(""), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    let bad = commit(
        &remote,
        &bootstrap("  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: cluster-vars}]\n"),
        "apps with cluster variables",
    );
    d.until("the sync refused", |d| {
        let s = d.shared.sync();
        s.commit.as_deref() == Some(bad.as_str()) && !s.ready
    })
    .await;
    let status = d.shared.sync().clone();
    assert_eq!(status.reason.as_str(), "RenderFailed", "{status:?}");
    assert!(
        status.message.contains("flux-system/apps")
            && status.message.contains("spec.postBuild.substituteFrom"),
        "{}",
        status.message
    );
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "the last good commit stays"
    );
    d.stop().await;
}
