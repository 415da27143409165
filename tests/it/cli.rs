//! `fledge build` as a user runs it.

use std::process::Command;

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
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
    for missing in ["run", "plan", "demo", "status"] {
        assert!(!text.contains(&format!("\n  {missing} ")), "{text}");
    }
}
