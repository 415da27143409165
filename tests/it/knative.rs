//! The knative provider on the simulated cluster, end to end: a Knative Service and its Canary
//! from a repository, initialised, a good revision promoted and a failing one rolled back, with
//! the Knative Service's traffic, its primary-revision annotation and the built-in checks
//! (computed from the traffic each revision receives) as Flagger's knative router and
//! KnativeController leave them.

use fledge::cluster::Cluster as _;
use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;
use serde_json::{Value, json};

const PRIMARY: &str = "flagger.app/primary-revision";

fn canary() -> Value {
    json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
           "metadata": {"name": "web", "namespace": "prod"},
           "spec": {"provider": "knative",
                    "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "web"},
                    "progressDeadlineSeconds": 60,
                    "analysis": {"interval": "15s", "threshold": 3, "maxWeight": 40, "stepWeight": 20,
                                 "metrics": [
                                     {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                                     {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "1m"}]}}})
}

/// The repository: the Canary, its Knative Service (with a traffic block of its own, which the
/// rollout replaces), a ConfigMap it reads and a core Service that shares its name.
fn repository(image: &str, error_rate: &str) -> Vec<Value> {
    vec![
        canary(),
        json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"template": {"metadata": {"annotations": {"sim.fledge.dev/error-rate": error_rate}},
                                     "spec": {"containers": [{"image": image, "ports": [{"containerPort": 8080}],
                                                              "envFrom": [{"configMapRef": {"name": "settings"}}]}]}},
                        "traffic": [{"latestRevision": true, "percent": 100}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "prod"},
               "data": {"a": image}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"selector": {"app": "legacy"}, "ports": [{"port": 80}]}}),
    ]
}

fn target(image: &str, error_rate: &str) -> fledge::release::ReleaseTarget {
    let d = fledge::rollout::targets::split(
        &repository(image, error_rate),
        &format!("commit-{image}"),
        &Provider::Istio,
        &HashKey::offline(),
    );
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    // Only the Knative Service is the rollout's: the core Service of the same name stays plain.
    let owned: Vec<String> = d.owned.iter().map(ToString::to_string).collect();
    assert_eq!(owned.len(), 1, "{owned:?}");
    assert!(owned[0].contains("serving.knative.dev"), "{owned:?}");
    assert!(
        d.plain
            .iter()
            .any(|o| o["kind"] == "Service" && o["apiVersion"] == "v1")
    );
    d.releases.into_values().next().unwrap()
}

struct Run {
    exec: fledge::rollout::executor::Executor<
        fledge::cluster::SimHandle,
        fledge::analysis::sim::SimMetrics,
    >,
    clock: i64,
}

impl Run {
    fn new() -> Self {
        let sim = fledge::cluster::SimHandle::new(fledge::cluster::sim::SimCluster::new(
            std::time::Duration::ZERO,
        ));
        let metrics = fledge::analysis::sim::SimMetrics::new(sim.sim.clone());
        Self {
            exec: fledge::rollout::executor::Executor {
                cluster: sim,
                metrics,
                webhooks: fledge::analysis::webhooks::Webhooks::new(
                    std::time::Duration::from_millis(10),
                ),
                templates: std::collections::BTreeMap::new(),
                promoted_window: 10,
                owner: None,
            },
            clock: 0,
        }
    }

    /// One analysis interval: the simulated controllers and traffic, then a tick.
    async fn tick(
        &mut self,
        t: &fledge::release::ReleaseTarget,
    ) -> fledge::rollout::executor::TickReport {
        self.clock += 15;
        self.exec
            .cluster
            .sim
            .lock()
            .unwrap()
            .tick(std::time::Duration::from_secs(self.clock.unsigned_abs()))
            .unwrap();
        self.exec.tick(t, self.clock).await.unwrap()
    }

    async fn until(
        &mut self,
        t: &fledge::release::ReleaseTarget,
        phases: &[Phase],
        mut each: impl FnMut(&fledge::rollout::executor::TickReport, &Value),
    ) -> fledge::rollout::executor::TickReport {
        for _ in 0..60 {
            let r = self.tick(t).await;
            each(&r, &self.ksvc().await);
            if phases.contains(&r.state.phase) {
                return r;
            }
        }
        panic!("no {phases:?} after 60 ticks");
    }

    async fn ksvc(&self) -> Value {
        self.exec
            .cluster
            .get(&fledge::object::ObjectRef::new(
                "serving.knative.dev/v1",
                "Service",
                "prod",
                "web",
            ))
            .await
            .unwrap()
            .unwrap()
    }
}

fn split(latest: u64, primary: &str) -> Value {
    json!([{"latestRevision": true, "percent": latest},
           {"revisionName": primary, "percent": 100 - latest}])
}

#[tokio::test]
async fn knative_service_promotes_a_good_revision_and_rolls_back_a_failing_one() {
    // `plan` says Git's traffic block is replaced.
    let plans =
        fledge::rollout::plan::plan(&repository("web:1", "0"), &Provider::Istio, None).unwrap();
    assert_eq!(plans[0].provider, "knative");
    assert!(plans[0].problem.is_none(), "{:?}", plans[0].problem);
    assert!(
        plans[0].warnings.iter().any(|w| w.contains("spec.traffic")),
        "{:?}",
        plans[0].warnings
    );
    let mut run = Run::new();
    let first = target("web:1", "0");
    run.until(&first, &[Phase::Initialized], |_, _| {}).await;
    let s = run.ksvc().await;
    assert_eq!(s["metadata"]["annotations"][PRIMARY], "web-00001");
    assert_eq!(s["spec"]["traffic"], split(0, "web-00001"));
    // A ConfigMap change alone is no new revision (Knative's revisions are their templates).
    let same = target("web:1", "0");
    assert_eq!(same.revision.id, first.revision.id);

    // A good revision: progressive weights on the latest revision, then promoted.
    let good = target("web:2", "0");
    let mut weights = Vec::new();
    let mut values = Vec::new();
    let done = run
        .until(&good, &[Phase::Succeeded, Phase::Failed], |r, s| {
            let w = r.state.canary_weight;
            if r.state.phase == Phase::Progressing && w > 0 {
                assert_eq!(s["spec"]["traffic"], split(u64::from(w), "web-00001"));
                assert_eq!(s["metadata"]["annotations"][PRIMARY], "web-00001");
                weights.push(w);
            }
            values.extend(r.metrics.iter().map(|m| (m.name.clone(), m.value)));
        })
        .await;
    assert_eq!(done.state.phase, Phase::Succeeded, "{}", done.state.message);
    weights.dedup();
    assert_eq!(weights, [20, 40]);
    // The checks read the traffic the latest revision received: no errors, the simulated 50ms.
    assert!(
        values.contains(&("request-success-rate".to_owned(), 100.0)),
        "{values:?}"
    );
    assert!(
        values.contains(&("request-duration".to_owned(), 50.0)),
        "{values:?}"
    );
    run.tick(&good).await;
    let s = run.ksvc().await;
    assert_eq!(s["metadata"]["annotations"][PRIMARY], "web-00002");
    assert_eq!(s["spec"]["traffic"], split(0, "web-00002"));
    assert_eq!(s["status"]["traffic"][1]["revisionName"], "web-00002");
    assert_eq!(s["status"]["traffic"][1]["percent"], 100);

    // A revision failing half its requests: rolled back to the primary revision, even when the
    // Release status is lost during its analysis (recovered from the Knative Service's record
    // of its primary revision, not initialized again with the canary as the primary).
    let bad = target("web:3", "0.5");
    run.until(&bad, &[Phase::Progressing], |_, _| {}).await;
    let release = fledge::object::ObjectRef::new(
        fledge::keys::RELEASE_API_VERSION,
        fledge::keys::RELEASE_KIND,
        "prod",
        "web",
    );
    run.exec.cluster.delete(&release).await.unwrap();
    let r = run.tick(&bad).await;
    assert!(
        r.events.iter().any(|e| e.message.contains("was lost")),
        "{:?}",
        r.events
    );
    assert_eq!(r.state.primary_revision.as_ref(), Some(&good.revision.id));
    let s = run.ksvc().await;
    assert_eq!(s["metadata"]["annotations"][PRIMARY], "web-00002");
    let mut failing = Vec::new();
    let failed = run
        .until(&bad, &[Phase::Succeeded, Phase::Failed], |r, _| {
            failing.extend(
                r.metrics
                    .iter()
                    .filter(|m| m.name == "request-success-rate")
                    .map(|m| m.value),
            );
        })
        .await;
    assert_eq!(failed.state.phase, Phase::Failed);
    assert!(
        failing.iter().all(|v| (*v - 50.0).abs() < 1e-6),
        "{failing:?}"
    );
    assert!(!failing.is_empty());
    run.tick(&bad).await;
    let s = run.ksvc().await;
    assert_eq!(s["status"]["latestCreatedRevisionName"], "web-00003");
    assert_eq!(s["metadata"]["annotations"][PRIMARY], "web-00002");
    assert_eq!(s["spec"]["traffic"], split(0, "web-00002"));
    let routed = fledge::routing::knative::routed(&s);
    assert_eq!(routed, Some((100, 0)));
}

/// `{{ route }}` in Flagger's knative queries is the latest created revision.
#[test]
fn knative_builtin_queries_name_the_latest_created_revision() {
    let spec = fledge::release::parse_canary(&canary(), &Provider::Istio).unwrap();
    let none = std::collections::BTreeMap::new();
    let r = fledge::analysis::request_at(
        &spec,
        &spec.analysis.metrics[0],
        &none,
        &std::collections::BTreeMap::new(),
        Some("web-00003"),
    )
    .unwrap();
    assert!(
        r.query
            .contains(r#"envoy_cluster_upstream_rq{envoy_cluster_name=~"prod/web-00003",envoy_response_code!~"5.*"}[1m]"#),
        "{}",
        r.query
    );
}
