use serde_json::{Value, json};

use super::*;
use crate::render::yaml::parse_documents;

pub(crate) fn objects(yaml: &str) -> Vec<Value> {
    parse_documents(yaml.as_bytes()).unwrap()
}

pub(crate) const DEPLOY: &str = r"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes:
      - name: cfg
        configMap: {name: web-config}
      - name: tls
        secret: {secretName: web-tls}
      - name: proj
        projected:
          sources:
          - configMap: {name: extra, optional: true}
      initContainers:
      - name: init
        image: busybox
        envFrom:
        - secretRef: {name: creds}
      containers:
      - name: app
        image: web:1
        env:
        - name: A
          valueFrom:
            configMapKeyRef: {name: web-config, key: a}
        - name: PULL
          valueFrom:
            secretKeyRef: {name: registry, key: x, optional: true}
";

pub(crate) const CONFIGS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: prod}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: prod}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: prod}
data: {password: aHVudGVyMg==}
---
apiVersion: v1
kind: Secret
metadata: {name: registry, namespace: prod}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated, namespace: prod}
data: {z: "9"}
"#;

pub(crate) fn rev(deploy: &str, configs: &str) -> Result<Revision, Error> {
    let d = objects(deploy).remove(0);
    revision(&d, &objects(configs), None, &HashKey::new("k1"))
}

#[test]
fn references_are_found_where_flagger_looks() {
    let d = objects(DEPLOY).remove(0);
    let refs = config_refs(&d["spec"]["template"]);
    let names: Vec<(ConfigKind, &str, bool)> = refs
        .iter()
        .map(|r| (r.kind, r.name.as_str(), r.optional))
        .collect();
    assert_eq!(
        names,
        [
            (ConfigKind::ConfigMap, "extra", true),
            (ConfigKind::ConfigMap, "web-config", false),
            (ConfigKind::Secret, "creds", false),
            (ConfigKind::Secret, "registry", true),
            (ConfigKind::Secret, "web-tls", false),
        ]
    );
}

#[test]
fn referenced_configs_change_the_revision_unreferenced_do_not() {
    let base = rev(DEPLOY, CONFIGS).unwrap();
    // Tracked: web-config, web-tls, creds (registry is a dockerconfigjson Secret; extra is absent and optional).
    let tracked: Vec<&str> = base.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(tracked, ["web-config", "creds", "web-tls"]);
    assert_ne!(
        rev(DEPLOY, &CONFIGS.replace("a: \"1\"", "a: \"2\""))
            .unwrap()
            .id,
        base.id
    );
    assert_ne!(
        rev(DEPLOY, &CONFIGS.replace("aHVudGVyMg==", "aHVudGVyMw=="))
            .unwrap()
            .id,
        base.id
    );
    assert_eq!(
        rev(DEPLOY, &CONFIGS.replace("z: \"9\"", "z: \"10\""))
            .unwrap()
            .id,
        base.id
    );
    assert_eq!(
        rev(DEPLOY, &CONFIGS.replace("e30=", "e3t9")).unwrap().id,
        base.id,
        "registry secrets are not tracked"
    );
    assert_ne!(
        rev(&DEPLOY.replace("web:1", "web:2"), CONFIGS).unwrap().id,
        base.id
    );
}

#[test]
fn key_order_and_yaml_style_do_not_matter() {
    let reordered = r#"
kind: Deployment
apiVersion: "apps/v1"
metadata:
  namespace: prod
  name: web
spec:
  template:
    spec:
      containers:
      - image: "web:1"
        name: app
        env:
        - valueFrom:
            configMapKeyRef: {key: a, name: web-config}
          name: A
        - name: PULL
          valueFrom:
            secretKeyRef: {optional: true, key: x, name: registry}
      initContainers:
      - envFrom:
        - secretRef: {name: creds}
        image: busybox
        name: init
      volumes:
      - configMap: {name: web-config}
        name: cfg
      - secret: {secretName: web-tls}
        name: tls
      - projected:
          sources:
          - configMap: {optional: true, name: extra}
        name: proj
    metadata:
      labels:
        app: 'web'
"#;
    assert_eq!(
        rev(reordered, CONFIGS).unwrap().id,
        rev(DEPLOY, CONFIGS).unwrap().id
    );
}

#[test]
fn opt_out_and_optional_references() {
    let opted = CONFIGS.replace(
        "metadata: {name: web-config, namespace: prod}",
        "metadata: {name: web-config, namespace: prod, annotations: {flagger.app/config-tracking: disabled}}",
    );
    let a = rev(DEPLOY, &opted).unwrap();
    let b = rev(DEPLOY, &opted.replace("a: \"1\"", "a: \"2\"")).unwrap();
    assert_eq!(a.id, b.id);
    assert!(a.configs.iter().all(|c| c.name != "web-config"));
    // A missing mandatory reference is an error naming it; a missing optional one is skipped.
    let without_creds = CONFIGS.replace("name: creds", "name: other");
    let err = rev(DEPLOY, &without_creds).unwrap_err();
    assert_eq!(
        err.to_string(),
        "prod/web: secret `creds` is referenced (not optional) but neither Git nor the cluster has it"
    );
}

struct Cluster(Value);
impl ConfigSource for Cluster {
    fn get(&self, kind: ConfigKind, namespace: &str, name: &str) -> Option<Value> {
        (kind == ConfigKind::Secret && namespace == "prod" && name == "creds")
            .then(|| self.0.clone())
    }
}

#[test]
fn configs_missing_from_git_come_from_the_cluster() {
    let d = objects(DEPLOY).remove(0);
    let configs: Vec<Value> = objects(CONFIGS)
        .into_iter()
        .filter(|o| o["metadata"]["name"] != "creds")
        .collect();
    let live = Cluster(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {"password": "aHVudGVyMg=="}}),
    );
    let r = revision(&d, &configs, Some(&live), &HashKey::new("k1")).unwrap();
    let creds = r.configs.iter().find(|c| c.name == "creds").unwrap();
    assert_eq!(creds.origin, ConfigOrigin::Cluster);
    assert_eq!(
        r.id,
        rev(DEPLOY, CONFIGS).unwrap().id,
        "same data, same revision"
    );
}

#[test]
fn secret_values_are_not_recoverable_from_what_is_printed() {
    let d = objects(DEPLOY).remove(0);
    let all = objects(CONFIGS);
    let r1 = revision(&d, &all, None, &HashKey::new("installation-1")).unwrap();
    let r2 = revision(&d, &all, None, &HashKey::new("installation-2")).unwrap();
    // The key enters the revision: without it, guesses of the Secret cannot be checked.
    assert_ne!(r1.id, r2.id);
    let printed = serde_json::to_string(&r1).unwrap();
    for secret in ["hunter2", "aHVudGVyMg==", "a2V5", "Y2VydA=="] {
        assert!(!printed.contains(secret), "{printed}");
    }
    // The digest of a Secret is not the plain hash of its data.
    let creds = r1.configs.iter().find(|c| c.name == "creds").unwrap();
    let plain = hex::encode(Sha256::digest(
        json!({"data": {"password": "aHVudGVyMg=="}, "stringData": null, "type": null}).to_string(),
    ));
    assert_ne!(creds.digest, plain);
}

#[test]
fn installation_keys_are_made_once_and_kept_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/revision.key");
    let d = objects(DEPLOY).remove(0);
    let all = objects(CONFIGS);
    let a = revision(&d, &all, None, &HashKey::load_or_create(&path).unwrap()).unwrap();
    let b = revision(&d, &all, None, &HashKey::load_or_create(&path).unwrap()).unwrap();
    assert_eq!(a.id, b.id, "the same key after a restart");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let other = tempfile::tempdir().unwrap();
    let c = revision(
        &d,
        &all,
        None,
        &HashKey::load_or_create(&other.path().join("k")).unwrap(),
    )
    .unwrap();
    assert_ne!(a.id, c.id, "another installation, another key");
}

#[test]
fn a_secret_written_with_string_data_is_copied_and_hashed_as_the_server_holds_it() {
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        envFrom: [{secretRef: {name: creds}}]\n";
    // `user` in data, `password` in stringData, and `user` again in stringData, which wins.
    let written = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: prod}\ndata: {user: b2xk, token: dA==}\nstringData: {password: s3cret, user: dana}\n";
    // base64: dana = ZGFuYQ==, s3cret = czNjcmV0.
    let held = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: prod}\ndata: {user: ZGFuYQ==, token: dA==, password: czNjcmV0}\n";
    let from_git = rev(deploy, written).unwrap();
    assert_eq!(from_git.id, rev(deploy, held).unwrap().id, "hashed as held");
}

/// A Deployment reading the Secret `creds`, which Git writes with `stringData`.
pub(crate) const STRING_DATA: (&str, &str) = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        envFrom: [{secretRef: {name: creds}}]\n",
    "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: prod}\ndata: {user: b2xk, token: dA==}\nstringData: {password: s3cret, user: dana}\n",
);
