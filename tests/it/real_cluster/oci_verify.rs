//! OCIRepository `spec.verify` on the real API server beside source-controller v1.9.6: the same
//! artifacts (pushed as `flux push artifact` pushes them to a registry on loopback, signed or not
//! by the real cosign CLI) and the same Secrets of public keys, verified by source-controller
//! (its `SourceVerified` condition) and by `fledge run` (a Kustomization of each, applied or
//! refused): the same verdict for an artifact signed with the Secret's key, one unsigned, one
//! signed by a key the Secret does not hold, and one signed by the Secret's second key.

use serde_json::{Value, json};

use super::{commit_files, daemon, install_release_crd, unit};
use crate::support::eventually::within;
use crate::support::flux;
use crate::support::git::Remote;
use crate::support::testcluster::{TestCluster, or_skip};
use crate::support::{cosign, ocipush, registry};

/// The OCIRepository `ns/name` of `url`'s tag `stable`, verified with the keys of `secret`.
fn oci_repository(ns: &str, name: &str, url: &str, secret: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "2s", "url": url, "insecure": true, "ref": {"tag": "stable"},
                    "verify": {"provider": "cosign", "secretRef": {"name": secret}}}})
}

/// The Kustomization `ns/name` of the OCIRepository `name`'s `./deploy`, into `target`.
fn kustomization(ns: &str, name: &str, target: &str) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "10m", "retryInterval": "2s", "path": "./deploy", "prune": true,
                    "targetNamespace": target, "namePrefix": format!("{name}-"),
                    "sourceRef": {"kind": "OCIRepository", "name": name}}})
}

/// The Secret `ns/name` of public keys.
fn secret(c: &TestCluster, ns: &str, name: &str, keys: &[(&str, &str)]) {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|(k, pem)| ((*k).to_owned(), Value::from(*pem)))
        .collect();
    let object = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns}, "stringData": data});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&object).unwrap()).unwrap();
    c.kubectl(&["apply", "-f", file.path().to_str().unwrap()]);
}

/// source-controller's verdict on the OCIRepository `ns/name`: its `SourceVerified` condition
/// for the current generation (waited for, at most two minutes).
async fn flux_verdict(c: &TestCluster, flux: &flux::Flux, ns: &str, name: &str) -> bool {
    let args = ["ocirepository.source.toolkit.fluxcd.io", name, "-n", ns];
    let condition = |o: &Value| {
        o["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|k| {
                k["type"] == "SourceVerified"
                    && k["observedGeneration"] == o["metadata"]["generation"]
            })
            .cloned()
    };
    let seen = within(
        std::time::Duration::from_secs(120),
        || async { c.get(&args).as_ref().and_then(condition) },
        Option::is_some,
    )
    .await;
    let Ok(Some(k)) = seen else {
        panic!(
            "OCIRepository {ns}/{name}: no SourceVerified condition: {:?}\n{}",
            c.get(&args),
            flux.logs()
        );
    };
    k["status"] == "True"
}

/// name, signer, Secret, the verdict source-controller is expected to give.
type Case = (&'static str, Option<&'static str>, &'static str, bool);

/// fledge's repository: an OCIRepository of each case in `src`, and a Kustomization of it into
/// `target`.
fn fledge_sources(
    cases: &[Case],
    repo: impl Fn(&str) -> String,
    src: &str,
    target: &str,
) -> Vec<(String, String)> {
    let yaml = |v: &Value| serde_yaml::to_string(v).unwrap();
    let mut files = Vec::new();
    for (name, _, keys, _) in cases {
        let url = format!("oci://{}", repo(name));
        files.push((
            format!("clusters/test/{name}.yaml"),
            format!(
                "{}---\n{}",
                yaml(&oci_repository(src, name, &url, keys)),
                yaml(&kustomization(src, name, target))
            ),
        ));
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn source_controller_and_fledge_give_the_same_verdict_on_the_same_signed_artifacts() {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    let Some(pusher) = ocipush::or_skip() else {
        return;
    };
    let Some(cosign) = cosign::or_skip() else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    install_release_crd(c);
    let trusted = cosign.key_pair("trusted");
    let other = cosign.key_pair("other");
    let repo = |name: &str| format!("{}/verify/{name}", reg.addr());
    let cases: [Case; 4] = [
        ("signed", Some("trusted"), "keys", true),
        ("unsigned", None, "keys", false),
        ("stranger", Some("other"), "keys", false),
        ("second", Some("other"), "both", true),
    ];
    let mut digests = Vec::new();
    for (name, signer, _, _) in cases {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{from: {name}}}\n"
        );
        let digest = ocipush::push(
            pusher,
            &format!("{}:stable", repo(name)),
            &[("deploy/settings.yaml", &cm)],
        );
        if let Some(key) = signer {
            cosign.sign(key, &format!("{}@{digest}", repo(name)));
        }
        digests.push(digest);
    }
    let home = c.namespace("verify-home");
    let src = c.namespace("verify-src");
    let fledge_ns = c.namespace("verify-fledge");
    for ns in [&home, &src] {
        secret(c, ns, "keys", &[("cosign.pub", &trusted)]);
        secret(
            c,
            ns,
            "both",
            &[("cosign.pub", &trusted), ("second.pub", &other)],
        );
    }
    for (name, _, keys, _) in cases {
        flux.apply(&oci_repository(
            &home,
            name,
            &format!("oci://{}", repo(name)),
            keys,
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::new();
    let files = fledge_sources(&cases, repo, &src, &fledge_ns);
    commit_files(&remote, &files, "verified artifacts");
    let d = daemon(
        c,
        &remote,
        &home,
        dir.path(),
        &["--path", "clusters/test", "--write-back", "false"],
    );
    // fledge's verdict: the Kustomization applied at the artifact's revision, or refused naming
    // spec.verify.
    let settled = |s: &Value| {
        cases.iter().zip(&digests).all(|((name, ..), digest)| {
            unit(s, &format!("{src}/{name}")).is_some_and(|u| {
                u["lastAppliedRevision"] == format!("stable@{digest}").as_str()
                    || u["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("spec.verify"))
            })
        })
    };
    let sync = d
        .until_sync("each artifact verified or refused", settled)
        .await;
    for ((name, _, _, expected), digest) in cases.iter().zip(&digests) {
        let theirs = flux_verdict(c, flux, &home, name).await;
        let u = unit(&sync, &format!("{src}/{name}")).unwrap();
        let ours = u["ready"] == true;
        assert_eq!(theirs, *expected, "source-controller on {name}");
        assert_eq!(ours, theirs, "fledge on {name}: {u}");
        let applied = c.get(&["configmap", &format!("{name}-settings"), "-n", &fledge_ns]);
        assert_eq!(
            applied.is_some(),
            ours,
            "{name}: applied only when verified"
        );
        if !ours {
            let m = u["message"].as_str().unwrap();
            assert!(m.contains(digest.as_str()), "{name}: {m}");
        }
    }
    drop(d);
}
