use super::*;
use crate::revision::tests::{CONFIGS, DEPLOY, STRING_DATA, objects, rev};
use crate::revision::{HashKey, revision};

#[test]
fn built_as_flagger_builds_it() {
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web", "team": "a"},
                     "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled", "owner": "me"}},
        "spec": {"replicas": 0, "minReadySeconds": 3, "strategy": {"type": "RollingUpdate"},
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web", "v": "1"}},
                              "spec": {"containers": [{"name": "web", "image": "web:1",
                                         "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
                                       "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}}}});
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "prod"}, "data": {"a": "1"}});
    let r = revision(&target, &[cfg], None, &HashKey::new("k")).unwrap();
    let p = primary_workload(&target, &r, "1234").unwrap();
    assert_eq!(p["metadata"]["name"], "web-primary");
    assert_eq!(p["metadata"]["labels"], json!({"app": "web-primary"}));
    assert_eq!(p["metadata"]["annotations"], json!({"owner": "me"}));
    assert_eq!(p["spec"]["replicas"], 1);
    assert_eq!(p["spec"]["minReadySeconds"], 3);
    assert_eq!(
        p["spec"]["selector"]["matchLabels"],
        json!({"app": "web-primary"})
    );
    let t = &p["spec"]["template"];
    assert_eq!(
        t["metadata"]["labels"],
        json!({"app": "web-primary", "v": "1"})
    );
    assert_eq!(t["metadata"]["annotations"]["flagger-id"], "1234");
    assert_eq!(
        t["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        "cfg-primary"
    );
    assert_eq!(
        t["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["app"],
        "web-primary"
    );
    let no_label =
        json!({"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"tier": "x"}}}});
    assert!(
        primary_workload(&no_label, &r, "1")
            .unwrap_err()
            .contains("none of the labels")
    );
}

#[test]
fn primary_copies_and_template() {
    let d = objects(DEPLOY).remove(0);
    let all = objects(CONFIGS);
    let r = revision(&d, &all, None, &HashKey::new("k")).unwrap();
    let copies = primary_configs(&r, &all, "prod");
    let names: Vec<&str> = copies
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["web-config-primary", "creds-primary", "web-tls-primary"]
    );
    assert_eq!(copies[2]["type"], "kubernetes.io/tls");
    let t = primary_template(&d["spec"]["template"], &r);
    assert_eq!(
        t["spec"]["volumes"][0]["configMap"]["name"],
        "web-config-primary"
    );
    assert_eq!(
        t["spec"]["volumes"][1]["secret"]["secretName"],
        "web-tls-primary"
    );
    assert_eq!(
        t["spec"]["volumes"][2]["projected"]["sources"][0]["configMap"]["name"], "extra",
        "untracked"
    );
    assert_eq!(
        t["spec"]["initContainers"][0]["envFrom"][0]["secretRef"]["name"],
        "creds-primary"
    );
    assert_eq!(
        t["spec"]["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
        "web-config-primary"
    );
    assert_eq!(
        t["spec"]["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["name"], "registry",
        "untracked type"
    );
}

#[test]
fn a_secret_written_with_string_data_is_copied_as_the_server_holds_it() {
    let (deploy, written) = STRING_DATA;
    let from_git = rev(deploy, written).unwrap();
    // base64: dana = ZGFuYQ==, s3cret = czNjcmV0; `user` in stringData wins over data's.
    let copies = primary_configs(&from_git, &objects(written), "prod");
    assert_eq!(
        copies[0]["data"],
        json!({"user": "ZGFuYQ==", "token": "dA==", "password": "czNjcmV0"})
    );
    assert!(copies[0].get("stringData").is_none());
}
