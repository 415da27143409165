//! Flux's build of a Kustomization path against fledge's: the same trees, specs and
//! `substituteFrom` objects go to kustomize-controller v1.9.6's own generator, kustomize build
//! and post-build substitution (`tests/fluxgen`) and to `render::flux::build`; both must fail,
//! or both must yield the same objects, and the same YAML text byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use fledge::render::flux::{self, FluxOverlay};
use fledge::render::varsub::SourceKind;
use fledge::render::{DiskFiles, yaml};
use serde_json::{Value, json};

use crate::support::fluxgen::{self, Flux};
use crate::{data_dir, tree};

/// A Deployment and a custom resource whose fields take variables in every form.
const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    env: ${env:=dev}
    region: "${region:-eu}"
spec:
  replicas: ${replicas:=1}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: side
        image: registry.local/side:${tag:=latest}
      - name: web
        image: nginx
        args: ["--name=${name}", "--upper=${name^^}", "--sub=${name:0:3}", "--rep=${name/e/E}", "--trim=${name#w}", "--len=${#name}", "--cost=$${not_a_var}"]
"#;

const WIDGET: &str = r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: typed
spec:
  enabled: ${enabled}
  octal: ${octal}
  under: ${under}
  float: ${float}
  big: ${big}
  million: ${million}
  yes: ${yes}
  tilde: ${tilde}
  exp: ${exp}
  hex: ${hex}
  date: ${date}
  quoted: "${enabled}"
  text: |
    line one ${name}
    line two ${multi}
  kept: 1.5
"#;

const DISABLED: &str = r"apiVersion: v1
kind: ConfigMap
metadata:
  name: raw
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  script: echo ${HOME} ${undefined}
";

/// Variables in keys, in quoted and block scalars, next to `$` and inside defaults.
const FORMS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: forms
  labels:
    kustomize.toolkit.fluxcd.io/substitute: enabled
data:
  ${env:=key}: from-a-key
  price: $5 and $$5 and $${env}
  nested: ${name:=${env:=deep}}
  single: '${name}'
  double: "${name} ${enabled}"
  folded: >
    folded ${name}
    text
  dollar-brace: "$"
  cost: 1.${under:=0}
"#;

/// What `flux bootstrap` writes (shortened): the controllers, and the source and Kustomization
/// that sync the cluster's directory.
const GOTK_COMPONENTS: &str = r"---
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
  labels:
    app.kubernetes.io/instance: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: flux-system
spec:
  selector:
    matchLabels:
      app: kustomize-controller
  template:
    metadata:
      labels:
        app: kustomize-controller
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/kustomize-controller:v1.9.6
";

const GOTK_SYNC: &str = r"---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/my-cluster
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
";

fn flux_kustomization(name: &str, path: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute:\n      cluster: ${{cluster_name:=dev}}\n"
    )
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  k: v\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

/// The trees the cases build: (name, files).
fn layouts() -> Vec<(&'static str, Vec<(String, String)>)> {
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    vec![
        (
            "plain",
            vec![
                s("app/deploy.yaml", DEPLOYMENT),
                s("app/b.yml", &cm("b")),
                s("app/.hidden/h.yaml", &cm("hidden")),
                s("app/nested/deep/d.yaml", &cm("deep")),
                s("app/UPPER.YAML", &cm("upper")),
                s("app/notes.txt", "not yaml"),
                s(
                    "app/sub/kustomization.yaml",
                    "resources: [x.yaml]\nnamePrefix: sub-\n",
                ),
                s("app/sub/x.yaml", &cm("x")),
                s("app/sub/unlisted.yaml", &cm("unlisted")),
            ],
        ),
        (
            "kustomization",
            vec![
                s(
                    "app/kustomization.yaml",
                    "resources: [deploy.yaml, widget.yaml, raw.yaml, ../shared/cm.yaml]\nnamePrefix: own-\nimages:\n- name: nginx\n  newTag: \"1.0\"\n",
                ),
                s("app/deploy.yaml", DEPLOYMENT),
                s("app/widget.yaml", WIDGET),
                s("app/raw.yaml", DISABLED),
                s("shared/cm.yaml", &cm("shared")),
                s(
                    "app/comp/kustomization.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  comp: \"yes\"\n",
                ),
            ],
        ),
        (
            "generators-only",
            vec![s(
                "app/kustomization.yaml",
                "configMapGenerator:\n- name: gen\n  literals:\n  - a=${a:=1}\n",
            )],
        ),
        ("empty", vec![s("app/.keep", "")]),
        (
            "bootstrap",
            vec![
                s("app/flux-system/gotk-components.yaml", GOTK_COMPONENTS),
                s("app/flux-system/gotk-sync.yaml", GOTK_SYNC),
                s(
                    "app/flux-system/kustomization.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n",
                ),
                s("app/apps.yaml", &flux_kustomization("apps", "./apps")),
                s(
                    "app/infrastructure.yaml",
                    &flux_kustomization("infrastructure", "./infrastructure"),
                ),
            ],
        ),
        (
            "variables",
            vec![
                s("app/widget.yaml", WIDGET),
                s("app/forms.yaml", FORMS),
                s("app/raw.yaml", DISABLED),
            ],
        ),
    ]
}

/// (name, spec, strict).
fn overlays() -> Vec<(&'static str, Value, bool)> {
    let vars = json!({
        "env": "prod", "region": "us", "replicas": "3", "tag": "1.25", "name": "web-app",
        "enabled": "on", "octal": "0777", "under": "1_000", "float": "1.0",
        "big": "12345678901234567890", "million": "1000000", "yes": "yes", "tilde": "~",
        "exp": "1e3", "hex": "0x1F", "date": "2001-12-14", "multi": "a\nb", "a": "2",
    });
    vec![
        ("none", json!({}), true),
        (
            "names",
            json!({"targetNamespace": "team", "namePrefix": "p-", "nameSuffix": "-s"}),
            true,
        ),
        (
            "patches",
            json!({"patches": [
                {"patch": "- op: add\n  path: /metadata/labels/patched\n  value: \"yes\"\n", "target": {"kind": "Deployment"}},
                {"patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-used\n  labels:\n    all: \"true\"\n", "target": {"kind": "ConfigMap"}},
            ]}),
            true,
        ),
        (
            "images",
            json!({"images": [{"name": "nginx", "newName": "registry.local/nginx"}, {"name": "busybox", "newTag": "1"}]}),
            true,
        ),
        (
            "components",
            json!({"components": ["comp", "missing"], "ignoreMissingComponents": true}),
            true,
        ),
        (
            "metadata",
            json!({"commonMetadata": {"labels": {"team": "a", "app": "over"}, "annotations": {"note": "n"}}, "buildMetadata": ["originAnnotations"]}),
            true,
        ),
        ("inline", json!({"postBuild": {"substitute": vars}}), true),
        (
            "sources",
            json!({"postBuild": {
                "substitute": {"env": "inline"},
                "substituteFrom": [
                    {"kind": "ConfigMap", "name": "vars"},
                    {"kind": "Secret", "name": "secret-vars"},
                    {"kind": "ConfigMap", "name": "absent", "optional": true},
                ],
            }}),
            true,
        ),
        (
            "missing-source",
            json!({"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "absent"}]}}),
            true,
        ),
        (
            "strict-undefined",
            json!({"postBuild": {"substitute": {"env": "x"}}}),
            true,
        ),
        (
            "lax-undefined",
            json!({"postBuild": {"substitute": {"env": "x"}}}),
            false,
        ),
        (
            "always-defaults",
            json!({"postBuild": {"substituteStrategy": "Always"}}),
            false,
        ),
        (
            "tricky-values",
            json!({"postBuild": {"substitute": {
                "name": "a: b", "env": "x #c", "enabled": "'quoted'", "octal": "[1, 2]",
                "under": "{a: 1}", "float": "a:b", "big": "x, y", "million": "&anchor v",
                "yes": "!!str 5", "tilde": "\"\"", "exp": ".5", "hex": "+12", "date": "0b101",
                "multi": "trailing \\",
            }}}),
            false,
        ),
        (
            "breaking-value",
            json!({"postBuild": {"substitute": {"float": "- x"}}}),
            false,
        ),
        (
            "invalid-name",
            json!({"postBuild": {"substitute": {"bad-name": "x", "env": "y"}}}),
            true,
        ),
    ]
}

/// The objects `substituteFrom` may name.
fn sources() -> Value {
    json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars"},
         "data": {"env": "from-cm", "region": "cm", "replicas": "5", "tag": "2", "name": "widget",
                  "enabled": "off", "octal": "010", "under": "2_000", "float": "2.5",
                  "big": "9007199254740993", "million": "2000000", "yes": "no", "tilde": "null",
                  "exp": "2E2", "hex": "0o17", "date": "2001-12-14T21:59:43.10Z", "multi": "x",
                  "a": "3"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret-vars"},
         // base64 of "from-secret" and "s3cr3t"
         "data": {"region": "ZnJvbS1zZWNyZXQ=", "token": "czNjcjN0"}},
    ])
}

/// `substituteFrom` answered from [`sources`], as the daemon answers it from the cluster.
fn resolve(kind: SourceKind, name: &str) -> Option<BTreeMap<String, String>> {
    use base64::Engine as _;
    let kind = match kind {
        SourceKind::ConfigMap => "ConfigMap",
        SourceKind::Secret => "Secret",
    };
    let s = sources();
    let o = s
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)?;
    Some(
        o["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap();
                let v = if kind == "Secret" {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap())
                        .unwrap()
                } else {
                    v.to_owned()
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// Builds one case both ways and compares: a line describing a difference, or whether both
/// failed.
fn compare(
    binary: &Path,
    root: &Path,
    path: &str,
    spec: &Value,
    strict: bool,
) -> Result<bool, String> {
    let request = json!({"path": path, "spec": spec, "sources": sources(), "strict": strict});
    let theirs = fluxgen::build(binary, root, &request);
    let files = DiskFiles::new(root).unwrap();
    let ours = FluxOverlay::from_spec(spec, strict, &resolve)
        .and_then(|o| flux::build(&files, path, &o).map(|objects| (o, objects)));
    match (theirs, ours) {
        (Flux::Failed(_), Err(_)) => Ok(true),
        (Flux::Failed(e), Ok(_)) => Err(format!("Flux failed ({e}), fledge built it")),
        (Flux::Built { .. }, Err(e)) => Err(format!("fledge failed ({e}), Flux built it")),
        (Flux::Built { yaml, objects }, Ok((overlay, ours))) => {
            if objects != ours {
                return Err(format!(
                    "objects differ:\nFlux:\n{}\nfledge:\n{}",
                    yaml::emit_stream(&objects),
                    yaml::emit_stream(&ours)
                ));
            }
            let metadata = &overlay.common_metadata;
            let text = yaml::emit_stream(&ours);
            if metadata.labels.is_empty() && metadata.annotations.is_empty() && text != yaml {
                return Err(format!("YAML differs:\nFlux:\n{yaml}\nfledge:\n{text}"));
            }
            Ok(false)
        }
    }
}

#[test]
fn generated_layouts_overlays_and_variables_build_as_flux_builds_them() {
    let Some(binary) = fluxgen::or_skip() else {
        return;
    };
    let mut failures = Vec::new();
    let mut both_failed = Vec::new();
    let mut cases = 0;
    for (layout, files) in layouts() {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let t = tree(&files);
        for (overlay, spec, strict) in overlays() {
            cases += 1;
            match compare(binary, t.path(), "app", &spec, strict) {
                Ok(true) => both_failed.push(format!("{layout} × {overlay}")),
                Ok(false) => {}
                Err(d) => failures.push(format!("{layout} × {overlay}: {d}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The cases both refuse: a missing source, an unset variable in strict mode and an invalid
    // name fail only where an object is substituted (Flux loads the variables per object, so
    // the empty tree builds), and `${a:=1}` has a default; a value that breaks the YAML fails
    // where it lands in a plain scalar (or, with a ` #`, in a key).
    assert_eq!(
        both_failed,
        [
            "plain × missing-source",
            "plain × strict-undefined",
            "plain × invalid-name",
            "kustomization × missing-source",
            "kustomization × strict-undefined",
            "kustomization × breaking-value",
            "kustomization × invalid-name",
            "generators-only × missing-source",
            "generators-only × invalid-name",
            // The JSON patch adds to labels the Deployment does not have.
            "bootstrap × patches",
            "bootstrap × missing-source",
            "bootstrap × invalid-name",
            "variables × missing-source",
            "variables × strict-undefined",
            "variables × tricky-values",
            "variables × breaking-value",
            "variables × invalid-name",
        ]
    );
}

/// Every Kustomization path the example repositories name, with its spec as the repository
/// writes it.
#[test]
fn flux_example_repositories_build_as_flux_builds_them() {
    let Some(binary) = fluxgen::or_skip() else {
        return;
    };
    let mut failures = Vec::new();
    for (repo, paths) in example_paths() {
        let root = data_dir().join("flux").join(repo);
        for (path, spec) in paths {
            if let Err(d) = compare(binary, &root, &path, &spec, true) {
                failures.push(format!("{repo} {path}: {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The example repositories' Kustomization paths: the cluster directories, and the path of
/// each Flux Kustomization found there (`ExternalArtifact` paths mapped back to the
/// repository folders the ArtifactGenerator copies).
fn example_paths() -> Vec<(&'static str, Vec<(String, Value)>)> {
    let mut out = Vec::new();
    for (repo, artifact_roots) in [
        (
            "flux2-kustomize-helm-example",
            &[("infrastructure", "infrastructure"), ("apps", "apps")][..],
        ),
        ("flux2-multi-tenancy", &[][..]),
    ] {
        let root = data_dir().join("flux").join(repo);
        let files = DiskFiles::new(&root).unwrap();
        let mut paths = Vec::new();
        for cluster in ["clusters/staging", "clusters/production"] {
            paths.push((cluster.to_owned(), json!({})));
            for o in flux::build(&files, cluster, &FluxOverlay::default()).unwrap() {
                if o["apiVersion"] != "kustomize.toolkit.fluxcd.io/v1"
                    || o["kind"] != "Kustomization"
                {
                    continue;
                }
                let spec = o["spec"].clone();
                let path = spec["path"].as_str().unwrap().trim_start_matches("./");
                let path = match spec["sourceRef"]["kind"].as_str() {
                    Some("ExternalArtifact") => {
                        let name = spec["sourceRef"]["name"].as_str().unwrap();
                        let (_, dir) = artifact_roots.iter().find(|(n, _)| *n == name).unwrap();
                        format!("{dir}/{path}")
                    }
                    _ => path.to_owned(),
                };
                paths.push((path.trim_end_matches('/').to_owned(), spec));
            }
        }
        out.push((repo, paths));
    }
    out
}

/// The example repositories build without Go too (fledge alone): every path they name.
#[test]
fn flux_example_repositories_build() {
    for (repo, paths) in example_paths() {
        let root = data_dir().join("flux").join(repo);
        let files = DiskFiles::new(&root).unwrap();
        assert!(paths.len() > 4, "{repo}: {paths:?}");
        for (path, spec) in paths {
            let overlay = FluxOverlay::from_spec(&spec, true, &|_, _| None).unwrap();
            let objects = flux::build(&files, &path, &overlay)
                .unwrap_or_else(|e| panic!("{repo} {path}: {e}"));
            assert!(!objects.is_empty(), "{repo} {path}");
        }
    }
}
