//! Request shapes `KubeCluster` sends, checked by an in-process fake of the API server.

use std::collections::{BTreeMap, BTreeSet};

use fledge::cluster::inventory;
use fledge::cluster::kube::{Error, KubeCluster};
use fledge::object::ObjectRef;
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: Value,
}

/// A fake API server: records every request and answers with `reply`.
fn fake(reply: fn(&Seen) -> (u16, Value)) -> (KubeCluster, JoinHandle<Vec<Seen>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let query = parts
                .uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_owned(), v.replace("%3D", "="))
                })
                .collect();
            let s = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query,
                content_type: parts
                    .headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, body) = reply(&s);
            seen.push(s);
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(body.to_string().into_bytes()))
                    .unwrap(),
            );
        }
        seen
    });
    (
        KubeCluster::new(kube::Client::new(service, "default")),
        task,
    )
}

fn ok(s: &Seen) -> (u16, Value) {
    if s.method == "GET" && s.path == "/apis/gateway.networking.k8s.io/v1" {
        return (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "gateway.networking.k8s.io/v1",
            "resources": [{"name": "httproutes", "singularName": "httproute", "namespaced": true, "kind": "HTTPRoute",
                           "verbs": ["get", "list", "patch", "delete"]}]}),
        );
    }
    if s.method == "GET" && s.path == "/apis/example.com/v1" {
        return (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1",
            "resources": [{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["get", "patch"]}]}),
        );
    }
    if s.method == "DELETE" {
        return (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        );
    }
    if s.method == "GET" && s.path.ends_with("/configmaps") {
        return (
            200,
            json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}}]}),
        );
    }
    if s.method == "GET" && s.path.contains("/customresourcedefinitions/") {
        return (
            200,
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "spec": {},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}}),
        );
    }
    if s.method == "GET" && s.path.ends_with("/configmaps/fledge-inventory") {
        let ids = [
            "v1|ConfigMap|prod|gone",
            "v1|ConfigMap|prod|keep",
            "v1|ConfigMap|prod|still",
        ];
        return (
            200,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fledge-inventory", "namespace": "fledge-system"},
                   "data": {"objects": serde_json::to_string(&ids).unwrap()}}),
        );
    }
    if s.method == "GET" {
        let name = s.path.rsplit('/').next().unwrap();
        let annotations = if name == "keep" {
            json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"})
        } else {
            json!({})
        };
        return (
            200,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod", "annotations": annotations}}),
        );
    }
    (200, s.body.clone())
}

fn objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web", "namespace": "prod"}, "spec": {}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}, "spec": {}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "prod"}, "spec": {}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
               "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced"}}),
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "prod"}}),
    ]
}

#[tokio::test]
async fn apply_is_a_forced_server_side_apply_after_a_dry_run_of_the_batch() {
    let (cluster, task) = fake(ok);
    cluster.apply(&objects()).await.unwrap();
    drop(cluster);
    let seen = task.await.unwrap();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    let paths: Vec<(&str, bool)> = patches
        .iter()
        .map(|s| {
            (
                s.path.as_str(),
                s.query.get("dryRun").is_some_and(|v| v == "All"),
            )
        })
        .collect();
    let crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com";
    let route = "/apis/gateway.networking.k8s.io/v1/namespaces/prod/httproutes/web";
    let deploy = "/apis/apps/v1/namespaces/prod/deployments/web";
    let widget = "/apis/example.com/v1/namespaces/prod/widgets/w";
    let ingress = "/apis/networking.k8s.io/v1/namespaces/prod/ingresses/web";
    // Two stages: Namespaces then CRDs, then the rest in the order given; in each, every dry
    // run before any apply. The Widget's CRD exists by the second stage, so it is dry-run too.
    assert_eq!(
        paths,
        [
            ("/api/v1/namespaces/prod", true),
            (crd, true),
            ("/api/v1/namespaces/prod", false),
            (crd, false),
            (route, true),
            (deploy, true),
            (ingress, true),
            (widget, true),
            (route, false),
            (deploy, false),
            (ingress, false),
            (widget, false),
        ]
    );
    for p in &patches {
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("fledge")
        );
        assert_eq!(p.query.get("force").map(String::as_str), Some("true"));
    }
    // The CRD was read back until Established before the second stage; only the custom
    // resources needed discovery, once each.
    let gets: Vec<&str> = seen
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(
        gets,
        [
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            "/apis/gateway.networking.k8s.io/v1",
            "/apis/example.com/v1",
        ]
    );
    let crd_read = seen
        .iter()
        .position(|s| s.method == "GET" && s.path.contains("customresourcedefinitions"))
        .unwrap();
    let route_applied = seen
        .iter()
        .rposition(|s| s.method == "PATCH" && s.path.contains("httproutes"))
        .unwrap();
    assert!(crd_read < route_applied);
}

#[tokio::test]
async fn a_dry_run_failure_applies_nothing_and_names_every_refusal() {
    fn refuse_deployments(s: &Seen) -> (u16, Value) {
        if s.method == "PATCH" && s.path.contains("/deployments/") {
            return (
                422,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Deployment.apps \"web\" is invalid: spec.selector: Required value", "reason": "Invalid", "code": 422}),
            );
        }
        ok(s)
    }
    let (cluster, task) = fake(refuse_deployments);
    let err = cluster.apply(&objects()).await.unwrap_err();
    assert!(matches!(&err, Error::DryRun(r) if r.len() == 1), "{err}");
    assert!(
        err.to_string().contains("Deployment.apps prod/web")
            && err.to_string().contains("spec.selector"),
        "{err}"
    );
    drop(cluster);
    let seen = task.await.unwrap();
    // The definitions' stage was applied; of the refused stage, nothing was.
    let definitions = ["/namespaces/prod", "/customresourcedefinitions/"];
    assert!(
        seen.iter()
            .filter(|s| s.method == "PATCH")
            .filter(|s| !definitions
                .iter()
                .any(|d| s.path.ends_with(d) || s.path.contains(d)))
            .all(|s| s.query.contains_key("dryRun")),
        "a real apply of the refused stage was sent"
    );
}

#[tokio::test]
async fn lists_with_label_selectors_deletes_with_propagation_and_prunes_by_inventory() {
    let (cluster, task) = fake(ok);
    let listed = cluster
        .list_labelled("v1", "ConfigMap", "prod", Some("app=web"))
        .await
        .unwrap();
    assert_eq!(listed[0]["metadata"]["name"], "a");
    // The one prune implementation, through the real cluster's requests: the inventory in
    // the cluster lists gone, keep (opted out) and still; the repository now holds `still`.
    let cm = |n: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "prod"}});
    let mut current = objects();
    current.push(cm("still"));
    let synced = inventory::sync(
        &cluster,
        "fledge-system",
        &current,
        &BTreeSet::new(),
        inventory::PruneGuard {
            max_share: 1.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(synced.pruned, ["ConfigMap prod/gone"]);
    drop(cluster);
    let seen = task.await.unwrap();
    let saved = seen
        .iter()
        .rfind(|s| {
            s.method == "PATCH"
                && s.path == "/api/v1/namespaces/fledge-system/configmaps/fledge-inventory"
        })
        .unwrap();
    let ids: Vec<Value> =
        serde_json::from_str(saved.body["data"]["objects"].as_str().unwrap()).unwrap();
    assert_eq!(ids.len(), current.len());
    assert!(
        ids.iter()
            .all(|i| i.as_str().is_some_and(|id| id.split('|').count() == 4)),
        "ids only: {ids:?}"
    );
    let list = seen
        .iter()
        .find(|s| s.path == "/api/v1/namespaces/prod/configmaps")
        .unwrap();
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("app=web")
    );
    let deletes: Vec<&Seen> = seen.iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(
        deletes.len(),
        1,
        "only the object without the opt-out annotation"
    );
    assert_eq!(deletes[0].path, "/api/v1/namespaces/prod/configmaps/gone");
    assert_eq!(deletes[0].body["propagationPolicy"], "Background");
}

fn missing(s: &Seen) -> (u16, Value) {
    if s.method == "GET" {
        return (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404}),
        );
    }
    (200, s.body.clone())
}

fn existing(s: &Seen) -> (u16, Value) {
    if s.method == "GET" {
        return (
            200,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fledge-revision-key", "namespace": "fledge-system"},
                            "data": {"key": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}}),
        );
    }
    (500, json!({}))
}

#[tokio::test]
async fn the_revision_key_lives_in_a_cluster_secret() {
    use base64::Engine as _;
    let (cluster, task) = fake(missing);
    cluster
        .revision_key("fledge-system", "fledge-revision-key")
        .await
        .unwrap();
    drop(cluster);
    let seen = task.await.unwrap();
    let created = seen
        .iter()
        .find(|s| s.method == "PATCH")
        .expect("the key Secret is created");
    assert_eq!(
        created.path,
        "/api/v1/namespaces/fledge-system/secrets/fledge-revision-key"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(created.body["data"]["key"].as_str().unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);

    // An existing key is read, not replaced: the same revisions after a restart.
    let (cluster, task) = fake(existing);
    let read = cluster
        .revision_key("fledge-system", "fledge-revision-key")
        .await
        .unwrap();
    drop(cluster);
    assert!(
        task.await.unwrap().iter().all(|s| s.method == "GET"),
        "nothing written"
    );
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [
        {"name": "w", "image": "w", "envFrom": [{"secretRef": {"name": "s"}}]}]}}}});
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"p": "eA=="}});
    let objects = [secret];
    let a = fledge::revision::revision(&deploy, &objects, None, &read).unwrap();
    let b = fledge::revision::revision(
        &deploy,
        &objects,
        None,
        &fledge::revision::HashKey::new(vec![b'A'; 32]),
    )
    .unwrap();
    assert_eq!(a.id, b.id);
}

#[tokio::test]
async fn release_status_goes_through_the_status_subresource() {
    fn reply(s: &Seen) -> (u16, Value) {
        if s.method == "GET" && s.path == "/apis/fledge.dev/v1alpha1" {
            return (
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "fledge.dev/v1alpha1",
                "resources": [{"name": "releases", "singularName": "release", "namespaced": true, "kind": "Release", "verbs": ["get", "patch"]},
                              {"name": "releases/status", "singularName": "", "namespaced": true, "kind": "Release", "verbs": ["get", "patch"]}]}),
            );
        }
        (200, s.body.clone())
    }
    let (cluster, task) = fake(reply);
    let release = json!({"apiVersion": "fledge.dev/v1alpha1", "kind": "Release",
        "metadata": {"name": "web", "namespace": "prod"}, "status": {"phase": "Progressing", "canaryWeight": 10}});
    cluster.apply_status(&release).await.unwrap();
    drop(cluster);
    let seen = task.await.unwrap();
    let patch = seen.iter().find(|s| s.method == "PATCH").unwrap();
    assert_eq!(
        patch.path,
        "/apis/fledge.dev/v1alpha1/namespaces/prod/releases/web/status"
    );
    assert_eq!(patch.content_type, "application/apply-patch+yaml");
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some("fledge")
    );
    assert_eq!(patch.body["status"]["canaryWeight"], 10);
}

#[tokio::test]
async fn errors_name_the_request_in_the_servers_words_and_never_quote_a_secret() {
    fn answer(s: &Seen) -> (u16, Value) {
        let status = |code: u16, reason: &str, message: &str| {
            (
                code,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}),
            )
        };
        if s.method == "PATCH" && s.path.contains("/secrets/") {
            // What a real server says of a Secret whose data value is a list: it quotes it.
            return status(
                500,
                "InternalError",
                "failed to create typed patch object (prod/creds; /v1, Kind=Secret): .data.token: expected string, got &value.valueUnstructured{Value:[]interface {}{\"hunter2\"}}",
            );
        }
        if s.path.contains("/services/") {
            return status(
                403,
                "Forbidden",
                "services \"web\" is forbidden: User \"system:serviceaccount:fledge-system:fledge\" cannot get resource \"services\" in API group \"\" in the namespace \"prod\"",
            );
        }
        if s.path == "/apis/fledge.dev/v1alpha1" {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
        ok(s)
    }
    let (cluster, _task) = fake(answer);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "prod"}, "data": {"token": "aGk="}});
    let e = cluster.apply(&[secret]).await.unwrap_err().to_string();
    assert!(
        e.contains("Secret prod/creds") && e.contains("data.token") && !e.contains("hunter2"),
        "{e}"
    );
    let e = cluster
        .get(&ObjectRef::new("v1", "Service", "prod", "web"))
        .await
        .unwrap_err();
    assert_eq!(e.fault(), fledge::cluster::Fault::Forbidden);
    assert_eq!(
        e.to_string(),
        "get Service prod/web: services \"web\" is forbidden: User \"system:serviceaccount:fledge-system:fledge\" cannot get resource \"services\" in API group \"\" in the namespace \"prod\""
    );
    let e = cluster
        .get(&ObjectRef::new(
            "fledge.dev/v1alpha1",
            "Release",
            "prod",
            "web",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.fault(), fledge::cluster::Fault::NoKind);
    assert!(
        e.to_string().contains(
            "install its CustomResourceDefinition (kubectl apply -k deploy installs fledge's)"
        ),
        "{e}"
    );
}
