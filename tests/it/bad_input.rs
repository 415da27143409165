//! Bad input gets a clear error that names the file, field or object, and renders nothing.

use fledge::render::{self, DiskFiles, Error};

use super::tree;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";

fn build(files: &[(&str, &str)], dir: &str) -> Result<String, Error> {
    let t = tree(files);
    let f = DiskFiles::new(t.path()).unwrap();
    render::render(&f, dir).map(|objs| render::yaml::emit_stream(&objs))
}

fn err(files: &[(&str, &str)], dir: &str) -> String {
    build(files, dir).expect_err("should fail").to_string()
}

#[test]
fn yaml_syntax_error_names_file_line_and_column() {
    let e = err(
        &[
            ("k/kustomization.yaml", "resources: [d.yaml]\n"),
            ("k/d.yaml", "kind: A\nmetadata:\n  name: [x\n"),
        ],
        "k",
    );
    assert!(e.starts_with("k/d.yaml:"), "{e}");
    let pos: Vec<&str> = e.splitn(4, ':').collect();
    assert!(pos[1].parse::<usize>().unwrap() >= 3, "line in {e}");
    assert!(pos[2].parse::<usize>().is_ok(), "column in {e}");
}

#[test]
fn failing_json_patch_names_patch_and_target() {
    let e = err(
        &[
            (
                "kustomization.yaml",
                "resources: [d.yaml]\npatches:\n- path: p.yaml\n  target:\n    kind: Deployment\n    name: web\n",
            ),
            ("d.yaml", DEPLOY),
            (
                "p.yaml",
                "- op: replace\n  path: /spec/nothing/here\n  value: 1\n",
            ),
        ],
        "",
    );
    assert!(
        e.contains("p.yaml") && e.contains("kind=Deployment") && e.contains("name=web"),
        "{e}"
    );
}

#[test]
fn patch_without_matching_object_names_it() {
    let e = err(
        &[
            (
                "kustomization.yaml",
                "resources: [d.yaml]\npatches:\n- path: p.yaml\n",
            ),
            ("d.yaml", DEPLOY),
            (
                "p.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: webb\nspec:\n  replicas: 2\n",
            ),
        ],
        "",
    );
    assert!(e.contains("webb") && e.contains("no object matches"), "{e}");
}

#[test]
fn duplicate_objects_are_named() {
    let e = err(
        &[
            ("kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
            ("a.yaml", DEPLOY),
            ("b.yaml", DEPLOY),
        ],
        "",
    );
    assert!(
        e.contains("Deployment")
            && e.contains("web")
            && e.contains("twice")
            && e.contains("a.yaml"),
        "{e}"
    );
}

#[test]
fn reading_outside_the_root_is_refused() {
    let e = err(
        &[("app/kustomization.yaml", "resources: [../../etc]\n")],
        "app",
    );
    assert!(e.contains("outside the build root"), "{e}");
    // kustomize's root-only restriction: a file (not a base) outside the kustomization dir.
    let e = err(
        &[
            ("app/kustomization.yaml", "resources: [../d.yaml]\n"),
            ("d.yaml", DEPLOY),
        ],
        "app",
    );
    assert!(e.contains("outside the kustomization's directory"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_refused() {
    let t = tree(&[("kustomization.yaml", "resources: [leak.yaml]\n")]);
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), DEPLOY).unwrap();
    std::os::unix::fs::symlink(outside.path(), t.path().join("leak.yaml")).unwrap();
    let f = DiskFiles::new(t.path()).unwrap();
    let e = render::render(&f, "").unwrap_err().to_string();
    assert!(e.contains("leak.yaml"), "{e}");
    // A symlink that stays inside the root is fine.
    std::fs::write(t.path().join("real.yaml"), DEPLOY).unwrap();
    std::fs::remove_file(t.path().join("leak.yaml")).unwrap();
    std::os::unix::fs::symlink(t.path().join("real.yaml"), t.path().join("leak.yaml")).unwrap();
    std::fs::write(
        t.path().join("kustomization.yaml"),
        "resources: [leak.yaml]\n",
    )
    .unwrap();
    assert!(render::render(&f, "").is_ok());
}

#[test]
fn cycles_are_detected() {
    let e = err(
        &[
            ("a/kustomization.yaml", "resources: [../b]\n"),
            ("b/kustomization.yaml", "resources: [../a]\n"),
        ],
        "a",
    );
    assert!(e.contains("cycle") && e.contains("a → b → a"), "{e}");
}

#[test]
fn remote_bases_are_refused_with_a_reason() {
    for url in [
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0",
        "github.com/org/repo/deploy",
        "git@github.com:org/repo.git",
    ] {
        let e = err(
            &[("kustomization.yaml", &format!("resources:\n- {url}\n"))],
            "",
        );
        assert!(
            e.contains("remote resource") && e.contains("vendor it"),
            "{e}"
        );
    }
}

#[test]
fn unsupported_and_unknown_fields_are_named() {
    for field in ["helmCharts", "openapi", "validators", "crds", "helmGlobals"] {
        let e = err(&[("kustomization.yaml", &format!("{field}: []\n"))], "");
        assert!(
            e.contains(&format!("`{field}`")) && e.contains("not supported"),
            "{e}"
        );
    }
    let e = err(&[("kustomization.yaml", "resourcess: [a.yaml]\n")], "");
    assert!(e.contains("unknown field `resourcess`"), "{e}");
    let e = err(
        &[
            (
                "kustomization.yaml",
                "resources: [d.yaml]\ntransformers: [t.yaml]\n",
            ),
            ("d.yaml", DEPLOY),
            (
                "t.yaml",
                "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n",
            ),
        ],
        "",
    );
    assert!(
        e.contains("ChartInflator") && e.contains("not supported"),
        "{e}"
    );
}

#[test]
fn missing_files_and_wrong_kinds() {
    let e = err(&[("kustomization.yaml", "resources: [nope.yaml]\n")], "");
    assert!(e.contains("`nope.yaml` does not exist"), "{e}");
    let e = err(
        &[
            ("kustomization.yaml", "resources: [sub]\n"),
            ("sub/x.txt", ""),
        ],
        "",
    );
    assert!(e.contains("sub: no kustomization.yaml"), "{e}");
    let e = err(
        &[
            ("kustomization.yaml", "resources: [c]\n"),
            // Not empty: kustomize refuses an empty one before it looks at the kind.
            ("c/kustomization.yaml", "kind: Component\nresources: []\n"),
        ],
        "",
    );
    assert!(e.contains("is a Component"), "{e}");
    let e = err(
        &[
            ("kustomization.yaml", "resources: [d.yaml]\n"),
            ("d.yaml", "kind: A\nmetadata: {}\n"),
        ],
        "",
    );
    assert!(e.contains("d.yaml") && e.contains("metadata.name"), "{e}");
    let e = err(
        &[(
            "kustomization.yaml",
            "configMapGenerator:\n- name: c\n  behavior: merge\n  literals: [a=b]\n",
        )],
        "",
    );
    assert!(e.contains("no ConfigMap `c` to merge"), "{e}");
}

#[test]
fn a_patch_cannot_turn_an_object_into_something_else() {
    let e = err(
        &[
            (
                "kustomization.yaml",
                "resources: [d.yaml]\npatches:\n- target: {kind: Deployment}\n  patch: '[{\"op\": \"replace\", \"path\": \"\", \"value\": 3}]'\n",
            ),
            ("d.yaml", DEPLOY),
        ],
        "",
    );
    assert!(e.contains("not an object"), "{e}");
}

#[test]
fn collection_as_mapping_key_names_file_line_and_column() {
    for (data, what) in [
        ("  [a, b]: x\n", "a sequence"),
        ("  {a: b}: x\n", "a mapping"),
    ] {
        let e = err(
            &[
                ("k/kustomization.yaml", "resources: [cm.yaml]\n"),
                (
                    "k/cm.yaml",
                    &format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n{data}"
                    ),
                ),
            ],
            "k",
        );
        assert!(
            e.starts_with("k/cm.yaml:6:3: ")
                && e.contains(&format!("{what} cannot be a mapping key")),
            "{e}"
        );
    }
}

#[test]
fn a_list_field_given_one_string_names_the_file_and_the_field() {
    let e = err(
        &[
            ("app/kustomization.yaml", "resources: deployment.yaml\n"),
            ("app/deployment.yaml", DEPLOY),
        ],
        "app",
    );
    assert!(
        e.starts_with("app/kustomization.yaml: field `resources`: ")
            && e.contains("expected a sequence"),
        "{e}"
    );
}

#[test]
fn a_symlink_loop_is_named_as_one() {
    let t = tree(&[("app/cm.yaml", DEPLOY)]);
    let app = t.path().join("app");
    std::os::unix::fs::symlink("b.yaml", app.join("a.yaml")).unwrap();
    std::os::unix::fs::symlink("a.yaml", app.join("b.yaml")).unwrap();
    std::os::unix::fs::symlink("d2", app.join("d1")).unwrap();
    std::os::unix::fs::symlink("d1", app.join("d2")).unwrap();
    let f = DiskFiles::new(t.path()).unwrap();
    for (reference, link) in [
        ("a.yaml", "app/a.yaml"),
        ("d1/x.yaml", "app/d1"),
        ("d1", "app/d1"),
    ] {
        std::fs::write(
            app.join("kustomization.yaml"),
            format!("resources:\n- {reference}\n"),
        )
        .unwrap();
        let e = render::render(&f, "app").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "app/kustomization.yaml: `{reference}` cannot be read: `{link}` is a symlink loop"
            )),
            "{e}"
        ); // kubectl kustomize refuses it too ("EvalSymlinks: too many links").
        let kubectl = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(&app)
            .output()
            .unwrap();
        assert!(!kubectl.status.success(), "{reference}");
    }
    // In a plain folder, said rather than skipped.
    std::fs::remove_file(app.join("kustomization.yaml")).unwrap();
    let e = render::render(&f, "app").unwrap_err().to_string();
    assert!(e.starts_with("app/a.yaml: a symlink loop"), "{e}");
}

#[test]
fn a_symlink_loop_in_a_git_tree_is_named_as_one() {
    // The tree as `source` reads a commit: files, then its symlinks (path, target as written).
    let mut m = render::MemFiles::new();
    m.insert("app/kustomization.yaml", "resources:\n- a.yaml\n");
    m.link(&[
        ("app/a.yaml".to_owned(), "b.yaml".to_owned()),
        ("app/b.yaml".to_owned(), "a.yaml".to_owned()),
    ]);
    let e = render::render(&m, "app").unwrap_err().to_string();
    assert!(
        e.starts_with(
            "app/kustomization.yaml: `a.yaml` cannot be read: `app/a.yaml` is a symlink loop"
        ),
        "{e}"
    );
}
