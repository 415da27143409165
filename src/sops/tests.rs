use serde_json::json;

use super::*;

#[test]
fn formats_follow_the_file_name_as_sops_and_flux_read_it() {
    assert_eq!(Format::for_path("secret.enc.yaml"), Format::Yaml);
    assert_eq!(Format::for_path("a.yml"), Format::Yaml);
    assert_eq!(Format::for_path("config.json"), Format::Json);
    assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
    assert_eq!(Format::for_path("app.env"), Format::Dotenv);
    assert_eq!(Format::for_path("app.ini"), Format::Ini);
    assert_eq!(Format::for_path("tls.key"), Format::Binary);
    assert_eq!(Format::detect(b"x\nsops_mac=ENC[AES"), Some(Format::Dotenv));
    assert_eq!(Format::detect(b"plain text"), None);
}

#[test]
fn an_object_with_a_sops_mac_is_encrypted() {
    assert!(is_encrypted(
        &json!({"kind": "Secret", "sops": {"mac": "ENC[x]"}})
    ));
    assert!(!is_encrypted(
        &json!({"kind": "Secret", "sops": {"mac": ""}})
    ));
    assert!(!is_encrypted(&json!({"kind": "Secret"})));
}

#[test]
fn keys_never_show_their_material() {
    use age::secrecy::ExposeSecret as _;
    let id = age::x25519::Identity::generate();
    let secret = id.to_string();
    let text = format!(
        "# created: 2026-01-01\n# public key: {}\n{}\n",
        id.to_public(),
        secret.expose_secret()
    );
    let keys = Keys::from_key_file("key.txt", &text).unwrap();
    let shown = format!("{keys:?}");
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
    assert_eq!(keys.recipients(), vec![id.to_public().to_string()]);

    let e = Keys::from_key_file("key.txt", "AGE-SECRET-KEY-1NOTAKEY\n").unwrap_err();
    assert!(!e.to_string().contains("NOTAKEY"), "{e}");
    assert!(e.to_string().starts_with("key.txt: line 1"), "{e}");
}

#[test]
fn pgp_entries_of_a_secret_are_refused_by_name() {
    let secret = json!({"metadata": {"namespace": "flux-system", "name": "sops-gpg"},
        "data": {"sops.asc": "LS0tLS0="}});
    let e = Keys::from_secret(&secret).unwrap_err().to_string();
    assert!(
        e.contains("Secret flux-system/sops-gpg, entry sops.asc"),
        "{e}"
    );
    assert!(e.contains("not supported"), "{e}");
}

#[test]
fn a_plaintext_shows_its_length_only() {
    assert_eq!(
        format!("{:?}", Plaintext(b"hunter2".to_vec())),
        "Plaintext(7 bytes)"
    );
}

/// A JSON document whose `sops` metadata is `meta` (the values need not decrypt: the data key
/// is looked for first).
fn sealed(meta: &serde_json::Value) -> Vec<u8> {
    let mut doc = json!({"password": "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]"});
    doc["sops"] = meta.clone();
    serde_json::to_vec(&doc).unwrap()
}

#[test]
fn a_data_key_sealed_only_for_other_kinds_of_key_is_refused_by_kind() {
    let meta = json!({"pgp": [{"fp": "ABCD", "enc": "-----BEGIN PGP MESSAGE-----", "created_at": "2026-01-01T00:00:00Z"}],
        "kms": [{"arn": "arn:aws:kms:x", "enc": "x", "created_at": "2026-01-01T00:00:00Z"}],
        "lastmodified": "2026-01-01T00:00:00Z", "mac": "", "version": "3.13.3"});
    let e = decrypt(&sealed(&meta), Format::Json, Format::Json, &Keys::new()).unwrap_err();
    assert!(matches!(e, Error::UnsupportedKeys { .. }), "{e}");
    assert!(e.to_string().contains("sealed only for pgp, kms"), "{e}");
    assert!(e.to_string().contains("add an age recipient"), "{e}");
}

#[test]
fn shamir_key_groups_are_refused() {
    let age = |r: &str| json!({"recipient": r, "enc": "x"});
    let meta = json!({"key_groups": [{"age": [age("age1a")]}, {"age": [age("age1b")]}],
        "shamir_threshold": 2, "lastmodified": "2026-01-01T00:00:00Z", "mac": "", "version": "3.13.3"});
    let e = decrypt(&sealed(&meta), Format::Json, Format::Json, &Keys::new()).unwrap_err();
    assert!(matches!(e, Error::Shamir { groups: 2 }), "{e}");
}

#[test]
fn metadata_that_sets_two_rules_or_no_keys_is_refused() {
    let meta = json!({"age": [{"recipient": "age1a", "enc": "x"}], "encrypted_regex": "^a",
        "unencrypted_suffix": "_x", "lastmodified": "2026-01-01T00:00:00Z", "mac": "", "version": "3"});
    let e = decrypt(&sealed(&meta), Format::Json, Format::Json, &Keys::new()).unwrap_err();
    assert!(e.to_string().contains("more than one of"), "{e}");
    let meta = json!({"lastmodified": "2026-01-01T00:00:00Z", "mac": "", "version": "3"});
    let e = decrypt(&sealed(&meta), Format::Json, Format::Json, &Keys::new()).unwrap_err();
    assert!(e.to_string().contains("no keys found"), "{e}");
    let e = decrypt(b"{\"a\": 1}", Format::Json, Format::Json, &Keys::new()).unwrap_err();
    assert!(e.to_string().contains("sops metadata not found"), "{e}");
}
