use std::path::Path;
use std::process::Command;

use super::*;
use crate::writeback::WriterConfig;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Pat", "-c", "user.email=pat@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn app(image: &str, comment: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n{comment}          image: {image}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  service: {{port: 80}}\n  analysis: {{interval: 1m, threshold: 1, iterations: 2}}\n"
    )
}

#[tokio::test]
async fn a_conflicting_revert_is_not_committed_and_a_person_is_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(root, &["clone", "-q", "origin.git", "work"]);
    let work = root.join("work");
    git(&work, &["checkout", "-q", "-b", "main"]);
    let commit = |text: String, msg: &str| {
        std::fs::write(work.join("app.yaml"), text).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", msg]);
        git(&work, &["rev-parse", "HEAD"])
    };
    let c1 = commit(app("web:1", ""), "web 1");
    let c2 = commit(app("web:2", ""), "web 2");
    // A person edits the line next to the bad change; the rendered output is the same.
    let c3 = commit(
        app("web:2", "          # pinned by the payments team\n"),
        "comment",
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let key = HashKey::offline();
    let render = |c: &str| {
        let text = git(&work, &["show", &format!("{c}:app.yaml")]);
        let objs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        targets::split(&objs, c, &Provider::Istio, &key)
            .releases
            .remove("shop/web")
            .unwrap()
    };
    let (t1, t3) = (render(&c1), render(&c3));
    assert_eq!(
        render(&c2).revision,
        t3.revision,
        "the comment changes no revision"
    );
    let state = ReleaseState {
        phase: Phase::Failed,
        canary_revision: Some(t3.revision.id.0.clone()),
        primary_revision: Some(t1.revision.id.0.clone()),
        source_commit: Some(c2.clone()),
        primary_commit: Some(c1.clone()),
        message: "Canary analysis failed".into(),
        ..ReleaseState::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let target = Target {
        kind: "generic".into(),
        address: "http://127.0.0.1:1".into(),
        token: None,
        channel: "c".into(),
        username: "u".into(),
        proxy: None,
    };
    let mut cfg = WriterConfig::new(
        &format!("file://{}", root.join("origin.git").display()),
        root.join("cache"),
    );
    cfg.max_attempts = 2;
    let oc = OutcomeConfig {
        writer: cfg,
        branch: "main".into(),
        status_branch: None,
        notes: false,
        promotions: false,
        reverts: true,
        coalesce: Duration::ZERO,
    };
    let mut w = Writer::new(
        oc,
        String::new(),
        Provider::Istio,
        key.clone(),
        Arc::default(),
        tx,
        vec![target],
    )
    .unwrap();
    let world = World {
        commit: Some(c3.clone()),
        releases: BTreeMap::from([("shop/web".to_owned(), (Arc::new(t3), state))]),
    };
    w.flush(&world).await.unwrap();
    assert_eq!(
        git(&root.join("origin.git"), &["rev-parse", "main"]),
        c3,
        "nothing committed"
    );
    let out = rx.try_recv().unwrap();
    assert!(
        out.alert.message.contains("a person must act"),
        "{}",
        out.alert.message
    );
    // Not tried again at every flush.
    w.flush(&world).await.unwrap();
    assert!(rx.try_recv().is_err());
}
