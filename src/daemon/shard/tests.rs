use serde_json::json;

use super::*;
use crate::release::spec::Provider;
use crate::render::MemFiles;
use crate::revision::HashKey;
use crate::rollout::targets::{BuildEnv, desired};

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

#[test]
fn parses_fluxs_selectors_and_matches_as_kubernetes_does() {
    let shard1 = labels(&[(SHARD_KEY, "shard1")]);
    let shard2 = labels(&[(SHARD_KEY, "shard2")]);
    let none = Value::Null;
    let cases: &[(&str, [bool; 3])] = &[
        ("sharding.fluxcd.io/key=shard1", [true, false, false]),
        ("sharding.fluxcd.io/key==shard1", [true, false, false]),
        ("sharding.fluxcd.io/key!=shard1", [false, true, true]),
        ("!sharding.fluxcd.io/key", [false, false, true]),
        ("sharding.fluxcd.io/key", [true, true, false]),
        (
            "sharding.fluxcd.io/key in (shard1, shard2)",
            [true, true, false],
        ),
        ("sharding.fluxcd.io/key notin (shard1)", [false, true, true]),
        (
            " sharding.fluxcd.io/key in (shard1) , !team",
            [true, false, false],
        ),
    ];
    for (text, want) in cases {
        let s = Shard::new(text, Some("x")).unwrap();
        let got = [s.selects(&shard1), s.selects(&shard2), s.selects(&none)];
        assert_eq!(&got, want, "{text}");
    }
}

#[test]
fn refuses_a_bad_selector_naming_the_flag_and_the_fault() {
    for (text, fault) in [
        ("", "empty selector"),
        ("a=b,", "empty requirement"),
        ("key in (a", "'(' without ')'"),
        ("key in a", "parentheses"),
        ("key within (a)", "unknown operator \"within\""),
        ("-bad=1", "not a label key"),
        ("a=b c", "not a label value"),
        ("Bad.Prefix/key=1", "not a label key"),
    ] {
        let e = Shard::new(text, Some("x")).unwrap_err();
        assert!(e.starts_with("--watch-label-selector"), "{e}");
        assert!(e.contains(fault), "{text}: {e}");
    }
}

#[test]
fn the_shard_is_named_by_its_key_the_default_shard_keeps_the_unsharded_names() {
    let s = Shard::new("sharding.fluxcd.io/key=shard1", None).unwrap();
    assert_eq!(s.suffixed("fledge-leader"), "fledge-leader-shard1");
    let s = Shard::new("sharding.fluxcd.io/key in (b)", None).unwrap();
    assert_eq!(s.name.as_deref(), Some("b"));
    let s = Shard::new("!sharding.fluxcd.io/key", None).unwrap();
    assert_eq!(s.suffixed("fledge-inventory"), "fledge-inventory");
    let s = Shard::new("team=a", Some("team-a")).unwrap();
    assert_eq!(s.suffixed("fledge-units"), "fledge-units-team-a");
    let e = Shard::new("team=a", None).unwrap_err();
    assert!(e.contains("--shard-name"), "{e}");
    let e = Shard::new("sharding.fluxcd.io/key=Shard_1", None).unwrap_err();
    assert!(e.contains("\"Shard_1\""), "{e}");
}

const CANARY: &str = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: NAME, namespace: NS, LABELS}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: NAME}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: NAME, namespace: NS}\nspec:\n  selector: {matchLabels: {app: NAME}}\n  template:\n    metadata: {labels: {app: NAME}}\n    spec: {containers: [{name: NAME, image: NAME:1}]}\n";

fn canary(ns: &str, name: &str, labels: &str) -> String {
    CANARY
        .replace("NAME", name)
        .replace("NS", ns)
        .replace("LABELS", labels)
}

/// A repository: the root declares Kustomization `a` (no label) and `b` (shard1); each
/// declares a Canary, and the root one labelled shard1.
fn repository() -> Desired {
    let mut files = MemFiles::default();
    let ks = |name: &str, labels: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system, {labels}}}\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n"
        )
    };
    files.insert(
        "clusters/prod/ks.yaml",
        format!(
            "{}---\n{}---\n{}",
            ks("a", "labels: {team: x}"),
            ks("b", "labels: {sharding.fluxcd.io/key: shard1}"),
            canary("root", "r", "labels: {sharding.fluxcd.io/key: shard1}")
        ),
    );
    files.insert("a/all.yaml", canary("a", "web", "labels: {}"));
    files.insert(
        "b/all.yaml",
        canary("b", "web", "labels: {sharding.fluxcd.io/key: shard1}"),
    );
    desired(
        &files,
        "clusters/prod",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
        &BuildEnv::default(),
    )
    .unwrap()
}

fn names(d: &Desired, f: &Foreign) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    (
        d.units.iter().map(|u| u.name.clone()).collect(),
        f.units.iter().map(|u| u.name.clone()).collect(),
        d.releases.keys().map(ToString::to_string).collect(),
        f.releases.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn each_shard_takes_its_own_units_and_releases_and_leaves_the_others() {
    let whole = repository();
    assert_eq!(whole.units.len(), 3, "{:?}", whole.units);
    assert_eq!(whole.releases.len(), 3);

    let mut d = whole.clone();
    let f = Shard::new("!sharding.fluxcd.io/key", None)
        .unwrap()
        .split(&mut d);
    let (own, theirs, releases, foreign) = names(&d, &f);
    assert_eq!(own, ["root", "flux-system/a"]);
    assert_eq!(theirs, ["flux-system/b"]);
    assert_eq!(releases, ["a/web"]);
    assert_eq!(foreign, ["b/web", "root/r"]);
    assert_eq!(d.units[0].inventory, "fledge-inventory");

    let mut d = whole;
    let f = Shard::new("sharding.fluxcd.io/key=shard1", None)
        .unwrap()
        .split(&mut d);
    let (own, theirs, releases, foreign) = names(&d, &f);
    assert_eq!(own, ["flux-system/b"]);
    assert_eq!(theirs, ["root", "flux-system/a"]);
    assert_eq!(releases, ["b/web", "root/r"]);
    assert_eq!(foreign, ["a/web"]);
}

#[test]
fn a_shard_that_selects_unlabelled_objects_keeps_its_own_root_inventory() {
    let mut d = repository();
    Shard::new("sharding.fluxcd.io/key!=shard1", Some("rest"))
        .unwrap()
        .split(&mut d);
    let root = d.units.iter().find(|u| u.root).unwrap();
    assert_eq!(root.inventory, "fledge-inventory-rest");
}
