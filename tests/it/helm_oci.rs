//! Charts from an OCI registry (`fledge build --charts`), against the real tools on the same
//! input: charts pushed with the real `helm push` to a real registry on loopback
//! (`docker-registry`), and each HelmRelease's objects compared with what the real
//! `helm template oci://…` renders of the version Flux would choose. The chart comes through a
//! `chartRef` to an OCIRepository (following a semver range, a tag, a digest), through a
//! `type: oci` HelmRepository (a range over tags, a pre-release included when the range asks for
//! one), and through a `chartRef` to a HelmChart. A source that asks for signature verification
//! renders its chart only once the real cosign CLI signed it with a key of the Secret.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::support::helm::{self, Helm};
use super::support::{cosign, registry};
use super::{repo_dir, tree};

/// `fledge build --charts DIR`: the objects it prints, or what it said when it failed.
fn build(helm: &Helm, dir: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", "--charts"])
        .arg(dir)
        .env("FLEDGE_HELM_ENGINE", &helm.engine)
        .output()
        .expect("fledge runs");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(said);
    }
    Ok(fledge::render::yaml::parse_objects(&out.stdout).expect("a YAML stream"))
}

/// The objects of release `name` among `objects` (the chart names each after its release).
fn of_release(objects: &[Value], name: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| o["metadata"]["labels"]["helm.sh/chart"].is_string())
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with(name)
        })
        .cloned()
        .collect()
}

/// A HelmRelease `name` in `apps` whose chart is `chart` (YAML of `spec.chart` or
/// `spec.chartRef`, indented for the spec).
fn release(name: &str, chart: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: {name}, namespace: apps}}
spec:
  interval: 5m
{chart}
  values: {{replicaCount: 2}}
"
    )
}

/// The repository's files: three OCIRepositories of `<charts>/podinfo` (a semver range, a tag,
/// `digest`), a `type: oci` HelmRepository of `charts`, a HelmChart of it, and the releases
/// `a`…`e`, one through each.
fn repository(charts: &str, digest: &str) -> Vec<(String, String)> {
    let url = format!("{charts}/podinfo");
    let oci = |name: &str, reference: &str, layer: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: {name}, namespace: apps}}
spec:
  interval: 5m
  url: {url}
  insecure: true
  ref: {reference}
{layer}"
        )
    };
    let copy = "  layerSelector:\n    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip\n    operation: copy\n";
    let chart_ref = |kind: &str, name: &str| format!("  chartRef: {{kind: {kind}, name: {name}}}");
    vec![
        (
            "in-range.yaml".to_owned(),
            oci("in-range", "{semver: 6.x}", copy),
        ),
        ("by-tag.yaml".to_owned(), oci("by-tag", "{tag: 6.2.0}", "")),
        (
            "by-digest.yaml".to_owned(),
            oci("by-digest", &format!("{{digest: \"{digest}\"}}"), copy),
        ),
        (
            "charts.yaml".to_owned(),
            format!(
                "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: apps}}
spec: {{type: oci, url: \"{charts}\", insecure: true, interval: 5m}}
"
            ),
        ),
        (
            "chart.yaml".to_owned(),
            "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: podinfo, namespace: apps}
spec:
  interval: 5m
  chart: podinfo
  version: '>=6.0.0-0'
  sourceRef: {kind: HelmRepository, name: charts}
"
            .to_owned(),
        ),
        (
            "a.yaml".to_owned(),
            release("a", &chart_ref("OCIRepository", "in-range")),
        ),
        (
            "b.yaml".to_owned(),
            release("b", &chart_ref("OCIRepository", "by-tag")),
        ),
        (
            "c.yaml".to_owned(),
            release("c", &chart_ref("OCIRepository", "by-digest")),
        ),
        (
            "d.yaml".to_owned(),
            release(
                "d",
                "  chart:\n    spec:\n      chart: podinfo\n      version: '>=6.1 <6.14'\n      sourceRef: {kind: HelmRepository, name: charts}",
            ),
        ),
        (
            "e.yaml".to_owned(),
            release("e", &chart_ref("HelmChart", "podinfo")),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_from_an_oci_registry_render_as_helm_template_renders_the_version_flux_chooses() {
    let Some(helm) = helm::or_skip() else { return };
    let Some(registry) = registry::or_skip().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let chart = repo_dir().join("tests/charts/podinfo");
    let (chart, packaged) = (chart.to_str().unwrap(), work.path().join("packaged"));
    let out = packaged.to_str().unwrap();
    let charts = format!("oci://{}/charts", registry.addr());
    // Three versions, each pushed as `helm push` pushes it.
    for version in ["6.14.1", "6.2.0", "6.15.0-rc.1"] {
        helm.run(
            work.path(),
            &["package", chart, "--version", version, "-d", out],
        );
        let file = format!("{out}/podinfo-{version}.tgz");
        helm.run(work.path(), &["push", &file, &charts, "--plain-http"]);
    }
    let digest = registry.digest("charts/podinfo", "6.2.0").await;
    let url = format!("{charts}/podinfo");
    let files = repository(&charts, &digest);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let kustomization = format!("resources: [{}]\n", names.join(", "));
    let mut documents: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    documents.push(("kustomization.yaml", &kustomization));
    let dir = tree(&documents);
    let ours = build(helm, dir.path()).unwrap_or_else(|e| {
        panic!(
            "fledge build --charts: {e}\n--- the registry's log:\n{}",
            registry.log()
        )
    });
    for (name, version) in [
        ("a", "6.14.1"),
        ("b", "6.2.0"),
        ("c", "6.2.0"),
        ("d", "6.2.0"),
        ("e", "6.15.0-rc.1"),
    ] {
        let theirs = helm.run(
            work.path(),
            &[
                "template",
                name,
                &url,
                "--version",
                version,
                "--plain-http",
                "--namespace",
                "apps",
                "--include-crds",
                "--skip-tests",
                "--set",
                "replicaCount=2",
            ],
        );
        let theirs = fledge::render::yaml::parse_objects(theirs.as_bytes()).unwrap();
        assert!(!theirs.is_empty());
        assert_eq!(of_release(&ours, name), theirs, "release {name}");
        assert_eq!(
            theirs[0]["metadata"]["labels"]["helm.sh/chart"],
            format!("podinfo-{version}").as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oci_source_that_cannot_give_the_chart_fails_naming_it() {
    let Some(helm) = helm::or_skip() else { return };
    let Some(registry) = registry::or_skip().await else {
        return;
    };
    // An image, not a chart: its first layer is a tarball of files, not a packaged chart…
    registry.push_image("apps/web", "1.0.0").await;
    let url = format!("oci://{}", registry.addr());
    let source = |name: &str, spec: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: {name}, namespace: apps}}
spec: {{interval: 5m, insecure: true, {spec}}}
"
        )
    };
    let cases = [
        (
            source(
                "web",
                &format!(
                    "url: \"{url}/apps/web\", ref: {{tag: 1.0.0}}, layerSelector: {{mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip}}"
                ),
            ),
            "has no layer of media type application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        ),
        // …a range no tag meets…
        (
            source(
                "web",
                &format!("url: \"{url}/apps/web\", ref: {{semver: '>=2'}}"),
            ),
            "no tag of",
        ),
        // …a signature fledge cannot check (keyless).
        (
            source(
                "web",
                &format!("url: \"{url}/apps/web\", verify: {{provider: cosign}}"),
            ),
            "spec.verify without secretRef (keyless cosign verification",
        ),
    ];
    for (repository, said) in cases {
        let hr = release("web", "  chartRef: {kind: OCIRepository, name: web}");
        let dir = tree(&[
            ("kustomization.yaml", "resources: [source.yaml, hr.yaml]\n"),
            ("source.yaml", &repository),
            ("hr.yaml", &hr),
        ]);
        let e = build(helm, dir.path()).expect_err(&repository);
        assert!(
            e.contains("HelmRelease apps/web") && e.contains(said),
            "{e}"
        );
    }
}

/// The files of a build of release `web` through `chart` (YAML of `spec.chartRef` or
/// `spec.chart`), with `sources` and the Secret `keys` holding `public` as `cosign.pub`.
fn verified_tree(sources: &str, chart: &str, public: &str) -> tempfile::TempDir {
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: keys, namespace: apps}}\nstringData:\n  cosign.pub: {}\n",
        serde_json::to_string(public).unwrap()
    );
    let hr = release("web", chart);
    tree(&[
        (
            "kustomization.yaml",
            "resources: [keys.yaml, sources.yaml, hr.yaml]\n",
        ),
        ("keys.yaml", &secret),
        ("sources.yaml", sources),
        ("hr.yaml", &hr),
    ])
}

/// An OCIRepository `podinfo` of `<charts>/podinfo` at 6.2.0 and a `type: oci` HelmRepository
/// `charts` of `charts`, both verified with the Secret `keys`, and an HTTPS HelmRepository `web`.
fn verified_sources(charts: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: podinfo, namespace: apps}}
spec:
  interval: 5m
  url: {charts}/podinfo
  insecure: true
  ref: {{tag: 6.2.0}}
  verify: {{provider: cosign, secretRef: {{name: keys}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: apps}}
spec: {{type: oci, url: \"{charts}\", insecure: true, interval: 5m}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: web, namespace: apps}}
spec: {{url: \"https://charts.example\", interval: 5m}}
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chart_whose_source_asks_for_verification_renders_only_once_a_key_of_the_secret_signed_it()
 {
    let Some(helm) = helm::or_skip() else { return };
    let Some(cosign) = cosign::or_skip() else {
        return;
    };
    let Some(registry) = registry::or_skip().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let chart = repo_dir().join("tests/charts/podinfo");
    let out = work.path().join("packaged");
    let out = out.to_str().unwrap();
    let charts = format!("oci://{}/signed", registry.addr());
    helm.run(
        work.path(),
        &[
            "package",
            chart.to_str().unwrap(),
            "--version",
            "6.2.0",
            "-d",
            out,
        ],
    );
    let file = format!("{out}/podinfo-6.2.0.tgz");
    helm.run(work.path(), &["push", &file, &charts, "--plain-http"]);
    let digest = registry.digest("signed/podinfo", "6.2.0").await;
    let reference = format!("{}/signed/podinfo@{digest}", registry.addr());
    let trusted = cosign.key_pair("trusted");
    cosign.key_pair("other");
    let sources = verified_sources(&charts);
    let by_ref = "  chartRef: {kind: OCIRepository, name: podinfo}";
    let by_repository = |repository: &str| {
        format!(
            "  chart:\n    spec:\n      chart: podinfo\n      version: 6.2.0\n      sourceRef: {{kind: HelmRepository, name: {repository}}}\n      verify: {{provider: cosign, secretRef: {{name: keys}}}}"
        )
    };
    let refused = |chart: &str| {
        let dir = verified_tree(&sources, chart, &trusted);
        build(helm, dir.path()).expect_err(chart)
    };
    // Unsigned: refused, naming the field and the chart's digest.
    let e = refused(by_ref);
    assert!(
        e.contains("OCIRepository apps/podinfo: spec.verify")
            && e.contains(&digest)
            && e.contains("it has no cosign signature"),
        "{e}"
    );
    let e = refused(&by_repository("charts"));
    assert!(
        e.contains("HelmRelease apps/web: spec.chart.spec.verify") && e.contains(&digest),
        "{e}"
    );
    // Signed by a key the Secret does not hold: refused.
    cosign.sign("other", &reference);
    let e = refused(by_ref);
    assert!(e.contains("no key of cosign.pub verifies it"), "{e}");
    // Signed by the Secret's key too: either source renders it, as helm template does.
    cosign.sign("trusted", &reference);
    let theirs = helm.run(
        work.path(),
        &[
            "template",
            "web",
            &format!("{charts}/podinfo"),
            "--version",
            "6.2.0",
            "--plain-http",
            "--namespace",
            "apps",
            "--include-crds",
            "--skip-tests",
            "--set",
            "replicaCount=2",
        ],
    );
    let theirs = fledge::render::yaml::parse_objects(theirs.as_bytes()).unwrap();
    for chart in [by_ref.to_owned(), by_repository("charts")] {
        let dir = verified_tree(&sources, &chart, &trusted);
        let ours = build(helm, dir.path()).unwrap_or_else(|e| panic!("{chart}: {e}"));
        assert_eq!(of_release(&ours, "web"), theirs, "{chart}");
    }
    // No signature can be had from an HTTPS repository: refused before anything is fetched.
    let e = refused(&by_repository("web"));
    assert!(
        e.contains("HelmRepository apps/web is not `type: oci`"),
        "{e}"
    );
}
