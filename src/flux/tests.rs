use serde_json::{Value, json};

use super::units::{Build, Origin, discover};
use super::{GitRepository, Kustomization};

fn kustomization(name: &str, path: &str, extra: &Value) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "path": path,
        "prune": true,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": spec,
    })
}

fn further_repository(name: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": format!("https://example.com/{name}"), "ref": {"branch": "main"}},
    })
}

fn repository() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": "ssh://git@example.com/org/fleet", "ref": {"branch": "main"}},
    })
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"}})
}

#[test]
fn flux_defaults_apply_as_kustomize_controller_reads_them() {
    let k = Kustomization::parse(&kustomization("apps", "./apps/prod/", &json!({}))).unwrap();
    assert_eq!(k.path(), "apps/prod");
    assert_eq!(k.interval().as_secs(), 600);
    assert_eq!(k.retry_interval().as_secs(), 600);
    assert_eq!(k.timeout().as_secs(), 570, "interval less 30 s");
    let short =
        Kustomization::parse(&kustomization("a", "./", &json!({"interval": "20s"}))).unwrap();
    assert_eq!(short.timeout().as_secs(), 30, "never under 30 s");
    assert_eq!(short.path(), "");
    let with = Kustomization::parse(&kustomization(
        "a",
        "x",
        &json!({"dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "ops"}]}),
    ))
    .unwrap();
    let deps: Vec<String> = with
        .dependencies()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(deps, ["flux-system/infra", "ops/crds"]);
    let repo = GitRepository::parse(&repository()).unwrap();
    assert_eq!(repo.tracks(), "branch main");
}

#[test]
fn a_misspelt_or_mistyped_field_is_refused_with_its_path() {
    let typo = kustomization("apps", "./apps", &json!({"dependOn": [{"name": "infra"}]}));
    let e = Kustomization::parse(&typo).unwrap_err();
    assert_eq!(e.path, "spec.dependOn");
    assert!(e.message.contains("`dependsOn`"), "{e}");
    let wrong = kustomization("apps", "./apps", &json!({"prune": "yes"}));
    let e = Kustomization::parse(&wrong).unwrap_err();
    assert_eq!(e.path, "spec.prune", "{e}");
    let interval = kustomization("apps", "./apps", &json!({"interval": "ten minutes"}));
    let e = Kustomization::parse(&interval).unwrap_err();
    assert_eq!(e.path, "spec.interval", "{e}");
    let mut old = kustomization("apps", "./apps", &json!({}));
    old["apiVersion"] = json!("kustomize.toolkit.fluxcd.io/v1beta2");
    let e = Kustomization::parse(&old).unwrap_err();
    assert!(e.message.contains("flux migrate"), "{e}");
}

#[test]
fn the_bootstrap_layout_makes_the_root_and_its_kustomizations_units_in_dependency_order() {
    let mut controller = config_map("source-controller");
    controller["metadata"]["labels"] = json!({"app.kubernetes.io/part-of": "flux"});
    let root = vec![
        repository(),
        kustomization("flux-system", "./clusters/prod", &json!({})),
        kustomization(
            "apps",
            "./apps/prod",
            &json!({"dependsOn": [{"name": "infra"}]}),
        ),
        kustomization("infra", "./infrastructure", &json!({})),
        controller,
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "redis", "namespace": "apps"},
               "spec": {"interval": "5m", "chart": {"spec": {"chart": "redis",
                        "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}}}}),
        config_map("settings"),
    ];
    let units = discover("clusters/prod/", root, |k: &Kustomization, _, _| {
        Ok::<_, String>(vec![config_map(&format!("from-{}", k.id.name))])
    });
    let names: Vec<String> = units.units.iter().map(super::Unit::name).collect();
    assert_eq!(
        names,
        [
            "flux-system/flux-system",
            "flux-system/infra",
            "flux-system/apps"
        ]
    );
    let Build::Objects(root_objects) = &units.units[0].build else {
        panic!("{:?}", units.units[0].build)
    };
    assert_eq!(
        root_objects,
        &[config_map("settings")],
        "Flux's own are taken out"
    );
    assert_eq!(
        units.units[2].build,
        Build::Objects(vec![config_map("from-apps")])
    );
    assert_eq!(
        units
            .root_source
            .as_ref()
            .map(|r| r.id.to_string())
            .as_deref(),
        Some("flux-system/flux-system")
    );
    assert!(
        units.notices.iter().any(|n| n.contains("part-of: flux")),
        "{:?}",
        units.notices
    );
    // A HelmRelease is read and handed over, with the unit that declares it.
    let releases: Vec<(String, &str)> = units
        .helm_releases
        .iter()
        .map(|(r, parent)| (r.as_ref().unwrap().id.to_string(), parent.as_str()))
        .collect();
    assert_eq!(
        releases,
        [("apps/redis".to_owned(), "flux-system/flux-system")]
    );
    assert!(units.problems.is_empty(), "{:?}", units.problems);
}

#[test]
fn a_dependency_cycle_fails_its_units_other_sources_are_refused_and_tenants_built() {
    let root = vec![
        repository(),
        kustomization("a", "./a", &json!({"dependsOn": [{"name": "b"}]})),
        kustomization("b", "./b", &json!({"dependsOn": [{"name": "a"}]})),
        kustomization(
            "other",
            "./o",
            &json!({"sourceRef": {"kind": "GitRepository", "name": "elsewhere"}}),
        ),
        kustomization(
            "oci",
            "./o",
            &json!({"sourceRef": {"kind": "OCIRepository", "name": "manifests"}}),
        ),
        kustomization(
            "podinfo",
            "./kustomize",
            &json!({"sourceRef": {"kind": "GitRepository", "name": "podinfo"}}),
        ),
        further_repository("podinfo"),
        kustomization("tenant", "./t", &json!({"serviceAccountName": "team-a"})),
        kustomization("ok", "./ok", &json!({"suspend": true})),
    ];
    let mut fetched = Vec::new();
    let units = discover("", root, |k: &Kustomization, origin, _| {
        if let Some(Origin::Git(r)) = origin {
            fetched.push((k.id.name.clone(), r.id.to_string(), r.spec.url.clone()));
        }
        Ok::<_, String>(Vec::new())
    });
    // A further repository is given to the build of the Kustomization naming it, and only there.
    assert_eq!(
        fetched,
        [(
            "podinfo".to_owned(),
            "flux-system/podinfo".to_owned(),
            "https://example.com/podinfo".to_owned()
        )]
    );
    let build = |name: &str| {
        units
            .units
            .iter()
            .find(|u| u.name() == format!("flux-system/{name}"))
            .map(|u| u.build.clone())
            .unwrap()
    };
    for name in ["a", "b"] {
        let Build::Failed(why) = build(name) else {
            panic!("{name}")
        };
        assert!(why.contains("cycle among"), "{why}");
    }
    let Build::Failed(why) = build("other") else {
        panic!()
    };
    assert!(
        why.contains("GitRepository flux-system/elsewhere is declared nowhere"),
        "{why}"
    );
    let Build::Failed(why) = build("oci") else {
        panic!()
    };
    assert!(
        why.contains("OCIRepository flux-system/manifests is declared nowhere"),
        "{why}"
    );
    assert_eq!(build("podinfo"), Build::Objects(Vec::new()));
    // Applied as its ServiceAccount by the daemon: built like any other.
    assert_eq!(build("tenant"), Build::Objects(Vec::new()));
    assert_eq!(build("ok"), Build::Suspended);
    assert_eq!(
        units.units[0].name(),
        "root",
        "no Kustomization names the root"
    );
}

#[test]
fn kustomizations_a_unit_applies_are_units_too_once_each() {
    let root = vec![
        repository(),
        kustomization("tenants", "./tenants", &json!({})),
    ];
    let units = discover("clusters/prod", root, |k: &Kustomization, _, _| {
        Ok::<_, String>(match k.id.name.as_str() {
            // A tenant's path declares the tenant's Kustomization, and the tenants' path again.
            "tenants" => vec![
                kustomization("team-a", "./teams/a", &json!({})),
                kustomization("tenants", "./tenants", &json!({})),
            ],
            _ => vec![config_map(&k.id.name)],
        })
    });
    let names: Vec<String> = units.units.iter().map(super::Unit::name).collect();
    assert_eq!(names, ["root", "flux-system/tenants", "flux-system/team-a"]);
    assert_eq!(
        units.units[2].build,
        Build::Objects(vec![config_map("team-a")])
    );
    // Each is made by the unit whose objects declare it.
    let parents: Vec<Option<&str>> = units.units.iter().map(|u| u.parent.as_deref()).collect();
    assert_eq!(parents, [None, Some("root"), Some("flux-system/tenants")]);
}

#[test]
fn a_kustomization_of_a_declared_oci_repository_is_built_from_it_and_the_rest_refused() {
    let oci = |name: &str, spec: Value| {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})
    };
    let from = |name: &str, kind: &str| {
        kustomization(
            name,
            "./deploy",
            &json!({"sourceRef": {"kind": kind, "name": name}}),
        )
    };
    let root = vec![
        repository(),
        from("pushed", "OCIRepository"),
        oci(
            "pushed",
            json!({"interval": "1m", "url": "oci://r.example/pushed", "ref": {"semver": ">=1.0.0"}}),
        ),
        from("verified", "OCIRepository"),
        oci(
            "verified",
            json!({"interval": "1m", "url": "oci://r.example/v", "verify": {"provider": "cosign"}}),
        ),
        from("undeclared", "OCIRepository"),
        from("bucket", "Bucket"),
    ];
    let mut fetched = Vec::new();
    let units = discover("", root, |k: &Kustomization, origin, _| {
        if let Some(Origin::Oci(r)) = origin {
            fetched.push((k.id.name.clone(), r.spec.url.clone()));
        }
        Ok::<_, String>(Vec::new())
    });
    assert_eq!(
        fetched,
        [("pushed".to_owned(), "oci://r.example/pushed".to_owned())]
    );
    let failed = |name: &str| {
        let unit = units
            .units
            .iter()
            .find(|u| u.name() == format!("flux-system/{name}"));
        match unit.map(|u| u.build.clone()) {
            Some(Build::Failed(why)) => why,
            other => panic!("{name}: {other:?}"),
        }
    };
    for (name, why) in [
        (
            "verified",
            "OCIRepository flux-system/verified: spec.verify",
        ),
        (
            "undeclared",
            "OCIRepository flux-system/undeclared is declared nowhere",
        ),
        ("bucket", "Bucket flux-system/bucket is not followed"),
    ] {
        assert!(failed(name).contains(why), "{name}: {}", failed(name));
    }
}
