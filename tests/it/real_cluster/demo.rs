//! `fledge demo --cluster kube` on the real API server: its four scenes play in a Namespace of
//! their own and leave the cluster as they say, and a second demo there is refused before it
//! touches anything.

use crate::support::testcluster::or_skip;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_plays_its_scenes_on_a_real_cluster_in_a_namespace_of_its_own() {
    let Some(c) = or_skip() else { return };
    let kubeconfig = c.kubeconfig();
    let on_kube = move |a: &mut fledge::daemon::config::RunArgs| {
        a.cluster = Some("kube".into());
        a.kubeconfig = Some(kubeconfig.clone());
    };
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let report = fledge::cli::demo::play(&dir.path().join("one"), &mut out, &on_kube)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    let text = String::from_utf8_lossy(&out).into_owned();
    crate::demo::assert_four_scenes(&report, &text);
    assert!(report.scenes.iter().all(|v| v.namespace == "fledge-demo"));
    assert!(
        text.contains("kubectl delete namespace fledge-demo"),
        "{text}"
    );
    // What the real cluster holds: podinfo's primary serves 6.5.0 again, its canary is scaled
    // to zero, and the nginx canary Ingress sends it nothing.
    let get = |what: &str, path: &str| {
        c.kubectl(&[
            "-n",
            "fledge-demo",
            "get",
            what,
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(
        get(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.5.0"
    );
    assert_eq!(get("deployment/podinfo", "{.spec.replicas}"), "0");
    assert_eq!(
        get(
            "ingress/podinfo-canary",
            "{.metadata.annotations.nginx\\.ingress\\.kubernetes\\.io/canary-weight}"
        ),
        "0"
    );
    assert_eq!(get("release/podinfo", "{.status.phase}"), "Succeeded");

    // A second demo on the same cluster is refused before it touches anything.
    let mut again = Vec::new();
    let refused = fledge::cli::demo::play(&dir.path().join("two"), &mut again, &on_kube)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("Namespace fledge-demo exists")
            && refused.contains("kubectl delete namespace fledge-demo"),
        "{refused}"
    );
}
