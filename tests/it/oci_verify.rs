//! OCIRepository `spec.verify` (cosign, with public keys): artifacts pushed as `flux push
//! artifact` pushes them (`tests/ocipush`) to a real registry on loopback, signed by the real
//! cosign CLI (`cosign generate-key-pair`, `cosign sign --key`), and `fledge run` syncing a
//! Kustomization of each. An artifact signed with a key of the Secret is applied; one unsigned,
//! or signed by a key the Secret does not hold, is refused, its Kustomization failing with the
//! field and the artifact's digest, nothing of it applied; a second key of the Secret verifies
//! too; and a new unsigned revision of a verified one is not applied, the verified one staying,
//! until it is signed.

use super::safety::daemon;
use super::support::daemon::InProcess;
use super::support::git::Remote;
use super::support::{cosign, ocipush, registry};

/// An OCIRepository `name` of `url`'s tag `stable`, polled every second, verified with the keys
/// of the Secret `secret`, and a Kustomization of its `./deploy` prefixing names with `<name>-`.
fn source(name: &str, url: &str, secret: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 1s
  url: {url}
  insecure: true
  ref: {{tag: stable}}
  verify:
    provider: cosign
    secretRef: {{name: {secret}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 10m
  path: ./deploy
  prune: true
  namePrefix: {name}-
  targetNamespace: shop
  sourceRef: {{kind: OCIRepository, name: {name}}}
"
    )
}

/// A Secret of public keys, as `kubectl create secret generic --from-file` makes it.
fn keys(name: &str, keys: &[(&str, &str)]) -> String {
    let data: Vec<String> = keys
        .iter()
        .map(|(k, pem)| format!("  {k}: {}", serde_json::to_string(pem).unwrap()))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: flux-system}}\nstringData:\n{}\n",
        data.join("\n")
    )
}

/// Pushes a ConfigMap holding `version` to `<repo>:stable`; returns the artifact's digest.
fn push(pusher: &std::path::Path, repo: &str, version: &str) -> String {
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{version: \"{version}\"}}\n"
    );
    ocipush::push(
        pusher,
        &format!("{repo}:stable"),
        &[("deploy/settings.yaml", &cm)],
    )
}

fn unit(d: &InProcess, name: &str) -> fledge::report::sync::UnitStatus {
    let status = d.shared.sync().clone();
    status
        .units
        .iter()
        .find(|u| u.name == format!("flux-system/{name}"))
        .cloned()
        .unwrap_or_else(|| panic!("no unit {name}: {status:?}"))
}

fn version(d: &InProcess, name: &str) -> Option<String> {
    d.get("", "ConfigMap", "shop", &format!("{name}-settings"))
        .map(|c| c["data"]["version"].as_str().unwrap_or_default().to_owned())
}

/// The root path `clusters/prod`: the namespace, the Secrets `keys` (`trusted` as cosign.pub)
/// and `both` (`trusted` and `other` as second.pub), and a verified source of each repository
/// (`repo(name)`).
fn layout(repo: impl Fn(&str) -> String, trusted: &str, other: &str) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "clusters/prod/namespace.yaml".to_owned(),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
        ),
        (
            "clusters/prod/keys.yaml".to_owned(),
            keys("keys", &[("cosign.pub", trusted)]),
        ),
        (
            "clusters/prod/both.yaml".to_owned(),
            keys("both", &[("cosign.pub", trusted), ("second.pub", other)]),
        ),
    ];
    for (name, secret) in [
        ("signed", "keys"),
        ("unsigned", "keys"),
        ("stranger", "keys"),
        ("second", "both"),
    ] {
        let url = format!("oci://{}", repo(name));
        files.push((
            format!("clusters/prod/{name}.yaml"),
            source(name, &url, secret),
        ));
    }
    files
}

/// The Kustomization `name` failed, naming the field and the artifact `digest`, and saying
/// `why`; nothing of it applied.
fn assert_refused(d: &InProcess, name: &str, digest: &str, why: &str) {
    let u = unit(d, name);
    assert!(!u.ready, "{name}: {u:?}");
    assert!(
        u.message
            .contains(&format!("OCIRepository flux-system/{name}: spec.verify"))
            && u.message.contains(digest)
            && u.message.contains(why),
        "{name}: {}",
        u.message
    );
    assert!(version(d, name).is_none(), "{name}: nothing applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_artifacts_signed_with_a_key_of_the_secret_are_applied() {
    let Some(pusher) = ocipush::or_skip() else {
        return;
    };
    let Some(cosign) = cosign::or_skip() else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    let trusted = cosign.key_pair("trusted");
    let other = cosign.key_pair("other");
    let repo = |name: &str| format!("{}/fleet/{name}", reg.addr());
    let signed = push(pusher, &repo("signed"), "1");
    cosign.sign("trusted", &format!("{}@{signed}", repo("signed")));
    let unsigned = push(pusher, &repo("unsigned"), "1");
    let stranger = push(pusher, &repo("stranger"), "1");
    cosign.sign("other", &format!("{}@{stranger}", repo("stranger")));
    let second = push(pusher, &repo("second"), "1");
    cosign.sign("other", &format!("{}@{second}", repo("second")));

    let files = layout(repo, &trusted, &other);
    let remote = Remote::new();
    remote.commit_owned(&files, "verified sources");
    let root = tempfile::tempdir().unwrap();
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    // Applied, and recorded as applied (the record follows the apply).
    d.until("the signed artifacts applied", |d| {
        version(d, "signed").is_some()
            && version(d, "second").is_some()
            && ["signed", "second"]
                .iter()
                .all(|u| unit(d, u).last_applied_revision.is_some())
    })
    .await;
    assert_eq!(
        unit(&d, "signed")
            .last_applied_revision
            .map(|r| r.to_string()),
        Some(format!("stable@{signed}"))
    );
    // Unsigned, and signed by a key the Secret does not hold: refused, naming the field and
    // the artifact, nothing applied.
    assert_refused(&d, "unsigned", &unsigned, "it has no cosign signature");
    assert_refused(
        &d,
        "stranger",
        &stranger,
        "no key of cosign.pub verifies it",
    );
    assert!(
        unit(&d, "stranger")
            .message
            .contains("Secret flux-system/keys"),
        "{}",
        unit(&d, "stranger").message
    );

    // A new revision pushed unsigned: the verified one stays applied, the poll says why.
    let next = push(pusher, &repo("signed"), "2");
    d.until("the unsigned revision refused", |d| {
        d.shared.sync().warnings.iter().any(|w| {
            w.contains("OCIRepository flux-system/signed: spec.verify") && w.contains(&next)
        })
    })
    .await;
    d.rounds(2).await;
    assert_eq!(version(&d, "signed").as_deref(), Some("1"));
    assert_eq!(
        unit(&d, "signed")
            .last_applied_revision
            .map(|r| r.to_string()),
        Some(format!("stable@{signed}"))
    );
    // Signed, it is verified at the next poll and applied.
    cosign.sign("trusted", &format!("{}@{next}", repo("signed")));
    d.until("the signed revision applied", |d| {
        version(d, "signed").as_deref() == Some("2")
    })
    .await;
    d.stop().await;
}
