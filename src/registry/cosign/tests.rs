//! Keys and signatures made with openssl (`testdata/`): ECDSA P-256 and P-384 (SHA-256, ASN.1,
//! and P-256 in IEEE P1363), RSA 2048 (PKCS #1 v1.5, SHA-256; PKIX and PKCS #1 PEM), Ed25519,
//! each over the same cosign payload.

use super::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PAYLOAD: &str = include_str!("testdata/payload.json");

fn keys(entries: &[(&str, &str)]) -> Result<Keys, String> {
    let data = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
        .collect();
    Keys::read("OCIRepository apps/web: spec.verify", "apps/keys", &data)
}

fn signed(signature: &str) -> Signature {
    Signature {
        payload: PAYLOAD.as_bytes().to_vec(),
        signature: Some(signature.to_owned()),
        certificate: false,
    }
}

#[test]
fn each_key_type_cosign_accepts_verifies_its_own_signature_and_no_other() {
    let cases = [
        (
            "p256.pub",
            include_str!("testdata/p256.pub"),
            include_str!("testdata/p256.sig"),
        ),
        (
            "p256.pub",
            include_str!("testdata/p256.pub"),
            include_str!("testdata/p256-p1363.sig"),
        ),
        (
            "p384.pub",
            include_str!("testdata/p384.pub"),
            include_str!("testdata/p384.sig"),
        ),
        (
            "rsa.pub",
            include_str!("testdata/rsa.pub"),
            include_str!("testdata/rsa.sig"),
        ),
        (
            "rsa1.pub",
            include_str!("testdata/rsa1.pub"),
            include_str!("testdata/rsa.sig"),
        ),
        (
            "ed.pub",
            include_str!("testdata/ed.pub"),
            include_str!("testdata/ed.sig"),
        ),
    ];
    for (name, public, signature) in cases {
        let k = keys(&[(name, public)]).unwrap();
        assert_eq!(check(&signed(signature), DIGEST, &k), Ok(name), "{name}");
        for (other, _, theirs) in cases {
            if other != name && theirs != signature {
                let e = check(&signed(theirs), DIGEST, &k).unwrap_err();
                assert!(e.contains(&format!("no key of {name} verifies it")), "{e}");
            }
        }
    }
}

#[test]
fn any_key_of_the_secret_may_verify_and_values_not_ending_in_pub_are_not_keys() {
    let k = keys(&[
        ("cosign.pub", include_str!("testdata/p384.pub")),
        ("second.pub", include_str!("testdata/p256.pub")),
        ("cosign.key", "not read"),
    ])
    .unwrap();
    assert_eq!(k.names(), "cosign.pub, second.pub");
    let sig = signed(include_str!("testdata/p256.sig"));
    assert_eq!(check(&sig, DIGEST, &k), Ok("second.pub"));
}

#[test]
fn a_signature_of_another_artifact_or_with_a_certificate_or_without_one_is_not_taken() {
    let k = keys(&[("cosign.pub", include_str!("testdata/p256.pub"))]).unwrap();
    let sig = signed(include_str!("testdata/p256.sig"));
    let other = DIGEST.replace("0123", "4567");
    let e = check(&sig, &other, &k).unwrap_err();
    assert!(
        e.contains("cosign.pub verifies it, but it signs \"sha256:0123")
            && e.contains("critical.image.docker-manifest-digest"),
        "{e}"
    );
    let mut tampered = sig.clone();
    tampered.payload = PAYLOAD.replace("127.0.0.1", "127.0.0.2").into_bytes();
    assert!(check(&tampered, DIGEST, &k).is_err());
    let certified = Signature {
        certificate: true,
        ..sig.clone()
    };
    assert!(
        check(&certified, DIGEST, &k)
            .unwrap_err()
            .contains("certificate")
    );
    let bare = Signature {
        signature: None,
        ..sig
    };
    assert!(
        check(&bare, DIGEST, &k)
            .unwrap_err()
            .contains(SIGNATURE_ANNOTATION)
    );
}

#[test]
fn a_secret_without_keys_or_with_a_value_that_is_not_one_is_refused_naming_it() {
    let e = keys(&[("cosign.key", "x")]).unwrap_err();
    assert!(
        e.starts_with("OCIRepository apps/web: spec.verify: Secret apps/keys holds no public key"),
        "{e}"
    );
    let e = keys(&[
        ("good.pub", include_str!("testdata/p256.pub")),
        ("bad.pub", "garbage"),
    ])
    .unwrap_err();
    assert!(
        e.contains("Secret apps/keys: bad.pub: not a PEM public key"),
        "{e}"
    );
    let e = keys(&[("p521.pub", include_str!("testdata/p521.pub"))]).unwrap_err();
    assert!(e.contains("P-521"), "{e}");
    let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let e = keys(&[("c.pub", cert)]).unwrap_err();
    assert!(e.contains("\"CERTIFICATE\""), "{e}");
}

#[test]
fn signatures_are_stored_at_the_digests_sig_tag() {
    assert_eq!(
        signature_tag(DIGEST),
        "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"
    );
}
