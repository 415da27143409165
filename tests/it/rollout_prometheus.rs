//! End to end with a real Prometheus (Debian's, on loopback) scraping the simulated cluster's
//! ingress-nginx metrics, in real time with short intervals: a healthy canary advances through
//! its weights and is promoted; a canary failing half its requests is rolled back after
//! `threshold` failed checks; with Prometheus stopped nothing is promoted and the reason says
//! the provider is unreachable.

use std::collections::BTreeMap;
use std::time::Duration;

use fledge::analysis::prometheus::Prometheus as PromClient;
use fledge::analysis::webhooks::Webhooks;
use fledge::cluster::SimHandle;
use fledge::cluster::sim::{SimCluster, metrics_router};
use fledge::release::ReleaseTarget;
use fledge::release::parse_canary;
use fledge::release::spec::Provider;
use fledge::release::state::{FailureKind, Phase};
use fledge::revision::{HashKey, revision};
use fledge::rollout::executor::{Executor, TickReport};
use serde_json::json;

use super::support::eventually;

fn target(ns: &str, image: &str, error_rate: &str) -> ReleaseTarget {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"provider": "nginx",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                 "service": {"port": 80},
                 "analysis": {"interval": "10s", "threshold": 2, "stepWeight": 25, "maxWeight": 50,
                              "metrics": [{"name": "request-success-rate", "interval": "10s", "thresholdRange": {"min": 99}}]}}});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"},
                                           "annotations": {"sim.fledge.dev/error-rate": error_rate}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}}});
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    let rev = revision(&deployment, &[], None, &HashKey::offline()).unwrap();
    ReleaseTarget {
        spec: parse_canary(&canary, &Provider::Istio).unwrap(),
        target: deployment,
        revision: rev,
        configs: Vec::new(),
        autoscaler: None,
        ingress: Some(ingress),
        route: None,
        commit: None,
        known_good: false,
        primary_source: None,
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Ticks every `every` until the phase is one of `until` (at most `max` ticks).
async fn run(
    exec: &Executor<SimHandle, PromClient>,
    t: &ReleaseTarget,
    every: Duration,
    max: usize,
    until: &[Phase],
) -> Vec<TickReport> {
    let mut reports = Vec::new();
    for _ in 0..max {
        let r = exec.tick(t, unix_now()).await.unwrap();
        let done = until.contains(&r.state.phase);
        reports.push(r);
        if done {
            return reports;
        }
        tokio::time::sleep(every).await;
    }
    // No end phase wanted: the ticks themselves are the result.
    if until.is_empty() {
        return reports;
    }
    panic!(
        "{}: no {until:?} after {max} ticks: {:#?}",
        t.spec.namespace,
        reports.last().map(|r| (&r.state, &r.events))
    );
}

#[tokio::test(flavor = "multi_thread")]
#[expect(
    clippy::too_many_lines,
    reason = "three rollouts against one real Prometheus, started once"
)]
async fn a_real_prometheus_drives_promotion_rollback_and_refuses_to_promote_blind() {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.sim.lock().unwrap().set_request_rate(200.0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(axum::serve(listener, metrics_router(sim.sim.clone())).into_future());
    let ticker = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                let now = sim.now();
                sim.sim.lock().unwrap().tick(now).unwrap();
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut prom, port) = super::prometheus::start(dir.path(), sim_port);
    let client = PromClient::new(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(2),
    );
    eventually(
        "Prometheus starts",
        Duration::from_secs(20),
        || async { client.online().await.is_ok() },
        |online| *online,
    )
    .await;
    let exec = Executor {
        cluster: sim.clone(),
        metrics: client,
        webhooks: Webhooks::default(),
        templates: BTreeMap::new(),
        promoted_window: 10,
        owner: None,
    };
    let every = Duration::from_secs(4);

    // Healthy: 25%, 50%, promotion.
    run(
        &exec,
        &target("pass", "web:1", "0"),
        Duration::from_millis(300),
        40,
        &[Phase::Initialized],
    )
    .await;
    let v2 = target("pass", "web:2", "0");
    let reports = run(&exec, &v2, every, 20, &[Phase::Succeeded, Phase::Failed]).await;
    let last = &reports.last().unwrap().state;
    assert_eq!(
        last.phase,
        Phase::Succeeded,
        "{:#?}",
        reports.iter().map(|r| &r.events).collect::<Vec<_>>()
    );
    let weights: Vec<u8> = reports.iter().map(|r| r.state.canary_weight).collect();
    assert!(
        weights.contains(&25) && weights.contains(&50),
        "{weights:?}"
    );
    assert!(
        reports
            .iter()
            .flat_map(|r| &r.metrics)
            .all(|m| m.value >= 99.0)
    );
    let primary = exec
        .cluster
        .sim
        .lock()
        .unwrap()
        .get(&fledge::object::ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "pass".into(),
            name: "web-primary".into(),
        })
        .unwrap();
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );

    // Half the canary's requests fail: halted at the first step, rolled back after 2 checks.
    run(
        &exec,
        &target("fail", "web:1", "0"),
        Duration::from_millis(300),
        40,
        &[Phase::Initialized],
    )
    .await;
    let bad = target("fail", "web:2", "0.5");
    let reports = run(&exec, &bad, every, 20, &[Phase::Succeeded, Phase::Failed]).await;
    let last = &reports.last().unwrap().state;
    assert_eq!(last.phase, Phase::Failed);
    assert_eq!(last.failed_checks, 2);
    assert!(
        last.message.contains("failed checks threshold reached 2"),
        "{}",
        last.message
    );
    assert_eq!(
        reports.iter().map(|r| r.state.canary_weight).max(),
        Some(25)
    );
    let failures: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.events)
        .filter_map(|e| e.failure)
        .collect();
    assert_eq!(
        failures,
        [FailureKind::OutOfRange, FailureKind::OutOfRange],
        "{:#?}",
        reports.iter().map(|r| &r.events).collect::<Vec<_>>()
    );
    let measured: Vec<f64> = reports
        .iter()
        .flat_map(|r| &r.metrics)
        .map(|m| m.value)
        .collect();
    assert!(
        measured.iter().all(|v| (40.0..=60.0).contains(v)),
        "success rates {measured:?}"
    );

    // Prometheus stopped: every check is unreachable; the canary neither promotes nor rolls
    // back (an unreachable provider says nothing about it), and the reason says why.
    run(
        &exec,
        &target("down", "web:1", "0"),
        Duration::from_millis(300),
        40,
        &[Phase::Initialized],
    )
    .await;
    prom.0.kill().unwrap();
    prom.0.wait().unwrap();
    let v2 = target("down", "web:2", "0");
    let reports = run(&exec, &v2, every / 4, 20, &[]).await;
    assert!(
        !reports
            .iter()
            .any(|r| matches!(r.state.phase, Phase::Succeeded | Phase::Failed))
    );
    let last = &reports.last().unwrap().state;
    assert_eq!(last.phase, Phase::Progressing);
    assert_eq!(last.failed_checks, 0);
    // Flagger's first step runs no metric; from the first halt on, the weight holds.
    let halted: Vec<u8> = reports
        .iter()
        .filter(|r| r.state.halted.is_some())
        .map(|r| r.state.canary_weight)
        .collect();
    assert!(halted.len() >= 2, "{halted:?}");
    assert!(halted.iter().all(|w| *w == halted[0]), "{halted:?}");
    assert!(
        last.halted
            .as_deref()
            .is_some_and(|h| h.contains("unreachable")),
        "{last:?}"
    );
    let events: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.events)
        .filter(|e| e.failure.is_some())
        .collect();
    assert!(events.len() >= 2, "{events:?}");
    for e in events {
        assert_eq!(e.failure, Some(FailureKind::Unreachable));
        assert!(e.message.contains("unreachable"), "{}", e.message);
    }
    // Alerted once, when the halt began.
    let alerts = reports
        .iter()
        .flat_map(|r| &r.events)
        .filter(|e| {
            e.alert
                .as_ref()
                .is_some_and(|(_, text)| text.starts_with("Rollout halted"))
        })
        .count();
    assert_eq!(alerts, 1);
    ticker.abort();
    server.abort();
}
