//! The simulator and the generated objects held to the real API server: every object fledge
//! generates passes the server's strict field validation (against the upstream CRDs of the
//! routing kinds), and a release taken through the same commits on the simulated cluster and on
//! the real one goes through the same phases with the same objects sent. (Admission limits are
//! compared in `admission`.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fledge::cluster::sim::SimCluster;
use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;
use serde_json::Value;

use super::{app, documents, install_release_crd, routing_crds};
use crate::repo_dir;
use crate::support::testcluster::or_skip;
use crate::support::{Fixed, Recording};

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_object_passes_strict_validation_on_the_real_api_server() {
    let Some(c) = or_skip() else { return };
    let kube = c.kube().await;
    // The upstream CRDs of the routing kinds, installed through fledge itself.
    let mut crds = routing_crds();
    crds.extend(documents(
        &repo_dir().join("deploy/crds/releases.fledge.dev.yaml"),
    ));
    kube.apply(&crds).await.unwrap();
    // The SMI TrafficSplit CRD that serves v1alpha1 and v1alpha2 (Linkerd's) serves no
    // v1alpha3; only one CRD of that name can be installed.
    let objects: Vec<Value> = crate::routing_schemas::generated_objects()
        .into_iter()
        .filter(|o| o["apiVersion"] != "split.smi-spec.io/v1alpha3")
        .collect();
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    for ns in namespaces {
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["create", "namespace", ns])
            .output();
    }
    let refs: Vec<&Value> = objects.iter().collect();
    eprintln!(
        "{} generated objects dry-run with fieldValidation=Strict",
        refs.len()
    );
    kube.dry_run(&refs)
        .await
        .unwrap_or_else(|e| panic!("the API server refused generated objects: {e}"));
}

/// The phases a release goes through (each once, in order) and the objects fledge applied to
/// reach them, driving the executor on `cluster` through three commits: web:1 initialized,
/// web:2 promoted, web:3 (never ready) rolled back. `settle` lets the cluster's controllers run
/// between ticks.
async fn scenario<C: fledge::cluster::Cluster>(
    cluster: Recording<C>,
    ns: &str,
    settle: impl AsyncFn(i64),
) -> (Vec<Phase>, BTreeMap<String, BTreeSet<String>>) {
    let exec = fledge::rollout::executor::Executor {
        cluster,
        metrics: Fixed(100.0),
        webhooks: fledge::analysis::webhooks::Webhooks::default(),
        templates: std::collections::BTreeMap::new(),
        promoted_window: 10,
        owner: None,
    };
    let mut phases: Vec<Phase> = Vec::new();
    let mut applied: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut clock = 0i64;
    for (image, unready, want) in [
        ("web:1", false, Phase::Initialized),
        ("web:2", false, Phase::Succeeded),
        ("web:3", true, Phase::Failed),
    ] {
        let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&app(ns, image, unready))
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let d = fledge::rollout::targets::split(
            &objects,
            image,
            &Provider::Kubernetes,
            &HashKey::offline(),
        );
        let t = &d.releases[format!("{ns}/web").as_str()];
        for _ in 0..60 {
            clock += 10;
            settle(clock).await;
            let state = exec.tick(t, clock).await.unwrap().state;
            for o in exec.cluster.last_applied() {
                applied
                    .entry(format!(
                        "{} {}",
                        o["kind"].as_str().unwrap(),
                        o["metadata"]["name"].as_str().unwrap()
                    ))
                    .or_default()
                    .insert(serde_json::to_string_pretty(&o).unwrap());
            }
            if phases.last() != Some(&state.phase) {
                phases.push(state.phase);
            }
            if state.phase == want {
                break;
            }
        }
        assert_eq!(phases.last(), Some(&want), "{phases:?}");
    }
    (phases, applied)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_and_the_real_server_take_a_release_through_the_same_phases_and_objects() {
    let Some(c) = or_skip() else { return };
    install_release_crd(c);
    let ns = c.namespace("honest");
    let sim = fledge::cluster::SimHandle::new(SimCluster::new(Duration::ZERO));
    let sim_clock = sim.clone();
    let on_sim = scenario(Recording::new(sim), &ns, async move |clock: i64| {
        sim_clock
            .sim
            .lock()
            .unwrap()
            .tick(Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
    })
    .await;
    // The real controllers run in real time: a short pause between ticks, and the progress
    // deadline (5 s) passes in real seconds.
    let on_kube = scenario(Recording::new(c.kube().await), &ns, async |_| {
        tokio::time::sleep(Duration::from_millis(700)).await;
    })
    .await;
    assert_eq!(on_sim.0, on_kube.0, "phases: simulated, real");
    assert_eq!(
        on_sim.1.keys().collect::<Vec<_>>(),
        on_kube.1.keys().collect::<Vec<_>>(),
        "objects applied: simulated, real"
    );
    // What fledge sent for each object, every distinct version of it over the scenario.
    for (object, sent) in &on_sim.1 {
        let real = &on_kube.1[object];
        let only_sim: Vec<_> = sent.difference(real).collect();
        let only_real: Vec<_> = real.difference(sent).collect();
        assert!(
            only_sim.is_empty() && only_real.is_empty(),
            "{object}: sent only to the simulator:\n{}\nsent only to the real server:\n{}",
            only_sim
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            only_real
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}
