//! deploy/: every object passes `kubernetes-validate --strict`, the config file is one
//! `fledge run` accepts, and the ClusterRole `fledge` grants exactly the calls fledge makes for
//! its own work — derived here by recording every cluster call of full rollouts on each
//! supported provider, with sync's inventory, templates' Secrets and alert providers' Secrets,
//! and the watches of the kinds the daemon caches.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fledge::analysis::webhooks::Webhooks;
use fledge::cluster::sim::SimCluster;
use fledge::cluster::{Cluster, SimHandle};
use fledge::keys;
use fledge::object::{ObjectKey, ObjectRef};
use fledge::release::Phase;
use fledge::release::spec::Provider;
use fledge::revision::HashKey;
use fledge::rollout::executor::Executor;
use fledge::rollout::retire::{self, Retirement, Step};
use fledge::rollout::targets::Desired;
use serde_json::Value;

use super::repo_dir;
use super::support::{Calls, Fixed, Recording, ok, tick_until};

pub(crate) fn repo(provider: &str, image: &str) -> Vec<Value> {
    // Only the Gloo router reads an upstreamRef (others warn that it does nothing).
    let upstream_ref = if provider == "gloo" {
        "  upstreamRef: {apiVersion: gloo.solo.io/v1, kind: Upstream, name: web-config}\n"
    } else {
        ""
    };
    // App Mesh's v1beta1 objects name their mesh.
    let mesh = if provider == "appmesh" {
        ", meshName: global"
    } else {
        ""
    };
    let text = format!(
        r"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: {image}
          envFrom: [{{configMapRef: {{name: cfg}}}}, {{secretRef: {{name: creds}}}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: shop}}
data: {{a: '1'}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: shop}}
data: {{p: cHc=}}
---
apiVersion: v1
kind: Secret
metadata: {{name: prom-auth, namespace: shop}}
data: {{token: dG9r}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web, namespace: shop}}
spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}, minReplicas: 2, maxReplicas: 4}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: shop}}
spec: {{rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]}}
---
apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata: {{name: web, namespace: shop}}
spec: {{http: [{{name: main, match: {{paths: [/*]}}, backends: [{{serviceName: web, servicePort: 80}}]}}]}}
---
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {{name: web-config, namespace: shop}}
spec: {{kube: {{serviceName: web, servicePort: 80}}, useHttp2: true}}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {{name: errors, namespace: shop}}
spec: {{provider: {{type: prometheus, address: http://prom, secretRef: {{name: prom-auth}}}}, query: 'sum(x)'}}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {{name: jobs, namespace: shop}}
spec: {{provider: {{type: externalmetrics}}, query: 'shop/jobs_failed?labelSelector=app%3D{{{{ target }}}}'}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: shop}}
spec:
  provider: {provider}
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  autoscalerRef: {{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}}
  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}}
  routeRef: {{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: web}}
{upstream_ref}  service: {{port: 80, gatewayRefs: [{{name: gw}}]{mesh}}}
  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 50
    metrics:
      - {{name: request-success-rate, thresholdRange: {{min: 99}}}}
      - {{name: errors, templateRef: {{name: errors}}, thresholdRange: {{min: 1}}}}
      - {{name: jobs, templateRef: {{name: jobs}}, thresholdRange: {{max: 1}}}}
"
    );
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// [`repo`] with its target a DaemonSet (without replicas, and without the HPA, which cannot
/// scale one).
fn daemonset_repo(provider: &str, image: &str) -> Vec<Value> {
    repo(provider, image)
        .into_iter()
        .filter(|o| o["kind"] != "HorizontalPodAutoscaler")
        .map(|mut o| {
            if o["kind"] == "Deployment" {
                o["kind"] = "DaemonSet".into();
                o["spec"].as_object_mut().unwrap().remove("replicas");
            } else if o["kind"] == "Canary" {
                o["spec"]["targetRef"]["kind"] = "DaemonSet".into();
                o["spec"].as_object_mut().unwrap().remove("autoscalerRef");
            }
            o
        })
        .collect()
}

/// [`repo`] with its autoscaler a KEDA ScaledObject in place of the HPA.
fn keda_repo(provider: &str, image: &str) -> Vec<Value> {
    repo(provider, image)
        .into_iter()
        .map(|mut o| {
            if o["kind"] == "HorizontalPodAutoscaler" {
                o = serde_json::json!({
                    "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                    "metadata": {"name": "web", "namespace": "shop"},
                    "spec": {"scaleTargetRef": {"name": "web"}, "minReplicaCount": 2, "maxReplicaCount": 4,
                             "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "80"}}]}});
            } else if o["kind"] == "Canary" {
                o["spec"]["autoscalerRef"] = serde_json::json!(
                    {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "web"});
            }
            o
        })
        .collect()
}

/// Every call of a full rollout on each supported provider (and of a DaemonSet's and a KEDA
/// ScaledObject's, on the kubernetes provider), and of sync's inventory.
async fn calls_fledge_makes() -> BTreeSet<(String, String, String)> {
    let calls: Calls = Arc::default();
    let deployments = [
        "kubernetes",
        "nginx",
        "istio",
        "gatewayapi:v1",
        "linkerd",
        "osm",
        "smi:v1alpha3",
        "traefik",
        "skipper",
        "contour",
        "kuma",
        "gloo",
        "apisix",
        "appmesh:v1beta2",
        "appmesh",
    ]
    .map(|p| (p, repo as fn(&str, &str) -> Vec<Value>));
    for (provider, repo) in deployments.into_iter().chain([
        ("kubernetes", daemonset_repo as fn(&str, &str) -> Vec<Value>),
        ("kubernetes", keda_repo),
    ]) {
        let sim = SimHandle::new(SimCluster::new(Duration::ZERO));
        // The external metric the `jobs` template reads, as an adapter serves it.
        sim.sim.lock().unwrap().set_external_metric(
            "shop",
            "jobs_failed",
            vec![(
                [("app".to_owned(), "web".to_owned())].into(),
                "0".to_owned(),
            )],
        );
        let cluster = Recording::sharing(sim.clone(), calls.clone());
        // Sync of no user objects: only the inventory's own calls.
        fledge::cluster::inventory::sync(
            &cluster,
            "fledge-system",
            &[],
            &BTreeSet::new(),
            fledge::cluster::inventory::PruneGuard::default(),
        )
        .await
        .unwrap();
        let mut d1 = fledge::rollout::targets::split(
            &repo(provider, "web:1"),
            "c1",
            &Provider::Istio,
            &HashKey::offline(),
        );
        let d2 = fledge::rollout::targets::split(
            &repo(provider, "web:2"),
            "c2",
            &Provider::Istio,
            &HashKey::offline(),
        );
        // The configs and the template's Secret come from Git through sync.
        sim.apply(&d1.plain).await.unwrap();
        let exec = Executor {
            cluster,
            metrics: Fixed(100.0),
            webhooks: Webhooks::default(),
            templates: d1.templates.clone(),
            promoted_window: 10,
            owner: None,
        };
        let mut clock = 0;
        for (d, want) in [
            (&mut d1, Phase::Initialized),
            (&mut d2.clone(), Phase::Succeeded),
        ] {
            let t = d.releases.remove("shop/web").unwrap();
            let reached = tick_until(&sim, &exec, &t, &mut clock, 30, |s| s.phase == want).await;
            assert!(reached.is_some(), "{provider}: no {want:?}");
        }
        hand_back(&sim, &exec.cluster, &d2, &mut clock, provider).await;
    }
    // An external metric's resource is its name, which a ClusterRole cannot know in advance:
    // the role grants them all.
    let mut all: BTreeSet<_> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|(v, g, r)| {
            let r = if g == "external.metrics.k8s.io" {
                "*"
            } else {
                r
            };
            (v.clone(), g.clone(), r.to_owned())
        })
        .collect();
    // The revision key Secret (KubeCluster::revision_key, request shape in kube_api.rs): read,
    // and created on first start by server-side apply.
    for v in ["get", "create", "patch"] {
        all.insert((v.into(), String::new(), "secrets".into()));
    }
    with_watches(&mut all);
    all
}

/// `calls` with the watch caches' (cluster::cache): one list and watch of each rollout kind in
/// use. Every watched kind is one the rollouts read or write.
fn with_watches(calls: &mut BTreeSet<(String, String, String)>) {
    for (group, kind) in fledge::cluster::cache::WATCHED {
        let resource = super::support::resource(kind);
        assert!(
            calls.iter().any(|(_, g, r)| g == group && *r == resource),
            "{group}/{kind} is watched but no rollout touches it"
        );
        for v in ["list", "watch"] {
            calls.insert((v.into(), group.into(), resource.clone()));
        }
    }
}

/// The Canary leaves Git (`d`): steps the release `shop/web` back to Git's target, which sync
/// applies as Git has it, until it is done.
async fn hand_back<C: Cluster>(
    sim: &SimHandle,
    cluster: &C,
    d: &Desired,
    clock: &mut i64,
    provider: &str,
) {
    // The daemon's search for the Releases it ran whose Canary left Git.
    cluster
        .list(keys::RELEASE_API_VERSION, keys::RELEASE_KIND, "")
        .await
        .unwrap();
    let t = &d.releases["shop/web"];
    sim.apply(std::slice::from_ref(&t.target)).await.unwrap();
    let mut keep: BTreeSet<ObjectKey> = d.owned.clone();
    keep.extend(d.plain.iter().filter_map(ObjectKey::of));
    let keep = &keep;
    let release_ref = ObjectRef::new(keys::RELEASE_API_VERSION, keys::RELEASE_KIND, "shop", "web");
    let mut last = None;
    for _ in 0..5 {
        *clock += 10;
        sim.sim
            .lock()
            .unwrap()
            .tick(Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
        let release = cluster.get(&release_ref).await.unwrap().unwrap();
        let r = Retirement {
            release: &release,
            objects: retire::recorded(&release),
            keep,
            target: Some(&t.target),
        };
        match retire::step(cluster, &r).await.unwrap() {
            Step::Done { .. } => return,
            step => last = Some(step),
        }
    }
    panic!("{provider}: the release was not handed back in five steps: {last:?}");
}

fn role_rules(role: &str) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(repo_dir().join("deploy/rbac.yaml")).unwrap();
    let mut out = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"] != "ClusterRole" || v["metadata"]["name"] != role {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            for g in rule["apiGroups"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    for verb in rule["verbs"].as_array().unwrap() {
                        out.insert((
                            verb.as_str().unwrap().into(),
                            g.as_str().unwrap().into(),
                            r.as_str().unwrap().into(),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_role_covers_exactly_the_calls_fledge_makes() {
    let made = calls_fledge_makes().await;
    if std::env::var_os("FLEDGE_PRINT_CALLS").is_some() {
        eprintln!("{made:#?}");
    }
    let granted = role_rules("fledge");
    let missing: Vec<_> = made.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&made).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "missing from deploy/rbac.yaml: {missing:#?}\ngranted but never used: {unused:#?}"
    );
}

/// The modelled traffic lists what carries traffic in a release's namespace: the kinds the
/// ClusterRole `fledge` lists and watches for the caches, so it needs no role of its own.
#[test]
fn the_cluster_role_fledge_lets_the_modelled_traffic_list_what_it_reads() {
    let granted = role_rules("fledge");
    for (api_version, kind) in fledge::analysis::mirror::MIRRORED {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let list = ("list".into(), group.into(), super::support::resource(kind));
        assert!(granted.contains(&list), "{list:?}");
    }
}

/// `fledge build FOLDER` of the repository: its output, asserting success.
fn build(folder: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", folder])
        .current_dir(repo_dir())
        .output()
        .unwrap();
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that every object of `text` validates against its schema (scripts/validate.py).
fn validates(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, text).unwrap();
    let v = Command::new("python3")
        .arg(repo_dir().join("scripts/validate.py"))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success() && stdout.contains("0 invalid"),
        "{stdout}{}",
        String::from_utf8_lossy(&v.stderr)
    );
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn deploy_objects_validate_and_the_config_is_accepted() {
    let text = build("deploy");
    validates(&text);
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "CustomResourceDefinition",
    ] {
        assert!(text.contains(&format!("kind: {kind}\n")), "no {kind}");
    }
    // The credentials Secret is the user's: applying deploy/ again must not empty it.
    assert!(!text.contains("kind: Secret\n"), "deploy/ applies a Secret");
    // The ConfigMap's config.yaml holds only settings `fledge run` knows.
    let docs = documents(&text);
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let args: fledge::daemon::config::RunArgs =
        serde_yaml::from_str(cm["data"]["config.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(args.cluster.as_deref(), Some("kube"));
}

#[test]
fn the_second_shard_of_deploy_shards_validates_and_its_selector_is_accepted() {
    let docs = {
        let text = build("deploy/shards");
        validates(&text);
        documents(&text)
    };
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["name"], "fledge-shard1");
    // deploy/'s Deployment and Service must not select this shard's pods.
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for d in &documents(&build("deploy")) {
        let selector = match d["kind"].as_str() {
            Some("Deployment") => &d["spec"]["selector"]["matchLabels"],
            Some("Service") => &d["spec"]["selector"],
            _ => continue,
        };
        let selects = selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| pod_labels.get(k.as_str()) == Some(v));
        assert!(!selects, "deploy/'s {} selects shard1's pods", d["kind"]);
    }
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
        cm["metadata"]["name"]
    );
    let args: fledge::daemon::config::RunArgs =
        serde_yaml::from_str(cm["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let selector = args.watch_label_selector.as_deref().unwrap();
    let shard = fledge::daemon::shard::Shard::new(selector, args.shard_name.as_deref()).unwrap();
    assert_eq!(shard.suffixed("fledge-leader"), "fledge-leader-shard1");
}
