use serde_json::json;

use super::{comparable, holds};

#[test]
fn a_live_object_with_the_servers_defaults_holds_what_was_applied() {
    let desired = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"}, "annotations": {}},
        "spec": {"replicas": 2, "template": {"metadata": {"creationTimestamp": null},
            "spec": {"containers": [{"name": "web", "image": "web:1", "resources": {}}]}}}
    });
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"},
            "resourceVersion": "7", "uid": "u"},
        "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "template": {"metadata": {},
            "spec": {"containers": [{"name": "web", "image": "web:1",
                "imagePullPolicy": "IfNotPresent"}], "restartPolicy": "Always"}}},
        "status": {"replicas": 2}
    });
    assert!(holds(&live, &desired));
}

#[test]
fn a_field_changed_removed_or_a_list_grown_by_another_writer_is_not_held() {
    let desired = json!({"spec": {"replicas": 2, "ports": [{"name": "http", "port": 80}],
        "args": ["a", "b"]}});
    let live = json!({"spec": {"replicas": 2, "ports": [{"name": "http", "port": 80,
        "protocol": "TCP"}], "args": ["a", "b"]}});
    assert!(holds(&live, &desired));
    let changed = json!({"spec": {"replicas": 3, "ports": [{"name": "http", "port": 80}],
        "args": ["a", "b"]}});
    assert!(!holds(&changed, &desired));
    let missing = json!({"spec": {"ports": [{"name": "http", "port": 80}], "args": ["a", "b"]}});
    assert!(!holds(&missing, &desired));
    let grown = json!({"spec": {"replicas": 2, "ports": [{"name": "http", "port": 80},
        {"name": "debug", "port": 81}], "args": ["a", "b"]}});
    assert!(!holds(&grown, &desired));
    let reordered = json!({"spec": {"replicas": 2, "ports": [{"name": "http", "port": 80}],
        "args": ["b", "a"]}});
    assert!(!holds(&reordered, &desired));
    assert!(holds(&json!({"n": 1.0}), &json!({"n": 1})));
    assert!(!holds(&json!({"n": "1"}), &json!({"n": 1})));
}

#[test]
fn named_items_are_matched_by_name_whatever_their_order() {
    let desired = json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]);
    let live = json!([{"name": "b", "value": "2"}, {"name": "a", "value": "1"}]);
    assert!(holds(&live, &desired));
    let other = json!([{"name": "b", "value": "2"}, {"name": "a", "value": "x"}]);
    assert!(!holds(&other, &desired));
}

#[test]
fn a_secrets_string_data_is_compared_as_the_data_the_server_keeps() {
    let desired = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}});
    let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"});
    assert!(holds(&live, &comparable(&desired)));
    let other = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"password": "b3RoZXI="}});
    assert!(!holds(&other, &comparable(&desired)));
}

mod overlay {
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    use kube::api::DynamicObject;
    use kube::core::ApiResource;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;
    use serde_json::{Value, json};
    use tokio::sync::watch;

    use super::super::{Kind, Status, seen};

    fn ar() -> ApiResource {
        ApiResource {
            group: "fledge.dev".into(),
            version: "v1alpha1".into(),
            api_version: "fledge.dev/v1alpha1".into(),
            kind: "Release".into(),
            plural: "releases".into(),
        }
    }

    fn release(rv: u64, phase: &str) -> Value {
        json!({"apiVersion": "fledge.dev/v1alpha1", "kind": "Release",
            "metadata": {"name": "web", "namespace": "a", "resourceVersion": rv.to_string()},
            "status": {"phase": phase}})
    }

    fn object(v: &Value) -> DynamicObject {
        serde_json::from_value(v.clone()).unwrap()
    }

    /// A kind's cache fed by hand, as its watch would feed it.
    fn kind() -> (Kind, Writer<DynamicObject>) {
        let writer = Writer::new(ar());
        let (status, _) = watch::channel(Status::Ready);
        let kind = Kind {
            ar: ar(),
            namespaced: true,
            complete: true,
            status,
            running: Mutex::new((writer.as_reader(), tokio::spawn(async {}))),
            written: Mutex::default(),
            latest: Arc::new(AtomicU64::new(0)),
        };
        (kind, writer)
    }

    fn watch_brings(kind: &Kind, writer: &mut Writer<DynamicObject>, event: &Event<DynamicObject>) {
        writer.apply_watcher_event(event);
        if let Event::Apply(o) | Event::Delete(o) = event {
            seen(&kind.latest, o);
        }
    }

    fn phase(kind: &Kind) -> Option<Value> {
        let store = kind.running.lock().unwrap().0.clone();
        kind.get(&store, "a", "web")
            .map(|o| o["status"]["phase"].clone())
    }

    #[tokio::test]
    async fn fledges_own_write_is_read_back_before_the_watch_brings_it() {
        let (kind, mut writer) = kind();
        watch_brings(
            &kind,
            &mut writer,
            &Event::Apply(object(&release(5, "Progressing"))),
        );
        kind.wrote(&release(9, "Succeeded"));
        assert_eq!(phase(&kind), Some(json!("Succeeded")));
        watch_brings(
            &kind,
            &mut writer,
            &Event::Apply(object(&release(9, "Succeeded"))),
        );
        assert_eq!(phase(&kind), Some(json!("Succeeded")));
        assert!(
            kind.written.lock().unwrap().is_empty(),
            "caught up: the write is let go"
        );
    }

    #[tokio::test]
    async fn an_object_deleted_by_someone_else_after_fledges_write_is_gone() {
        let (kind, mut writer) = kind();
        kind.wrote(&release(9, "Progressing"));
        // The watch brings fledge's write, then another writer's delete, before any read.
        watch_brings(
            &kind,
            &mut writer,
            &Event::Apply(object(&release(9, "Progressing"))),
        );
        watch_brings(
            &kind,
            &mut writer,
            &Event::Delete(object(&release(12, "Progressing"))),
        );
        assert_eq!(phase(&kind), None);
    }

    #[tokio::test]
    async fn fledges_delete_hides_the_object_until_the_watch_brings_it_again() {
        let (kind, mut writer) = kind();
        watch_brings(
            &kind,
            &mut writer,
            &Event::Apply(object(&release(5, "Succeeded"))),
        );
        let store = kind.running.lock().unwrap().0.clone();
        kind.deleted(&store, "a", "web");
        assert_eq!(phase(&kind), None);
        // Made again by someone else: a newer resourceVersion shows.
        watch_brings(
            &kind,
            &mut writer,
            &Event::Delete(object(&release(6, "Succeeded"))),
        );
        watch_brings(
            &kind,
            &mut writer,
            &Event::Apply(object(&release(8, "Initializing"))),
        );
        assert_eq!(phase(&kind), Some(json!("Initializing")));
    }
}

#[test]
fn only_the_rollouts_kinds_are_watched_and_helms_release_secrets_are_left_out() {
    use super::{Cache, selector};
    use kube::core::ApiResource;
    let ar = |group: &str, version: &str, kind: &str| ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: String::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    // A client to nowhere: nothing is sent until a watched kind is read.
    let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
    let cache = Cache::new(kube::Client::try_from(config).unwrap());
    assert!(
        cache
            .kind(&ar("rbac.authorization.k8s.io", "v1", "RoleBinding"), true)
            .is_none()
    );
    assert!(cache.kind(&ar("", "v1", "Namespace"), false).is_none());
    let deployments = cache.kind(&ar("apps", "v1", "Deployment"), true).unwrap();
    assert!(deployments.complete);
    let secrets = cache.kind(&ar("", "v1", "Secret"), true).unwrap();
    assert!(!secrets.complete);
    assert_eq!(selector(&secrets.ar), Some("type!=helm.sh/release.v1"));
}
