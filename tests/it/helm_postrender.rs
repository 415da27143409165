//! A HelmRelease's postRenderers and commonMetadata, rendered as helm-controller renders them.
//!
//! The oracle is what helm-controller v1.4.5 runs, made of the real peers: `helm template` of
//! the same chart, values, release name and namespace; its objects other than hooks through
//! `kubectl kustomize`, once per post-renderer, with the post-renderer's patches and images in
//! the kustomization; then commonMetadata and helm-controller's origin labels through
//! `kubectl kustomize` with the very transformer configurations helm-controller gives kustomize
//! (`LabelTransformer` and `AnnotationsTransformer` on `metadata` only, origin labels last). The
//! CRDs of the chart's `crds/` (`helm show crds`) and its hooks are not post-rendered. Objects
//! are compared parsed, in one order.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::support::helm::{self, Helm};
use super::{repo_dir, tree};

const GIT_SOURCE: &str = "      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n";

/// `fledge build --charts DIR` with the engine given.
fn build_charts(helm: &Helm, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", "--charts"])
        .arg(dir)
        .env("FLEDGE_HELM_ENGINE", &helm.engine)
        .output()
        .expect("fledge runs")
}

fn objects(text: &str) -> Vec<Value> {
    fledge::render::yaml::parse_objects(text.as_bytes()).expect("a YAML stream of objects")
}

/// The objects fledge prints for `dir`, in one order.
fn fledge_build(helm: &Helm, dir: &Path) -> Vec<Value> {
    let out = build_charts(helm, dir);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fledge build --charts: {said}");
    sorted(objects(&String::from_utf8(out.stdout).expect("text")))
}

/// `objects` ordered by kind, namespace and name.
fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    let key = |o: &Value| {
        let m = &o["metadata"];
        [&o["apiVersion"], &o["kind"], &m["namespace"], &m["name"]].map(ToString::to_string)
    };
    objects.sort_by_key(key);
    objects
}

/// A repository holding `chart` (from tests/charts) under charts/, and a kustomization of
/// `release.yaml`.
fn repository(chart: &str, release: &str) -> tempfile::TempDir {
    let files = super::helm::chart_files(chart, &format!("charts/{chart}"));
    let mut all: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    all.extend([
        ("kustomization.yaml", "resources: [release.yaml]\n"),
        ("release.yaml", release),
    ]);
    tree(&all)
}

/// What helm-controller post-renders a release with: each post-renderer (the fields of its
/// kustomization, YAML at the left margin), commonMetadata, and the origin labels.
#[derive(Default)]
struct PostRender<'a> {
    kustomize: &'a [&'a str],
    labels: &'a [(&'a str, &'a str)],
    annotations: &'a [(&'a str, &'a str)],
    /// The HelmRelease's name and namespace, for its origin labels (applied objects only).
    origin: Option<(&'a str, &'a str)>,
}

impl PostRender<'_> {
    /// `spec.postRenderers` and `spec.commonMetadata`, as a HelmRelease's spec writes them.
    fn spec(&self) -> String {
        let mut out = String::new();
        if !self.kustomize.is_empty() {
            out.push_str("  postRenderers:\n");
        }
        for k in self.kustomize {
            out.push_str("    - kustomize:\n");
            for line in k.lines() {
                writeln!(out, "        {line}").unwrap();
            }
        }
        if !self.labels.is_empty() || !self.annotations.is_empty() {
            out.push_str("  commonMetadata:\n");
        }
        for (field, pairs) in [("labels", self.labels), ("annotations", self.annotations)] {
            if !pairs.is_empty() {
                writeln!(out, "    {field}:").unwrap();
            }
            for (k, v) in pairs {
                writeln!(out, "      {k}: {v:?}").unwrap();
            }
        }
        out
    }
}

/// `kubectl kustomize` of `objects` with the kustomization `fields`; its stderr when it fails.
fn kubectl_kustomize(
    input: &[Value],
    fields: &str,
    files: &[(&str, String)],
) -> Result<Vec<Value>, String> {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<String> = input.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("input.yaml"), docs.join("\n---\n")).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("resources: [input.yaml]\n{fields}"),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(objects(&String::from_utf8(out.stdout).expect("text")))
}

/// A kustomize builtin transformer's configuration file `file`, as helm-controller configures
/// the transformer: `field` of `metadata` only, made when missing.
fn transformer(
    file: &'static str,
    kind: &str,
    field: &str,
    pairs: &[(&str, &str)],
) -> (&'static str, String) {
    let name = file.trim_end_matches(".yaml");
    let mut out =
        format!("apiVersion: builtin\nkind: {kind}\nmetadata:\n  name: {name}\n{field}:\n");
    for (k, v) in pairs {
        writeln!(out, "  {k}: {v:?}").unwrap();
    }
    writeln!(
        out,
        "fieldSpecs:\n  - path: metadata/{field}\n    create: true"
    )
    .unwrap();
    (file, out)
}

/// `kubectl kustomize` of `objects` with `transformers` (files of [`transformer`]) in order.
fn transformed(objects: Vec<Value>, transformers: &[(&str, String)]) -> Result<Vec<Value>, String> {
    if transformers.is_empty() {
        return Ok(objects);
    }
    let names: Vec<&str> = transformers.iter().map(|(n, _)| *n).collect();
    let fields = format!("transformers: [{}]\n", names.join(", "));
    kubectl_kustomize(&objects, &fields, transformers)
}

/// What helm-controller installs: `helm template ARGS` (tests left out), its objects other than
/// hooks post-rendered by `post`, the CRDs of `crds_of` (a chart path, `helm show crds`) with
/// the origin labels alone, and the hooks as Helm rendered them.
fn helm_controller(
    helm: &Helm,
    dir: &Path,
    args: &[&str],
    crds_of: Option<&str>,
    post: &PostRender<'_>,
) -> Result<Vec<Value>, String> {
    let mut template = vec!["template", "--skip-tests"];
    template.extend(args);
    let (hooks, mut manifest): (Vec<Value>, Vec<Value>) = objects(&helm.run(dir, &template))
        .into_iter()
        .partition(|o| !o["metadata"]["annotations"]["helm.sh/hook"].is_null());
    for k in post.kustomize {
        manifest = kubectl_kustomize(&manifest, k, &[])?;
    }
    let mut origin = Vec::new();
    if let Some((name, namespace)) = post.origin {
        let labels = [
            ("helm.toolkit.fluxcd.io/name", name),
            ("helm.toolkit.fluxcd.io/namespace", namespace),
        ];
        origin.push(transformer(
            "origin.yaml",
            "LabelTransformer",
            "labels",
            &labels,
        ));
    }
    let mut common = Vec::new();
    if !post.labels.is_empty() {
        common.push(transformer(
            "labels.yaml",
            "LabelTransformer",
            "labels",
            post.labels,
        ));
    }
    if !post.annotations.is_empty() {
        let t = transformer(
            "annotations.yaml",
            "AnnotationsTransformer",
            "annotations",
            post.annotations,
        );
        common.push(t);
    }
    // helm-controller's order: commonMetadata, then the origin labels.
    common.extend(origin.iter().cloned());
    let mut out = Vec::new();
    if let Some(chart) = crds_of {
        let crds = objects(&helm.run(dir, &["show", "crds", chart]));
        out.extend(transformed(crds, &origin)?);
    }
    out.extend(transformed(manifest, &common)?);
    out.extend(hooks);
    Ok(sorted(out))
}

/// podinfo's HelmRelease `podinfo` in `apps`, installed into `web`, with `post` in its spec
/// and a pre-install hook when `hook`.
fn podinfo(post: &PostRender<'_>, hook: bool) -> String {
    format!(
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
{GIT_SOURCE}  values:
    replicaCount: 2
    hooks:
      preInstall:
        job:
          enabled: {hook}
{}",
        post.spec()
    )
}

/// The values of [`podinfo`] written into `dir` for `helm template`; its arguments.
fn podinfo_args(dir: &Path, hook: bool) -> [&'static str; 6] {
    let values =
        format!("replicaCount: 2\nhooks:\n  preInstall:\n    job:\n      enabled: {hook}\n");
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    [
        "web-podinfo",
        "charts/podinfo",
        "--namespace",
        "web",
        "-f",
        "values.yaml",
    ]
}

/// A strategic-merge patch naming its object (kustomize matches the namespace too: Helm's
/// release namespace, which podinfo's templates write), a JSON6902 patch by kind, name and
/// label selector, and images.
fn first(namespace: &str) -> String {
    format!(
        r#"patches:
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web-podinfo
        namespace: {namespace}
        annotations:
          rollout: canary
      spec:
        template:
          spec:
            containers:
              - name: podinfo
                env:
                  - name: FROM_POST_RENDERER
                    value: "yes"
                resources:
                  limits:
                    memory: 256Mi
  - target:
      kind: Service
      name: web-podinfo
      labelSelector: app.kubernetes.io/name=web-podinfo
    patch: |
      - op: add
        path: /metadata/annotations
        value:
          service.beta.kubernetes.io/internal: "true"
      - op: replace
        path: /spec/type
        value: NodePort
images:
  - name: ghcr.io/stefanprodan/podinfo
    newName: registry.example.com/podinfo
    newTag: 6.9.0
"#
    )
}

/// A second post-renderer that selects what the first annotated.
const SECOND: &str = r"patches:
  - target:
      group: apps
      version: v1
      kind: Deployment
      annotationSelector: rollout=canary
    patch: |
      - op: replace
        path: /spec/replicas
        value: 5
  - target:
      kind: Job
    patch: |
      - op: add
        path: /metadata/labels/never
        value: applied
";

#[test]
fn podinfo_post_rendered_in_sequence_with_common_metadata_is_helm_controllers() {
    let Some(helm) = helm::or_skip() else { return };
    let first = first("web");
    let post = PostRender {
        kustomize: &[&first, SECOND],
        labels: &[("team", "shop"), ("app.kubernetes.io/version", "common")],
        annotations: &[("owner", "ops"), ("rollout", "blue")],
        ..PostRender::default()
    };
    let dir = repository("podinfo", &podinfo(&post, true));
    let ours = fledge_build(helm, dir.path());
    let args = podinfo_args(dir.path(), true);
    let theirs = helm_controller(helm, dir.path(), &args, None, &post).unwrap();
    assert_eq!(ours, theirs);
    // What the comparison holds, spelled out: the hook is not post-rendered.
    let find = |kind: &str| ours.iter().find(|o| o["kind"] == kind).unwrap();
    let deployment = find("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 5);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/podinfo:6.9.0"
    );
    assert_eq!(deployment["metadata"]["annotations"]["rollout"], "blue");
    let job = find("Job");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:6.14.1"
    );
    assert!(job["metadata"]["labels"]["team"].is_null(), "{job}");
}

#[test]
fn a_charts_crds_are_not_post_rendered_and_a_target_without_match_changes_nothing() {
    let Some(helm) = helm::or_skip() else { return };
    // Every object, every Service the chart wrote in `web` (none: the chart writes no
    // namespace, and Helm puts the release's on after the post-renderers), and the subchart's
    // Services by a name pattern.
    let kustomize = r"patches:
  - target: {}
    patch: |
      - op: add
        path: /metadata/labels
        value:
          patched: everywhere
  - target:
      kind: Service
      namespace: web
    patch: |
      - op: add
        path: /spec/clusterIP
        value: None
  - target:
      version: v1
      kind: Service
      name: subchart[ab]
    patch: |
      apiVersion: v1
      kind: Service
      metadata:
        name: ignored
        annotations:
          sub: chart
";
    let post = PostRender {
        kustomize: &[kustomize],
        labels: &[("team", "shop")],
        ..PostRender::default()
    };
    let release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: subchart
  namespace: default
spec:
  interval: 10m
  releaseName: sub
  chart:
    spec:
      chart: charts/subchart
{GIT_SOURCE}{}",
        post.spec()
    );
    let dir = repository("subchart", &release);
    let ours = fledge_build(helm, dir.path());
    let args = ["sub", "charts/subchart", "--namespace", "default"];
    let theirs = helm_controller(helm, dir.path(), &args, Some("charts/subchart"), &post).unwrap();
    assert_eq!(ours, theirs);
    let crd = ours
        .iter()
        .find(|o| o["kind"] == "CustomResourceDefinition")
        .unwrap();
    assert!(crd["metadata"]["labels"].is_null(), "{crd}");
    assert!(ours.iter().all(|o| o["spec"]["clusterIP"].is_null()));
}

#[test]
fn a_patch_that_cannot_apply_fails_the_release_naming_it_where_kustomize_fails() {
    let Some(helm) = helm::or_skip() else { return };
    let fine = "  - patch: |\n      apiVersion: v1\n      kind: Service\n      metadata:\n        name: web-podinfo\n        namespace: web\n      spec:\n        type: NodePort\n";
    for (bad, said) in [
        // A strategic-merge patch naming an object the chart does not render.
        (
            "  - patch: |\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: absent\n      spec:\n        replicas: 2\n",
            "absent",
        ),
        // A JSON6902 operation on a path the object does not have.
        (
            "  - target:\n      kind: Deployment\n    patch: |\n      - op: replace\n        path: /spec/nothere/x\n        value: 1\n",
            "/spec/nothere/x",
        ),
        // Not YAML.
        (
            "  - target:\n      kind: Deployment\n    patch: |\n      - op: add\n        path: [oops\n",
            "YAML",
        ),
        // A target that is no regular expression.
        (
            "  - target:\n      kind: Deploy(ment\n    patch: |\n      - op: add\n        path: /x\n        value: 1\n",
            "Deploy(ment",
        ),
    ] {
        let fields = format!("patches:\n{fine}{bad}");
        let post = PostRender {
            kustomize: &["images:\n  - name: busybox\n    newTag: latest\n", &fields],
            ..PostRender::default()
        };
        let dir = repository("podinfo", &podinfo(&post, false));
        let args = podinfo_args(dir.path(), false);
        let peer = helm_controller(helm, dir.path(), &args, None, &post);
        let peer = peer.expect_err("kubectl kustomize refuses it too");
        let fine_alone = format!("patches:\n{fine}");
        let post = PostRender {
            kustomize: &[&fine_alone],
            ..PostRender::default()
        };
        helm_controller(helm, dir.path(), &args, None, &post)
            .unwrap_or_else(|e| panic!("the patch before it applies: {e}\n(with it: {peer})"));
        let out = build_charts(helm, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr
                .contains("HelmRelease apps/podinfo: spec.postRenderers[1].kustomize.patches[1]: "),
            "{stderr}"
        );
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_objects_carry_the_origin_labels_over_common_ones_as_helm_controller_puts_them() {
    use super::safety::{NAMESPACE, daemon};
    use super::support::git::Remote;
    let Some(helm) = helm::or_skip() else { return };
    let first = first("shop");
    let post = PostRender {
        kustomize: &[&first],
        labels: &[("helm.toolkit.fluxcd.io/name", "common"), ("team", "shop")],
        annotations: &[("owner", "ops")],
        origin: Some(("podinfo", "shop")),
    };
    // In `shop` (the namespace the daemon's tests make), the release named as in `web`.
    let release = podinfo(&post, false)
        .replace("namespace: apps", "namespace: shop")
        .replace("  targetNamespace: web\n", "  releaseName: web-podinfo\n");
    let remote = Remote::new();
    let chart = super::helm::chart_files("podinfo", "charts/podinfo");
    let mut files: Vec<(&str, &str)> = chart
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    files.extend([
        ("apps/namespace.yaml", NAMESPACE),
        ("apps/podinfo.yaml", &release),
    ]);
    remote.commit(&files, "podinfo");
    let root = tempfile::tempdir().unwrap();
    let engine = helm.engine.to_str().unwrap();
    let d = daemon(&remote, root.path(), "apps")
        .args(["--helm-engine", engine])
        .in_process()
        .await;
    d.until("podinfo applied", |d| {
        d.get("apps", "Deployment", "shop", "web-podinfo").is_some()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = podinfo_args(dir.path(), false);
    let chart = repo_dir().join("tests/charts/podinfo");
    args[1] = chart.to_str().unwrap();
    args[3] = "shop";
    let theirs = helm_controller(helm, dir.path(), &args, None, &post).unwrap();
    assert!(theirs.len() >= 2, "{theirs:?}");
    for o in theirs {
        let api = o["apiVersion"].as_str().unwrap();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let (kind, name) = (
            o["kind"].as_str().unwrap(),
            o["metadata"]["name"].as_str().unwrap(),
        );
        let live = d
            .get(group, kind, "shop", name)
            .unwrap_or_else(|| panic!("{kind} {name}"));
        let live = fledge::object::applyable(&live);
        assert_eq!(live, o, "{kind} {name}");
    }
    d.stop().await;
}
