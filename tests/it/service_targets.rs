//! Core Service targets (`targetRef` `v1` `Service`) on the simulated cluster, as Flagger's
//! ServiceController runs them: no workload, `<target>-canary` a copy of the target as Git has
//! it, `<target>-primary` a copy of it at the revision the primary serves, the routes between
//! them; a good spec promoted, a failing one rolled back.

use fledge::cluster::Cluster as _;
use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;
use serde_json::{Value, json};

/// Every check passes while `good`, else the success rate is half.
struct Scripted {
    good: bool,
}

impl fledge::analysis::MetricSource for Scripted {
    async fn query(
        &self,
        r: &fledge::analysis::MetricRequest<'_>,
    ) -> Result<f64, fledge::analysis::MetricError> {
        // Flagger's `:service` metrics provider falls back to Istio's queries.
        assert!(
            r.query.contains("istio_requests_total") || r.query.contains("istio_request_duration"),
            "{}",
            r.query
        );
        Ok(match (r.metric.name.as_str(), self.good) {
            ("request-success-rate", true) => 100.0,
            ("request-success-rate", false) => 50.0,
            _ => 20.0,
        })
    }
}

/// The repository: a Service `web` selecting the pods of `app`, with its Canary.
fn target(app: &str) -> fledge::release::ReleaseTarget {
    let objects = vec![
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
               "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"provider": "istio",
                        "targetRef": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                        "service": {"port": 80, "trafficDistribution": "PreferClose"},
                        "analysis": {"interval": "15s", "threshold": 2, "maxWeight": 50, "stepWeight": 25,
                                     "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                                                 {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "1m"}]}}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "prod", "labels": {"team": "a"}},
               "spec": {"type": "NodePort", "selector": {"app": app},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}}),
    ];
    let d = fledge::rollout::targets::split(&objects, app, &Provider::Istio, &HashKey::offline());
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let plans = fledge::rollout::plan::plan(&objects, &Provider::Istio, None).unwrap();
    assert!(plans[0].problem.is_none(), "{:?}", plans[0].problem);
    d.releases.into_values().next().unwrap()
}

async fn run_to(
    exec: &fledge::rollout::executor::Executor<fledge::cluster::SimHandle, Scripted>,
    t: &fledge::release::ReleaseTarget,
    clock: &mut i64,
    until: &[Phase],
    mut each: impl FnMut(&fledge::rollout::executor::TickReport),
) -> Phase {
    for _ in 0..40 {
        *clock += 15;
        exec.cluster
            .sim
            .lock()
            .unwrap()
            .tick(std::time::Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
        let r = exec.tick(t, *clock).await.unwrap();
        each(&r);
        if until.contains(&r.state.phase) {
            return r.state.phase;
        }
    }
    panic!("no {until:?} after 40 ticks");
}

async fn get(
    exec: &fledge::rollout::executor::Executor<fledge::cluster::SimHandle, Scripted>,
    api: &str,
    kind: &str,
    name: &str,
) -> Value {
    exec.cluster
        .get(&fledge::object::ObjectRef::new(api, kind, "prod", name))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The primary's and the canary's weights in the VirtualService (the primary's first).
async fn weights_of(
    exec: &fledge::rollout::executor::Executor<fledge::cluster::SimHandle, Scripted>,
) -> (Option<i64>, Option<i64>) {
    let vs = get(exec, "networking.istio.io/v1beta1", "VirtualService", "web").await;
    let route = &vs["spec"]["http"][0]["route"];
    assert_eq!(route[0]["destination"]["host"], "web-primary");
    (route[0]["weight"].as_i64(), route[1]["weight"].as_i64())
}

#[tokio::test]
async fn a_service_target_promotes_a_good_spec_and_rolls_back_a_failing_one() {
    let sim = fledge::cluster::SimHandle::new(fledge::cluster::sim::SimCluster::new(
        std::time::Duration::ZERO,
    ));
    let exec = |good| fledge::rollout::executor::Executor {
        cluster: sim.clone(),
        metrics: Scripted { good },
        webhooks: fledge::analysis::webhooks::Webhooks::new(std::time::Duration::from_millis(10)),
        templates: std::collections::BTreeMap::new(),
        promoted_window: 10,
        owner: None,
    };
    let selector = |s: &Value| s["spec"]["selector"]["app"].as_str().unwrap().to_owned();
    let mut clock = 0;
    let (good, bad) = (exec(true), exec(false));
    run_to(
        &good,
        &target("blue"),
        &mut clock,
        &[Phase::Initialized],
        |_| {},
    )
    .await;
    let primary = get(&good, "v1", "Service", "web-primary").await;
    let canary = get(&good, "v1", "Service", "web-canary").await;
    assert_eq!(selector(&primary), "blue");
    assert_eq!(selector(&canary), "blue");
    // Copies as Flagger's buildService makes them, without the node port the target holds.
    assert_eq!(primary["metadata"]["labels"]["team"], "a");
    assert_eq!(primary["spec"]["trafficDistribution"], "PreferClose");
    assert!(
        primary["spec"]["ports"][0].get("nodePort").is_none(),
        "{primary}"
    );
    // No Deployment of fledge's and no generated apex Service: the target is the user's.
    assert!(
        good.cluster
            .list("apps/v1", "Deployment", "prod")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(selector(&get(&good, "v1", "Service", "web").await), "blue");

    let green = target("green");
    let mut weights = Vec::new();
    let phase = run_to(
        &good,
        &green,
        &mut clock,
        &[Phase::Succeeded, Phase::Failed],
        |r| {
            if r.state.phase == Phase::Progressing {
                weights.push(r.state.canary_weight);
            }
        },
    )
    .await;
    assert_eq!(phase, Phase::Succeeded);
    assert!(
        weights.contains(&25) && weights.contains(&50),
        "{weights:?}"
    );
    run_to(&good, &green, &mut clock, &[Phase::Succeeded], |_| {}).await;
    assert_eq!(
        selector(&get(&good, "v1", "Service", "web-primary").await),
        "green"
    );
    assert_eq!(weights_of(&good).await, (Some(100), Some(0)));

    let red = target("red");
    let phase = run_to(
        &bad,
        &red,
        &mut clock,
        &[Phase::Succeeded, Phase::Failed],
        |_| {},
    )
    .await;
    assert_eq!(phase, Phase::Failed);
    run_to(&bad, &red, &mut clock, &[Phase::Failed], |_| {}).await;
    assert_eq!(
        selector(&get(&bad, "v1", "Service", "web-primary").await),
        "green"
    );
    assert_eq!(
        selector(&get(&bad, "v1", "Service", "web-canary").await),
        "red"
    );
    assert_eq!(weights_of(&bad).await, (Some(100), Some(0)));
}
