//! Every object built from examples/repo-layout passes `kubernetes-validate --strict`, and the
//! `Canary` and `MetricTemplate` objects validate against Flagger's CRD schema.

use std::process::Command;

use super::{build_repo_dir, data_dir, repo_dir};

#[test]
fn example_overlays_pass_strict_schema_validation() {
    let out_dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for env in ["staging", "production", "base"] {
        let text = build_repo_dir(&format!("examples/repo-layout/{env}"));
        for kind in [
            "Canary",
            "MetricTemplate",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "Ingress",
            "ConfigMap",
        ] {
            assert!(
                text.contains(&format!("kind: {kind}\n")),
                "{env} has no {kind}"
            );
        }
        let path = out_dir.path().join(format!("{env}.yaml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let out = Command::new("python3")
        .arg(repo_dir().join("scripts/validate.py"))
        .arg("--crds")
        .arg(data_dir().join("schemas/flagger"))
        .args(&files)
        .output()
        .expect("python3 runs (install the test dependencies with scripts/test.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(" objects, 0 invalid"), "{stdout}");
}

#[test]
fn the_validator_rejects_what_it_should() {
    // Guards the guard: an unknown field in a Deployment and in a Canary must fail.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 1\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: b}]}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: c\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: x}\n  service: {port: 80}\n  analysis: {interval: 1m, stepWeigth: 5}\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(repo_dir().join("scripts/validate.py"))
        .arg("--crds")
        .arg(data_dir().join("schemas/flagger"))
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Deployment") && stderr.contains("Canary"),
        "{stderr}"
    );
    assert!(stderr.contains("stepWeigth"), "{stderr}");
}

#[test]
fn generated_primary_objects_pass_strict_schema_validation() {
    use fledge::render::{self, DiskFiles, yaml};
    use fledge::revision::{HashKey, revision};
    use fledge::rollout::primary::primary_configs;
    use fledge::rollout::primary::primary_workload;

    let mut generated = Vec::new();
    for env in ["staging", "production"] {
        let files = DiskFiles::new(&repo_dir().join("examples/repo-layout")).unwrap();
        let objects = render::render(&files, env).unwrap();
        for d in objects.iter().filter(|o| o["kind"] == "Deployment") {
            let r = revision(d, &objects, None, &HashKey::new("test")).unwrap();
            generated
                .push(primary_workload(d, &r, "2f1c9a4e-0000-4000-8000-000000000000").unwrap());
            let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
            generated.extend(primary_configs(&r, &objects, ns));
        }
    }
    assert!(
        generated.iter().any(|o| o["kind"] == "ConfigMap"),
        "podinfo's ConfigMap has a primary copy"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.yaml");
    std::fs::write(&path, yaml::emit_stream(&generated)).unwrap();
    let out = Command::new("python3")
        .arg(repo_dir().join("scripts/validate.py"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
