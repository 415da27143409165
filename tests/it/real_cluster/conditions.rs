//! What programs read of a release on the real API server: the Release's `Ready` condition,
//! with its reason, as `kubectl wait --for=condition=Ready` (and Flux users' tooling) expects.

use super::{app, daemon, primary_image, scene};
use crate::support::git::Remote;

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_wait_for_the_ready_condition_follows_a_release() {
    let Some((c, ns, dir)) = scene("ready") else {
        return;
    };
    let remote = Remote::new();
    remote.commit(&[("app.yaml", &app(&ns, "web:1", false))], "web 1");
    let d = daemon(c, &remote, &ns, dir.path(), &[]);
    d.until("web", "the Release exists", |v| v["phase"].is_string())
        .await;
    let wait = |condition: &str, seconds: u32| {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args([
                "wait",
                &format!("--for=condition={condition}"),
                "release/web",
                "-n",
            ])
            .arg(&ns)
            .arg(format!("--timeout={seconds}s"))
            .output()
            .unwrap()
    };
    let reason = || {
        c.jsonpath(
            "release/web",
            &ns,
            "{.status.conditions[?(@.type==\"Ready\")].reason}",
        )
    };
    // Initialized: ready.
    assert!(wait("Ready", 60).status.success(), "{}", d.log());
    assert_eq!(reason(), "Initialized");
    // A canary that never gets ready: rolled back, not ready, and why.
    remote.commit(&[("app.yaml", &app(&ns, "web:3", true))], "web 3");
    let out = wait("Ready=False", 90);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert_eq!(reason(), "ProgressDeadline");
    // A good revision: ready again only once it is promoted.
    remote.commit(&[("app.yaml", &app(&ns, "web:2", false))], "web 2");
    d.until("web", "a new rollout", |v| v["phase"] != "Failed")
        .await;
    assert!(wait("Ready", 90).status.success(), "{}", d.log());
    assert_eq!(reason(), "Promoted");
    assert_eq!(primary_image(c, &ns), "web:2");
}
