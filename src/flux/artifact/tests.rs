//! The trees source-watcher's own builder tests expect (`internal/builder/builder_test.go`,
//! fluxcd/source-watcher v2.2.0-12-g825fa15, cited by case name), and the ArtifactGenerator of
//! fluxcd/flux2-kustomize-helm-example built and rendered.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::render::DiskFiles;
use crate::render::flux::FluxOverlay;
use crate::render::fs::Entry;

fn mem(files: &[(&str, &str)]) -> MemFiles {
    let mut m = MemFiles::new();
    for (p, c) in files {
        m.insert(p, c.as_bytes());
    }
    m
}

fn op(from: &str, to: &str, exclude: &[&str]) -> CopyOperation {
    CopyOperation {
        from: from.into(),
        to: to.into(),
        exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
        strategy: None,
    }
}

/// Applies `ops` to the named sources as source-watcher's `Build` does; the files staged.
fn build(
    ops: &[CopyOperation],
    sources: &[(&str, &MemFiles)],
) -> Result<BTreeMap<String, String>, String> {
    let sources: BTreeMap<&str, &dyn Files> = sources
        .iter()
        .map(|(a, f)| (*a, *f as &dyn Files))
        .collect();
    let mut tree = Tree::default();
    for o in ops {
        apply(o, &sources, &mut tree)?;
    }
    Ok(tree
        .files
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect())
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn upstream_test_build_copies() {
    let src = mem(&[("config.yaml", "apiVersion: v1\nkind: ConfigMap")]);
    // "build artifact with single file copy"
    assert_eq!(
        build(
            &[op("@source/config.yaml", "@artifact/", &[])],
            &[("source", &src)]
        ),
        Ok(tree(&[("config.yaml", "apiVersion: v1\nkind: ConfigMap")]))
    );
    // "build artifact with multiple copy operations"
    let git = mem(&[("app.yaml", "apiVersion: apps/v1")]);
    let oci = mem(&[("config.json", r#"{"version": "1.0"}"#)]);
    assert_eq!(
        build(
            &[
                op("@git/app.yaml", "@artifact/manifests/", &[]),
                op("@oci/config.json", "@artifact/config/", &[])
            ],
            &[("git", &git), ("oci", &oci)]
        ),
        Ok(tree(&[
            ("config/config.json", r#"{"version": "1.0"}"#),
            ("manifests/app.yaml", "apiVersion: apps/v1")
        ]))
    );
    // "build artifact with glob patterns"
    let src = mem(&[
        ("deployment.yaml", "apiVersion: v1"),
        ("service.yaml", "apiVersion: v1"),
        ("configmap.yaml", "apiVersion: v1"),
    ]);
    assert_eq!(
        build(
            &[op("@source/*.yaml", "@artifact/manifests/", &[])],
            &[("source", &src)]
        ),
        Ok(tree(&[
            ("manifests/configmap.yaml", "apiVersion: v1"),
            ("manifests/deployment.yaml", "apiVersion: v1"),
            ("manifests/service.yaml", "apiVersion: v1")
        ]))
    );
    // "build artifact with root directory copy" and "… with recursive directory copy"
    let src = mem(&[
        ("root.yaml", "root: content"),
        ("subdir/nested.yaml", "nested: content"),
    ]);
    let want = tree(&[
        ("root.yaml", "root: content"),
        ("subdir/nested.yaml", "nested: content"),
    ]);
    for from in ["@source/", "@source/**"] {
        assert_eq!(
            build(&[op(from, "@artifact/", &[])], &[("source", &src)]),
            Ok(want.clone()),
            "{from}"
        );
    }
}

#[test]
fn upstream_test_build_destinations() {
    // "copy operations overwrite entire subdirectories"
    let s1 = mem(&[
        ("config/app.yaml", "source1: app"),
        ("config/database.yaml", "source1: db"),
    ]);
    let s2 = mem(&[
        ("config/app.yaml", "source2: app"),
        ("config/network.yaml", "source2: net"),
    ]);
    assert_eq!(
        build(
            &[
                op("@source1/**", "@artifact/", &[]),
                op("@source2/**", "@artifact/", &[])
            ],
            &[("source1", &s1), ("source2", &s2)]
        ),
        Ok(tree(&[
            ("config/app.yaml", "source2: app"),
            ("config/database.yaml", "source1: db"),
            ("config/network.yaml", "source2: net")
        ]))
    );
    // "directory copy without trailing slash creates subdirectory" and "… with trailing slash …"
    let src = mem(&[
        ("config/app.yaml", "app: config"),
        ("config/db.yaml", "db: config"),
    ]);
    let want = tree(&[
        ("dest/config/app.yaml", "app: config"),
        ("dest/config/db.yaml", "db: config"),
    ]);
    for (from, to) in [
        ("@source/config", "@artifact/dest"),
        ("@source/config/", "@artifact/dest/"),
    ] {
        assert_eq!(
            build(&[op(from, to, &[])], &[("source", &src)]),
            Ok(want.clone()),
            "{from}"
        );
    }
    // "file copy with trailing slash uses source filename"
    let src = mem(&[("config.yaml", "a: test")]);
    assert_eq!(
        build(
            &[op("@source/config.yaml", "@artifact/dest/", &[])],
            &[("source", &src)]
        ),
        Ok(tree(&[("dest/config.yaml", "a: test")]))
    );
    // "recursive glob pattern strips directory prefix like cp"
    let src = mem(&[
        ("config/app.yaml", "app: config"),
        ("config/subdir/db.yaml", "db: config"),
    ]);
    assert_eq!(
        build(
            &[op("@source/config/**", "@artifact/dest/", &[])],
            &[("source", &src)]
        ),
        Ok(tree(&[
            ("dest/app.yaml", "app: config"),
            ("dest/subdir/db.yaml", "db: config")
        ]))
    );
    // "file-to-file copy should not treat destination as directory"
    let repo = mem(&[("charts/podinfo/values-prod.yaml", "env: production")]);
    let chart = mem(&[
        ("Chart.yaml", "name: podinfo"),
        ("values.yaml", "name: podinfo"),
    ]);
    let got = build(
        &[
            op("@chart/**", "@artifact/", &[]),
            op(
                "@repo/charts/podinfo/values-prod.yaml",
                "@artifact/podinfo/values.yaml",
                &[],
            ),
        ],
        &[("chart", &chart), ("repo", &repo)],
    )
    .unwrap();
    assert_eq!(got["Chart.yaml"], "name: podinfo");
    assert_eq!(got["podinfo/values.yaml"], "env: production");
    // "file copy should detect when destination is a directory"
    let src = mem(&[("file1.txt", "content1"), ("subdir/file2.txt", "content2")]);
    assert_eq!(
        build(
            &[
                op("@source/subdir/", "@artifact/", &[]),
                op("@source/file1.txt", "@artifact/subdir", &[])
            ],
            &[("source", &src)]
        ),
        Ok(tree(&[
            ("subdir/file1.txt", "content1"),
            ("subdir/file2.txt", "content2")
        ]))
    );
}

#[test]
fn upstream_test_build_errors() {
    let src = mem(&[("config.yaml", "a: 1")]);
    let err = |o: CopyOperation| build(&[o], &[("source", &src)]).unwrap_err();
    // "error when source file does not exist"
    assert_eq!(
        err(op("@source/missing.yaml", "@artifact/", &[])),
        "source 'missing.yaml' does not exist"
    );
    // "error when glob pattern matches no files"
    assert_eq!(
        err(op("@source/*.json", "@artifact/", &[])),
        "no files match pattern '*.json' in source 'source'"
    );
    // "error when invalid glob pattern is used"
    assert!(err(op("@source/[", "@artifact/", &[])).starts_with("invalid glob pattern '['"));
    // "error when source alias not found"
    assert_eq!(
        err(op("@missing/config.yaml", "@artifact/", &[])),
        "source alias 'missing' not found"
    );
    // "all files excluded - error" and "invalid exclude - error"
    assert_eq!(
        err(op("@source/*.yaml", "@artifact/", &["*.yaml"])),
        "all files matching pattern '*.yaml' in source 'source' were excluded"
    );
    assert_eq!(
        err(op("@source/**", "@artifact/", &["[abc"])),
        "invalid exclude pattern '[abc'"
    );
}

#[test]
fn upstream_test_build_with_excludes() {
    let files = |ops: &[CopyOperation], src: &MemFiles| -> Vec<String> {
        build(ops, &[("source", src)])
            .unwrap()
            .into_keys()
            .collect()
    };
    // "exclude single file extension"
    let src = mem(&[
        ("app.yaml", ""),
        ("config.json", ""),
        ("README.md", ""),
        ("notes.md", ""),
    ]);
    assert_eq!(
        files(&[op("@source/**", "@artifact/", &["*.md"])], &src),
        ["app.yaml", "config.json"]
    );
    // "exclude directory recursively"
    let src = mem(&[
        ("app.yaml", ""),
        ("testdata/test.yaml", ""),
        ("testdata/fixture.json", ""),
        ("configs/prod.yaml", ""),
    ]);
    assert_eq!(
        files(&[op("@source/**", "@artifact/", &["**/testdata/**"])], &src),
        ["app.yaml", "configs/prod.yaml"]
    );
    // "multiple exclude patterns"
    let src = mem(&[
        ("app.yaml", ""),
        ("README.md", ""),
        ("temp.tmp", ""),
        (".hidden", ""),
        ("docs/guide.md", ""),
        ("tests/test.go", ""),
    ]);
    assert_eq!(
        files(
            &[op(
                "@source/**",
                "@artifact/",
                &["*.md", "*.tmp", "**/.*", "**/tests/**"]
            )],
            &src
        ),
        ["app.yaml"]
    );
    // "exclude with glob patterns"
    let src = mem(&[
        ("app.yaml", ""),
        ("config.yaml", ""),
        ("secret.yaml", ""),
        ("other.json", ""),
    ]);
    assert_eq!(
        files(
            &[op("@source/*.yaml", "@artifact/configs/", &["secret.yaml"])],
            &src
        ),
        ["configs/app.yaml", "configs/config.yaml"]
    );
    // "exclude single file copy"
    let src = mem(&[("secret.yaml", "")]);
    assert!(
        files(
            &[op(
                "@source/secret.yaml",
                "@artifact/config.yaml",
                &["secret.yaml"]
            )],
            &src
        )
        .is_empty()
    );
}

#[test]
fn upstream_test_build_with_excludes_nested() {
    let src = mem(&[
        ("infrastructure/controllers/descheduler/release.yaml", ""),
        (
            "infrastructure/controllers/descheduler/kustomization.yaml",
            "",
        ),
        ("infrastructure/controllers/sealed-secrets/release.yaml", ""),
        ("infrastructure/configs/cluster-issuer.yaml", ""),
    ]);
    let files = |from: &str, exclude: &str| -> Vec<String> {
        build(&[op(from, "@artifact/", &[exclude])], &[("source", &src)])
            .unwrap()
            .into_keys()
            .collect()
    };
    let kept = [
        "configs/cluster-issuer.yaml",
        "controllers/sealed-secrets/release.yaml",
    ];
    // "exclude nested directory by full path from source root"
    assert_eq!(
        files(
            "@source/infrastructure/**",
            "infrastructure/controllers/descheduler/**"
        ),
        kept
    );
    // "exclude nested directory from glob directory copy by selected root path"
    assert_eq!(
        files("@source/infrastructure/**", "controllers/descheduler/**"),
        kept
    );
    // "exclude nested directory from non-glob directory copy by source root path" and
    // "… by subtree path": a directory copy nests under its name.
    let nested = kept.map(|k| format!("infrastructure/{k}"));
    assert_eq!(
        files(
            "@source/infrastructure",
            "infrastructure/controllers/descheduler/**"
        ),
        nested
    );
    assert_eq!(
        files("@source/infrastructure", "controllers/descheduler/**"),
        nested
    );
    // "exclude does not use recursive walk root as anchor"
    let src = mem(&[
        (
            "infrastructure/descheduler/release.yaml",
            "top-level descheduler",
        ),
        (
            "infrastructure/controllers/descheduler/release.yaml",
            "nested descheduler",
        ),
        ("infrastructure/controllers/sealed-secrets/release.yaml", ""),
    ]);
    let got: Vec<String> = build(
        &[op(
            "@source/infrastructure/**",
            "@artifact/",
            &["descheduler/**"],
        )],
        &[("source", &src)],
    )
    .unwrap()
    .into_keys()
    .collect();
    assert_eq!(
        got,
        [
            "controllers/descheduler/release.yaml",
            "controllers/sealed-secrets/release.yaml"
        ]
    );
}

#[test]
fn merge_strategy_merges_yaml_as_helm_values() {
    // As source-watcher's merge_test.go: maps merged deeply, the later value winning, lists
    // replaced whole.
    let src = mem(&[
        ("values.yaml", "a:\n  b: 1\n  c: [1, 2]\nd: x\n"),
        ("prod.yaml", "a:\n  c: [3]\n  e: true\n---\nf: 2\n"),
    ]);
    let mut merge = op("@source/prod.yaml", "@artifact/values.yaml", &[]);
    merge.strategy = Some("Merge".into());
    let got = build(
        &[op("@source/values.yaml", "@artifact/", &[]), merge],
        &[("source", &src)],
    )
    .unwrap();
    let value: Value = serde_yaml::from_str(&got["values.yaml"]).unwrap();
    assert_eq!(
        value,
        json!({"a": {"b": 1, "c": [3], "e": true}, "d": "x", "f": 2})
    );
}

fn generator(spec: &Value) -> Value {
    json!({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "metadata": {"name": "gen", "namespace": "flux-system"},
        "spec": spec,
    })
}

#[test]
fn parse_refuses_what_fledge_does_not_do_by_name() {
    let sources = json!([{"alias": "repo", "kind": "GitRepository", "name": "flux-system"}]);
    let copy = json!([{"from": "@repo/apps/**", "to": "@artifact/"}]);
    let refused = |spec: Value| ArtifactGenerator::parse(&generator(&spec)).unwrap_err();
    let e = refused(
        json!({"sources": [{"alias": "oci", "kind": "OCIRepository", "name": "x"}], "artifacts": [{"name": "a", "copy": copy}]}),
    );
    assert_eq!(e.path, "spec.sources[0].kind");
    assert!(e.message.contains("OCIRepository"), "{e}");
    let e = refused(
        json!({"sources": sources, "pathPattern": "@repo/apps/{app}", "artifacts": [{"name": "a", "copy": copy}]}),
    );
    assert_eq!(e.path, "spec.pathPattern");
    let e = refused(
        json!({"sources": sources, "artifacts": [{"name": "a", "copy": [{"from": "@repo/x.tgz", "to": "@artifact/", "strategy": "Extract"}]}]}),
    );
    assert_eq!(e.path, "spec.artifacts[0].copy[0].strategy");
    let e = refused(
        json!({"sources": sources, "artifacts": [{"name": "a", "copy": copy, "flavour": 1}]}),
    );
    assert_eq!(e.path, "spec.artifacts[0].flavour");
    assert!(e.message.contains("unknown field `flavour`"), "{e}");
    let e = refused(
        json!({"sources": sources, "artifacts": [{"name": "a", "copy": [{"from": "@other/x", "to": "@artifact/"}]}]}),
    );
    assert_eq!(e.path, "spec.artifacts[0].copy[0].from");
    let e = refused(
        json!({"sources": sources, "artifacts": [{"name": "a", "copy": copy}, {"name": "a", "copy": copy}]}),
    );
    assert_eq!(e.message, "duplicate artifact name 'a' found");
    let e = refused(
        json!({"sources": sources, "artifacts": [{"name": "a", "revision": "@nope", "copy": copy}]}),
    );
    assert_eq!(e.path, "spec.artifacts[0].revision");
}

#[test]
fn a_source_other_than_the_repository_is_refused_naming_it() {
    let g = ArtifactGenerator::parse(&generator(&json!({
        "sources": [
            {"alias": "repo", "kind": "GitRepository", "name": "flux-system"},
            {"alias": "other", "kind": "GitRepository", "name": "podinfo", "namespace": "apps"},
        ],
        "artifacts": [{"name": "a", "copy": [{"from": "@repo/x", "to": "@artifact/"}, {"from": "@other/y", "to": "@artifact/"}]}],
    })))
    .unwrap();
    let root = Id {
        namespace: "flux-system".into(),
        name: "flux-system".into(),
    };
    let e = g
        .artifact("a")
        .unwrap()
        .files(&root, &mem(&[("x", "")]))
        .unwrap_err();
    assert_eq!(e.path, "spec.artifacts[0].copy[1].from");
    assert!(e.message.contains("GitRepository apps/podinfo"), "{e}");
}

/// The generators of fluxcd/flux2-kustomize-helm-example's production cluster.
fn example() -> (ArtifactGenerator, DiskFiles) {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flux/flux2-kustomize-helm-example");
    let text = std::fs::read_to_string(root.join("clusters/production/artifacts.yaml")).unwrap();
    let object: Value = serde_yaml::from_str(&text).unwrap();
    (
        ArtifactGenerator::parse(&object).unwrap(),
        DiskFiles::new(&root).unwrap(),
    )
}

fn listing(files: &dyn Files, dir: &str, out: &mut Vec<String>) {
    for name in files.list(dir).unwrap() {
        let path = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        match files.entry(&path) {
            Some(Entry::Dir) => listing(files, &path, out),
            _ => out.push(path),
        }
    }
}

#[test]
fn example_infrastructure_and_apps_artifacts_build_and_render() {
    let (g, repo) = example();
    let root = Id {
        namespace: "flux-system".into(),
        name: "flux-system".into(),
    };
    for (name, from, to) in [
        ("infrastructure", "infrastructure", ""),
        ("apps", "apps/base", "base/"),
        ("apps", "apps/production", "production/"),
    ] {
        let tree = g.artifact(name).unwrap().files(&root, &repo).unwrap();
        let mut want = Vec::new();
        listing(&repo, from, &mut want);
        let want: Vec<String> = want
            .iter()
            .map(|p| format!("{to}{}", &p[from.len() + 1..]))
            .collect();
        let mut got = Vec::new();
        listing(&tree, to.trim_end_matches('/'), &mut got);
        assert_eq!(got, want, "{name}: {from}");
        assert!(!want.is_empty());
    }
    let infra = g
        .artifact("infrastructure")
        .unwrap()
        .files(&root, &repo)
        .unwrap();
    for path in ["./controllers", "./configs"] {
        let objects = crate::render::flux::build(&infra, path, &FluxOverlay::default()).unwrap();
        assert!(!objects.is_empty(), "{path}");
    }
    let apps = g.artifact("apps").unwrap().files(&root, &repo).unwrap();
    let objects =
        crate::render::flux::build(&apps, "./production", &FluxOverlay::default()).unwrap();
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(kinds.contains(&"HelmRelease"), "{kinds:?}");
    let mut top = apps.list("").unwrap();
    top.sort();
    assert_eq!(top, ["base", "production"]);
}
