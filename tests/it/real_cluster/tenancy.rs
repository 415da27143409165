//! Flux's multi-tenancy on the real API server: a Kustomization with `serviceAccountName` is
//! applied as that ServiceAccount (impersonated), so a tenant writes only where its RBAC lets it;
//! what it may not write fails that Kustomization alone, naming the refusal, and applies
//! nothing of it.

use serde_json::Value;

use super::{daemon, scene};
use crate::support::git::Remote;

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

fn commit(remote: &Remote, files: &[(String, String)], message: &str) -> String {
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    remote.commit(&refs, message)
}

/// The status of the unit `name` in `/api/sync`.
fn unit<'a>(sync: &'a Value, name: &str) -> Option<&'a Value> {
    sync["units"].as_array()?.iter().find(|u| u["name"] == name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_kustomization_writes_only_where_its_service_account_may() {
    let Some((c, home, dir)) = scene("tenancy-home") else {
        return;
    };
    let tenant = c.namespace("tenant");
    let other = c.namespace("tenant-other");
    c.kubectl(&["create", "serviceaccount", "team", "-n", &tenant]);
    // What the tenant may do: ConfigMaps of its own namespace.
    c.kubectl(&[
        "create",
        "role",
        "team",
        "--verb=get,list,create,patch,delete",
        "--resource=configmaps",
        "-n",
        &tenant,
    ]);
    c.kubectl(&[
        "create",
        "rolebinding",
        "team",
        "--role=team",
        &format!("--serviceaccount={tenant}:team"),
        "-n",
        &tenant,
    ]);
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
    let sync = d
        .until_sync("the tenant refused", |s| {
            unit(s, &name).is_some_and(|u| {
                u["lastAttemptedRevision"] == first.as_str() && u["ready"] == false
            })
        })
        .await;
    let team = unit(&sync, &name).unwrap();
    assert_eq!(team["reason"], "ApplyFailed", "{team}");
    let message = team["message"].as_str().unwrap();
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
