use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::with_includes;
use crate::flux::{GitRepository, Id};
use crate::ids::CommitId;
use crate::render::Files;
use crate::render::fs::MemFiles;
use crate::source::Snapshot;

/// The trees of the repositories, by name.
struct Trees(BTreeMap<String, MemFiles>);

impl Trees {
    fn tree(&self, repo: &GitRepository) -> Result<Arc<Snapshot>, String> {
        let files = self
            .0
            .get(&repo.id.name)
            .cloned()
            .ok_or_else(|| format!("{} cannot be fetched", repo.id))?;
        Ok(Arc::new(Snapshot {
            commit: CommitId::new("0".repeat(40)),
            files,
        }))
    }
}

fn read_to_string(files: &MemFiles, path: &str) -> Option<String> {
    files.read(path).ok().map(|b| String::from_utf8(b).unwrap())
}

fn files(entries: &[(&str, &str)]) -> MemFiles {
    let mut m = MemFiles::new();
    for (p, c) in entries {
        m.insert(p, *c);
    }
    m
}

fn repo(name: &str, spec: &Value) -> GitRepository {
    let mut s = json!({"interval": "5m", "url": format!("https://example.com/{name}")});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    GitRepository::parse(
        &json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system"}, "spec": s}),
    )
    .unwrap()
}

fn declared(repos: &[GitRepository]) -> BTreeMap<Id, GitRepository> {
    repos.iter().map(|r| (r.id.clone(), r.clone())).collect()
}

fn trees() -> Trees {
    Trees(BTreeMap::from([
        (
            "common".to_owned(),
            files(&[
                ("deploy/app.yaml", "app"),
                ("deploy/sub/more.yaml", "more"),
                ("deploy/skip.txt", "skip"),
                ("README.md", "readme"),
            ]),
        ),
        ("leaf".to_owned(), files(&[("leaf.yaml", "leaf")])),
    ]))
}

#[test]
fn an_include_moves_the_included_artifacts_path_into_the_repository() {
    let own = files(&[("clusters/prod/k.yaml", "k")]);
    let common = repo("common", &json!({"ignore": "*.txt"}));
    let fleet = repo(
        "fleet",
        &json!({"include": [
            {"repository": {"name": "common"}, "fromPath": "./deploy", "toPath": "apps/common"},
            {"repository": {"name": "common"}, "fromPath": "README.md", "toPath": "docs/README.md"},
            {"repository": {"name": "common"}}]}),
    );
    let out = with_includes(&own, &fleet, &declared(&[common]), &|r: &GitRepository| {
        trees().tree(r)
    })
    .unwrap()
    .unwrap();
    let read = |p: &str| read_to_string(&out, p).unwrap();
    assert_eq!(read("clusters/prod/k.yaml"), "k");
    assert_eq!(read("apps/common/app.yaml"), "app");
    assert_eq!(read("apps/common/sub/more.yaml"), "more");
    assert_eq!(read("docs/README.md"), "readme");
    // The whole artifact at the repository's name, without what its own ignore leaves out.
    assert_eq!(read("common/deploy/app.yaml"), "app");
    assert!(out.entry("common/deploy/skip.txt").is_none());
    assert!(out.entry("apps/common/skip.txt").is_none());
}

#[test]
fn includes_of_includes_are_followed_and_a_loop_is_named() {
    let leaf = repo("leaf", &json!({}));
    let common = repo(
        "common",
        &json!({"include": [{"repository": {"name": "leaf"}, "toPath": "deploy/leaf"}]}),
    );
    let fleet = repo(
        "fleet",
        &json!({"include": [{"repository": {"name": "common"}, "fromPath": "deploy", "toPath": "c"}]}),
    );
    let own = files(&[("k.yaml", "k")]);
    let all = declared(&[leaf, common.clone(), fleet.clone()]);
    let out = with_includes(&own, &fleet, &all, &|r: &GitRepository| trees().tree(r))
        .unwrap()
        .unwrap();
    assert_eq!(read_to_string(&out, "c/leaf/leaf.yaml").unwrap(), "leaf");
    let looping = repo(
        "common",
        &json!({"include": [{"repository": {"name": "common"}, "toPath": "again"}]}),
    );
    let e = with_includes(
        &own,
        &looping,
        &declared(std::slice::from_ref(&looping)),
        &|r: &GitRepository| trees().tree(r),
    )
    .unwrap_err();
    assert!(e.contains("make a loop"), "{e}");
}

#[test]
fn what_source_controller_cannot_copy_is_refused_naming_the_entry() {
    let common = repo("common", &json!({}));
    let refused = |include: Value, own: &[(&str, &str)]| {
        let fleet = repo("fleet", &json!({ "include": [include] }));
        with_includes(
            &files(own),
            &fleet,
            &declared(std::slice::from_ref(&common)),
            &|r: &GitRepository| trees().tree(r),
        )
        .unwrap_err()
    };
    let e = refused(
        json!({"repository": {"name": "common"}, "fromPath": "deploy", "toPath": "apps"}),
        &[("apps/mine.yaml", "mine")],
    );
    assert!(
        e.contains("GitRepository flux-system/fleet: spec.include[0]: copying GitRepository flux-system/common's `deploy` to `apps`: `apps` already holds files"),
        "{e}"
    );
    let e = refused(
        json!({"repository": {"name": "common"}, "fromPath": "nothing"}),
        &[],
    );
    assert!(
        e.contains("`nothing` to `common`: it is not in that repository's artifact"),
        "{e}"
    );
    let e = refused(json!({"repository": {"name": "absent"}}), &[]);
    assert!(
        e.contains("GitRepository flux-system/absent is declared nowhere"),
        "{e}"
    );
    let e = refused(json!({"fromPath": "x"}), &[]);
    assert!(
        e.contains("spec.include[0]: missing field `repository`"),
        "{e}"
    );
    // `..` stays inside the repository, as securejoin keeps it.
    let fleet = repo(
        "fleet",
        &json!({"include": [{"repository": {"name": "common"}, "fromPath": "../../deploy", "toPath": "../x"}]}),
    );
    let out = with_includes(
        &files(&[]),
        &fleet,
        &declared(&[common]),
        &|r: &GitRepository| trees().tree(r),
    )
    .unwrap()
    .unwrap();
    assert_eq!(read_to_string(&out, "x/app.yaml").unwrap(), "app");
}
