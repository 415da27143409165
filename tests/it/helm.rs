//! HelmReleases rendered by fledge (`fledge build --charts`: Flux's values composition, Helm's
//! own engine) against the real `helm template` on the same chart and values: charts read from
//! the repository and from a real chart repository (an index made by `helm repo index`, served
//! over HTTP with basic auth). The objects must be identical.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::support::helm::{self, Helm};
use super::{repo_dir, tree};

/// `fledge build --charts DIR` with the engine given.
fn build_charts(helm: &Helm, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", "--charts"])
        .arg(dir)
        .env("FLEDGE_HELM_ENGINE", &helm.engine)
        .output()
        .expect("fledge runs")
}

/// The objects of a YAML stream, as fledge's build reads them, empty documents left out.
fn objects(text: &str) -> Vec<Value> {
    fledge::render::yaml::parse_objects(text.as_bytes()).expect("a YAML stream of objects")
}

/// The objects `fledge build --charts DIR` prints, and what it said on stderr.
fn rendered_saying(helm: &Helm, dir: &Path) -> (Vec<Value>, String) {
    let out = build_charts(helm, dir);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fledge build --charts: {said}");
    (objects(&String::from_utf8(out.stdout).expect("text")), said)
}

fn rendered(helm: &Helm, dir: &Path) -> Vec<Value> {
    rendered_saying(helm, dir).0
}

/// A repository holding `chart` (from tests/charts) under charts/, a kustomization of the given
/// documents, and nothing else.
fn repository(chart: &str, documents: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = documents
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    let names: Vec<&str> = documents.iter().map(|(n, _)| *n).collect();
    files.push((
        "kustomization.yaml".to_owned(),
        format!("resources: [{}]\n", names.join(", ")),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = tree(&refs);
    copy_dir(
        &repo_dir().join("tests/charts").join(chart),
        &dir.path().join("charts").join(chart),
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

const GIT_SOURCE: &str = "      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n";

/// The ConfigMap of the podinfo release's first `valuesFrom`.
const VALUES_CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
  namespace: apps
data:
  values.yaml: |
    replicaCount: 1
    ui:
      color: '#34577c'
      message: from the ConfigMap
    hpa:
      enabled: true
      maxReplicas: 7
";

/// The Secret of its second, read at a target path.
const VALUES_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: podinfo-secret
  namespace: apps
stringData:
  token: s3cr3t
";

#[test]
fn a_chart_from_git_renders_as_helm_template_renders_it_with_flux_values() {
    let Some(helm) = helm::or_skip() else { return };
    let release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: apps
spec:
  interval: 10m
  targetNamespace: web
  chart:
    spec:
      chart: ./charts/podinfo
{GIT_SOURCE}  valuesFrom:
    - kind: ConfigMap
      name: podinfo-values
    - kind: Secret
      name: podinfo-secret
      valuesKey: token
      targetPath: podinfo.jwt
      optional: false
    - kind: ConfigMap
      name: absent
      optional: true
  values:
    replicaCount: 3
    ui:
      message: from spec.values
"
    );
    let dir = repository(
        "podinfo",
        &[
            ("release.yaml", &release),
            ("values.yaml", VALUES_CONFIGMAP),
            ("secret.yaml", VALUES_SECRET),
        ],
    );
    let (ours, said) = rendered_saying(helm, dir.path());
    assert!(
        said.contains("note: HelmRelease apps/podinfo: spec.valuesFrom[2] is optional and left out: ConfigMap apps/absent is in the cluster"),
        "{said}"
    );
    // The same composition with helm's flags: the ConfigMap's values, spec.values over them,
    // and the Secret's key at its target path (spec.values does not set that path).
    std::fs::write(
        dir.path().join("cm.yaml"),
        "replicaCount: 1\nui:\n  color: '#34577c'\n  message: from the ConfigMap\nhpa:\n  enabled: true\n  maxReplicas: 7\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("inline.yaml"),
        "replicaCount: 3\nui:\n  message: from spec.values\n",
    )
    .unwrap();
    let theirs = helm.run(
        dir.path(),
        &[
            "template",
            "web-podinfo",
            "charts/podinfo",
            "--namespace",
            "web",
            "--include-crds",
            "--skip-tests",
            "-f",
            "cm.yaml",
            "-f",
            "inline.yaml",
            "--set",
            "podinfo.jwt=s3cr3t",
        ],
    );
    let theirs = objects(&theirs);
    let kept: Vec<&Value> = ours.iter().filter(|o| o["kind"] != "HelmRelease").collect();
    // The kustomization's own objects come first, then the release's.
    let chart_objects: Vec<Value> = ours
        .iter()
        .filter(|o| o["metadata"]["namespace"] == "web")
        .cloned()
        .collect();
    assert_eq!(chart_objects, theirs);
    assert_eq!(
        kept.len(),
        ours.len(),
        "the HelmRelease is replaced by its objects"
    );
    let deployment = theirs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["name"], "web-podinfo");
    assert!(
        theirs
            .iter()
            .any(|o| o["kind"] == "HorizontalPodAutoscaler")
    );
}

#[test]
fn helms_own_test_charts_render_as_helm_template_renders_them() {
    let Some(helm) = helm::or_skip() else { return };
    for (chart, values) in [
        (
            "subchart",
            "    subchartb:\n      enabled: true\n    SCAdata:\n      SCAbool: true\n",
        ),
        (
            "subchart",
            "    subcharta:\n      enabled: false\n    tags:\n      front-end: false\n",
        ),
        ("object-order", "    {}\n"),
        ("chart-with-lib-dep", "    replicaCount: 2\n"),
    ] {
        let release = format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {chart}
  namespace: default
spec:
  interval: 10m
  releaseName: {chart}-release
  chart:
    spec:
      chart: charts/{chart}
      valuesFiles: [values.yaml{extra}]
{GIT_SOURCE}  values:
{values}",
            extra = if chart == "subchart" {
                ", extra_values.yaml"
            } else {
                ""
            }
        );
        let dir = repository(chart, &[("release.yaml", &release)]);
        std::fs::write(
            dir.path().join("inline.yaml"),
            values.replace("\n    ", "\n").trim_start(),
        )
        .unwrap();
        let ours = rendered(helm, dir.path());
        let mut args = vec![
            "template",
            "",
            "",
            "--namespace",
            "default",
            "--include-crds",
            "--skip-tests",
        ];
        let (name, path) = (format!("{chart}-release"), format!("charts/{chart}"));
        args[1] = &name;
        args[2] = &path;
        if chart == "subchart" {
            args.extend(["-f", "extra.yaml"]);
            // valuesFiles replace the chart's values.yaml with the files merged: values.yaml
            // then extra_values.yaml, as helm's -f of the same files over the chart does.
            std::fs::copy(
                dir.path().join("charts/subchart/extra_values.yaml"),
                dir.path().join("extra.yaml"),
            )
            .unwrap();
        }
        args.extend(["-f", "inline.yaml"]);
        let theirs = objects(&helm.run(dir.path(), &args));
        assert!(theirs.len() >= 2, "{chart}: {theirs:?}");
        assert_eq!(ours, theirs, "{chart} with {values}");
    }
}

/// The requests a server saw: path, and whether it carried the credentials.
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// Serves `dir` over HTTP, asking for `user`:`password`; records each request's path and
/// whether it carried the credentials.
fn serve(dir: &Path, user: &str, password: &str) -> (String, Seen) {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let seen: Seen = Arc::default();
    let (root, log) = (dir.to_owned(), seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(
                move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                    let (root, log, expected) = (root.clone(), log.clone(), expected.clone());
                    async move {
                        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                            == Some(expected.as_str());
                        log.lock()
                            .unwrap()
                            .push((uri.path().to_owned(), authorized));
                        if !authorized {
                            return (axum::http::StatusCode::UNAUTHORIZED, Vec::new());
                        }
                        match std::fs::read(root.join(uri.path().trim_start_matches('/'))) {
                            Ok(b) => (axum::http::StatusCode::OK, b),
                            Err(_) => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
                        }
                    }
                },
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    (base, seen)
}

/// A release of the chart repository's podinfo 6.x.
const REPOSITORY_RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: apps
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: 6.x
      sourceRef:
        kind: HelmRepository
        name: charts
  values:
    service:
      type: NodePort
";

/// The chart repository's credentials.
const REPOSITORY_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: charts-auth
  namespace: apps
data:
  username: cmVhZGVy
  password: cDRzcw==
";

#[test]
fn a_chart_from_a_helm_repository_is_the_newest_that_meets_the_constraint() {
    let Some(helm) = helm::or_skip() else { return };
    let work = tempfile::tempdir().unwrap();
    let served = work.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let chart = repo_dir().join("tests/charts/podinfo");
    let chart = chart.to_str().unwrap();
    let out = served.to_str().unwrap();
    // Three versions: the constraint `6.x` takes 6.14.1, not the older one nor the pre-release.
    helm.run(work.path(), &["package", chart, "-d", out]);
    helm.run(
        work.path(),
        &["package", chart, "--version", "6.2.0", "-d", out],
    );
    helm.run(
        work.path(),
        &["package", chart, "--version", "6.15.0-rc.1", "-d", out],
    );
    helm.run(work.path(), &["repo", "index", out]);
    let (base, seen) = serve(&served, "reader", "p4ss");
    let repository = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: apps
spec:
  interval: 5m
  url: {base}/
  secretRef:
    name: charts-auth
"
    );
    let dir = tree(&[
        (
            "kustomization.yaml",
            "resources: [release.yaml, repository.yaml, secret.yaml]\n",
        ),
        ("release.yaml", REPOSITORY_RELEASE),
        ("repository.yaml", &repository),
        ("secret.yaml", REPOSITORY_SECRET),
    ]);
    let ours = rendered(helm, dir.path());
    let theirs = objects(&helm.run(
        work.path(),
        &[
            "template",
            "podinfo",
            &format!("{out}/podinfo-6.14.1.tgz"),
            "--namespace",
            "apps",
            "--include-crds",
            "--skip-tests",
            "--set",
            "service.type=NodePort",
        ],
    ));
    let chart_objects: Vec<Value> = ours
        .iter()
        .filter(|o| o["metadata"]["labels"]["helm.sh/chart"].is_string())
        .cloned()
        .collect();
    assert_eq!(chart_objects, theirs);
    assert_eq!(
        chart_objects[0]["metadata"]["labels"]["helm.sh/chart"],
        "podinfo-6.14.1"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("/index.yaml".to_owned(), true),
            ("/podinfo-6.14.1.tgz".to_owned(), true)
        ],
        "the index, then the chart, each with the credentials"
    );
}

#[test]
fn what_cannot_be_rendered_fails_saying_why_and_prints_nothing() {
    let Some(helm) = helm::or_skip() else { return };
    let release = |values: &str, extra: &str| {
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: apps
spec:
  interval: 10m
  chart:
    spec:
      chart: charts/podinfo
{GIT_SOURCE}{extra}  values:
{values}"
        )
    };
    for (values, extra, said) in [
        // A valuesFrom that only the cluster could hold.
        (
            "    {}\n",
            "  valuesFrom:\n    - kind: ConfigMap\n      name: in-cluster\n",
            "ConfigMap apps/in-cluster is in the cluster, and this command reads none",
        ),
        (
            "    {}\n",
            "  kubeConfig:\n    secretRef:\n      name: remote\n",
            "spec.kubeConfig not applied by fledge yet",
        ),
    ] {
        let dir = repository("podinfo", &[("release.yaml", &release(values, extra))]);
        let out = build_charts(helm, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.contains("HelmRelease apps/podinfo: "), "{stderr}");
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    // A template that fails: Helm's own message, naming the template.
    let dir = tree(&[
        ("kustomization.yaml", "resources: [release.yaml]\n"),
        (
            "release.yaml",
            &release("    {}\n", "").replace("charts/podinfo", "charts/broken"),
        ),
        (
            "charts/broken/Chart.yaml",
            "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
        ),
        (
            "charts/broken/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required \"set .Values.name\" .Values.name }}\n",
        ),
    ]);
    let out = build_charts(helm, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("HelmRelease apps/podinfo: Helm could not render the chart")
            && stderr.contains("broken/templates/cm.yaml")
            && stderr.contains("set .Values.name"),
        "{stderr}"
    );
    // Without the engine: how to get it.
    let dir = repository("podinfo", &[("release.yaml", &release("    {}\n", ""))]);
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", "--charts"])
        .arg(dir.path())
        .env("FLEDGE_HELM_ENGINE", "")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("needs fledge-helm, Helm's engine") && stderr.contains("scripts/helm.sh"),
        "{stderr}"
    );
}

/// The files of tests/charts/`chart`, by path below `under`.
pub(crate) fn chart_files(chart: &str, under: &str) -> Vec<(String, String)> {
    let root = repo_dir().join("tests/charts").join(chart);
    let mut out = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                pending.push(p);
            } else {
                let rel = p.strip_prefix(&root).unwrap().to_str().unwrap().to_owned();
                out.push((
                    format!("{under}/{rel}"),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    out
}

/// podinfo's HelmRelease in `shop`, its chart from the repository, its pods erring at
/// `error_rate` (the simulated cluster reads the annotation), with a Canary on its Deployment.
fn podinfo_release(tag: &str, error_rate: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: shop
spec:
  interval: 1m
  chart:
    spec:
      chart: ./charts/podinfo
{GIT_SOURCE}  values:
    image:
      tag: {tag}
    podAnnotations:
      sim.fledge.dev/error-rate: \"{error_rate}\"
    ingress:
      enabled: true
      className: nginx
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: shop
spec:
  provider: nginx
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}
  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}}
  service: {{port: 9898}}
  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 50
    maxWeight: 50
    metrics: [{{name: request-success-rate, thresholdRange: {{min: 99}}}}]
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charts_deployment_under_a_canary_is_promoted_and_rolled_back_with_its_service_in_place()
{
    use super::safety::{NAMESPACE, daemon};
    use super::support::git::Remote;
    let Some(helm) = helm::or_skip() else { return };
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let chart = chart_files("podinfo", "charts/podinfo");
    let mut files: Vec<(&str, &str)> = chart
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let first = podinfo_release("6.14.1", "0");
    files.extend([
        ("apps/namespace.yaml", NAMESPACE),
        ("apps/podinfo.yaml", first.as_str()),
    ]);
    remote.commit(&files, "podinfo");
    let engine = helm.engine.to_str().unwrap();
    let d = daemon(&remote, root.path(), "apps")
        .args(["--time-scale", "10", "--helm-engine", engine])
        .in_process()
        .await;
    d.until_phase("shop/podinfo", "Initialized").await;
    let deployment = |d: &super::support::daemon::InProcess, name: &str| {
        d.get("apps", "Deployment", "shop", name).unwrap()
    };
    let image = |o: &Value| o["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    let primary = deployment(&d, "podinfo-primary");
    assert_eq!(image(&primary), "ghcr.io/stefanprodan/podinfo:6.14.1");
    // The chart's Service has the apex name: the rollout owns it (as Flagger replaces it),
    // selecting the primary; nothing had to be stripped from the chart.
    let service = d.get("", "Service", "shop", "podinfo").unwrap();
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/name"], "podinfo-primary",
        "{service}"
    );
    // The chart's objects carry helm-controller's origin labels.
    let target = deployment(&d, "podinfo");
    let labels = &target["metadata"]["labels"];
    assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "podinfo", "{target}");
    assert_eq!(
        labels["helm.toolkit.fluxcd.io/namespace"], "shop",
        "{target}"
    );
    let unit = d
        .shared
        .sync()
        .units
        .iter()
        .find(|u| u.name == "HelmRelease/shop/podinfo")
        .cloned();
    assert!(unit.as_ref().is_some_and(|u| u.ready), "{unit:?}");
    // A values change that changes the pod template is a canary, promoted.
    remote.commit(
        &[("apps/podinfo.yaml", &podinfo_release("6.14.2", "0"))],
        "podinfo 6.14.2",
    );
    d.until_phase("shop/podinfo", "Succeeded").await;
    assert_eq!(
        image(&deployment(&d, "podinfo-primary")),
        "ghcr.io/stefanprodan/podinfo:6.14.2"
    );
    // One that errs is rolled back: the primary keeps serving 6.14.2.
    remote.commit(
        &[("apps/podinfo.yaml", &podinfo_release("6.14.3", "50"))],
        "podinfo 6.14.3",
    );
    d.until_phase("shop/podinfo", "Failed").await;
    assert_eq!(
        image(&deployment(&d, "podinfo-primary")),
        "ghcr.io/stefanprodan/podinfo:6.14.2"
    );
    assert_eq!(deployment(&d, "podinfo")["spec"]["replicas"], 0);
    let service = d.get("", "Service", "shop", "podinfo").unwrap();
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/name"],
        "podinfo-primary"
    );
    d.stop().await;
}

#[test]
fn a_build_answers_lookups_with_nothing_as_helm_template_does_and_says_so() {
    let Some(helm) = helm::or_skip() else { return };
    let release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: lookup
  namespace: demo
spec:
  interval: 10m
  chart:
    spec:
      chart: charts/lookup
{GIT_SOURCE}"
    );
    let dir = repository("lookup", &[("release.yaml", &release)]);
    let (ours, said) = rendered_saying(helm, dir.path());
    let theirs = objects(&helm.run(
        dir.path(),
        &["template", "lookup", "charts/lookup", "--namespace", "demo"],
    ));
    assert_eq!(ours, theirs);
    assert_eq!(ours[0]["data"]["password"], "generated", "{ours:?}");
    for asked in [
        r#"lookup "v1" "Secret" "demo" "keep""#,
        r#"lookup "v1" "ConfigMap" "demo" """#,
        r#"lookup "v1" "Namespace" "elsewhere" "demo""#,
        r#"lookup "v1" "Namespace" "" """#,
    ] {
        assert!(
            said.contains(&format!("{asked} answered nothing")),
            "{asked}: {said}"
        );
    }
}
