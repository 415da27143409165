//! Flux's image controllers as peers (the harness `flux::image_or_skip`): image-reflector-
//! controller scans the tests' loopback OCI registry (the real distribution registry, images
//! pushed by skopeo) over plain HTTP and its ImagePolicy picks the highest semver tag in range,
//! skipping a pre-release; image-automation-controller writes that tag into a manifest's marked
//! image and pushes the commit over the tests' smart-HTTP Git server.

use std::time::Duration;

use serde_json::json;

use crate::support::eventually::within;
use crate::support::flux::{self, ImageControllers};
use crate::support::git::Remote;
use crate::support::registry::{self, Registry};
use crate::support::testcluster::or_skip;

/// A registry holding `app/web` at 1.0.0, 1.1.0 and 2.0.0-rc.1, and an ImageRepository `web` of
/// it with an ImagePolicy `web` of semver range `>=1.0.0`, in `ns`; `None` without a registry
/// (see `registry::or_skip`).
async fn scanned(images: &ImageControllers, ns: &str) -> Option<Registry> {
    let registry = registry::or_skip().await?;
    for tag in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        registry.push_image("app/web", tag).await;
    }
    let image = format!("{}/app/web", registry.addr());
    images.image_repository(ns, "web", &image);
    images.image_policy(ns, "web", "web", ">=1.0.0");
    Some(registry)
}

#[tokio::test(flavor = "multi_thread")]
async fn image_policy_picks_the_highest_release_in_range() {
    let Some(c) = or_skip() else { return };
    let Some(images) = flux::image_or_skip(c).await else {
        return;
    };
    let ns = c.namespace("flux-image");
    let Some(registry) = scanned(images, &ns).await else {
        return;
    };
    let policy = images.wait_latest(&ns, "web", "1.1.0").await;
    assert_eq!(
        policy["status"]["latestRef"]["name"],
        format!("{}/app/web", registry.addr())
    );
    let repository = c
        .get(&["imagerepository.image.toolkit.fluxcd.io", "web", "-n", &ns])
        .expect("the ImageRepository exists");
    assert_eq!(repository["status"]["lastScanResult"]["tagCount"], 3);

    // A new release, scanned at once when asked.
    registry.push_image("app/web", "1.2.0").await;
    images.scan(&ns, "web");
    images.wait_latest(&ns, "web", "1.2.0").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn image_update_automation_pushes_the_latest_tag() {
    let Some(c) = or_skip() else { return };
    let Some(images) = flux::image_or_skip(c).await else {
        return;
    };
    let ns = c.namespace("flux-automation");
    let Some(registry) = scanned(images, &ns).await else {
        return;
    };
    images.wait_latest(&ns, "web", "1.1.0").await;
    let image = format!("{}/app/web", registry.addr());
    let remote = Remote::new();
    remote.commit(
        &[(
            "deploy/web.yaml",
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {image}:1.0.0 # {{\"$imagepolicy\": \"{ns}:web\"}}\n"
            ),
        )],
        "web at 1.0.0",
    );
    let _server = images.git_repository(&ns, "config", &remote);
    images.apply(&json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "config"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "fluxbot", "email": "fluxbot@example.com"},
                           "messageTemplate": "web to the latest release"},
                "push": {"branch": "main"},
            },
            "update": {"path": "./deploy", "strategy": "Setters"},
        },
    }));
    let want = format!("image: {image}:1.1.0 # {{\"$imagepolicy\": \"{ns}:web\"}}");
    let pushed = within(
        Duration::from_secs(120),
        || async { remote.show("main", "deploy/web.yaml") },
        |f| f.as_ref().is_some_and(|f| f.contains(&want)),
    )
    .await;
    assert!(
        pushed.is_ok(),
        "image-automation-controller never pushed {want}: {pushed:?}\n{}",
        images.logs()
    );
    let head = remote.head();
    let automation = images
        .until(
            &format!("ImageUpdateAutomation {ns}/web pushed {head}"),
            &[
                "imageupdateautomation.image.toolkit.fluxcd.io",
                "web",
                "-n",
                &ns,
            ],
            |a| a["status"]["lastPushCommit"] == head.as_str(),
        )
        .await;
    assert_eq!(automation["status"]["lastPushCommit"], head.as_str());
}
