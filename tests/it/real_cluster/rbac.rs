//! RBAC on the real API server: deploy/ is accepted as `kubectl apply -k` sends it and fledge
//! runs a release as its ServiceAccount; the ClusterRole `fledge` is enough for a release of
//! every provider, and without any one of its rules a named step fails with the verb and
//! resource it lacks.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{
    account_with, all_reach, app, daemon_as, fledge_rules, install_release_crd, routing_crds,
    service_account_kubeconfig,
};
use crate::repo_dir;
use crate::support::git::Remote;
use crate::support::testcluster::{TestCluster, or_skip};
use crate::support::within;

#[tokio::test(flavor = "multi_thread")]
async fn deploy_is_accepted_and_fledge_runs_a_release_as_its_service_account_with_exactly_its_rbac()
{
    let Some(c) = or_skip() else { return };
    // The whole of deploy/, as `kubectl apply -k deploy` sends it, accepted by the server
    // (for real: kubectl cannot dry-run objects of a Namespace it has not created yet).
    let deploy = repo_dir().join("deploy");
    c.kubectl(&["apply", "--server-side", "-k", deploy.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(c, "fledge-system", "fledge", dir.path());
    let ns = c.namespace("rbac");
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let daemon = daemon_as(&kubeconfig, &remote, "fledge-system", dir.path(), &[]);
    let init = daemon
        .until("web", "initialized as the service account", |v| {
            v["phase"] == "Initialized"
        })
        .await;
    let text = daemon.log();
    drop(daemon);
    assert!(!text.contains("forbidden"), "{text}");
    assert_eq!(init["canaryWeight"], 0);
    // The inventory and revision key live in fledge-system, written as the service account.
    c.kubectl(&[
        "get",
        "configmap",
        "fledge-inventory",
        "-n",
        "fledge-system",
    ]);
    c.kubectl(&[
        "get",
        "secret",
        "fledge-revision-key",
        "-n",
        "fledge-system",
    ]);
}

/// The API groups of the routers [`run_as`] runs no release of.
const NOT_RUN_HERE: &[&str] = &[
    "projectcontour.io",
    "kuma.io",
    "gateway.solo.io",
    "gloo.solo.io",
    "apisix.apache.org",
    // Read at analysis, which this test's releases (initialized only) never reach; the test
    // control plane serves no external metrics API either.
    "external.metrics.k8s.io",
    "appmesh.k8s.aws",
    // The releases here scale with an HPA, not a KEDA ScaledObject.
    "keda.sh",
];

/// fledge, as the account of `kubeconfig`, on a repository with one release of every supported
/// provider (each with an HPA, an Ingress, tracked configs and a MetricTemplate with a Secret),
/// until its log says `forbidden` or every release is Initialized; returns the log.
async fn run_as(c: &TestCluster, kubeconfig: &Path, base: &str, dir: &Path) -> (String, bool) {
    let providers = [
        "kubernetes",
        "nginx",
        "istio",
        "gatewayapi:v1",
        "linkerd",
        "traefik",
    ];
    let mut objects = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let ns = format!("{base}-{i}");
        c.kubectl(&["create", "namespace", &ns]);
        // No APISIX or Gloo release runs here (NOT_RUN_HERE): the route and the upstream
        // they read are left out, as syncing them needs more than this role.
        for mut o in crate::rbac::repo(p, "web:1")
            .into_iter()
            .filter(|o| o["kind"] != "ApisixRoute" && o["kind"] != "Upstream")
        {
            o["metadata"]["namespace"] = Value::from(ns.clone());
            objects.push(o);
        }
    }
    let remote = Remote::new();
    let text = fledge::render::yaml::emit_stream(&objects);
    remote.commit(&[("apps.yaml", &text)], "one release per provider");
    let daemon = daemon_as(kubeconfig, &remote, &format!("{base}-0"), dir, &[]);
    let namespaces: Vec<String> = (0..providers.len())
        .map(|i| format!("{base}-{i}"))
        .collect();
    // Not initialized: forbidden in its log, or a minute gone.
    let initialized = tokio::select! {
        _ = all_reach(&daemon, &namespaces, "Initialized") => true,
        _ = within(Duration::from_secs(60), || async { daemon.log() }, |l| l.contains("forbidden")) => false,
    };
    // Routes are applied right after the phase that allows them: one more tick.
    if initialized {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (daemon.log(), initialized)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_role_fledge_is_enough_and_every_rule_of_it_is_needed() {
    let Some(c) = or_skip() else { return };
    install_release_crd(c);
    let kube = c.kube().await;
    kube.apply(&routing_crds()).await.unwrap();
    // The rules of the routers this test does not run (it runs six providers' releases per
    // rule left out, in parallel): their calls are held to their rules on the simulated
    // cluster by `rbac::the_cluster_role_covers_exactly_the_calls_fledge_makes`.
    let rules: Vec<Value> = fledge_rules()
        .into_iter()
        .filter(|r| {
            !r["apiGroups"].as_array().is_some_and(|g| {
                g.iter()
                    .any(|g| NOT_RUN_HERE.contains(&g.as_str().unwrap_or_default()))
            })
        })
        .collect();
    let ns = c.namespace("rbac-accounts");
    let dir = tempfile::tempdir().unwrap();
    // Every rule: enough for a release of every provider, without the wildcard sync role.
    let all = dir.path().join("all");
    std::fs::create_dir_all(&all).unwrap();
    let kubeconfig = account_with(c, &kube, &ns, "fledge-all-rules", rules.clone(), &all).await;
    let (log, initialized) = run_as(c, &kubeconfig, &c.namespace("rbac-all"), &all).await;
    assert!(initialized && !log.contains("forbidden"), "{log}");
    // Without any one rule, a named step fails with the verb and resource it lacks.
    let mut runs = tokio::task::JoinSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let (rule, mut fewer) = (rule.clone(), rules.clone());
        fewer.remove(i);
        let (ns, dir) = (ns.clone(), dir.path().join(format!("r{i}")));
        runs.spawn(async move {
            std::fs::create_dir_all(&dir).unwrap();
            let kube = c.kube().await;
            let name = format!("fledge-without-{i}");
            let kubeconfig = account_with(c, &kube, &ns, &name, fewer, &dir).await;
            let (log, initialized) =
                run_as(c, &kubeconfig, &c.namespace(&format!("rbac-{i}")), &dir).await;
            (rule, log, initialized)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (rule, log, initialized) = done.unwrap();
        let words = |field: &str| -> Vec<String> {
            rule[field]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let (verbs, resources) = (words("verbs"), words("resources"));
        // Kubernetes says: `... cannot patch resource "services" in API group ""`.
        let named = log.lines().any(|l| {
            l.contains("forbidden")
                && verbs
                    .iter()
                    .any(|v| l.contains(&format!("cannot {v} resource")))
                && resources.iter().any(|r| {
                    l.contains(&format!("resource \\\"{r}\\\""))
                        || l.contains(&format!("resource \"{r}\""))
                })
        });
        assert!(
            !initialized || named,
            "rule {rule} seems unneeded: every release initialized without it"
        );
        assert!(
            named,
            "without {rule}, no error names its verb and resource:\n{log}"
        );
        eprintln!("needed: {rule}");
    }
}
