//! The outcome writer against real Git: a revert that conflicts with a person's later change is
//! not committed, and a person is alerted once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fledge::daemon::config::OutcomeConfig;
use fledge::daemon::outcomes::Writer;
use fledge::daemon::{Clock, Context, World};
use fledge::release::spec::Provider;
use fledge::release::{Phase, ReleaseState};
use fledge::report::alerts::Target;
use fledge::revision::HashKey;
use fledge::rollout::targets;
use fledge::writeback::WriterConfig;

use super::support::git::Remote;

fn app(image: &str, comment: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n{comment}          image: {image}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  service: {{port: 80}}\n  analysis: {{interval: 1m, threshold: 1, iterations: 2}}\n"
    )
}

#[tokio::test]
async fn a_conflicting_revert_is_not_committed_and_a_person_is_alerted() {
    let remote = Remote::new();
    let commit = |text: String, msg: &str| remote.commit(&[("app.yaml", &text)], msg);
    let c1 = commit(app("web:1", ""), "web 1");
    let c2 = commit(app("web:2", ""), "web 2");
    // A person edits the line next to the bad change; the rendered output is the same.
    let c3 = commit(
        app("web:2", "          # pinned by the payments team\n"),
        "comment",
    );
    let key = HashKey::offline();
    let render = |c: &str| {
        let text = remote.show(c, "app.yaml").unwrap();
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
        canary_revision: Some(t3.revision.id.clone()),
        primary_revision: Some(t1.revision.id.clone()),
        source_commit: Some(c2.as_str().into()),
        primary_commit: Some(c1.as_str().into()),
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
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = WriterConfig::new(&remote.url(), cache.path().to_path_buf());
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
    let ctx = Context {
        path: String::new(),
        provider: Provider::Istio,
        key: key.clone(),
        shared: Arc::default(),
        alerts: tx,
        global_alerts: vec![target],
        clock: Clock::new(1.0),
    };
    let mut w = Writer::new(oc, ctx).unwrap();
    let world = World {
        commit: Some(c3.as_str().into()),
        sync: fledge::daemon::shared::SyncStatus::default(),
        releases: BTreeMap::from([(t3.spec.key(), (Arc::new(t3), state))]),
    };
    w.flush(&world).await.unwrap();
    assert_eq!(remote.head(), c3, "nothing committed");
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
