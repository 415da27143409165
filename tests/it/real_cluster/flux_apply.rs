//! Flux's apply options on the real API server: `force` (a Job whose pod template changed, a
//! field the server never lets an update change, is refused without it, and deleted and
//! created anew with it) and `ignore` (a field scaled by hand keeps its value).

use serde_json::Value;

use super::{commit_files as commit, daemon, scene, unit};
use crate::support::git::Remote;

/// The repository: a Kustomization of `ns` applying `jobs/` (with `extra` in its spec), and the
/// Job `migrate` there, running `step`.
fn repository(ns: &str, extra: &str, step: &str) -> Vec<(String, String)> {
    let kustomization = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: jobs, namespace: {ns}}}\nspec:\n  interval: 10m\n  path: ./jobs\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}\n{extra}"
    );
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: migrate, namespace: {ns}}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: migrate, image: busybox, command: [echo, {step}]}}]\n"
    );
    vec![
        ("clusters/test/jobs.yaml".to_owned(), kustomization),
        ("jobs/job.yaml".to_owned(), job),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn force_creates_a_job_anew_when_its_template_changed() {
    let Some((c, home, dir)) = scene("force-home") else {
        return;
    };
    let ns = c.namespace("force");
    let remote = Remote::new();
    commit(&remote, &repository(&ns, "", "one"), "migrate one");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    let name = format!("{ns}/jobs");
    d.until_sync("jobs synced", |s| {
        unit(s, &name).is_some_and(|u| u["ready"] == true)
    })
    .await;
    let job = || c.get(&["job", "migrate", "-n", &ns]).unwrap();
    let first = job()["metadata"]["uid"].clone();
    // Without force, the server refuses the new template; the Job stays as it was.
    let refused = commit(&remote, &repository(&ns, "", "two"), "migrate two");
    let sync = d
        .until_sync("jobs refused", |s| {
            unit(s, &name).is_some_and(|u| {
                u["lastAttemptedRevision"] == refused.as_str() && u["ready"] == false
            })
        })
        .await;
    let message = unit(&sync, &name).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("field is immutable"), "{message}");
    assert_eq!(job()["metadata"]["uid"], first);
    // With force, it is deleted and created anew, running the new step.
    let forced = commit(&remote, &repository(&ns, "  force: true\n", "two"), "force");
    d.until_sync("jobs forced", |s| {
        unit(s, &name)
            .is_some_and(|u| u["lastAppliedRevision"] == forced.as_str() && u["ready"] == true)
    })
    .await;
    let now = job();
    assert_ne!(now["metadata"]["uid"], first);
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["command"][1],
        "two"
    );
}

/// A Kustomization of `ns` applying `web/` with `extra` in its spec, and there a Deployment
/// `web` of one replica labelled `version`.
fn web_repository(ns: &str, extra: &str, version: &str) -> Vec<(String, String)> {
    let kustomization = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  interval: 10m\n  path: ./web\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}\n{extra}"
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}, labels: {{version: {version}}}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: web, image: nginx}}]\n"
    );
    vec![
        ("clusters/test/web.yaml".to_owned(), kustomization),
        ("web/deployment.yaml".to_owned(), deployment),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_keeps_a_field_scaled_by_hand_and_without_it_git_wins() {
    let Some((c, home, dir)) = scene("ignore-home") else {
        return;
    };
    let ns = c.namespace("ignore");
    let ignore = "  ignore:\n    - paths: [/spec/replicas]\n      target: {kind: Deployment}\n";
    let remote = Remote::new();
    commit(&remote, &web_repository(&ns, ignore, "v1"), "web v1");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    let name = format!("{ns}/web");
    let synced = |revision: String| {
        let name = name.clone();
        move |s: &Value| {
            unit(s, &name).is_some_and(|u| {
                u["lastAppliedRevision"] == revision.as_str() && u["ready"] == true
            })
        }
    };
    let deployment = || c.get(&["deployment", "web", "-n", &ns]).unwrap();
    d.until_sync("web synced", synced(remote.head())).await;
    assert_eq!(deployment()["spec"]["replicas"], 1);
    c.kubectl(&["scale", "deployment", "web", "--replicas=3", "-n", &ns]);
    // A new commit is applied; the replicas set by hand stay.
    let second = commit(&remote, &web_repository(&ns, ignore, "v2"), "web v2");
    d.until_sync("web v2 synced", synced(second)).await;
    let now = deployment();
    assert_eq!(now["metadata"]["labels"]["version"], "v2");
    assert_eq!(now["spec"]["replicas"], 3, "kept as scaled");
    // Without the rule, Git's value comes back.
    let third = commit(&remote, &web_repository(&ns, "", "v3"), "web v3, no ignore");
    d.until_sync("web v3 synced", synced(third)).await;
    assert_eq!(deployment()["spec"]["replicas"], 1);
}

/// The repository: a Kustomization of `ns` applying `hand/` (its `tuned` data ignored on
/// `plain`), two ConfigMaps there, `merged` asking `ssa: Merge`; `version` in both.
fn hand_repository(ns: &str, version: &str) -> Vec<(String, String)> {
    let kustomization = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: hand, namespace: {ns}}}\nspec:\n  interval: 10m\n  path: ./hand\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}\n  ignore:\n    - paths: [/data/tuned]\n      target: {{kind: ConfigMap, name: plain}}\n"
    );
    let config_map = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}{annotations}}}\ndata: {{version: \"{version}\", tuned: \"1\"}}\n"
        )
    };
    let merge = ", annotations: {kustomize.toolkit.fluxcd.io/ssa: Merge}";
    vec![
        ("clusters/test/hand.yaml".to_owned(), kustomization),
        ("hand/plain.yaml".to_owned(), config_map("plain", "")),
        ("hand/merged.yaml".to_owned(), config_map("merged", merge)),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn what_kubectl_set_by_hand_is_taken_over_and_dropped_unless_the_object_asks_merge() {
    let Some((c, home, dir)) = scene("hand-home") else {
        return;
    };
    let ns = c.namespace("hand");
    let remote = Remote::new();
    commit(&remote, &hand_repository(&ns, "1"), "version 1");
    let args = ["--path", "clusters/test", "--write-back", "false"];
    let d = daemon(c, &remote, &home, dir.path(), &args);
    let name = format!("{ns}/hand");
    let synced = |revision: String| {
        let name = name.clone();
        move |s: &Value| {
            unit(s, &name).is_some_and(|u| {
                u["lastAppliedRevision"] == revision.as_str() && u["ready"] == true
            })
        }
    };
    d.until_sync("hand synced", synced(remote.head())).await;
    // By hand, on both: a label, data (one key ignored on `plain`), kubectl's annotation.
    for cm in ["plain", "merged"] {
        c.kubectl(&["label", "configmap", cm, "drift=1", "-n", &ns]);
        let data = r#"{"data":{"extra":"x","tuned":"2"}}"#;
        c.kubectl(&[
            "patch",
            "configmap",
            cm,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            data,
        ]);
        let last = "kubectl.kubernetes.io/last-applied-configuration={}";
        c.kubectl(&["annotate", "configmap", cm, last, "-n", &ns]);
    }
    let second = commit(&remote, &hand_repository(&ns, "2"), "version 2");
    d.until_sync("hand 2 synced", synced(second)).await;
    let get = |cm: &str| {
        c.get(&["configmap", cm, "-n", &ns, "--show-managed-fields"])
            .unwrap()
    };
    let plain = get("plain");
    assert_eq!(
        plain["data"],
        serde_json::json!({"version": "2", "tuned": "2"}),
        "Git's data, and the ignored key as set by hand"
    );
    assert_eq!(plain["metadata"]["labels"], Value::Null, "{plain}");
    assert_eq!(plain["metadata"]["annotations"], Value::Null, "{plain}");
    let managers: Vec<&str> = plain["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["fledge"], "{plain}");
    let merged = get("merged");
    assert_eq!(merged["data"]["extra"], "x", "{merged}");
    assert_eq!(merged["data"]["version"], "2", "{merged}");
    assert_eq!(merged["metadata"]["labels"]["drift"], "1", "{merged}");
    // Taken over once: the syncs that follow change nothing.
    let version = plain["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(get("plain")["metadata"]["resourceVersion"], version);
}

/// Taking over what was set by hand while another writer changes the object all the time (as
/// the Deployment controller writes a Deployment's status through a rollout): a take-over that
/// lost the race to a newer write is tried again, so the apply succeeds at once (where it once
/// failed and waited a whole interval), and nothing the other writer set is overwritten.
#[tokio::test(flavor = "multi_thread")]
async fn what_was_set_by_hand_is_taken_over_while_another_writer_changes_the_object() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};

    let Some((c, _home, _dir)) = scene("busy-home") else {
        return;
    };
    let ns = c.namespace("busy");
    let fledge = c.kube().await;
    let desired = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "busy", "namespace": ns}, "data": {"version": "1"}});
    fledge
        .apply_from_git(std::slice::from_ref(&desired))
        .await
        .unwrap();

    // The other writer: its own annotation, changed as fast as the server takes it.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config).unwrap(), &ns);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let (api, stop) = (api.clone(), stop.clone());
        async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let mine = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "busy", "annotations": {"writes": n.to_string()}}});
                let params = PatchParams::apply("busy-writer").force();
                api.patch("busy", &params, &Patch::Apply(&mine))
                    .await
                    .unwrap();
            }
            n
        }
    });

    for round in 0..10 {
        let by_hand = format!(r#"{{"data":{{"extra":"{round}"}}}}"#);
        c.kubectl(&[
            "patch",
            "configmap",
            "busy",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            &by_hand,
        ]);
        fledge
            .apply_from_git(std::slice::from_ref(&desired))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let stored = api.get("busy").await.unwrap();
        let data = stored.data.unwrap_or_default();
        assert_eq!(data.get("extra"), None, "round {round}: {data:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    let stored = api.get("busy").await.unwrap();
    let annotations = stored.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("writes"), Some(&writes.to_string()));
}
