//! Kustomizations built from an OCIRepository (artifacts pushed as `flux push artifact` pushes them).
//!
//! Manifests are pushed with fluxcd/pkg/oci's own push (`tests/ocipush`) to a real registry on
//! loopback (`docker-registry`), and `fledge run` syncs Kustomizations whose `sourceRef` is an
//! OCIRepository following a tag, a semver range and a digest: each is built from the artifact's
//! files (its `.sourceignore` applied, as source-controller archives the extracted layer),
//! reports the artifact's revision (`<tag>@sha256:…`), follows a newly pushed tag at its next
//! poll, and fails alone, naming the OCIRepository and deleting nothing, when its tag is missing
//! or its registry cannot be reached.

use super::safety::daemon;
use super::support::daemon::InProcess;
use super::support::git::Remote;
use super::support::{ocipush, registry};

/// An OCIRepository `name` of `url` (`oci://…`), polled every second, with `reference` (YAML
/// of `spec.ref`), and a Kustomization of its `./deploy` prefixing names with `<name>-`.
fn source(name: &str, url: &str, reference: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 1s
  url: {url}
  insecure: true
  ref: {reference}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 10m
  path: ./deploy
  prune: true
  namePrefix: {name}-
  targetNamespace: shop
  sourceRef: {{kind: OCIRepository, name: {name}}}
"
    )
}

/// The artifact's files: `deploy/` without a kustomization.yaml (Flux generates one of every
/// manifest), a ConfigMap holding `version`, and one its `.sourceignore` leaves out.
fn artifact(version: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "deploy/settings.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{version: \"{version}\"}}\n"
            ),
        ),
        (
            "deploy/ignored.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n".to_owned(),
        ),
        (".sourceignore", "deploy/ignored.yaml\n".to_owned()),
    ]
}

fn push(binary: &std::path::Path, url: &str, files: &[(&'static str, String)]) -> String {
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    ocipush::push(binary, url, &files)
}

/// The root path `clusters/prod`: the namespace, and `sources` (one file each).
fn layout(sources: &[(&str, String)]) -> Vec<(String, String)> {
    let mut files = vec![(
        "clusters/prod/namespace.yaml".to_owned(),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
    )];
    for (name, yaml) in sources {
        files.push((format!("clusters/prod/{name}.yaml"), yaml.clone()));
    }
    files
}

fn unit(d: &InProcess, name: &str) -> fledge::report::sync::UnitStatus {
    let status = d.shared.sync().clone();
    status
        .units
        .iter()
        .find(|u| u.name == format!("flux-system/{name}"))
        .cloned()
        .unwrap_or_else(|| panic!("no unit {name}: {status:?}"))
}

fn version(d: &InProcess, name: &str) -> Option<String> {
    d.get("", "ConfigMap", "shop", &format!("{name}-settings"))
        .map(|c| c["data"]["version"].as_str().unwrap_or_default().to_owned())
}

/// What the first sync made: each unit built from the artifact's files, its .sourceignore
/// applied, reporting the artifact's revision as source-controller writes it; the missing
/// tag and the unreachable registry failing their Kustomization alone, naming the
/// OCIRepository.
fn first_sync(d: &InProcess, one: &str) {
    // Each built from the artifact's files, its .sourceignore applied, and reporting the
    // artifact's revision as source-controller writes it.
    for name in ["tagged", "ranged", "pinned"] {
        assert_eq!(version(d, name).as_deref(), Some("1"), "{name}");
        assert!(
            d.get("", "ConfigMap", "shop", &format!("{name}-ignored"))
                .is_none(),
            "{name}: .sourceignore"
        );
    }
    let revision = |name: &str| unit(d, name).last_applied_revision.map(|r| r.to_string());
    assert_eq!(revision("tagged"), Some(format!("stable@{one}")));
    assert_eq!(revision("ranged"), Some(format!("1.0.0@{one}")));
    assert_eq!(revision("pinned"), Some(one.to_owned()));
    assert_eq!(
        unit(d, "ranged").source.as_deref(),
        Some("OCIRepository flux-system/ranged (semver >=1.0.0 <2.0.0)")
    );
    // A missing tag and an unreachable registry fail their Kustomization alone, naming the
    // OCIRepository.
    for (name, why) in [("missing", "gone"), ("unreachable", "127.0.0.1:1")] {
        let u = unit(d, name);
        assert!(!u.ready, "{name}: {u:?}");
        assert!(
            u.message
                .contains(&format!("OCIRepository flux-system/{name}"))
                && u.message.contains(why)
                && u.message.contains("until it can be fetched"),
            "{name}: {}",
            u.message
        );
    }
}

/// Commits `files` with the tagged OCIRepository following a tag that is not there: the
/// Kustomization fails naming its OCIRepository, and what it applied stays. Returns the commit.
async fn withdraw(d: &InProcess, remote: &Remote, files: &[(String, String)]) -> String {
    // The tag made to name nothing: the Kustomization fails naming its OCIRepository, and what
    // it applied stays.
    let mut moved = files.to_vec();
    for (path, content) in &mut moved {
        if path.ends_with("tagged.yaml") {
            *content = content.replace("{tag: stable}", "{tag: withdrawn}");
        }
    }
    let second = remote.commit_owned(&moved, "tagged follows a tag that is not there");
    d.until("tagged fails", |d| {
        d.shared.sync().commit.as_deref() == Some(second.as_str()) && !unit(d, "tagged").ready
    })
    .await;
    let u = unit(d, "tagged");
    assert!(
        u.message.contains("OCIRepository flux-system/tagged") && u.message.contains("withdrawn"),
        "{}",
        u.message
    );
    assert_eq!(
        version(d, "tagged").as_deref(),
        Some("2"),
        "nothing deleted"
    );
    second
}

#[tokio::test(flavor = "multi_thread")]
async fn kustomizations_are_built_from_the_artifact_an_oci_repository_follows_and_follow_new_tags()
{
    let Some(pusher) = ocipush::or_skip() else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    let repo = format!("{}/fleet/manifests", reg.addr());
    let one = push(pusher, &format!("{repo}:1.0.0"), &artifact("1"));
    push(pusher, &format!("{repo}:stable"), &artifact("1"));
    push(pusher, &format!("{repo}:2.0.0"), &artifact("major"));
    let url = format!("oci://{repo}");
    let remote = Remote::new();
    let files = layout(&[
        ("tagged", source("tagged", &url, "{tag: stable}")),
        (
            "ranged",
            source("ranged", &url, "{semver: \">=1.0.0 <2.0.0\"}"),
        ),
        (
            "pinned",
            source("pinned", &url, &format!("{{digest: \"{one}\"}}")),
        ),
        ("missing", source("missing", &url, "{tag: gone}")),
        (
            "unreachable",
            source("unreachable", "oci://127.0.0.1:1/nothing", "{tag: latest}"),
        ),
    ]);
    let root_commit = remote.commit_owned(&files, "sources");
    let root = tempfile::tempdir().unwrap();
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("the three units synced", |d| {
        ["tagged", "ranged", "pinned"].iter().all(|n| {
            d.shared
                .sync()
                .units
                .iter()
                .any(|u| u.name == format!("flux-system/{n}") && u.ready)
        })
    })
    .await;
    first_sync(&d, &one);
    // New pushes are followed at the next poll: a higher version in the range, the tag moved;
    // the digest stays where it is.
    let two = push(pusher, &format!("{repo}:1.1.0"), &artifact("2"));
    let stable = push(pusher, &format!("{repo}:stable"), &artifact("2"));
    assert_eq!(two, stable, "the same files pushed make the same artifact");
    d.until("the range and the tag followed", |d| {
        version(d, "ranged").as_deref() == Some("2") && version(d, "tagged").as_deref() == Some("2")
    })
    .await;
    d.until("their revisions reported", |d| {
        unit(d, "ranged")
            .last_applied_revision
            .map(|r| r.to_string())
            == Some(format!("1.1.0@{two}"))
            && unit(d, "tagged")
                .last_applied_revision
                .map(|r| r.to_string())
                == Some(format!("stable@{two}"))
    })
    .await;
    assert_eq!(version(&d, "pinned").as_deref(), Some("1"));
    let second = withdraw(&d, &remote, &files).await;
    assert_ne!(root_commit, second);
    // The registry gone: the polls fail, the last artifacts are kept and nothing is deleted.
    drop(reg);
    d.rounds(3).await;
    for name in ["ranged", "pinned"] {
        assert!(unit(&d, name).ready, "{name}");
        assert!(version(&d, name).is_some(), "{name}");
    }
    d.stop().await;
}
