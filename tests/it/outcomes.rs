//! The outcome writer against real Git: a revert that conflicts with a person's later change is
//! not committed, and a person is alerted once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fledge::daemon::config::OutcomeConfig;
use fledge::daemon::outcomes::Writer;
use fledge::daemon::{Clock, Context, World};
use fledge::release::spec::Provider;
use fledge::release::state::Promotion;
use fledge::release::{Phase, ReleaseState};
use fledge::report::alerts::Target;
use fledge::revision::HashKey;
use fledge::rollout::targets;
use fledge::writeback::WriterConfig;

use super::support::git::{Remote, git};

/// An outcome writer to `remote`'s `main` that writes reverts, and promotion records when
/// `promotions`; its alerts come out of the receiver.
fn writer(
    remote: &Remote,
    cache: &std::path::Path,
    promotions: bool,
) -> (
    Writer,
    tokio::sync::mpsc::Receiver<fledge::daemon::Outgoing>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let target = Target {
        kind: "generic".into(),
        address: "http://127.0.0.1:1".into(),
        token: None,
        channel: "c".into(),
        username: "u".into(),
        proxy: None,
    };
    let mut cfg = WriterConfig::new(&remote.url(), cache.to_path_buf());
    cfg.max_attempts = 2;
    let oc = OutcomeConfig {
        writer: cfg,
        branch: "main".into(),
        status_branch: None,
        notes: false,
        promotions,
        reverts: true,
        coalesce: Duration::ZERO,
    };
    let ctx = Context {
        path: String::new(),
        provider: Provider::Istio,
        ingress_class: None,
        key: HashKey::offline(),
        env: fledge::rollout::targets::BuildEnv::default(),
        further: Arc::new(fledge::daemon::repositories::Further::new(
            Arc::new(fledge::rollout::targets::NoCluster),
            cache.join("repositories"),
        )),
        shared: Arc::default(),
        alerts: tx,
        global_alerts: vec![target],
        clock: Clock::new(1.0),
    };
    (Writer::new(oc, ctx).unwrap(), rx)
}

/// The release `shop/web` of `app.yaml` at commit `c` of `remote`.
fn release_at(remote: &Remote, c: &str) -> fledge::release::ReleaseTarget {
    let text = remote.show(c, "app.yaml").unwrap();
    let objs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    targets::split(&objs, c, &Provider::Istio, &HashKey::offline())
        .releases
        .remove("shop/web")
        .unwrap()
}

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
    let render = |c: &str| release_at(&remote, c);
    let (t1, t3) = (render(&c1), render(&c3));
    assert_eq!(
        render(&c2).revision,
        t3.revision,
        "the comment changes no revision"
    );
    let cache = tempfile::tempdir().unwrap();
    let state = ReleaseState {
        phase: Phase::Failed,
        canary_revision: Some(t3.revision.id.clone()),
        primary_revision: Some(t1.revision.id.clone()),
        source_commit: Some(c2.as_str().into()),
        primary_commit: Some(c1.as_str().into()),
        message: "Canary analysis failed".into(),
        ..ReleaseState::default()
    };
    let (mut w, mut rx) = writer(&remote, cache.path(), false);
    let world = World {
        commit: Some(c3.as_str().into()),
        sync: fledge::daemon::shared::SyncStatus::default(),
        releases: BTreeMap::from([(t3.spec.key(), (Arc::new(t3), state))]),
        ..World::default()
    };
    w.flush(&world).await.unwrap();
    // The revert is not committed; the failure is recorded (image automation must not propose
    // the failed images again while a person sorts the conflict out).
    let head = remote.head();
    assert_eq!(
        git(&remote.bare(), &["rev-parse", &format!("{head}~1")]).trim(),
        c3,
        "one commit on top of the failed one"
    );
    let record = remote
        .show("main", ".fledge/failed/shop/web.yaml")
        .expect("the failure record");
    assert!(record.contains("release: shop/web"), "{record}");
    assert_eq!(
        remote.show("main", "app.yaml"),
        remote.show(&c3, "app.yaml")
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

#[tokio::test]
async fn a_promotion_not_recorded_before_the_next_rollout_began_is_still_recorded() {
    let remote = Remote::new();
    let c1 = remote.commit(&[("app.yaml", &app("web:1", ""))], "web 1");
    let c2 = remote.commit(&[("app.yaml", &app("web:2", ""))], "web 2");
    let target = |c: &str| release_at(&remote, c);
    let (t1, t2) = (target(&c1), target(&c2));
    // web 1 was promoted; fledge stopped before it wrote the record, and web 2 is under analysis.
    let state = ReleaseState {
        phase: Phase::Progressing,
        canary_revision: Some(t2.revision.id.clone()),
        primary_revision: Some(t1.revision.id.clone()),
        source_commit: Some(c2.as_str().into()),
        primary_commit: Some(c1.as_str().into()),
        promotion: Some(Promotion {
            revision: t1.revision.id.clone(),
            source_commit: Some(c1.as_str().into()),
            images: fledge::writeback::record::images(&t1.target),
            promoted_at: 1_700_000_000,
            fast_rollback: false,
        }),
        ..ReleaseState::default()
    };
    let cache = tempfile::tempdir().unwrap();
    let (mut w, _alerts) = writer(&remote, cache.path(), true);
    let world = World {
        commit: Some(c2.as_str().into()),
        sync: fledge::daemon::shared::SyncStatus::default(),
        releases: BTreeMap::from([(t2.spec.key(), (Arc::new(t2), state))]),
        ..World::default()
    };
    w.flush(&world).await.unwrap();
    let record = remote
        .show("main", ".fledge/promoted/shop/web.yaml")
        .expect("the record of web 1");
    assert!(record.contains("image: web:1"), "{record}");
    assert!(record.contains(&c1), "{record}");
    // Written once: the same promotion makes no further commit.
    let head = remote.head();
    w.flush(&world).await.unwrap();
    assert_eq!(remote.head(), head);
}
