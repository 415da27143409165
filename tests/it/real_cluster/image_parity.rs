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
use crate::support::git::git;
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

/// The same repository on two remotes: `main` with the app at 1.0.0 and a push branch `auto`
/// that holds a person's commit of its own (same dates, so the same commit ids).
fn push_branch_remote(image: &str, ns: &str) -> crate::support::git::Remote {
    use crate::support::git::git_env;
    let remote = crate::support::git::Remote::new();
    let p = remote.person();
    let dated = [
        ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
        ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
    ];
    std::fs::create_dir_all(p.join("deploy")).unwrap();
    std::fs::write(
        p.join("deploy/web.yaml"),
        format!("image: {image}:1.0.0 # {{\"$imagepolicy\": \"{ns}:web\"}}\n"),
    )
    .unwrap();
    git_env(&p, &["add", "-A"], &dated);
    git_env(&p, &["commit", "--quiet", "-m", "web"], &dated);
    git_env(&p, &["push", "--quiet", "origin", "HEAD:main"], &dated);
    std::fs::write(p.join("deploy/notes.txt"), "reviewed\n").unwrap();
    git_env(&p, &["add", "-A"], &dated);
    git_env(&p, &["commit", "--quiet", "-m", "a person's note"], &dated);
    git_env(&p, &["push", "--quiet", "origin", "HEAD:auto"], &dated);
    remote
}

/// fledge's side of the push branch differential: the automation read by fledge's parser,
/// signed by `key`, the policy's 1.1.0 written through fledge's writer to `ours`.
async fn fledge_writes(
    ours: &crate::support::git::Remote,
    ns: &str,
    image: &str,
    key: &crate::support::gpg::Gpg,
) {
    let o = json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "config"},
                 "git": {"checkout": {"ref": {"branch": "main"}},
                         "commit": {"author": {"name": "bot", "email": "bot@example.com"},
                                    "signingKey": {"secretRef": {"name": "signing"}}},
                         "push": {"branch": "auto"}},
                 "update": {"path": "./deploy"}}});
    let a = fledge::flux::image::ImageUpdateAutomation::parse(&o).unwrap();
    let signer = fledge::writeback::sign::CommitSigner::new(
        key.secret_key().as_bytes(),
        Some(key.passphrase.as_bytes()),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = fledge::writeback::WriterConfig::new(&ours.url(), cache.path().to_path_buf());
    cfg.author_name = a.author_name.clone();
    cfg.author_email = a.author_email.clone();
    cfg.signer = Some(std::sync::Arc::new(signer));
    let w = fledge::writeback::GitWriter::open(cfg).unwrap();
    let mut setters = fledge::writeback::setters::Setters::default();
    setters.add(ns, "web", image, "1.1.0", None);
    let target = fledge::writeback::Target {
        from: a.checkout.clone(),
        ..fledge::writeback::Target::branch(a.push.as_deref().unwrap())
    };
    let change = fledge::writeback::Change::Setters {
        path: a.path.clone(),
        setters,
        message: "Update from image update automation".into(),
    };
    w.write_to(&target, &change, "image-update").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_commit_on_an_existing_push_branch_is_what_image_automation_controller_pushes() {
    let Some(c) = or_skip() else { return };
    let Some(images) = flux::image_or_skip(c).await else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    for tag in ["1.0.0", "1.1.0"] {
        reg.push_image("web", tag).await;
    }
    let key = crate::support::gpg::Gpg::new("parity", "both sign");
    let armored = key.secret_key();
    let ns = c.namespace("push-parity");
    let image = format!("{}/web", reg.addr());
    images.image_repository(&ns, "web", &image);
    images.apply(
        &json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": ">=1.0.0"}}}}),
    );
    images.wait_latest(&ns, "web", "1.1.0").await;
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "signing",
        "-n",
        &ns,
        &format!("--from-literal=git.asc={armored}"),
        &format!("--from-literal=passphrase={}", key.passphrase),
    ]);
    // Flux's side.
    let theirs = push_branch_remote(&image, &ns);
    let human = git(&theirs.bare(), &["rev-parse", "auto"]);
    let before = human.trim().to_owned();
    let _server = images.git_repository(&ns, "config", &theirs);
    images.apply(&json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "config"},
                 "git": {"checkout": {"ref": {"branch": "main"}},
                         "commit": {"author": {"name": "bot", "email": "bot@example.com"},
                                    "signingKey": {"secretRef": {"name": "signing"}}},
                         "push": {"branch": "auto"}},
                 "update": {"path": "./deploy", "strategy": "Setters"}}}));
    let pushed = within(
        Duration::from_secs(120),
        || async {
            git(&theirs.bare(), &["rev-parse", "auto"])
                .trim()
                .to_owned()
        },
        |h| *h != before,
    )
    .await;
    assert!(
        pushed.is_ok(),
        "image-automation-controller pushed nothing\n{}",
        images.logs()
    );

    // fledge's side: the same automation read by fledge's parser, the same key, the same
    // policy result, written through fledge's writer.
    let ours = push_branch_remote(&image, &ns);
    fledge_writes(&ours, &ns, &image, &key).await;

    for (who, r) in [("Flux", &theirs), ("fledge", &ours)] {
        let bare = r.bare();
        assert_eq!(
            git(&bare, &["rev-parse", "auto~1"]).trim(),
            before,
            "{who}: on top of the person's commit"
        );
        let status = key
            .verify_commit(&bare, "auto")
            .unwrap_or_else(|e| panic!("{who}'s commit does not verify: {e}"));
        assert!(
            status.contains(&format!("VALIDSIG {}", key.fingerprint())),
            "{who}: {status}"
        );
    }
    let said = |r: &crate::support::git::Remote| {
        git(&r.bare(), &["log", "-1", "--format=%an <%ae>%n%B", "auto"])
    };
    assert_eq!(said(&theirs), said(&ours), "the same author and message");
    assert_eq!(
        git(&theirs.bare(), &["ls-tree", "-r", "auto"]),
        git(&ours.bare(), &["ls-tree", "-r", "auto"]),
        "the same files on the push branch"
    );
    assert_eq!(
        git(&theirs.bare(), &["rev-parse", "main"]),
        git(&ours.bare(), &["rev-parse", "main"]),
        "main untouched on both"
    );
}
