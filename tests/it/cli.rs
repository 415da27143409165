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
    assert!(text.contains("hash"));
    for missing in ["run", "plan", "demo", "status"] {
        assert!(!text.contains(&format!("\n  {missing} ")), "{text}");
    }
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
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
