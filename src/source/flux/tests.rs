use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Secrets, config};
use crate::flux::GitRepository;
use crate::source::{Auth, Reference, VerifyMode};

fn repo(spec: &Value) -> GitRepository {
    let mut s = json!({"interval": "5m", "url": "https://example.com/org/apps"});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    GitRepository::parse(&json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": "team-a"},
        "spec": s,
    }))
    .unwrap()
}

fn secret(data: &[(&str, &str)]) -> Value {
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(b64(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "apps-auth", "namespace": "team-a"}, "data": data})
}

/// Secrets with `spec.secretRef`'s holding `data`.
fn auth(data: &[(&str, &str)]) -> Secrets {
    Secrets {
        auth: Some(secret(data)),
        verify: None,
    }
}

fn cache() -> &'static Path {
    Path::new("/nonexistent-cache")
}

#[test]
fn the_reference_follows_fluxs_precedence_and_defaults_to_master() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let cases = [
        (json!({}), "branch master"),
        (json!({"ref": {"branch": "main"}}), "branch main"),
        (json!({"ref": {"branch": "main", "tag": "v1"}}), "tag v1"),
        (
            json!({"ref": {"tag": "v1", "semver": ">=1.0.0"}}),
            "semver >=1.0.0",
        ),
        (
            json!({"ref": {"semver": ">=1.0.0", "name": "refs/pull/1/head"}}),
            "refs/pull/1/head",
        ),
        (
            json!({"ref": {"name": "refs/pull/1/head", "commit": sha, "branch": "main"}}),
            &format!("commit {sha}"),
        ),
    ];
    for (spec, want) in cases {
        let c = config(&repo(&spec), &Secrets::default(), cache()).unwrap();
        assert_eq!(c.reference.to_string(), want, "{spec}");
        assert!(matches!(c.auth, Auth::None));
    }
    let bad = config(
        &repo(&json!({"ref": {"commit": "abc"}})),
        &Secrets::default(),
        cache(),
    )
    .unwrap_err();
    assert!(
        bad.contains("team-a/apps: spec.ref.commit `abc` is not a commit id"),
        "{bad}"
    );
    assert!(matches!(
        config(
            &repo(&json!({"timeout": "2m"})),
            &Secrets::default(),
            cache()
        )
        .unwrap()
        .reference,
        Reference::Branch(_)
    ));
}

#[test]
fn credentials_are_read_with_fluxs_keys_and_never_shown() {
    let basic = config(
        &repo(&json!({})),
        &auth(&[("username", "bot"), ("password", "s3cret-token")]),
        cache(),
    )
    .unwrap();
    let Auth::Basic { username, password } = &basic.auth else {
        panic!("{:?}", basic.auth)
    };
    assert_eq!(
        (username.as_str(), password.expose()),
        ("bot", "s3cret-token")
    );
    assert!(!format!("{basic:?}").contains("s3cret-token"));
    // Over https a bearer token wins over a username and password, as fluxcd/pkg/git reads it.
    let bearer = config(
        &repo(&json!({})),
        &auth(&[
            ("username", "bot"),
            ("password", "pw"),
            ("bearerToken", "s3cret-bearer"),
        ]),
        cache(),
    )
    .unwrap();
    let Auth::Bearer(token) = &bearer.auth else {
        panic!("{:?}", bearer.auth)
    };
    assert_eq!(token.expose(), "s3cret-bearer");
    assert!(!format!("{bearer:?}").contains("s3cret-bearer"));
    let ssh = config(
        &repo(&json!({"url": "ssh://git@example.com/org/apps"})),
        &auth(&[
            ("identity", "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n"),
            ("identity.pub", "ssh-ed25519 AAAA"),
            ("known_hosts", "example.com ssh-ed25519 AAAA"),
        ]),
        cache(),
    )
    .unwrap();
    let Auth::SshKey(key) = &ssh.auth else {
        panic!("{:?}", ssh.auth)
    };
    assert_eq!(key.known_hosts, "example.com ssh-ed25519 AAAA");
    assert_eq!(key.origin, "Secret team-a/apps-auth");
    assert!(!format!("{ssh:?}").contains("PRIVATE KEY"));
}

#[test]
fn what_would_connect_otherwise_than_flux_is_refused_by_name() {
    let refused = |spec: Value, data: &[(&str, &str)]| {
        let auth = (!data.is_empty()).then(|| secret(data));
        let secrets = Secrets { auth, verify: None };
        config(&repo(&spec), &secrets, cache()).unwrap_err()
    };
    let e = refused(json!({}), &[("bearerToken", "t"), ("ca.crt", "pem")]);
    assert!(
        e.contains("Secret team-a/apps-auth: ca.crt not read by fledge"),
        "{e}"
    );
    let e = refused(
        json!({"url": "https://bot:pw@example.com/org/apps"}),
        &[("bearerToken", "t")],
    );
    assert!(
        e.contains("basic auth and a bearer token cannot be set at the same time"),
        "{e}"
    );
    assert!(!e.contains("pem"), "{e}");
    let e = refused(json!({}), &[("identity", "k")]);
    assert!(e.contains("has an identity but no known_hosts"), "{e}");
    let e = refused(json!({}), &[("username", "bot")]);
    assert!(e.contains("give both"), "{e}");
    let e = refused(
        json!({"provider": "azure", "recurseSubmodules": true, "sparseCheckout": ["x"]}),
        &[],
    );
    assert!(
        e.contains("GitRepository team-a/apps: spec.provider, spec.recurseSubmodules, spec.sparseCheckout not followed"),
        "{e}"
    );
    assert!(
        config(
            &repo(&json!({"provider": "generic"})),
            &Secrets::default(),
            cache()
        )
        .is_ok()
    );
}

#[test]
fn verify_reads_the_keys_of_the_secret_it_names_and_its_mode() {
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQRDK7MGnFRWq99PB1P5rBnfQVHDtHd/3EGU5UUaktq signer";
    let spec = json!({"ref": {"tag": "v1"}, "verify": {"mode": "TagAndHEAD", "secretRef": {"name": "keys"}}});
    let keys = |data: &[(&str, &str)]| Secrets {
        auth: None,
        verify: Some(secret(data)),
    };
    let c = config(&repo(&spec), &keys(&[("signer.sshpub", key)]), cache()).unwrap();
    let v = c.verify.expect("verified");
    assert_eq!(v.mode, VerifyMode::TagAndHead);
    assert!(format!("{:?}", v.keys).contains("signer.sshpub"));
    let e = config(&repo(&spec), &Secrets::default(), cache()).unwrap_err();
    assert!(
        e.contains(
            "GitRepository team-a/apps: spec.verify: secretRef: Secret team-a/keys does not exist"
        ),
        "{e}"
    );
    let e = config(
        &repo(&spec),
        &keys(&[("signer.sshpub", "not a key")]),
        cache(),
    )
    .unwrap_err();
    assert!(e.contains("spec.verify: Secret team-a/keys: "), "{e}");
    let odd = json!({"verify": {"mode": "Commit", "secretRef": {"name": "keys"}}});
    let e = config(&repo(&odd), &keys(&[("signer.sshpub", key)]), cache()).unwrap_err();
    assert!(e.contains("is not HEAD, Tag or TagAndHEAD"), "{e}");
}
