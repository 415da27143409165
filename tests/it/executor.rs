//! The executor on the simulated cluster: a full rollout, a rollback, and a rollout
//! interrupted after every single cluster write and resumed by a fresh executor.

use std::collections::BTreeMap;
use std::time::Duration;

use fledge::analysis::webhooks::Webhooks;
use fledge::cluster::sim::SimCluster;
use fledge::cluster::{Cluster, SimHandle};
use fledge::object::{ObjectKey, ObjectRef, applyable};
use fledge::release::parse_canary;
use fledge::release::spec::Provider;
use fledge::release::{Phase, ReleaseState, ReleaseTarget};
use fledge::revision::{HashKey, revision};
use fledge::rollout::executor::Executor;
use serde_json::{Value, json};

use super::support::{Fixed, Recording, tick_until};

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": image,
                                          "envFrom": [{"configMapRef": {"name": "cfg"}}]}]}}}})
}

fn config() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "prod"}, "data": {"a": "1"}})
}

fn target(image: &str) -> ReleaseTarget {
    let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "nginx",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                 "service": {"port": 80},
                 "analysis": {"interval": "10s", "threshold": 2, "stepWeight": 50,
                              "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}]}}});
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    let d = deployment(image);
    let rev = revision(&d, &[config()], None, &HashKey::offline()).unwrap();
    ReleaseTarget {
        spec: parse_canary(&canary, &Provider::Istio).unwrap(),
        target: d,
        revision: rev,
        configs: vec![config()],
        autoscaler: None,
        ingress: Some(ingress),
        route: None,
        commit: Some(format!("commit-{image}").into()),
        known_good: false,
        primary_source: None,
    }
}

fn executor<C: Cluster>(cluster: C, value: f64) -> Executor<C, Fixed> {
    Executor {
        cluster,
        metrics: Fixed(value),
        webhooks: Webhooks::default(),
        templates: BTreeMap::new(),
        promoted_window: 10,
        owner: None,
    }
}

/// Runs ticks (the sim's controllers between them) until `done`, at most 100.
/// Ten seconds pass on the simulated cluster's clock.
fn advance(sim: &SimHandle, clock: &mut i64) {
    *clock += 10;
    sim.sim
        .lock()
        .unwrap()
        .tick(Duration::from_secs(clock.unsigned_abs()))
        .unwrap();
}

async fn run_until<C: Cluster>(
    sim: &SimHandle,
    exec: &mut Executor<C, Fixed>,
    t: &ReleaseTarget,
    clock: &mut i64,
    restart: &mut impl FnMut() -> Option<C>,
    done: impl Fn(&ReleaseState) -> bool,
) -> ReleaseState {
    for _ in 0..100 {
        advance(sim, clock);
        match exec.tick(t, *clock).await {
            Ok(r) if done(&r.state) => return r.state,
            Ok(r) => {
                if std::env::var_os("FLEDGE_DEBUG").is_some() {
                    eprintln!("{:?} {:?}", r.state.phase, r.events);
                }
            }
            Err(e) => {
                eprintln!("tick failed: {e:?}");
                // The daemon died mid-tick: a new one starts with nothing but the cluster.
                if let Some(c) = restart() {
                    *exec = executor(c, exec.metrics.0);
                }
            }
        }
    }
    panic!("no end state after 100 ticks: {:?}", exec.load(t, 0).await);
}

/// web:1 initialized on a new simulated cluster, with metrics answering `value`.
async fn initialized(value: f64) -> (SimHandle, Executor<SimHandle, Fixed>, i64) {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&[config()]).await.unwrap();
    let exec = executor(sim.clone(), value);
    let mut clock = 0;
    let s = tick_until(&sim, &exec, &target("web:1"), &mut clock, 100, |s| {
        s.phase == Phase::Initialized
    })
    .await;
    assert!(s.is_some(), "web:1 not initialized");
    (sim, exec, clock)
}

/// Every object, without what the server sets.
fn snapshot(sim: &SimHandle) -> Vec<(ObjectKey, Value)> {
    sim.sim
        .lock()
        .unwrap()
        .objects()
        .map(|(k, v)| {
            let mut out = applyable(&v);
            if k.kind == "Release" {
                out["status"] = json!({"phase": v["status"]["phase"]});
            }
            (k.clone(), out)
        })
        .collect()
}

async fn scenario(fail_at: usize) -> (ReleaseState, Vec<(ObjectKey, Value)>, usize) {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&[config()]).await.unwrap();
    let mut exec = executor(Recording::failing_at(sim.clone(), fail_at), 100.0);
    let mut restart = || Some(Recording::new(sim.clone()));
    let mut clock = 0;
    let v1 = target("web:1");
    run_until(&sim, &mut exec, &v1, &mut clock, &mut restart, |s| {
        s.phase == Phase::Initialized
    })
    .await;
    let v2 = target("web:2");
    let end = run_until(&sim, &mut exec, &v2, &mut clock, &mut restart, |s| {
        s.phase == Phase::Succeeded
    })
    .await;
    let writes = exec.cluster.writes();
    (end, snapshot(&sim), writes)
}

/// The state without times (a crashed tick delays everything after it).
fn comparable(mut s: ReleaseState) -> ReleaseState {
    s.last_transition_time = 0;
    for t in &mut s.history {
        t.time = 0;
    }
    if let Some(p) = &mut s.promotion {
        p.promoted_at = 0;
    }
    s
}

#[tokio::test]
async fn a_rollout_promotes_through_the_weights() {
    let (end, objects, _) = scenario(0).await;
    let v2 = target("web:2");
    assert_eq!(
        end.primary_revision.as_deref(),
        Some(v2.revision.id.0.as_str())
    );
    // The promotion, kept for its record in Git until the next one.
    let promotion = end.promotion.as_ref().expect("the promotion is kept");
    assert_eq!(promotion.revision, v2.revision.id);
    assert_eq!(promotion.images[0]["image"], "web:2");
    let get = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|(k, _)| k.kind == kind && k.name == name)
            .map_or_else(|| panic!("no {kind} {name}"), |(_, v)| v.clone())
    };
    let primary = get("Deployment", "web-primary");
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        "cfg-primary"
    );
    assert_eq!(get("Deployment", "web")["spec"]["replicas"], 0);
    assert_eq!(get("ConfigMap", "cfg-primary")["data"]["a"], "1");
    assert_eq!(
        get("Service", "web")["spec"]["selector"]["app"],
        "web-primary"
    );
    assert_eq!(
        get("Ingress", "web-canary")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "0"
    );
}

#[tokio::test]
async fn a_failing_analysis_rolls_back() {
    let (sim, exec, mut clock) = initialized(50.0).await;
    let mut weights = Vec::new();
    let v2 = target("web:2");
    let end = loop {
        advance(&sim, &mut clock);
        let r = exec.tick(&v2, clock).await.unwrap();
        weights.push(r.state.canary_weight);
        if r.state.phase == Phase::Failed {
            break r.state;
        }
    };
    assert_eq!(end.failed_checks, 2);
    assert_eq!(
        weights.iter().max(),
        Some(&50),
        "one step of traffic, then halted: {weights:?}"
    );
    let primary = in_prod(&sim, "Deployment", "web-primary").await;
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    let canary = in_prod(&sim, "Deployment", "web").await;
    assert_eq!(
        (
            canary["spec"]["replicas"].as_i64(),
            canary["spec"]["template"]["spec"]["containers"][0]["image"].as_str()
        ),
        (Some(0), Some("web:2"))
    );
    let ing = in_prod(&sim, "Ingress", "web-canary").await;
    assert_eq!(
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "0"
    );
    // Git still wants the failed revision: it is not retried.
    clock += 10;
    assert_eq!(
        exec.tick(&v2, clock).await.unwrap().state.phase,
        Phase::Failed
    );
}

#[tokio::test]
async fn interrupted_after_any_write_a_restarted_executor_ends_in_the_same_state() {
    let (want_state, want_objects, writes) = scenario(0).await;
    assert!(writes > 20, "{writes} writes");
    eprintln!("interrupting the scenario after each of its {writes} cluster writes");
    for k in 1..=writes {
        let (state, objects, _) = scenario(k).await;
        assert_eq!(
            comparable(state),
            comparable(want_state.clone()),
            "crash at write {k}"
        );
        assert_eq!(objects, want_objects, "crash at write {k}");
    }
}

#[tokio::test]
async fn gates_hold_the_rollout_and_post_rollout_and_event_hooks_hear_the_outcome() {
    use fledge::release::spec::{HookType, WebhookSpec};
    use std::sync::{Arc, Mutex};
    type Log = Arc<Mutex<Vec<Value>>>;
    let open = Arc::new(Mutex::new(false));
    let log: Log = Arc::default();
    let app =
        axum::Router::new()
            .route(
                "/gate",
                axum::routing::post(
                    |axum::extract::State((open, _)): axum::extract::State<(
                        Arc<Mutex<bool>>,
                        Log,
                    )>| async move {
                        if *open.lock().unwrap() {
                            axum::http::StatusCode::OK
                        } else {
                            axum::http::StatusCode::FORBIDDEN
                        }
                    },
                ),
            )
            .route(
                "/log",
                axum::routing::post(
                    |axum::extract::State((_, log)): axum::extract::State<(
                        Arc<Mutex<bool>>,
                        Log,
                    )>,
                     axum::Json(b): axum::Json<Value>| async move {
                        log.lock().unwrap().push(b);
                        axum::http::StatusCode::OK
                    },
                ),
            )
            .with_state((open.clone(), log.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    let hook = |name: &str, hook_type: HookType, path: &str| WebhookSpec {
        name: name.into(),
        hook_type,
        url: format!("{base}{path}"),
        timeout: Duration::from_secs(5),
        retries: 0,
        metadata: BTreeMap::new(),
        mute_alert: false,
        disable_tls: false,
    };
    let (sim, mut exec, mut clock) = initialized(100.0).await;
    let mut never = || None;
    let mut v2 = target("web:2");
    v2.spec.analysis.webhooks = vec![
        hook("approval", HookType::ConfirmRollout, "/gate"),
        hook("notify", HookType::PostRollout, "/log"),
        hook("events", HookType::Event, "/log"),
    ];
    for _ in 0..3 {
        clock += 10;
        let r = exec.tick(&v2, clock).await.unwrap();
        assert_eq!(r.state.phase, Phase::Waiting);
    }
    let canary = in_prod(&sim, "Deployment", "web").await;
    assert_eq!(
        canary["spec"]["replicas"], 0,
        "a closed gate keeps the canary down"
    );
    *open.lock().unwrap() = true;
    let end = run_until(&sim, &mut exec, &v2, &mut clock, &mut never, |s| {
        s.phase == Phase::Succeeded
    })
    .await;
    assert_eq!(
        end.primary_revision.as_deref(),
        Some(v2.revision.id.0.as_str())
    );
    let log = log.lock().unwrap();
    let post: Vec<&Value> = log.iter().filter(|b| b.get("metadata").is_none()).collect();
    assert_eq!(post.len(), 1, "{log:#?}");
    assert_eq!(post[0]["phase"], "Succeeded");
    assert_eq!(post[0]["checksum"], v2.revision.id.0.as_str());
    let events: Vec<&str> = log
        .iter()
        .filter_map(|b| b["metadata"]["eventMessage"].as_str())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Halt web.prod advancement waiting for approval approval")),
        "{events:?}"
    );
    assert!(
        events.contains(&"Promotion completed! Scaling down web.prod"),
        "{events:?}"
    );
    assert!(
        log.iter()
            .filter(|b| b.get("metadata").is_some())
            .all(|b| b["metadata"]["timestamp"].is_string())
    );
}

#[tokio::test]
async fn the_plan_preview_is_what_the_executor_applies() {
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 4}});
    for (provider, with_hpa) in [
        (Provider::Nginx, false),
        (Provider::Istio, true),
        (Provider::Kubernetes, false),
        (Provider::GatewayApi("v1".into()), true),
    ] {
        let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
        sim.apply(&[config()]).await.unwrap();
        let mut t = target("web:1");
        t.spec.provider = provider.clone();
        if with_hpa {
            t.spec.autoscaler = Some(fledge::release::spec::ObjectRef {
                api_version: "autoscaling/v2".into(),
                kind: "HorizontalPodAutoscaler".into(),
                name: "web".into(),
                namespace: None,
            });
            t.autoscaler = Some(hpa.clone());
        }
        let mut exec = executor(Recording::new(sim.clone()), 100.0);
        let mut clock = 0;
        run_until(&sim, &mut exec, &t, &mut clock, &mut || None, |s| {
            s.phase == Phase::Initialized
        })
        .await;
        // A tick at the settled state: what the executor brings the cluster to at weight 0.
        let r = exec.tick(&t, clock + 10).await.unwrap();
        assert_eq!(r.state.phase, Phase::Initialized);
        assert_eq!(r.state.canary_weight, 0);
        let applied = exec.cluster.last_applied();
        let preview = fledge::rollout::plan::preview(&t, None).unwrap();
        assert!(!preview.is_empty());
        assert_eq!(applied, preview, "{provider}");
    }
}

/// The object `kind/name` in namespace `prod` (`kind` one of the kinds these tests write),
/// which must exist.
async fn in_prod(sim: &SimHandle, kind: &str, name: &str) -> Value {
    let api = match kind {
        "Deployment" => "apps/v1",
        "Ingress" => "networking.k8s.io/v1",
        "Release" => "fledge.dev/v1alpha1",
        other => panic!("no API version known for {other}"),
    };
    sim.get(&ObjectRef::new(api, kind, "prod", name))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{kind} prod/{name} exists"))
}

/// The image the primary's pod template runs.
async fn primary_image(sim: &SimHandle) -> Value {
    in_prod(sim, "Deployment", "web-primary").await["spec"]["template"]["spec"]["containers"][0]
        ["image"]
        .clone()
}

#[tokio::test]
async fn a_release_status_lost_mid_rollout_never_promotes_the_unanalysed_canary() {
    let (sim, exec, mut clock) = initialized(100.0).await;
    let v2 = target("web:2");
    let at_half = tick_until(&sim, &exec, &v2, &mut clock, 20, |s| s.canary_weight == 50).await;
    assert!(at_half.is_some(), "web:2 never reached 50%");
    // `kubectl delete release web`.
    sim.delete(&ObjectRef::new(
        "fledge.dev/v1alpha1",
        "Release",
        "prod",
        "web",
    ))
    .await
    .unwrap();
    clock += 10;
    let r = exec.tick(&v2, clock).await.unwrap();
    assert_eq!(primary_image(&sim).await, "web:1", "promoted unanalysed");
    assert_eq!(
        (r.state.phase, r.state.canary_weight, r.state.failed_checks),
        (Phase::Progressing, 0, 0),
        "the analysis starts again from the beginning"
    );
    assert_eq!(
        r.state.primary_revision.as_deref(),
        Some(target("web:1").revision.id.0.as_str())
    );
    let warning = r
        .events
        .iter()
        .find(|e| e.message.contains("was lost"))
        .unwrap_or_else(|| panic!("{:?}", r.events));
    assert!(warning.alert.is_some());
    // And it is analysed step by step to the end, as if nothing happened.
    let mut weights = Vec::new();
    for _ in 0..20 {
        advance(&sim, &mut clock);
        let s = exec.tick(&v2, clock).await.unwrap().state;
        weights.push(s.canary_weight);
        if s.phase == Phase::Succeeded {
            break;
        }
    }
    assert!(weights.contains(&50), "{weights:?}");
    assert_eq!(primary_image(&sim).await, "web:2");
}

#[tokio::test]
async fn a_state_written_with_the_previous_hashing_starts_no_rollout() {
    // A Deployment that tracks a Secret written with stringData: its revision id changed when
    // Secrets began to be hashed as the API server holds them.
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "creds", "namespace": "prod"}, "stringData": {"password": "hunter2"}});
    let mut t = target("web:1");
    t.target["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        .as_array_mut()
        .unwrap()
        .push(json!({"secretRef": {"name": "creds"}}));
    t.revision = revision(
        &t.target,
        &[config(), secret.clone()],
        None,
        &HashKey::offline(),
    )
    .unwrap();
    t.configs.push(secret.clone());
    let legacy = t
        .revision
        .legacy
        .clone()
        .expect("a legacy id for a stringData Secret");
    assert_ne!(legacy, t.revision.id);
    sim.apply(&[config(), secret]).await.unwrap();
    let exec = executor(sim.clone(), 100.0);
    let mut clock = 0;
    tick_until(&sim, &exec, &t, &mut clock, 100, |s| {
        s.phase == Phase::Initialized
    })
    .await
    .unwrap();
    // What the previous version left: its ids in the status and on the primary.
    let mut release = in_prod(&sim, "Release", "web").await;
    for f in ["canaryRevision", "primaryRevision"] {
        release["status"][f] = json!(legacy.0);
    }
    release["status"]["promoted"] = json!([legacy.0]);
    release["status"]
        .as_object_mut()
        .unwrap()
        .remove("revisionScheme");
    sim.apply_status(&release).await.unwrap();
    let mut primary = applyable(&in_prod(&sim, "Deployment", "web-primary").await);
    primary["metadata"]["annotations"]["fledge.dev/revision"] = json!(legacy.0);
    sim.apply(&[primary]).await.unwrap();
    let before = in_prod(&sim, "Deployment", "web-primary").await;
    // The upgraded executor: no release moves, the ids are migrated, the pods stay.
    for _ in 0..5 {
        clock += 10;
        let r = exec.tick(&t, clock).await.unwrap();
        assert_eq!(r.state.phase, Phase::Initialized, "{:?}", r.events);
        assert_eq!(r.state.canary_revision.as_ref(), Some(&t.revision.id));
        assert_eq!(r.state.primary_revision.as_ref(), Some(&t.revision.id));
        assert_eq!(r.state.revision_scheme, fledge::revision::SCHEME);
    }
    let after = in_prod(&sim, "Deployment", "web-primary").await;
    assert_eq!(
        after["spec"]["template"], before["spec"]["template"],
        "the primary's pods roll"
    );
    assert_eq!(
        after["metadata"]["annotations"]["fledge.dev/revision"],
        t.revision.id.0.as_str()
    );
}

/// With the Gateway API, a rollout holds while a Gateway has not accepted the HTTPRoute at its
/// generation (the tick fails, saying which parent and why, and the weight stays), and goes on
/// once it has, as Flagger's router waits before it shifts traffic.
#[tokio::test]
async fn a_gateway_api_rollout_waits_for_the_gateway_to_accept_its_route() {
    let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
    sim.apply(&[config()]).await.unwrap();
    let gateway_target = |image: &str| {
        let mut t = target(image);
        t.spec.provider = Provider::GatewayApi("v1".into());
        t.spec.service.raw["gatewayRefs"] = json!([{"name": "gw", "namespace": "gateways"}]);
        t.ingress = None;
        t.spec.ingress = None;
        t
    };
    let exec = executor(sim.clone(), 100.0);
    let mut clock = 0;
    let first = gateway_target("web:1");
    let init = tick_until(&sim, &exec, &first, &mut clock, 20, |s| {
        s.phase == Phase::Initialized
    })
    .await;
    assert!(init.is_some(), "not initialized");
    let key = ObjectKey {
        group: "gateway.networking.k8s.io".into(),
        kind: "HTTPRoute".into(),
        namespace: "prod".into(),
        name: "web".into(),
    };
    let route = sim
        .get(&ObjectRef::new(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "prod",
            "web",
        ))
        .await
        .unwrap()
        .unwrap();
    let generation = route["metadata"]["generation"].as_i64().unwrap_or(1);
    let status = |accepted: &str| {
        json!({"parents": [{"parentRef": route["spec"]["parentRefs"][0], "controllerName": "example.com/gateway",
            "conditions": [{"type": "Accepted", "status": accepted, "reason": "NotAllowedByListeners",
                            "message": "no listener allows routes from prod",
                            "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]})
    };
    sim.sim
        .lock()
        .unwrap()
        .write_status(&key, status("False"))
        .unwrap();
    let second = gateway_target("web:2");
    for _ in 0..5 {
        advance(&sim, &mut clock);
        let e = exec.tick(&second, clock).await.unwrap_err();
        assert_eq!(e.reason(), "Waiting");
        assert!(
            e.to_string().contains("parent gw has not accepted it")
                && e.to_string()
                    .contains("no listener allows routes from prod"),
            "{e}"
        );
    }
    let held = exec.load(&second, clock).await.unwrap().state;
    assert_eq!(held.canary_weight, 0, "{held:?}");
    assert_ne!(held.phase, Phase::Progressing, "{held:?}");
    sim.sim
        .lock()
        .unwrap()
        .write_status(&key, status("True"))
        .unwrap();
    let moved = tick_until(&sim, &exec, &second, &mut clock, 10, |s| {
        s.canary_weight > 0
    })
    .await;
    assert!(moved.is_some(), "the weight never moved once accepted");
}
