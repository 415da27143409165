//! A Canary removed from Git, against the daemon on the simulated cluster: its app is handed
//! back to what Git declares (the apex Service kept and pointed at the target's pods, the
//! primary, the other Services and the routes deleted, the Release last), as Flagger's
//! `revertOnDeletion` asks, without its outage; an app removed with its Canary leaves nothing
//! of its release.

use serde_json::{Value, json};

use super::safety::{remove, web_initialized};
use super::support::daemon::InProcess;
use super::support::erring_app;

fn release(d: &InProcess) -> Option<Value> {
    d.get("fledge.dev", "Release", "shop", "web")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_removed_from_git_hands_its_app_back_to_the_deployment_git_declares() {
    let (remote, _root, d) = web_initialized(2).await;
    let recorded = release(&d).unwrap()["spec"]["objects"].clone();
    for o in [
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-primary"}),
        json!({"apiVersion": "v1", "kind": "Service", "name": "web-canary"}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web-canary"}),
    ] {
        assert!(
            recorded.as_array().unwrap().contains(&o),
            "{o} not in {recorded}"
        );
    }
    assert_eq!(
        d.get("apps", "Deployment", "shop", "web").unwrap()["spec"]["replicas"],
        0
    );
    // The Deployment and its Ingress stay in Git; the Canary goes.
    let app = erring_app("web:1", "0", 2, None);
    let without = app.split("---\napiVersion: flagger.app").next().unwrap();
    remote.commit(&[("apps/web.yaml", without)], "web without its Canary");
    d.until("the Release deleted", |d| release(d).is_none())
        .await;
    let target = d.get("apps", "Deployment", "shop", "web").unwrap();
    assert_eq!(target["spec"]["replicas"], 1, "Git's replicas: {target}");
    let apex = d.get("", "Service", "shop", "web").unwrap();
    assert_eq!(apex["spec"]["selector"], json!({"app": "web"}), "{apex}");
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_none());
    assert!(d.get("", "Service", "shop", "web-primary").is_none());
    assert!(d.get("", "Service", "shop", "web-canary").is_none());
    assert!(
        d.get("networking.k8s.io", "Ingress", "shop", "web-canary")
            .is_none()
    );
    assert!(
        d.get("networking.k8s.io", "Ingress", "shop", "web")
            .is_some()
    );
    assert!(!d.shared.releases().contains_key("shop/web"));
    // Later rounds change nothing: the app is Git's Deployment behind the Service.
    d.rounds(3).await;
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_none());
    assert_eq!(
        d.get("", "Service", "shop", "web").unwrap()["spec"]["selector"],
        json!({"app": "web"})
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_removed_with_its_canary_leaves_nothing_of_its_release() {
    let (remote, _root, d) = web_initialized(2).await;
    remove(&remote, &["apps/web.yaml"], "Remove web");
    d.until("the Release deleted", |d| release(d).is_none())
        .await;
    for (group, kind, name) in [
        ("apps", "Deployment", "web"),
        ("apps", "Deployment", "web-primary"),
        ("", "Service", "web"),
        ("", "Service", "web-primary"),
        ("", "Service", "web-canary"),
        ("networking.k8s.io", "Ingress", "web"),
        ("networking.k8s.io", "Ingress", "web-canary"),
    ] {
        assert!(d.get(group, kind, "shop", name).is_none(), "{kind} {name}");
    }
    assert!(d.get("", "Namespace", "", "shop").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_broken_in_git_is_held_not_handed_back() {
    let (remote, _root, d) = web_initialized(2).await;
    let broken = erring_app("web:1", "0", 2, None).replace("stepWeight: 20", "stepWieght: 20");
    remote.commit(&[("apps/web.yaml", &broken)], "A typo in the Canary");
    d.until("held", |d| {
        d.shared
            .releases()
            .get("shop/web")
            .is_some_and(|v| v.message.contains("held"))
    })
    .await;
    d.rounds(3).await;
    assert!(release(&d).is_some());
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_some());
    assert_eq!(
        d.get("", "Service", "shop", "web").unwrap()["spec"]["selector"],
        json!({"app": "web-primary"})
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_canary_takes_over_the_app_and_the_old_release_only_loses_its_release() {
    let (remote, _root, d) = web_initialized(2).await;
    let renamed = erring_app("web:1", "0", 2, None).replace(
        "kind: Canary\nmetadata: {name: web,",
        "kind: Canary\nmetadata: {name: shop-web,",
    );
    remote.commit(&[("apps/web.yaml", &renamed)], "Rename the Canary");
    d.until("the old Release deleted", |d| release(d).is_none())
        .await;
    d.until_phase("shop/shop-web", "Initialized").await;
    // The primary, the Services and the routes are the new release's: they stay.
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_some());
    assert_eq!(
        d.get("", "Service", "shop", "web").unwrap()["spec"]["selector"],
        json!({"app": "web-primary"})
    );
    assert!(
        d.get("networking.k8s.io", "Ingress", "shop", "web-canary")
            .is_some()
    );
    assert_eq!(
        d.get("apps", "Deployment", "shop", "web").unwrap()["spec"]["replicas"],
        0
    );
    d.stop().await;
}
