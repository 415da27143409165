//! fledge's choice of the latest tag, held to image-reflector-controller v1.2.0's on the same
//! objects and the same registry: each ImagePolicy below is applied to the real API server,
//! where Flux's controller scans the loopback registry and reports `status.latestRef.tag` (or
//! fails the policy); fledge reads the same objects with its own parser, lists the tags with
//! its own registry edge and chooses. Both must agree on every policy, failures included.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::eventually::within;
use crate::support::flux;
use crate::support::registry;
use crate::support::testcluster::or_skip;

/// Tags of every shape the policies tell apart: semver with and without `v`, a pre-release,
/// two-part versions, build stamps, dates, words and a cosign signature.
const TAGS: &[&str] = &[
    "1.0.0",
    "1.2.0",
    "v1.3.0",
    "1.10.0",
    "2.0.0-rc.1",
    "1.4",
    "main-aaaa-1700000100",
    "main-bbbb-1700000200",
    "dev-cccc-1800000000",
    "20230101",
    "20240101",
    "latest",
    "sha256-x.sig",
];

/// `(name, ImageRepository name, policy spec beyond imageRepositoryRef)`.
fn policies() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "semver",
            "all",
            json!({"policy": {"semver": {"range": ">=1.0.0"}}}),
        ),
        (
            "tilde",
            "all",
            json!({"policy": {"semver": {"range": "~1.2"}}}),
        ),
        (
            "pre",
            "all",
            json!({"policy": {"semver": {"range": ">=1.0.0-0"}}}),
        ),
        ("alpha-asc", "all", json!({"policy": {"alphabetical": {}}})),
        (
            "alpha-desc",
            "all",
            json!({"policy": {"alphabetical": {"order": "desc"}}}),
        ),
        (
            "stamp",
            "all",
            json!({"policy": {"numerical": {"order": "asc"}},
                   "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"}}),
        ),
        (
            "date-desc",
            "all",
            json!({"policy": {"numerical": {"order": "desc"}},
                   "filterTags": {"pattern": "^[0-9]{8}$"}}),
        ),
        ("numbers-only", "all", json!({"policy": {"numerical": {}}})),
        ("excluded", "some", json!({"policy": {"alphabetical": {}}})),
        (
            "no-match",
            "all",
            json!({"policy": {"semver": {"range": ">=5.0.0"}}}),
        ),
    ]
}

/// Flux's answer for a policy: `Ok(tag)`, or `Err(conditions)` once it fails the policy
/// (reason `Failure`: not while the repository waits for its scan, `DependencyNotReady`).
async fn flux_choice(
    c: &crate::support::testcluster::TestCluster,
    ns: &str,
    name: &str,
) -> Result<String, String> {
    let seen = within(
        Duration::from_secs(120),
        || async { c.get(&["imagepolicy.image.toolkit.fluxcd.io", name, "-n", ns]) },
        |p| {
            p.as_ref().is_some_and(|p| {
                p["status"]["latestRef"]["tag"].is_string()
                    || p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            c["type"] == "Ready"
                                && c["status"] == "False"
                                && c["reason"] == "Failure"
                        })
            })
        },
    )
    .await
    .unwrap_or_else(|last| panic!("image-reflector-controller never decided {ns}/{name}: {last:?}"))
    .unwrap();
    match seen["status"]["latestRef"]["tag"].as_str() {
        Some(t) => Ok(t.to_owned()),
        None => Err(seen["status"]["conditions"].to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fledge_chooses_the_tag_image_reflector_controller_chooses_for_every_policy() {
    let Some(c) = or_skip() else { return };
    let Some(images) = flux::image_or_skip(c).await else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    // Two images with the same tags: image-reflector-controller keeps one list of tags per
    // image, so two ImageRepositories of one image would share the last one's exclusions.
    for tag in TAGS {
        reg.push_image("web", tag).await;
        reg.push_image("other", tag).await;
    }
    let ns = c.namespace("image-parity");
    let image = |name: &str| format!("{}/{name}", reg.addr());
    let repositories = [
        (
            "all",
            json!({"image": image("web"), "interval": "10m", "insecure": true}),
        ),
        (
            "some",
            json!({"image": image("other"), "interval": "10m", "insecure": true, "exclusionList": ["^v", "^dev", "^[0-9]"]}),
        ),
    ];
    let mut ours = std::collections::BTreeMap::new();
    for (name, spec) in &repositories {
        let o = json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                       "metadata": {"name": name, "namespace": ns}, "spec": spec});
        images.apply(&o);
        ours.insert(
            *name,
            fledge::flux::image::ImageRepository::parse(&o).unwrap(),
        );
    }
    let access = fledge::registry::Access {
        insecure: true,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut tags = std::collections::BTreeMap::new();
    for (name, at) in [("all", image("web")), ("some", image("other"))] {
        tags.insert(name, fledge::registry::tags(&at, &access).await.unwrap());
    }
    let mut disagreements = Vec::new();
    for (name, repo, mut spec) in policies() {
        spec["imageRepositoryRef"] = json!({"name": repo});
        let o = json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                       "metadata": {"name": name, "namespace": ns}, "spec": spec});
        images.apply(&o);
        let policy = fledge::flux::image::ImagePolicy::parse(&o).unwrap();
        let kept = ours[repo].kept(&tags[repo]);
        let fledge = policy.latest(&kept, &BTreeSet::new());
        let flux = flux_choice(c, &ns, name).await;
        let agree = match (&fledge, &flux) {
            (Ok(Some(a)), Ok(b)) => a == b,
            (Ok(None) | Err(_), Err(_)) => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!("{name}: fledge {fledge:?}, Flux {flux:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "fledge and image-reflector-controller disagree:\n{}\n{}",
        disagreements.join("\n"),
        images.logs()
    );
}

/// The files of the setters differential: every marker form, quoting, a Kustomization's images,
/// several documents, a file without markers, a file that does not parse, one outside the path.
fn setter_files(image: &str, ns: &str) -> Vec<(String, String)> {
    let m = |s: &str| format!("# {{\"$imagepolicy\": \"{ns}:{s}\"}}");
    vec![
        (
            "deploy/web.yaml".into(),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}:1.0.0 {}\n        - name: side\n          image: \"{image}:1.0.0\" {}\n      initContainers:\n      - name: init\n        image: '{image}:1.0.0' {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tags\ndata:\n  tag: \"1.0.0\" {}\n  plain: 1.0.0 {}\n",
                m("web"),
                m("web"),
                m("web"),
                m("web:tag"),
                m("web:tag")
            ),
        ),
        (
            "deploy/kustomization.yaml".into(),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [web.yaml]\nimages:\n  - name: web\n    newName: {image} {}\n    newTag: 1.0.0 {}\n",
                m("web:name"),
                m("web:tag")
            ),
        ),
        (
            "deploy/untouched.yaml".into(),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: u}}\ndata: {{image: \"{image}:1.0.0\"}}\n"
            ),
        ),
        (
            "deploy/broken.yaml".into(),
            format!("a: [\nimage: {image}:1.0.0 {}\n", m("web")),
        ),
        (
            "elsewhere/web.yaml".into(),
            format!("image: {image}:1.0.0 {}\n", m("web")),
        ),
    ]
}

/// Every document of a YAML text, parsed.
fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fledges_setters_change_what_image_automation_controller_changes() {
    let Some(c) = or_skip() else { return };
    let Some(images) = flux::image_or_skip(c).await else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    for tag in ["1.0.0", "1.10"] {
        reg.push_image("web", tag).await;
    }
    let ns = c.namespace("setter-parity");
    let image = format!("{}/web", reg.addr());
    images.image_repository(&ns, "web", &image);
    images.apply(
        &json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}}}),
    );
    images.wait_latest(&ns, "web", "1.10").await;
    let files = setter_files(&image, &ns);
    let remote = crate::support::git::Remote::new();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let before = remote.commit(&borrowed, "web at 1.0.0");
    let _server = images.git_repository(&ns, "config", &remote);
    images.apply(&json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "config"},
                 "git": {"checkout": {"ref": {"branch": "main"}},
                         "commit": {"author": {"name": "fluxbot", "email": "f@example.com"}},
                         "push": {"branch": "main"}},
                 "update": {"path": "./deploy", "strategy": "Setters"}}}));
    let pushed = within(
        Duration::from_secs(120),
        || async { remote.head() },
        |h| *h != before,
    )
    .await;
    assert!(
        pushed.is_ok(),
        "image-automation-controller pushed nothing\n{}",
        images.logs()
    );
    // fledge's setters on the same files with the policy's latest image.
    let mut setters = fledge::writeback::setters::Setters::default();
    setters.add(&ns, "web", &image, "1.10", None);
    let (updated, problems) = fledge::writeback::setters::update_tree(
        files.iter().map(|(p, t)| (p.as_str(), t.as_bytes())),
        "deploy",
        &setters,
    );
    assert_eq!(problems, ["deploy/broken.yaml"]);
    let ours: std::collections::BTreeMap<String, String> =
        updated.into_iter().map(|(p, u)| (p, u.text)).collect();
    let changed =
        crate::support::git::git(&remote.bare(), &["diff", "--name-only", &before, "main"]);
    let flux_changed: Vec<&str> = changed.lines().collect();
    assert_eq!(
        flux_changed,
        ours.keys().map(String::as_str).collect::<Vec<_>>(),
        "the files changed"
    );
    for (path, text) in &ours {
        let theirs = remote.show("main", path).unwrap();
        assert_eq!(
            documents(text),
            documents(&theirs),
            "{path}:\nfledge:\n{text}\nFlux:\n{theirs}"
        );
    }
}
