//! Every Canary in Flagger's own examples: the complete ones parse and `plan` gives Flagger's
//! weight schedule; the documentation fragments fail with an error naming the missing field;
//! each complete one rolls out on the simulated cluster to promotion and to rollback, or is
//! refused by `plan` and the rollout alike.

use std::collections::BTreeMap;

use fledge::release::spec::Provider;
use fledge::release::{is_kind, parse_canary};
use fledge::rollout::plan::plan;
use serde::Deserialize as _;
use serde_json::{Value, json};

use super::data_dir;

/// Every Canary document of the examples directory, by file name.
fn canaries() -> BTreeMap<String, Value> {
    let dir = data_dir().join("flagger-examples");
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        std::fs::read_dir(dir.join("legacy-v1alpha3"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for path in files {
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The Helm chart template is not YAML until Helm renders it.
        let Ok(doc) = serde_yaml::from_str::<Value>(&text) else {
            continue;
        };
        if is_kind(&doc, "Canary") {
            out.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                doc,
            );
        }
    }
    out
}

/// The weights (or iterations) Flagger goes through for each complete example, checked by
/// hand against each file's maxWeight/stepWeight/stepWeights/iterations (flagger-spec §4.3:
/// linear steps overshoot maxWeight; stepWeights win over maxWeight; the kubernetes provider
/// is blue/green).
const SCHEDULES: &[(&str, &str)] = &[
    (
        "artifacts-examples-istio-abtest--01-canary-podinfo.yaml",
        "ab 10",
    ),
    (
        "artifacts-examples-istio-canary--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "artifacts-examples-kuma-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "artifacts-examples-linkerd-canary--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "artifacts-examples-linkerd-canary-steps--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50,55",
    ),
    (
        "docs-gitbook-faq--05-canary-backend.yaml",
        "canary 10,20,30",
    ),
    (
        "docs-gitbook-tutorials-apisix-progressive-delivery--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-contour-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-gatewayapi-progressive-delivery--03-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-gatewayapi-progressive-delivery--04-canary-podinfo.yaml",
        "ab 10",
    ),
    (
        "docs-gitbook-tutorials-gatewayapi-progressive-delivery--05-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-gatewayapi-progressive-delivery--06-canary-podinfo.yaml",
        "mirror 10",
    ),
    (
        "docs-gitbook-tutorials-gloo-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-istio-ab-testing--01-canary-podinfo.yaml",
        "ab 10",
    ),
    (
        "docs-gitbook-tutorials-istio-progressive-delivery--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-istio-progressive-delivery--02-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-keda-scaledobject--01-canary-podinfo.yaml",
        "bluegreen 5",
    ),
    (
        "docs-gitbook-tutorials-knative-progressive-delivery--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "docs-gitbook-tutorials-kubernetes-blue-green--01-canary-podinfo.yaml",
        "bluegreen 10",
    ),
    (
        "docs-gitbook-tutorials-kuma-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-linkerd-progressive-delivery--03-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-linkerd-progressive-delivery--04-canary-podinfo.yaml",
        "ab 10",
    ),
    (
        "docs-gitbook-tutorials-nginx-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-prometheus-operator--03-canary-podinfo.yaml",
        "bluegreen 10",
    ),
    (
        "docs-gitbook-tutorials-skipper-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-tutorials-traefik-progressive-delivery--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "docs-gitbook-usage-how-it-works--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "readme--01-canary-podinfo.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "test-apisix-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-contour-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-contour-test-canary--02-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    ("test-contour-test-canary--03-canary-podinfo.yaml", "ab 5"),
    ("test-gatewayapi-test-ab--01-canary-podinfo.yaml", "ab 10"),
    (
        "test-gatewayapi-test-bg--01-canary-podinfo.yaml",
        "bluegreen 5",
    ),
    (
        "test-gatewayapi-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-gatewayapi-test-canary--02-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-gatewayapi-test-session-affinity--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-gloo-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    ("test-gloo-test-canary--02-canary-podinfo.yaml", "ab 5"),
    (
        "test-istio-test-canary--02-canary-podinfo.yaml",
        "canary 10,20,30",
    ),
    (
        "test-istio-test-canary--03-canary-podinfo.yaml",
        "bluegreen 5",
    ),
    ("test-istio-test-canary--04-canary-podinfo.yaml", "ab 5"),
    ("test-istio-test-canary--05-canary-podinfo.yaml", "ab 5"),
    ("test-istio-test-canary--06-canary-podinfo.yaml", "ab 5"),
    (
        "test-istio-test-delegation--01-canary-podinfo.yaml",
        "canary 10,20,30",
    ),
    (
        "test-istio-test-session-affinity--01-canary-podinfo.yaml",
        "canary 10,20,30",
    ),
    (
        "test-istio-test-skip-analysis--01-canary-podinfo.yaml",
        "canary 10,20,30",
    ),
    (
        "test-keda-test-scaledobject--01-canary-podinfo.yaml",
        "bluegreen 8",
    ),
    (
        "test-knative-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-knative-test-canary--02-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-kubernetes-test-daemonset--01-canary-podinfo-ds.yaml",
        "bluegreen 5",
    ),
    (
        "test-kubernetes-test-daemonset--02-canary-podinfo-ds.yaml",
        "bluegreen 5",
    ),
    (
        "test-kubernetes-test-deployment--01-canary-podinfo.yaml",
        "bluegreen 5",
    ),
    (
        "test-kubernetes-test-hpa--01-canary-podinfo.yaml",
        "bluegreen 5",
    ),
    (
        "test-kuma-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-kuma-test-canary--02-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-linkerd-test-canary--03-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-linkerd-test-canary--04-canary-podinfo-service.yaml",
        "canary 10,20,30",
    ),
    (
        "test-linkerd-test-canary--05-canary-podinfo.yaml",
        "canary 10,20,30,40,50",
    ),
    (
        "test-linkerd-test-steps--03-canary-podinfo.yaml",
        "canary 10,20,30,40,50,60",
    ),
    (
        "test-nginx-test-canary--02-canary-podinfo.yaml",
        "canary 20,40",
    ),
    ("test-nginx-test-canary--03-canary-podinfo.yaml", "ab 3"),
    (
        "test-nginx-test-lifecycle--01-canary-podinfo.yaml",
        "canary 20,40",
    ),
    (
        "test-nginx-test-lifecycle--02-canary-podinfo.yaml",
        "canary 20,40",
    ),
    (
        "test-skipper-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50,60,70,80,90,100",
    ),
    (
        "test-traefik-test-canary--01-canary-podinfo.yaml",
        "canary 10,20,30,40,50,60",
    ),
    (
        "v0.23.0-appmesh-canary.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    ("v0.23.0-canaries-abtest.yaml", "ab 10"),
    (
        "v0.23.0-canaries-canary.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "v0.23.0-gloo-canary.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
    (
        "v0.23.0-nginx-canary.yaml",
        "canary 5,10,15,20,25,30,35,40,45,50",
    ),
];

fn schedule(p: &fledge::rollout::plan::Plan) -> String {
    let strategy = serde_json::to_value(p.strategy).unwrap();
    let steps = if p.weights.is_empty() {
        p.iterations.to_string()
    } else {
        p.weights
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("{} {steps}", strategy.as_str().unwrap())
}

/// Files the examples README marks as documentation fragments (and the Helm template).
fn fragments() -> Vec<String> {
    let readme = std::fs::read_to_string(data_dir().join("flagger-examples/README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.contains("fragment (partial spec from docs)"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn complete_canaries_parse_and_plan_flaggers_weight_schedule() {
    let all = canaries();
    let fragments = fragments();
    assert!(fragments.len() > 15, "{fragments:?}");
    let mut results = BTreeMap::new();
    for (file, doc) in &all {
        match plan(std::slice::from_ref(doc), &Provider::Istio, None) {
            Ok(p) => {
                assert_eq!(p.len(), 1);
                assert!(!fragments.contains(file), "{file} is a fragment but parsed");
                results.insert(file.clone(), schedule(&p[0]));
            }
            Err(e) => {
                assert!(
                    fragments.contains(file),
                    "{file} is complete but failed: {e}"
                );
                // The error names the object and the missing field.
                let text = e.to_string();
                assert!(text.starts_with("Canary "), "{text}");
                assert!(
                    [
                        "spec.targetRef",
                        "metadata.name",
                        "spec.analysis",
                        "spec.service"
                    ]
                    .iter()
                    .any(|f| e.path == *f),
                    "{file}: {text}"
                );
            }
        }
    }
    if std::env::var_os("FLEDGE_PRINT_SCHEDULES").is_some() {
        for (f, r) in &results {
            eprintln!("    (\"{f}\", \"{r}\"),");
        }
    }
    let want: BTreeMap<String, String> = SCHEDULES
        .iter()
        .map(|(f, s)| ((*f).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(results, want);
}

/// The provider an example runs with: its `spec.provider`, else the mesh provider Flagger's own
/// test or tutorial of that name starts Flagger with (`-mesh-provider`), else Flagger's
/// default, istio.
fn example_provider(file: &str, doc: &Value) -> String {
    const MESHES: &[&str] = &[
        "apisix",
        "appmesh",
        "contour",
        "gatewayapi",
        "gloo",
        "knative",
        "kubernetes",
        "kuma",
        "linkerd",
        "nginx",
        "skipper",
        "traefik",
    ];
    if let Some(p) = doc["spec"]["provider"].as_str() {
        return p.to_owned();
    }
    MESHES
        .iter()
        .find(|m| file.contains(&format!("-{m}-")) || file.contains(&format!("-{m}.")))
        .map_or_else(|| "istio".to_owned(), |m| (*m).to_owned())
}

/// Metric values for a rollout of an example: inside every check's range (`good`), or below
/// its minimum (above its maximum when it has none).
struct Judged {
    good: bool,
}

impl fledge::analysis::MetricSource for Judged {
    async fn query(
        &self,
        r: &fledge::analysis::MetricRequest<'_>,
    ) -> Result<f64, fledge::analysis::MetricError> {
        let (min, max) = (r.metric.min, r.metric.max);
        Ok(match (self.good, min, max) {
            (true, Some(a), Some(b)) => f64::midpoint(a, b),
            (true, Some(a), None) | (false, None, Some(a)) => a + f64::from(u8::from(!self.good)),
            (true, None, Some(b)) => b,
            (false, Some(a), _) => a - 1.0,
            (_, None, None) => 0.0,
        })
    }
}

/// The objects an example's Canary references, as its repository would hold them: the target
/// Deployment (two ports, a ConfigMap; pods that never become ready unless `ready`) or Knative
/// Service (one port; revisions that never become ready unless `ready`), its ConfigMap, and its
/// Ingress, ApisixRoute, Gloo config Upstream and autoscaler where the Canary names one.
fn example_objects(doc: &Value, image: &str, ready: bool) -> Vec<Value> {
    let spec = parse_canary(doc, &Provider::Istio).unwrap();
    let (ns, name) = (spec.namespace.clone(), spec.target.name.clone());
    let annotations = if ready {
        json!({})
    } else {
        json!({fledge::keys::SIM_READY: "false"})
    };
    let mut objects = vec![
        json!({"apiVersion": "apps/v1", "kind": spec.target.kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": image,
                    "ports": [{"containerPort": 9898, "name": "http"}, {"containerPort": 9797, "name": "http-metrics"}],
                    "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns}, "data": {"a": "1"}}),
    ];
    if spec.target.is_knative_service() {
        // A Knative Service: one container port, no selector or replicas (Knative scales).
        objects[0] = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"template": {"metadata": {"annotations": annotations},
            "spec": {"containers": [{"image": image, "ports": [{"containerPort": 9898}],
                "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}});
        return objects;
    }
    if spec.target.kind == "DaemonSet" {
        objects[0]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
    }
    let svc = spec.service.name.clone();
    objects.extend(spec.ingress.as_ref().map(|i| json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": i.name, "namespace": ns},
        "spec": {"rules": [{"host": "app.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": {"number": spec.service.port}}}}]}}]}})));
    objects.extend(spec.route.as_ref().map(|r| json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": r.name, "namespace": ns},
        "spec": {"http": [{"name": "rule1", "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
            "backends": [{"serviceName": svc, "servicePort": spec.service.port}]}]}})));
    objects.extend(spec.upstream.as_ref().map(|u| {
        json!({"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
        "metadata": {"name": u.name, "namespace": u.namespace.as_deref().unwrap_or(&ns)},
        "spec": {"kube": {"serviceName": svc, "servicePort": spec.service.port},
                 "connectionConfig": {"maxRequestsPerConnection": 100}}})
    }));
    objects.extend(spec.autoscaler.as_ref().map(|a| {
        if a.kind == "ScaledObject" {
            json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": a.name, "namespace": ns},
                "spec": {"scaleTargetRef": {"name": name}, "minReplicaCount": 1, "maxReplicaCount": 3,
                         "triggers": [{"type": "cpu", "metadata": {"value": "80"}}]}})
        } else {
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": a.name, "namespace": ns},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "minReplicas": 2, "maxReplicas": 4}})
        }
    }));
    objects
}

/// The release of an example's Canary with [`example_objects`].
fn example_target(doc: &Value, image: &str, ready: bool) -> fledge::release::ReleaseTarget {
    let spec = parse_canary(doc, &Provider::Istio).unwrap();
    let mut objects = example_objects(doc, image, ready).into_iter();
    let (deployment, config) = (objects.next().unwrap(), objects.next().unwrap());
    let rest: Vec<Value> = objects.collect();
    let find = |kinds: &[&str]| {
        rest.iter()
            .find(|o| kinds.iter().any(|k| o["kind"] == *k))
            .cloned()
    };
    let rev = if spec.target.is_knative_service() {
        fledge::revision::template_revision(&deployment).unwrap()
    } else {
        fledge::revision::revision(
            &deployment,
            std::slice::from_ref(&config),
            None,
            &fledge::revision::HashKey::offline(),
        )
        .unwrap()
    };
    fledge::release::ReleaseTarget {
        spec,
        target: deployment,
        revision: rev,
        configs: vec![config],
        autoscaler: find(&["ScaledObject", "HorizontalPodAutoscaler"]),
        ingress: find(&["Ingress"]),
        route: find(&["ApisixRoute"]),
        commit: Some(format!("commit-{image}").into()),
        known_good: false,
        primary_source: None,
    }
}

/// How an example's rollouts ended.
#[derive(Debug)]
enum Ran {
    /// The first revision initialised, a good one was promoted, a bad one rolled back: one
    /// failing its metric checks, or (when the Canary has none, or skips its analysis) one
    /// whose pods never become ready.
    Both,
    /// Refused by the rollout, with its reason.
    Refused(String),
    /// A good revision failed its analysis, with the last state seen.
    NotPromoted(String),
}

/// Ticks `t` until its phase is one of `until` (the simulated clock advancing by the analysis
/// interval each tick, at most 400 ticks); the phase reached, or why not.
async fn run_to(
    exec: &fledge::rollout::executor::Executor<fledge::cluster::SimHandle, Judged>,
    t: &fledge::release::ReleaseTarget,
    clock: &mut i64,
    until: &[fledge::release::Phase],
) -> Result<fledge::release::Phase, String> {
    let step = i64::try_from(t.spec.analysis.interval.as_secs().max(1)).unwrap();
    let mut last = None;
    for _ in 0..400 {
        *clock += step;
        exec.cluster
            .sim
            .lock()
            .unwrap()
            .tick(std::time::Duration::from_secs(clock.unsigned_abs()))
            .unwrap();
        match exec.tick(t, *clock).await {
            Ok(r) if until.contains(&r.state.phase) => return Ok(r.state.phase),
            Ok(r) => last = Some(format!("{:?}: {}", r.state.phase, r.state.message)),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("no end after 400 ticks; last {last:?}"))
}

/// One example on a new simulated cluster: initialised, then a good revision to promotion and
/// a bad one to rollback.
async fn roll_out(
    doc: &Value,
    templates: &BTreeMap<(String, String), fledge::release::spec::MetricTemplate>,
) -> Result<Ran, String> {
    use fledge::cluster::Cluster as _;
    use fledge::release::Phase;
    let sim = fledge::cluster::SimHandle::new(fledge::cluster::sim::SimCluster::new(
        std::time::Duration::ZERO,
    ));
    let exec = |good| fledge::rollout::executor::Executor {
        cluster: sim.clone(),
        metrics: Judged { good },
        webhooks: fledge::analysis::webhooks::Webhooks::new(std::time::Duration::from_millis(10)),
        templates: templates.clone(),
        promoted_window: 10,
        owner: None,
    };
    let first = example_target(doc, "podinfo:1", true);
    // What the sync applies before the rollout: all but the target.
    let applied: Vec<Value> = example_objects(doc, "podinfo:1", true)
        .into_iter()
        .filter(|o| o["kind"] != doc["spec"]["targetRef"]["kind"])
        .collect();
    sim.apply(&applied).await.map_err(|e| e.to_string())?;
    let mut clock = 0;
    match run_to(&exec(true), &first, &mut clock, &[Phase::Initialized]).await {
        Ok(_) => {}
        Err(e) => return Ok(Ran::Refused(e)),
    }
    let good = example_target(doc, "podinfo:2", true);
    let done = [Phase::Succeeded, Phase::Failed];
    let promoted = run_to(&exec(true), &good, &mut clock, &done).await?;
    if promoted != Phase::Succeeded {
        return Ok(Ran::NotPromoted(format!(
            "a good revision ended {promoted:?}"
        )));
    }
    let checked = !first.spec.skip_analysis && !first.spec.analysis.metrics.is_empty();
    let bad = example_target(doc, "podinfo:3", checked);
    let rolled_back = run_to(&exec(false), &bad, &mut clock, &done).await?;
    if rolled_back != Phase::Failed {
        return Err(format!("a bad revision ended {rolled_back:?}"));
    }
    Ok(Ran::Both)
}

/// A webhook receiver standing in for flagger-loadtester: every hook passes, but a rollback
/// gate stays closed and a halt gate says no, as the load tester's do. Its address.
async fn hooks() -> String {
    use axum::http::{StatusCode, Uri};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|uri: Uri| async move {
        if uri.path().starts_with("/rollback/") || uri.path().ends_with("/halt") {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        }
    });
    tokio::spawn(axum::serve(listener, app).into_future());
    format!("http://127.0.0.1:{port}")
}

/// Every complete example Canary, with the provider Flagger runs it with, its webhooks sent to
/// [`hooks`] (keeping their paths), and its MetricTemplates from the examples, rolls out on
/// the simulated cluster to promotion and to rollback, or is refused by `plan` and by the
/// rollout with a reason. The counts per provider are printed.
#[tokio::test(flavor = "multi_thread")]
async fn every_complete_example_rolls_out_to_promotion_and_to_rollback() {
    let hooks = hooks().await;
    let fragments = fragments();
    let dir = data_dir().join("flagger-examples");
    let mut templates = BTreeMap::new();
    let mut template_docs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            // A document that does not parse ends the file: the stream cannot resume after it.
            let Ok(doc) = Value::deserialize(doc) else {
                break;
            };
            if is_kind(&doc, "MetricTemplate")
                && let Ok(t) = fledge::release::parse_metric_template(&doc)
            {
                templates.insert((t.namespace.clone(), t.name.clone()), t);
                template_docs.push(doc);
            }
        }
    }
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (file, doc) in canaries() {
        if fragments.contains(&file) {
            continue;
        }
        let provider = example_provider(&file, &doc);
        let mut doc = doc;
        doc["spec"]["provider"] = json!(provider);
        let analysis = if doc["spec"]["analysis"].is_object() {
            "analysis"
        } else {
            "canaryAnalysis"
        };
        for hook in doc["spec"][analysis]["webhooks"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let path = hook["url"]
                .as_str()
                .and_then(|u| u.parse::<axum::http::Uri>().ok())
                .map_or_else(|| "/".to_owned(), |u| u.path().to_owned());
            hook["url"] = json!(format!("{hooks}{path}"));
        }
        let mut repository = vec![doc.clone()];
        repository.extend(example_objects(&doc, "podinfo:1", true));
        repository.extend(template_docs.iter().cloned());
        let planned = plan(&repository, &Provider::Istio, None).unwrap();
        let problem = planned[0].problem.clone();
        let entry = counts.entry(provider.clone()).or_default();
        match (roll_out(&doc, &templates).await, problem) {
            (Ok(Ran::Both), None) => entry.0 += 1,
            // Refused up front, or (a MetricTemplate missing, as Flagger's README leaves
            // `db-connections` out) failing every analysis as Flagger's would.
            (Ok(Ran::Refused(why) | Ran::NotPromoted(why)), Some(problem)) => {
                entry.1 += 1;
                eprintln!("{file} ({provider}): refused: {problem} (the rollout: {why})");
            }
            (ran, problem) => {
                wrong.push(format!("{file} ({provider}): {ran:?}; plan: {problem:?}"));
            }
        }
    }
    for (provider, (both, refused)) in &counts {
        eprintln!("{provider}: {both} promoted and rolled back, {refused} refused");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Flagger's Knative examples run as Flagger runs them (none refused).
    assert!(
        counts
            .get("knative")
            .is_some_and(|(both, refused)| *both >= 3 && *refused == 0),
        "{counts:?}"
    );
}
