//! kustomize's long tail, byte for byte: every input under `tests/data/kustomize-tail/<area>/`
//! (generated variants, and inputs of kustomize's own `api/krusty` tests) is built by fledge
//! and by `kubectl kustomize` (kustomize v5.5.0). Both must print the same bytes, or both must
//! refuse; where kustomize refuses, fledge's error must name a file of the input, so that a
//! refusal for an unrelated reason does not pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::data_dir;

/// The inputs of one area, in name order.
fn inputs(area: &str) -> Vec<PathBuf> {
    let root = data_dir().join("kustomize-tail").join(area);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The folder to build: the one named in the input's `entry` file, or the input itself.
fn entry(case: &Path) -> PathBuf {
    match std::fs::read_to_string(case.join("entry")) {
        Ok(e) => case.join(e.trim()),
        Err(_) => case.to_path_buf(),
    }
}

fn outcome(out: &std::process::Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8(out.stdout.clone()).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl is on this machine kind (it ships kustomize v5.5.0); install kubectl to run this test");
    outcome(&out)
}

fn fledge_build(dir: &Path, root: &Path) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .arg("build")
        .arg(dir)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    outcome(&out)
}

/// The names of the files of an input (any depth).
fn file_names(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            file_names(&p, out);
        } else if let Some(n) = p.file_name() {
            out.push(n.to_string_lossy().into_owned());
        }
    }
}

/// `None` when both tools agree on the input, else what differs.
fn disagreement(case: &Path) -> Option<String> {
    let dir = entry(case);
    let theirs = kubectl_kustomize(&dir);
    let ours = fledge_build(&dir, case);
    let agree = match (&theirs, &ours) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(e)) => {
            let mut names = Vec::new();
            file_names(case, &mut names);
            names.iter().any(|n| n != "entry" && e.contains(n.as_str()))
        }
        _ => false,
    };
    let name = case.file_name().unwrap().to_string_lossy();
    (!agree).then(|| format!("{name}:\nkubectl: {theirs:?}\nfledge:  {ours:?}"))
}

/// Builds every input of `area` with both tools (two at a time) and says which disagree.
fn check_area(area: &str, at_least: usize) {
    let cases = inputs(area);
    assert!(
        cases.len() >= at_least,
        "{area}: {} inputs, expected at least {at_least}",
        cases.len()
    );
    let (odd, even): (Vec<_>, Vec<_>) = cases.iter().enumerate().partition(|(i, _)| i % 2 == 1);
    let run = |part: Vec<(usize, &PathBuf)>| -> Vec<String> {
        part.into_iter()
            .filter_map(|(_, c)| disagreement(c))
            .collect()
    };
    let mut wrong = std::thread::scope(|s| {
        let other = s.spawn(|| run(odd));
        let mut mine = run(even);
        mine.extend(other.join().unwrap());
        mine
    });
    wrong.sort();
    eprintln!("{area}: {} inputs, {} disagree", cases.len(), wrong.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn renaming_by_patch_matches_kubectl_kustomize() {
    check_area("01-rename-by-patch", 100);
}

#[test]
fn vars_match_kubectl_kustomize() {
    check_area("02-vars", 100);
}

#[test]
fn name_references_match_kubectl_kustomize() {
    check_area("03-name-references", 100);
}

#[test]
fn custom_kinds_named_like_builtins_match_kubectl_kustomize() {
    check_area("04-crd-like-builtin", 50);
}

#[test]
fn configurations_match_kubectl_kustomize() {
    check_area("05-configurations", 25);
}

#[test]
fn labels_match_kubectl_kustomize() {
    check_area("06-labels", 80);
}

#[test]
fn generators_match_kubectl_kustomize() {
    check_area("07-generators", 100);
}

#[test]
fn annotations_match_kubectl_kustomize() {
    check_area("08-annotations", 80);
}

#[test]
fn field_names_match_kubectl_kustomize() {
    check_area("09-field-names", 30);
}

#[test]
fn origin_annotations_match_kubectl_kustomize() {
    check_area("10-origin-annotations", 90);
}

#[test]
fn a_component_as_the_entry_matches_kubectl_kustomize() {
    check_area("11-component-entry", 30);
}

#[test]
fn refusals_match_kubectl_kustomize() {
    check_area("12-refusals", 40);
}

#[test]
fn patch_namespaces_match_kubectl_kustomize() {
    check_area("13-patch-namespaces", 6);
}

#[test]
fn other_krusty_inputs_match_kubectl_kustomize() {
    check_area("00-krusty-other", 50);
}
