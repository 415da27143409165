//! A chart's `lookup` on the real API server, against the real `helm` v4.3.2 installing the
//! same chart beside it (Helm answers `lookup` from the cluster it installs into, as
//! helm-controller's installs do): the same objects read, by name and as lists, of namespaced
//! and cluster-scoped kinds, found or not, and the same values rendered from them, on install
//! and on an upgrade after the looked-up Secret changed. A kind the cluster does not serve fails
//! both, and fledge leaves the release as it was. A HelmRelease's `serviceAccountName` is the
//! account its lookups read as.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{chart_remote, helm_daemon, scene, unit};
use crate::support::helm;
use crate::support::testcluster::TestCluster;

/// The test chart's HelmRelease `name` in `ns` at `revision`.
fn release(ns: &str, name: &str, revision: u32, extra: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: {name}, namespace: {ns}}}
spec:
  interval: 1m
  releaseName: lookup
  chart:
    spec:
      chart: ./charts/lookup
      sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
{extra}  values: {{revision: {revision}}}
"
    )
}

/// What the chart looks up in `ns`: the namespace labelled, the Secret `keep` holding
/// `password`, ConfigMaps `a` and `b` labelled `lookup: yes` and `c` not.
fn furnish(c: &TestCluster, ns: &str, password: &str) {
    c.kubectl(&["label", "namespace", ns, "team=birds"]);
    secret(c, ns, password);
    for (name, label) in [("a", "yes"), ("b", "yes"), ("c", "no")] {
        c.kubectl(&["create", "configmap", name, "-n", ns]);
        c.kubectl(&[
            "label",
            "configmap",
            name,
            "-n",
            ns,
            &format!("lookup={label}"),
        ]);
    }
}

fn secret(c: &TestCluster, ns: &str, password: &str) {
    c.kubectl(&["delete", "secret", "keep", "-n", ns, "--ignore-not-found"]);
    let literal = format!("--from-literal=password={password}");
    c.kubectl(&["create", "secret", "generic", "keep", "-n", ns, &literal]);
}

/// `helm install` (or `upgrade`) of the test chart as `lookup` in `ns`; Helm's error, if any.
fn helm_cli(
    helm: &Path,
    c: &TestCluster,
    verb: &str,
    ns: &str,
    revision: u32,
    unknown: bool,
) -> Result<(), String> {
    let out = Command::new(helm)
        .args([verb, "lookup"])
        .arg(crate::repo_dir().join("tests/charts/lookup"))
        .args(["--namespace", ns, "--kubeconfig"])
        .arg(c.kubeconfig())
        .args([
            "--set",
            &format!("revision={revision},unknownKind={unknown}"),
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn looked_up(c: &TestCluster, ns: &str) -> Value {
    c.get(&["configmap", "looked-up", "-n", ns]).unwrap()["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_read_the_cluster_as_helm_reads_it() {
    let Some(helm) = helm::or_skip() else { return };
    let Some((c, ns, dir)) = scene("lookup") else {
        return;
    };
    let theirs = c.namespace("lookup-helm");
    let tenant = c.namespace("lookup-as");
    furnish(c, &ns, "s3cret");
    furnish(c, &theirs, "s3cret");
    let first = release(&ns, "lookup", 1, "");
    let acting = release(&tenant, "lookup", 1, "  serviceAccountName: nobody\n");
    let remote = chart_remote(
        "lookup",
        &[("apps/lookup.yaml", &first), ("apps/as.yaml", &acting)],
    );
    let d = helm_daemon(c, &remote, &ns, dir.path(), helm);
    let name = format!("HelmRelease/{ns}/lookup");
    let ready_at = |commit: String| {
        let name = name.clone();
        move |s: &Value| {
            unit(s, &name)
                .is_some_and(|u| u["ready"] == true && u["lastAppliedRevision"] == commit.as_str())
        }
    };

    // Install: the same lookups answered the same.
    helm_cli(&helm.cli, c, "install", &theirs, 1, false).unwrap();
    let s = d.until_sync("installed", ready_at(remote.head())).await;
    let installed = looked_up(c, &theirs);
    assert_eq!(looked_up(c, &ns), installed);
    assert_eq!(installed["password"], "s3cret", "{installed}");
    assert_eq!(installed["labelled"], "a,b");
    assert_eq!(installed["itemKinds"], "ConfigMap");
    assert_eq!(installed["listKind"], "ConfigMapList");
    assert_eq!(installed["team"], "birds");
    assert_eq!(installed["inNamespaceList"], "true");
    assert_eq!(installed["namespaceIgnored"], "true");
    assert_eq!(installed["unscoped"], "true");

    // The release acting as a ServiceAccount that may read nothing reads nothing.
    let as_unit = unit(&s, &format!("HelmRelease/{tenant}/lookup")).unwrap();
    let message = as_unit["message"].as_str().unwrap_or_default();
    assert!(
        as_unit["ready"] == false
            && message.contains(&format!("as ServiceAccount {tenant}/nobody"))
            && message.contains("forbidden"),
        "{as_unit}"
    );
    assert!(c.get(&["configmap", "looked-up", "-n", &tenant]).is_none());

    // An upgrade after the Secret changed reads the new one.
    secret(c, &ns, "n3w");
    secret(c, &theirs, "n3w");
    helm_cli(&helm.cli, c, "upgrade", &theirs, 2, false).unwrap();
    let two = remote.commit(&[("apps/lookup.yaml", &release(&ns, "lookup", 2, ""))], "2");
    d.until_sync("upgraded", ready_at(two)).await;
    let upgraded = looked_up(c, &theirs);
    assert_eq!(looked_up(c, &ns), upgraded);
    assert_eq!(upgraded["password"], "n3w");
    assert_eq!(upgraded["revision"], "2");

    // A kind the cluster does not serve: both fail; fledge keeps what it applied.
    let helms = helm_cli(&helm.cli, c, "upgrade", &theirs, 3, true).unwrap_err();
    assert!(helms.contains("Nope"), "{helms}");
    let unknown = release(&ns, "lookup", 3, "").replace(
        "values: {revision: 3}",
        "values: {revision: 3, unknownKind: true}",
    );
    let three = remote.commit(&[("apps/lookup.yaml", &unknown)], "3");
    let failed = d
        .until_sync("the lookup failed", |s| {
            unit(s, &name).is_some_and(|u| {
                u["lastAttemptedRevision"] == three.as_str()
                    && u["message"].as_str().is_some_and(|m| m.contains("Nope"))
            })
        })
        .await;
    assert_eq!(unit(&failed, &name).unwrap()["ready"], false);
    assert_eq!(looked_up(c, &ns)["revision"], "2");
}
