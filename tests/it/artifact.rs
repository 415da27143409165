//! `flux::artifact` against source-watcher's own copy code (`tests/artifactgen`): the same copy
//! operations over the same repository stage the same files (YAML merged by `strategy: Merge`
//! compared as data), or both refuse them.

use std::collections::BTreeMap;
use std::path::Path;

use fledge::flux::Id;
use fledge::flux::artifact::ArtifactGenerator;
use fledge::render::fs::Entry;
use fledge::render::{DiskFiles, Files};
use serde_json::{Value, json};

use crate::support::artifactgen;

/// Copy operations over fluxcd/flux2-kustomize-helm-example plus `extra/` (hidden files, braces
/// in a name, YAML to merge): globs of each kind, directories and files with and without a
/// trailing `/`, excludes of each kind, Merge, conflicts and escapes.
fn cases() -> Vec<Value> {
    let op = |from: &str, to: &str, exclude: &[&str]| json!({"from": from, "to": to, "exclude": exclude});
    let merge = |from: &str, to: &str| json!({"from": from, "to": to, "strategy": "Merge"});
    vec![
        json!([op("@repo/infrastructure/**", "@artifact/", &[])]),
        json!([
            op("@repo/apps/base/**", "@artifact/base/", &[]),
            op("@repo/apps/production/**", "@artifact/production/", &[])
        ]),
        json!([op("@repo/**", "@artifact/", &["*.md", "**/staging/**"])]),
        json!([op("@repo/apps/*/podinfo", "@artifact/x", &[])]),
        json!([op("@repo/apps", "@artifact/out", &["base/**"])]),
        json!([op("@repo/apps/", "@artifact/out/", &["apps/base"])]),
        json!([op(
            "@repo/infrastructure/controllers/*.yaml",
            "@artifact/",
            &[]
        )]),
        json!([
            op("@repo/extra/deep/v.yaml", "@artifact/m.yaml", &[]),
            merge("@repo/extra/deep/er/w.yaml", "@artifact/m.yaml")
        ]),
        json!([
            op("@repo/extra/deep/v.yaml", "@artifact/d/", &[]),
            merge("@repo/extra/**", "@artifact/d/")
        ]),
        json!([op("@repo/*/production", "@artifact/", &[])]),
        json!([op("@repo/**/*.yaml", "@artifact/", &[])]),
        json!([op("@repo/apps/[bp]*/**", "@artifact/", &[])]),
        json!([op("@repo/apps/[^b]*/**", "@artifact/", &[])]),
        json!([op("@repo/apps/{base,production}/**", "@artifact/", &[])]),
        json!([op("@repo/extra/{br}.txt", "@artifact/", &[])]),
        json!([op("@repo/extra/{*}.txt", "@artifact/", &[])]),
        json!([op(
            "@repo/**",
            "@artifact/",
            &["{apps,infrastructure}/**/kustomization.yaml", "clusters"]
        )]),
        json!([op("@repo/nothing", "@artifact/", &[])]),
        json!([op("@repo/infrastructure/", "@artifact/", &["controllers"])]),
        json!([
            op("@repo/extra/README.md", "@artifact/x", &[]),
            op("@repo/extra/**", "@artifact/x/", &[])
        ]),
        json!([
            op("@repo/extra/**", "@artifact/x/", &[]),
            op("@repo/extra/README.md", "@artifact/x", &[])
        ]),
        json!([op("@repo/extra/*", "@artifact/", &[".*"])]),
        json!([op("@repo/extra/?eep/**", "@artifact/", &[])]),
        json!([op("@repo/extra/deep/**", "@artifact/z", &[])]),
        json!([op("@repo/extra/../apps/base/**", "@artifact/", &[])]),
        json!([op("@repo/apps/base/**", "@artifact/../x/", &[])]),
        json!([op(
            "@repo/infrastructure/**",
            "@artifact/",
            &["**/controllers/**"]
        )]),
        json!([op(
            "@repo/infrastructure/**",
            "@artifact/",
            &["controllers/*"]
        )]),
        json!([op("@repo/**", "@artifact/", &["*.yaml"])]),
        json!([op("@repo/extra/deep/v.yaml", "@artifact/", &["extra/**"])]),
    ]
}

/// The repository: the example, and `extra/`.
fn repository(dir: &Path) {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flux/flux2-kustomize-helm-example");
    for sub in ["apps", "clusters", "infrastructure"] {
        copy_dir(&example.join(sub), &dir.join(sub));
    }
    for (path, text) in [
        ("extra/.hidden.yaml", "a: 1\n"),
        ("extra/deep/v.yaml", "b: {c: 1, d: [1]}\n"),
        ("extra/deep/er/w.yaml", "b: {d: [2], e: x}\n---\nf: 1\n"),
        ("extra/README.md", "# doc\n"),
        ("extra/{br}.txt", "x\n"),
    ] {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// What fledge stages for `copy` from `files`.
fn fledge_stage(files: &dyn Files, copy: &Value) -> Result<BTreeMap<String, String>, String> {
    let generator = ArtifactGenerator::parse(&json!({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "metadata": {"name": "gen", "namespace": "flux-system"},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": "flux-system"}],
            "artifacts": [{"name": "a", "copy": copy}],
        },
    }))
    .map_err(|e| e.to_string())?;
    let root = Id {
        namespace: "flux-system".into(),
        name: "flux-system".into(),
    };
    let tree = generator
        .artifact("a")
        .unwrap()
        .files(&root, files)
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    walk(&tree, "", &mut out);
    Ok(out)
}

fn walk(files: &dyn Files, dir: &str, out: &mut BTreeMap<String, String>) {
    for name in files.list(dir).unwrap() {
        let path = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        if files.entry(&path) == Some(Entry::Dir) {
            walk(files, &path, out);
        } else {
            out.insert(
                path.clone(),
                String::from_utf8(files.read(&path).unwrap()).unwrap(),
            );
        }
    }
}

/// Two texts alike, or the same YAML data (source-watcher writes merged YAML with Go's encoder).
fn same_text(a: &str, b: &str) -> bool {
    let data = |t: &str| serde_yaml::from_str::<Value>(t).ok();
    a == b || (data(a).is_some() && data(a) == data(b))
}

#[test]
fn artifact_files_are_staged_as_source_watcher_stages_them() {
    let Some(binary) = artifactgen::or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path());
    let files = DiskFiles::new(dir.path()).unwrap();
    for copy in cases() {
        let theirs = artifactgen::stage(binary, dir.path(), &copy);
        let ours = fledge_stage(&files, &copy);
        match (&theirs, &ours) {
            (Ok(t), Ok(o)) => {
                assert_eq!(
                    t.keys().collect::<Vec<_>>(),
                    o.keys().collect::<Vec<_>>(),
                    "{copy}"
                );
                for (path, text) in t {
                    assert!(
                        same_text(text, &o[path]),
                        "{copy}: {path}:\n{text}\n---\n{}",
                        o[path]
                    );
                }
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{copy}: source-watcher: {theirs:?}\nfledge: {ours:?}"),
        }
    }
}
