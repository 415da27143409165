//! Every Canary in Flagger's own examples: the complete ones parse and `plan` gives Flagger's
//! weight schedule; the documentation fragments fail with an error naming the missing field.

use std::collections::BTreeMap;

use fledge::release::is_kind;
use fledge::release::spec::Provider;
use fledge::rollout::plan::plan;
use serde_json::Value;

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
        match plan(std::slice::from_ref(doc), &Provider::Istio) {
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
