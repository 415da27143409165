//! Cases ported from image-reflector-controller v1.2.0's `internal/policy` tests, and the
//! fields fledge refuses.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

fn policy(spec: Value) -> ImagePolicy {
    let mut spec = spec;
    spec["imageRepositoryRef"] = json!({"name": "app"});
    ImagePolicy::parse(&json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
        "metadata": {"name": "app", "namespace": "apps", "labels": {"team": "a"}},
        "spec": spec,
    }))
    .unwrap()
}

fn latest(p: &ImagePolicy, tags: &[&str]) -> Result<Option<String>, String> {
    p.latest(tags, &BTreeSet::new())
}

#[test]
fn semver_takes_the_highest_tag_in_range_with_three_parts_and_its_original_spelling() {
    let p = policy(json!({"policy": {"semver": {"range": "1.0.x"}}}));
    let tags = ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"];
    assert_eq!(latest(&p, &tags).unwrap().as_deref(), Some("1.0.1"));
    assert_eq!(
        latest(&p, &["v1.2.3", "v1.0.0", "v0.1.0"])
            .unwrap()
            .as_deref(),
        Some("v1.0.0")
    );
    assert_eq!(latest(&p, &["b1.2.3", "b1.0.0"]).unwrap(), None);
    assert_eq!(latest(&p, &[]).unwrap(), None);
    assert_eq!(latest(&p, &["1.2.0"]).unwrap(), None);
    // Two parts are not a version to Flux, though Masterminds would read `1.0` as 1.0.0.
    assert_eq!(latest(&p, &["1.0"]).unwrap(), None);
}

#[test]
fn semver_leaves_pre_releases_out_unless_the_range_has_one() {
    let p = policy(json!({"policy": {"semver": {"range": ">=1.0.0"}}}));
    assert_eq!(
        latest(&p, &["1.0.0", "1.1.0", "2.0.0-rc.1"])
            .unwrap()
            .as_deref(),
        Some("1.1.0")
    );
    let p = policy(json!({"policy": {"semver": {"range": ">=1.0.0-0"}}}));
    assert_eq!(
        latest(&p, &["1.0.0", "1.1.0", "2.0.0-rc.1"])
            .unwrap()
            .as_deref(),
        Some("2.0.0-rc.1")
    );
}

#[test]
fn alphabetical_ascending_takes_the_last_and_descending_the_first() {
    let tags = ["xenial", "zesty", "artful", "bionic"];
    let p = policy(json!({"policy": {"alphabetical": {}}}));
    assert_eq!(latest(&p, &tags).unwrap().as_deref(), Some("zesty"));
    let p = policy(json!({"policy": {"alphabetical": {"order": "desc"}}}));
    assert_eq!(latest(&p, &tags).unwrap().as_deref(), Some("artful"));
    // RFC 3339 timestamps sort as times.
    let p = policy(json!({"policy": {"alphabetical": {"order": "asc"}}}));
    let times = [
        "2021-01-08T21-18-21Z",
        "2021-01-08T21-32-37Z",
        "2021-01-08T21-20-12Z",
    ];
    assert_eq!(
        latest(&p, &times).unwrap().as_deref(),
        Some("2021-01-08T21-32-37Z")
    );
}

#[test]
fn numerical_compares_numbers_and_fails_on_a_tag_that_is_not_one_as_flux_does() {
    let p = policy(json!({"policy": {"numerical": {}}}));
    let ints = [
        "-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91",
    ];
    assert_eq!(latest(&p, &ints).unwrap().as_deref(), Some("73"));
    let floats = [
        "47.40896403322944",
        "-27.8520927455902",
        "53.47333823144817",
        "3.2",
    ];
    assert_eq!(
        latest(&p, &floats).unwrap().as_deref(),
        Some("53.47333823144817")
    );
    let p = policy(json!({"policy": {"numerical": {"order": "DESC"}}}));
    assert_eq!(latest(&p, &ints).unwrap().as_deref(), Some("-91"));
    let err = latest(&p, &["1", "a"]).unwrap_err();
    assert!(err.contains("'a'") && err.contains("filterTags"), "{err}");
}

#[test]
fn filter_tags_extracts_the_value_policies_compare_and_answers_the_original_tag() {
    let p = policy(json!({
        "policy": {"numerical": {"order": "asc"}},
        "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
    }));
    let tags = [
        "main-0a1b-1700000300",
        "main-ffff-1700000900",
        "dev-aaaa-1800000000",
        "latest",
    ];
    assert_eq!(
        latest(&p, &tags).unwrap().as_deref(),
        Some("main-ffff-1700000900")
    );
}

#[test]
fn a_refused_tag_is_never_the_latest() {
    let p = policy(json!({"policy": {"semver": {"range": ">=1.0.0"}}}));
    let refused = BTreeSet::from(["1.2.0".to_owned()]);
    let tags = ["1.0.0", "1.1.0", "1.2.0"];
    assert_eq!(p.latest(&tags, &refused).unwrap().as_deref(), Some("1.1.0"));
}

fn repository(spec: Value) -> Result<ImageRepository, FluxError> {
    let mut o = json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": "apps"},
    });
    o["spec"] = spec;
    ImageRepository::parse(&o)
}

#[test]
fn a_repository_leaves_out_signatures_by_default_and_its_exclusion_list_replaces_that() {
    let tags: Vec<String> = ["1.0.0", "sha256-abc.sig", "latest"]
        .map(str::to_owned)
        .into();
    let r = repository(json!({"image": "ghcr.io/org/app", "interval": "1m"})).unwrap();
    assert_eq!(r.kept(&tags), ["1.0.0", "latest"]);
    assert_eq!(r.interval, Duration::from_secs(60));
    assert_eq!(r.timeout, Duration::from_secs(60));
    let r = repository(json!({"image": "ghcr.io/org/app", "exclusionList": ["^latest$"]})).unwrap();
    assert_eq!(r.kept(&tags), ["1.0.0", "sha256-abc.sig"]);
}

#[test]
fn a_repository_refuses_what_fledge_cannot_honour_naming_the_field() {
    let e = repository(json!({"image": "x/app", "provider": "aws"})).unwrap_err();
    assert_eq!(e.path, "spec.provider");
    let e = repository(json!({"image": "x/app", "serviceAccountName": "sa"})).unwrap_err();
    assert_eq!(e.path, "spec.serviceAccountName");
    let e = repository(json!({"image": "x/app:1.0@sha256:00"})).unwrap_err();
    assert_eq!(e.path, "spec.image");
    let e = repository(json!({"image": "x/app", "exclusionLst": []})).unwrap_err();
    assert!(e.message.contains("exclusionList"), "{e}");
}

fn automation(spec: Value) -> Result<ImageUpdateAutomation, FluxError> {
    let mut o = json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": "apps"},
    });
    o["spec"] = spec;
    ImageUpdateAutomation::parse(&o)
}

#[test]
fn an_automation_reads_its_branches_author_path_and_selects_policies_of_its_namespace() {
    let a = automation(json!({
        "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"},
        "interval": "5m",
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {"author": {"name": "bot", "email": "bot@example.com"},
                       "messageTemplate": "{{range .Changed.Changes}}{{.NewValue}}{{end}}"},
            "push": {"branch": "image-updates"},
        },
        "update": {"strategy": "Setters", "path": "./clusters/prod/"},
        "policySelector": {"matchLabels": {"team": "a"}},
    }))
    .unwrap();
    assert_eq!(a.source.to_string(), "flux-system/flux-system");
    assert_eq!(
        (a.checkout.as_deref(), a.push.as_deref()),
        (Some("main"), Some("image-updates"))
    );
    assert_eq!(a.path, "clusters/prod");
    assert_eq!(a.interval, Duration::from_secs(300));
    let p = policy(json!({"policy": {"semver": {"range": "*"}}}));
    assert!(a.selects(&p));
    let mut other = p.clone();
    other.labels.clear();
    assert!(!a.selects(&other));
    other = p.clone();
    other.id.namespace = "elsewhere".into();
    assert!(!a.selects(&other));
}

#[test]
fn an_automation_refuses_what_fledge_cannot_honour_naming_the_field() {
    let base = |git: Value| {
        automation(
            json!({"sourceRef": {"kind": "GitRepository", "name": "r"}, "interval": "1m", "git": git}),
        )
    };
    let commit = json!({"author": {"email": "a@b"}});
    let e = base(json!({"commit": {"author": {"email": "a@b"},
        "signingKey": {"type": "ssh", "secretRef": {"name": "k"}}}}))
    .unwrap_err();
    assert_eq!(e.path, "spec.git.commit.signingKey.type");
    assert!(e.message.contains("OpenPGP"), "{e}");
    for refspec in [
        "+refs/heads/a:refs/heads/b",
        "HEAD:refs/for/main",
        "main:refs/heads/b",
        "refs/heads/a",
        ":refs/heads/b",
        "refs/heads/*:refs/heads/*",
        "refs/heads/a:b",
        "refs/heads/a:refs/heads/b:c",
    ] {
        let e = base(json!({"commit": commit, "push": {"refspec": refspec}})).unwrap_err();
        assert_eq!(e.path, "spec.git.push.refspec", "{refspec}");
        assert!(e.message.contains(refspec), "{e}");
    }
    let e = base(json!({"commit": commit, "push": {"refspec": "+refs/heads/a:refs/heads/b"}}))
        .unwrap_err();
    assert!(e.message.contains("never force-pushes"), "{e}");
    let e = base(json!({"commit": commit, "push": {"options": {"a": "x\ny"}}})).unwrap_err();
    assert_eq!(e.path, "spec.git.push.options.a");
    let e = base(json!({"commit": commit, "checkout": {"ref": {"tag": "v1"}}})).unwrap_err();
    assert_eq!(e.path, "spec.git.checkout.ref");
    let e = automation(
        json!({"sourceRef": {"kind": "GitRepository", "name": "r"}, "interval": "1m",
        "git": {"commit": commit}, "update": {"path": "../x"}}),
    )
    .unwrap_err();
    assert_eq!(e.path, "spec.update.path");
}

#[test]
fn an_automation_reads_its_signing_key_refspec_and_push_options() {
    let a = automation(json!({
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "interval": "5m",
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {"author": {"email": "bot@example.com"},
                       "signingKey": {"secretRef": {"name": "signing"}}},
            "push": {"branch": "auto", "refspec": "refs/heads/auto:refs/for/main",
                     "options": {"topic": "images", "merge_request.create": ""}},
        },
    }))
    .unwrap();
    assert_eq!(a.signing_key.as_deref(), Some("signing"));
    assert_eq!(
        a.refspec,
        Some(Refspec {
            source_branch: "auto".into(),
            dst: "refs/for/main".into()
        })
    );
    // By key, each `key=value` as go-git sends it (an empty value too).
    assert_eq!(a.push_options, ["merge_request.create=", "topic=images"]);
    let gpg = automation(json!({
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "git": {"commit": {"author": {"email": "b@e"},
                           "signingKey": {"type": "gpg", "secretRef": {"name": "k"}}},
                "push": {"refspec": ""}},
    }))
    .unwrap();
    assert_eq!(gpg.signing_key.as_deref(), Some("k"));
    assert_eq!((gpg.refspec, gpg.push), (None, None));
}
