//! Flux's multi-tenancy on the real API server: a Kustomization with `serviceAccountName` is
//! applied as that ServiceAccount (impersonated), so a tenant writes only where its RBAC lets it;
//! what it may not write fails that Kustomization alone, naming the refusal, and applies
//! nothing of it.

use super::{commit_files as commit, daemon, scene, unit};
use crate::support::git::Remote;
use crate::support::testcluster::TestCluster;

/// The repository: a Kustomization of the tenant's namespace applying `team/` as the tenant's
/// ServiceAccount, `team/` holding a ConfigMap of its own namespace and one of another.
fn repository(tenant: &str, other: &str) -> Vec<(String, String)> {
    let kustomization = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: team, namespace: {tenant}}}\nspec:\n  interval: 10m\n  path: ./team\n  prune: true\n  serviceAccountName: team\n  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}\n"
    );
    vec![
        ("clusters/test/team.yaml".to_owned(), kustomization),
        (
            "team/mine.yaml".to_owned(),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mine, namespace: {tenant}}}\ndata: {{k: v}}\n"
            ),
        ),
        (
            "team/escape.yaml".to_owned(),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: escape, namespace: {other}}}\ndata: {{k: v}}\n"
            ),
        ),
    ]
}

/// The ServiceAccount `team` of `tenant`, allowed to read and write `resources` (group,
/// plural) there and nothing else. (The Role is applied as YAML: it may name a kind whose CRD
/// is not installed, which `kubectl create role` refuses.)
fn team_account(c: &TestCluster, tenant: &str, resources: &[(&str, &str)], dir: &std::path::Path) {
    c.kubectl(&["create", "serviceaccount", "team", "-n", tenant]);
    let rules: Vec<String> = resources
        .iter()
        .map(|(g, r)| {
            format!("  - apiGroups: [\"{g}\"]\n    resources: [{r}]\n    verbs: [get, list, create, patch, delete]\n")
        })
        .collect();
    let rules = rules.concat();
    let role = dir.join("role.yaml");
    std::fs::write(
        &role,
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: team, namespace: {tenant}}}\nrules:\n{rules}"),
    )
    .unwrap();
    c.kubectl(&["apply", "-f", role.to_str().unwrap()]);
    c.kubectl(&[
        "create",
        "rolebinding",
        "team",
        "--role=team",
        &format!("--serviceaccount={tenant}:team"),
        "-n",
        tenant,
    ]);
}

/// Waits until the unit `name` tried `commit` and was refused (`ApplyFailed`); its message.
async fn refused(d: &crate::support::daemon::Daemon, name: &str, commit: &str) -> String {
    let sync = d
        .until_sync("the tenant refused", |s| {
            unit(s, name)
                .is_some_and(|u| u["lastAttemptedRevision"] == commit && u["ready"] == false)
        })
        .await;
    let team = unit(&sync, name).unwrap();
    assert_eq!(team["reason"], "ApplyFailed", "{team}");
    team["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_kustomization_writes_only_where_its_service_account_may() {
    let Some((c, home, dir)) = scene("tenancy-home") else {
        return;
    };
    let tenant = c.namespace("tenant");
    let other = c.namespace("tenant-other");
    // What the tenant may do: ConfigMaps of its own namespace.
    team_account(c, &tenant, &[("", "configmaps")], dir.path());
    let remote = Remote::new();
    let first = commit(&remote, &repository(&tenant, &other), "team, escaping");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    let name = format!("{tenant}/team");
    let message = refused(&d, &name, &first).await;
    let message = message.as_str();
    assert!(
        message.contains("forbidden")
            && message.contains(&format!("system:serviceaccount:{tenant}:team")),
        "{message}"
    );
    assert!(
        c.get(&["configmap", "escape", "-n", &other]).is_none(),
        "not written outside its rights"
    );
    assert!(
        c.get(&["configmap", "mine", "-n", &tenant]).is_none(),
        "all or nothing"
    );
    // Within its rights, it applies.
    crate::safety::remove(&remote, &["team/escape.yaml"], "team at home");
    d.until_sync("the tenant synced", |s| {
        unit(s, &name).is_some_and(|u| u["ready"] == true)
    })
    .await;
    assert!(c.get(&["configmap", "mine", "-n", &tenant]).is_some());
    assert!(c.get(&["configmap", "escape", "-n", &other]).is_none());
}

/// A Canary of `ns` for the Deployment `web` (which need not exist for the check).
fn canary(ns: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  service: {{port: 80}}\n  analysis: {{interval: 10s, threshold: 2, maxWeight: 50, stepWeight: 25}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_declares_canaries_only_where_its_service_account_may_apply_them() {
    let Some((c, home, dir)) = scene("tenancy-canary-home") else {
        return;
    };
    let tenant = c.namespace("tenant-canary");
    let other = c.namespace("tenant-canary-other");
    // The tenant may write ConfigMaps and Canaries of its own namespace, nothing elsewhere.
    team_account(
        c,
        &tenant,
        &[("", "configmaps"), ("flagger.app", "canaries")],
        dir.path(),
    );
    let mut files = repository(&tenant, &tenant);
    files.retain(|(p, _)| p != "team/escape.yaml");
    files.push(("team/canary.yaml".to_owned(), canary(&other)));
    let remote = Remote::new();
    let first = commit(&remote, &files, "a Canary in another namespace");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    let name = format!("{tenant}/team");
    let message = refused(&d, &name, &first).await;
    let message = message.as_str();
    assert!(
        message.contains(&format!(
            "ServiceAccount {tenant}/team may not create canaries.flagger.app in namespace {other}"
        )),
        "{message}"
    );
    assert!(
        c.get(&["configmap", "mine", "-n", &tenant]).is_none(),
        "nothing of the unit applied"
    );
    let releases = d.releases().await;
    assert!(
        !releases.to_string().contains(&other),
        "no release where the tenant may not write: {releases}"
    );
    // In its own namespace, where it may apply Canaries, the unit syncs.
    files.retain(|(p, _)| p != "team/canary.yaml");
    files.push(("team/canary.yaml".to_owned(), canary(&tenant)));
    commit(&remote, &files, "the Canary at home");
    d.until_sync("the tenant synced", |s| {
        unit(s, &name).is_some_and(|u| u["ready"] == true)
    })
    .await;
    assert!(c.get(&["configmap", "mine", "-n", &tenant]).is_some());
}
