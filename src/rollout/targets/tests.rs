use super::*;
use crate::render::MemFiles;
use serde_json::json;

/// What commit `c1` declares when `app/all.yaml` holds `yaml`.
fn render(yaml: &str) -> Desired {
    let mut files = MemFiles::default();
    files.insert("app/all.yaml", yaml);
    desired(
        &files,
        "app",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
        &BuildEnv::default(),
    )
    .unwrap()
}

#[test]
fn canary_references_go_to_the_rollout_and_the_rest_to_sync() {
    let d = render(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1, envFrom: [{configMapRef: {name: cfg}}]}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: ghost, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 10}\n",
    );
    let plain: Vec<String> = d
        .plain
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(plain, ["ConfigMap/cfg", "Service/other"]);
    let web = &d.releases["prod/web"];
    assert_eq!(web.configs.len(), 1);
    assert_eq!(web.commit.as_deref(), Some("c1"));
    assert_eq!(d.problems.len(), 1);
    assert!(
        d.problems[0]
            .message
            .contains("Deployment prod/ghost is not in the repository"),
        "{:?}",
        d.problems
    );
}

#[test]
fn a_broken_canary_keeps_what_its_release_made_and_leaves_the_rest_to_sync() {
    let mut d = render(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: lone, namespace: prod}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: prod}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}\nspec: {ports: [{port: 80}]}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: prod}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {intervall: 1m}\n",
    );
    let held = held(&d);
    assert_eq!(
        held.keys().map(ReleaseKey::as_str).collect::<Vec<_>>(),
        ["prod/web"]
    );
    let candidates = ownership_evidence(&d, &held);
    let mut evidence: Vec<String> = candidates.iter().map(|(_, e)| e.to_string()).collect();
    evidence.sort();
    // Only the held release's namespace, only the kinds a rollout takes over.
    assert_eq!(
        evidence,
        [
            "Deployment.apps prod/web-primary",
            "Service prod/lone-primary",
            "Service prod/web-primary"
        ]
    );
    // The primary and the primary Service exist; `lone` never had a release.
    let absent = BTreeSet::from([ObjectRef::new("v1", "Service", "prod", "lone-primary")]);
    let kept = hold(&mut d, &candidates, &absent);
    let mut kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
    kept.sort();
    assert_eq!(kept, ["Deployment.apps prod/web", "Service prod/web"]);
    let mut plain: Vec<String> = d
        .plain
        .iter()
        .filter_map(ObjectKey::of)
        .map(|k| k.to_string())
        .collect();
    plain.sort();
    assert_eq!(
        plain,
        [
            "ConfigMap prod/cfg",
            "Service other/web",
            "Service prod/lone"
        ],
        "the rest is synced as usual"
    );
}

#[test]
fn a_mask_hides_every_secret_value_even_inside_a_longer_one() {
    let mask = Mask(["s3cret".to_owned(), "s3cret-and-more".to_owned()].into());
    assert_eq!(
        mask.apply("refused: data.pw: s3cret-and-more, data.x: s3cret"),
        "refused: data.pw: ***, data.x: ***"
    );
    assert_eq!(format!("{mask:?}"), "Mask(2 values)");
}

#[test]
fn each_kustomization_is_a_unit_with_its_own_inventory_and_the_root_keeps_fledges() {
    let mut files = MemFiles::default();
    files.insert(
        "clusters/prod/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: false\n  deletionPolicy: Orphan\n  dependsOn: [{name: infra}]\n  sourceRef: {kind: GitRepository, name: flux-system}\n",
    );
    files.insert(
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n",
    );
    let d = desired(
        &files,
        "clusters/prod",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
        &BuildEnv::default(),
    )
    .unwrap();
    let units: Vec<(&str, &str, bool, Vec<String>)> = d
        .units
        .iter()
        .map(|u| {
            let keys = u.keys.iter().map(ToString::to_string).collect();
            (u.name.as_str(), u.inventory.as_str(), u.prune, keys)
        })
        .collect();
    assert_eq!(
        units,
        [
            ("root", "fledge-inventory", true, vec![]),
            (
                "flux-system/apps",
                "fledge-inventory.flux-system.apps",
                false,
                vec!["ConfigMap shop/a".to_owned()]
            ),
        ]
    );
    assert_eq!(d.units[1].deletion, Deletion::Orphan);
    assert_eq!(d.units[1].depends_on, ["flux-system/infra"]);
}

#[test]
fn substitute_from_outside_the_daemon_fails_the_kustomization_saying_why() {
    let mut files = MemFiles::default();
    files.insert(
        "clusters/prod/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: true\n  sourceRef: {kind: GitRepository, name: flux-system}\n  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: vars}]\n",
    );
    files.insert(
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\ndata: {k: \"${k}\"}\n",
    );
    let d = desired(
        &files,
        "clusters/prod",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
        &BuildEnv::default(),
    )
    .unwrap();
    let Some(Hold::Unreadable(why)) = &d.units[1].hold else {
        panic!("{:?}", d.units[1]);
    };
    assert!(why.contains("ConfigMap flux-system/vars"), "{why}");
    assert!(d.plain.is_empty());
}

#[test]
fn a_kustomization_of_an_oci_repository_outside_the_daemon_fails_saying_the_daemon_fetches_it() {
    let mut files = MemFiles::default();
    files.insert(
        "clusters/prod/apps.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: manifests, namespace: flux-system}\nspec:\n  interval: 5m\n  url: oci://registry.example/fleet\n  ref: {tag: v1}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: true\n  sourceRef: {kind: OCIRepository, name: manifests}\n",
    );
    let d = desired(
        &files,
        "clusters/prod",
        "c1",
        &Provider::Kubernetes,
        &HashKey::offline(),
        &BuildEnv::default(),
    )
    .unwrap();
    let Some(Hold::Unreadable(why)) = &d.units[1].hold else {
        panic!("{:?}", d.units[1]);
    };
    assert!(
        why.contains("OCIRepository flux-system/manifests")
            && why.contains("the daemon fetches it"),
        "{why}"
    );
    assert!(d.plain.is_empty());
}

/// A Knative Service is its own evidence: held with its broken Canary while it names a
/// primary revision (so sync does not reset its traffic to Git's), left to sync otherwise; a
/// core Service of the same name is not taken for it.
#[test]
fn a_broken_knative_canary_keeps_its_knative_service_while_it_names_a_primary_revision() {
    let d = render(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec: {containers: [{image: web:1}]}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: prod}\nspec:\n  provider: knative\n  targetRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: web}\n  analysis: {intervall: 1m}\n",
    );
    let held = held(&d);
    let candidates = ownership_evidence(&d, &held);
    let evidence: Vec<String> = candidates.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(evidence, ["Service.serving.knative.dev prod/web"]);
    let live = |annotations: Value| {
        json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "prod", "annotations": annotations}})
    };
    assert!(is_evidence(&live(
        json!({keys::KNATIVE_PRIMARY_REVISION: "web-00001"})
    )));
    assert!(!is_evidence(&live(json!({}))));
    assert!(is_evidence(
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-primary"}})
    ));
    let mut held_now = d;
    let kept = hold(&mut held_now, &candidates, &BTreeSet::new());
    assert_eq!(kept.len(), 1);
    assert!(held_now.plain.iter().all(|o| o["kind"] != "Service"));
}

/// A valid Knative Canary owns its Knative Service only (not a core Service of the same name),
/// and its revision is its template's: a change to a ConfigMap it reads makes none.
#[test]
fn a_knative_canary_owns_its_knative_service_and_tracks_its_template() {
    let yaml = |data: &str, image: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: web, namespace: prod}}\nspec:\n  template:\n    spec: {{containers: [{{image: {image}, envFrom: [{{configMapRef: {{name: cfg}}}}]}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: prod}}\ndata: {{a: '{data}'}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: prod}}\nspec: {{ports: [{{port: 80}}]}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: prod}}\nspec:\n  provider: knative\n  targetRef: {{apiVersion: serving.knative.dev/v1, kind: Service, name: web}}\n  analysis: {{interval: 1m, threshold: 2, stepWeight: 10}}\n"
        )
    };
    let d = render(&yaml("1", "web:1"));
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let owned: Vec<String> = d.owned.iter().map(ToString::to_string).collect();
    assert!(
        owned.contains(&"Service.serving.knative.dev prod/web".to_owned()),
        "{owned:?}"
    );
    assert!(!owned.contains(&"Service prod/web".to_owned()), "{owned:?}");
    let rev = |d: &Desired| d.releases.values().next().unwrap().revision.id.clone();
    assert_eq!(rev(&d), rev(&render(&yaml("2", "web:1"))));
    assert_ne!(rev(&d), rev(&render(&yaml("1", "web:2"))));
}
