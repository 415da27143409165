//! Cases ported from `fluxcd/pkg/kustomize` v1.35.7 `kustomize_generator_test.go` (its
//! testdata, Apache-2.0, under `tests/data/flux/pkg-kustomize/`), and the layouts Flux's
//! generator walks.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::render::{DiskFiles, MemFiles, yaml};

fn data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flux")
        .join(rel)
}

/// The spec of the first Flux Kustomization in a testdata file, without v1beta2's
/// `validation` (gone from v1).
fn spec_of(file: &str) -> Value {
    let text = std::fs::read(data(file)).unwrap();
    let docs = yaml::parse_documents(&text).unwrap();
    let mut spec = docs[0]["spec"].clone();
    spec.as_object_mut().unwrap().remove("validation");
    spec
}

fn overlay(spec: &Value) -> FluxOverlay {
    FluxOverlay::from_spec(spec, true, &|_, _| None).unwrap()
}

#[test]
fn flux_kustomization_generator() {
    // TestKustomizationGenerator: testdata/kustomization.yaml over testdata/resources.
    let files = DiskFiles::new(&data("pkg-kustomize")).unwrap();
    let o = overlay(&spec_of("pkg-kustomize/kustomization.yaml"));
    let out = build(&files, "resources", &o).unwrap();
    let expected =
        std::fs::read_to_string(data("pkg-kustomize/kustomization_expected.yaml")).unwrap();
    assert_eq!(yaml::emit_stream(&out), expected);
}

#[test]
fn flux_generator_name_transformer_no_resources_and_empty_dir() {
    let files = DiskFiles::new(&data("pkg-kustomize")).unwrap();
    // TestGenerator_NameTransformer
    let out = build(
        &files,
        "name",
        &overlay(&spec_of("pkg-kustomize/name/ks.yaml")),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    let name = out[0]["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("prefix-test-configmap-suffix"), "{name}");
    assert_eq!(out[0]["metadata"]["namespace"], "test-namespace");
    // TestGenerator_NoResources: a kustomization without resources gets origin annotations.
    let o = overlay(&spec_of("pkg-kustomize/noResources/ks.yaml"));
    let (_, k) = generate(&files, "noResources", &o).unwrap();
    assert_eq!(k["buildMetadata"], json!(["originAnnotations"]));
    assert!(build(&files, "noResources", &o).unwrap().is_empty());
    // TestGenerator_EmptyDir: an empty directory builds to nothing.
    let mut m = MemFiles::new();
    m.insert("empty/.keep", "");
    let (kpath, k) = generate(&m, "empty", &FluxOverlay::default()).unwrap();
    assert_eq!(kpath, "empty/kustomization.yaml");
    assert_eq!(k["namespace"], "_placeholder");
    assert!(
        build(&m, "empty", &FluxOverlay::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn flux_secure_build_relative_base_dir() {
    // Test_SecureBuild_rel_basedir: a kustomization may name files outside its directory.
    let files = DiskFiles::new(&data("pkg-kustomize/relbase")).unwrap();
    build(
        &files,
        "clusters/staging/flux-system",
        &FluxOverlay::default(),
    )
    .unwrap();
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

fn names(out: &[Value]) -> Vec<String> {
    out.iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn generated_kustomization_lists_what_flux_lists() {
    let mut m = MemFiles::new();
    m.insert("p/b.yaml", cm("b"));
    m.insert("p/a.yml", cm("a"));
    m.insert("p/.hidden/h.yaml", cm("hidden"));
    m.insert("p/upper.YAML", cm("upper"));
    m.insert("p/notes.txt", "not yaml");
    m.insert("p/plain/deep/d.yaml", cm("deep"));
    m.insert(
        "p/app/kustomization.yaml",
        "resources: [x.yaml]\nnamePrefix: app-\n",
    );
    m.insert("p/app/x.yaml", cm("x"));
    m.insert("p/app/ignored.yaml", cm("not-listed"));
    let (_, k) = generate(&m, "p", &FluxOverlay::default()).unwrap();
    assert_eq!(
        k["resources"],
        json!([
            "./.hidden/h.yaml",
            "./a.yml",
            "./app",
            "./b.yaml",
            "./plain/deep/d.yaml"
        ])
    );
    let out = build(&m, "p", &FluxOverlay::default()).unwrap();
    let mut got = names(&out);
    got.sort();
    assert_eq!(got, ["a", "app-x", "b", "deep", "hidden"]);
}

#[test]
fn overlay_merges_into_the_kustomization_as_flux_does() {
    let mut tree = MemFiles::new();
    tree.insert(
        "app/kustomization.yaml",
        "resources: [d.yaml]\nnamePrefix: own-\nimages:\n- name: nginx\n  newTag: \"1.0\"\n  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
    );
    tree.insert(
        "app/d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n      - name: s\n        image: busybox\n",
    );
    tree.insert(
        "app/comp/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  comp: \"yes\"\n",
    );
    let spec = json!({
        "targetNamespace": "team",
        "namePrefix": "flux-",
        "commonMetadata": {"labels": {"owner": "flux"}, "annotations": {"a": "b"}},
        "patches": [{"patch": "- op: add\n  path: /metadata/labels/patched\n  value: \"true\"\n", "target": {"kind": "Deployment"}}],
        "images": [{"name": "nginx", "newTag": "2.0"}, {"name": "busybox", "newName": "alpine"}],
        "components": ["comp", "missing"],
        "ignoreMissingComponents": true,
        "interval": "1m", "path": "./app", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "x"},
    });
    let spec_overlay = overlay(&spec);
    let (_, kust) = generate(&tree, "app", &spec_overlay).unwrap();
    assert_eq!(kust["namespace"], "team");
    assert_eq!(kust["namePrefix"], "flux-");
    assert_eq!(kust["components"], json!(["comp"]));
    assert_eq!(
        kust["images"],
        json!([{"name": "nginx", "newTag": "2.0"}, {"name": "busybox", "newName": "alpine"}])
    );
    let out = build(&tree, "app", &spec_overlay).unwrap();
    assert_eq!(out.len(), 1);
    let deploy = &out[0];
    assert_eq!(deploy["metadata"]["name"], "flux-d");
    assert_eq!(deploy["metadata"]["namespace"], "team");
    assert_eq!(
        deploy["metadata"]["labels"],
        json!({"comp": "yes", "owner": "flux", "patched": "true"})
    );
    assert_eq!(deploy["metadata"]["annotations"], json!({"a": "b"}));
    let images: Vec<&str> = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["nginx:2.0", "alpine"]);

    // Without ignoreMissingComponents a missing component fails the build.
    let mut strict = spec_overlay.clone();
    strict.ignore_missing_components = false;
    assert!(build(&tree, "app", &strict).is_err());
    // A remote component is refused.
    let mut remote = spec_overlay;
    remote.components = vec!["https://github.com/x/y".into()];
    let e = generate(&tree, "app", &remote).unwrap_err().to_string();
    assert!(e.contains("must be local and relative"), "{e}");
}

#[test]
fn spec_fields_fledge_does_not_know_are_refused() {
    for (spec, field) in [
        (json!({"nope": 1}), "nope"),
        (
            json!({"postBuild": {"substitue": {}}}),
            "postBuild.substitue",
        ),
        (
            json!({"patches": [{"patch": "x", "targets": {}}]}),
            "patches[0].targets",
        ),
    ] {
        let e = FluxOverlay::from_spec(&spec, true, &|_, _| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`spec.{field}`")), "{e}");
    }
}

#[test]
fn post_build_sources_are_resolved_in_order() {
    let spec = json!({"postBuild": {
        "substitute": {"a": "inline"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "gone", "optional": true}],
        "substituteStrategy": "Always",
    }});
    let resolve = |kind: SourceKind, name: &str| {
        (kind == SourceKind::ConfigMap && name == "vars")
            .then(|| BTreeMap::from([("b".to_owned(), "cm".to_owned())]))
    };
    let o = FluxOverlay::from_spec(&spec, true, &resolve).unwrap();
    let pb = o.post_build.unwrap();
    assert_eq!(pb.strategy, Strategy::Always);
    assert_eq!(pb.substitute_from.len(), 2);
    assert!(pb.substitute_from[0].data.is_some());
    assert!(pb.substitute_from[1].data.is_none());
}

#[test]
fn bootstrap_layout_renders_in_a_plain_folder() {
    // clusters/staging: flux-system/{gotk-components,gotk-sync,kustomization}.yaml beside
    // Flux Kustomization objects (this repository's gotk-sync.yaml is a placeholder).
    let files = DiskFiles::new(&data("flux2-kustomize-helm-example")).unwrap();
    let out = build(&files, "clusters/staging", &FluxOverlay::default()).unwrap();
    let flux: Vec<&str> = out
        .iter()
        .filter(|o| o["kind"] == "Kustomization")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(flux, ["apps", "infra-controllers", "infra-configs"]);
    // fledge's own renderer reads the plain folder the same way (in kubectl's order).
    let mut plain = crate::render::render(&files, "clusters/staging").unwrap();
    let mut out = out.clone();
    let key = |o: &Value| serde_json::to_string(o).unwrap();
    plain.sort_by_key(key);
    out.sort_by_key(key);
    assert_eq!(plain, out);
}

#[test]
fn flux_kustomization_objects_beside_flux_system_are_ordinary_resources() {
    // Regression: `fledge build clusters/my-cluster` read flux-system/kustomization.yaml as a
    // manifest ("Kustomization without `metadata.name`").
    let mut tree = MemFiles::new();
    tree.insert(
        "clusters/my-cluster/flux-system/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-sync.yaml\n",
    );
    tree.insert(
        "clusters/my-cluster/flux-system/gotk-sync.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  path: ./clusters/my-cluster\n",
    );
    tree.insert(
        "clusters/my-cluster/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  path: ./apps\n",
    );
    for out in [
        crate::render::render(&tree, "clusters/my-cluster").unwrap(),
        build(&tree, "clusters/my-cluster", &FluxOverlay::default()).unwrap(),
    ] {
        let mut got = names(&out);
        got.sort();
        assert_eq!(got, ["apps", "flux-system"]);
    }
}
