//! Image automation end to end on the simulated cluster, against a real OCI registry on
//! loopback (images pushed with the real `skopeo`), real Git and Helm's engine (commit message
//! templates): a new tag becomes the automation's commit, fledge's canary takes it, a failed
//! canary reverts it and records the failed image in Git, and the failed tag is never proposed
//! again while newer good tags still are.

use std::time::Duration;

use serde_json::Value;

use super::safety::{NAMESPACE, WRITE_BACK, daemon};
use super::support::daemon::InProcess;
use super::support::eventually::{eventually, within};
use super::support::git::{Remote, git};
use super::support::{helm, registry};

/// Where the app is in the repository.
const APP: &str = "apps/app.yaml";

/// The app: its Deployment's image set by the policy `shop:app`, its pods failing every
/// request when they run `failing` (the simulated cluster's model of a bad build), and a Canary.
fn app(image: &str, failing: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: shop
spec:
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
      annotations:
        sim.fledge.dev/failing-images: "{failing}"
    spec:
      containers:
        - name: app
          image: {image} # {{"$imagepolicy": "shop:app"}}
          ports: [{{containerPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
    - host: app.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: app, port: {{number: 80}}}}}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: app
  namespace: shop
spec:
  provider: nginx
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}
  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: app}}
  service: {{port: 80, targetPort: 8080}}
  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 50
    maxWeight: 50
    metrics: [{{name: request-success-rate, thresholdRange: {{min: 99}}}}]
"#
    )
}

/// The automation: the registry's `app` scanned each second, the highest semver tag, written
/// to `apps/` of the branch fledge tracks with a templated message.
fn automation(registry: &str) -> String {
    format!(
        r#"apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: shop
spec:
  image: {registry}/app
  interval: 1s
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: shop
spec:
  imageRepositoryRef: {{name: app}}
  policy:
    semver: {{range: ">=1.0.0"}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: shop
  namespace: shop
spec:
  interval: 1s
  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
  git:
    commit:
      author: {{name: image-bot, email: bot@example.com}}
      messageTemplate: |
        {{{{ .Values.prefix }}}} {{{{ .AutomationObject.Name }}}}
        {{{{ range .Changed.Changes }}}}{{{{ .OldValue }}}} -> {{{{ .NewValue }}}}
        {{{{ end }}}}
      messageTemplateValues: {{prefix: "Automated:"}}
  update:
    path: ./apps
    strategy: Setters
"#
    )
}

/// The image the remote's `main` asks for in `path` (its first `image:`).
pub(crate) fn wanted(remote: &Remote, path: &str) -> String {
    let text = remote.show("main", path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_default()
        .to_owned()
}

fn primary_image(d: &InProcess) -> Value {
    d.get("apps", "Deployment", "shop", "app-primary")
        .map(|p| p["spec"]["template"]["spec"]["containers"][0]["image"].clone())
        .unwrap_or_default()
}

/// Waits (at most 60 s) until `main` asks for `image` in `path`.
pub(crate) async fn until_wanted(remote: &Remote, path: &str, image: &str) {
    eventually(
        format!("main asks for {image}"),
        Duration::from_secs(60),
        || async { wanted(remote, path) },
        |w| w == image,
    )
    .await;
}

async fn until_primary(d: &InProcess, image: &str) {
    eventually(
        format!("the primary runs {image}"),
        Duration::from_secs(60),
        || async { primary_image(d) },
        |i| i == image,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_tag_is_committed_canaried_and_a_failed_one_reverted_and_never_proposed_again() {
    let Some(helm) = helm::or_skip() else { return };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    let r = reg.addr();
    let image = |tag: &str| format!("{r}/app:{tag}");
    reg.push_image("app", "1.0.0").await;
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            ("apps/app.yaml", &app(&image("1.0.0"), &image("1.1.0"))),
            ("apps/automation.yaml", &automation(&r)),
        ],
        "app",
    );
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10"])
        .args(["--helm-engine", helm.engine.to_str().unwrap()])
        .args(WRITE_BACK)
        .in_process()
        .await;
    d.until_phase("shop/app", "Initialized").await;
    assert_eq!(primary_image(&d), image("1.0.0"));

    // A new good tag: the automation's commit (its author, its templated message, the image
    // alone changed), then a canary that promotes it.
    reg.push_image("app", "1.0.1").await;
    until_wanted(&remote, APP, &image("1.0.1")).await;
    let log = git(
        &remote.bare(),
        &[
            "log",
            "-1",
            "--format=%an <%ae>%n%B",
            "main",
            "--",
            "apps/app.yaml",
        ],
    );
    assert!(log.starts_with("image-bot <bot@example.com>\n"), "{log}");
    assert!(log.contains("Automated: shop\n"), "{log}");
    assert!(
        log.contains(&format!("{} -> {}", image("1.0.0"), image("1.0.1"))),
        "{log}"
    );
    let diff = git(&remote.bare(), &["diff", "main~1", "main", "--stat"]);
    assert!(diff.contains("apps/app.yaml | 2 +-"), "{diff}");
    until_primary(&d, &image("1.0.1")).await;

    // A bad tag: committed, canaried, failed; the revert brings 1.0.1 back and the failed image
    // is recorded on the branch.
    reg.push_image("app", "1.1.0").await;
    until_wanted(&remote, APP, &image("1.1.0")).await;
    d.until_phase("shop/app", "Failed").await;
    until_wanted(&remote, APP, &image("1.0.1")).await;
    let record = remote
        .show("main", ".fledge/failed/shop/app.yaml")
        .expect("the failure record is on main");
    assert!(record.contains(&image("1.1.0")), "{record}");
    assert_eq!(primary_image(&d), image("1.0.1"));

    // The automation scans every second: for several scans it never proposes 1.1.0 again.
    let again = within(
        Duration::from_secs(5),
        || async { wanted(&remote, APP) },
        |w| *w == image("1.1.0"),
    )
    .await;
    assert!(again.is_err(), "the failed tag was proposed again");

    // A newer good tag still goes through.
    reg.push_image("app", "1.2.0").await;
    until_wanted(&remote, APP, &image("1.2.0")).await;
    until_primary(&d, &image("1.2.0")).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_edge_lists_a_repositorys_tags_and_reads_a_tags_digest_as_the_registry_serves_them()
 {
    use fledge::registry::Access;
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    for tag in ["1.0.0", "1.0.1", "sha256-abc.sig"] {
        reg.push_image("app", tag).await;
    }
    let access = Access {
        insecure: true,
        timeout: Duration::from_secs(10),
        ..Access::default()
    };
    let image = format!("{}/app", reg.addr());
    let mut tags = fledge::registry::tags(&image, &access).await.unwrap();
    tags.sort();
    let mut served = reg.tags("app").await;
    served.sort();
    assert_eq!(tags, served);
    assert_eq!(tags, ["1.0.0", "1.0.1", "sha256-abc.sig"]);
    let digest = fledge::registry::digest(&image, "1.0.1", &access)
        .await
        .unwrap();
    assert_eq!(digest, reg.digest("app", "1.0.1").await);
    assert_ne!(digest, reg.digest("app", "1.0.0").await);
    // Nothing listens on port 1: the error names the image.
    let e = fledge::registry::tags("127.0.0.1:1/app", &access)
        .await
        .unwrap_err();
    assert_eq!(e.image, "127.0.0.1:1/app");
}

/// A Secret of `data` (base64-encoded here) in `shop`.
fn secret(name: &str, data: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    use std::fmt::Write as _;
    let mut s = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: shop}}\ndata:\n"
    );
    for (k, v) in data {
        let b = base64::engine::general_purpose::STANDARD.encode(v);
        let _ = writeln!(s, "  {k}: {b}");
    }
    s
}

/// The repository of the signed push test: the app at 1.0.0 on `main`, its policy, two
/// automations pushing to `auto` (signed by `key`) and to `wrong` (by the same key with a wrong
/// passphrase), their Secrets, and the failure record of 1.2.0 on `main`. The remote, and
/// `main`'s head.
fn signed_push_repository(r: &str, key: &super::support::gpg::Gpg) -> (Remote, String) {
    let image = |tag: &str| format!("{r}/app:{tag}");
    let armored = key.secret_key();
    // The canary of 1.2.0 failed on main: its record is there.
    let failure = fledge::writeback::record::failure_record(
        None,
        "shop",
        "app",
        &fledge::writeback::record::Failure {
            revision: "abc".into(),
            images: vec![serde_json::json!({"container": "app", "image": image("1.2.0")})],
            source_commit: Some("0000000".into()),
            reason: "canary failed".into(),
            failed_at: "2026-01-01T00:00:00Z".into(),
        },
    )
    .unwrap();
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: app}}}}\n  template:\n    metadata: {{labels: {{app: app}}}}\n    spec:\n      containers:\n        - name: app\n          image: {} # {{\"$imagepolicy\": \"shop:app\"}}\n",
        image("1.0.0")
    );
    let scan = automation(r);
    let policies = &scan[..scan
        .find("---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation")
        .unwrap()];
    let remote = Remote::new();
    let start = remote.commit(
        &[
            ("apps/namespace.yaml", NAMESPACE),
            (APP, &deployment),
            ("apps/images.yaml", policies),
            (
                "apps/auto.yaml",
                &pushing_automation("signed", "auto", "signing"),
            ),
            (
                "apps/wrong.yaml",
                &pushing_automation("wrong", "wrong", "wrong-key"),
            ),
            (
                "apps/secrets.yaml",
                &format!(
                    "{}---\n{}",
                    secret(
                        "signing",
                        &[("git.asc", &armored), ("passphrase", &key.passphrase)]
                    ),
                    secret(
                        "wrong-key",
                        &[("git.asc", &armored), ("passphrase", "not the phrase")]
                    )
                ),
            ),
            (".fledge/failed/shop/app.yaml", &failure),
        ],
        "app",
    );
    (remote, start)
}

/// An automation of `shop` that pushes to `branch`, signed by the key of Secret `key`.
fn pushing_automation(name: &str, branch: &str, key: &str) -> String {
    format!(
        r"apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: {name}, namespace: shop}}
spec:
  interval: 1s
  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
  git:
    checkout: {{ref: {{branch: main}}}}
    commit:
      author: {{name: image-bot, email: bot@example.com}}
      signingKey: {{secretRef: {{name: {key}}}}}
    push: {{branch: {branch}}}
  update: {{path: ./apps}}
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_update_goes_to_a_new_push_branch_never_with_a_tag_failed_on_the_tracked_branch() {
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    let r = reg.addr();
    let image = |tag: &str| format!("{r}/app:{tag}");
    for tag in ["1.0.0", "1.1.0", "1.2.0"] {
        reg.push_image("app", tag).await;
    }
    let key = super::support::gpg::Gpg::new("images", "pass phrase 1");
    let (remote, start) = signed_push_repository(&r, &key);
    let root = tempfile::tempdir().unwrap();
    let d = daemon(&remote, root.path(), "apps")
        .args(WRITE_BACK)
        .spawn();
    let pushed = eventually(
        "the push branch `auto`",
        Duration::from_secs(60),
        || async { remote.show("auto", APP) },
        Option::is_some,
    )
    .await;
    let text = pushed.unwrap();
    assert!(text.contains(&image("1.1.0")), "{text}");
    let bare = remote.bare();
    assert_eq!(git(&bare, &["rev-parse", "auto~1"]).trim(), start);
    assert_eq!(remote.head(), start, "main untouched");
    let status = key.verify_commit(&bare, "auto").unwrap();
    assert!(
        status.contains(&format!("VALIDSIG {}", key.fingerprint())),
        "{status}"
    );
    // The automation whose Secret holds the wrong passphrase pushes nothing, and says why
    // without the passphrase or the key.
    let log = eventually(
        "the wrong passphrase named",
        Duration::from_secs(30),
        || async { d.log() },
        |l| l.contains("Secret shop/wrong-key"),
    )
    .await;
    assert!(log.contains("spec.git.commit.signingKey.secretRef: Secret shop/wrong-key: the key in `git.asc` cannot be unlocked with the Secret's `passphrase` (wrong passphrase)"), "{log}");
    assert!(!log.contains("not the phrase") && !log.contains(&key.passphrase));
    assert!(!log.contains("PRIVATE KEY"));
    assert!(remote.show("wrong", APP).is_none());
    // Several scans later, still not 1.2.0.
    let again = within(
        Duration::from_secs(4),
        || async { remote.show("auto", APP).unwrap_or_default() },
        |t| t.contains(&image("1.2.0")),
    )
    .await;
    assert!(
        again.is_err(),
        "the failed tag was proposed on the push branch"
    );
}
