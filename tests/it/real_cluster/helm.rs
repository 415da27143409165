//! A HelmRelease on the real API server: podinfo's chart, read from the repository and rendered
//! by Helm's engine, is applied with its objects healthy; a Canary on its Deployment takes a
//! values change through a rollout that promotes, and one whose pods never get ready is rolled
//! back on the Canary's progress deadline, the chart's Service in place throughout.

use serde_json::Value;

use super::{chart_remote, helm_daemon, scene};
use crate::support::helm;
use crate::support::testcluster::TestCluster;

/// podinfo's HelmRelease in `ns` at `tag` (its pods never ready when `unready`) and a
/// blue/green Canary on its Deployment (kubernetes provider, one iteration, no metrics).
fn podinfo(ns: &str, tag: &str, unready: bool) -> String {
    let ready = if unready { "false" } else { "true" };
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: podinfo, namespace: {ns}}}
spec:
  interval: 1m
  chart:
    spec:
      chart: ./charts/podinfo
      sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
  values:
    image: {{tag: \"{tag}\"}}
    podAnnotations: {{sim.fledge.dev/ready: \"{ready}\"}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: podinfo, namespace: {ns}}}
spec:
  provider: kubernetes
  progressDeadlineSeconds: 15
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}
  service: {{port: 9898}}
  analysis: {{interval: 10s, threshold: 1, iterations: 1}}
"
    )
}

fn object(c: &TestCluster, kind: &str, ns: &str, name: &str) -> Value {
    serde_json::from_str(&c.kubectl(&["get", kind, name, "-n", ns, "-o", "json"])).unwrap()
}

fn image(o: &Value) -> &str {
    o["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charts_deployment_is_promoted_and_rolled_back_with_the_charts_service_in_place() {
    let Some(helm) = helm::or_skip() else { return };
    let Some((c, ns, dir)) = scene("helm") else {
        return;
    };
    let first = podinfo(&ns, "6.14.1", false);
    let remote = chart_remote("podinfo", &[("apps/podinfo.yaml", &first)]);
    let d = helm_daemon(c, &remote, &ns, dir.path(), helm);
    d.until("podinfo", "initialized", |v| v["phase"] == "Initialized")
        .await;
    let primary = object(c, "deployment", &ns, "podinfo-primary");
    assert_eq!(image(&primary), "ghcr.io/stefanprodan/podinfo:6.14.1");
    assert_eq!(primary["status"]["availableReplicas"], 1, "{primary}");
    let target = object(c, "deployment", &ns, "podinfo");
    assert_eq!(
        target["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
        "podinfo"
    );
    assert_eq!(target["spec"]["replicas"], 0, "the canary is idle");
    let selects_primary = |c: &TestCluster| {
        let service = object(c, "service", &ns, "podinfo");
        assert_eq!(
            service["spec"]["selector"]["app.kubernetes.io/name"], "podinfo-primary",
            "{service}"
        );
        assert_eq!(service["spec"]["ports"][0]["port"], 9898, "{service}");
    };
    selects_primary(c);
    let unit = format!("HelmRelease/{ns}/podinfo");
    d.until_sync("the release's unit ready", |s| {
        super::unit(s, &unit).is_some_and(|u| u["ready"] == true)
    })
    .await;
    // A values change of the pod template is a canary, promoted.
    let bump = remote.commit(
        &[("apps/podinfo.yaml", &podinfo(&ns, "6.14.2", false))],
        "6.14.2",
    );
    d.until("podinfo", "promoted", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == bump.as_str()
    })
    .await;
    let primary = object(c, "deployment", &ns, "podinfo-primary");
    assert_eq!(image(&primary), "ghcr.io/stefanprodan/podinfo:6.14.2");
    selects_primary(c);
    // Pods that never get ready: rolled back on the Canary's progress deadline.
    let bad = remote.commit(
        &[("apps/podinfo.yaml", &podinfo(&ns, "6.14.3", true))],
        "6.14.3",
    );
    d.until("podinfo", "rolled back", |v| {
        v["phase"] == "Failed" && v["sourceCommit"] == bad.as_str()
    })
    .await;
    let primary = object(c, "deployment", &ns, "podinfo-primary");
    assert_eq!(image(&primary), "ghcr.io/stefanprodan/podinfo:6.14.2");
    assert_eq!(
        object(c, "deployment", &ns, "podinfo")["spec"]["replicas"],
        0
    );
    selects_primary(c);
}
