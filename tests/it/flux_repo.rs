//! A Flux repository as it is, synced by `fledge run --path clusters/<name>`: the root
//! Kustomization (`flux-system`) is the root path, each Kustomization it declares is a sync unit
//! of its own (its inventory, prune, status; `dependsOn` order), Flux's own objects are never
//! applied, Flux's controllers are skipped, and what fledge does not follow yet is said — or
//! refused for that Kustomization alone, naming the field, when it would apply something else
//! than Flux.

use super::safety::daemon;
use super::support::git::Remote;

fn kustomization(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n{extra}"
    )
}

fn config_map(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{k: \"${{k:=v}}\"}}\n"
    )
}

/// The layout `flux bootstrap` writes (`clusters/prod` a plain folder), with an infrastructure
/// and an apps Kustomization; `apps_extra` goes into the apps Kustomization's spec.
fn bootstrap(apps_extra: &str) -> Vec<(String, String)> {
    let gotk_components = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: flux-system}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kustomize-controller\n  namespace: flux-system\n  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/instance: flux-system}\nspec:\n  selector: {matchLabels: {app: kustomize-controller}}\n  template:\n    metadata: {labels: {app: kustomize-controller}}\n    spec:\n      containers: [{name: manager, image: ghcr.io/fluxcd/kustomize-controller:v1.9.6}]\n";
    let gotk_sync = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: flux-system, namespace: flux-system}\nspec:\n  interval: 1m0s\n  ref: {branch: main}\n  secretRef: {name: flux-system}\n  url: ssh://git@example.com/org/fleet\n"
        .to_owned()
        + &kustomization("flux-system", "./clusters/prod", "");
    let infrastructure = kustomization("infrastructure", "./infrastructure", "");
    let apps = kustomization(
        "apps",
        "./apps/prod",
        &format!("  dependsOn: [{{name: infrastructure}}]\n{apps_extra}"),
    );
    [
        ("clusters/prod/flux-system/gotk-components.yaml", gotk_components.to_owned()),
        ("clusters/prod/flux-system/gotk-sync.yaml", gotk_sync),
        (
            "clusters/prod/flux-system/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [gotk-components.yaml, gotk-sync.yaml]\n".to_owned(),
        ),
        ("clusters/prod/infrastructure.yaml", infrastructure),
        ("clusters/prod/apps.yaml", apps),
        (
            "infrastructure/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
        ),
        ("apps/prod/settings.yaml", config_map("settings", "shop")),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml]\n".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_owned(), c))
    .collect()
}

fn commit(remote: &Remote, files: &[(String, String)], message: &str) -> String {
    remote.commit_owned(files, message)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_layout_syncs_every_kustomization_and_never_applies_flux_itself() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(&remote, &bootstrap(""), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    assert!(
        d.get("", "Namespace", "", "shop").is_some(),
        "infrastructure"
    );
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "apps, after infrastructure"
    );
    // Flux's objects configure fledge; its controllers are replaced, not installed.
    assert!(d.get("", "Namespace", "", "flux-system").is_none());
    assert!(
        d.get("apps", "Deployment", "flux-system", "kustomize-controller")
            .is_none()
    );
    assert!(
        d.get(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "flux-system",
            "apps"
        )
        .is_none()
    );
    let notices = d.shared.sync().notices.clone();
    assert!(
        notices.iter().any(|n| n.contains("part-of: flux")),
        "{notices:?}"
    );
    // One status per Kustomization, dependencies first, as `flux get kustomizations` lists them.
    let status = d.shared.sync().clone();
    let units: Vec<(&str, bool, &str)> = status
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.ready, u.path.as_str()))
        .collect();
    assert_eq!(
        units,
        [
            ("flux-system/flux-system", true, "clusters/prod"),
            ("flux-system/infrastructure", true, "infrastructure"),
            ("flux-system/apps", true, "apps/prod"),
        ]
    );
    for u in &status.units {
        assert_eq!(u.last_applied_revision, status.commit, "{u:?}");
        assert_eq!(u.last_attempted_revision, status.commit, "{u:?}");
    }
    // Each has its own inventory, holding what it applied.
    let inventory = |name: &str| {
        d.get("", "ConfigMap", "fledge-system", name)
            .and_then(|cm| cm["data"]["objects"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(inventory("fledge-inventory.flux-system.infrastructure").contains("Namespace||shop"));
    assert!(inventory("fledge-inventory.flux-system.apps").contains("ConfigMap|shop|settings"));
    assert!(!inventory("fledge-inventory").contains("settings"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomizations_target_namespace_prefix_and_substitutions_are_applied_as_flux_builds_them()
 {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let extra = "  targetNamespace: shop\n  namePrefix: prod-\n  postBuild:\n    substitute: {k: from-flux}\n";
    let mut files = bootstrap(extra);
    for (path, content) in &mut files {
        if path == "apps/prod/settings.yaml" {
            *content = config_map("settings", "elsewhere");
        }
    }
    commit(&remote, &files, "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    let settings = d
        .get("", "ConfigMap", "shop", "prod-settings")
        .expect("in the target namespace, with the prefix");
    assert_eq!(settings["data"]["k"], "from-flux");
    assert!(d.get("", "ConfigMap", "elsewhere", "settings").is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_field_fledge_does_not_apply_yet_fails_the_sync_naming_it_and_prunes_nothing()
 {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(&remote, &bootstrap(""), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    let bad = commit(
        &remote,
        &bootstrap("  kubeConfig: {secretRef: {name: remote}}\n"),
        "apps with kubeConfig",
    );
    d.until("the sync refused", |d| {
        let s = d.shared.sync();
        s.commit.as_deref() == Some(bad.as_str()) && !s.ready
    })
    .await;
    let status = d.shared.sync().clone();
    assert_eq!(status.reason.as_str(), "RenderFailed", "{status:?}");
    assert!(
        status.message.contains("flux-system/apps") && status.message.contains("spec.kubeConfig"),
        "{}",
        status.message
    );
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "the last good commit stays"
    );
    d.stop().await;
}

/// `bootstrap` with `apps_extra`, each `(path, content)` of `more` added or replacing its path.
fn layout(apps_extra: &str, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = bootstrap(apps_extra);
    for (path, content) in more {
        files.retain(|(p, _)| p != path);
        files.push(((*path).to_owned(), (*content).to_owned()));
    }
    files
}

/// `files` with the apps Kustomization's `spec.prune` set to `prune`.
fn apps_prune(mut files: Vec<(String, String)>, prune: bool) -> Vec<(String, String)> {
    for (path, content) in &mut files {
        if path == "clusters/prod/apps.yaml" {
            *content = content.replace("prune: true", &format!("prune: {prune}"));
        }
    }
    files
}

/// Whether the unit `name` is there and `holds` of it.
fn unit_is(
    d: &super::support::daemon::InProcess,
    name: &str,
    holds: impl Fn(&fledge::report::sync::UnitStatus) -> bool,
) -> bool {
    d.shared
        .sync()
        .units
        .iter()
        .any(|u| u.name == name && holds(u))
}

/// Waits (as `what`) until the unit `name` has the reason `reason`.
async fn until_reason(d: &super::support::daemon::InProcess, what: &str, name: &str, reason: &str) {
    d.until(what, |d| unit_is(d, name, |u| u.reason.as_str() == reason))
        .await;
}

fn unit(d: &super::support::daemon::InProcess, name: &str) -> fledge::report::sync::UnitStatus {
    let status = d.shared.sync().clone();
    status
        .units
        .iter()
        .find(|u| u.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no unit {name}: {status:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_kustomization_holds_only_itself_and_what_depends_on_it() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let tenants = kustomization("tenants", "./tenants", "  dependsOn: [{name: apps}]\n");
    let base = [
        ("clusters/prod/tenants.yaml", tenants.as_str()),
        (
            "tenants/team.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team, namespace: shop}\ndata: {v: \"1\"}\n",
        ),
    ];
    commit(&remote, &layout("", &base), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    // apps uses a field fledge refuses; infrastructure and tenants change too.
    let mut next = base.to_vec();
    let tools = "apiVersion: v1\nkind: Namespace\nmetadata: {name: tools}\n";
    let team = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team, namespace: shop}\ndata: {v: \"2\"}\n";
    next.push(("infrastructure/tools.yaml", tools));
    next.retain(|(p, _)| *p != "tenants/team.yaml");
    next.push(("tenants/team.yaml", team));
    let bad = commit(
        &remote,
        &layout("  kubeConfig: {secretRef: {name: remote}}\n", &next),
        "apps with kubeConfig",
    );
    d.until("apps refused, infrastructure synced", |d| {
        unit(d, "flux-system/apps")
            .last_attempted_revision
            .as_deref()
            == Some(bad.as_str())
            && unit(d, "flux-system/infrastructure")
                .last_applied_revision
                .as_deref()
                == Some(bad.as_str())
    })
    .await;
    assert!(
        d.get("", "Namespace", "", "tools").is_some(),
        "infrastructure went on"
    );
    let apps = unit(&d, "flux-system/apps");
    assert!(!apps.ready);
    assert_eq!(apps.reason.as_str(), "RenderFailed");
    assert!(apps.message.contains("spec.kubeConfig"), "{}", apps.message);
    assert_ne!(apps.last_applied_revision.as_deref(), Some(bad.as_str()));
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "apps keeps what it applied"
    );
    // What depends on apps waits, keeping the last commit's objects.
    d.until("tenants waits", |d| {
        unit(d, "flux-system/tenants").reason.as_str() == "DependencyNotReady"
    })
    .await;
    let tenants = unit(&d, "flux-system/tenants");
    assert!(
        tenants.message.contains("'flux-system/apps' is not ready"),
        "{}",
        tenants.message
    );
    let team = d.get("", "ConfigMap", "shop", "team").unwrap();
    assert_eq!(
        team["data"]["v"], "1",
        "not applied while its dependency fails"
    );
    let status = d.shared.sync().clone();
    assert!(!status.ready);
    assert!(
        status
            .message
            .starts_with("Kustomization flux-system/apps: ")
            && status
                .message
                .contains("not ready either: flux-system/tenants"),
        "{}",
        status.message
    );
    // Fixed, apps syncs and tenants follows at the same commit.
    let good = commit(&remote, &layout("", &next), "apps without kubeConfig");
    d.until("all synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(good.as_str())
    })
    .await;
    assert_eq!(
        d.get("", "ConfigMap", "shop", "team").unwrap()["data"]["v"],
        "2"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_false_keeps_what_a_kustomization_dropped_and_a_moved_object_is_never_pruned() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let extra = config_map("extra", "shop");
    let two = [
        ("apps/prod/extra.yaml", extra.as_str()),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml, extra.yaml]\n",
        ),
    ];
    commit(&remote, &apps_prune(layout("", &two), false), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    assert!(d.get("", "ConfigMap", "shop", "extra").is_some());
    // apps drops `extra` (prune: false keeps it); `settings` moves to infrastructure.
    let moved = [
        ("apps/prod/kustomization.yaml", "resources: []\n"),
        (
            "infrastructure/settings.yaml",
            &*config_map("settings", "shop"),
        ),
    ];
    let c = commit(
        &remote,
        &apps_prune(layout("", &moved), false),
        "move settings",
    );
    d.until("synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(c.as_str())
    })
    .await;
    assert!(
        d.get("", "ConfigMap", "shop", "extra").is_some(),
        "prune: false"
    );
    assert!(
        d.get("", "ConfigMap", "shop", "settings").is_some(),
        "moved, not pruned"
    );
    // Turning prune on later prunes nothing of that: as with Flux, the inventory no longer holds
    // what was dropped while prune was off.
    let c = commit(&remote, &layout("", &moved), "prune apps");
    d.until("synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(c.as_str())
    })
    .await;
    assert!(d.get("", "ConfigMap", "shop", "settings").is_some());
    assert!(d.get("", "ConfigMap", "shop", "extra").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_kustomization_prunes_what_it_applied_only_when_a_commit_allows_it() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let extra = config_map("extra", "shop");
    let two = [
        ("apps/prod/extra.yaml", extra.as_str()),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml, extra.yaml]\n",
        ),
    ];
    commit(&remote, &layout("", &two), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    super::safety::remove(&remote, &["clusters/prod/apps.yaml"], "drop apps");
    d.until("the removal refused", |d| {
        d.shared
            .sync()
            .units
            .iter()
            .any(|u| u.name == "flux-system/apps" && u.reason.as_str() == "PruneRefused")
    })
    .await;
    let apps = unit(&d, "flux-system/apps");
    assert!(
        apps.message
            .contains("Fledge-Allow-Prune: Kustomization/flux-system/apps"),
        "{}",
        apps.message
    );
    assert!(d.get("", "ConfigMap", "shop", "settings").is_some());
    assert!(
        d.get(
            "",
            "ConfigMap",
            "fledge-system",
            "fledge-inventory.flux-system.apps"
        )
        .is_some()
    );
    let allow = remote.commit(
        &[("README.md", "apps retired\n")],
        "retire apps\n\nFledge-Allow-Prune: Kustomization/flux-system/apps",
    );
    d.until("synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(allow.as_str())
    })
    .await;
    assert!(d.get("", "ConfigMap", "shop", "settings").is_none());
    assert!(d.get("", "ConfigMap", "shop", "extra").is_none());
    assert!(
        d.get(
            "",
            "ConfigMap",
            "fledge-system",
            "fledge-inventory.flux-system.apps"
        )
        .is_none()
    );
    assert!(
        d.shared
            .sync()
            .units
            .iter()
            .all(|u| u.name != "flux-system/apps")
    );
    assert!(
        d.get("", "Namespace", "", "shop").is_some(),
        "infrastructure stays"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn substitute_from_reads_the_clusters_config_maps_and_secrets_once_its_dependency_made_them()
{
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    // infrastructure makes the variables; apps, which depends on it, substitutes them.
    let vars = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-vars, namespace: flux-system}\ndata: {k: from-cluster, region: eu-1}\n";
    let secrets = "apiVersion: v1\nkind: Secret\nmetadata: {name: cluster-secrets, namespace: flux-system}\nstringData: {password: s3cret-value}\n";
    let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {k: \"${k}\", region: \"${region}\", pw: \"${password}\", absent: \"${nope:=fallback}\"}\n";
    let files = layout(
        "  postBuild:\n    substitute: {region: from-spec}\n    substituteFrom:\n    - {kind: ConfigMap, name: cluster-vars}\n    - {kind: Secret, name: cluster-secrets}\n    - {kind: ConfigMap, name: not-there, optional: true}\n",
        &[
            ("infrastructure/vars.yaml", vars),
            ("infrastructure/secrets.yaml", secrets),
            ("apps/prod/settings.yaml", settings),
        ],
    );
    let c = commit(&remote, &files, "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(c.as_str())
    })
    .await;
    let settings = d.get("", "ConfigMap", "shop", "settings").unwrap();
    assert_eq!(settings["data"]["k"], "from-cluster");
    // `substitute` wins over `substituteFrom`, as in Flux.
    assert_eq!(settings["data"]["region"], "from-spec");
    assert_eq!(settings["data"]["pw"], "s3cret-value");
    assert_eq!(settings["data"]["absent"], "fallback");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sops_encrypted_secret_is_decrypted_with_the_keys_of_the_secret_decryption_names() {
    let Some(sops) = super::support::sops::or_skip() else {
        return;
    };
    let key = super::support::sops::age_key();
    let dir = tempfile::tempdir().unwrap();
    let plain = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {password: hunter2-plain}\n";
    let encrypted = sops.encrypt(
        dir.path(),
        "db.yaml",
        plain.as_bytes(),
        &key.recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let encrypted = String::from_utf8(encrypted).unwrap();
    assert!(!encrypted.contains("hunter2-plain"));
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(&remote, &bootstrap(""), "bootstrap");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    // Without the key Secret, apps cannot decrypt and applies nothing of it.
    let decrypting = "  decryption: {provider: sops, secretRef: {name: sops-age}}\n";
    let with_secret = [
        ("apps/prod/db.yaml", encrypted.as_str()),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml, db.yaml]\n",
        ),
    ];
    let c = commit(&remote, &layout(decrypting, &with_secret), "db password");
    d.until("apps waits for its keys", |d| {
        unit(d, "flux-system/apps")
            .last_attempted_revision
            .as_deref()
            == Some(c.as_str())
    })
    .await;
    let apps = unit(&d, "flux-system/apps");
    assert!(!apps.ready);
    assert!(
        apps.message
            .contains("Secret flux-system/sops-age does not exist"),
        "{}",
        apps.message
    );
    assert!(d.get("", "Secret", "shop", "db").is_none());
    // The key Secret made by hand, as Flux's guide has it; apps decrypts at its next try.
    let age_secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sops-age", "namespace": "flux-system"},
        "stringData": {"age.agekey": key.file}});
    {
        let now = d.sim.now();
        d.sim.sim.lock().unwrap().apply(age_secret, now).unwrap();
    }
    d.until("apps synced", |d| d.shared.sync().ready).await;
    let db = d
        .get("", "Secret", "shop", "db")
        .expect("decrypted and applied");
    let password = db["data"]["password"]
        .as_str()
        .map(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).unwrap()
        })
        .or_else(|| {
            db["stringData"]["password"]
                .as_str()
                .map(|s| s.as_bytes().to_vec())
        })
        .unwrap();
    assert_eq!(password, b"hunter2-plain");
    // Nothing of the plaintext in what fledge reports.
    let status = serde_json::to_string(&*d.shared.sync()).unwrap();
    assert!(!status.contains("hunter2"));
    d.stop().await;
}

/// A Deployment in `shop`, never ready on the simulated cluster when `ready` is false (its
/// progress deadline then passes in 2 s, as a crash-looping app's would).
fn deployment(ready: bool) -> String {
    let never = if ready {
        String::new()
    } else {
        "      annotations: {sim.fledge.dev/ready: \"false\"}\n".to_owned()
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: db, namespace: shop}}\nspec:\n  progressDeadlineSeconds: 2\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata:\n      labels: {{app: db}}\n{never}    spec:\n      containers: [{{name: db, image: postgres:17}}]\n"
    )
}

/// `files` with infrastructure's `spec.wait` on.
fn infrastructure_waits(mut files: Vec<(String, String)>) -> Vec<(String, String)> {
    for (path, content) in &mut files {
        if path == "clusters/prod/infrastructure.yaml" {
            content.push_str("  wait: true\n  timeout: 1m\n");
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_holds_a_kustomization_and_its_dependants_until_its_objects_are_healthy() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let broken = deployment(false);
    let files = infrastructure_waits(layout("", &[("infrastructure/db.yaml", &broken)]));
    let c = commit(&remote, &files, "a database that never starts");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    // Failed fast once the Deployment's progress deadline passed; apps waits.
    until_reason(
        &d,
        "infrastructure failed its health check",
        "flux-system/infrastructure",
        "HealthCheckFailed",
    )
    .await;
    let infrastructure = unit(&d, "flux-system/infrastructure");
    assert_eq!(
        infrastructure.message,
        "failed early due to stalled resources: [Deployment/shop/db status: 'Failed']"
    );
    assert_ne!(
        infrastructure.last_applied_revision.as_deref(),
        Some(c.as_str())
    );
    let apps = unit(&d, "flux-system/apps");
    assert_eq!(apps.reason.as_str(), "DependencyNotReady", "{apps:?}");
    assert!(d.get("", "ConfigMap", "shop", "settings").is_none());
    assert!(
        d.get("apps", "Deployment", "shop", "db").is_some(),
        "applied, not healthy"
    );
    // Fixed, it becomes healthy and apps follows.
    let fixed = deployment(true);
    let files = infrastructure_waits(layout("", &[("infrastructure/db.yaml", &fixed)]));
    let c = commit(&remote, &files, "a database that starts");
    d.until("all synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(c.as_str())
    })
    .await;
    assert_eq!(
        unit(&d, "flux-system/infrastructure")
            .last_applied_revision
            .as_deref(),
        Some(c.as_str())
    );
    assert!(d.get("", "ConfigMap", "shop", "settings").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_alerts_get_each_kustomizations_events_and_a_flux_receiver_is_served() {
    let (base, received) = super::support::recorder().await;
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let notifications = format!(
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {{name: webhook, namespace: flux-system}}\nspec: {{type: generic, address: \"{base}/flux\"}}\n---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {{name: all, namespace: flux-system}}\nspec:\n  providerRef: {{name: webhook}}\n  eventSeverity: info\n  eventSources: [{{kind: Kustomization, name: '*'}}, {{kind: GitRepository, name: flux-system}}]\n---\napiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata: {{name: push, namespace: flux-system}}\nspec:\n  type: generic\n  resources: [{{kind: GitRepository, name: flux-system}}]\n  secretRef: {{name: hook-token}}\n"
    );
    let token = "apiVersion: v1\nkind: Secret\nmetadata: {name: hook-token, namespace: flux-system}\nstringData: {token: s3cret-token}\n";
    let files = layout(
        "",
        &[
            ("clusters/prod/notifications.yaml", &notifications),
            ("infrastructure/token.yaml", token),
        ],
    );
    commit(&remote, &files, "bootstrap");
    let builder = daemon(&remote, root.path(), "clusters/prod");
    let port = builder.listen_port();
    let d = builder.in_process().await;
    d.until("synced", |d| d.shared.sync().ready).await;
    // Each Kustomization's readiness, as kustomize-controller's event.
    let apps = posted_event(&received, |b| b["involvedObject"]["name"] == "apps").await;
    assert_eq!(apps["involvedObject"]["kind"], "Kustomization");
    assert_eq!(apps["reason"], "ReconciliationSucceeded");
    assert_eq!(apps["severity"], "info");
    // The commit, as source-controller's event for the GitRepository.
    let source = posted_event(&received, |b| {
        b["involvedObject"]["kind"] == "GitRepository"
    })
    .await;
    assert_eq!(source["reason"], "NewArtifact");
    assert_eq!(source["message"], "stored artifact for commit 'bootstrap'");
    assert_eq!(
        source["metadata"]["revision"],
        format!("main@sha1:{}", remote.head()),
        "{source}"
    );
    assert_eq!(source["reportingController"], "source-controller");
    // The Receiver is served once its token Secret exists (made by infrastructure).
    let c = commit(
        &remote,
        &layout(
            "",
            &[
                ("clusters/prod/notifications.yaml", &notifications),
                ("infrastructure/token.yaml", token),
                ("apps/prod/README.md", "apps\n"),
            ],
        ),
        "again",
    );
    d.until("the receiver served", |d| {
        let s = d.shared.sync();
        s.commit.as_deref() == Some(c.as_str()) && s.receivers.contains_key("flux-system/push")
    })
    .await;
    let path = d.shared.sync().receivers["flux-system/push"].clone();
    let client = reqwest::Client::new();
    let post = |p: String| {
        let client = client.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}{p}"))
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(path).await, 200);
    assert_eq!(post("/hook/0123".to_owned()).await, 404);
    d.stop().await;
}

/// Every file of the repository copy `tests/data/flux/<name>`, relative to it (its licence
/// files left out).
pub(crate) fn example(name: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flux")
        .join(name);
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if !["LICENSE", "SOURCE"].contains(&p.file_name().unwrap().to_str().unwrap()) {
                let rel = p.strip_prefix(&root).unwrap().to_str().unwrap().to_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn fluxs_kustomize_helm_example_builds_each_kustomization_from_its_artifact_and_waits_for_its_helm_releases()
 {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    commit(
        &remote,
        &example("flux2-kustomize-helm-example"),
        "the example",
    );
    let d = daemon(&remote, root.path(), "clusters/production")
        .in_process()
        .await;
    // gotk-sync.yaml is the placeholder `flux bootstrap` fills in: the root path is `root`, its
    // repository flux-system/flux-system, which the ArtifactGenerator splits. The controllers
    // come from HelmReleases whose charts are OCI artifacts (`chartRef: OCIRepository`) on
    // quay.io and ghcr.io, which this machine cannot reach: each fails alone, naming its
    // source, and infra-controllers (`wait: true`) waits for them as Flux waits for the
    // HelmReleases it applied.
    until_reason(
        &d,
        "cert-manager tried",
        "HelmRelease/cert-manager/cert-manager",
        "RenderFailed",
    )
    .await;
    let status = d.shared.sync().clone();
    let units: Vec<(&str, &str)> = status
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        units,
        [
            ("root", "Ready"),
            ("flux-system/infra-controllers", "Progressing"),
            ("flux-system/infra-configs", "DependencyNotReady"),
            ("flux-system/apps", "DependencyNotReady"),
            ("HelmRelease/podinfo/podinfo", "DependencyNotReady"),
            ("HelmRelease/cert-manager/cert-manager", "RenderFailed"),
            (
                "HelmRelease/envoy-gateway-system/envoy-gateway",
                "RenderFailed"
            ),
        ],
        "{status:#?}"
    );
    let controllers = unit(&d, "flux-system/infra-controllers");
    assert!(
        controllers.message.contains(
            "waiting (up to spec.timeout, 300 s) for: HelmRelease/cert-manager/cert-manager"
        ),
        "{}",
        controllers.message
    );
    let cert_manager = unit(&d, "HelmRelease/cert-manager/cert-manager");
    assert!(
        cert_manager.message.contains(
            "OCIRepository cert-manager/cert-manager: quay.io/jetstack/charts/cert-manager: "
        ),
        "{}",
        cert_manager.message
    );
    // podinfo's HelmRelease is made by apps: it waits for apps to apply it.
    let podinfo = unit(&d, "HelmRelease/podinfo/podinfo");
    assert!(
        podinfo
            .message
            .contains("'flux-system/apps' has not applied this HelmRelease yet"),
        "{}",
        podinfo.message
    );
    // The OCIRepositories and the ArtifactGenerator are read, not named as left out.
    assert!(
        !status
            .notices
            .iter()
            .any(|n| n.contains("OCIRepository") || n.contains("ArtifactGenerator")),
        "{:?}",
        status.notices
    );
    // infra-controllers applied its artifact's Namespaces.
    assert!(d.get("", "Namespace", "", "cert-manager").is_some());
    d.stop().await;
}

/// A generic Provider posting to `<base>/flux` and an Alert of the GitRepository `name`.
fn source_alert(base: &str, name: &str) -> String {
    format!(
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {{name: webhook, namespace: flux-system}}\nspec: {{type: generic, address: \"{base}/flux\"}}\n---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {{name: sources, namespace: flux-system}}\nspec:\n  providerRef: {{name: webhook}}\n  eventSources: [{{kind: GitRepository, name: {name}}}]\n"
    )
}

/// Waits for the `NewArtifact` event of the GitRepository `name` for `commit` (its message
/// `subject`), as source-controller posts it.
async fn new_artifact_posted(
    received: &super::support::Received,
    name: &str,
    subject: &str,
    commit: &str,
) {
    let message = format!("stored artifact for commit '{subject}'");
    let event = posted_event(received, |b| b["message"] == message.as_str()).await;
    assert_eq!(event["involvedObject"]["name"], name);
    assert_eq!(event["reason"], "NewArtifact");
    assert_eq!(event["metadata"]["revision"], format!("main@sha1:{commit}"));
}

/// The first event posted to `/flux` of the recorder that `is` says is the one (waited for).
async fn posted_event(
    received: &super::support::Received,
    is: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let posted = || {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(line, _)| line.starts_with("POST /flux"))
            .map(|(_, body)| body.clone())
            .collect::<Vec<serde_json::Value>>()
    };
    super::support::eventually(
        "the event",
        std::time::Duration::from_secs(20),
        || async { posted() },
        |e: &Vec<serde_json::Value>| e.iter().any(&is),
    )
    .await;
    posted().into_iter().find(|b| is(b)).unwrap()
}

/// A GitRepository other than the root's, as `flux create source git` writes it, and a
/// Kustomization of its `./deploy`.
fn further(name: &str, url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  interval: 1s\n  ref: {{branch: main}}\n  url: {url}\n  ignore: |\n    /deploy/ignored.yaml\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  dependsOn: [{{name: infrastructure}}]\n  sourceRef: {{kind: GitRepository, name: {name}}}\n"
    )
}

fn settings(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: podinfo, namespace: shop}}\ndata: {{version: \"{version}\"}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_of_another_git_repository_syncs_that_repositorys_commits_as_they_come() {
    let remote = Remote::new();
    let apps = Remote::new();
    let ignored = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored, namespace: shop}\n";
    let first = apps.commit(
        &[
            ("deploy/kustomization.yaml", "resources: [settings.yaml]\n"),
            ("deploy/settings.yaml", &settings("1")),
            ("deploy/extra.yaml", ignored),
        ],
        "podinfo 1",
    );
    let podinfo = further("podinfo", &apps.url());
    let missing = further("missing", "file:///nonexistent/fleet.git");
    let (base, received) = super::support::recorder().await;
    let alert = source_alert(&base, "podinfo");
    let root = tempfile::tempdir().unwrap();
    let files = layout(
        "",
        &[
            ("clusters/prod/podinfo.yaml", podinfo.as_str()),
            ("clusters/prod/missing.yaml", missing.as_str()),
            ("clusters/prod/alert.yaml", alert.as_str()),
        ],
    );
    let root_commit = commit(&remote, &files, "bootstrap with podinfo");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("podinfo synced", |d| {
        unit_is(d, "flux-system/podinfo", |u| u.ready)
    })
    .await;
    // Built from the other repository's commit, which is the revision it reports.
    let u = unit(&d, "flux-system/podinfo");
    assert_eq!(u.last_applied_revision.as_deref(), Some(first.as_str()));
    assert_eq!(
        u.source.as_deref(),
        Some("GitRepository flux-system/podinfo (branch main)")
    );
    assert_eq!(
        d.get("", "ConfigMap", "shop", "podinfo").unwrap()["data"]["version"],
        "1"
    );
    // A repository that cannot be fetched fails its Kustomization alone, saying why.
    let m = unit(&d, "flux-system/missing");
    assert!(!m.ready);
    assert!(
        m.message.contains("GitRepository flux-system/missing")
            && m.message.contains("until it can be fetched"),
        "{}",
        m.message
    );
    assert_eq!(
        unit(&d, "flux-system/apps")
            .last_applied_revision
            .as_deref(),
        Some(root_commit.as_str())
    );
    // A new commit there is polled at the GitRepository's interval and synced; what it drops
    // is pruned, and the root repository did not move.
    let second = apps.commit(
        &[
            ("deploy/settings.yaml", &settings("2")),
            (
                "deploy/kustomization.yaml",
                "resources: [settings.yaml, ignored.yaml]\n",
            ),
            ("deploy/ignored.yaml", ignored),
        ],
        "podinfo 2",
    );
    d.until("podinfo 2 synced", |d| {
        unit_is(d, "flux-system/podinfo", |u| {
            u.last_applied_revision.as_deref() == Some(second.as_str()) || !u.message.is_empty()
        })
    })
    .await;
    // Its Alerts hear of the new commit as source-controller tells them.
    new_artifact_posted(&received, "podinfo", "podinfo 2", &second).await;
    // The GitRepository's spec.ignore left ignored.yaml out: the build fails naming it, the
    // cluster keeps the first commit's objects.
    let u = unit(&d, "flux-system/podinfo");
    assert!(u.message.contains("ignored.yaml"), "{u:?}");
    assert_eq!(u.last_applied_revision.as_deref(), Some(first.as_str()));
    assert_eq!(u.last_attempted_revision.as_deref(), Some(second.as_str()));
    let third = apps.commit(
        &[("deploy/kustomization.yaml", "resources: [settings.yaml]\n")],
        "podinfo 3",
    );
    d.until("podinfo 3 synced", |d| {
        unit_is(d, "flux-system/podinfo", |u| {
            u.ready && u.last_applied_revision.as_deref() == Some(third.as_str())
        })
    })
    .await;
    assert_eq!(
        d.get("", "ConfigMap", "shop", "podinfo").unwrap()["data"]["version"],
        "2"
    );
    assert_eq!(
        d.shared.sync().commit.as_deref(),
        Some(root_commit.as_str())
    );
    d.stop().await;
}

/// The example with Kyverno's `ClusterPolicy` CustomResourceDefinition in Git where the example
/// installs Kyverno from an OCIRepository whose signature (spec.verify) fledge does not check yet.
pub(crate) fn kyverno_from_git(mut files: Vec<(String, String)>) -> Vec<(String, String)> {
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: clusterpolicies.kyverno.io}\nspec:\n  group: kyverno.io\n  scope: Cluster\n  names: {kind: ClusterPolicy, plural: clusterpolicies, singular: clusterpolicy, listKind: ClusterPolicyList}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n";
    files.retain(|(p, _)| !p.starts_with("infrastructure/kyverno/"));
    files.push(("infrastructure/kyverno/crd.yaml".into(), crd.into()));
    files.push((
        "infrastructure/kyverno/kustomization.yaml".into(),
        "resources: [crd.yaml]\n".into(),
    ));
    files
}

/// Flux's multi-tenancy example, its tenant's GitRepository naming `tenant` (the URL of a local
/// copy of the example's `dev-team` branch) where it names GitHub.
pub(crate) fn multi_tenancy(tenant: &str) -> Vec<(String, String)> {
    example("flux2-multi-tenancy")
        .into_iter()
        .map(|(p, c)| {
            let c = c.replace("https://github.com/fluxcd/flux2-multi-tenancy", tenant);
            (p, c)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fluxs_multi_tenancy_example_syncs_the_tenants_repository_as_its_service_account() {
    let remote = Remote::new();
    let tenant = Remote::new();
    let tenant_commit = commit(
        &tenant,
        &example("flux2-multi-tenancy-dev-team"),
        "dev-team",
    );
    super::support::git::git(
        &tenant.person(),
        &["push", "--quiet", "origin", "HEAD:dev-team"],
    );
    commit(&remote, &multi_tenancy(&tenant.url()), "the example");
    let root = tempfile::tempdir().unwrap();
    let d = daemon(&remote, root.path(), "clusters/staging")
        .in_process()
        .await;
    // Kyverno's controller comes from an OCIRepository whose cosign signature (spec.verify)
    // fledge does not check yet: its Kustomization fails, naming the field, and `kyverno`
    // (spec.wait) waits for it, as Flux's does
    // for a Kustomization it applied. The tenants wait for the policies that restrict them.
    d.until("kyverno waits for its controller", |d| {
        unit_is(d, "flux-system/kyverno", |u| {
            u.message
                .contains("Kustomization/flux-system/kyverno-controller (InProgress)")
        })
    })
    .await;
    let controller = unit(&d, "flux-system/kyverno-controller");
    assert!(
        controller
            .message
            .contains("OCIRepository flux-system/kyverno-controller: spec.verify"),
        "{controller:?}"
    );
    let tenants = unit(&d, "flux-system/tenants");
    assert_eq!(tenants.reason.as_str(), "DependencyNotReady", "{tenants:?}");
    assert!(d.get("", "ServiceAccount", "apps", "dev-team").is_none());
    // With Kyverno's CRD from Git, the policies and then the tenant follow.
    commit(
        &remote,
        &kyverno_from_git(multi_tenancy(&tenant.url())),
        "Kyverno from Git",
    );
    d.until("dev-team synced", |d| {
        unit_is(d, "apps/dev-team", |u| u.ready)
    })
    .await;
    tenant_synced(&d, &tenant_commit);
    d.stop().await;
}

/// What the multi-tenancy example's tenant has once it synced from `tenant_commit`.
fn tenant_synced(d: &super::support::daemon::InProcess, tenant_commit: &str) {
    let synced = |name: &str| {
        let t = unit(d, name).last_transition_time;
        assert!(!t.is_empty(), "{name}");
        t
    };
    // The tenant's Kustomization is made by `tenants`: it is first synced once `tenants`
    // applied it.
    assert!(synced("flux-system/tenants") <= synced("apps/dev-team"));
    let status = d.shared.sync().clone();
    let units: Vec<(&str, &str)> = status
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.reason.as_str()))
        .collect();
    // gotk-sync.yaml is the placeholder `flux bootstrap` fills in: the root path is `root`.
    assert_eq!(
        units,
        [
            ("root", "Ready"),
            ("flux-system/kyverno", "Ready"),
            ("apps/dev-team", "Ready"),
            ("flux-system/kyverno-policies", "Ready"),
            ("flux-system/tenants", "Ready"),
            ("HelmRelease/apps/podinfo", "RenderFailed"),
            ("flux-system/kyverno-controller", "RenderFailed"),
        ],
        "{status:#?}"
    );
    // The tenant's HelmRelease is written at an API version Flux no longer serves: it fails
    // alone, saying how to upgrade it.
    let podinfo = unit(d, "HelmRelease/apps/podinfo");
    assert!(
        podinfo
            .message
            .contains("`helm.toolkit.fluxcd.io/v2beta1` is not read")
            && podinfo.message.contains("flux migrate"),
        "{}",
        podinfo.message
    );
    // The tenant's Kustomization is built from its own repository's branch (its path patched
    // to ./staging by the platform repository), and reports that repository's commit.
    let dev = unit(d, "apps/dev-team");
    assert_eq!(dev.path, "staging");
    assert_eq!(dev.last_applied_revision.as_deref(), Some(tenant_commit));
    assert_eq!(
        dev.source.as_deref(),
        Some("GitRepository apps/dev-team (branch dev-team)")
    );
    // The platform's objects are applied.
    assert!(d.get("", "ServiceAccount", "apps", "dev-team").is_some());
    assert!(
        d.get("kyverno.io", "ClusterPolicy", "", "verify-git-repositories")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_is_first_synced_once_the_one_declaring_it_applied_it() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    // `tenants` declares `team-a`, and an object the cluster refuses (its CRD is missing).
    let policy =
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: restrict}\nspec: {}\n";
    let team = kustomization("team-a", "./teams/a", "");
    let tenants = kustomization("tenants", "./tenants", "");
    let more = [
        ("clusters/prod/tenants.yaml", tenants.as_str()),
        ("tenants/policy.yaml", policy),
        ("tenants/team-a.yaml", team.as_str()),
        (
            "teams/a/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team-a, namespace: shop}\n",
        ),
    ];
    commit(&remote, &layout("", &more), "tenants");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    until_reason(&d, "tenants failed", "flux-system/tenants", "ApplyFailed").await;
    until_reason(
        &d,
        "team-a waits",
        "flux-system/team-a",
        "DependencyNotReady",
    )
    .await;
    let team = unit(&d, "flux-system/team-a");
    assert!(
        team.message
            .contains("'flux-system/tenants' has not applied this Kustomization yet"),
        "{}",
        team.message
    );
    assert!(d.get("", "ConfigMap", "shop", "team-a").is_none());
    // Once tenants applies, team-a follows.
    let mut fixed = more.to_vec();
    fixed[1].1 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: restrict, namespace: shop}\n";
    commit(&remote, &layout("", &fixed), "no policy");
    d.until("team-a synced", |d| {
        unit_is(d, "flux-system/team-a", |u| u.ready)
    })
    .await;
    assert!(d.get("", "ConfigMap", "shop", "team-a").is_some());
    d.stop().await;
}

/// The apps Kustomization, labelled `tier`, waiting for infrastructure as `expr` says.
fn apps_ready_when(tier: &str, expr: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: apps, namespace: flux-system, labels: {{tier: {tier}}}}}\nspec:\n  interval: 10m\n  path: ./apps/prod\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n  dependsOn:\n    - name: infrastructure\n      readyExpr: {expr:?}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_expr_says_when_a_dependency_is_ready() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let expr = "dep.metadata.labels.tier == self.metadata.labels.tier && dep.status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True') && dep.status.lastAppliedRevision.endsWith(dep.status.lastAttemptedRevision) && dep.metadata.generation == dep.status.observedGeneration";
    let infrastructure = kustomization("infrastructure", "./infrastructure", "").replace(
        "namespace: flux-system}",
        "namespace: flux-system, labels: {tier: blue}}",
    );
    let apps = apps_ready_when("green", expr);
    let files = |apps: &str| {
        layout(
            "",
            &[
                ("clusters/prod/infrastructure.yaml", infrastructure.as_str()),
                ("clusters/prod/apps.yaml", apps),
            ],
        )
    };
    commit(&remote, &files(&apps), "tiers differ");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("apps waits", |d| {
        unit_is(d, "flux-system/apps", |u| {
            u.reason.as_str() == "DependencyNotReady"
        }) && unit_is(d, "flux-system/infrastructure", |u| u.ready)
    })
    .await;
    let apps = unit(&d, "flux-system/apps");
    assert!(
        apps.message.contains(
            "dependency 'flux-system/infrastructure' is not ready according to readyExpr eval"
        ),
        "{}",
        apps.message
    );
    assert!(d.get("", "ConfigMap", "shop", "settings").is_none());
    // The same tier: the expression holds, and apps syncs.
    commit(&remote, &files(&apps_ready_when("blue", expr)), "same tier");
    d.until("apps synced", |d| {
        unit_is(d, "flux-system/apps", |u| u.ready)
    })
    .await;
    assert!(d.get("", "ConfigMap", "shop", "settings").is_some());
    // An expression that does not parse fails the Kustomization, naming the field.
    commit(
        &remote,
        &files(&apps_ready_when("blue", "dep.status ==")),
        "broken",
    );
    until_reason(&d, "apps refused", "flux-system/apps", "RenderFailed").await;
    let apps = unit(&d, "flux-system/apps");
    assert!(
        apps.message
            .contains("spec.dependsOn[0].readyExpr: failed to parse"),
        "{}",
        apps.message
    );
    d.stop().await;
}

/// A Deployment `web` in `shop` selecting `app: <app>`.
fn web(app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec:\n      containers: [{{name: web, image: nginx}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn force_creates_anew_an_object_whose_immutable_field_changed_and_only_then() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let files = |extra: &str, app: &str| {
        let deployment = web(app);
        layout(
            extra,
            &[
                (
                    "apps/prod/kustomization.yaml",
                    "resources: [settings.yaml, web.yaml]\n",
                ),
                ("apps/prod/web.yaml", &deployment),
            ],
        )
    };
    commit(&remote, &files("", "web"), "web");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    d.until("synced", |d| d.shared.sync().ready).await;
    let uid = |d: &super::support::daemon::InProcess| {
        d.get("apps", "Deployment", "shop", "web").unwrap()["metadata"]["uid"].clone()
    };
    let first = uid(&d);
    // Without force, the server refuses the new selector: apps fails, the old one stays.
    let refused = commit(&remote, &files("", "web2"), "new selector");
    d.until("apps refused", |d| {
        unit_is(d, "flux-system/apps", |u| {
            u.last_attempted_revision.as_deref() == Some(refused.as_str()) && !u.ready
        })
    })
    .await;
    let apps = unit(&d, "flux-system/apps");
    assert!(
        apps.message
            .contains("spec.selector: Invalid value: field is immutable"),
        "{}",
        apps.message
    );
    assert_eq!(uid(&d), first);
    // With force, it is deleted and created anew.
    commit(&remote, &files("  force: true\n", "web2"), "force");
    d.until("apps synced", |d| {
        unit_is(d, "flux-system/apps", |u| u.ready)
    })
    .await;
    let web = d.get("apps", "Deployment", "shop", "web").unwrap();
    assert_ne!(web["metadata"]["uid"], first);
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web2");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_includes_the_kustomizations_a_kustomization_declares() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    // infrastructure waits for what it applies, the Kustomization `cache` among it, whose path
    // is not in the repository yet.
    let cache = kustomization("cache", "./cache", "");
    let files = infrastructure_waits(layout("", &[("infrastructure/cache.yaml", &cache)]));
    commit(&remote, &files, "a Kustomization of a path still to come");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    until_reason(&d, "cache failed", "flux-system/cache", "RenderFailed").await;
    d.until("infrastructure waits for cache", |d| {
        unit_is(d, "flux-system/infrastructure", |u| {
            u.reason.as_str() == "Progressing"
                && u.message
                    .contains("Kustomization/flux-system/cache (InProgress)")
        })
    })
    .await;
    assert!(d.get("", "Namespace", "", "shop").is_some(), "applied");
    let apps = unit(&d, "flux-system/apps");
    assert_eq!(apps.reason.as_str(), "DependencyNotReady", "{apps:?}");
    assert!(d.get("", "ConfigMap", "shop", "settings").is_none());
    // Once cache syncs, infrastructure is healthy and apps follows.
    let files = layout(
        "",
        &[
            ("infrastructure/cache.yaml", &cache),
            ("cache/redis.yaml", &config_map("redis", "shop")),
        ],
    );
    let c = commit(&remote, &infrastructure_waits(files), "the cache's path");
    d.until("all synced", |d| {
        let s = d.shared.sync();
        s.ready && s.commit.as_deref() == Some(c.as_str())
    })
    .await;
    for name in ["flux-system/cache", "flux-system/infrastructure"] {
        let u = unit(&d, name);
        assert_eq!(
            u.last_applied_revision.as_deref(),
            Some(c.as_str()),
            "{u:?}"
        );
    }
    assert!(d.get("", "ConfigMap", "shop", "settings").is_some());
    d.stop().await;
}

/// `files` with the root GitRepository including `common`'s `deploy` at `common/`, that
/// GitRepository (at `url`) and a Kustomization of `./common`.
fn including_common(mut files: Vec<(String, String)>, url: &str) -> Vec<(String, String)> {
    for (path, content) in &mut files {
        if path == "clusters/prod/flux-system/gotk-sync.yaml" {
            *content = content.replace(
                "  secretRef: {name: flux-system}\n",
                "  secretRef: {name: flux-system}\n  include:\n    - repository: {name: common}\n      fromPath: deploy\n      toPath: common\n",
            );
        }
    }
    let common = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: common, namespace: flux-system}}\nspec:\n  interval: 1s\n  ref: {{branch: main}}\n  url: {url}\n"
    ) + &kustomization(
        "shared",
        "./common",
        "  dependsOn: [{name: infrastructure}]\n",
    );
    files.push(("clusters/prod/common.yaml".into(), common));
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_git_repositorys_include_brings_another_repositorys_files_and_their_changes() {
    let remote = Remote::new();
    let common = Remote::new();
    let shared = |version: &str| {
        let cm = config_map("shared", "shop").replace("${k:=v}", version);
        common.commit(
            &[
                ("deploy/kustomization.yaml", "resources: [shared.yaml]\n"),
                ("deploy/shared.yaml", cm.as_str()),
                ("README.md", "not included\n"),
            ],
            version,
        )
    };
    shared("1");
    let root = tempfile::tempdir().unwrap();
    let root_commit = commit(
        &remote,
        &including_common(bootstrap(""), &common.url()),
        "include common",
    );
    let d = daemon(&remote, root.path(), "clusters/prod")
        .in_process()
        .await;
    let value = |d: &super::support::daemon::InProcess| {
        d.get("", "ConfigMap", "shop", "shared")
            .map(|c| c["data"]["k"].clone())
    };
    // The status is published after the apply: both are waited for.
    d.until("shared synced", |d| {
        value(d) == Some("1".into())
            && d.shared.sync().commit.as_deref() == Some(root_commit.as_str())
    })
    .await;
    // Built from the root repository's artifact, whose revision it reports.
    let u = unit(&d, "flux-system/shared");
    assert_eq!(
        u.last_applied_revision.as_deref(),
        Some(root_commit.as_str())
    );
    assert_eq!(u.source, None);
    // The included repository is polled; its new commit is built into the root's artifact.
    shared("2");
    d.until("the included change synced", |d| {
        value(d) == Some("2".into())
    })
    .await;
    // Submodules are not read: said, naming the field, and the cluster keeps what it has.
    let mut files = including_common(bootstrap(""), &common.url());
    for (path, content) in &mut files {
        if path == "clusters/prod/flux-system/gotk-sync.yaml" {
            *content = content.replace("  include:\n", "  recurseSubmodules: true\n  include:\n");
        }
    }
    let refused = commit(&remote, &files, "submodules");
    d.until("submodules refused", |d| {
        let s = d.shared.sync();
        s.commit.as_deref() == Some(refused.as_str()) && !s.ready
    })
    .await;
    let message = d.shared.sync().message.clone();
    assert!(
        message.contains(
            "GitRepository flux-system/flux-system: spec.recurseSubmodules is not followed"
        ),
        "{message}"
    );
    assert_eq!(value(&d), Some("2".into()));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_gone_with_a_kustomization_that_fails_to_build_keeps_its_release() {
    let remote = Remote::new();
    let root = tempfile::tempdir().unwrap();
    let web = super::support::erring_app("web:1", "0", 2, None);
    let with_web = [
        ("apps/prod/web.yaml", web.as_str()),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml, web.yaml]\n",
        ),
    ];
    commit(&remote, &layout("", &with_web), "web");
    let d = daemon(&remote, root.path(), "clusters/prod")
        .args(["--time-scale", "10"])
        .in_process()
        .await;
    d.until_phase("shop/web", "Initialized").await;
    // The apps Kustomization stops building: its Canary is not seen, not removed.
    let broken = [(
        "apps/prod/kustomization.yaml",
        "resources: [settings.yaml, web.yaml, missing.yaml]\n",
    )];
    commit(&remote, &layout("", &broken), "a missing file");
    d.until("the apps unit failed", |d| {
        d.shared
            .sync()
            .units
            .iter()
            .any(|u| u.name == "flux-system/apps" && !u.ready)
    })
    .await;
    d.rounds(3).await;
    let release = d.get("fledge.dev", "Release", "shop", "web");
    assert!(release.is_some(), "the Release stays");
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_some());
    assert_eq!(
        d.get("", "Service", "shop", "web").unwrap()["spec"]["selector"]["app"],
        "web-primary"
    );
    // It builds again, without the Canary: now it was removed, and is handed back.
    let without = web.split("---\napiVersion: flagger.app").next().unwrap();
    let fixed = [
        ("apps/prod/web.yaml", without),
        (
            "apps/prod/kustomization.yaml",
            "resources: [settings.yaml, web.yaml]\n",
        ),
    ];
    commit(&remote, &layout("", &fixed), "web without its Canary");
    d.until("the Release deleted", |d| {
        d.get("fledge.dev", "Release", "shop", "web").is_none()
    })
    .await;
    assert!(d.get("apps", "Deployment", "shop", "web-primary").is_none());
    assert_eq!(
        d.get("", "Service", "shop", "web").unwrap()["spec"]["selector"]["app"],
        "web"
    );
    d.stop().await;
}
