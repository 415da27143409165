//! Image automation on the real API server: tags scanned from a real registry on loopback (the
//! ImageRepository's `.dockerconfigjson` Secret read from the server), a good tag committed by
//! the automation and promoted, a bad one (its pods never start) committed, rolled back on the
//! Canary's progress deadline, reverted and recorded, and never proposed again.

use std::time::Duration;

use serde_json::Value;

use super::{daemon, scene};
use crate::image_automation::{until_wanted, wanted};
use crate::safety::WRITE_BACK;
use crate::support::eventually::within;
use crate::support::git::{Remote, git};
use crate::support::registry;
use crate::support::testcluster::TestCluster;

/// Where the app is in the repository.
const WEB: &str = "apps/web.yaml";

/// The Deployment `web` at `image` (set by the policy `<ns>:web`; pods running `failing` never
/// start), a blue/green Canary on it, and the automation over `registry`'s `web`.
fn repository(ns: &str, image: &str, failing: &str, registry: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{sim.fledge.dev/failing-images: "{failing}"}}
    spec:
      containers:
        - name: web
          image: {image} # {{"$imagepolicy": "{ns}:web"}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: {ns}}}
spec:
  provider: kubernetes
  progressDeadlineSeconds: 15
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{port: 80}}
  analysis: {{interval: 10s, threshold: 1, iterations: 1}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: web, namespace: {ns}}}
spec:
  image: {registry}/web
  interval: 1s
  insecure: true
  secretRef: {{name: registry}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: web, namespace: {ns}}}
spec:
  imageRepositoryRef: {{name: web}}
  policy: {{semver: {{range: "1.x"}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: web, namespace: {ns}}}
spec:
  interval: 1s
  sourceRef: {{kind: GitRepository, name: flux-system, namespace: flux-system}}
  git:
    commit:
      author: {{name: image-bot, email: bot@example.com}}
  update: {{path: ./apps}}
"#
    )
}

fn primary_image(c: &TestCluster, ns: &str) -> String {
    let o: Value = serde_json::from_str(&c.kubectl(&[
        "get",
        "deployment",
        "web-primary",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    o["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_tag_is_promoted_and_a_bad_one_reverted_recorded_and_never_proposed_again() {
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    let Some((c, ns, dir)) = scene("images") else {
        return;
    };
    let r = reg.addr();
    let image = |tag: &str| format!("{r}/web:{tag}");
    reg.push_image("web", "1.0.0").await;
    // The registry accepts anyone; the Secret is read from the server all the same.
    let config = format!(r#"{{"auths": {{"{r}": {{"username": "u", "password": "p"}}}}}}"#);
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "registry",
        "-n",
        &ns,
        "--type=kubernetes.io/dockerconfigjson",
        &format!("--from-literal=.dockerconfigjson={config}"),
    ]);
    let remote = Remote::new();
    let yaml = |tag: &str| repository(&ns, &image(tag), &image("1.1.0"), &r);
    remote.commit(&[("apps/web.yaml", &yaml("1.0.0"))], "web");
    let mut args = vec!["--path", "apps", "--branch", "main"];
    args.extend(WRITE_BACK);
    let d = daemon(c, &remote, &ns, dir.path(), &args);
    d.until("web", "initialized", |v| v["phase"] == "Initialized")
        .await;
    assert_eq!(primary_image(c, &ns), image("1.0.0"));

    reg.push_image("web", "1.0.1").await;
    until_wanted(&remote, WEB, &image("1.0.1")).await;
    let log = git(&remote.bare(), &["log", "-1", "--format=%an%n%s", "main"]);
    assert_eq!(log, "image-bot\nUpdate from image update automation\n");
    d.until("web", "promoted", |v| {
        v["phase"] == "Succeeded" && v["sourceCommit"] == remote.head().as_str()
    })
    .await;
    assert_eq!(primary_image(c, &ns), image("1.0.1"));

    reg.push_image("web", "1.1.0").await;
    until_wanted(&remote, WEB, &image("1.1.0")).await;
    d.until("web", "rolled back", |v| v["phase"] == "Failed")
        .await;
    until_wanted(&remote, WEB, &image("1.0.1")).await;
    let record = remote
        .show("main", &format!(".fledge/failed/{ns}/web.yaml"))
        .expect("the failure record");
    assert!(record.contains(&image("1.1.0")), "{record}");
    assert_eq!(primary_image(c, &ns), image("1.0.1"));
    let again = within(
        Duration::from_secs(5),
        || async { wanted(&remote, WEB) },
        |w| *w == image("1.1.0"),
    )
    .await;
    assert!(again.is_err(), "the failed tag was proposed again");
}
