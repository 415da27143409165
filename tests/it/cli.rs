//! `fledge build` as a user runs it.

use std::ffi::OsStr;
use std::process::Command;

use super::support::ok;
use super::{build_repo_dir, tree};

fn fledge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fledge"))
}

#[test]
fn build_prints_a_yaml_stream() {
    let text = build_repo_dir("examples/repo-layout/staging");
    assert!(
        text.starts_with("apiVersion: v1\nkind: Namespace\nmetadata:\n"),
        "{text}"
    );
    assert!(text.contains("\n---\n"));
    assert!(text.contains("namespace: staging"));
    assert!(text.contains("image: ghcr.io/stefanprodan/podinfo:6.5.1"));
}

#[test]
fn errors_exit_non_zero_with_nothing_on_stdout() {
    let t = tree(&[
        ("kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
        (
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
        (
            "b.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [b\n",
        ),
    ]);
    let out = fledge().arg("build").arg(t.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: b.yaml:") && err.contains("invalid YAML"),
        "{err}"
    );

    let out = fledge()
        .args(["build", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
}

#[test]
fn plain_folders_render_every_manifest() {
    let t = tree(&[
        (
            "b/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n",
        ),
        (
            "a/cm.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        ),
        (
            ".hidden/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hidden\n",
        ),
        ("notes.txt", "not yaml"),
    ]);
    let out = fledge().arg("build").arg(t.path()).output().unwrap();
    let text = ok(&out);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(names, ["b", "c", "s"]);
}

#[test]
fn help_lists_only_working_commands() {
    let out = fledge().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("build"));
    assert!(text.contains("hash"));
    for command in ["plan", "run", "demo", "status"] {
        assert!(text.contains(&format!("\n  {command} ")), "{text}");
    }
}

/// A Knative Service's revision is its template's: the ConfigMap it reads changes nothing
/// (Knative makes no revision for it), and it is the revision its release analyses.
#[test]
fn hash_prints_a_knative_services_template_revision() {
    let ksvc = |image: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: web, namespace: prod}}\nspec:\n  template:\n    spec: {{containers: [{{image: {image}, envFrom: [{{configMapRef: {{name: cfg}}}}]}}]}}\n"
        )
    };
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: prod}}\ndata: {{a: '{v}'}}\n"
        )
    };
    let revision = |image: &str, v: &str| {
        let t = tree(&[
            ("kustomization.yaml", "resources: [k.yaml, c.yaml]\n"),
            ("k.yaml", &ksvc(image)),
            ("c.yaml", &cm(v)),
        ]);
        let out = fledge()
            .args(["hash", "-o", "json"])
            .arg(t.path())
            .output()
            .unwrap();
        let rows: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
        assert_eq!(rows[0]["kind"], "Service");
        rows[0]["revision"].as_str().unwrap().to_owned()
    };
    assert_eq!(revision("web:1", "1"), revision("web:1", "2"));
    assert_ne!(revision("web:1", "1"), revision("web:2", "1"));
}

#[test]
fn hash_prints_revisions_without_secret_values() {
    let t = tree(&[
        (
            "kustomization.yaml",
            "resources: [d.yaml, s.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [A=1]\n",
        ),
        (
            "d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        envFrom:\n        - configMapRef: {name: cfg}\n        - secretRef: {name: creds}\n",
        ),
        (
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2\n",
        ),
    ]);
    let out = fledge()
        .args(["hash", "-o", "json"])
        .arg(t.path())
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(!text.contains("hunter2"));
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows[0]["name"], "web");
    assert_eq!(rows[0]["revision"].as_str().unwrap().len(), 64);
    let configs: Vec<&str> = rows[0]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        configs[0].starts_with("cfg-") && configs[1] == "creds",
        "{configs:?}"
    );

    // Changing the Secret changes the revision; the table shows it short.
    std::fs::write(t.path().join("s.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter3\n").unwrap();
    let table = fledge().arg("hash").arg(t.path()).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.starts_with("NAMESPACE  KIND        NAME  REVISION"),
        "{table}"
    );
    assert!(
        !table.contains(&rows[0]["revision"].as_str().unwrap()[..12]),
        "{table}"
    );

    // A mandatory reference that Git does not hold cannot be hashed offline: a clear error.
    std::fs::remove_file(t.path().join("s.yaml")).unwrap();
    std::fs::write(
        t.path().join("kustomization.yaml"),
        "resources: [d.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [A=1]\n",
    )
    .unwrap();
    let out = fledge().arg("hash").arg(t.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret `creds`") && err.contains("offline"),
        "{err}"
    );
}

/// A Canary `web` with no provider and no namespace.
const CANARY: &str = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: web\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, iterations: 4}\n";
/// A Deployment `web` in the default namespace.
const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n";

#[test]
fn plan_json_lists_each_canary_with_its_schedule_and_objects() {
    let out = fledge()
        .args(["plan", "examples/repo-layout/production", "-o", "json"])
        .current_dir(super::repo_dir())
        .output()
        .unwrap();
    ok(&out);
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let podinfo = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "podinfo")
        .unwrap();
    for field in [
        "namespace",
        "name",
        "target",
        "provider",
        "strategy",
        "interval_seconds",
        "threshold",
        "weights",
        "iterations",
        "metrics",
        "webhooks",
        "min_duration_seconds",
        "objects",
    ] {
        assert!(podinfo.get(field).is_some(), "no {field}: {podinfo}");
    }
    assert_eq!(podinfo["strategy"], "canary");
    assert_eq!(podinfo["metrics"][0]["name"], "request-success-rate");
    assert!(podinfo["metrics"][0]["interval_seconds"].is_u64());
    assert!(podinfo["webhooks"][0]["type"].is_string());
    let weights: Vec<u64> = podinfo["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    // The time to promote: one tick to start, one per weight, promotion, traffic back, done.
    let interval = podinfo["interval_seconds"].as_u64().unwrap();
    assert_eq!(
        podinfo["min_duration_seconds"].as_u64().unwrap(),
        interval * (weights.len() as u64 + 3)
    );
    let kinds: Vec<&str> = podinfo["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"VirtualService") && kinds.contains(&"Deployment"),
        "{kinds:?}"
    );

    // The provider defaults to --mesh-provider; the namespace to "default".
    let t = tree(&[("canary.yaml", CANARY), ("web.yaml", WEB)]);
    let run = |args: &[&str]| {
        let out = fledge()
            .arg("plan")
            .arg(t.path())
            .args(args)
            .output()
            .unwrap();
        ok(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let p = run(&["-o", "json"]);
    assert_eq!(
        (
            p[0]["provider"].as_str(),
            p[0]["namespace"].as_str(),
            p[0]["strategy"].as_str()
        ),
        (Some("istio"), Some("default"), Some("bluegreen"))
    );
    let p = run(&["-o", "json", "--mesh-provider", "linkerd"]);
    assert_eq!(p[0]["provider"], "linkerd");
    let text = fledge().arg("plan").arg(t.path()).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("Canary default/web → Deployment web · provider istio · strategy bluegreen"),
        "{text}"
    );
    assert!(text.contains("iteration 4/4"), "{text}");
    // A broken Canary: exit 1, the field named.
    let bad = tree(&[(
        "c.yaml",
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: web\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {stepWeights: [10, 5]}\n",
    )]);
    let out = fledge().arg("plan").arg(bad.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Canary default/web: spec.analysis.stepWeights[1]"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_prints_the_daemons_releases_with_a_progress_bar() {
    use std::sync::Arc;
    let shared = Arc::new(fledge::daemon::Shared::default());
    shared.releases.lock().unwrap().insert(
        fledge::release::spec::ReleaseKey::new("shop", "web"),
        fledge::release::ReleaseView {
            namespace: "shop".into(),
            name: "web".into(),
            target: "web".into(),
            strategy: "canary".into(),
            phase: "Progressing".into(),
            canary_weight: 30,
            max_weight: 60,
            failed_checks: 1,
            threshold: 5,
            iterations: 0,
            max_iterations: 0,
            canary_revision: Some("0123456789abcdef".into()),
            primary_revision: Some("fedcba9876543210".into()),
            source_commit: Some("c0ffee1234".into()),
            last_transition_time: "2026-11-23T00:00:00Z".into(),
            message: "New revision detected".into(),
            fast_rollback: false,
            last_failed_check: None,
            reason: fledge::release::state::ReleaseReason::Progressing,
            halted: None,
            error: None,
        },
    );
    let receiver = fledge::source::webhook::Receiver::new(
        fledge::source::webhook::HookSecrets::default(),
        Arc::default(),
    )
    .unwrap();
    let app = fledge::daemon::http::router(shared.clone(), receiver, None, None);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(fledge::daemon::http::serve(
        l,
        app,
        fledge::daemon::http::Limits::default(),
        tokio_util::sync::CancellationToken::new(),
    ));
    let b2 = base.clone();
    let out = tokio::task::spawn_blocking(move || {
        fledge().args(["status", "--server", &b2]).output().unwrap()
    })
    .await
    .unwrap();
    let text = ok(&out);
    assert!(
        text.starts_with("SYNC  not synced yet\n\nNAMESPACE  NAME  PHASE"),
        "{text}"
    );
    assert!(
        text.contains(
            "shop       web   Progressing  █████░░░░░  30%     1/5     0123456789ab  c0ffee1"
        ),
        "{text}"
    );
    // The metrics endpoint speaks Flagger's names.
    let metrics = fledge::daemon::http::render_metrics(&shared);
    assert!(
        metrics.contains("flagger_canary_weight{workload=\"web\",namespace=\"shop\"} 30"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flagger_canary_status{name=\"web\",namespace=\"shop\"} 0"),
        "{metrics}"
    );
    // No daemon: a clear error.
    let out = fledge()
        .args(["status", "--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `fledge run` listening there?"));
}

#[test]
fn plan_fails_for_a_canary_whose_target_is_not_in_the_repository() {
    let t = tree(&[
        (
            "web.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n",
        ),
        (
            "canary.yaml",
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: shop}\nspec:\n  provider: kubernetes\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: wbe}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, iterations: 2}\n",
        ),
    ]);
    let out = fledge()
        .args(["plan", "--root"])
        .arg(t.path())
        .arg(t.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "error: Canary shop/web: spec.targetRef: Deployment shop/wbe is not in the repository"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("timeline"), "no timeline for it: {stdout}");
    assert!(stderr.contains("1 Canary cannot run: shop/web"), "{stderr}");
}

#[test]
fn plan_gives_the_minimum_duration_of_thousands_of_iterations() {
    use fledge::release::spec::Provider;
    let objects = |iterations: u32| -> Vec<serde_json::Value> {
        let canary = CANARY.replace("iterations: 4", &format!("iterations: {iterations}"));
        [canary.as_str(), WEB]
            .iter()
            .map(|y| serde_yaml::from_str(y).unwrap())
            .collect()
    };
    let min = |iterations: u32| {
        let plans =
            fledge::rollout::plan::plan(&objects(iterations), &Provider::Kubernetes, None).unwrap();
        assert_eq!(plans[0].iterations, iterations);
        plans[0].min_duration_seconds
    };
    // Each iteration is one more interval (1m), whether simulated (50, 900) or not (5000).
    assert_eq!(min(900) - min(50), 850 * 60);
    assert_eq!(min(5000) - min(50), 4950 * 60);
}

#[test]
fn plan_refuses_misspelt_fields_missing_templates_and_two_analyses() {
    use fledge::release::spec::Provider;
    let plan = |canary: String| {
        let objects: Vec<serde_json::Value> = [canary.as_str(), WEB]
            .iter()
            .map(|y| serde_yaml::from_str(y).unwrap())
            .collect();
        fledge::rollout::plan::plan(&objects, &Provider::Kubernetes, None)
    };
    let typo = CANARY.replace("threshold: 2", "threshold: 2, stepWieght: 10");
    let e = plan(typo).unwrap_err().to_string();
    assert!(
        e.contains("spec.analysis.stepWieght: unknown field; did you mean `stepWeight`?"),
        "{e}"
    );
    let two = format!("{CANARY}  canaryAnalysis: {{interval: 1m, threshold: 2, iterations: 2}}\n");
    let e = plan(two).unwrap_err().to_string();
    assert!(
        e.contains("spec.canaryAnalysis: and spec.analysis are both set"),
        "{e}"
    );
    let templated = CANARY.replace(
        "iterations: 4}",
        "iterations: 4, metrics: [{name: p99, templateRef: {name: latency}, thresholdRange: {max: 1}}]}",
    );
    let plans = plan(templated).unwrap();
    let problem = plans[0].problem.clone().unwrap_or_default();
    assert!(
        problem.contains("spec.analysis.metrics[0].templateRef: MetricTemplate default/latency is not in the repository"),
        "{problem}"
    );
}

#[test]
fn plan_never_promises_what_fledge_cannot_do() {
    use fledge::release::spec::Provider;
    let plan = |canary: String, template: &str| {
        let objects: Vec<serde_json::Value> = [canary.as_str(), WEB, template]
            .iter()
            .map(|y| serde_yaml::from_str(y).unwrap())
            .collect();
        fledge::rollout::plan::plan(&objects, &Provider::Kubernetes, None)
    };
    let template = |provider: &str| {
        format!(
            "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{name: errors, namespace: default}}\nspec:\n  provider: {{type: {provider}, address: 'https://api.eu0.signalfx.com'}}\n  query: 'data(\"errors\").sum().publish()'\n"
        )
    };
    let checked = CANARY.replace(
        "iterations: 4}",
        "iterations: 4, metrics: [{name: errors, templateRef: {name: errors}, thresholdRange: {max: 1}}]}",
    );
    // Every provider type of Flagger's CRD is queried: planned as a promotion.
    for provider in fledge::release::spec::METRIC_PROVIDERS {
        let plans = plan(checked.clone(), &template(provider)).unwrap();
        assert_eq!(plans[0].problem, None, "{provider}");
        assert!(!plans[0].objects.is_empty(), "{provider}");
    }
    // A type Flagger's CRD does not have: refused, never a clean promotion.
    let plans = plan(checked, &template("signalfx")).unwrap();
    let problem = plans[0].problem.clone();
    assert!(
        problem.as_deref().unwrap_or_default().contains(
            "spec.analysis.metrics[0].templateRef: MetricTemplate default/errors: spec.provider.type: \"signalfx\" is not a metric provider Flagger knows"
        ),
        "{problem:?}"
    );
    assert!(plans[0].objects.is_empty());
    // Fields fledge reads but does not act on are warnings, named.
    let unhonoured = CANARY.replace(
        "iterations: 4}",
        "iterations: 4, sessionAffinity: {cookieName: c, primaryCookieName: p}}",
    );
    let warnings = plan(unhonoured, "{}").unwrap()[0].warnings.join("\n");
    let field = "spec.analysis.sessionAffinity: fledge pins sessions to the canary with the istio and gatewayapi providers, as Flagger does; with kubernetes";
    assert!(warnings.contains(field), "{field}: {warnings}");
    // revertOnDeletion is honoured: no warning.
    let reverting = format!("{CANARY}  revertOnDeletion: true\n");
    let warnings = plan(reverting, "{}").unwrap()[0].warnings.clone();
    assert!(
        !warnings.iter().any(|w| w.contains("revertOnDeletion")),
        "{warnings:?}"
    );
}

#[test]
fn run_names_the_flag_of_an_address_it_cannot_listen_on_and_of_a_missing_repository() {
    let t = tree(&[("apps/a.yaml", WEB)]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = |repo: &str| {
        fledge()
            .args(["run", "--repo", repo, "--path", "apps", "--cluster"])
            .arg(format!("sim:{}", t.path().join("cluster").display()))
            .args([
                "--metrics-provider",
                "sim",
                "--listen",
                &addr,
                "--cache-dir",
            ])
            .arg(t.path().join("cache"))
            .output()
            .unwrap()
    };
    let out = run(&t.path().display().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("--listen {addr}:")), "{stderr}");
    let out = run("./no-such-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("--repo ./no-such-config: no such directory"),
        "{stderr}"
    );
}

/// `fledge build ARGS`, which must fail with status 1; its stderr.
fn build_fails(args: &[&OsStr]) -> String {
    let out = fledge().arg("build").args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

#[test]
fn build_reads_bases_anywhere_as_kustomize_does_and_says_what_it_refuses() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";
    // Not a Git work tree: the overlay's base sits outside the directory built.
    let t = tree(&[
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("base/cm.yaml", cm),
        (
            "overlays/prod/kustomization.yaml",
            "resources: [../../base]\nnamePrefix: prod-\n",
        ),
    ]);
    let prod = t.path().join("overlays/prod");
    let out = fledge().arg("build").arg(&prod).output().unwrap();
    assert_eq!(
        ok(&out),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prod-cm\n"
    );
    // With --root, as the daemon in its repository, nothing outside is read.
    let err = build_fails(&[prod.as_os_str(), "--root".as_ref(), prod.as_os_str()]);
    assert!(
        err.contains("`../../base` is outside the build root"),
        "{err}"
    );

    // A symlink out of the root is named as one, in a kustomization and in a plain folder.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), cm).unwrap();
    let t = tree(&[("app/kustomization.yaml", "resources: [link.yaml]\n")]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        t.path().join("app/link.yaml"),
    )
    .unwrap();
    let err = build_fails(&[t.path().join("app").as_os_str()]);
    // As kustomize: the file a kustomization names must really be in its directory.
    assert!(
        err.contains("`link.yaml` is outside the kustomization's directory"),
        "{err}"
    );
    // Confined by --root, it is named as a symlink out of the root.
    let err = build_fails(&[
        t.path().join("app").as_os_str(),
        "--root".as_ref(),
        t.path().as_os_str(),
    ]);
    assert!(
        err.contains("`link.yaml` is outside the build root: it is a symlink that leads out"),
        "{err}"
    );
    std::fs::remove_file(t.path().join("app/kustomization.yaml")).unwrap();
    let err = build_fails(&[t.path().join("app").as_os_str()]);
    assert!(
        err.contains("link.yaml: a symlink that leads outside the build root"),
        "{err}"
    );

    // A name YAML reads as a number is not a missing name.
    let t = tree(&[(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 123\n",
    )]);
    let err = build_fails(&[t.path().as_os_str()]);
    assert!(
        err.contains("ConfigMap `metadata.name` is 123, not a string: quote it"),
        "{err}"
    );
}

#[test]
fn build_widens_its_root_to_what_the_bases_need_and_names_paths_from_it() {
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    // Not a Git work tree: the overlay reaches two directories up, and the base's `apps` is a
    // symlink to a sibling of the base, inside the root the overlay needs.
    let t = tree(&[
        (
            "base/kustomization.yaml",
            "resources: [apps/one, cm.yaml]\n",
        ),
        ("base/cm.yaml", &cm("base")),
        ("apps-real/one/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("apps-real/one/cm.yaml", &cm("one")),
        (
            "overlays/prod/kustomization.yaml",
            "resources: [../../base]\nnamePrefix: prod-\n",
        ),
    ]);
    std::os::unix::fs::symlink("../apps-real", t.path().join("base/apps")).unwrap();
    let prod = t.path().join("overlays/prod");
    let widened = fledge().arg("build").arg(&prod).output().unwrap();
    let rooted = fledge()
        .arg("build")
        .arg(&prod)
        .arg("--root")
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(ok(&widened), ok(&rooted));
    assert!(
        ok(&widened).contains("name: prod-one\n"),
        "{}",
        ok(&widened)
    );

    // An error after widening names its file from the root the bases needed, not from `/`.
    std::fs::write(
        prod.join("kustomization.yaml"),
        "resources: [../../base, missing.yaml]\n",
    )
    .unwrap();
    let err = build_fails(&[prod.as_os_str()]);
    assert!(
        err.starts_with("error: overlays/prod/kustomization.yaml: `missing.yaml` does not exist"),
        "{err}"
    );
}

/// `fledge run ARGS` with `PATH` set to `path` when given, allowed 20 s to exit: its exit code
/// (`None` when it was still running, then killed) and its stderr.
async fn run_exits<S: AsRef<OsStr>>(
    args: &[S],
    path: Option<&std::path::Path>,
) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fledge"));
    cmd.arg("run")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), cmd.output()).await;
    match out {
        Ok(out) => {
            let out = out.unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        Err(_) => (None, "still running after 20 s".into()),
    }
}

/// The flags of a `fledge run` on the simulated cluster, its state below `dir`.
fn sim_flags(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec![
        "--cluster".into(),
        format!("sim:{}", dir.join("cluster").display()).into(),
        "--metrics-provider".into(),
        "sim".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--cache-dir".into(),
        dir.join("cache").into(),
    ]
}

#[tokio::test]
async fn run_refuses_to_start_on_an_empty_credential_file_and_names_its_flag() {
    let t = tree(&[("apps/a.yaml", WEB), ("empty", "\n"), ("full", "x\n")]);
    let (empty, full) = (t.path().join("empty"), t.path().join("full"));
    let repo = t.path().as_os_str();
    // Each credential flag (with what it needs besides) given an empty file.
    let cases: [(&str, Vec<&OsStr>); 5] = [
        ("--github-webhook-secret-file", vec![]),
        (
            "--forge-token-file",
            vec![
                "--forge".as_ref(),
                "github".as_ref(),
                "--forge-repo".as_ref(),
                "o/r".as_ref(),
            ],
        ),
        ("--password-file", vec![]),
        ("--api-token-file", vec![]),
        (
            "--ssh-key-file",
            vec!["--known-hosts-file".as_ref(), full.as_os_str()],
        ),
    ];
    for (flag, besides) in cases {
        let mut args: Vec<&OsStr> = vec!["--repo".as_ref(), repo, flag.as_ref(), empty.as_os_str()];
        args.extend(besides);
        let sim = sim_flags(t.path());
        args.extend(sim.iter().map(std::ffi::OsString::as_os_str));
        let (code, stderr) = run_exits(&args, None).await;
        assert_eq!(code, Some(64), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} {}: the file is empty", empty.display())),
            "{flag}: {stderr}"
        );
    }
}

#[tokio::test]
async fn run_refuses_to_start_without_the_programs_write_back_runs_and_says_why() {
    let t = tree(&[("full", "x\n")]);
    let remote = super::support::git::Remote::new();
    remote.commit(&[("apps/a.yaml", WEB)], "one");
    let bare = tempfile::tempdir().unwrap();
    let only_git = tempfile::tempdir().unwrap();
    let git = fledge::cli::run::find_program("git", std::env::var_os("PATH").as_deref())
        .expect("git is installed here");
    std::os::unix::fs::symlink(git, only_git.path().join("git")).unwrap();
    let sim = sim_flags(t.path());
    let with = |repo: &str, extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["--repo".into(), repo.into()];
        a.extend(["--write-back", "true"].map(Into::into));
        a.extend(extra.iter().map(Into::into));
        a.extend(sim.iter().cloned());
        a
    };
    // No git: write-back cannot push.
    let args = with(&remote.url(), &[]);
    let (code, stderr) = run_exits(&args, Some(bare.path())).await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("`git` is not on PATH, and --write-back pushes outcomes with the git CLI"),
        "{stderr}"
    );
    // git but no ssh, for an ssh remote: git cannot reach it.
    let full = t.path().join("full").display().to_string();
    let ssh_flags = [
        "--ssh-key-file",
        full.as_str(),
        "--known-hosts-file",
        full.as_str(),
    ];
    for url in [
        "ssh://git@127.0.0.1:9/config.git",
        "git@127.0.0.1:config.git",
    ] {
        let args = with(url, &ssh_flags);
        let (code, stderr) = run_exits(&args, Some(only_git.path())).await;
        assert_eq!(code, Some(64), "{url}: {stderr}");
        assert!(
            stderr.contains("`ssh` is not on PATH, and --write-back pushes to the ssh remote")
                && !stderr.contains("`git`"),
            "{url}: {stderr}"
        );
    }
}

#[test]
fn the_programs_fledge_run_needs_follow_its_settings() {
    use std::os::unix::fs::PermissionsExt as _;

    use fledge::cli::run::{find_program, programs_needed};
    use fledge::daemon::config::{Environment, RunArgs, validate};
    let needed = |repo: &str, write_back: bool| {
        let args = RunArgs {
            repo: Some(repo.into()),
            cluster: Some("sim".into()),
            metrics_provider: Some("sim".into()),
            write_back: Some(write_back),
            ..RunArgs::default()
        };
        let config = validate(&args, &Environment::default()).unwrap();
        programs_needed(&config)
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>()
    };
    let https = "https://example.com/org/config.git";
    assert_eq!(needed(https, false), Vec::<&str>::new());
    assert_eq!(needed(https, true), ["git"]);
    for ssh in [
        "ssh://git@example.com/org/config.git",
        "git@example.com:org/config.git",
    ] {
        assert_eq!(needed(ssh, false), Vec::<&str>::new(), "{ssh}");
        assert_eq!(needed(ssh, true), ["git", "ssh"], "{ssh}");
    }
    // The lookup: an executable file in a PATH directory, the first one that has it.
    let t = tree(&[("a/tool", "#!/bin/sh\n"), ("b/tool", "#!/bin/sh\n")]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths([&a, &b]).unwrap();
    assert_eq!(find_program("tool", Some(&path)), Some(b.join("tool")));
    assert_eq!(find_program("other", Some(&path)), None);
    assert_eq!(find_program("tool", None), None);
}

/// The instructions of a Dockerfile: (instruction, arguments), comments dropped and continued
/// lines joined. (By hand: no Dockerfile parser is among the dependencies, and these are the
/// only two rules of its syntax the recipe uses.)
fn dockerfile(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = t.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
        } else {
            current.push_str(t);
            let (word, rest) = current.split_once(' ').unwrap_or((&current, ""));
            out.push((word.to_uppercase(), rest.trim().to_owned()));
            current.clear();
        }
    }
    out
}

/// deploy/Dockerfile's two stages: build and runtime.
type Stage = Vec<(String, String)>;

fn recipe() -> (Stage, Stage) {
    let (build, _, runtime) = stages();
    (build, runtime)
}

/// The image's stages: fledge's build, Helm's engine's build, the runtime.
fn stages() -> (Stage, Stage, Stage) {
    let text = std::fs::read_to_string(super::repo_dir().join("deploy/Dockerfile")).unwrap();
    let steps = dockerfile(&text);
    let stages: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].0 == "FROM").collect();
    assert_eq!(
        stages.len(),
        3,
        "a build stage, the engine's and a runtime stage: {steps:#?}"
    );
    (
        steps[stages[0]..stages[1]].to_vec(),
        steps[stages[1]..stages[2]].to_vec(),
        steps[stages[2]..].to_vec(),
    )
}

#[test]
fn the_image_ships_helms_engine_beside_fledge_built_from_the_repositorys_sources() {
    let (_, engine, runtime) = stages();
    assert!(
        engine[0].1.starts_with("golang:") && engine[0].1.ends_with(" AS helm"),
        "{engine:?}"
    );
    assert_eq!(instructions(&engine, "COPY"), ["engine/helm ./"]);
    let run = instructions(&engine, "RUN").join(" ");
    assert!(
        run.contains("go build") && run.contains("-o /out/fledge-helm"),
        "{run}"
    );
    // Where fledge looks first: beside its own executable.
    assert!(
        instructions(&runtime, "COPY")
            .contains(&"--from=helm /out/fledge-helm /usr/local/bin/fledge-helm".to_owned()),
        "{runtime:?}"
    );
    let ignore = std::fs::read_to_string(super::repo_dir().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "!engine/"),
        ".dockerignore keeps engine/"
    );
}

/// The arguments of a stage's instructions `word`.
fn instructions(stage: &[(String, String)], word: &str) -> Vec<String> {
    stage
        .iter()
        .filter(|(w, _)| w == word)
        .map(|(_, a)| a.clone())
        .collect()
}

// No image builder runs here (docker, podman and buildah need a daemon, and base images that
// cannot be pulled without the network), so the recipe is checked as far as it can be without
// building it: against Cargo's own list of the files a build reads, against the Deployment
// that runs its image, and against what `fledge run` checks at start-up.

#[test]
fn the_image_builds_locked_from_the_files_cargo_reads() {
    let root = super::repo_dir();
    let (build, _) = recipe();
    let run = instructions(&build, "RUN").join(" ");
    assert!(
        run.contains("cargo build --locked --release"),
        "the build is locked: {run}"
    );
    let sources: Vec<String> = instructions(&build, "COPY")
        .iter()
        .flat_map(|a| {
            let words: Vec<&str> = a.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let meta = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_str(&ok(&meta)).unwrap();
    let mut read = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    for target in meta["packages"][0]["targets"].as_array().unwrap() {
        // Cargo needs the files of every target it is told of (the benches are named in
        // Cargo.toml); tests and examples it finds by looking, so it needs none of theirs.
        let kinds = target["kind"].as_array().unwrap();
        if kinds.iter().any(|k| k == "test" || k == "example") {
            continue;
        }
        let path = std::path::Path::new(target["src_path"].as_str().unwrap());
        let rel = path.strip_prefix(&root).unwrap();
        read.push(rel.iter().next().unwrap().to_string_lossy().into_owned());
    }
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let kept: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(
        ignore.lines().any(|l| l.trim() == "*"),
        "the context is an allow-list"
    );
    for needed in &read {
        assert!(
            sources.contains(needed),
            "the build copies {needed}: {sources:?}"
        );
        assert!(
            kept.contains(&needed.as_str()),
            ".dockerignore keeps {needed}"
        );
    }
}

#[test]
fn the_image_runs_what_fledge_run_needs_as_the_deployment_expects() {
    let root = super::repo_dir();
    let (_, runtime) = recipe();
    // Debian slim with what fledge runs (the programs its start-up check looks for, by their
    // Debian packages) and the CA certificates its https clients verify with.
    let from = &runtime[0].1;
    assert!(
        from.starts_with("debian:") && from.contains("-slim"),
        "{from}"
    );
    let run = instructions(&runtime, "RUN").join(" ");
    let install = run
        .split("apt-get install")
        .nth(1)
        .expect("the runtime installs packages")
        .split("&&")
        .next()
        .unwrap();
    let packages: Vec<&str> = install
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .collect();
    for package in ["git", "openssh-client", "ca-certificates"] {
        assert!(packages.contains(&package), "{package}: {packages:?}");
    }
    // As the Deployment runs it: its user, its entrypoint with the Deployment's args, a home on
    // the cache volume (the root file system is read-only), temporary files on a volume.
    let deployment = std::fs::read_to_string(root.join("deploy/deployment.yaml")).unwrap();
    let deployment: serde_json::Value = serde_yaml::Deserializer::from_str(&deployment)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|d: &serde_json::Value| d["kind"] == "Deployment")
        .unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let user = format!(
        "{}:{}",
        pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
    );
    assert_eq!(instructions(&runtime, "USER"), [user]);
    let entrypoint: Vec<String> =
        serde_json::from_str(&instructions(&runtime, "ENTRYPOINT").concat()).unwrap();
    let binary = instructions(&runtime, "COPY")
        .iter()
        .find(|a| a.starts_with("--from="))
        .and_then(|a| a.split_whitespace().last().map(str::to_owned))
        .unwrap();
    assert_eq!(entrypoint, [binary]);
    assert!(container["command"].is_null(), "the entrypoint runs");
    assert_eq!(container["args"][0], "run");
    let mounts = container["volumeMounts"].as_array().unwrap();
    let mounted = |path: &str| mounts.iter().any(|m| m["mountPath"] == path);
    let home = instructions(&runtime, "ENV")
        .iter()
        .find_map(|e| e.strip_prefix("HOME=").map(str::to_owned))
        .unwrap();
    assert!(mounted(&home), "HOME {home} is on a volume");
    let env_home = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HOME")
        .map(|e| e["value"].clone());
    assert_eq!(env_home, Some(serde_json::Value::from(home.clone())));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(mounted("/tmp"), "temporary files have a volume");
    let config = std::fs::read_to_string(root.join("deploy/config.yaml")).unwrap();
    assert!(
        config.contains(&format!("cacheDir: {home}\n")),
        "the caches are on the volume"
    );
}

#[test]
fn hash_refuses_a_secret_the_api_server_would_refuse_naming_the_field_not_the_value() {
    for (data, field) in [
        ("data:\n  token: [hunter2]\n", "data.token: not a string"),
        ("data:\n  token: hunter2!\n", "data.token: not valid base64"),
        (
            "stringData:\n  port: 8080\n",
            "stringData.port: not a string",
        ),
    ] {
        let t = tree(&[(
            "s.yaml",
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n{data}"),
        )]);
        let out = fledge().arg("hash").arg(t.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{data}: {stderr}");
        assert!(
            stderr.contains("Secret default/creds") && stderr.contains(field),
            "{stderr}"
        );
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("8080"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// The binary loads no OpenSSL and no zlib of the host (libgit2 and libssh2 link a static
/// OpenSSL, HTTP clients use rustls), and the image installs none and ships the binary stripped.
#[test]
fn the_binary_loads_no_openssl_or_zlib_of_the_host_and_the_image_installs_none() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_fledge"))
        .output()
        .expect("ldd runs");
    let loads = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{loads}");
    for library in ["libssl", "libcrypto", "libz."] {
        assert!(!loads.contains(library), "{library} in:\n{loads}");
    }
    let (build, runtime) = recipe();
    let packages = instructions(&runtime, "RUN").join(" ");
    assert!(!packages.contains("libssl"), "{packages}");
    let run = instructions(&build, "RUN").join(" ");
    assert!(run.contains("install -D -m 0755 -s "), "stripped: {run}");
}
